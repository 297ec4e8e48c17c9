"""A folder of JPEG/PNG images (CelebA's `img_align_celeba/`), decoded once and cached.

The DCGAN seed reads CelebA with torchvision's `ImageFolder` and `Resize(64)`,
`CenterCrop(64)`; this reader lists files in ImageFolder's order, decodes them with PIL as
ImageFolder does (`convert('RGB')`) and applies the same transforms (`transforms.py`), so the
pixels are identical. Decoding 200,000 JPEGs takes minutes, so the result is written once to
a `.npy` file in the cache directory, keyed by the file list (paths, sizes, mtimes), the image
size and the reader version, and memory-mapped on every later run. The cache is written under
a temporary name and renamed into place, so an interrupted run never leaves half a cache.
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
    root = Path(root)
    files = list_images(root)[:limit]
    if not files:
        raise JaxganError(f"{root}: no image files ({', '.join(IMG_EXTENSIONS)}) here or in class subfolders")
    cache_dir = Path(cache_dir)
    stem = cache_dir / f"image_folder-{cache_key(root, files, image_size)}"
    npy, meta_path = stem.with_suffix(".npy"), stem.with_suffix(".json")
    if npy.is_file() and meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
            images = np.load(npy, mmap_mode="r")
        except (OSError, ValueError):
            pass  # unreadable cache: rebuild it
        else:
            _report_skipped(meta["skipped"], len(files), on_corrupt)
            return images
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise JaxganError(f"{cache_dir}: cannot create the image cache directory ({e.strerror}); set data.cache_dir") from None
    skipped = _build_cache(files, image_size, npy, on_corrupt)
    _atomic_write_text(meta_path, json.dumps({"root": str(root), "count": len(files), "skipped": skipped}))
    _report_skipped(skipped, len(files), on_corrupt)
    return np.load(npy, mmap_mode="r")


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


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
