"""CER/WER broken down by a manifest field (``eval.py --group-by KEY``).

Categorical fields (``engine``, ``voice``, booleans) group by their value. Numeric
fields are binned into bands so that each band holds enough utterances to score:
SNR-like fields (the key contains ``snr`` or ends in ``_db``) into the bands of issue
13, ``>=30 dB``, ``20-30 dB``, ``10-20 dB``, ``<10 dB``; other numbers into quartiles of
the values seen. ``KEY:e1,e2,...`` gives the band edges explicitly. A missing or null
value is its own group: ``clean`` for an SNR field (no noise was added), else ``none``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from src.metrics.asr_metrics import ASRMetrics

SNR_EDGES = (10.0, 20.0, 30.0)


def parse_group_spec(spec: str) -> tuple[str, list[float] | None]:
    """``"snr_db"`` -> ("snr_db", None); ``"lead_silence_s:0.1,0.3"`` -> ("lead_silence_s", [0.1, 0.3])."""
    key, _, edges = spec.partition(":")
    if not key:
        raise ValueError(f"--group-by {spec!r}: give a manifest field, e.g. --group-by snr_db or engine")
    if not edges:
        return key, None
    try:
        values = sorted(float(e) for e in edges.split(","))
    except ValueError:
        raise ValueError(f"--group-by {spec!r}: band edges must be numbers, e.g. {key}:0.1,0.3") from None
    return key, values


def is_snr_key(key: str) -> bool:
    return "snr" in key.lower() or key.lower().endswith("_db")


def _fmt(x: float) -> str:
    return f"{x:g}"


def _band(x: float, edges: Sequence[float], unit: str) -> str:
    """Label of the band of ``x`` among sorted ``edges``: "<e0", "e0-e1", ..., ">=e_last"."""
    if x < edges[0]:
        return f"<{_fmt(edges[0])}{unit}"
    for lo, hi in zip(edges, edges[1:]):
        if lo <= x < hi:
            return f"{_fmt(lo)}-{_fmt(hi)}{unit}"
    return f">={_fmt(edges[-1])}{unit}"


def _quartile_edges(values: list[float]) -> list[float]:
    v = sorted(values)
    edges = sorted({float(f"{v[min(len(v) - 1, int(q * len(v)))]:.3g}") for q in (0.25, 0.5, 0.75)})
    return edges if edges else [v[0]]


def group_labels(values: Sequence[Any], key: str, edges: list[float] | None = None) -> list[str]:
    """One label per utterance for the field ``key`` whose values are ``values`` (None = missing)."""
    missing = "clean" if is_snr_key(key) else "none"

    def numeric(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    nums = [float(v) for v in values if numeric(v)]
    if edges is None and nums:
        edges = list(SNR_EDGES) if is_snr_key(key) else _quartile_edges(nums)
    unit = " dB" if is_snr_key(key) else ""
    labels = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isinf(v) and v > 0 and is_snr_key(key)):
            labels.append(missing)  # null (or +inf) SNR: no noise added
        elif numeric(v) and edges:
            labels.append(_band(float(v), edges, unit))
        else:
            labels.append(str(v))
    return labels


_BAND = re.compile(r"^(<|>=)?(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)")


def _order(label: str) -> tuple[int, float, str]:
    """clean/none first, then bands from the highest (numeric) to the lowest, then names."""
    if label in ("clean", "none"):
        return (0, 0.0, label)
    m = _BAND.match(label)
    if m is None:
        return (2, 0.0, label)
    lo = -math.inf if m.group(1) == "<" else float(m.group(2))  # "<e0" is the lowest band
    return (1, -lo, label)


def grouped_scores(refs: Sequence[str], hyps: Sequence[str], labels: Sequence[str]) -> dict[str, dict[str, float]]:
    """``{label: {cer, wer, token_accuracy, sequence_accuracy, num_utterances}}``, corpus rates per group."""
    if not len(refs) == len(hyps) == len(labels):
        raise ValueError(f"{len(refs)} references, {len(hyps)} hypotheses and {len(labels)} labels must match")
    metrics: dict[str, ASRMetrics] = {}
    for ref, hyp, label in zip(refs, hyps, labels):
        metrics.setdefault(label, ASRMetrics()).update(ref, hyp)
    return {label: metrics[label].compute() for label in sorted(metrics, key=_order)}


def format_table(key: str, groups: dict[str, dict[str, float]], overall: dict[str, float] | None = None) -> str:
    """A fixed-width text table: one row per group (and ``all``), columns n, CER, its split into
    substitutions, deletions and insertions (per reference character; they add up to CER), WER."""
    rows = [(label, g) for label, g in groups.items()] + ([("all", overall)] if overall else [])
    width = max([len(key)] + [len(label) for label, _ in rows])
    lines = [f"{key:<{width}}  {'n':>5}  {'CER':>7}  {'sub':>6}  {'del':>6}  {'ins':>6}  {'WER':>7}"]
    for label, g in rows:
        lines.append(f"{label:<{width}}  {int(g['num_utterances']):>5}  {g['cer']:>7.4f}  {g['cer_sub']:>6.4f}  "
                     f"{g['cer_del']:>6.4f}  {g['cer_ins']:>6.4f}  {g['wer']:>7.4f}")
    return "\n".join(lines)
