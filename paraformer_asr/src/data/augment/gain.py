"""Random level: scale an utterance so that its peak sits at a given dBFS.

Real recordings arrive at any level, from a quiet laptop microphone to a clipped
headset. Peak normalisation to a random level between ``gain_db_min`` and
``gain_db_max`` dBFS teaches the model that loudness carries no meaning (CMVN removes
only a fixed global offset) and never clips, since the peak stays below 0 dBFS.
"""

from __future__ import annotations

import torch


def peak_dbfs(wave: torch.Tensor) -> float:
    """20 log10(max |x|); -inf for digital silence."""
    peak = float(wave.abs().max()) if wave.numel() else 0.0
    return float("-inf") if peak == 0.0 else 20.0 * torch.log10(torch.tensor(peak)).item()


def apply_peak_gain(wave: torch.Tensor, target_dbfs: float) -> torch.Tensor:
    """(N,) -> (N,) scaled so its peak is ``target_dbfs`` (<= 0); silence is returned unchanged."""
    if target_dbfs > 0:
        raise ValueError(f"peak level {target_dbfs} dBFS would clip; augment.gain_db_max must be <= 0")
    peak = wave.abs().max() if wave.numel() else wave.new_zeros(())
    if float(peak) == 0.0:
        return wave
    return wave * (10.0 ** (target_dbfs / 20.0) / peak)
