"""Samples from a trained run: `python -m jaxgan.sample --checkpoint RUN_DIR [...]`.

    python -m jaxgan.sample --checkpoint runs/gan_fashion_mnist --num 100 --nrow 10
    python -m jaxgan.sample --checkpoint runs/myfgan_mnist --seeds

`--seeds` draws the book's seed experiments: seed1, seed2, seed1+seed2, seed1-seed2,
seed1*seed2 in one row, and a 3x4 grid interpolating from seed1 to seed2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jaxgan.errors import JaxganError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaxgan.sample", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="run folder, or RUN/checkpoints/<step>")
    parser.add_argument("--num", type=int, default=64, help="images in the grid (default 64)")
    parser.add_argument("--nrow", type=int, default=8, help="images per row (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    parser.add_argument("--seeds", action="store_true", help="the book's seed experiments instead of a grid")
    parser.add_argument("--out", help="output PNG (default: RUN/samples/sample_<step>.png or seeds_<step>.png)")
    args = parser.parse_args(argv)
    if args.num <= 0 or args.nrow <= 0:
        print(f"error: --num and --nrow must be positive (got {args.num}, {args.nrow})", file=sys.stderr)
        return 2
    try:
        from jaxgan import images
        from jaxgan.trained import _run_dir_and_step, load_generator, seed_experiments

        generator = load_generator(args.checkpoint)
        samples_dir = _run_dir_and_step(Path(args.checkpoint))[0] / "samples"
        samples_dir.mkdir(exist_ok=True)
        if args.seeds:
            out = Path(args.out or samples_dir / f"seeds_{generator.step:07d}.png")
            result = seed_experiments(generator, args.seed)
            arithmetic = images.to_uint8(images.make_grid(result["arithmetic"], nrow=5, value_range=generator.value_range))
            interp = images.to_uint8(images.make_grid(result["interpolation"], nrow=4, value_range=generator.value_range))
            _save_stacked([arithmetic, interp], out)
            print(f"{out}: row 1: seed1, seed2, seed1+seed2, seed1-seed2, seed1*seed2; "
                  "then 12 steps from seed1 to seed2")
        else:
            out = Path(args.out or samples_dir / f"sample_{generator.step:07d}.png")
            images.save_grid(generator(generator.noise(args.seed, args.num)), out, nrow=args.nrow,
                             value_range=generator.value_range)
            print(f"{out}: {args.num} samples from step {generator.step}")
    except JaxganError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def _save_stacked(grids, out: Path) -> None:
    """Two grids one above the other, left-aligned, on black."""
    import numpy as np
    from PIL import Image

    width = max(g.shape[1] for g in grids)
    rows = [np.pad(g, ((0, 0), (0, width - g.shape[1]), (0, 0))) for g in grids]
    Image.fromarray(np.concatenate(rows, axis=0)).save(out)


if __name__ == "__main__":
    sys.exit(main())
