"""Benchmarks a recipe's real train step in each backend, on the same batches.

    python -m jaxgan.bench --config configs/dcgan_celeba.yaml --backends jax,torch-tuned --steps 10

Backends: `jax` (jaxgan's jit(scan(train_step)), `train.steps_per_dispatch` steps per call),
`torch` (torch_ref's step, eager, as the seed runs it: `.item()` on every logged value),
`torch-compile` (the same with both networks wrapped in `torch.compile`) and `torch-tuned`
(`torch_ref.tuned`: the same computation as a PyTorch performance engineer would run it: no
host sync inside the step, cuDNN benchmark, channels_last, fused Adam, the whole step under
`torch.compile`, bf16 autocast when the recipe says `model.precision: bfloat16`). Each backend
runs in its own fresh process, one after the other, so its peak memory is its own; all see the
same uint8 batches (the recipe's data if it is installed, else stand-in images of the same
shape, written to a temporary folder that is removed again). Warm-up and compilation are
timed separately and excluded from ms/step. The ratio column is throughput relative to the
first backend listed. A backend that fails ends the run with one `error:` line and exit code 2.
The output and the JSON name the machine (CPU model, cores, bfloat16 hardware, GPUs, versions,
XLA_FLAGS: `jaxgan.machine`): a speed figure holds on the machine that measured it.

`--population N` adds a table of N members of the recipe sharing each batch, in member-steps/s:
jax trains them in one compiled program (`jaxgan.population`, its members side by side or in
turn as `train.population_program` says; the JSON names which); the alternative on one device is
to run them one after another, which takes N times one member's time, measured in the same
run: for jax, one member timed in turns with the population, chunk by chunk, so a busy machine
slows both alike; for torch and torch-tuned, the backend's own ms/step (running N copies would
only repeat it, and torch.compile would compile each copy again).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

from jaxgan.cli import ArgumentParser, run_cli
from jaxgan.errors import JaxganError
from jaxgan.files import atomic_write, atomic_write_json
from jaxgan.machine import accelerator_names, describe_machine, summary_line

BACKENDS = ("jax", "torch", "torch-compile", "torch-tuned")
COMPILE_MODES = ("auto", "none", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(prog="python -m jaxgan.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="recipe file, e.g. configs/dcgan_celeba.yaml")
    parser.add_argument("--backends", default="jax,torch", help=f"comma-separated, of {', '.join(BACKENDS)} "
                        "(default jax,torch)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per backend (default 20)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: one dispatch)")
    parser.add_argument("--batch-size", type=int, metavar="N", help="override train.batch_size (the recipe's by default)")
    parser.add_argument("--data", choices=("auto", "real", "fake"), default="auto",
                        help="the recipe's data (real), stand-in images (fake), or real if installed (auto)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe key in every backend, e.g. --set model.precision=bfloat16 "
                        "(repeatable)")
    parser.add_argument("--compile-mode", choices=COMPILE_MODES, default="auto", metavar="MODE",
                        help=f"torch.compile mode of torch-tuned, of {', '.join(COMPILE_MODES)} (auto: "
                        "reduce-overhead, i.e. CUDA graphs, on a GPU; none on the CPU, where compiling was no faster)")
    parser.add_argument("--torch-threads", type=int, metavar="N", help="torch.set_num_threads(N) in the torch "
                        "backends (default: torch's own choice; 1 is fairer on a busy machine)")
    parser.add_argument("--population", type=int, metavar="N", help="also time N members sharing each "
                        "batch: jax in one program, each backend one after another (member-steps/s)")
    parser.add_argument("--json", metavar="PATH", help="write the results here (JSON)")
    parser.add_argument("--worker", choices=BACKENDS, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _overrides(args) -> list[str]:
    return [*args.overrides, *([f"train.batch_size={args.batch_size}"] if args.batch_size else [])]


def _stand_in_batches(args, steps: int, tmp: str):
    """The recipe's data format, written with stand-in images into `tmp`; its batches."""
    from jaxgan.config import load_config
    from jaxgan.data import load_images
    from jaxgan.data.synthetic import write_for

    config = load_config(args.config, _overrides(args))
    count = max(config.train.batch_size * 2, 256)
    config = load_config(args.config, [*_overrides(args), *write_for(config.data, tmp, count=count)])
    return _pipeline_batches(config, load_images(config.data), steps), f"stand-in images ({count})"


