"""Images kept on the device (data.on_device): each chunk is its int32 indices, gathered inside
the compiled chunk. Held against the streamed path (each chunk's uint8 batches gathered on the
host) bit for bit: the batches each step sees, a whole run with chunks cut short, a resumed
run, and a 4-device mesh; a short chunk sends no images; a dataset over the budget with
data.on_device=always is refused in one line."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import jaxgan.run.loop
from jaxgan import steps
from jaxgan.config import CONFIG_DIR, load_config
from jaxgan.data import BatchPipeline, load_images
from jaxgan.data.on_device import MemoryBudget, images_on_device, memory_budget
from jaxgan.errors import JaxganError
from jaxgan.gan import build_gan, init_state
from jaxgan.parallel import Placement
from jaxgan.run.checkpoint import Checkpointer
from jaxgan.run.feed import ChunkFeed
from jaxgan.run.loop import train_and_evaluate
from jaxgan.run.saved_generator import load_generator
from jaxgan.steps import ChunkRunner

from tests.conftest import FASHION_CONFIG, REPO, fashion_like_images

TINY = MemoryBudget(1024, "a budget of 1 KiB")


def _numbered_images(n: int) -> np.ndarray:
    """Image i holds the value i % 256 and, in its first pixels, i itself: each is told apart."""
    images = np.zeros((n, 4, 4, 1), np.uint8)
    images[:, 0, 0, 0] = np.arange(n) % 256
    images[:, 0, 1, 0] = np.arange(n) // 256
    return images


@pytest.mark.parametrize("batch, shuffle", [(8, True), (1, False), (3, True)])
def test_indices_are_the_order_of_the_batches(batch, shuffle):
    pipeline = BatchPipeline(_numbered_images(50), batch, seed=3, shuffle=shuffle)
    spe = pipeline.steps_per_epoch
    for start, count in [(0, 4), (spe - 2, 5), (3 * spe - 1, 2)]:  # inside, across, at epoch ends
        index = pipeline.indices(start, count)
        assert index.dtype == np.int32 and index.shape == (count, batch)
        for k in range(count):
            np.testing.assert_array_equal(pipeline.images[index[k]], pipeline.batch(start + k))
    rows = slice(1, 2) if batch > 1 else slice(0, 1)
    np.testing.assert_array_equal(pipeline.indices(5, 3, rows), pipeline.indices(5, 3)[:, rows])


def _recording_step(gan):
    """A train step that changes nothing but the step, and logs the batch it was given."""

    def step(state, batch, key):
        return state.replace(step=state.step + 1), {"batch": batch}

    return step


@pytest.mark.parametrize("recipe, batch", [("gan_fashion_mnist", 8), ("myfgan_mnist", 1)])
def test_batches_gathered_on_the_device_equal_the_streamed_batches(monkeypatch, recipe, batch):
    """The batch each step of a compiled chunk sees: chunks inside an epoch, across the epoch
    boundary and cut short, through the loop's own ChunkFeed on both paths."""
    config = load_config(CONFIG_DIR / f"{recipe}.yaml", [f"train.batch_size={batch}"])
    gan = build_gan(config, (28, 28, 1))
    monkeypatch.setitem(steps.STEP_BUILDERS, config.train.scheme, _recording_step)
    images = fashion_like_images(50)[..., None]
    pipeline = BatchPipeline(images, batch, config.seed, shuffle=config.data.shuffle)
    placement = Placement.create(batch, 1)
    state = init_state(gan, config.seed)
    feeds = {on: ChunkFeed(gan, pipeline, placement, 5, on_device=on) for on in (False, True)}
    spe = pipeline.steps_per_epoch
    for start, count in [(0, 5), (spe - 2, 5), (spe + 3, 2)]:
        seen = {}
        for on, feed in feeds.items():
            _, metrics = feed.runner.run(state.replace(step=start), feed.load(start, start + count), count)
            seen[on] = np.asarray(metrics["batch"])
        assert seen[True].shape == (count, batch, 28, 28, 1)
        np.testing.assert_array_equal(seen[True], seen[False])
        np.testing.assert_array_equal(seen[True], np.stack([pipeline.batch(start + k) for k in range(count)]))


