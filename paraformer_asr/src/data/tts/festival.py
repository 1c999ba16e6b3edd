"""festival (the Festival Speech Synthesis System) through its ``text2wave`` script.

English voices in Debian: ``kal_diphone`` (festvox-kallpc16k) and ``ked_diphone``
(festvox-kdlpc16k), residual-excited LPC diphone voices of two American male
speakers, and ``cmu_us_slt_arctic_hts`` (festvox-us-slt-hts), an HMM voice trained
on the ARCTIC recordings of a female speaker, written at 32 kHz. ``speed`` sets
``Duration_Stretch = 1 / speed`` for the diphone voices; the HTS voice ignores that
parameter, so the planner gives it speed 1.0 (see :data:`FIXED_SPEED_VOICES`).
Each call starts a Festival process (about half a second).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

NAME = "festival"
FIXED_SPEED_VOICES = ("cmu_us_slt_arctic_hts",)
INSTALL_HINT = (
    "festival's text2wave was not found on PATH. Install it and its English voices with\n"
    "  sudo apt-get install festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts\n"
    "or leave it out with --engines espeak-ng,flite (the test_unseen_engine split is then not built)"
)


def find() -> str | None:
    """``text2wave``'s path (it comes with festival), or None when it is not installed."""
    if shutil.which("festival") is None:
        return None
    return shutil.which("text2wave")


def known_voices(exe: str) -> set[str]:
    """Festival's ``(voice.list)``; ``exe`` is text2wave, whose folder holds festival."""
    festival = str(Path(exe).with_name("festival"))
    proc = subprocess.run([festival, "-b", "(print (voice.list))"], capture_output=True, text=True)
    return set(proc.stdout.replace("(", " ").replace(")", " ").split())


def missing_voices(exe: str, voices: list[str]) -> list[str]:
    known = known_voices(exe)
    return [v for v in voices if v not in known]


def synthesize(exe: str, *, text: str, voice: str, speed: float, pitch: int | None, out: Path) -> None:
    """Write ``text`` spoken by ``voice`` to the WAV file ``out``."""
    txt = out.with_suffix(".txt")
    txt.write_text(text + "\n", encoding="utf-8")
    stretch = f"(Parameter.set 'Duration_Stretch {1.0 / speed:.4f})"
    cmd = [exe, "-eval", f"(voice_{voice})", "-eval", stretch, str(txt), "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not out.is_file():
        raise RuntimeError(f"festival failed for voice {voice!r} (exit {proc.returncode}): {proc.stderr.strip()}")
