"""Benchmarks a recipe's real train step in each backend, on the same batches.

    python -m jaxgan.bench --config configs/dcgan_celeba.yaml --backends jax,torch --steps 10

Backends: `jax` (jaxgan's jit(scan(train_step)), `train.steps_per_dispatch` steps per call),
`torch` (torch_ref's step, eager, as the seed runs it) and `torch-compile` (the same with both
networks wrapped in `torch.compile`). Each backend runs in its own fresh process, one after the
other, so its peak memory is its own; all see the same uint8 batches (the recipe's data if it
is installed, else stand-in images of the same shape). Warm-up and compilation are timed
separately and excluded from ms/step. The input pipeline's own throughput is measured too.
The ratio column is throughput relative to the first backend listed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from jaxgan.errors import JaxganError

BACKENDS = ("jax", "torch", "torch-compile")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _batches(config, steps: int, data: str) -> tuple[np.ndarray, str, float]:
    """uint8 (steps, B, H, W, C) and where they came from; plus pipeline images/s."""
    from jaxgan.data import BatchPipeline, load_images
    from jaxgan.data.synthetic import write_for

    source = "recipe data"
    if data == "real":
        images = load_images(config.data)
    else:
        try:
            if data == "fake":
                raise JaxganError("stand-in data asked for")
            images = load_images(config.data)
        except JaxganError:
            tmp = tempfile.mkdtemp(prefix="jaxgan-bench-")
            count = max(config.train.batch_size * 2, 256)
            from jaxgan.config import load_config

            overrides = write_for(config.data, tmp, count=count)
            images = load_images(load_config(_CONFIG_PATH, [*_OVERRIDES, *overrides]).data)
            source = f"stand-in images ({count}, {tmp})"
    pipeline = BatchPipeline(images, config.train.batch_size, config.seed, shuffle=config.data.shuffle)
    start = time.perf_counter()
    batches = pipeline.batches(0, steps)
    rate = steps * config.train.batch_size / (time.perf_counter() - start)
    return batches, source, rate


def _run_jax(config, batches: np.ndarray, warmup: int) -> dict:
    import jax

    from jaxgan.gan import build_gan, init_state
    from jaxgan.steps import make_train_chunk

    gan = build_gan(config, batches.shape[2:])
    state = init_state(gan, config.seed)
    chunk = min(config.train.steps_per_dispatch, len(batches) - warmup)
    train_chunk = make_train_chunk(gan, donate=jax.default_backend() != "cpu")
    t0 = time.perf_counter()
    state, _ = train_chunk(state, jax.device_put(batches[:chunk]), chunk)  # compiles
    jax.block_until_ready(state)
    compile_s = time.perf_counter() - t0
    timed = batches[warmup:]
    usable = len(timed) // chunk * chunk
    if usable == 0:
        raise JaxganError(f"--steps must be at least {warmup + chunk} for the jax backend (warm-up + one dispatch)")
    t0 = time.perf_counter()
    for i in range(0, usable, chunk):
        state, _ = train_chunk(state, jax.device_put(timed[i : i + chunk]), chunk)
    jax.block_until_ready(state)
    seconds = time.perf_counter() - t0
    peak = None
    stats = jax.devices()[0].memory_stats() if hasattr(jax.devices()[0], "memory_stats") else None
    if stats and "peak_bytes_in_use" in stats:
        peak = stats["peak_bytes_in_use"] / 2**20
    return {"steps": usable, "seconds": seconds, "compile_s": compile_s, "device_peak_mb": peak,
            "flops_per_step": _step_flops(gan, state, batches[0]),
            "device": str(jax.devices()[0]), "version": f"jax {jax.__version__}"}


def _step_flops(gan, state, batch) -> float | None:
    """Floating-point operations of one train step, as XLA's cost analysis counts them.

    Counted on the step as lowered, before a backend compiles it, so the figure is the same on
    every machine (DCGAN at batch 128: 304.8 GFLOP): the TFLOP/s column is that one count per
    second of each backend's step.
    """
    import jax

    from jaxgan.steps import STEP_BUILDERS

    step = jax.jit(STEP_BUILDERS[gan.scheme](gan))
    try:  # the lowered (backend-independent) program: cuDNN calls hide their count once compiled
        cost = step.lower(state, batch, jax.random.key(0)).cost_analysis()
    except Exception:  # cost analysis is best effort: not every backend offers it
        return None
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost["flops"]) if cost and cost.get("flops") else None


def _run_torch(config, batches: np.ndarray, warmup: int, compiled: bool) -> dict:
    import torch

    from torch_ref.steps import build_gan, train_step

    torch.manual_seed(config.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    gan = build_gan(config, batches.shape[2:])
    gan.generator.to(device)  # in place: the optimisers keep the same parameters
    gan.discriminator.to(device)
    if compiled:
        gan.generator = torch.compile(gan.generator)
        gan.discriminator = torch.compile(gan.discriminator)
    scale_pm1 = config.data.scale == "minus_one_one"
    book = config.train.scheme == "book"

    def seed_batch(u8: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(u8).float().div(255)  # ToTensor's arithmetic
        if scale_pm1:
            x = (x - 0.5) / 0.5
        if book:  # the book's per-image layout
            return x.reshape(len(u8), -1) if u8.shape[-1] == 1 else x
        return x.permute(0, 3, 1, 2).contiguous()

    real = [seed_batch(b) for b in batches]  # converted outside the timed loop
    b, zd = config.train.batch_size, config.model.z_dim
    fresh = book or config.train.generator_noise == "fresh"

    def step(x):  # the seeds' loop: batch to the device, noise drawn there
        x = x.to(device)
        z = torch.randn(b, zd, device=device)
        return train_step(gan, x, z, torch.randn(b, zd, device=device) if fresh else None)

    t0 = time.perf_counter()
    for x in real[:warmup]:
        step(x)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for x in real[warmup:]:
        step(x)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    peak = None
    if torch.cuda.is_available():
        peak = torch.cuda.max_memory_allocated() / 2**20
    return {"steps": len(real) - warmup, "seconds": seconds, "compile_s": compile_s, "device_peak_mb": peak,
            "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
            "version": f"torch {torch.__version__}, {torch.get_num_threads()} threads"}


_CONFIG_PATH: str = ""
_OVERRIDES: list[str] = []


def _worker(args) -> dict:
    """One backend, in this (fresh) process."""
    global _CONFIG_PATH, _OVERRIDES
    from jaxgan.config import load_config

    _CONFIG_PATH, _OVERRIDES = args.config, list(args.overrides)
    overrides = list(args.overrides)
    if args.batch_size:
        overrides.append(f"train.batch_size={args.batch_size}")
    _OVERRIDES = overrides
    config = load_config(args.config, overrides)
    batches, source, pipeline_rate = _batches(config, args.steps + args.warmup, args.data)
    if args.worker == "jax":
        result = _run_jax(config, batches, args.warmup)
    else:
        result = _run_torch(config, batches, args.warmup, compiled=args.worker == "torch-compile")
    result.update(backend=args.worker, batch_size=config.train.batch_size, data=source,
                  pipeline_images_per_s=pipeline_rate, peak_rss_mb=_peak_rss_mb())
    result["ms_per_step"] = 1000 * result["seconds"] / result["steps"]
    result["images_per_s"] = result["steps"] * config.train.batch_size / result["seconds"]
    return result


def _table(results: list[dict]) -> str:
    base = results[0].get("images_per_s")
    head = ("| backend | images/s | ms/step | compile+warm-up s | peak RSS MB | device peak MB | TFLOP/s "
            "| ratio |")
    rows = [head, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    flops = next((r["flops_per_step"] for r in results if r.get("flops_per_step")), None)
    for r in results:
        if "error" in r:
            rows.append(f"| {r['backend']} | n/a | n/a | n/a | n/a | n/a | n/a | {r['error'][:60]} |")
            continue
        dev = f"{r['device_peak_mb']:.0f}" if r.get("device_peak_mb") else "-"
        # the same work in every backend: XLA's count of one step's operations, per second
        tflops = f"{flops / r['ms_per_step'] / 1e9:.2f}" if flops else "-"
        rows.append(f"| {r['backend']} | {r['images_per_s']:.1f} | {r['ms_per_step']:.2f} | {r['compile_s']:.2f} | "
                    f"{r['peak_rss_mb']:.0f} | {dev} | {tflops} | {r['images_per_s'] / base:.2f} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaxgan.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--backends", default="jax,torch", help=f"comma-separated, of {', '.join(BACKENDS)}")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per backend (default 20)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: one dispatch)")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--data", choices=("auto", "real", "fake"), default="auto",
                        help="the recipe's data (real), stand-in images (fake), or real if installed (auto)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--worker", choices=BACKENDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        from jaxgan.config import load_config

        config = load_config(args.config, args.overrides)
        if args.warmup is None:
            args.warmup = min(config.train.steps_per_dispatch, max(args.steps, 1))
        if args.steps <= 0 or args.warmup < 0:
            raise JaxganError(f"--steps must be positive and --warmup non-negative (got {args.steps}, {args.warmup})")
        if args.worker:
            print(json.dumps(_worker(args)))
            return 0
        backends = [b.strip() for b in args.backends.split(",") if b.strip()]
        unknown = [b for b in backends if b not in BACKENDS]
        if unknown or not backends:
            raise JaxganError(f"--backends {args.backends!r}: unknown {unknown}; choose from {', '.join(BACKENDS)}")
    except JaxganError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    results = []
    for backend in backends:
        command = [sys.executable, "-m", "jaxgan.bench", "--config", args.config, "--steps", str(args.steps),
                   "--warmup", str(args.warmup), "--data", args.data, "--worker", backend]
        command += ["--batch-size", str(args.batch_size)] if args.batch_size else []
        for o in args.overrides:
            command += ["--set", o]
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines() or ["failed"]
            results.append({"backend": backend, "error": lines[-1]})
            print(f"{backend}: {lines[-1]}", file=sys.stderr)
            continue
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        r = results[-1]
        print(f"{backend}: {r['ms_per_step']:.2f} ms/step ({r['steps']} steps, {r['version']}, {r['device']})",
              file=sys.stderr)
    ok = [r for r in results if "error" not in r]
    if not ok or "error" in results[0]:
        print("error: the first backend failed; nothing to compare against", file=sys.stderr)
        return 1
    first = ok[0]
    print(f"{config.name}: batch {first['batch_size']}, {first['data']}; input pipeline "
          f"{first['pipeline_images_per_s']:.0f} images/s; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs")
    print(_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps({"recipe": config.name, "command": " ".join(sys.argv),
                                               "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
                                               "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