def test_the_decision_and_its_budget():
    assert images_on_device("auto", 1024, TINY) and not images_on_device("auto", 1025, TINY)
    assert images_on_device("always", 1024, TINY)
    assert not images_on_device("never", 1, TINY)
    with pytest.raises(JaxganError) as e:
        images_on_device("always", 47_040_000, TINY)
    line = str(e.value)
    assert "\n" not in line and line.startswith("data.on_device is always, but the training images (44.9 MiB")
    assert "a budget of 1 KiB" in line and "data.on_device=auto or never" in line

    class Device:
        device_kind = "Accelerator"

        def __init__(self, limit):
            self.limit = limit

        def memory_stats(self):
            return {"bytes_limit": self.limit} if self.limit else None

    budget = memory_budget([Device(8 * 2**30), Device(4 * 2**30)])  # every device holds a copy
    assert budget == MemoryBudget(2**30, "a quarter of the 4.0 GiB of Accelerator")
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert memory_budget([Device(None)]).bytes == ram // 4  # the CPU backend reports no memory
    assert memory_budget(jax.devices()).bytes > 0


def _overrides(fashion_dir: Path, **changes) -> list[str]:
    keys = {"data.root": str(fashion_dir), "train.batch_size": 20, "train.steps_per_dispatch": 8,
            "train.log_every": 10, "train.sample_every": 20, "train.checkpoint_every": 10,
            "train.keep_checkpoints": 3, "train.num_samples": 4, "train.max_steps": 30}
    keys.update(changes)
    return [f"{k}={v}" for k, v in keys.items()]


class _Transfers:
    """What reaches the device: host arrays given to jax.device_put, and each chunk's data."""

    def __init__(self, monkeypatch):
        self.host_arrays, self.chunks = [], []
        put, run = jax.device_put, ChunkRunner.run

        def counting_put(x, *args, **kwargs):
            self.host_arrays += [(a.dtype, a.shape) for a in jax.tree.leaves(x) if isinstance(a, np.ndarray)]
            return put(x, *args, **kwargs)

        def recording_run(runner, state, chunk, count):
            self.chunks.append((chunk.dtype, chunk.shape, count))
            return run(runner, state, chunk, count)

        monkeypatch.setattr(jax, "device_put", counting_put)
        monkeypatch.setattr(ChunkRunner, "run", recording_run)


def _train(fashion_dir, workdir, monkeypatch=None, resume=False, **changes):
    config = load_config(FASHION_CONFIG, _overrides(fashion_dir, **changes))
    transfers = _Transfers(monkeypatch) if monkeypatch is not None else None
    summary = train_and_evaluate(config, workdir, resume=resume, progress=False)
    return summary, transfers


def _metrics(workdir: Path) -> list[dict]:
    lines = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines() if l.strip()]
    return [{k: v for k, v in line.items() if k != "wall_s"} for line in lines]


