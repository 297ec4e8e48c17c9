"""Converts checkpoints between jaxgan and torch_ref: `python -m jaxgan.convert_cli`.

    python -m jaxgan.convert_cli --config configs/dcgan_celeba.yaml --from-torch step_0007910.pt --to-jax runs/x
    python -m jaxgan.convert_cli --config configs/dcgan_celeba.yaml --from-jax runs/dcgan_celeba --to-torch g_and_d.pt

--to-jax DIR writes a jaxgan run folder's checkpoint (DIR/checkpoints/<step>/) and config.yaml, so
`python -m jaxgan.train --config DIR/config.yaml --workdir DIR --resume` continues from it.
--from-jax takes a run folder, its checkpoints/ folder or one checkpoints/<step>/ folder (the
newest step unless one is named). A checkpoint whose tensors do not fit the recipe is refused
with one line naming the first tensor that differs; every error is one line, exit code 2.
"""

from __future__ import annotations

import argparse
import sys

from jaxgan.errors import JaxganError


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m jaxgan.convert_cli", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="the recipe both checkpoints belong to")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe key (e.g. data.image_size), as for training")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-torch", metavar="CKPT.pt", help="a torch_ref checkpoint")
    source.add_argument("--from-jax", metavar="DIR", help="a jaxgan run folder or checkpoint folder")
    parser.add_argument("--to-jax", metavar="DIR", help="write a jaxgan checkpoint into this run folder")
    parser.add_argument("--to-torch", metavar="OUT.pt", help="write a torch_ref checkpoint")
    args = parser.parse_args(argv)
    if args.from_torch and not args.to_jax:
        parser.error("--from-torch needs --to-jax DIR")
    if args.from_jax and not args.to_torch:
        parser.error("--from-jax needs --to-torch OUT.pt")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        from jaxgan import torch_weights
        from jaxgan.config import load_config

        config = load_config(args.config, args.overrides)
        shape = torch_weights.recipe_image_shape(config)
        if args.from_torch:
            state = torch_weights.from_torch(config, torch_weights.load_torch_checkpoint(args.from_torch), shape,
                                       source=args.from_torch)
            path = torch_weights.save_jax_checkpoint(config, state, args.to_jax)
        else:
            state = torch_weights.restore_jax_checkpoint(config, args.from_jax, shape)
            path = torch_weights.save_torch_checkpoint(torch_weights.to_torch(config, state, shape), args.to_torch)
    except JaxganError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{config.name}: step {int(state.step)} written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
