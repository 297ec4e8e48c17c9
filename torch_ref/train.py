"""Trains a recipe in PyTorch, the seeds' way: `python -m torch_ref.train --config FILE`.

    python -m torch_ref.train --config configs/gan_fashion_mnist.yaml \
        [--workdir runs/torch/x] [--set train.max_steps=500 ...] [--no-progress]

The run folder has jaxgan's layout (jaxgan.run.folder), so the two can be compared side by
side: config.yaml, metrics.jsonl (the same keys: step, epoch, d_loss, g_loss, d_real, d_fake,
d_fake_after, wall_s), samples/step_NNNNNNN.png (torchvision.utils.save_image of the fixed
noise, G in eval mode), samples/progress.gif, loss_curves.png, real_vs_fake.png, summary.json,
and checkpoints/step_NNNNNNN.pt: {generator, discriminator, optimizer_g, optimizer_d (state
dicts), step, recipe}, readable with torch.load(..., weights_only=True) and convertible to a
jaxgan checkpoint with `python -m jaxgan.convert_cli`.

Randomness is torch's, seeded with the recipe's seed: the noise is drawn as each seed draws it
(torch.randn(B, 64), torch.randn(B, 1, 100), torch.randn(B, nz, 1, 1), the book's torch.randn(100)
or torch.rand(1)) and dropout draws its own masks; only the batch order is jaxgan's.
Bad input ends with one line on stderr (`error: ...`) and exit code 2.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from jaxgan.config import Config
from jaxgan.cli import ArgumentParser, run_cli
from jaxgan.data import value_range
from jaxgan.errors import JaxganError
from jaxgan.files import atomic_path
from torch_ref.models import set_mode


def draw_noise(config: Config, flavour: str, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """z as the recipe's seed draws it, in the seed's own shape."""
    z_dim = config.model.z_dim
    shape = {"maxout": (n, 1, z_dim), "dcgan": (n, z_dim, 1, 1), "book": (z_dim,)}.get(flavour, (n, z_dim))
    if config.model.noise == "uniform":  # the book's first attempt: generate_random(1) = torch.rand(1)
        return torch.rand(shape, generator=generator)
    return torch.randn(shape, generator=generator)


def sample_images(gan, z: torch.Tensor) -> torch.Tensor:
    """G(z) in eval mode as NCHW images (the layout save_image takes); z is (n, z_dim)."""
    h, w, c = gan.image_shape
    G = gan.generator
    was_training = G.training
    set_mode(G, False)
    try:
        with torch.no_grad():
            if gan.flavour == "book":  # the book's G takes one seed at a time
                out = torch.stack([G(zi) for zi in z])
            elif gan.flavour == "dcgan":
                out = G(z.reshape(len(z), -1, 1, 1))
            else:
                out = G(z)
    finally:
        set_mode(G, was_training)
    if gan.flavour == "dcgan":
        return out
    return out.reshape(len(z), h, w, c).permute(0, 3, 1, 2)  # flat rows / the book's HWC -> NCHW


def checkpoint_dict(config: Config, gan, step: int) -> dict[str, Any]:
    return {
        "recipe": config.name,
        "step": step,
        "generator": gan.generator.state_dict(),
        "discriminator": gan.discriminator.state_dict(),
        "optimizer_g": gan.g_opt.state_dict(),
        "optimizer_d": gan.d_opt.state_dict(),
    }


def save_checkpoint(directory: Path, config: Config, gan, step: int, keep: int) -> Path:
    """checkpoints/step_NNNNNNN.pt, written atomically; only the newest `keep` are kept."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"step_{step:07d}.pt"
    with atomic_path(path) as tmp:
        torch.save(checkpoint_dict(config, gan, step), tmp)
    for old in sorted(directory.glob("step_*.pt"))[:-keep]:
        old.unlink()
    return path


