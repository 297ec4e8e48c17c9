"""Trains one recipe in jaxgan and in torch_ref side by side: `python -m jaxgan.compare`.

    python -m jaxgan.compare --config configs/gan_fashion_mnist.yaml --steps 60 --out out/compare
        [--set KEY=VALUE ...] [--grid 64] [--num-samples 10000] [--no-quality] [--torch-threads 1] [--force]

Both start from the same weights (jaxgan's initialisation, converted to torch), see the same
batches and the same noise. Writes into --out: side_by_side.png (the fixed-noise grids of both
at a few steps), losses.png (Loss_D, Loss_G, D(x), D(G(z)) of both, overlaid), final.png (the
last grids alone, small) and compare.json
(per-step differences until the two part ways, wall time and steps/s of each, and for MNIST and
Fashion-MNIST the domain FID and classes covered of both). Bad input ends with one line on
stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys

from jaxgan.cli import ArgumentParser, run_cli


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(prog="python -m jaxgan.compare", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="recipe file, e.g. configs/gan_fashion_mnist.yaml")
    parser.add_argument("--steps", type=int, default=500, help="train steps of each backend (default 500)")
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe key, e.g. --set data.root=... (repeatable)")
    parser.add_argument("--num-samples", type=int, default=10000,
                        help="generated images per FID at the end (default 10000; MNIST and Fashion-MNIST only)")
    parser.add_argument("--grid", type=int, default=64, help="fixed-noise images in each grid (default 64)")
    parser.add_argument("--no-quality", action="store_true", help="skip the FID at the end")
    parser.add_argument("--torch-threads", type=int,
                        help="torch's CPU threads (default: torch's own choice; 1 is fairer on a busy small CPU)")
    parser.add_argument("--force", action="store_true", help="replace outputs already in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def compare(args: argparse.Namespace) -> int:
    from jaxgan.config import load_config
    from jaxgan.interop.lockstep import OUTPUTS, compare_backends

    config = load_config(args.config, args.overrides)
    result = compare_backends(config, args.steps, args.out, num_samples=args.num_samples,
                              quality=not args.no_quality, progress=not args.no_progress, force=args.force,
                              torch_threads=args.torch_threads, num_grid=args.grid)
    print(result["table"])
    print(f"wrote {', '.join(OUTPUTS)} to {args.out}")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: compare(args))


if __name__ == "__main__":
    sys.exit(main())
