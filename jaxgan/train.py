"""Trains a recipe: `python -m jaxgan.train --config configs/<recipe>.yaml`.

    python -m jaxgan.train --config configs/gan_fashion_mnist.yaml \
        [--workdir runs/x] [--set train.max_steps=500 ...] [--resume | --resume auto]

--resume continues the run in --workdir and refuses a folder without a checkpoint; --resume
auto continues it when there is a checkpoint and starts it when there is none, so that one
command serves a job that is requeued after preemption. Either refuses another recipe's run.

Bad input (config, data, run folder) ends with one line on stderr and exit code 2; a run
that diverges (NaN/Inf) with exit code 3; one stopped by SIGINT/SIGTERM with 130.
"""

from __future__ import annotations

import argparse
import os
import sys

from jaxgan.run import compile_cache
from jaxgan.cli import ArgumentParser, run_cli


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(prog="python -m jaxgan.train", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="recipe file, e.g. configs/gan_fashion_mnist.yaml")
    parser.add_argument("--workdir", help="run folder (default: runs/<recipe name>)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe key, e.g. --set train.max_steps=50 (repeatable)")
    parser.add_argument("--resume", nargs="?", const=True, default=False, choices=["auto"],
                        help="continue the run in --workdir from its latest checkpoint; '--resume auto': continue "
                             "it if it has one, else start it (one command for a job that may be requeued)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def train(args: argparse.Namespace) -> int:
    import jax

    from jaxgan.config import load_config
    from jaxgan.machine import cpu_bfloat16_note
    from jaxgan.run.loop import train_and_evaluate
    from jaxgan.parallel import initialize_distributed

    initialize_distributed()  # a no-op unless JAXGAN_COORDINATOR / JAXGAN_DISTRIBUTED is set
    config = load_config(args.config, args.overrides)
    compile_cache.enable(config.data.cache_dir)  # a second run loads its compiled programs
    note = cpu_bfloat16_note(config.model.precision, jax.default_backend())
    if note and config.model.arch == "dcgan" and jax.process_index() == 0:  # other archs refuse bfloat16
        print(note, file=sys.stderr, flush=True)
    workdir = args.workdir or f"runs/{config.name}"
    summary = train_and_evaluate(config, workdir, resume=args.resume, progress=not args.no_progress)
    rate = f", {summary['steps_per_s']} steps/s" if summary["steps_per_s"] else ""
    print(f"{config.name}: step {summary['step']}/{summary['total_steps']} in {summary['wall_s']} s{rate}; "
          f"run folder {workdir} (samples: {summary['samples']})")
    return 130 if summary.get("interrupted") else 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.no_progress:  # every bar, the data readers' too: tqdm reads this when first imported
        os.environ["TQDM_DISABLE"] = "1"
    return run_cli(lambda: train(args))


if __name__ == "__main__":
    sys.exit(main())
