"""Outcome parity: do jaxgan and torch_ref train GANs that are equally good?

    python benchmarks/outcome_parity.py [--config configs/gan_fashion_mnist.yaml] [--steps 6000]
        [--seeds 0 1 2] [--workdir /tmp/outcome_parity] [--num-samples 10000]
        [--json benchmarks/outcome_parity.json] [--skip-train] [--figure docs/images/fashion_jax_vs_torch.png]

The parity tests show that one step computes the same thing in both; this shows what a whole
run learns. For each seed it trains the recipe with `python -m jaxgan.train` and with
`python -m torch_ref.train` (same recipe file, same budget: `--set train.max_steps=N
--set seed=S`), then measures every run's generator with the same domain-classifier FID (one
Evaluator, so one set of real features and one fixed evaluation z for all). It reports each
backend's mean and standard deviation (ddof 1) over seeds and whether
|mean_jax - mean_torch| < spread, with spread = the larger of the two standard deviations:
a difference smaller than seed-to-seed variation is no evidence of a difference.

torch_ref runs are read from the latest torch checkpoint (`checkpoints/step_NNNNNNN.pt`, torch_ref's format:
{"generator": state_dict, "discriminator": ..., "step": ...}) in their run folder, converted by
`jaxgan.interop.weights.from_torch` and sampled with jaxgan's generator (whose forward pass equals
torch_ref's: parity_tests). Needs the Fashion-MNIST classifier:
`python -m jaxgan.classifier --dataset fashion_mnist`.

`--figure PATH` also draws the first seed's two generators side by side on one fixed z (the
README's opening picture).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from jaxgan.errors import JaxganError  # noqa: E402

BACKENDS = {"jax": "jaxgan.train", "torch": "torch_ref.train"}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "gan_fashion_mnist.yaml"))
    parser.add_argument("--steps", type=int, default=6000, help="train.max_steps of every run (default 6000 = 10 epochs)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workdir", default="/tmp/outcome_parity", help="run folders go to WORKDIR/<backend>-seed<S>")
    parser.add_argument("--num-samples", type=int, default=10000, help="generated images per FID")
    parser.add_argument("--json", dest="json_out", default=str(REPO / "benchmarks" / "outcome_parity.json"))
    parser.add_argument("--skip-train", action="store_true", help="only evaluate runs already in --workdir")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="OMP_NUM_THREADS for torch_ref (default 1: on a busy 2-core CPU torch's thread pool "
                             "made the seed-002 MLP ~9x slower, 2.8 vs 25 steps/s)")
    parser.add_argument("--figure", help="also write the first seed's jax and torch samples side by side here (PNG)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="extra recipe overrides for both backends (e.g. data.root=...)")
    return parser.parse_args(argv)


def available(backend: str) -> bool:
    try:
        return importlib.util.find_spec(BACKENDS[backend]) is not None
    except ModuleNotFoundError:
        return False


def train(backend: str, config: str, workdir: Path, seed: int, steps: int, overrides: list[str],
          torch_threads: int = 1) -> float:
    """Runs one training as its CLI does; returns the wall time in seconds."""
    sets = [f"train.max_steps={steps}", f"seed={seed}", *overrides]
    cmd = [sys.executable, "-m", BACKENDS[backend], "--config", config, "--workdir", str(workdir)]
    for item in sets:
        cmd += ["--set", item]
    cmd.append("--no-progress")
    print("$ " + " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    env = dict(os.environ, OMP_NUM_THREADS=str(torch_threads)) if backend == "torch" else None
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["(no output)"]
        raise JaxganError(f"{backend} training (seed {seed}) failed with exit code {done.returncode}: {last[0]}")
    return time.perf_counter() - t0


def finished_run(run: Path) -> Optional[dict[str, Any]]:
    """What a finished run's summary.json says of its length and speed; None if unfinished."""
    try:
        summary = json.loads((run / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return {k: summary.get(k) for k in ("step", "wall_s", "steps_per_s")}


def jax_generator(run: Path) -> Callable:
    from jaxgan.run.saved_generator import load_generator
    from jaxgan.steps import make_generate

    g = load_generator(run)
    generate = make_generate(g.gan)
    return lambda z: generate(g.state, z)


def torch_generator(run: Path, config) -> Callable:
    from jaxgan.config import recipe_image_shape
    from jaxgan.interop.torch_files import load_torch_checkpoint
    from jaxgan.interop.weights import from_torch
    from jaxgan.gan import build_gan
    from jaxgan.steps import make_generate

    def step_of(path: Path) -> tuple[int, float]:  # checkpoints/step_0006000.pt; else by time
        digits = "".join(ch for ch in path.stem if ch.isdigit())
        return (int(digits) if digits else -1, path.stat().st_mtime)

    files = sorted((p for ext in ("*.pt", "*.pth") for p in run.rglob(ext)), key=step_of)
    if not files:
        raise JaxganError(f"{run}: no torch checkpoint (*.pt, *.pth) found")
    checkpoint = load_torch_checkpoint(files[-1])
    shape = recipe_image_shape(config)
    state = from_torch(config, checkpoint, shape, source=str(files[-1]))
    generate = make_generate(build_gan(config, shape))
    return lambda z: generate(state, z)


def summarise(values: list[float]) -> dict[str, Any]:
    return {
        "values": values,
        "mean": statistics.fmean(values) if values else None,
        "std": statistics.stdev(values) if len(values) > 1 else None,
        "min": min(values) if values else None,
        "max": max(values) if values else None,
    }


def draw_figure(shown: dict[str, tuple[Callable, dict[str, float]]], config, steps: int, seed: int,
                path: Path) -> Path:
    """One fixed z through both backends' generators, in a labelled pair of grids."""
    import numpy as np

    from jaxgan import images
    from jaxgan.gan import fixed_noise

    z = np.asarray(fixed_noise(seed, 64, config.model.z_dim, config.model.noise))
    grids, titles = [], []
    for backend, name in (("jax", "jaxgan (JAX)"), ("torch", "torch_ref (PyTorch)")):
        generate, scores = shown[backend]
        grids.append(images.to_uint8(images.make_grid(np.asarray(generate(z)), nrow=8, value_range=(-1.0, 1.0))))
        titles.append(f"{name}\nFID {scores['fid']:.1f}, {scores['classes_covered']:.0f}/10 classes covered")
    epochs = f" ({steps * config.train.batch_size / 60000:g} epochs)" if config.data.dataset == "fashion_mnist" else ""
    caption = (f"{config.name}, seed {seed}, {steps} steps{epochs}: each backend trained by its own command "
               "(its own noise), then both generators drawn from one fixed z. FID on the Fashion-MNIST "
               "domain classifier, 10,000 samples.")
    path.parent.mkdir(parents=True, exist_ok=True)
    return images.grid_table([grids], [""], titles, path, caption=_wrap(caption), cell_inches=3.2)


def _wrap(text: str, width: int = 90) -> str:
    import textwrap

    return textwrap.fill(text, width)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        from jaxgan.config import load_config
        from jaxgan.quality import Evaluator

        workdir = Path(args.workdir)
        backends = [b for b in BACKENDS if available(b)]
        missing = [b for b in BACKENDS if b not in backends]
        for b in missing:
            print(f"note: {BACKENDS[b]} is not available; its runs are skipped", flush=True)
        runs: dict[str, dict[int, dict[str, Any]]] = {b: {} for b in BACKENDS}
        shown: dict[str, tuple[Callable, dict[str, float]]] = {}
        for seed in args.seeds:
            for backend in backends:
                run = workdir / f"{backend}-seed{seed}"
                wall: Optional[float] = None
                if not args.skip_train:
                    if run.exists():
                        raise JaxganError(f"{run}: already exists; remove it or pass --skip-train")
                    wall = train(backend, args.config, run, seed, args.steps, args.overrides, args.torch_threads)
                finished = finished_run(run)
                if finished is None:
                    print(f"note: {run} holds no finished run (no summary.json); skipped", flush=True)
                    continue
                runs[backend][seed] = {"run": str(run), "train_wall_s": wall, **finished}

        config = load_config(args.config, [f"train.max_steps={args.steps}", *args.overrides])
        evaluator = Evaluator(config, num_samples=args.num_samples)
        for backend in backends:
            for seed, record in runs[backend].items():
                run = Path(record["run"])
                cfg = load_config(args.config, [f"train.max_steps={args.steps}", f"seed={seed}", *args.overrides])
                generate = jax_generator(run) if backend == "jax" else torch_generator(run, cfg)
                scores = evaluator(generate)
                record.update(scores)
                if args.figure and seed == args.seeds[0]:
                    shown[backend] = (generate, scores)
                print(f"{backend} seed {seed}: FID {scores['fid']:.3f}, KID {scores['kid']:.4f}, "
                      f"classes covered {scores['classes_covered']:.0f}", flush=True)

        summary = {b: summarise([r["fid"] for r in runs[b].values() if "fid" in r]) for b in BACKENDS}
        jax_s, torch_s = summary["jax"], summary["torch"]
        comparable = jax_s["std"] is not None and torch_s["std"] is not None
        spread = max(jax_s["std"], torch_s["std"]) if comparable else None
        diff = abs(jax_s["mean"] - torch_s["mean"]) if comparable else None
        result = {
            "recipe": config.name,
            "steps": args.steps,
            "seeds": args.seeds,
            "num_samples": args.num_samples,
            "features": evaluator.describe(),
            "floor_fid": evaluator.floor()["fid"],
            "runs": {b: {str(s): r for s, r in runs[b].items()} for b in BACKENDS},
            "fid": summary,
            "classes_covered": {b: summarise([r["classes_covered"] for r in runs[b].values() if "fid" in r])
                                for b in BACKENDS},
            "train_wall_s": {b: summarise([r["wall_s"] for r in runs[b].values() if r.get("wall_s")])
                             for b in BACKENDS},
            "abs_mean_difference": diff,
            "spread": spread,
            "within_spread": (diff < spread) if comparable else None,
            "unavailable": [BACKENDS[b] for b in missing],
        }
        if len(shown) == len(BACKENDS):
            draw_figure(shown, config, args.steps, args.seeds[0], Path(args.figure))
        out = Path(args.json_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    except JaxganError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for b in BACKENDS:
        s = summary[b]
        if s["mean"] is not None:
            std = f" ± {s['std']:.3f}" if s["std"] is not None else ""
            print(f"{b:6} FID {s['mean']:.3f}{std} over seeds {sorted(runs[b])} (range {s['min']:.3f}-{s['max']:.3f})")
    if comparable:
        print(f"|mean_jax - mean_torch| = {diff:.3f} {'<' if diff < spread else '>='} spread {spread:.3f}: "
              f"{'within' if diff < spread else 'NOT within'} seed-to-seed variation; wrote {out}")
        return 0
    print(f"no comparison: {', '.join(result['unavailable']) or 'too few seeds'} missing; wrote {out}")
    return 2 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
