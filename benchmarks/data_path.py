"""The two data paths of the training loop, measured side by side for every recipe.

    python benchmarks/data_path.py [--recipes all|gan_fashion_mnist,...] [--chunk N] [--chunks 2]
                                   [--rounds 2] [--dcgan-batch 16] [--dcgan-chunk 10]
                                   [--max-mib 256] [--json OUT]
    python benchmarks/data_path.py --table OUT        (the table of an earlier --json)

`streamed` (data.on_device: never): each chunk's uint8 batches gathered on the host, padded to
a whole chunk and transferred by a background thread while the device trains. `device`
(always): the images put on the device once, each chunk its int32 indices, gathered inside
the compiled chunk. Both run through the loop's own `jaxgan.run.feed.ChunkFeed`, the chunks
asked for and prefetched as `jaxgan.run.loop` does, on stand-in images of the recipe's shape.

Per recipe, three fresh processes:
  ratio      both paths in one process, compiled first, then timed in alternating order over
             --rounds rounds of --chunks chunks: steps/s of each, and their ratio measured in
             one run; bytes sent to the device for a whole chunk and for a chunk of one step.
  streamed,  one path each: start-up (process start to the end of the first chunk, imports,
  device     stand-in images, compilation and the images' transfer included) and peak
             resident memory.

Chunks: the recipe's train.steps_per_dispatch, at most 100 steps (DCGAN: --dcgan-chunk steps
at batch --dcgan-batch, 10 at 16 by default to keep a CPU run short; benchmarks/gpu.sh runs
the recipe's 50 at 128). Images: the dataset's real count, cut to --max-mib of
uint8 (the real size is recorded beside it).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# Training images of the seeds' datasets (uint8), as the recipes read them.
REAL_COUNTS = {"fashion_mnist": 60000, "mnist": 60000, "cifar10": 50000, "celeba": 202599}
PATHS = ("streamed", "device")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default="all", help="comma-separated recipe names, or all (default)")
    parser.add_argument("--chunk", type=int, help="steps per chunk (default: the recipe's, at most 100)")
    parser.add_argument("--dcgan-chunk", type=int, default=10, help="steps per DCGAN chunk (default 10)")
    parser.add_argument("--chunks", type=int, default=2, help="chunks timed per path and round (default 2)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, alternating which path goes first")
    parser.add_argument("--dcgan-batch", type=int, default=16, help="DCGAN batch size (default 16)")
    parser.add_argument("--max-mib", type=float, default=256.0, help="stand-in images up to this size (MiB)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--table", metavar="JSON", help="only print the table of results written before")
    parser.add_argument("--worker", choices=("ratio", *PATHS), help=argparse.SUPPRESS)
    parser.add_argument("--recipe", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def setup(args, recipe: str) -> dict:
    """The recipe's GAN, stand-in images, pipeline and one-device placement; its chunk length."""
    import numpy as np

    from jaxgan.config import CONFIG_DIR, load_config, recipe_image_shape
    from jaxgan.data import BatchPipeline
    from jaxgan.data.synthetic import shapes
    from jaxgan.gan import build_gan, init_state
    from jaxgan.parallel import Placement

    config = load_config(CONFIG_DIR / f"{recipe}.yaml")
    dcgan = config.model.arch == "dcgan"
    if dcgan:
        config = load_config(CONFIG_DIR / f"{recipe}.yaml", [f"train.batch_size={args.dcgan_batch}"])
    shape = recipe_image_shape(config)
    real = min(REAL_COUNTS.get(config.data.dataset, 60000), config.data.limit or 10**9)
    count = max(config.train.batch_size, min(real, int(args.max_mib * 2**20 // np.prod(shape))))
    images = np.resize(shapes(min(count, 2048), shape), (count, *shape))  # stand-ins, repeated
    chunk = args.chunk or (args.dcgan_chunk if dcgan else min(config.train.steps_per_dispatch, 100))
    gan = build_gan(config, shape)
    pipeline = BatchPipeline(images, config.train.batch_size, config.seed, shuffle=config.data.shuffle)
    placement = Placement.create(config.train.batch_size, 1)  # the state placed as the loop places it
    return {"config": config, "gan": gan, "pipeline": pipeline, "chunk": chunk, "real_images": real,
            "placement": placement, "state": placement.put_state(init_state(gan, config.seed))}


def make_feed(s: dict, path: str):
    from jaxgan.run.feed import ChunkFeed

    return ChunkFeed(s["gan"], s["pipeline"], s["placement"], s["chunk"], on_device=path == "device")


def run_chunks(feed, state, start: int, chunks: int, length: int):
    """`chunks` whole chunks from step `start`, asked for and prefetched as the loop does."""
    import jax

    with feed.prefetcher() as prepared:
        for c in range(chunks):
            first = start + c * length
            data = prepared.get(first, first + length)
            state, _ = feed.runner.run(state, data, length)
            if c + 1 < chunks:
                prepared.prefetch(first + length, first + 2 * length)
        jax.block_until_ready(state)
    return state


def ratio_worker(args) -> dict:
    """Both paths in this process: compiled, then timed alternately."""
    s = setup(args, args.recipe)
    k, result = s["chunk"], {}
    feeds, states, seconds = {}, {}, dict.fromkeys(PATHS, 0.0)
    for path in PATHS:
        t0 = time.perf_counter()
        feeds[path] = make_feed(s, path)
        states[path] = run_chunks(feeds[path], s["state"], 0, 1, k)  # compiles
        result[f"{path}_first_chunk_s"] = round(time.perf_counter() - t0, 3)
        result[f"{path}_bytes_per_chunk"] = int(feeds[path].load(0, k).nbytes)
        result[f"{path}_bytes_short_chunk"] = int(feeds[path].load(0, 1).nbytes)
    start = k
    for r in range(args.rounds):
        for path in PATHS if r % 2 == 0 else PATHS[::-1]:
            t0 = time.perf_counter()
            states[path] = run_chunks(feeds[path], states[path], start, args.chunks, k)
            seconds[path] += time.perf_counter() - t0
        start += args.chunks * k
    steps = args.rounds * args.chunks * k
    for path in PATHS:
        result[f"{path}_steps_per_s"] = round(steps / seconds[path], 2)
    result["device_over_streamed"] = round(seconds["streamed"] / seconds["device"], 3)
    import jax

    return {**result, "timed_steps_per_path": steps, "device": str(jax.devices()[0]), **describe(s)}


def path_worker(args) -> dict:
    """One path in this fresh process: start-up to the end of the first chunk, and peak memory."""
    import jax

    from jaxgan.run.process_clock import process_age_s

    s = setup(args, args.recipe)
    run_chunks(make_feed(s, args.worker), s["state"], 0, 1, s["chunk"])
    stats = jax.devices()[0].memory_stats() or {}
    device_peak = stats.get("peak_bytes_in_use")
    return {"startup_s": round(process_age_s(), 2),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "device_peak_mib": round(device_peak / 2**20, 1) if device_peak else None}


def describe(s: dict) -> dict:
    images = s["pipeline"].images
    return {"batch_size": s["config"].train.batch_size, "chunk_steps": s["chunk"], "images": len(images),
            "images_mib": round(images.nbytes / 2**20, 1), "real_images": s["real_images"],
            "real_mib": round(s["real_images"] * images[0].nbytes / 2**20, 1)}


def run_worker(args, worker: str, recipe: str) -> dict:
    command = [sys.executable, __file__, "--worker", worker, "--recipe", recipe, "--chunks", str(args.chunks),
               "--rounds", str(args.rounds), "--dcgan-batch", str(args.dcgan_batch),
               "--dcgan-chunk", str(args.dcgan_chunk), "--max-mib", str(args.max_mib)]
    command += ["--chunk", str(args.chunk)] if args.chunk else []
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_recipe(args, recipe: str) -> dict:
    row = {"recipe": recipe, **run_worker(args, "ratio", recipe)}
    for path in PATHS:
        row.update({f"{path}_{k}": v for k, v in run_worker(args, path, recipe).items()})
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def table(rows: list[dict]) -> str:
    lines = ["| recipe | batch x chunk | images (MiB) | steps/s streamed | steps/s device | device/streamed | "
             "bytes/chunk streamed | bytes/chunk device | start-up s streamed / device | "
             "peak RSS MiB streamed / device |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if any(k.endswith("error") for k in r):
            lines.append(f"| {r['recipe']} | failed: {next(v for k, v in r.items() if k.endswith('error'))} |")
            continue
        lines.append(
            f"| {r['recipe']} | {r['batch_size']} x {r['chunk_steps']} | {r['images']} ({r['images_mib']}) | "
            f"{r['streamed_steps_per_s']} | {r['device_steps_per_s']} | {r['device_over_streamed']:.2f} | "
            f"{r['streamed_bytes_per_chunk']:,} | {r['device_bytes_per_chunk']:,} | "
            f"{r['streamed_startup_s']} / {r['device_startup_s']} | "
            f"{r['streamed_peak_rss_mib']} / {r['device_peak_rss_mib']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.table:
        print(table(json.loads(Path(args.table).read_text())["results"]))
        return 0
    if args.worker:
        print(json.dumps(ratio_worker(args) if args.worker == "ratio" else path_worker(args)))
        return 0
    from jaxgan.config import recipe_names
    from jaxgan.machine import describe_machine  # without jax: on a GPU the workers need its memory

    recipes = recipe_names() if args.recipes == "all" else args.recipes.split(",")
    t0 = time.perf_counter()
    rows = [bench_recipe(args, recipe) for recipe in recipes]
    print(table(rows))
    if args.json:
        from jaxgan.files import atomic_write_json

        atomic_write_json(args.json, {"command": " ".join(["python", *sys.argv]), "machine": describe_machine(with_devices=False),
                                      "wall_s": round(time.perf_counter() - t0, 1), "results": rows})
    return 1 if any(k.endswith("error") for r in rows for k in r) else 0


if __name__ == "__main__":
    sys.exit(main())
