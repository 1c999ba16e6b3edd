"""flite (CMU Flite): small English voices built from recordings of real speakers.

Debian's flite links in ``kal`` (8 kHz diphone) and ``kal16`` (16 kHz diphone), made
by concatenating diphones cut from one speaker's recordings, and ``awb``, ``rms`` and
``slt``, statistical-parametric (clustergen) voices trained on the CMU ARCTIC
recordings of three speakers. ``awb_time`` is a limited-domain voice that only says
the time, so it is never used. ``speed`` sets ``duration_stretch = 1 / speed``;
flite has no pitch setting that is the same across voices, so ``pitch`` is unused.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

NAME = "flite"
INSTALL_HINT = (
    "flite was not found on PATH. Install it with\n"
    "  sudo apt-get install flite     (Debian/Ubuntu; brings the voices kal, kal16, awb, rms, slt)\n"
    "or leave it out with --engines espeak-ng"
)


def find() -> str | None:
    """The executable's path, or None when it is not installed."""
    return shutil.which("flite")


def known_voices(exe: str) -> set[str]:
    """Voice names from ``flite -lv`` ("Voices available: kal awb_time kal16 awb rms slt")."""
    proc = subprocess.run([exe, "-lv"], capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    return set(out.split(":", 1)[1].split()) if ":" in out else set()


def missing_voices(exe: str, voices: list[str]) -> list[str]:
    known = known_voices(exe)
    return [v for v in voices if v not in known]


def synthesize(exe: str, *, text: str, voice: str, speed: float, pitch: int | None, out: Path) -> None:
    """Write ``text`` spoken by ``voice`` to the WAV file ``out`` (8 or 16 kHz, by voice)."""
    cmd = [exe, "-voice", voice, "--setf", f"duration_stretch={1.0 / speed:.4f}", "-t", text, "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not out.is_file():
        raise RuntimeError(f"flite failed for voice {voice!r} (exit {proc.returncode}): {proc.stderr.strip()}")
