"""Load test: trains the default recipe for a long time and watches memory, files and disk.

    python benchmarks/long_run.py [--steps 1200000] [--interval 5] [--json OUT] [--workdir DIR]
                                  [--config configs/gan_fashion_mnist.yaml] [--set KEY=VALUE ...]

Trains in this process (jaxgan.run.loop.train_and_evaluate, as `python -m jaxgan.train` does)
with the recipe's periodic checkpoints and sample grids, on the real Fashion-MNIST files if
/usr/share/datasets/fashion-mnist holds them, else on 60,000 stand-in images in the same IDX
format (jaxgan.data.synthetic). A thread samples, every --interval seconds: resident memory
(psutil if installed, else VmRSS from /proc/self/status), open file descriptors
(/proc/self/fd), threads, the run folder's size on disk (and its checkpoints/ alone) and the last logged step. At the end
it prints a table and the growth of each (a least-squares slope over the training phase, after
a warm-up; the closing plots and GIF are left out) and, with --json, writes every sample.

The default, 1,200,000 steps, is about an hour of the default recipe on a 2-core CPU (the
README's 60,000 steps in about 3 minutes). A leak shows as a slope that does not shrink as the
run gets longer; a constant offset (compilation, caches, the dataset) does not count.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

HOUR_STEPS = 1_200_000
REAL_DATA = Path("/usr/share/datasets/fashion-mnist")


def rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def threads() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return -1


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def folder_mb(path: Path) -> float:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass  # removed while we walked (an old checkpoint)
    return total / 2**20


def last_step(metrics: Path) -> int:
    """The step of metrics.jsonl's last line (its tail only: the file grows all run)."""
    try:
        with metrics.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            lines = [l for l in f.read().splitlines() if l.strip()]
        return int(json.loads(lines[-1])["step"]) if lines else 0
    except (OSError, ValueError, KeyError, IndexError):
        return 0


