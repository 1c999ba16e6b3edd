"""Segmentation metrics (dataset-level Dice, IoU, pixel accuracy from a confusion matrix)."""

from src.metrics.seg_metrics import SegMetrics

__all__ = ["SegMetrics"]