def _pipeline_batches(config, images: np.ndarray, steps: int) -> tuple[np.ndarray, float]:
    """uint8 (steps, B, H, W, C), copied out of `images`, and the pipeline's images/s."""
    from jaxgan.data import BatchPipeline

    pipeline = BatchPipeline(images, config.train.batch_size, config.seed, shuffle=config.data.shuffle)
    start = time.perf_counter()
    batches = pipeline.batches(0, steps)
    return batches, steps * config.train.batch_size / (time.perf_counter() - start)


def _batches(config, args, steps: int) -> tuple[np.ndarray, str, float]:
    """The batches every backend sees, where they came from, and the input pipeline's images/s."""
    from jaxgan.data import load_images

    if args.data != "fake":
        try:
            batches, rate = _pipeline_batches(config, load_images(config.data), steps)
            return batches, "recipe data", rate
        except JaxganError:
            if args.data == "real":
                raise
    with tempfile.TemporaryDirectory(prefix="jaxgan-bench-") as tmp:
        (batches, rate), source = _stand_in_batches(args, steps, tmp)
    return batches, source, rate


def _run_jax(config, batches: np.ndarray, warmup: int) -> dict:
    import jax

    from jaxgan.gan import build_gan, init_state
    from jaxgan.steps import make_train_chunk

    gan = build_gan(config, batches.shape[2:])
    state = init_state(gan, config.seed)
    chunk = min(config.train.steps_per_dispatch, len(batches) - warmup)
    timed = batches[warmup:]
    usable = len(timed) // chunk * chunk if chunk > 0 else 0
    if usable == 0:
        raise JaxganError(f"--steps must be at least {max(chunk, 1)} for the jax backend (one dispatch)")
    train_chunk = make_train_chunk(gan, donate=jax.default_backend() != "cpu")
    t0 = time.perf_counter()
    state, _ = train_chunk(state, jax.device_put(batches[:chunk]), chunk)  # compiles
    jax.block_until_ready(state)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(0, usable, chunk):
        state, _ = train_chunk(state, jax.device_put(timed[i : i + chunk]), chunk)
    jax.block_until_ready(state)
    seconds = time.perf_counter() - t0
    stats = getattr(jax.devices()[0], "memory_stats", lambda: None)() or {}
    peak = stats["peak_bytes_in_use"] / 2**20 if "peak_bytes_in_use" in stats else None
    return {"steps": usable, "seconds": seconds, "compile_s": compile_s, "device_peak_mb": peak,
            "flops_per_step": _step_flops(gan, state, batches[0]),
            "device": str(jax.devices()[0]), "version": f"jax {jax.__version__}, {config.model.precision}"}


def _run_jax_population(config, batches: np.ndarray, warmup: int, members: int) -> dict:
    """`members` members in one compiled program, and one member, timed in turns chunk by chunk
    on the same batches (already on the device: one transfer serves every member). The members
    one after another take `members` times the one member's time."""
    import jax

    from jaxgan.gan import build_gan, init_state
    from jaxgan.population import init_population, make_population_chunk, resolve_program
    from jaxgan.steps import make_train_chunk

    gan = build_gan(config, batches.shape[2:])
    donate = jax.default_backend() != "cpu"
    program = resolve_program(config.train.population_program)
    runs = {"one_program": [make_population_chunk(gan, donate, program=program),
                            init_population(gan, config.seed, members)],
            "one_member": [make_train_chunk(gan, donate), init_state(gan, config.seed)]}
    chunk = min(config.train.steps_per_dispatch, len(batches) - warmup)
    steps = (len(batches) - warmup) // chunk * chunk
    seconds = {name: 0.0 for name in runs}
    compile_s = {}
    for start in [None, *range(warmup, warmup + steps, chunk)]:  # None: the compiling call
        x = jax.block_until_ready(jax.device_put(batches[:chunk] if start is None else batches[start : start + chunk]))
        for name, run in runs.items():
            t0 = time.perf_counter()
            run[1] = jax.block_until_ready(run[0](run[1], x, chunk)[0])
            if start is None:
                compile_s[name] = time.perf_counter() - t0
            else:
                seconds[name] += time.perf_counter() - t0
    one_ms = 1000 * seconds["one_member"] / steps
    one_program = {"steps": steps, "program": program, "compile_s": compile_s["one_program"],
                   "ms_per_step": 1000 * seconds["one_program"] / steps,
                   "member_steps_per_s": members * steps / seconds["one_program"]}
    return {"members": members, "one_program": one_program,
            "one_after_another": _one_after_another(members, steps, one_ms, compile_s["one_member"])}


