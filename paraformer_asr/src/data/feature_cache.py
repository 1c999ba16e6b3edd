"""On-disk cache of fbank features, so each utterance is decoded and transformed once.

A cached entry is ``<cache_dir>/<key>.npy`` holding the (T, F) float32 log-mel
features *without* dither and *before* CMVN. The key hashes

    (absolute audio path, file size, mtime_ns, feature_hash(features config))

so editing or replacing an audio file (size or mtime changes) or changing any
feature option (``features.*`` except ``dither``/``apply_cmvn``) selects a new key
and the old entry is simply never read again. Stale entries are not deleted; remove
the folder to reclaim space.

Entries hold no dither, which is new noise on every pass. The training split therefore
bypasses the cache whenever ``features.dither > 0`` or ``augment.enabled`` (it reads the
WAV and computes the fbank per item, see manifest.py); the cache serves the CMVN pass,
dev/test, eval and dither-free training.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from src.data.audio_backends import read_audio
from src.data.features import Fbank, feature_hash
from src.utils.config import FeaturesConfig


class FeatureCache:
    """Get-or-compute fbank features for audio files; counts ``hits`` and ``misses``."""

    def __init__(self, cache_dir: str | Path, cfg: FeaturesConfig) -> None:
        self.cache_dir = Path(cache_dir)
        self.cfg = cfg
        self.fbank = Fbank(cfg)
        self.config_hash = feature_hash(cfg)
        self.hits = 0
        self.misses = 0

    def key(self, audio_path: str | Path) -> str:
        """Cache key of the file's current state under the current feature config."""
        path = Path(audio_path).resolve()
        st = path.stat()
        ident = f"{path}|{st.st_size}|{st.st_mtime_ns}|{self.config_hash}"
        return hashlib.sha1(ident.encode()).hexdigest()

    def path_for(self, audio_path: str | Path) -> Path:
        return self.cache_dir / f"{self.key(audio_path)}.npy"

    def get(self, audio_path: str | Path) -> torch.Tensor:
        """(T, F) float32 un-dithered, un-normalised features of ``audio_path``."""
        entry = self.path_for(audio_path)
        if entry.is_file():
            try:
                feats = np.load(entry)
                self.hits += 1
                return torch.from_numpy(feats)
            except (ValueError, OSError):
                pass  # a half-written or damaged entry: recompute and overwrite it
        self.misses += 1
        feats = self.fbank(read_audio(audio_path, target_sr=self.cfg.sample_rate)).to(torch.float32)  # (T, F)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        # Write to a temporary name, then rename: DataLoader workers computing the same
        # entry at once never see a partly written file (rename is atomic on POSIX).
        tmp = entry.with_name(f"{entry.stem}.{os.getpid()}.tmp.npy")
        np.save(tmp, feats.numpy())
        os.replace(tmp, entry)
        return feats
