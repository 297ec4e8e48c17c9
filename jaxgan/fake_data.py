"""Writes a small stand-in dataset for a recipe, in the recipe's real file format.

    python -m jaxgan.fake_data --config configs/dcgan_celeba.yaml --out /tmp/fake [--num 256]

Prints the `--set` arguments that point `jaxgan.train` (or `jaxgan.bench`) at it.
"""

from __future__ import annotations

import argparse
import sys

from jaxgan.errors import JaxganError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaxgan.fake_data", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="recipe file")
    parser.add_argument("--out", required=True, help="directory to write into")
    parser.add_argument("--num", type=int, default=256, help="number of images (default 256)")
    parser.add_argument("--distinct", type=int, help="JPEG folders: draw this many images and repeat them over "
                        "--num files (a CelebA-sized folder, 202599 files, in seconds)")
    args = parser.parse_args(argv)
    try:
        from jaxgan.config import load_config
        from jaxgan.data.synthetic import write_for

        if args.num <= 0 or (args.distinct is not None and args.distinct <= 0):
            raise JaxganError(f"--num and --distinct must be positive (got {args.num}, {args.distinct})")
        config = load_config(args.config)
        overrides = write_for(config.data, args.out, args.num, distinct=args.distinct)
    except JaxganError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(" ".join(f"--set {o}" for o in overrides))
    return 0


if __name__ == "__main__":
    sys.exit(main())
