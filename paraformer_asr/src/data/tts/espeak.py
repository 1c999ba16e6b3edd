"""espeak-ng: formant synthesis, many accents and "variants" (speaker settings).

A voice is ``<base>+<variant>``, e.g. ``en-gb+m3``: the base sets the accent (the
phoneme rules), the variant the formants, pitch range and voicing. espeak-ng writes
22.05 kHz mono 16-bit WAV. ``speed`` 1.0 is its default rate of 175 words per
minute; ``pitch`` is its 0-99 scale (default 50).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

NAME = "espeak-ng"
DEFAULT_WPM = 175
INSTALL_HINT = (
    "espeak-ng was not found on PATH; it is needed to synthesise speech. Install it with\n"
    "  sudo apt-get install espeak-ng     (Debian/Ubuntu)\n"
    "  brew install espeak-ng             (macOS)\n"
    "and run the command again."
)


def find() -> str | None:
    """The executable's path, or None when it is not installed."""
    return shutil.which("espeak-ng")


def wpm(speed: float) -> int:
    """espeak-ng's ``-s`` value (words per minute) for a relative speed."""
    return round(DEFAULT_WPM * speed)


def known_voices(exe: str) -> set[str]:
    """The variant names (``+name``) this espeak-ng has.

    espeak-ng silently speaks with the plain base voice when asked for an unknown
    variant, so the caller checks its voice list against this set.
    """
    proc = subprocess.run([exe, "--voices=variant"], capture_output=True, text=True)
    # Lines like " 5  variant  --/M  Alex  !v/Alex": the file name is what "+name" selects.
    return {tok.split("/", 1)[1] for line in proc.stdout.splitlines() for tok in line.split() if tok.startswith("!v/")}


def missing_voices(exe: str, voices: list[str]) -> list[str]:
    """The voices (``base+variant``) whose variant this espeak-ng lacks."""
    known = known_voices(exe)
    return [v for v in voices if v.split("+", 1)[-1] not in known]


def synthesize(exe: str, *, text: str, voice: str, speed: float, pitch: int | None, out: Path) -> None:
    """Write ``text`` spoken by ``voice`` to the WAV file ``out``."""
    cmd = [exe, "-v", voice, "-s", str(wpm(speed)), "-p", str(50 if pitch is None else pitch), "-w", str(out), text]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not out.is_file():
        raise RuntimeError(f"espeak-ng failed for voice {voice!r} (exit {proc.returncode}): {proc.stderr.strip()}")
