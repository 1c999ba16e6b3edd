"""The word-list espeak-ng corpus (``scripts/make_speech_data.py --text wordlist``).

The default corpus (natural sentences, espeak-ng + flite + festival) lives in
src/data/tts/; this module keeps the earlier corpus byte for byte, because the older
results in docs/ABLATIONS.md were measured on it, and its variant lists and base
voices are shared with the new plan.

Each utterance is a few English words from :data:`WORDS`, spoken by espeak-ng with
a base voice (accent), a variant (speaker: formants, breathiness, pitch range), a
speaking rate and a pitch, then resampled to 16 kHz mono 16-bit with our own
resampler and optionally padded with silence and mixed with noise.

Held-out conditions: the three splits use disjoint espeak-ng *variants*
(:data:`SPLIT_VARIANTS`), so dev and test are spoken by "speakers" never heard in
training, and every sentence is unique across the corpus, so no dev/test sentence
occurs in training. Everything follows from ``seed``: the plan (texts and voice
settings) is drawn in one process and each utterance's noise from ``(seed, index)``,
so the corpus is identical for any number of worker processes.
"""

from __future__ import annotations

import json
import random
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from src.data.audio import read_wav, read_wav_info, resample, write_wav
from src.data.tts import espeak as espeak_engine

# Only a-z and apostrophes, so every transcript fits the default CharTokenizer alphabet.
WORDS = """
the a an and or but if then so of to in on at by for with from up down out over under
i you he she we they it my your his her our their this that these those here there
is are was were be been am do does did have has had will can could would should may might must
go goes went come came make made take took see saw look find give gave get got put keep let
say said tell told ask think know knew want like need feel try call help show move play run
walk talk read write sing open close start stop turn hold bring buy sell pay eat drink sleep
time day night week year today morning evening home house room door window table chair bed
water food bread milk coffee tea apple orange green red blue black white yellow brown big small
long short old new good bad hot cold warm fast slow happy sad early late high low light dark
man woman child boy girl friend family mother father sister brother dog cat bird fish horse
car bus train ship road street city town river sea sun moon star rain snow wind tree flower
book letter paper pen phone music song game ball money work school shop park garden market
one two three four five six seven eight nine ten first last next many some every each all
very too not never always often again only just still also now soon please thank yes no
don't can't it's i'm you're we're that's isn't didn't won't
""".split()

BASE_VOICES = ("en-us", "en-gb", "en-gb-x-rp", "en-029", "en-us-nyc")
# Many training speakers: a recogniser learns to ignore who is speaking only from
# hearing many speakers (with 9 variants, a CTC model's CER was 7 % on training
# speakers and 22 % on the unseen test ones; docs/ABLATIONS.md). The named variants
# are espeak-ng's human-sounding ones (formant, pitch and voicing changes; klatt* use
# the Klatt synthesiser); robots, whispers and croaks are left out. Dev and test keep
# two held-out variants each, and are planned before train (plan_corpus), so their
# utterances do not depend on this list.
SPLIT_VARIANTS = {
    "train": (
        "m1", "m2", "m3", "m4", "m6", "m8", "f1", "f2", "f5",
        "Alex", "Andy", "Annie", "anika", "aunty", "belinda", "ed", "Gene", "grandma", "grandpa", "Hugo",
        "iven", "Lee", "linda", "max", "Michael", "Mike", "Nguyen", "paul", "quincy", "rob", "robert",
        "steph", "travis", "victor", "adam", "benjamin", "david", "edward", "klatt", "klatt2", "klatt3",
    ),
    "dev": ("m5", "f3"),
    "test": ("m7", "f4"),
}  # fmt: skip
RATE_WPM = (140, 200)  # espeak-ng -s; its default is 175
PITCH = (30, 70)  # espeak-ng -p, 0..99; its default is 50
WORDS_PER_SENTENCE = (2, 4)
SAMPLE_RATE = 16000

INSTALL_HINT = espeak_engine.INSTALL_HINT


class EspeakMissingError(RuntimeError):
    """espeak-ng is not installed; the message gives the install command."""


@dataclass(frozen=True)
class Utterance:
    """Everything needed to synthesise one utterance (the plan is made before any audio)."""

    index: int
    split: str
    text: str
    voice: str  # e.g. "en-gb+m3"
    rate: int
    pitch: int
    lead_silence: float  # seconds
    trail_silence: float
    snr_db: float | None  # None = no noise
    peak: float  # output peak amplitude


def espeak_path() -> str:
    path = espeak_engine.find()
    if path is None:
        raise EspeakMissingError(INSTALL_HINT)
    return path


def missing_variants(espeak: str) -> list[str]:
    """The variants of :data:`SPLIT_VARIANTS` that this espeak-ng does not have.

    espeak-ng silently speaks with the plain base voice when asked for an unknown
    variant, so an older installation would give a different corpus without a word.
    """
    known = espeak_engine.known_voices(espeak)
    return [v for variants in SPLIT_VARIANTS.values() for v in variants if v not in known]


