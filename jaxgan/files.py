"""Writing files so that a reader never sees half of one, and nothing a user made is lost.

Every file jaxgan writes goes through `atomic_write`: the bytes go to a hidden temporary file
beside the target, which is renamed into place only once complete (a rename within one folder
is atomic on POSIX) and removed if anything fails. `refuse_existing` is the check a command
makes before writing an output the user named: it does not overwrite what it did not write
unless told to (`--force`).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Iterator, Union

from jaxgan.errors import JaxganError

PathLike = Union[str, os.PathLike]


def _first_line(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


@contextlib.contextmanager
def atomic_path(target: PathLike) -> Iterator[Path]:
    """Yields a temporary path beside `target`; renames it onto `target` when the block ends
    without an error, removes it otherwise. For writers that want a path (PIL, h5py, numpy)."""
    target = Path(target)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, target)
    except OSError as e:
        raise JaxganError(f"{target}: could not be written ({_first_line(e)})") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write(target: PathLike, data: Union[bytes, str]) -> Path:
    """Writes `data` (bytes, or text as UTF-8) to `target` all at once; returns the path."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    return Path(target)


def atomic_write_json(target: PathLike, value: Any) -> Path:
    """`atomic_write` of `value` as indented JSON with a final newline."""
    return atomic_write(target, json.dumps(value, indent=2) + "\n")


def output_folder(folder: PathLike, name: str, holds: str) -> Path:
    """Makes the folder a command writes its outputs into (parents too); one line if it cannot.

    name: how the user gave it (e.g. "--out x"); holds: what goes in it, for the message."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise JaxganError(f"{name}: is a file; give a folder {holds}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise JaxganError(f"{name}: cannot be created ({e.strerror})") from None
    return folder


def refuse_existing(target: PathLike, force: bool, what: str = "output") -> Path:
    """Fails unless `target` is free to write: absent, or a file and `force` is set.

    A folder is never replaced by a file; a missing parent folder is named."""
    target = Path(target)
    if target.is_dir():
        raise JaxganError(f"{target}: is a folder; give a file path for the {what}")
    if target.exists() and not force:
        raise JaxganError(f"{target}: already exists; choose another path or pass --force to replace it")
    if not target.parent.is_dir():
        raise JaxganError(f"{target.parent}: no such folder; create it first or choose another path for the {what}")
    return target
