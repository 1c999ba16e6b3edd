"""From a planned utterance to a 16 kHz WAV and its manifest line (any engine).

The recorded conditions go into every manifest line, so ``eval.py --group-by KEY``
can break scores down by them: ``engine``, ``voice``, ``speed``, ``rate_wpm`` and
``pitch`` (espeak-ng only, else null), ``lead_silence_s``, ``trail_silence_s``,
``snr_db`` (null when clean) and ``peak_dbfs``, plus two categorical copies for a
per-condition table: ``snr_band`` ("clean" or a 10 dB band such as "20-30 dB") and
``silence_band`` (the longer of the two pads: "none", "0-0.25 s" or "0.25-0.5 s"; the
last band is open-ended).

Order of operations: synthesise, resample to 16 kHz with our own resampler, pad with
digital silence, add white noise at the planned SNR (over the whole signal, with its
power set from the speech part alone), then scale to the planned peak level. The
level comes last so that ``peak_dbfs`` is the file's true peak.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from src.data.audio import read_wav, read_wav_info, resample, write_wav
from src.data.tts import engine, espeak

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Utterance:
    """Everything needed to synthesise one utterance (the plan is made before any audio)."""

    index: int
    split: str
    text: str
    engine: str  # a key of src.data.tts.ENGINES
    voice: str  # engine-specific, e.g. "en-gb+m3" (espeak-ng), "slt" (flite), "kal_diphone" (festival)
    speed: float  # 1.0 = the engine's default rate
    pitch: int | None  # espeak-ng's 0-99 scale; None for engines without one
    lead_silence_s: float
    trail_silence_s: float
    snr_db: float | None  # None = clean
    peak_dbfs: float  # the output's peak level, dB relative to full scale (<= 0)


def synthesize(utt: Utterance, seed: int, exe: str) -> torch.Tensor:
    """(N,) float32 speech at 16 kHz for one planned utterance."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "out.wav"
        engine(utt.engine).synthesize(exe, text=utt.text, voice=utt.voice, speed=utt.speed, pitch=utt.pitch, out=raw)
        sr = read_wav_info(raw)[0]
        wave = read_wav(raw, target_sr=None)  # (N_engine,)
    x = resample(wave, sr, SAMPLE_RATE) if sr != SAMPLE_RATE else wave  # (N,)
    if float(x.abs().max()) < 1e-4:
        raise RuntimeError(f"{utt.engine} voice {utt.voice!r} produced silence for {utt.text!r}")
    lead, trail = round(utt.lead_silence_s * SAMPLE_RATE), round(utt.trail_silence_s * SAMPLE_RATE)
    x = torch.cat([torch.zeros(lead), x, torch.zeros(trail)])  # (N + lead + trail,)
    if utt.snr_db is not None:
        # SNR = 10 log10(P_speech / P_noise), P over the speech alone (not the padding),
        # so the noise's standard deviation is rms(speech) / 10^(SNR/20).
        rng = np.random.default_rng([seed, utt.index])
        speech = x[lead : x.numel() - trail]
        noise_rms = float(speech.square().mean().sqrt()) / 10 ** (utt.snr_db / 20)
        x = x + torch.from_numpy(rng.normal(0.0, noise_rms, x.numel()).astype(np.float32))
    peak = 10 ** (utt.peak_dbfs / 20)
    return (x / x.abs().max() * peak).clamp(-1.0, 1.0)


def relative_wav_path(utt: Utterance) -> str:
    return f"wavs/{utt.split}/{utt.split}_{utt.index:06d}.wav"


def snr_band(snr_db: float | None) -> str:
    """"clean", or the 10 dB band holding the SNR ("20-30 dB")."""
    if snr_db is None:
        return "clean"
    low = 10 * math.floor(snr_db / 10)
    return f"{low}-{low + 10} dB"


def silence_band(lead_s: float, trail_s: float) -> str:
    """The longer pad's band: "none", "0-0.25 s" or "0.25-0.5 s" (open-ended above)."""
    longest = max(lead_s, trail_s)
    if longest <= 0:
        return "none"
    return "0-0.25 s" if longest < 0.25 else "0.25-0.5 s"


def manifest_line(utt: Utterance, num_samples: int) -> dict[str, object]:
    """NeMo's three keys plus the recorded conditions (see the module docstring)."""
    return {
        "audio_filepath": relative_wav_path(utt),
        "duration": round(num_samples / SAMPLE_RATE, 4),
        "text": utt.text,
        "engine": utt.engine,
        "voice": utt.voice,
        "speed": round(utt.speed, 4),
        "rate_wpm": espeak.wpm(utt.speed) if utt.engine == espeak.NAME else None,
        "pitch": utt.pitch,
        "lead_silence_s": round(utt.lead_silence_s, 4),
        "trail_silence_s": round(utt.trail_silence_s, 4),
        "snr_db": None if utt.snr_db is None else round(utt.snr_db, 2),
        "peak_dbfs": round(utt.peak_dbfs, 2),
        "snr_band": snr_band(utt.snr_db),
        "silence_band": silence_band(utt.lead_silence_s, utt.trail_silence_s),
    }


def make_one(job: tuple[Utterance, int, str, dict[str, str]]) -> dict[str, object]:
    """Synthesise and write one utterance; returns its manifest line (a worker's task)."""
    utt, seed, out_dir, exes = job
    torch.set_num_threads(1)  # workers run in parallel; one thread each avoids oversubscription
    x = synthesize(utt, seed, exes[utt.engine])
    path = Path(out_dir) / relative_wav_path(utt)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, x, SAMPLE_RATE)
    return manifest_line(utt, x.numel())


def write_manifests(out_dir: Path, plan: list[Utterance], lines: list[dict[str, object]], meta: dict[str, object]) -> list[str]:
    """``<split>.jsonl`` for every split in the plan and ``corpus.json`` (settings, for the record)."""
    splits = list(dict.fromkeys(u.split for u in plan))
    for split in splits:
        with (out_dir / f"{split}.jsonl").open("w", encoding="utf-8") as f:
            for utt, line in zip(plan, lines):
                if utt.split == split:
                    f.write(json.dumps(line) + "\n")
    meta = dict(meta, utterances=[asdict(u) for u in plan])
    (out_dir / "corpus.json").write_text(json.dumps(meta, indent=1))
    return splits

