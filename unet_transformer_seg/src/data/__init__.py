"""Segmentation data: the toy shapes generator, folder datasets, joint transforms, loaders."""

from src.data.loaders import EpochSampler, build_dataloaders, build_datasets, class_names

__all__ = ["EpochSampler", "build_dataloaders", "build_datasets", "class_names"]
