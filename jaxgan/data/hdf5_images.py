"""The book's CelebA HDF5 file: one group of per-image datasets named `0.jpg`, `1.jpg`, ...

Seed 001 (*Make Your Own GAN*, notebook 10) stores the first 20,000 CelebA images, decoded, in
one HDF5 file: dataset `img_align_celeba/<n>.jpg` holds image n as uint8 (218, 178, 3), gzip
level 9. HDF5 lists member names alphabetically (`10.jpg` before `2.jpg`), so the reader
sorts them naturally to recover the book's order. `write_hdf5` builds such a file from a
folder of JPEGs for `python -m jaxgan.make_hdf5`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional

import numpy as np
from tqdm import tqdm

from jaxgan.config import DataConfig
from jaxgan.data import image_folder, locate
from jaxgan.data.transforms import resize_center_crop_array
from jaxgan.errors import JaxganError
from jaxgan.files import refuse_existing

# The book's file name, then any single file with one of these suffixes.
BOOK_FILE = "celeba_aligned_small.h5py"
SUFFIXES = (".h5", ".hdf5", ".h5py", ".he5")


def natural_key(name: str) -> list:
    """Sort key putting `2.jpg` before `10.jpg`: digit runs compare as numbers."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name) if part]


def _h5py():
    try:
        import h5py
    except ImportError:
        raise JaxganError("data.format hdf5 needs h5py: pip install h5py") from None
    return h5py


def find_hdf5(cfg: DataConfig) -> Path:
    """data.root may be the file itself, or a directory holding the book's file or one .h5 file."""

    def accept(directory: Path) -> Optional[Path]:
        if directory.is_file():
            return directory
        if not directory.is_dir():
            return None
        if (directory / BOOK_FILE).is_file():
            return directory / BOOK_FILE
        found = [p for p in directory.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file()]
        return found[0] if len(found) == 1 else None

    return locate.find(cfg.dataset, cfg.root, accept, f"{BOOK_FILE} (or one *.h5 file)")


def read_hdf5_images(path: str | Path, group: str = "img_align_celeba", image_size: Optional[int] = None) -> np.ndarray:
    """All datasets of `group`, in natural name order, as uint8 (N, H, W, C).

    Raises:
      JaxganError: not an HDF5 file, no such group, an empty group, a member that is not a
        uint8 (H, W, C) image, or images of different shapes (with image_size None).
    """
    h5py = _h5py()
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise JaxganError(f"{path}: not a readable HDF5 file ({str(e).splitlines()[0]})") from None
    with f:
        node = f.get(group)
        if not isinstance(node, h5py.Group):
            present = sorted(k for k, v in f.items() if isinstance(v, h5py.Group)) or ["none"]
            raise JaxganError(
                f"{path}: no group '{group}' (groups present: {', '.join(present)}); set data.hdf5_group"
            )
        names = sorted(node.keys(), key=natural_key)
        if not names:
            raise JaxganError(f"{path}: group '{group}' is empty; expected datasets named like 0.jpg")
        out = None
        for i, name in enumerate(tqdm(names, desc=f"reading {path.name}", unit="img", disable=len(names) < 1000)):
            member = node[name]
            if not isinstance(member, h5py.Dataset) or member.dtype != np.uint8 or member.ndim != 3:
                what = f"{member.dtype} {member.shape}" if isinstance(member, h5py.Dataset) else "a group"
                raise JaxganError(f"{path}: {group}/{name} is {what}, expected a uint8 (H, W, C) image")
            image = resize_center_crop_array(member[()], image_size)
            if out is None:
                out = np.empty((len(names), *image.shape), dtype=np.uint8)
            elif image.shape != out.shape[1:]:
                raise JaxganError(
                    f"{path}: {group}/{name} has shape {image.shape} but {group}/{names[0]} has "
                    f"{out.shape[1:]}; set data.image_size to resize them all"
                )
            out[i] = image
    return out


def load_hdf5_images(cfg: DataConfig) -> np.ndarray:
    """LOADERS['hdf5']: the book's CelebA file as uint8 (N, 218, 178, 3) (or resized)."""
    return read_hdf5_images(find_hdf5(cfg), cfg.hdf5_group, cfg.image_size)


def write_hdf5(images_dir: str | Path, out: str | Path, limit: Optional[int] = None, group: str = "img_align_celeba",
               force: bool = False) -> int:
    """Builds the book's file: the first `limit` images of `images_dir` (sorted), as `<group>/<n>.jpg`.

    Each image is stored decoded (RGB uint8, unresized) with gzip level 9, as notebook 10 does.
    The file is written under a temporary name and renamed into place; an existing `out` is
    replaced only with `force`. Returns the image count.

    Raises:
      JaxganError: no such folder, no images in it, an unreadable image, a bad limit, or an
        output location that cannot be written.
    """
    h5py = _h5py()
    images_dir, out = Path(images_dir), Path(out)
    if not images_dir.is_dir():
        raise JaxganError(f"--images {images_dir}: not a directory (expected a folder of JPEGs, e.g. img_align_celeba/)")
    if limit is not None and limit <= 0:
        raise JaxganError(f"--limit {limit}: must be a positive number of images")
    files = image_folder.list_images(images_dir)
    if not files:
        raise JaxganError(f"--images {images_dir}: no image files ({', '.join(image_folder.IMG_EXTENSIONS)})")
    files = files[:limit]
    if out.suffix.lower() not in SUFFIXES:
        raise JaxganError(f"--out {out}: name a file ending in {', '.join(SUFFIXES)}")
    if not group.strip() or "/" in group.strip("/"):
        raise JaxganError(f"--group {group!r}: one HDF5 group name, e.g. img_align_celeba")
    if not out.parent.is_dir():
        raise JaxganError(f"--out {out}: directory {out.parent} does not exist")
    refuse_existing(out, force, what="--out file")
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            for n, path in enumerate(tqdm(files, desc=f"writing {out.name}", unit="img")):
                try:
                    image = image_folder.decode(path, None)
                except Exception as e:
                    raise JaxganError(f"{path}: unreadable image ({image_folder.why_unreadable(e)}); remove it and rerun") from None
                f.create_dataset(f"{group}/{n}.jpg", data=image, compression="gzip", compression_opts=9)
        os.replace(tmp, out)
    except OSError as e:
        raise JaxganError(f"--out {out}: cannot write ({e.strerror or e})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return len(files)
