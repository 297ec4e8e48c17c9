"""A checkpoint's manifest: the size and sha256 of each of its files, checked before a restore.

Orbax finds a truncated tensor file only sometimes, and a changed byte inside raw float data
never: the tensor is restored as wrong numbers. So each checkpoint carries
`jaxgan_manifest.json`, written into orbax's temporary folder once every file of the
checkpoint is final and before the rename that makes it `<step>/`: a checkpoint is never
listed without its manifest. Orbax itself writes two bookkeeping files during that rename
(`_CHECKPOINT_METADATA`, the commit time; `commit_success.txt`); they hold no tensor, orbax
restores without them, and they are not listed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Optional

from jaxgan.errors import JaxganError

MANIFEST_NAME = "jaxgan_manifest.json"
MANIFEST_FORMAT = "jaxgan checkpoint manifest 1"
# Written by orbax at the top of the checkpoint after the manifest (see the module docstring).
COMMIT_FILES = frozenset({"_CHECKPOINT_METADATA", "commit_success.txt"})


class ManifestMismatch(JaxganError):
    """A checkpoint's files differ from its manifest, or its manifest cannot be read."""


def _listed(folder: Path) -> list[Path]:
    """The files a manifest covers: every file under `folder` but the commit files and itself."""
    top_level = COMMIT_FILES | {MANIFEST_NAME}
    return sorted(p for p in folder.rglob("*")
                  if not p.is_dir() and not (p.parent == folder and p.name in top_level))


def file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def build_manifest(folder: Path) -> dict[str, Any]:
    files = {p.relative_to(folder).as_posix(): {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
             for p in _listed(folder)}
    return {"format": MANIFEST_FORMAT, "files": files}


def write_manifest(folder: Path) -> None:
    """Hashes the files of a finished checkpoint and writes its manifest atomically (a failed
    write raises the OSError, which orbax hands to whoever waits for the save)."""
    staged = folder / f".{MANIFEST_NAME}.tmp"
    staged.write_text(json.dumps(build_manifest(folder), indent=2) + "\n")
    os.replace(staged, folder / MANIFEST_NAME)


def read_manifest(folder: Path) -> Optional[dict[str, dict[str, Any]]]:
    """The files a checkpoint's manifest lists, or None when it has no manifest file."""
    path = folder / MANIFEST_NAME
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
        files = manifest["files"]
        if manifest["format"] != MANIFEST_FORMAT or not all(
                isinstance(v["bytes"], int) and isinstance(v["sha256"], str) for v in files.values()):
            raise ValueError("unexpected fields")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ManifestMismatch(f"its manifest {MANIFEST_NAME} cannot be read ({type(e).__name__})") from None
    return files


def check_manifest(folder: Path) -> bool:
    """True when `folder`'s files match its manifest, False when it has none; a file missing,
    added, of another size or another content raises ManifestMismatch naming it."""
    files = read_manifest(folder)
    if files is None:
        return False
    present = {p.relative_to(folder).as_posix(): p for p in _listed(folder)}
    for name, expected in files.items():
        path = present.get(name)
        if path is None:
            raise ManifestMismatch(f"{name} is missing")
        size = path.stat().st_size
        if size != expected["bytes"]:
            raise ManifestMismatch(f"{name} is {size} bytes, its manifest says {expected['bytes']}")
        if file_sha256(path) != expected["sha256"]:
            raise ManifestMismatch(f"{name} has other content than its manifest's sha256")
    extra = sorted(set(present) - set(files))
    if extra:
        raise ManifestMismatch(f"{extra[0]} is not in its manifest")
    return True
