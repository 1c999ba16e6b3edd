"""Speech datasets from JSONL manifests with NeMo's keys.

One utterance per line::

    {"audio_filepath": "wavs/0001.wav", "duration": 2.31, "text": "green apples fly"}

Relative paths resolve against the manifest's own folder, so a corpus folder can be
moved as a whole. Text is lowercased and its whitespace collapsed; characters the
tokenizer does not know become ``<unk>`` and are counted in a single warning per
manifest.

Entry point for ``build_dataloaders`` (``data.dataset: manifest``)::

    datasets = build_manifest_datasets(cfg, tokenizer)   # {"train", "val", "test"}
    cmvn = datasets["train"].cmvn                          # -> checkpoint["cmvn"] = cmvn.to_dict()

and for eval/infer on another manifest::

    test_ds = build_manifest_dataset(cfg, tokenizer, cfg.data.test_manifest, training=False, cmvn=cmvn)
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from src.data.audio_backends import AUDIO_SUFFIXES, read_audio  # WAV ours, FLAC/MP3/OGG via ffmpeg
from src.data.augment import WaveformAugment, augment_generator
from src.data.cmvn import GlobalCMVN
from src.data.feature_cache import FeatureCache
from src.data.features import Fbank, frame_params, num_frames
from src.data.spec_augment import random_frequency_warp, spec_augment
from src.data.tokenizer import CharTokenizer
from src.models.subsampling import min_input_frames
from src.utils.config import ExperimentConfig

REQUIRED_KEYS = ("audio_filepath", "duration", "text")


class ManifestError(ValueError):
    """A manifest line is invalid; the message names the file, the line and the fix."""


@dataclass(frozen=True)
class ManifestEntry:
    audio_path: Path  # absolute
    duration: float  # seconds, as written in the manifest
    text: str  # normalised
    line: int  # 1-based line number in the manifest, for error messages
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # every other key of the line (eval --group-by)


def normalize_text(text: str) -> str:
    """Lowercase, typographic apostrophe to ASCII, whitespace runs to one space."""
    return " ".join(text.lower().replace("\u2019", "'").split())


def read_manifest(path: str | Path, *, check_files: bool = True) -> list[ManifestEntry]:
    """Parse and check a JSONL manifest; blank lines are allowed.

    Raises:
        ManifestError: unreadable file, bad JSON (with its line number), missing keys,
            a bad duration, empty text, or (``check_files``) a missing audio file.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest not found: {path}; create it with scripts/make_speech_data.py or fix data.*_manifest")
    root = path.resolve().parent
    entries = []
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                item = json.loads(line)
            except json.JSONDecodeError as e:
                raise ManifestError(f"{where}: bad JSON ({e.msg} at column {e.colno}); each line must be one JSON object") from None
            if not isinstance(item, dict):
                raise ManifestError(f"{where}: expected a JSON object with keys {', '.join(REQUIRED_KEYS)}")
            missing = [k for k in REQUIRED_KEYS if k not in item]
            if missing:
                raise ManifestError(f"{where}: missing key(s) {', '.join(missing)}; every line needs {', '.join(REQUIRED_KEYS)}")
            duration = item["duration"]
            if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not duration >= 0:
                raise ManifestError(f"{where}: 'duration' must be a non-negative number of seconds, got {duration!r}")
            if not isinstance(item["text"], str):
                raise ManifestError(f"{where}: 'text' must be a string, got {item['text']!r}")
            text = normalize_text(item["text"])
            if not text:
                raise ManifestError(f"{where}: empty text; remove the line or give its transcript")
            audio = Path(item["audio_filepath"])
            audio = audio if audio.is_absolute() else root / audio
            if check_files and not audio.is_file():
                raise ManifestError(f"{where}: audio file not found: {audio} (relative paths resolve against {root})")
            extra = {k: v for k, v in item.items() if k not in REQUIRED_KEYS}
            entries.append(ManifestEntry(audio_path=audio, duration=float(duration), text=text, line=line_no, extra=extra))
    if not entries:
        raise ManifestError(f"{path}: the manifest holds no utterances")
    return entries