def _one_after_another(members: int, steps: int, one_ms: float, compile_s: float) -> dict:
    """N members run one after another: N times one member's time per shared batch."""
    return {"steps": steps, "compile_s": compile_s, "ms_per_step": members * one_ms,
            "member_steps_per_s": 1000 / one_ms}


def _step_flops(gan, state, batch) -> float | None:
    """Floating-point operations of one train step, as XLA's cost analysis counts them.

    Counted on the step as lowered, before a backend compiles it, so the figure is the same on
    every machine (DCGAN at batch 128: 277.9 GFLOP): the TFLOP/s column is that one count per
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


def _worker(args) -> dict:
    """One backend, in this (fresh) process."""
    from jaxgan.config import load_config

    config = load_config(args.config, _overrides(args))
    batches, source, pipeline_rate = _batches(config, args, args.steps + args.warmup)
    if args.worker == "jax":
        result = _run_jax(config, batches, args.warmup)
    elif args.worker == "torch-tuned":
        from jaxgan.interop.torch_bench import run_torch_tuned

        result = run_torch_tuned(config, batches, args.warmup, args.compile_mode, args.torch_threads)
    else:
        from jaxgan.interop.torch_bench import run_torch

        result = run_torch(config, batches, args.warmup, args.worker == "torch-compile", args.torch_threads)
    result.update(backend=args.worker, batch_size=config.train.batch_size, data=source,
                  pipeline_images_per_s=pipeline_rate, peak_rss_mb=_peak_rss_mb())
    if args.worker == "jax":
        result["accelerators"] = accelerator_names()
    result["ms_per_step"] = 1000 * result["seconds"] / result["steps"]
    result["images_per_s"] = result["steps"] * config.train.batch_size / result["seconds"]
    if args.population and args.worker == "jax":
        result["population"] = _run_jax_population(config, batches, args.warmup, args.population)
    elif args.population:
        result["population"] = {"members": args.population, "one_after_another": _one_after_another(
            args.population, result["steps"], result["ms_per_step"], result["compile_s"])}
    return result


def _table(results: list[dict]) -> str:
    base = results[0]["images_per_s"]
    rows = ["| backend | images/s | ms/step | compile+warm-up s | peak RSS MB | device peak MB | TFLOP/s | ratio |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    flops = next((r["flops_per_step"] for r in results if r.get("flops_per_step")), None)
    for r in results:
        dev = f"{r['device_peak_mb']:.0f}" if r.get("device_peak_mb") else "-"
        # the same work in every backend: XLA's count of one step's operations, per second
        tflops = f"{flops / r['ms_per_step'] / 1e9:.2f}" if flops else "-"
        rows.append(f"| {r['backend']} | {r['images_per_s']:.1f} | {r['ms_per_step']:.2f} | {r['compile_s']:.2f} | "
                    f"{r['peak_rss_mb']:.0f} | {dev} | {tflops} | {r['images_per_s'] / base:.2f} |")
    return "\n".join(rows)


def _population_table(results: list[dict]) -> str:
    """Member-steps/s of N members sharing each batch, each way a backend can run them."""
    ways = {"one_program": "in one program", "one_after_another": "one after another"}
    rows = [(r["backend"], ways[way] + _program(r["population"][way]), r["population"][way])
            for r in results for way in ways if way in r["population"]]
    members, base = results[0]["population"]["members"], rows[0][2]["member_steps_per_s"]
    lines = [f"| backend | {members} members | member-steps/s | ms per step of all {members} | compile+warm-up s | ratio |",
             "|---|---|---:|---:|---:|---:|"]
    for backend, way, p in rows:
        lines.append(f"| {backend} | {way} | {p['member_steps_per_s']:.1f} | {p['ms_per_step']:.2f} | "
                     f"{p['compile_s']:.2f} | {p['member_steps_per_s'] / base:.2f} |")
    return "\n".join(lines)


def _program(way: dict) -> str:
    return f" ({way['program']})" if "program" in way else ""


def _worker_command(args, backend: str) -> list[str]:
    command = [sys.executable, "-m", "jaxgan.bench", "--config", args.config, "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--data", args.data, "--compile-mode", args.compile_mode,
               "--worker", backend]
    command += ["--batch-size", str(args.batch_size)] if args.batch_size else []
    command += ["--torch-threads", str(args.torch_threads)] if args.torch_threads else []
    command += ["--population", str(args.population)] if args.population else []
    for o in args.overrides:
        command += ["--set", o]
    return command


def _worker_log(args, backend: str, text: str) -> str:
    """Keeps a failed worker's whole output (its traceback), beside --json or in a temp file."""
    if args.json:
        return str(atomic_write(f"{args.json.removesuffix('.json')}.{backend}.log", text))
    with tempfile.NamedTemporaryFile("w", prefix=f"jaxgan-bench-{backend}-", suffix=".log", delete=False) as f:
        f.write(text)
        return f.name