def train(config: Config, workdir: str | Path, progress: bool = True) -> dict[str, Any]:
    """Trains `config`'s recipe into `workdir`; returns the run summary (also summary.json)."""
    import torchvision.utils as vutils
    from tqdm import tqdm

    from jaxgan.config import dump_config
    from jaxgan.run.progress import LOG_NAMES
    from jaxgan.run.folder import RunFolder, check_writable
    from torch_ref.data import SeedBatches
    from torch_ref.steps import build_gan, train_step

    workdir = Path(workdir)
    check_writable(workdir)
    ckpt_dir = workdir / "checkpoints"
    if ckpt_dir.is_dir() and any(ckpt_dir.glob("step_*.pt")):
        raise JaxganError(f"{workdir}: already holds a run (checkpoints in {ckpt_dir}); choose another --workdir")
    tc = config.train
    torch.manual_seed(config.seed)
    data = SeedBatches(config)
    gan = build_gan(config, data.image_shape)
    if gan.flavour == "book" and tc.batch_size != 1:
        raise JaxganError(f"train.batch_size is {tc.batch_size}, but the book's loop trains on one image at a time: "
                          "set train.batch_size=1")
    spe = data.steps_per_epoch
    total = tc.epochs * spe if tc.max_steps is None else min(tc.epochs * spe, tc.max_steps)
    vrange = value_range(config.data.scale)
    fixed_z = draw_noise(config, "minibatch", tc.num_samples, torch.Generator().manual_seed(config.seed))
    dump_config(config, workdir / "config.yaml")
    run = RunFolder(workdir)

    def save_samples(step: int) -> Path:
        path = run.samples_dir / f"step_{step:07d}.png"
        vutils.save_image(sample_images(gan, fixed_z), path, nrow=8, padding=2, normalize=True, value_range=vrange)
        return path

    window: list[dict[str, float]] = []
    last: dict[str, float] = {}
    start = time.perf_counter()
    bar = tqdm(total=total, unit="step", dynamic_ncols=True, disable=not progress, desc=f"{config.name} (torch)")
    try:
        for step in range(1, total + 1):
            real = data.batch(step - 1)
            n = real.size(0)
            z = draw_noise(config, gan.flavour, n)
            fresh = gan.flavour == "book" or tc.generator_noise == "fresh"
            g_z = draw_noise(config, gan.flavour, n) if fresh else None
            window.append(train_step(gan, real, z, g_z))
            bar.update()
            if step % tc.log_every == 0 or step == total:
                last = {k: float(np.mean([m[k] for m in window])) for k in window[0]}
                window = []
                bad = [k for k, v in last.items() if not math.isfinite(v)]
                if bad:
                    raise JaxganError(f"step {step}: {bad[0]} is {last[bad[0]]} (training diverged)")
                run.log({"step": step, "epoch": (step - 1) // spe, **last,
                         "wall_s": round(time.perf_counter() - start, 3)})
                bar.set_postfix({LOG_NAMES[k]: f"{last[k]:.3f}" for k in ("d_loss", "g_loss", "d_real", "d_fake")})
            if step % tc.sample_every == 0 or step == total:
                save_samples(step)
            if step % tc.checkpoint_every == 0 or step == total:
                save_checkpoint(ckpt_dir, config, gan, step, tc.keep_checkpoints)
        bar.close()
        wall = time.perf_counter() - start
        fake = sample_images(gan, fixed_z).permute(0, 2, 3, 1).numpy()
        real = data.batch(0)[: tc.num_samples].numpy()  # the first batch, as the nets saw it
        real = real.transpose(0, 2, 3, 1) if gan.flavour != "book" else real.reshape(len(real), *gan.image_shape)
        summary = {
            "recipe": config.name,
            "framework": "torch",
            "step": total,
            "total_steps": total,
            "finished": True,
            "epoch": total / spe,
            "wall_s": round(wall, 2),
            "steps_per_s": round(total / max(wall, 1e-9), 1),
            "final_metrics": last,
            "samples": str(save_samples(total)),
            "progress_gif": str(run.save_progress_gif()),
            "loss_curves": str(run.plot_losses()),
            "real_vs_fake": str(run.real_vs_fake(real, fake, vrange)),
            "latest_checkpoint": str(sorted(ckpt_dir.glob("step_*.pt"))[-1]),
        }
        run.write_summary(summary)
        return summary
    finally:
        run.close()


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(prog="python -m torch_ref.train", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="recipe file, e.g. configs/gan_fashion_mnist.yaml")
    parser.add_argument("--workdir", help="run folder (default: runs/torch/<recipe name>)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe key, e.g. --set train.max_steps=50 (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> None:
    from jaxgan.config import load_config

    config = load_config(args.config, args.overrides)
    workdir = args.workdir or f"runs/torch/{config.name}"
    summary = train(config, workdir, progress=not args.no_progress)
    print(f"{config.name} (torch): step {summary['step']}/{summary['total_steps']} in {summary['wall_s']} s, "
          f"{summary['steps_per_s']} steps/s; run folder {workdir} (samples: {summary['samples']})")


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
