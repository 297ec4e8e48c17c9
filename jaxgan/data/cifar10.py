"""CIFAR-10 from the official archives: the Python pickles or the binary records.

`cifar-10-python.tar.gz` holds `cifar-10-batches-py/{data_batch_1..5, test_batch}`: Python 2
pickles (protocol 2) of a dict with b'batch_label', b'labels', b'data' (uint8 (10000, 3072),
each row the red, green then blue 32x32 planes) and b'filenames'. Unpickling normally runs
whatever the file names, so these are read by an unpickler that admits only the three numpy
globals an array needs and refuses every other one before it is called.
`cifar-10-binary.tar.gz` holds `cifar-10-batches-bin/*.bin`: records of 1 label byte and 3072
pixel bytes in the same CHW order. Both give uint8 (N, 32, 32, 3), HWC.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Optional

import numpy as np

from jaxgan.config import DataConfig
from jaxgan.data import locate
from jaxgan.data.transforms import resize_center_crop_batch
from jaxgan.errors import JaxganError

PY_DIR, BIN_DIR = "cifar-10-batches-py", "cifar-10-batches-bin"
PIXELS = 3 * 32 * 32
RECORD = 1 + PIXELS
_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
SPLIT_FILES = {
    "python": {"train": _TRAIN, "test": ["test_batch"]},
    "binary": {"train": [f"{n}.bin" for n in _TRAIN], "test": ["test_batch.bin"]},
}

_RECONSTRUCT = np.zeros(0).__reduce__()[0]  # numpy's _reconstruct, whatever its module today
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes, ints and numpy arrays; refuses any other global."""

    def __init__(self, file: Any, source: str):
        super().__init__(file, encoding="bytes")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        found = _ALLOWED_GLOBALS.get((module, name))
        if found is None:
            raise JaxganError(
                f"{self.source}: refused to unpickle global '{module}.{name}'; a CIFAR-10 batch "
                f"holds only dicts, lists, bytes and numpy arrays, so this is not one (or was tampered with)"
            )
        return found


def read_python_batch(path: str | Path) -> np.ndarray:
    """One pickled batch (`data_batch_1`, `test_batch`) -> uint8 (N, 32, 32, 3)."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            batch = _BatchUnpickler(f, str(path)).load()
    except JaxganError:
        raise
    except OSError as e:
        raise JaxganError(f"{path}: cannot read CIFAR-10 batch ({e.strerror})") from None
    except Exception as e:  # a truncated or corrupt pickle raises any of a dozen types
        raise JaxganError(
            f"{path}: not a readable CIFAR-10 pickle ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no detail'}); "
            f"truncated? re-extract cifar-10-python.tar.gz"
        ) from None
    if not isinstance(batch, dict):
        raise JaxganError(f"{path}: a CIFAR-10 batch is a dict, this pickle holds a {type(batch).__name__}")
    data = _get(batch, "data", path)
    labels = _get(batch, "labels", path)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise JaxganError(f"{path}: b'data' must be uint8 (N, {PIXELS}), got {got}")
    if len(labels) != len(data):
        raise JaxganError(f"{path}: {len(data)} images but {len(labels)} labels; the file is damaged")
    return _chw_rows_to_hwc(data)


def read_binary_batch(path: str | Path) -> np.ndarray:
    """One binary batch (`data_batch_1.bin`) of 3073-byte records -> uint8 (N, 32, 32, 3)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise JaxganError(f"{path}: cannot read CIFAR-10 batch ({e.strerror})") from None
    if not raw or len(raw) % RECORD:
        raise JaxganError(
            f"{path}: {len(raw)} bytes is not a whole number of {RECORD}-byte records (1 label byte + "
            f"{PIXELS} pixels; a full batch is {10000 * RECORD}); truncated? re-extract cifar-10-binary.tar.gz"
        )
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD)
    bad = np.flatnonzero(records[:, 0] > 9)
    if bad.size:
        raise JaxganError(
            f"{path}: record {bad[0]} has label {records[bad[0], 0]}, not 0..9; not a CIFAR-10 "
            f"binary batch (CIFAR-100's records have 2 label bytes)"
        )
    return _chw_rows_to_hwc(records[:, 1:])


def find_batches_dir(cfg: DataConfig) -> Path:
    """The directory holding the batches: `cifar-10-batches-py`/`-bin` itself or its parent."""

    def accept(directory: Path) -> Optional[Path]:
        if not directory.is_dir():
            return None
        if _layout(directory) is not None:
            return directory
        for name in (PY_DIR, BIN_DIR):
            if (directory / name).is_dir():
                return directory / name
        return None

    return locate.find(cfg.dataset, cfg.root, accept, f"{PY_DIR}/ or {BIN_DIR}/")


def load_cifar10(cfg: DataConfig) -> np.ndarray:
    """LOADERS['cifar10']: the split's batches, python or binary by what is there.

    With data.image_size set, each image goes through Resize + CenterCrop as the DCGAN seed's
    `transforms.Scale(64)` does (32x32 -> 64x64).
    """
    directory = find_batches_dir(cfg)
    layout = _layout(directory) or ("binary" if directory.name == BIN_DIR else "python")
    names = SPLIT_FILES[layout][cfg.split]
    missing = [n for n in names if not (directory / n).is_file()]
    if missing:
        archive = "cifar-10-python.tar.gz" if layout == "python" else "cifar-10-binary.tar.gz"
        raise JaxganError(
            f"{directory}: CIFAR-10 split '{cfg.split}' needs {', '.join(names)}; missing "
            f"{', '.join(missing)} (re-extract {archive})"
        )
    read = read_python_batch if layout == "python" else read_binary_batch
    images = np.concatenate([read(directory / n) for n in names])
    return resize_center_crop_batch(images[: cfg.limit], cfg.image_size)


def _layout(directory: Path) -> Optional[str]:
    """'python' or 'binary' by the batch files present in `directory`, python first; else None."""
    for layout, splits in SPLIT_FILES.items():
        if any((directory / n).is_file() for names in splits.values() for n in names):
            return layout
    return None


def _get(batch: dict, key: str, path: Path) -> Any:
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    keys = ", ".join(repr(k) for k in batch)
    raise JaxganError(f"{path}: no {key.encode()!r} entry in the batch (keys: {keys})")


def _chw_rows_to_hwc(rows: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
