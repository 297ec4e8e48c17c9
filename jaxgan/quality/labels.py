"""The labelled data a domain classifier is trained and tested on, and how it is recognised.

The images and labels come from the data layer (`jaxgan.data.load_labelled`), the same files
the trainer reads. Each set is identified by `checksum`: the sha256 of its training images'
bytes (uint8, (N, 28, 28, 1), C order) followed by the training labels' bytes (uint8). A
classifier trained on a set is cached under that checksum, and evaluation finds it by
recomputing it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from typing import Optional

import numpy as np

from jaxgan.config import DataConfig
from jaxgan.data import CLASS_NAMES, labelled_config, load_labelled
from jaxgan.errors import JaxganError


@dataclasses.dataclass(frozen=True)
class LabelledSplits:
    """Real images (uint8 (N, 28, 28, 1)) and labels (uint8 (N,)), train and test."""

    dataset: str
    source: str  # where they were read from, for messages
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    @functools.cached_property
    def checksum(self) -> str:
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.train_images, np.uint8).tobytes())
        h.update(np.ascontiguousarray(self.train_labels, np.uint8).tobytes())
        return h.hexdigest()

    @property
    def num_classes(self) -> int:
        return len(CLASS_NAMES[self.dataset])


def has_classifier(dataset: str) -> bool:
    return dataset in CLASS_NAMES


def classifier_config(dataset: str, root: Optional[str] = None, format: Optional[str] = None,
                      label_column: Optional[str] = None) -> DataConfig:
    """The `data` section of a classifier's data, from `python -m jaxgan.classifier`'s flags."""
    if not has_classifier(dataset):
        raise JaxganError(f"--dataset {dataset}: no domain classifier for it (choose {' or '.join(CLASS_NAMES)})")
    return labelled_config(dataset, root, format, label_column)


def load_labelled_splits(cfg: DataConfig) -> LabelledSplits:
    """The labelled train and test images of a recipe's `data` section."""
    if not has_classifier(cfg.dataset):
        raise JaxganError(
            f"{cfg.dataset}: no domain classifier for this dataset (there are: {', '.join(CLASS_NAMES)}); "
            "use Inception features (eval.features: inception)"
        )
    train, test = load_labelled(cfg, "train"), load_labelled(cfg, "test")
    return LabelledSplits(cfg.dataset, train.source, train.images, train.labels, test.images, test.labels)
