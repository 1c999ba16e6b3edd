"""Segmentation metrics: dataset-pooled Dice/IoU (``SegMetrics``) and nnU-Net per-case Dice/IoU (``PerCaseMetrics``)."""

from src.metrics.per_case import PerCaseMetrics
from src.metrics.seg_metrics import SegMetrics

__all__ = ["PerCaseMetrics", "SegMetrics"]
