"""Measures a trained GAN: `python -m jaxgan.evaluate --run DIR | --checkpoint PATH`.

    python -m jaxgan.evaluate --run runs/gan_fashion_mnist [--num-samples 10000] [--json out.json]
    python -m jaxgan.evaluate --checkpoint runs/x/checkpoints/6000
    python -m jaxgan.evaluate --run runs/dcgan_cifar10 --inception-weights pt_inception-2015-12-05-6726825d.pth

Prints FID, KID, classes covered, marginal entropy and the class histogram beside their
floors (real test vs real train on the same features). MNIST and Fashion-MNIST use the domain
classifier (`python -m jaxgan.classifier --dataset ...` first); RGB recipes pytorch-fid's FID
Inception, whose weights file is supplied here, as eval.inception_weights, or in
$JAXGAN_INCEPTION_WEIGHTS. Bad input ends with one line on stderr and exit code 2; a --json
file that exists is replaced only with --force.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jaxgan.cli import ArgumentParser, run_cli
from jaxgan.errors import JaxganError

MAX_SAMPLES = 10_000_000


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(prog="python -m jaxgan.evaluate", description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", help="run folder (its newest readable checkpoint)")
    which.add_argument("--checkpoint", help="RUN/checkpoints/<step> (or a run folder)")
    parser.add_argument("--num-samples", type=int, help="generated images (default: the recipe's eval.num_samples, 10000)")
    parser.add_argument("--json", dest="json_out", help="also write the full result as JSON here")
    parser.add_argument("--force", action="store_true", help="replace the --json file if it exists")
    parser.add_argument("--inception-weights", help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth (RGB recipes)")
    parser.add_argument("--features", choices=["classifier", "inception"], help="override the recipe's eval.features")
    parser.add_argument("--num-real", type=int, help="use only the first N real training images as the reference")
    return parser.parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    """Refuses impossible values and an output it would overwrite, before any work."""
    from jaxgan.files import refuse_existing

    for name in ("num_samples", "num_real"):
        value = getattr(args, name)
        if value is not None and not 2 <= value <= MAX_SAMPLES:
            raise JaxganError(f"--{name.replace('_', '-')} {value}: must be 2 to {MAX_SAMPLES}")
    if args.inception_weights is not None and not Path(args.inception_weights).is_file():
        raise JaxganError(f"--inception-weights {args.inception_weights}: no such file")
    if args.json_out is not None:
        if Path(args.json_out).suffix.lower() != ".json":
            raise JaxganError(f"--json {args.json_out}: name a file ending in .json")
        refuse_existing(args.json_out, args.force, what="--json file")


def evaluate(args: argparse.Namespace) -> None:
    from jaxgan.files import atomic_write_json
    from jaxgan.run.report import evaluate_generator, format_table

    check_args(args)
    result = evaluate_generator(args.run or args.checkpoint, num_samples=args.num_samples,
                                inception_weights=args.inception_weights, features=args.features,
                                num_real=args.num_real)
    if args.json_out:
        atomic_write_json(args.json_out, result)
    print(format_table(result))
    if args.json_out:
        print(f"wrote {args.json_out}")


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: evaluate(args))


if __name__ == "__main__":
    sys.exit(main())