class Sampler(threading.Thread):
    def __init__(self, workdir: Path, interval: float):
        super().__init__(daemon=True)
        self.workdir, self.interval = workdir, interval
        self.samples: list[dict] = []
        self.done = threading.Event()
        self.t0 = time.perf_counter()

    def take(self) -> None:
        self.samples.append({
            "t_s": round(time.perf_counter() - self.t0, 2),
            "step": last_step(self.workdir / "metrics.jsonl"),
            "rss_mb": round(rss_mb(), 1),
            "fds": open_fds(),
            "threads": threads(),
            "workdir_mb": round(folder_mb(self.workdir), 2),
            "checkpoints_mb": round(folder_mb(self.workdir / "checkpoints"), 2),
        })

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self.take()


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys against xs (nan with fewer than 3 points)."""
    n = len(xs)
    if n < 3:
        return float("nan")
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else float("nan")


def growth(samples: list[dict], total: int, warmup_s: float, warmup_steps: int) -> dict:
    """Slopes over the training phase: from `warmup_s` and `warmup_steps` (the first checkpoint
    and sample grid written) until the last step is logged (the closing plots and GIF after it)."""
    train = [s for s in samples if s["t_s"] >= warmup_s and warmup_steps <= s["step"] < total]
    # the whole training phase, and its second half alone: bounded things (the newest K
    # checkpoints, caches) fill up early and are flat late; a leak grows in both
    out = {"samples_used": len(train)}
    for window, part in (("all", train), ("late", train[len(train) // 2:])):
        if len(part) < 3:
            continue
        hours = [s["t_s"] / 3600 for s in part]
        per_100k = [s["step"] / 1e5 for s in part]
        for key in ("rss_mb", "fds", "threads", "workdir_mb", "checkpoints_mb"):
            ys = [float(s[key]) for s in part]
            out[f"{window}.{key}_per_hour"] = round(slope(hours, ys), 3)
            out[f"{window}.{key}_per_100k_steps"] = round(slope(per_100k, ys), 3)
            out[f"{window}.{key}_first_last"] = [ys[0], ys[-1]]
    return out


def table(samples: list[dict], rows: int = 16) -> str:
    pick = samples if len(samples) <= rows else [samples[round(i * (len(samples) - 1) / (rows - 1))] for i in range(rows)]
    head = f"{'t (s)':>8} {'step':>9} {'steps/s':>8} {'RSS MB':>8} {'fds':>5} {'threads':>7} {'run MB':>8} {'ckpt MB':>8}"
    lines, prev = [head], None
    for s in pick:
        rate = (s["step"] - prev["step"]) / max(s["t_s"] - prev["t_s"], 1e-9) if prev else float("nan")
        lines.append(f"{s['t_s']:8.1f} {s['step']:9d} {rate:8.0f} {s['rss_mb']:8.1f} {s['fds']:5d} "
                     f"{s['threads']:7d} {s['workdir_mb']:8.2f} {s['checkpoints_mb']:8.2f}")
        prev = s
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "gan_fashion_mnist.yaml"))
    parser.add_argument("--steps", type=int, default=HOUR_STEPS, help=f"train steps (default {HOUR_STEPS:,}, ~1 h)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=None, help="seconds left out of the slopes (default: 10%%)")
    parser.add_argument("--workdir", help="run folder (default: a temporary one, removed afterwards)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", help="write the samples and slopes here")
    args = parser.parse_args(argv)

    from jaxgan.config import load_config
    from jaxgan.data import synthetic
    from jaxgan.run.loop import train_and_evaluate

    scratch = Path(tempfile.mkdtemp(prefix="jaxgan-long-run-"))
    workdir = Path(args.workdir) if args.workdir else scratch / "run"
    overrides = [f"train.max_steps={args.steps}", "train.epochs=1000000", *args.overrides]
    config = load_config(args.config, overrides)
    if config.data.root is None and not (REAL_DATA / "train-images-idx3-ubyte.gz").exists():
        overrides += synthetic.write_for(config.data, scratch / "data", count=60_000)
        config = load_config(args.config, overrides)
        data = f"stand-in images ({scratch / 'data'})"
    else:
        data = config.data.root or str(REAL_DATA)
    tc = config.train
    print(f"long run: {config.name}, {args.steps:,} steps, data {data}; checkpoint every {tc.checkpoint_every} "
          f"(keep {tc.keep_checkpoints}), samples every {tc.sample_every}, log every {tc.log_every}", flush=True)

    sampler = Sampler(workdir, args.interval)
    sampler.take()
    sampler.start()
    log = scratch / "train.log"
    try:
        with log.open("w") as out, contextlib.redirect_stdout(out):
            summary = train_and_evaluate(config, workdir, progress=False)
    finally:
        sampler.done.set()
        sampler.join()
    sampler.take()
    samples = sampler.samples
    warmup = args.warmup if args.warmup is not None else 0.1 * samples[-1]["t_s"]
    warmup_steps = min(max(tc.checkpoint_every, tc.sample_every), summary["total_steps"] // 2)
    slopes = growth(samples, summary["total_steps"], warmup, warmup_steps)

    print(table(samples))
    print(f"\n{summary['step']:,} steps in {summary['wall_s']} s ({summary['steps_per_s']} steps/s after compilation); "
          f"slopes over {slopes['samples_used']} samples from {warmup:.0f} s and step {warmup_steps:,} on:")
    print(f"  {'':14s} {'first':>8} {'last':>8} {'per hour':>10} {'per 100k steps':>14}   "
          f"{'2nd half: per hour':>18} {'per 100k steps':>14}")
    for key, unit in (("rss_mb", "MB"), ("fds", ""), ("threads", ""), ("workdir_mb", "MB"), ("checkpoints_mb", "MB")):
        if f"all.{key}_per_hour" in slopes:
            first, last = slopes[f"all.{key}_first_last"]
            late = (f"{slopes[f'late.{key}_per_hour']:+18.2f} {slopes[f'late.{key}_per_100k_steps']:+14.3f}"
                    if f"late.{key}_per_hour" in slopes else "")
            print(f"  {key:14s} {first:8.1f} {last:8.1f} {slopes[f'all.{key}_per_hour']:+10.2f} "
                  f"{slopes[f'all.{key}_per_100k_steps']:+14.3f}   {late}  {unit}")
    result = {"config": config.name, "steps": args.steps, "data": data, "interval_s": args.interval,
              "warmup_s": warmup, "warmup_steps": warmup_steps, "summary": summary, "slopes": slopes, "samples": samples}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")
    if not args.workdir:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
