"""Samples from a trained run: `python -m jaxgan.sample --checkpoint RUN_DIR [...]`.

    python -m jaxgan.sample --checkpoint runs/gan_fashion_mnist --num 100 --nrow 10
    python -m jaxgan.sample --checkpoint runs/myfgan_mnist --noise-arithmetic
    python -m jaxgan.sample --checkpoint runs/population --member 2   # one member of a population run

`--noise-arithmetic` (or `--seeds`, the book's name) draws the book's experiments on two noise
vectors, which the book calls seed1 and seed2: seed1, seed2, seed1+seed2, seed1-seed2,
seed1*seed2 in one row, and a row interpolating from seed1 to seed2. An `--out` that
exists is replaced only with `--force`; the image is written whole or not at all.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jaxgan.cli import ArgumentParser, run_cli
from jaxgan.errors import JaxganError

# What PIL writes, by the extension of --out.
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF",
           ".webp": "WEBP"}
MAX_IMAGES = 10_000


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(prog="python -m jaxgan.sample", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="run folder, or RUN/checkpoints/<step>")
    parser.add_argument("--num", type=int, default=64, help=f"images in the grid, 1 to {MAX_IMAGES} (default 64)")
    parser.add_argument("--nrow", type=int, default=8, help="images per row (default 8)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the noise, 0 to 2**32-1 (default 0); with --noise-arithmetic it draws seed1 and seed2")
    parser.add_argument("--noise-arithmetic", "--seeds", dest="noise_arithmetic", action="store_true",
                        help="a switch: draw the book's experiments on two noise vectors (seed1, seed2, their "
                             "sum, difference, product, and 12 steps from seed1 to seed2) instead of a grid; "
                             "--seed N chooses the two vectors")
    parser.add_argument("--member", type=int, help="the member of a population run (train.population) to sample")
    parser.add_argument("--out", help="output image, .png or .jpg (default: RUN/samples/sample_<step>.png or seeds_<step>.png)")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    args, extra = parser.parse_known_args(argv)
    if extra:
        hint = "; --noise-arithmetic (--seeds) is a switch: pick its two vectors with --seed N" if args.noise_arithmetic else ""
        parser.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
    return args


def check_args(args: argparse.Namespace) -> None:
    """Refuses impossible values before any checkpoint is read."""
    if not 1 <= args.num <= MAX_IMAGES:
        raise JaxganError(f"--num {args.num}: must be 1 to {MAX_IMAGES}")
    if not 1 <= args.nrow <= MAX_IMAGES:
        raise JaxganError(f"--nrow {args.nrow}: must be 1 to {MAX_IMAGES}")
    if not 0 <= args.seed < 2**32:
        raise JaxganError(f"--seed {args.seed}: must be 0 to {2**32 - 1}")
    if args.out is not None:
        check_out(Path(args.out), args.force)


def check_out(out: Path, force: bool) -> None:
    from jaxgan.files import refuse_existing

    if out.suffix.lower() not in FORMATS:
        raise JaxganError(f"--out {out}: name an image file ending in {', '.join(sorted(FORMATS))}")
    refuse_existing(out, force, what="--out image")


def sample(args: argparse.Namespace) -> None:
    from jaxgan import images
    from jaxgan.run.saved_generator import load_generator, run_dir_and_step, save_noise_experiments

    check_args(args)
    generator = load_generator(args.checkpoint, member=args.member)
    of = "" if args.member is None else f"_member_{args.member}"
    samples_dir = run_dir_and_step(Path(args.checkpoint))[0] / "samples"
    if args.out is None:
        try:
            samples_dir.mkdir(exist_ok=True)
        except OSError as e:
            raise JaxganError(f"{samples_dir}: cannot be created ({e.strerror}); give --out elsewhere") from None
    vrange = generator.value_range
    if args.noise_arithmetic:
        out = Path(args.out or samples_dir / f"seeds_{generator.step:07d}{of}.png")
        save_noise_experiments(generator, out, seed=args.seed)
        print(f"{out}: seed1, seed2, their sum, difference and product, then 12 steps from seed1 to seed2 "
              f"(--seed {args.seed})")
    else:
        out = Path(args.out or samples_dir / f"sample_{generator.step:07d}{of}.png")
        grid = images.make_grid(generator(generator.noise(args.seed, args.num)), nrow=args.nrow, value_range=vrange)
        save_image(images.to_uint8(grid), out)
        print(f"{out}: {args.num} samples from step {generator.step}")


def save_image(pixels, out: Path) -> None:
    """Writes `pixels` (uint8 HWC) whole, through a temporary file renamed into place."""
    from PIL import Image

    from jaxgan.files import atomic_path

    with atomic_path(out) as tmp:
        Image.fromarray(pixels).save(tmp, format=FORMATS[out.suffix.lower()])


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: sample(args))


if __name__ == "__main__":
    sys.exit(main())
