"""Writes a small stand-in dataset for a recipe, in the recipe's real file format.

    python -m jaxgan.fake_data --config configs/dcgan_celeba.yaml --out /tmp/fake [--num 256]

Prints the `--set` arguments that point `jaxgan.train` (or `jaxgan.bench`) at it. The files
are written into a temporary folder beside `--out` and moved into place only once all are
complete; a file of the same name already in `--out` (a real dataset, say) is never replaced
unless `--force` is given. `--out/.jaxgan-fake-data` lists the files written, so that writing
stand-ins into the same folder again replaces only those.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from jaxgan.cli import ArgumentParser, run_cli
from jaxgan.errors import JaxganError

MAX_IMAGES = 1_000_000
WRITTEN = ".jaxgan-fake-data"  # in --out: the files this command wrote there


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(prog="python -m jaxgan.fake_data", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="recipe file")
    parser.add_argument("--out", required=True, help="folder to write into (created if missing)")
    parser.add_argument("--num", type=int, default=256, help=f"number of images, 1 to {MAX_IMAGES} (default 256)")
    parser.add_argument("--distinct", type=int, help="JPEG folders: draw this many images and repeat them over "
                        "--num files (a CelebA-sized folder, 202599 files, in seconds)")
    parser.add_argument("--force", action="store_true", help="replace files of the same names in --out")
    return parser.parse_args(argv)


def write(args: argparse.Namespace) -> list[str]:
    """Writes the stand-in files into --out; returns the --set overrides that point at them."""
    from jaxgan.config import load_config
    from jaxgan.data.synthetic import write_for
    from jaxgan.files import atomic_write, output_folder

    if not 1 <= args.num <= MAX_IMAGES:
        raise JaxganError(f"--num {args.num}: must be 1 to {MAX_IMAGES}")
    if args.distinct is not None and not 1 <= args.distinct <= args.num:
        raise JaxganError(f"--distinct {args.distinct}: must be 1 to --num ({args.num})")
    config = load_config(args.config)
    out = output_folder(args.out, f"--out {args.out}", "to write the stand-in dataset into")
    staging = out / f".fake_data.tmp-{os.getpid()}"
    try:
        overrides = write_for(config.data, staging, args.num, distinct=args.distinct)
        files = sorted(p.relative_to(staging) for p in staging.rglob("*") if not p.is_dir())
        ours = _written_before(out)
        taken = [f for f in files if ((out / f).exists() or (out / f).is_symlink()) and str(f) not in ours]
        if taken and not args.force:
            raise JaxganError(f"--out {out}: already holds {taken[0]}"
                              f"{f' and {len(taken) - 1} more of the files to write' if len(taken) > 1 else ''}; "
                              "nothing was written: choose another --out or pass --force to replace them")
        for f in files:
            (out / f).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / f, out / f)
        atomic_write(out / WRITTEN, json.dumps(sorted(ours | {str(f) for f in files}), indent=1) + "\n")
    except OSError as e:
        raise JaxganError(f"--out {out}: could not be written ({e.strerror or e}); the temporary files were removed") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [o.replace(str(staging), str(out)) for o in overrides]


def _written_before(out: Path) -> set[str]:
    """The files an earlier run of this command wrote into `out` (free to replace)."""
    try:
        listed = json.loads((out / WRITTEN).read_text())
    except (OSError, ValueError):
        return set()
    return {name for name in listed if isinstance(name, str)} if isinstance(listed, list) else set()


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: print(" ".join(f"--set {o}" for o in write(args))))


if __name__ == "__main__":
    sys.exit(main())