def encode_transcripts(entries: list[ManifestEntry], tokenizer: CharTokenizer, source: str) -> list[list[int]]:
    """Token ids per entry; out-of-vocabulary characters become ``<unk>`` with one warning."""
    oov: dict[str, int] = {}
    for e in entries:
        for c in e.text:
            if not tokenizer.covers(c):
                oov[c] = oov.get(c, 0) + 1
    if oov:
        top = ", ".join(f"{c!r} x{n}" for c, n in sorted(oov.items(), key=lambda kv: -kv[1])[:10])
        warnings.warn(
            f"{source}: {sum(oov.values())} character(s) outside the vocabulary were mapped to <unk> ({top}); "
            "clean the transcripts or build the vocabulary from them with data.tokenizer=char (or bpe)",
            stacklevel=2,
        )
    return [tokenizer.encode(e.text) for e in entries]


class ManifestDataset(torch.utils.data.Dataset):
    """Utterances of one manifest as ``(features (T, F) float32, tokens (L,) int64, T, L, text)``.

    Features: in training with dither or ``augment.enabled``, the waveform is read, augmented
    (src/data/augment/, seeded by (training.seed, index, epoch); call :meth:`set_epoch`) and
    its fbank computed with dither, every epoch; otherwise the cached (un-dithered) fbank,
    or a fresh one without the cache. Then CMVN if ``cmvn`` is given, then SpecAugment if
    ``training`` and ``spec_augment.enabled`` (frequency warping, if
    ``spec_augment.freq_warp`` > 0, comes before CMVN, masking after).
    In training, utterances longer than ``data.max_duration`` are skipped (with one
    warning giving the count).
    """

    def __init__(
        self,
        manifest: str | Path,
        cfg: ExperimentConfig,
        tokenizer: CharTokenizer,
        *,
        training: bool,
        cmvn: GlobalCMVN | None = None,
    ) -> None:
        self.manifest = Path(manifest)
        self.cfg = cfg
        self.training = training
        self.cmvn = cmvn
        entries = read_manifest(self.manifest)
        if training and cfg.data.max_duration > 0:
            kept = [e for e in entries if e.duration <= cfg.data.max_duration]
            if len(kept) < len(entries):
                warnings.warn(
                    f"{self.manifest}: skipped {len(entries) - len(kept)} of {len(entries)} utterances longer than "
                    f"data.max_duration={cfg.data.max_duration} s",
                    stacklevel=2,
                )
            if not kept:
                raise ManifestError(f"{self.manifest}: every utterance is longer than data.max_duration={cfg.data.max_duration} s; raise it")
            entries = kept
        entries = self._drop_too_short(entries, cfg, training)
        self.entries = entries
        self.tokens = encode_transcripts(entries, tokenizer, str(self.manifest))
        # T estimated from the manifest's duration, for length bucketing without reading audio.
        sr = cfg.features.sample_rate
        self.lengths = [max(1, num_frames(int(round(e.duration * sr)), cfg.features)) for e in entries]
        self.fbank = Fbank(cfg.features)
        self.cache: FeatureCache | None = None
        if cfg.data.feature_cache:
            cache_dir = Path(cfg.data.cache_dir) if cfg.data.cache_dir else self.manifest.resolve().parent / ".fbank_cache"
            self.cache = FeatureCache(cache_dir, cfg.features)
        self.augment = WaveformAugment(cfg.augment, sr) if training and cfg.augment.enabled else None
        # Dither and augmentation act on the waveform, so they bypass the feature cache
        # (an fbank costs ~2 ms per 10 s of audio; the WAV read is cheaper still).
        self.waveform_path = training and (self.augment is not None or cfg.features.dither > 0)
        self.epoch = 0

    def _drop_too_short(self, entries: list[ManifestEntry], cfg: ExperimentConfig, training: bool) -> list[ManifestEntry]:
        """Utterances too short to give one encoder frame: skipped in training, an error otherwise.

        The x4 front end needs 7 feature frames (85 ms at 25/10 ms); in training the fastest
        speed perturbation shortens the audio by its factor, so the bound is scaled by it.
        A training corpus with a few clicks or empty clips then trains; a scoring manifest
        fails up front, naming the line, rather than at the first batch holding one.
        """
        sr, need = cfg.features.sample_rate, min_input_frames(cfg.model.subsampling)
        speed = max(cfg.augment.speed_factors) if training and cfg.augment.enabled else 1.0
        kept, short = [], []
        for e in entries:
            (short if num_frames(int(round(e.duration / speed * sr)), cfg.features) < need else kept).append(e)
        if not short:
            return entries
        frame_len, shift, _ = frame_params(cfg.features)
        min_ms = ((need - 1) * shift + frame_len) / sr * 1000 * speed
        what = (f"{len(short)} of {len(entries)} utterances shorter than {min_ms:.0f} ms (the x{cfg.model.subsampling} "
                f"front end needs {need} frames{f' after speed perturbation by {speed}' if speed != 1.0 else ''}; "
                f"the first: line {short[0].line}, {short[0].duration:.3f} s)")
        if not training:
            raise ManifestError(f"{self.manifest}: {what}; remove them from the manifest")
        if len(short) == len(entries):
            raise ManifestError(f"{self.manifest}: every utterance is too short: {what}")
        warnings.warn(f"{self.manifest}: skipped {what}", stacklevel=3)
        return kept

    def set_epoch(self, epoch: int) -> None:
        """The epoch that seeds the waveform augmentation (BucketBatchSampler.set_epoch calls it)."""
        self.epoch = epoch

    def _read(self, i: int) -> torch.Tensor:
        return read_audio(self.entries[i].audio_path, target_sr=self.cfg.features.sample_rate)  # (N,)

    def _other_utterance(self, i: int) -> Any:
        def pick(g: torch.Generator) -> torch.Tensor:
            j = int(torch.randint(len(self.entries) - 1, (), generator=g)) if len(self.entries) > 1 else 0
            return self._read(j + (j >= i and len(self.entries) > 1))  # any utterance but i itself
        return pick

    def __len__(self) -> int:
        return len(self.entries)

    def num_frames(self, i: int) -> int:
        """T of utterance ``i`` estimated from the manifest's duration (no audio is read)."""
        return self.lengths[i]

    def raw_features(self, i: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(T, F) fbank of utterance ``i`` before CMVN and SpecAugment."""
        entry = self.entries[i]
        if self.cache is not None and not self.waveform_path:
            feats = self.cache.get(entry.audio_path)
        else:
            wave = self._read(i)  # (N,)
            if self.augment is not None and self.epoch >= self.cfg.augment.clean_epochs:
                g = augment_generator(self.cfg.training.seed, i, self.epoch)
                wave, _ = self.augment(wave, g, other_utterance=self._other_utterance(i))  # (N',)
            feats = self.fbank(wave, training=self.training, generator=generator)
        if feats.shape[0] == 0:
            raise ManifestError(
                f"{self.manifest}:{entry.line}: {entry.audio_path} is shorter than one "
                f"{self.cfg.features.frame_length_ms} ms frame; remove it from the manifest"
            )
        return feats.to(torch.float32)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int, int, str]:
        generator = None
        if self.training and (self.cfg.spec_augment.enabled or self.cfg.features.dither > 0):
            # Drawn from the global RNG: reproducible from training.seed (and resumable
            # with its RNG state), different every epoch, and different per DataLoader
            # worker, whose global RNG torch seeds from a fresh base seed each epoch.
            generator = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,))))
        feats = self.raw_features(i, generator)  # (T, F)
        augment = self.cfg.spec_augment
        if self.training and augment.enabled and augment.freq_warp > 0:
            # On the log-mel spectrum itself, before CMVN's per-bin statistics.
            feats = random_frequency_warp(feats, augment.freq_warp, self.cfg.features, generator)
        if self.cmvn is not None:
            feats = self.cmvn.apply(feats)
        if self.training and self.cfg.spec_augment.enabled:
            feats = spec_augment(feats, self.cfg.spec_augment, generator)
        tokens = torch.tensor(self.tokens[i], dtype=torch.int64)  # (L,)
        return feats, tokens, int(feats.shape[0]), int(tokens.numel()), self.entries[i].text


def compute_cmvn(dataset: ManifestDataset, *, progress: bool = True) -> GlobalCMVN:
    """Global CMVN over every utterance of ``dataset`` (un-dithered, un-augmented features).

    Only frames within ``features.cmvn_frame_range_db`` of each utterance's loudest enter
    the statistics (see cmvn.py): they describe speech, not the silence around it.
    """
    cmvn = GlobalCMVN(dataset.cfg.features.num_mel_bins)
    range_db = dataset.cfg.features.cmvn_frame_range_db
    # One utterance's fbank is a few small ops (a (T, 512) FFT, a (T, 257) x (257, 80)
    # matmul): intra-op threads only add synchronisation, which on a busy CPU made this
    # first pass ~50x slower. So it runs single-threaded, and the setting is restored.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for i in tqdm(range(len(dataset)), desc=f"CMVN stats ({dataset.manifest.name})", disable=not progress, leave=False):
            entry = dataset.entries[i]
            if dataset.cache is not None:
                feats = dataset.cache.get(entry.audio_path)
            else:
                feats = dataset.fbank(read_audio(entry.audio_path, target_sr=dataset.cfg.features.sample_rate))
            cmvn.accumulate(feats, frame_range_db=range_db)
    finally:
        torch.set_num_threads(threads)
    return cmvn


def build_manifest_dataset(
    cfg: ExperimentConfig,
    tokenizer: CharTokenizer,
    manifest: str | Path,
    *,
    training: bool,
    cmvn: GlobalCMVN | None,
) -> ManifestDataset:
    """One split, e.g. ``cfg.data.test_manifest`` for eval with the checkpoint's CMVN."""
    if not str(manifest):
        raise ManifestError("no manifest given; set data.train_manifest / data.val_manifest / data.test_manifest")
    return ManifestDataset(manifest, cfg, tokenizer, training=training, cmvn=cmvn)


def build_manifest_datasets(
    cfg: ExperimentConfig, tokenizer: CharTokenizer, *, cmvn: GlobalCMVN | None = None, progress: bool = True
) -> dict[str, ManifestDataset]:
    """``{"train", "val", "test"}`` datasets from ``data.train_manifest`` / ``val_manifest`` / ``test_manifest``.

    This is what ``src.data.batching.build_datasets`` calls for ``data.dataset: manifest``.

    Args:
        cfg: the experiment config (``data``, ``features`` and ``spec_augment`` are read).
        tokenizer: maps the normalised transcripts to ids.
        cmvn: statistics to reuse (from a checkpoint when resuming or evaluating); when
            None and ``features.apply_cmvn`` is true they are computed over the training
            manifest (from the feature cache, so only the first run pays for it).
        progress: show a progress bar while computing CMVN statistics.
    Returns:
        ``{"train": training=True, "val": training=False, "test": training=False}``. All
        three share one ``GlobalCMVN`` (or None when ``features.apply_cmvn`` is false),
        available as ``datasets["train"].cmvn``: store ``cmvn.to_dict()`` in the
        checkpoint and rebuild it with ``GlobalCMVN.from_dict`` for eval and inference.
        Without ``data.test_manifest``, "test" is the validation dataset.
    """
    for key in ("train_manifest", "val_manifest"):
        if not getattr(cfg.data, key):
            raise ManifestError(f"data.dataset is 'manifest' but data.{key} is empty; set it in the YAML or with --override data.{key}=...")
    train_ds = build_manifest_dataset(cfg, tokenizer, cfg.data.train_manifest, training=True, cmvn=None)
    if not cfg.features.apply_cmvn:
        cmvn = None
    elif cmvn is None:
        cmvn = compute_cmvn(train_ds, progress=progress)
    train_ds.cmvn = cmvn
    val_ds = build_manifest_dataset(cfg, tokenizer, cfg.data.val_manifest, training=False, cmvn=cmvn)
    test_ds = val_ds
    if cfg.data.test_manifest:
        test_ds = build_manifest_dataset(cfg, tokenizer, cfg.data.test_manifest, training=False, cmvn=cmvn)
    return {"train": train_ds, "val": val_ds, "test": test_ds}


def resolve_audio_inputs(path: str | Path) -> list[tuple[Path, str | None]]:
    """``infer --audio`` inputs: a WAV file, a folder (its ``*.wav``, sorted) or a ``.jsonl`` manifest.

    Returns:
        (audio path, reference text or None) pairs; manifests give their normalised text.
    """
    path = Path(path)
    if path.is_dir():
        wavs = sorted(p for p in path.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)  # .wav, .flac, .mp3, ...
        if not wavs:
            raise ManifestError(f"{path}: the folder holds no .wav files (nor {', '.join(AUDIO_SUFFIXES[2:])})")
        return [(p, None) for p in wavs]
    if path.suffix.lower() in (".jsonl", ".json"):
        return [(e.audio_path, e.text) for e in read_manifest(path)]
    if not path.is_file():
        raise ManifestError(f"{path}: no such file or folder; give a .wav file, a folder of them or a .jsonl manifest")
    return [(path, None)]


def summary(dataset: ManifestDataset) -> dict[str, Any]:
    """Utterance count and total hours, for logging."""
    return {"utterances": len(dataset), "hours": sum(e.duration for e in dataset.entries) / 3600.0}
