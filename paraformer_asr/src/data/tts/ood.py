"""The out-of-domain test set of issue #13 ("The problem, measured"), planned here.

Synthetic speech a recogniser trained on our corpus has never heard:

- espeak-ng voices never used in any split of the corpus: accents (base voices) that
  the corpus never uses, combined with variants that no split uses (:data:`OOD_BASE_VOICES`,
  :data:`OOD_VARIANTS`);
- speaking rates 130-200 words per minute and pitch 30-70;
- 0-0.5 s of leading and trailing digital silence;
- white noise at 20-40 dB SNR on 60 % of the utterances (the rest are clean);
- peak levels from -12 to -1 dBFS;
- sentences from the ``ood`` text pool, which no corpus split draws from.

Rendering and the manifest fields are those of :mod:`src.data.tts.render`, so
``eval.py --group-by snr_db`` (or ``voice``, ``lead_silence_s``, ...) can split the scores.
"""

from __future__ import annotations

import random

from src.data.speech_corpus import BASE_VOICES, SPLIT_VARIANTS
from src.data.tts import espeak
from src.data.tts.render import Utterance
from src.data.tts.sentences import WORDS_PER_SENTENCE

OOD_BASE_VOICES = ("en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd")
# espeak-ng variants that no corpus split uses; like the training list, the
# human-sounding ones (no robots, whispers or croaks).
OOD_VARIANTS = (
    "Alicia", "Andrea", "caleb", "Denis", "edward2", "Gene2", "iven2", "iven3", "john", "norbert",
    "shelby", "steph2", "zac",
)  # fmt: skip
RATE_WPM = (130, 200)
PITCH = (30, 70)
SILENCE_S = (0.0, 0.5)
NOISY_SHARE = 0.6
SNR_DB = (20.0, 40.0)
PEAK_DBFS = (-12.0, -1.0)
SPLIT = "ood"

assert not set(OOD_BASE_VOICES) & set(BASE_VOICES), "OOD accents must be unused by the corpus"
assert not {v for vs in SPLIT_VARIANTS.values() for v in vs} & set(OOD_VARIANTS), "OOD variants must be unused by the corpus"


def ood_voices() -> list[str]:
    return [f"{b}+{v}" for b in OOD_BASE_VOICES for v in OOD_VARIANTS]


def plan_ood(n: int, seed: int, *, pool: list[str], words: tuple[int, int] = WORDS_PER_SENTENCE) -> list[Utterance]:
    """``n`` out-of-domain utterances; a function of ``seed`` alone (given the sentence pool)."""
    if n < 1:
        raise ValueError(f"--n {n}: the out-of-domain set needs at least one utterance")
    fits = [s for s in pool if words[0] <= len(s.split()) <= words[1]]
    if n > len(fits):
        raise ValueError(f"--n {n} is larger than the {len(fits)} sentences of the 'ood' pool with {words[0]}-{words[1]} words")
    rng = random.Random(f"{seed}/{SPLIT}")
    voices = ood_voices()
    plan = []
    for index, text in enumerate(rng.sample(fits, n)):
        noisy = rng.random() < NOISY_SHARE
        plan.append(
            Utterance(
                index=index,
                split=SPLIT,
                text=text,
                engine=espeak.NAME,
                voice=rng.choice(voices),
                speed=rng.randint(*RATE_WPM) / espeak.DEFAULT_WPM,
                pitch=rng.randint(*PITCH),
                lead_silence_s=rng.uniform(*SILENCE_S),
                trail_silence_s=rng.uniform(*SILENCE_S),
                snr_db=rng.uniform(*SNR_DB) if noisy else None,
                peak_dbfs=rng.uniform(*PEAK_DBFS),
            )
        )
    return plan