def _run_backend(args, backend: str) -> dict:
    """One backend in a fresh process; its result, or its last line as the error (the whole
    output is kept in a log file that the error names)."""
    proc = subprocess.run(_worker_command(args, backend), capture_output=True, text=True)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines() or [f"exit code {proc.returncode}"]
        log = _worker_log(args, backend, proc.stdout + proc.stderr)
        return {"backend": backend, "error": lines[-1].removeprefix("error: "), "log": log}
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{backend}: {r['ms_per_step']:.2f} ms/step ({r['steps']} steps, {r['version']}, {r['device']})",
          file=sys.stderr)
    return r


def _check_args(args, config) -> list[str]:
    if args.warmup is None:
        args.warmup = min(config.train.steps_per_dispatch, max(args.steps, 1))
    if args.steps <= 0 or args.warmup < 0:
        raise JaxganError(f"--steps must be positive and --warmup non-negative (got {args.steps}, {args.warmup})")
    if args.torch_threads is not None and args.torch_threads <= 0:
        raise JaxganError(f"--torch-threads must be positive (got {args.torch_threads})")
    if args.population is not None and args.population <= 0:
        raise JaxganError(f"--population must be a positive number of members (got {args.population})")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or not backends:
        raise JaxganError(f"--backends {args.backends!r}: unknown {unknown}; choose from {', '.join(BACKENDS)}")
    if args.json:
        from jaxgan.files import refuse_existing

        refuse_existing(args.json, force=True, what="--json results")
    return backends


def machine_record(results: list[dict]) -> dict:
    """The machine the figures came from, with the accelerators the backends ran on.

    The parent process imports neither jax nor torch (on a GPU, jax would claim the memory the
    workers need): the accelerators are the jax worker's, else the name torch gave its device."""
    machine = {**describe_machine(with_devices=False), "platform": platform.platform()}
    jax_names = next((r["accelerators"] for r in results if "accelerators" in r), None)
    torch_names = [r["device"] for r in results if r.get("backend", "").startswith("torch")
                   and r.get("device") not in (None, "cpu")][:1]
    machine["accelerators"] = jax_names if jax_names is not None else torch_names
    return machine


def bench(args) -> int:
    """Runs every backend asked for, prints the table, writes --json; a failed backend is an error."""
    from jaxgan.config import load_config

    config = load_config(args.config, _overrides(args))
    backends = _check_args(args, config)
    if args.worker:
        print(json.dumps(_worker(args)))
        return 0
    results = [_run_backend(args, backend) for backend in backends]
    ok = [r for r in results if "error" not in r]
    machine = machine_record(results)
    print(f"machine: {summary_line(machine)}")
    if ok:
        first = ok[0]
        print(f"{config.name}: batch {first['batch_size']}, {first['data']}; input pipeline "
              f"{first['pipeline_images_per_s']:.0f} images/s")
        print(_table(ok))
        if args.population:
            print(f"\npopulation: {args.population} members sharing each batch")
            print(_population_table(ok))
    if args.json:
        atomic_write_json(args.json, {"recipe": config.name, "command": " ".join(["python -m jaxgan.bench", *sys.argv[1:]]),
                                      "population": args.population, "machine": machine, "results": results})
    failed = [r for r in results if "error" in r]
    if failed:
        raise JaxganError("; ".join(f"backend {r['backend']} failed: {r['error']} (its output: {r['log']})"
                                    for r in failed))
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: bench(args))


if __name__ == "__main__":
    sys.exit(main())