class _Runs:
    """30 steps of 400 images at batch 20 in chunks of 8, cut short at the events of steps 10,
    20 and 30: streamed (auto over a 1 KiB budget), on the device (always), and the streamed
    run's folder cut back to its step-10 checkpoint and resumed on the device."""

    def __init__(self, root: Path):
        from jaxgan.data.idx import write_idx

        fashion_dir = root / "fashion"
        fashion_dir.mkdir()
        write_idx(fashion_dir / "train-images-idx3-ubyte.gz", fashion_like_images(400))
        write_idx(fashion_dir / "train-labels-idx1-ubyte.gz", np.zeros(400, np.uint8))
        self.dirs = {name: root / name for name in ("streamed", "device", "resumed")}
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(jaxgan.run.loop, "memory_budget", lambda devices: TINY)
            self.streamed, self.streamed_transfers = _train(fashion_dir, self.dirs["streamed"], mp)
        with pytest.MonkeyPatch.context() as mp:
            self.device, self.device_transfers = _train(fashion_dir, self.dirs["device"], mp,
                                                        **{"data.on_device": "always"})
        shutil.copytree(self.dirs["streamed"], self.dirs["resumed"])
        for step in (20, 30):
            shutil.rmtree(self.dirs["resumed"] / "checkpoints" / str(step))
        self.resumed, _ = _train(fashion_dir, self.dirs["resumed"], resume=True, **{"data.on_device": "always"})
        config = load_config(FASHION_CONFIG, _overrides(fashion_dir))
        self.template = init_state(build_gan(config, (28, 28, 1)), config.seed)

    def final_state(self, name: str) -> list[np.ndarray]:
        checkpointer = Checkpointer(self.dirs[name] / "checkpoints")
        try:
            state, _ = checkpointer.restore(self.template, 30)
        finally:
            checkpointer.close()
        return [np.asarray(x) for x in jax.tree.leaves(state)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> _Runs:
    return _Runs(tmp_path_factory.mktemp("device_data"))


def test_a_run_on_the_device_ends_bit_identical_to_the_streamed_run(runs):
    assert runs.streamed["data_on_device"] is False and runs.device["data_on_device"] is True
    assert runs.streamed["step"] == runs.device["step"] == 30
    a, b = runs.final_state("streamed"), runs.final_state("device")
    assert len(a) == len(b) > 20
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert _metrics(runs.dirs["streamed"]) == _metrics(runs.dirs["device"])


def test_a_run_resumed_on_the_device_equals_the_uninterrupted_runs(runs):
    assert runs.resumed["start_step"] == 10 and runs.resumed["step"] == 30 and runs.resumed["data_on_device"]
    for x, y in zip(runs.final_state("resumed"), runs.final_state("device")):
        np.testing.assert_array_equal(x, y)


def test_a_short_chunk_sends_no_images_to_the_device(runs):
    device, streamed = runs.device_transfers, runs.streamed_transfers
    counts = [count for _, _, count in device.chunks]
    assert counts == [8, 2, 8, 2, 8, 2], counts  # cut short at the events of steps 10, 20, 30
    assert all(dtype == np.int32 and shape == (8, 20) for dtype, shape, _ in device.chunks), device.chunks
    # the images go to the device once, at the start; nothing else sent is an image
    images = [(d, s) for d, s in device.host_arrays if d == np.uint8]
    assert images == [(np.uint8, (400, 28, 28, 1))], images
    assert sum(1 for d, s in device.host_arrays if d == np.int32 and s == (8, 20)) == len(device.chunks)
    # the streamed path sends every chunk as images, a short one padded to the whole chunk
    assert [s for d, s in streamed.host_arrays if d == np.uint8] == [(8, 20, 28, 28, 1)] * 6
    assert all(dtype == np.uint8 for dtype, _, _ in streamed.chunks)


def test_always_over_the_budget_is_one_line(tmp_path, fashion_dir, monkeypatch, capsys):
    from jaxgan.train import main

    monkeypatch.setattr(jaxgan.run.loop, "memory_budget", lambda devices: TINY)
    workdir = tmp_path / "run"
    sets = [a for o in _overrides(fashion_dir, **{"data.on_device": "always"}) for a in ("--set", o)]
    code = main(["--config", str(FASHION_CONFIG), "--workdir", str(workdir), *sets, "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: data.on_device is always, but the training images (0.3 MiB")
    assert not (workdir / "config.yaml").exists()


def test_the_crash_safety_runs_keep_their_images_on_the_device(fashion_dir):
    """tests/test_crash_safety.py kills runs at random moments and resumes them to a state bit
    identical to an uninterrupted run's, with the default data.on_device (auto): its 400
    images are far under the budget, so those runs take the device path."""
    from tests.test_crash_safety import _overrides as crash_overrides

    config = load_config(FASHION_CONFIG, crash_overrides(fashion_dir))
    assert config.data.on_device == "auto"
    assert images_on_device("auto", load_images(config.data).nbytes, memory_budget(jax.devices()))


@pytest.mark.slow  # the 2-process run of tests/test_parallel.py splits index chunks over a mesh by default
def test_four_devices_gather_what_they_stream():
    result = subprocess.run([sys.executable, "-m", "tests.test_device_data"], cwd=REPO, capture_output=True,
                            text=True, timeout=600, env=dict(os.environ, JAX_PLATFORMS="cpu",
                                                             XLA_FLAGS="--xla_force_host_platform_device_count=4"))
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out == {"devices": 4, "index_shards": 4, "images_replicated": True, "bit_identical": True}, out


def _four_device_check() -> dict:
    """On 4 devices: the same two chunks (the second cut short) on both paths."""
    config = load_config(FASHION_CONFIG, ["train.batch_size=8"])
    gan = build_gan(config, (28, 28, 1))
    pipeline = BatchPipeline(fashion_like_images(40)[..., None], 8, config.seed)
    placement = Placement.create(8)
    states = []
    for on in (False, True):
        feed = ChunkFeed(gan, pipeline, placement, 4, on_device=on)
        state = placement.put_state(init_state(gan, config.seed))
        for start, end in [(0, 4), (4, 6)]:
            chunk = feed.load(start, end)
            state, _ = feed.runner.run(state, chunk, end - start)
        states.append([np.asarray(x) for x in jax.tree.leaves(state)])
    return {"devices": placement.num_devices, "index_shards": len(chunk.addressable_shards),
            "images_replicated": feed.runner.images.sharding.is_fully_replicated,
            "bit_identical": all(np.array_equal(x, y) for x, y in zip(*states))}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("on_device", ["always", "never"])
def test_two_processes_match_one_process_on_both_paths(tmp_path, fashion_dir, on_device):
    """Each process holds all the images and gathers its own rows (or streams them). With plain
    SGD, as in tests/test_parallel.py: Adam's first steps can flip the sign of a near-zero
    gradient that the cross-process sum re-associates."""
    changes = {"data.on_device": on_device, "train.max_steps": 6, "train.steps_per_dispatch": 4,
               "train.checkpoint_every": 6, "optimizer.generator.name": "sgd", "optimizer.discriminator.name": "sgd"}
    sets = [a for o in _overrides(fashion_dir, **changes) for a in ("--set", o)]
    command = [sys.executable, "-m", "jaxgan.train", "--config", str(FASHION_CONFIG), "--no-progress", *sets]
    port = _free_port()
    workers = [subprocess.Popen([*command, "--workdir", str(tmp_path / "two")], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                env=dict(os.environ, JAX_PLATFORMS="cpu", JAXGAN_COORDINATOR=f"127.0.0.1:{port}",
                                         JAXGAN_NUM_PROCESSES="2", JAXGAN_PROCESS_ID=str(pid)))
               for pid in (0, 1)]
    for w in workers:
        out, _ = w.communicate(timeout=300)
        assert w.returncode == 0, out[-2000:]
    single = subprocess.run([*command, "--workdir", str(tmp_path / "one")], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert single.returncode == 0, single.stderr[-2000:]
    assert json.loads((tmp_path / "two" / "summary.json").read_text())["data_on_device"] is (on_device == "always")
    a, b = load_generator(tmp_path / "two"), load_generator(tmp_path / "one")
    assert a.step == b.step == 6
    for x, y in zip(jax.tree.leaves(a.state), jax.tree.leaves(b.state)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-5)


if __name__ == "__main__":  # run by test_four_devices_gather_what_they_stream, with 4 CPU devices
    print(json.dumps(_four_device_check()))
