"""A PyTorch `state_dict` file read into numpy arrays without PyTorch.

pytorch-fid's Inception weights are a `torch.save`d state_dict; reading them here lets FID
run with jaxgan alone (torch is an optional extra). Both of torch's formats are read: the zip
archive (torch >= 1.6: `<name>/data.pkl` and one file per storage under `<name>/data/`) and
the legacy stream (a magic number, protocol and system pickles, the object pickle, the list of
storage keys, then each storage as an int64 element count and its bytes), which is how
pytorch-fid's 2019 weights file was written. As `torch.load(weights_only=True)`, the pickle
may build only tensors, containers and plain values: any other global is refused.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np

from jaxgan.errors import JaxganError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": ml_dtypes.bfloat16, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class StorageType:
    """Stands for `torch.FloatStorage` and its kin: only their element type is needed."""

    def __init__(self, name: str):
        self.dtype = np.dtype(STORAGE_DTYPES[name])


def rebuild_tensor(storage: np.ndarray, offset: int, size, stride, *unused) -> np.ndarray:
    """torch._utils._rebuild_tensor_v2: a strided view of a storage (copied out once the
    storages are all read: a legacy file's bytes come after its pickle)."""
    itemsize = storage.dtype.itemsize
    return np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size),
                                           strides=tuple(s * itemsize for s in stride))


def rebuild_parameter(data: np.ndarray, *unused) -> np.ndarray:
    """torch._utils._rebuild_parameter(_with_state): an nn.Parameter is its data."""
    return data


ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): rebuild_parameter,
    ("torch", "Size"): tuple,
}


class StateDictUnpickler(pickle.Unpickler):
    """Builds numpy arrays where torch's pickle builds tensors; `storages(key, type, count)`
    supplies each storage's elements."""

    def __init__(self, file, storages):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str):
        if module == "torch" and name in STORAGE_DTYPES:
            return StorageType(name)
        if (module, name) in ALLOWED_GLOBALS:
            return ALLOWED_GLOBALS[(module, name)]
        raise pickle.UnpicklingError(f"GLOBAL {module}.{name} is not a tensor, container or plain value")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, count = pid[:5]
        if kind != "storage" or not isinstance(storage_type, StorageType):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid[:2]!r}")
        return self.storages(str(key), storage_type.dtype, int(count))


def _read_zip(archive: zipfile.ZipFile) -> Any:
    pickle_name = next((n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
    if pickle_name is None:
        raise pickle.UnpicklingError("no data.pkl in the archive")
    prefix = pickle_name[: -len("data.pkl")]

    def storage(key: str, dtype: np.dtype, count: int) -> np.ndarray:
        return np.frombuffer(archive.read(f"{prefix}data/{key}"), dtype)[:count]

    return StateDictUnpickler(io.BytesIO(archive.read(pickle_name)), storage).load()


def _read_legacy(stream: io.BufferedIOBase) -> Any:
    if pickle.load(stream) != LEGACY_MAGIC:
        raise pickle.UnpicklingError("not a torch file (no magic number)")
    pickle.load(stream)  # protocol version
    pickle.load(stream)  # system info: byte order and type sizes
    storages: dict[str, np.ndarray] = {}

    def storage(key: str, dtype: np.dtype, count: int) -> np.ndarray:
        if key not in storages:  # filled below: the storages follow the pickles
            storages[key] = np.zeros(count, dtype)
        return storages[key]

    obj = StateDictUnpickler(stream, storage).load()
    for key in pickle.load(stream):
        array = storages[str(key)]
        count = int(np.frombuffer(stream.read(8), "<i8")[0])
        array[:count] = np.frombuffer(stream.read(count * array.dtype.itemsize), array.dtype)
    return obj


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a `torch.save(module.state_dict(), path)` file, by name; one line when not."""
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                obj = _read_zip(archive)
        else:
            with open(path, "rb") as stream:
                obj = _read_legacy(stream)
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError, zipfile.BadZipFile) as e:
        raise JaxganError(f"{path}: not a torch state_dict file ({str(e).splitlines()[0][:160]})") from None
    if not isinstance(obj, dict):
        raise JaxganError(f"{path}: expected a torch state_dict (a dict of tensors), got {type(obj).__name__}")
    return {str(k): np.array(v) for k, v in obj.items()}
