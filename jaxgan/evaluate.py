"""Measures a trained GAN: `python -m jaxgan.evaluate --run DIR | --checkpoint PATH`.

    python -m jaxgan.evaluate --run runs/gan_fashion_mnist [--num-samples 10000] [--json out.json]
    python -m jaxgan.evaluate --checkpoint runs/x/checkpoints/6000
    python -m jaxgan.evaluate --run runs/dcgan_cifar10 --inception-weights pt_inception-2015-12-05-6726825d.pth

Prints FID, KID, classes covered, marginal entropy and the class histogram beside their
floors (real test vs real train on the same features). MNIST and Fashion-MNIST use the domain
classifier (`python -m jaxgan.classifier --dataset ...` first); RGB recipes pytorch-fid's FID
Inception, whose weights file is supplied here, as eval.inception_weights, or in
$JAXGAN_INCEPTION_WEIGHTS. Bad input ends with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jaxgan.errors import JaxganError


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m jaxgan.evaluate", description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", help="run folder (its latest checkpoint)")
    which.add_argument("--checkpoint", help="RUN/checkpoints/<step> (or a run folder)")
    parser.add_argument("--num-samples", type=int, help="generated images (default: the recipe's eval.num_samples, 10000)")
    parser.add_argument("--json", dest="json_out", help="also write the full result as JSON here")
    parser.add_argument("--inception-weights", help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth (RGB recipes)")
    parser.add_argument("--features", choices=["classifier", "inception"], help="override the recipe's eval.features")
    parser.add_argument("--num-real", type=int, help="use only the first N real training images as the reference")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        for name in ("num_samples", "num_real"):
            value = getattr(args, name)
            if value is not None and value < 2:
                raise JaxganError(f"--{name.replace('_', '-')} must be at least 2, got {value}")
        from jaxgan.quality.report import evaluate_generator, format_table

        result = evaluate_generator(args.run or args.checkpoint, num_samples=args.num_samples,
                                    inception_weights=args.inception_weights, features=args.features,
                                    num_real=args.num_real)
        if args.json_out:
            out = Path(args.json_out)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result, indent=2) + "\n")
    except JaxganError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_table(result))
    if args.json_out:
        print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
