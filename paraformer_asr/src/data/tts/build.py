"""Run a corpus plan: check the voices, synthesise in worker processes, write manifests."""

from __future__ import annotations

import multiprocessing as mp
import sys
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from src.data.tts import engine
from src.data.tts.plan import planned_voices
from src.data.tts.render import Utterance, make_one, write_manifests


class VoiceMissingError(RuntimeError):
    """A planned voice is not installed; the message names it and the package that brings it."""


VOICE_PACKAGES = {
    "kal_diphone": "festvox-kallpc16k",
    "ked_diphone": "festvox-kdlpc16k",
    "cmu_us_slt_arctic_hts": "festvox-us-slt-hts",
}


def check_voices(plan: list[Utterance], exes: dict[str, str]) -> list[str]:
    """Raise for a missing flite/festival voice; return espeak-ng warnings.

    flite and festival refuse an unknown voice, so a missing one is an error before any
    audio is made. espeak-ng speaks an unknown variant with the plain base voice and
    no error, so a missing variant only warns (the corpus then differs from the documented one).
    """
    warnings = []
    for name, voices in planned_voices(plan).items():
        missing = engine(name).missing_voices(exes[name], voices)
        if not missing:
            continue
        if name == "espeak-ng":
            warnings.append(
                f"this espeak-ng lacks the voice variant(s) of {', '.join(missing)}; it will speak them with the plain "
                "base voice, so the corpus differs from the documented one (espeak-ng >= 1.50 has them all)"
            )
            continue
        packages = sorted({VOICE_PACKAGES[v] for v in missing if v in VOICE_PACKAGES})
        hint = f"; install with: sudo apt-get install {' '.join(packages)}" if packages else ""
        raise VoiceMissingError(f"{name} lacks the voice(s) {', '.join(missing)}{hint} (or leave {name} out with --engines)")
    return warnings


def run_jobs(jobs: list[tuple], worker: Callable[[tuple], dict[str, object]], workers: int) -> list[dict[str, object]]:
    """``worker(job)`` for every job, in order, with a progress bar; ``workers`` > 1 uses processes."""
    bar = dict(total=len(jobs), desc="synthesising", unit="utt", file=sys.stderr)
    if workers > 1:
        with mp.get_context("spawn").Pool(workers) as pool:
            return list(tqdm(pool.imap(worker, jobs, chunksize=4), **bar))
    return [worker(job) for job in tqdm(jobs, **bar)]


def build(plan: list[Utterance], *, out: Path, seed: int, exes: dict[str, str], workers: int, meta: dict) -> list[dict]:
    """Synthesise every planned utterance under ``out`` and write its manifests; returns the lines."""
    for split in dict.fromkeys(u.split for u in plan):
        (out / "wavs" / split).mkdir(parents=True, exist_ok=True)
    lines = run_jobs([(utt, seed, str(out), exes) for utt in plan], make_one, workers)
    write_manifests(out, plan, lines, meta)
    return lines
