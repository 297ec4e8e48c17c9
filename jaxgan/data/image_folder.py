"""A folder of JPEG/PNG images (CelebA's `img_align_celeba/`), decoded once and cached.

The DCGAN seed reads CelebA with torchvision's `ImageFolder` and `Resize(64)`,
`CenterCrop(64)`; this reader lists files in ImageFolder's order, decodes them with PIL as
ImageFolder does (`convert('RGB')`) and applies the same transforms (`transforms.py`), so the
pixels are identical. Decoding 200,000 JPEGs takes minutes, so the result is written once to
a `.npy` file in the cache directory and memory-mapped on every later run. The cache is written
under a temporary name and renamed into place, so an interrupted run never leaves half a cache.

Finding the cache must not cost a stat of every file either (202,599 of them for CelebA, seconds
on a network disk). Each cache entry is named by the folder, the image size, the `limit` and the
reader version; its `.json` records a hash of the file list (paths, sizes, mtimes) and a stamp:
the modification time of every folder the listing read and the size and mtime of up to 64 files
spread over the list. A folder's mtime changes whenever a file in it is added, removed or
renamed, so a matching stamp reuses the cache after a few dozen stats. Anything else (a stamp
that differs, no stamp) lists and hashes every file as before, and decodes again only if that
hash changed. What the stamp cannot see is a file rewritten in place, keeping its name, that is
not among the sampled ones: after editing images in place, delete the cache entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from jaxgan.config import DataConfig
from jaxgan.data import locate
from jaxgan.data.transforms import resize_center_crop
from jaxgan.errors import JaxganError
from jaxgan.files import atomic_write

# Bump when the decoded pixels for the same files could change (invalidates old caches).
READER_VERSION = 1
# torchvision.datasets.folder.IMG_EXTENSIONS, matched case-insensitively as ImageFolder does.
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
_CHUNK = 256


def is_image(name: str) -> bool:
    return name.lower().endswith(IMG_EXTENSIONS)


def list_images(root: str | Path) -> list[Path]:
    """The image files under `root`, in the order ImageFolder visits them.

    A folder holding image files directly (CelebA's `img_align_celeba/`) is read flat, sorted
    by name. Otherwise it is ImageFolder's layout `root/<class>/**/<image>`: classes sorted,
    then each class's `os.walk` sorted, then file names sorted.
    """
    root = Path(root)
    flat = sorted(e.name for e in os.scandir(root) if e.is_file() and is_image(e.name))
    if flat:
        return [root / name for name in flat]
    files = []
    for cls in sorted(e.name for e in os.scandir(root) if e.is_dir()):
        for dirpath, _, names in sorted(os.walk(root / cls, followlinks=True)):
            files += [Path(dirpath) / n for n in sorted(names) if is_image(n)]
    return files


def decode(path: str | Path, size: Optional[int]) -> np.ndarray:
    """One image as ImageFolder's loader reads it (RGB), then Resize + CenterCrop: uint8 (H, W, 3)."""
    with open(path, "rb") as f:
        img = Image.open(f)
        img = img.convert("RGB")
    return np.asarray(resize_center_crop(img, size), dtype=np.uint8)


def find_image_dir(cfg: DataConfig) -> Path:
    """A directory holding images directly, or class subfolders that do (ImageFolder's root)."""

    def accept(directory: Path) -> Optional[Path]:
        if not directory.is_dir():
            return None
        if _holds_images(directory):
            return directory
        if any(e.is_dir() and _holds_images(Path(e.path)) for e in os.scandir(directory)):
            return directory
        return None

    return locate.find(cfg.dataset, cfg.root, accept, "a folder of images (e.g. img_align_celeba/*.jpg)")


def cache_root(cfg: DataConfig) -> Path:
    """data.cache_dir, else $JAXGAN_CACHE, else ~/.cache/jaxgan."""
    return Path(cfg.cache_dir or os.environ.get("JAXGAN_CACHE") or "~/.cache/jaxgan").expanduser()


def cache_key(root: Path, files: list[Path], image_size: Optional[int]) -> str:
    """A hash of the file list (paths, sizes, mtimes), the image size and the reader version."""
    h = hashlib.sha256(f"image_folder v{READER_VERSION} size={image_size} root={root.resolve()}\n".encode())
    for path in files:
        st = path.stat()
        h.update(f"{path.relative_to(root)}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


def load_image_folder(cfg: DataConfig) -> np.ndarray:
    """LOADERS['image_folder']: uint8 (N, H, W, 3), memory-mapped from the decode cache."""
    return read_image_folder(find_image_dir(cfg), cfg.image_size, cache_root(cfg), cfg.on_corrupt, cfg.limit)


def read_image_folder(
    root: str | Path,
    image_size: Optional[int],
    cache_dir: str | Path,
    on_corrupt: str = "stop",
    limit: Optional[int] = None,
) -> np.ndarray:
    """Decodes the images under `root` once into `cache_dir`; later calls memory-map the cache.

    With `limit`, only the first `limit` files are listed, decoded and cached.

    Raises:
      JaxganError: no images, an unreadable image (with on_corrupt='stop'), images of different
        sizes with image_size None, or a cache directory that cannot be written.
    """
    root, cache_dir = Path(root), Path(cache_dir)
    stem = cache_dir / f"image_folder-{place_key(root, image_size, limit)}"
    npy, meta_path = stem.with_suffix(".npy"), stem.with_suffix(".json")
    meta = _read_meta(npy, meta_path)
    if meta is not None and stamp_matches(root, meta.get("stamp")):
        _report_skipped(meta["skipped"], meta["count"], on_corrupt)
        return np.load(npy, mmap_mode="r")
    dirs = listed_dirs(root)
    before = _dir_mtimes(root, dirs)
    files = list_images(root)[:limit]
    if not files:
        raise JaxganError(f"{root}: no image files ({', '.join(IMG_EXTENSIONS)}) here or in class subfolders")
    key = cache_key(root, files, image_size)
    decoded = False
    if meta is None or meta.get("key") != key:
        meta = _adopt_unstamped(cache_dir / f"image_folder-{key}", npy, meta_path)
    if meta is None:
        meta, decoded = _decode_into(files, image_size, cache_dir, npy, meta_path, on_corrupt), True
    meta.update(root=str(root), count=len(files), key=key, stamp=None)
    if _dir_mtimes(root, dirs) == before:  # nothing changed while listing: the stamp is sound
        meta["stamp"] = {"dirs": before, "files": _file_sample(root, files)}
    try:
        atomic_write(meta_path, json.dumps(meta))
    except JaxganError:
        if decoded:  # a new entry needs its record; an old one (a read-only cache) is still valid
            raise
    _report_skipped(meta["skipped"], len(files), on_corrupt)
    return np.load(npy, mmap_mode="r")


def place_key(root: Path, image_size: Optional[int], limit: Optional[int]) -> str:
    """Names a cache entry: which folder, read at which size, how many files, by which reader."""
    text = f"image_folder v{READER_VERSION} size={image_size} limit={limit} root={root.resolve()}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def listed_dirs(root: Path) -> list[str]:
    """The folders `list_images` reads, relative to `root`: only `root` for a flat folder."""
    if _holds_images(root):
        return ["."]
    dirs = ["."]
    for cls in sorted(e.name for e in os.scandir(root) if e.is_dir()):
        dirs += [os.path.relpath(d, root) for d, _, _ in os.walk(root / cls, followlinks=True)]
    return dirs


def _dir_mtimes(root: Path, dirs: list[str]) -> dict[str, int]:
    return {d: os.stat(root / d).st_mtime_ns for d in dirs}


def _file_sample(root: Path, files: list[Path], count: int = 64) -> list[list]:
    """[relative path, size, mtime_ns] of up to `count` files spread evenly over the list."""
    k = min(count, len(files))
    picks = sorted({round(i * (len(files) - 1) / max(k - 1, 1)) for i in range(k)})
    out = []
    for i in picks:
        st = files[i].stat()
        out.append([str(files[i].relative_to(root)), st.st_size, st.st_mtime_ns])
    return out


def stamp_matches(root: Path, stamp: Optional[dict]) -> bool:
    """True when every recorded folder mtime and sampled file is as the cache saw it."""
    if not stamp:
        return False
    try:
        if _dir_mtimes(root, list(stamp["dirs"])) != stamp["dirs"]:
            return False
        for rel, size, mtime in stamp["files"]:
            st = (root / rel).stat()
            if (st.st_size, st.st_mtime_ns) != (size, mtime):
                return False
    except (OSError, KeyError, TypeError, ValueError):
        return False
    return True


def _read_meta(npy: Path, meta_path: Path) -> Optional[dict]:
    """The entry's record, or None when it is missing or unreadable (then it is rebuilt)."""
    if not (npy.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text())
        np.load(npy, mmap_mode="r")
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and "skipped" in meta else None


def _adopt_unstamped(old_stem: Path, npy: Path, meta_path: Path) -> Optional[dict]:
    """A cache of these same files written before entries were named by folder (by the hash of
    the file list alone) is renamed to this entry's name instead of being decoded again."""
    meta = _read_meta(old_stem.with_suffix(".npy"), old_stem.with_suffix(".json"))
    if meta is None:
        return None
    try:
        os.replace(old_stem.with_suffix(".npy"), npy)
        old_stem.with_suffix(".json").unlink(missing_ok=True)  # the new record is written next
    except OSError:  # it cannot be renamed (a read-only cache): decode as for a new entry
        return None
    return meta


def _decode_into(files, image_size, cache_dir: Path, npy: Path, meta_path: Path, on_corrupt: str) -> dict:
    """Decodes `files` into the entry `npy`; its old record goes first, so none outlives its pixels."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise JaxganError(f"{cache_dir}: cannot create the image cache directory ({e.strerror}); set data.cache_dir") from None
    meta_path.unlink(missing_ok=True)
    return {"skipped": _build_cache(files, image_size, npy, on_corrupt)}


def _holds_images(directory: Path) -> bool:
    return any(e.is_file() and is_image(e.name) for e in os.scandir(directory))


def why_unreadable(e: Exception) -> str:
    """A short reason for a failed decode (PIL's own message repeats the file object)."""
    if isinstance(e, UnidentifiedImageError):
        return "UnidentifiedImageError: not an image format PIL recognises"
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0] if text else 'no detail'}"


def _try_decode(path: Path, size: Optional[int]) -> tuple[Optional[np.ndarray], str]:
    try:
        return decode(path, size), ""
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError...
        return None, why_unreadable(e)


def _build_cache(files: list[Path], size: Optional[int], npy: Path, on_corrupt: str) -> list[str]:
    """Decodes `files` into `npy` (atomically); returns the paths skipped as unreadable."""
    tmp = npy.with_name(f".{npy.name}.tmp-{os.getpid()}")
    out = None
    kept, skipped = 0, []
    try:
        workers = max(1, min(8, os.cpu_count() or 1))
        with ThreadPoolExecutor(workers) as pool, tqdm(total=len(files), desc="decoding images (once)", unit="img") as bar:
            for start in range(0, len(files), _CHUNK):
                chunk = files[start : start + _CHUNK]
                for path, (image, why) in zip(chunk, pool.map(lambda p: _try_decode(p, size), chunk)):
                    bar.update()
                    if image is None:
                        if on_corrupt == "stop":
                            raise JaxganError(f"{path}: unreadable image ({why}); remove it or set data.on_corrupt: skip")
                        skipped.append(str(path))
                        continue
                    if out is None:
                        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(files), *image.shape))
                    elif image.shape != out.shape[1:]:
                        raise JaxganError(
                            f"{path}: image is {image.shape[1]}x{image.shape[0]} but the first is "
                            f"{out.shape[2]}x{out.shape[1]}; set data.image_size to resize them all"
                        )
                    out[kept] = image
                    kept += 1
        if out is None:
            raise JaxganError(f"{files[0].parent}: none of the {len(files)} images could be read (first: {skipped[0]})")
        if kept < len(files):
            out = _shrink(out, kept, tmp)
        out.flush()
        del out
        os.replace(tmp, npy)
    except BaseException:
        out = None
        for leftover in (tmp, tmp.with_name(tmp.name + ".small")):
            leftover.unlink(missing_ok=True)
        raise
    return skipped


def _shrink(out: np.memmap, kept: int, tmp: Path) -> np.memmap:
    """Copies the first `kept` rows into a file of the right length, replacing `tmp`."""
    small_path = tmp.with_name(tmp.name + ".small")
    small = np.lib.format.open_memmap(small_path, mode="w+", dtype=np.uint8, shape=(kept, *out.shape[1:]))
    for start in range(0, kept, 4096):
        stop = min(start + 4096, kept)
        small[start:stop] = out[start:stop]
    del out
    os.replace(small_path, tmp)
    return small


def _report_skipped(skipped: list[str], total: int, on_corrupt: str) -> None:
    if not skipped:
        return
    if on_corrupt == "stop":
        raise JaxganError(f"{skipped[0]}: unreadable image (found when the cache was built); remove it or set data.on_corrupt: skip")
    print(f"skipped {len(skipped)} unreadable images of {total}: first was {skipped[0]}", file=sys.stderr)
