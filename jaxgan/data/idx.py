"""The IDX file format of MNIST and Fashion-MNIST (gzip-compressed or raw).

Layout (http://yann.lecun.com/exdb/mnist/): two zero bytes, a type byte, a byte giving the
number of dimensions, then one big-endian uint32 per dimension, then the data in C order.
"""

from __future__ import annotations

import gzip
import io
import math
from pathlib import Path

import numpy as np

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
