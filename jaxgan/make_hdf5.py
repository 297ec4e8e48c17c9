"""`python -m jaxgan.make_hdf5`: build the book's CelebA HDF5 file from a folder of JPEGs.

Seed 001's CelebA recipe reads one HDF5 file (notebook 10 of *Make Your Own GAN*); this makes
it from `img_align_celeba/`: the first N images in sorted order as `img_align_celeba/<n>.jpg`.
An `--out` file that exists is replaced only with `--force`.
"""

from __future__ import annotations

import argparse
import sys

from jaxgan.cli import ArgumentParser, run_cli


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = ArgumentParser(prog="python -m jaxgan.make_hdf5", description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True, help="folder of JPEGs, e.g. data/celeba/img_align_celeba")
    parser.add_argument("--out", required=True, help="HDF5 file to write, e.g. celeba_aligned_small.h5py")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images (the book: 20000)")
    parser.add_argument("--group", default="img_align_celeba", help="HDF5 group (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    return parser.parse_args(argv)


def make(args: argparse.Namespace) -> None:
    from jaxgan.data.hdf5_images import write_hdf5

    count = write_hdf5(args.images, args.out, args.limit, args.group, force=args.force)
    print(f"wrote {count} images to {args.out} (group {args.group})")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: make(args))


if __name__ == "__main__":
    sys.exit(main())
