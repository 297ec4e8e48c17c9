"""MNIST and Fashion-MNIST as IDX files (gzip-compressed or raw): the format and the files.

Layout (http://yann.lecun.com/exdb/mnist/): two zero bytes, a type byte, a byte giving the
number of dimensions, then one big-endian uint32 per dimension, then the data in C order.

A split's files are `{train,t10k}-images-idx3-ubyte[.gz]` and `{train,t10k}-labels-idx1-ubyte[.gz]`;
`data.root` may name the directory holding them or the images file itself.
"""

from __future__ import annotations

import gzip
import io
import math
from pathlib import Path
from typing import Optional

import numpy as np

from jaxgan.config import DataConfig
from jaxgan.data import locate
from jaxgan.data.transforms import resize_center_crop_batch
from jaxgan.errors import JaxganError

_GZIP_MAGIC = b"\x1f\x8b"
_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | Path) -> np.ndarray:
    """Reads an IDX file into an array of its declared type and shape.

    Raises:
      JaxganError: the file is missing, truncated, has trailing bytes or a wrong magic number.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise JaxganError(f"{path}: cannot read IDX file ({e.strerror})") from None
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.GzipFile(fileobj=io.BytesIO(raw)).read()
        except (OSError, EOFError) as e:
            raise JaxganError(f"{path}: corrupt gzip stream ({e}); re-download the file") from None
    return parse_idx(raw, source=str(path))


def parse_idx(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parses the bytes of an (uncompressed) IDX file."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        head = raw[:4].hex() or "empty"
        raise JaxganError(
            f"{source}: not an IDX file (magic 0x{head}; expected 0x0000 then a type byte "
            f"in {sorted(hex(t) for t in _DTYPES)} and a dimension count)"
        )
    dtype, ndim = _DTYPES[raw[2]], raw[3]
    if ndim == 0:
        raise JaxganError(f"{source}: IDX header declares 0 dimensions; expected 1 to 255")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise JaxganError(f"{source}: truncated IDX header ({len(raw)} bytes, expected {header})")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + math.prod(shape) * dtype.itemsize  # exact: no int64 overflow on absurd shapes
    if len(raw) != expected:
        kind = "truncated" if len(raw) < expected else "has trailing bytes"
        raise JaxganError(
            f"{source}: IDX file {kind}: {len(raw)} bytes, expected {expected} for shape {shape}"
        )
    try:
        data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    except ValueError:  # an empty array whose other dimensions are too large for numpy
        raise JaxganError(f"{source}: IDX header declares shape {shape}, which holds no data") from None
    return data.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> None:
    """Writes `array` as IDX (gzip when the name ends in .gz); used by tests and tools."""
    path = Path(path)
    array = np.asarray(array)
    code = next((c for c, d in _DTYPES.items() if d.kind == array.dtype.kind and d.itemsize == array.dtype.itemsize), None)
    if code is None:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.astype(_DTYPES[code], copy=False).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    path.write_bytes(gzip.compress(payload) if compress else payload)


# ----------------------------------------------------------------------------------------------
# A split's files

SPLIT_PREFIX = {"train": "train", "test": "t10k"}


def file_names(split: str) -> tuple[str, str]:
    """(images, labels) file names of `split`, without the optional .gz."""
    prefix = SPLIT_PREFIX[split]
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def _file_in(directory: Path, name: str) -> Optional[Path]:
    return next((c for c in (directory / name, directory / f"{name}.gz") if c.is_file()), None)


def find_images(cfg: DataConfig) -> Path:
    """The images file of `cfg.split`, searched where `locate` looks."""
    name = file_names(cfg.split)[0]

    def accept(directory: Path) -> Optional[Path]:
        if directory.is_file() and directory.name.startswith(name):
            return directory
        return _file_in(directory, name)

    return locate.find(cfg.dataset, cfg.root, accept, f"{name}[.gz]")


def find_training_dir(cfg: DataConfig) -> Path:
    """The directory holding the training images *and* labels; the test split lies beside them."""
    images, labels = file_names("train")

    def accept(directory: Path) -> Optional[Path]:
        if directory.is_file():  # data.root names the images file: look beside it
            directory = directory.parent
        return directory if _file_in(directory, images) and _file_in(directory, labels) else None

    return locate.find(cfg.dataset, cfg.root, accept, f"{images}[.gz] with {labels}[.gz]")


def read_images(path: Path) -> np.ndarray:
    """An IDX images file (N, H, W) -> uint8 (N, H, W, 1)."""
    images = read_idx(path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise JaxganError(f"{path}: expected uint8 images of shape (N, H, W), got {images.dtype} {images.shape}")
    return images[..., None]


def load_idx_images(cfg: DataConfig) -> np.ndarray:
    """LOADERS['idx']: the split's images, uint8 (N, 28, 28, 1), or resized to data.image_size
    (torchvision's Resize + CenterCrop, as pytorch/examples' dcgan resizes MNIST to 64)."""
    return resize_center_crop_batch(read_images(find_images(cfg))[: cfg.limit], cfg.image_size)


def read_labelled(directory: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """`split`'s images uint8 (N, 28, 28, 1) and labels uint8 (N,) 0..9, from `directory`."""
    names = file_names(split)
    paths = [_file_in(directory, name) for name in names]
    if None in paths:
        raise JaxganError(f"{names[0]}[.gz] with {names[1]}[.gz] not found in {directory}, beside the "
                          "training files (the classifier's test accuracy and the FID floor need them)")
    images, labels = read_images(paths[0]), read_idx(paths[1])
    if labels.dtype != np.uint8 or labels.ndim != 1 or len(labels) != len(images):
        raise JaxganError(
            f"{paths[1]}: expected {len(images)} uint8 labels (one per image), got {labels.dtype} {labels.shape}")
    if labels.size and labels.max() > 9:
        raise JaxganError(f"{paths[1]}: labels must be 0..9, found {int(labels.min())}..{int(labels.max())}")
    return images, labels
