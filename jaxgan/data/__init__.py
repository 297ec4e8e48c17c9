"""Datasets as uint8 arrays in memory, and deterministic batches of them.

`load_images` is what the trainer reads; `load_labelled` gives the same files' images with
their class labels, train or test, for the domain classifier and evaluation.
"""

from jaxgan.data.class_labels import CLASS_NAMES, LabelledImages, labelled_config, load_labelled
from jaxgan.data.pipeline import BatchPipeline, to_float, value_range
from jaxgan.data.sources import load_images

__all__ = [
    "BatchPipeline",
    "CLASS_NAMES",
    "LabelledImages",
    "labelled_config",
    "load_images",
    "load_labelled",
    "to_float",
    "value_range",
]
