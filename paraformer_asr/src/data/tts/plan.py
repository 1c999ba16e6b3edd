"""The multi-engine corpus plan: which sentence, engine, voice and condition each utterance gets.

Splits and who speaks them (:data:`VOICES`):

- ``train``: espeak-ng (5 accents x 41 variants) and flite's ``awb`` and ``rms``;
- ``dev``: espeak-ng variants m5/f3 and flite ``kal16``; ``test``: espeak-ng m7/f4 and
  flite ``slt``. No dev or test voice is used in training;
- ``test_unseen_engine``: festival's three English voices. Festival is never used in
  training, and its speakers are not flite's training speakers (kal and slt are also
  flite voices, but only in dev and test).

Sentences come from the hash-defined pools of :mod:`src.data.tts.sentences`, so no
dev/test/unseen-engine sentence ever occurs in a training split. Each split draws
from its own ``random.Random(f"{seed}/{split}")``: a split's utterances depend only
on the seed, its size and its own voice list, never on another split's settings.
"""

from __future__ import annotations

import random

from src.data.speech_corpus import BASE_VOICES, SPLIT_VARIANTS, split_sizes
from src.data.tts import espeak, festival, flite
from src.data.tts.render import Utterance
from src.data.tts.sentences import WORDS_PER_SENTENCE

VOICES: dict[str, dict[str, tuple[str, ...]]] = {
    espeak.NAME: {s: tuple(f"{b}+{v}" for b in BASE_VOICES for v in SPLIT_VARIANTS[s]) for s in ("train", "dev", "test")},
    flite.NAME: {"train": ("awb", "rms"), "dev": ("kal16",), "test": ("slt",)},
    festival.NAME: {"test_unseen_engine": ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")},
}
# The sentence pool each split draws from (see sentences.POOL_SHARES).
SPLIT_POOL = {"train": "train", "dev": "dev", "test": "test", "test_unseen_engine": "test_unseen_engine"}
# Share of flite in train/dev/test when both engines are on: flite has two training
# voices against espeak-ng's 205, but they are the only ones trained on recordings.
FLITE_SHARE = 0.4
RATE_WPM = (140, 200)  # espeak-ng -s; its default is 175
PITCH = (30, 70)  # espeak-ng -p, 0..99; its default is 50
SPEED = (0.85, 1.15)  # flite / festival, relative to the voice's own rate
SNR_DB = (15.0, 35.0)  # --noise
SILENCE_S = (0.05, 0.5)  # --silence, at each end
PEAK_DBFS = (-10.5, -1.0)


def corpus_splits(engines: list[str]) -> list[str]:
    """The splits these engines can speak (test_unseen_engine needs festival)."""
    if espeak.NAME not in engines and flite.NAME not in engines:
        raise ValueError("the training split needs espeak-ng or flite; add one of them to --engines")
    return ["test", "dev", "train"] + (["test_unseen_engine"] if festival.NAME in engines else [])


def draw_voice(rng: random.Random, split: str, engines: list[str]) -> tuple[str, str]:
    """An (engine, voice) for one utterance: flite with probability FLITE_SHARE when both engines are on."""
    if split == "test_unseen_engine":
        return festival.NAME, rng.choice(VOICES[festival.NAME][split])
    use_flite = flite.NAME in engines and (espeak.NAME not in engines or rng.random() < FLITE_SHARE)
    name = flite.NAME if use_flite else espeak.NAME
    return name, rng.choice(VOICES[name][split])


def draw_utterance(
    rng: random.Random, *, index: int, split: str, text: str, engines: list[str], noise: bool, silence: bool
) -> Utterance:
    name, voice = draw_voice(rng, split, engines)
    if name == espeak.NAME:
        speed, pitch = rng.randint(*RATE_WPM) / espeak.DEFAULT_WPM, rng.randint(*PITCH)
    else:
        speed, pitch = rng.uniform(*SPEED), None
        if voice in festival.FIXED_SPEED_VOICES:
            speed = 1.0
    return Utterance(
        index=index,
        split=split,
        text=text,
        engine=name,
        voice=voice,
        speed=speed,
        pitch=pitch,
        lead_silence_s=rng.uniform(*SILENCE_S) if silence else 0.0,
        trail_silence_s=rng.uniform(*SILENCE_S) if silence else 0.0,
        snr_db=rng.uniform(*SNR_DB) if noise else None,
        peak_dbfs=rng.uniform(*PEAK_DBFS),
    )


def sample_texts(rng: random.Random, pool: list[str], k: int, split: str, words: tuple[int, int]) -> list[str]:
    """``k`` distinct sentences of ``words[0]..words[1]`` words from a split's pool."""
    fits = [s for s in pool if words[0] <= len(s.split()) <= words[1]]
    if k > len(fits):
        raise ValueError(
            f"split {split!r} needs {k} sentences but its pool has {len(fits)} of {words[0]}-{words[1]} words; "
            "use a smaller --n or a wider --words range"
        )
    return rng.sample(fits, k)


def plan_corpus(
    n: int,
    seed: int,
    *,
    engines: list[str],
    pools: dict[str, list[str]],
    noise: bool,
    silence: bool,
    words: tuple[int, int] = WORDS_PER_SENTENCE,
    n_train: int | None = None,
) -> list[Utterance]:
    """The plan for ``n`` train/dev/test utterances (80/10/10) plus, with festival, a
    ``test_unseen_engine`` split as large as test. ``n_train`` replaces the 80 % of
    ``n`` in train; dev and test stay 10 % of ``n`` each, and they come first in the
    plan, so they are the same utterances whatever ``n_train`` is."""
    sizes = dict(split_sizes(n))
    if n_train is not None:
        if n_train < 1:
            raise ValueError(f"--n-train {n_train}: the training split needs at least one utterance")
        sizes["train"] = n_train
    sizes["test_unseen_engine"] = sizes["test"]
    plan: list[Utterance] = []
    for split in corpus_splits(engines):
        rng = random.Random(f"{seed}/{split}")
        for text in sample_texts(rng, pools[SPLIT_POOL[split]], sizes[split], split, words):
            plan.append(
                draw_utterance(rng, index=len(plan), split=split, text=text, engines=engines, noise=noise, silence=silence)
            )
    return plan


def planned_voices(plan: list[Utterance]) -> dict[str, list[str]]:
    """``{engine: sorted voices}`` used by the plan (to check that each is installed)."""
    used: dict[str, set[str]] = {}
    for u in plan:
        used.setdefault(u.engine, set()).add(u.voice)
    return {e: sorted(v) for e, v in used.items()}
