"""What a checkpoint's manifest costs: hashing its files at save, checking them at restore.

    python benchmarks/checkpoint_manifest.py [--recipes gan_fashion_mnist,dcgan_celeba]
                                             [--repeats 5] [--json OUT]

For each recipe, a state of its shape (Adam's moments filled with noise, as after training:
zeros would compress to nothing) is saved once through the trainer's `Checkpointer`, and then
the manifest of that checkpoint is built and checked `--repeats` times. It prints the state's
and the checkpoint's size, the median and the fastest time of each, and the whole save's time
(manifest included). The files are in the page cache by then: the figures are the hashing,
not the disk.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path


def measure(recipe: str, repeats: int) -> dict:
    import jax
    import numpy as np

    from jaxgan.config import CONFIG_DIR, load_config, recipe_image_shape
    from jaxgan.gan import build_gan, init_state
    from jaxgan.run.checkpoint import Checkpointer, state_bytes
    from jaxgan.run.manifest import build_manifest, check_manifest

    config = load_config(CONFIG_DIR / f"{recipe}.yaml")
    state = init_state(build_gan(config, recipe_image_shape(config)), config.seed)
    rng = np.random.default_rng(0)
    state = jax.tree.map(lambda x: rng.standard_normal(np.shape(x)).astype(x.dtype)
                         if np.issubdtype(x.dtype, np.floating) else x, state)
    with tempfile.TemporaryDirectory() as tmp:
        checkpointer = Checkpointer(Path(tmp) / "checkpoints")
        start = time.perf_counter()
        checkpointer.save(state, {"recipe": config.name, "step": 0})
        checkpointer.wait()
        save_s = time.perf_counter() - start
        checkpointer.close()
        folder = Path(tmp) / "checkpoints" / "0"
        on_disk = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        files = len(build_manifest(folder)["files"])
        build_s, check_s = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            build_manifest(folder)
            build_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            if not check_manifest(folder):
                raise RuntimeError(f"{folder}: its own manifest does not check")
            check_s.append(time.perf_counter() - start)
    return {"recipe": recipe, "state_mib": state_bytes(state) / 2**20, "checkpoint_mib": on_disk / 2**20,
            "files": files, "save_ms": save_s * 1e3,
            "manifest_ms": statistics.median(build_s) * 1e3, "manifest_min_ms": min(build_s) * 1e3,
            "check_ms": statistics.median(check_s) * 1e3, "check_min_ms": min(check_s) * 1e3}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default="gan_fashion_mnist,dcgan_celeba")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="also write the figures and the machine here")
    args = parser.parse_args(argv)
    from jaxgan.machine import describe_machine, summary_line

    machine = describe_machine()
    print(summary_line(machine))
    rows = [measure(recipe, args.repeats) for recipe in args.recipes.split(",")]
    print("| recipe | state MiB | checkpoint MiB (files) | manifest written ms (min) | checked ms (min) | whole save ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['recipe']} | {r['state_mib']:.1f} | {r['checkpoint_mib']:.1f} ({r['files']}) | "
              f"{r['manifest_ms']:.0f} ({r['manifest_min_ms']:.0f}) | {r['check_ms']:.0f} ({r['check_min_ms']:.0f}) | "
              f"{r['save_ms']:.0f} |")
    if args.json:
        from jaxgan.files import atomic_write_json

        atomic_write_json(args.json, {"command": " ".join(["python", *sys.argv]), "machine": machine,
                                      "results": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