def split_sizes(n: int) -> dict[str, int]:
    """80/10/10, with at least one utterance in dev and in test."""
    if n < 3:
        raise ValueError(f"--n {n} is too small: each of train/dev/test needs at least one utterance; use --n 3 or more")
    dev = test = max(1, round(0.1 * n))
    return {"train": n - dev - test, "dev": dev, "test": test}


def plan_corpus(n: int, seed: int, *, noise: bool, silence: bool) -> list[Utterance]:
    """Texts and voice settings for ``n`` utterances; every sentence is unique."""
    rng = random.Random(seed)
    max_unique = sum(len(WORDS) ** k for k in range(WORDS_PER_SENTENCE[0], WORDS_PER_SENTENCE[1] + 1))
    if n > max_unique // 2:
        raise ValueError(f"--n {n} is too large for unique sentences from {len(WORDS)} words")
    seen: set[str] = set()
    plan = []
    index = 0
    # dev and test first: their sentences are drawn before train's, and uniqueness then
    # keeps every one of them out of the training set.
    for split in ("test", "dev", "train"):
        for _ in range(split_sizes(n)[split]):
            while True:
                text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(*WORDS_PER_SENTENCE)))
                if text not in seen:
                    break
            seen.add(text)
            plan.append(
                Utterance(
                    index=index,
                    split=split,
                    text=text,
                    voice=f"{rng.choice(BASE_VOICES)}+{rng.choice(SPLIT_VARIANTS[split])}",
                    rate=rng.randint(*RATE_WPM),
                    pitch=rng.randint(*PITCH),
                    lead_silence=rng.uniform(0.05, 0.5) if silence else 0.0,
                    trail_silence=rng.uniform(0.05, 0.5) if silence else 0.0,
                    snr_db=rng.uniform(15.0, 35.0) if noise else None,
                    peak=rng.uniform(0.3, 0.9),
                )
            )
            index += 1
    return plan


def synthesize(utt: Utterance, seed: int, espeak: str = "espeak-ng") -> torch.Tensor:
    """(N,) float32 speech at 16 kHz for one planned utterance."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "out.wav"
        speed = utt.rate / espeak_engine.DEFAULT_WPM  # espeak_engine.wpm(speed) == utt.rate
        espeak_engine.synthesize(espeak, text=utt.text, voice=utt.voice, speed=speed, pitch=utt.pitch, out=raw)
        wave, sr = read_wav(raw, target_sr=None), read_wav_info(raw)[0]
    x = resample(wave, sr, SAMPLE_RATE)  # (N,) espeak-ng speaks at 22050 Hz
    x = x / x.abs().max().clamp(min=1e-6) * utt.peak
    rng = np.random.default_rng([seed, utt.index])
    lead, trail = int(utt.lead_silence * SAMPLE_RATE), int(utt.trail_silence * SAMPLE_RATE)
    x = torch.cat([torch.zeros(lead), x, torch.zeros(trail)])  # (N + lead + trail,)
    if utt.snr_db is not None:
        # White noise at the planned SNR relative to the speech's power (over the
        # speech itself, not the added silence): P_noise = P_speech / 10^(SNR/10).
        speech = x[lead : x.numel() - trail]
        noise_rms = float(speech.square().mean().sqrt()) / 10 ** (utt.snr_db / 20)
        x = x + torch.from_numpy(rng.normal(0.0, noise_rms, x.numel()).astype(np.float32))
    return x.clamp(-1.0, 1.0)


def relative_wav_path(utt: Utterance) -> str:
    return f"wavs/{utt.split}/{utt.split}_{utt.index:06d}.wav"


def make_one(job: tuple[Utterance, int, str, str]) -> dict[str, object]:
    """Synthesise and write one utterance; returns its manifest line (a worker's task)."""
    utt, seed, out_dir, espeak = job
    torch.set_num_threads(1)  # workers run in parallel; one thread each avoids oversubscription
    x = synthesize(utt, seed, espeak)
    rel = relative_wav_path(utt)
    write_wav(Path(out_dir) / rel, x, SAMPLE_RATE)
    return {"audio_filepath": rel, "duration": round(x.numel() / SAMPLE_RATE, 4), "text": utt.text}


def write_manifests(out_dir: Path, plan: list[Utterance], lines: list[dict[str, object]], meta: dict[str, object]) -> None:
    """``train.jsonl``, ``dev.jsonl``, ``test.jsonl`` and ``corpus.json`` (the settings, for the record)."""
    for split in ("train", "dev", "test"):
        with (out_dir / f"{split}.jsonl").open("w", encoding="utf-8") as f:
            for utt, line in zip(plan, lines):
                if utt.split == split:
                    f.write(json.dumps(line) + "\n")
    meta = dict(meta, split_variants=SPLIT_VARIANTS, base_voices=BASE_VOICES, rate_wpm=RATE_WPM, pitch=PITCH)
    meta["utterances"] = [asdict(u) for u in plan]
    (out_dir / "corpus.json").write_text(json.dumps(meta, indent=1))
