"""Data parallelism: 4 devices compute what 1 device computes; 2 processes what 1 process does.

Parameters are compared with plain SGD where Adam would blur the comparison: Adam's first
steps move every weight by about ±lr whatever the gradient's size, so a gradient that is ~0
can flip sign under the float re-association a sharded sum brings. SGD's update is linear in
the gradient, so its parameters show exactly what the sharding computes (gradients averaged
over the global batch, BatchNorm with global statistics); with the recipe's Adam, the losses
and D outputs of every step are compared.
"""

import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxgan.config import load_config
from jaxgan.data.synthetic import shapes, write_idx_images
from jaxgan.run.saved_generator import load_generator

from tests.conftest import FASHION_CONFIG, REPO


def _four_device_run(case):
    result = subprocess.run([sys.executable, "tests/parallel_check.py", case], cwd=REPO, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout)[case]
    assert out["devices"] == 4
    return out


def test_four_devices_match_one_device_mlp():
    out = _four_device_run("mlp")
    assert out["param_abs"] < 1e-5 and out["metric_rel"] < 1e-5


@pytest.mark.parametrize("case", ["population", "population_map"])
def test_four_devices_match_one_device_population(case):
    # Every device trains all three members on its rows of the shared batch, side by side
    # ('vmap') or in turn ('map').
    out = _four_device_run(case)
    assert out["param_abs"] < 1e-5 and out["metric_rel"] < 1e-5


def test_four_devices_match_one_device_dcgan_with_global_batchnorm():
    # Per-device BatchNorm statistics or un-averaged gradients would differ by more than 1e-2.
    out = _four_device_run("dcgan")
    assert out["param_abs"] < 1e-5
    assert out["metric_rel"] < 1e-4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one_process(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write_idx_images(data, shapes(200, (28, 28, 1)))
    sets = ["--set", f"data.root={data}", "--set", "train.batch_size=20", "--set", "train.max_steps=6",
            "--set", "train.log_every=3", "--set", "train.checkpoint_every=3", "--set", "train.steps_per_dispatch=3",
            "--no-progress"]
    command = [sys.executable, "-m", "jaxgan.train", "--config", str(FASHION_CONFIG)]
    port = _free_port()
    workers = []
    for pid in (0, 1):
        env = dict(os.environ, JAX_PLATFORMS="cpu", JAXGAN_COORDINATOR=f"127.0.0.1:{port}",
                   JAXGAN_NUM_PROCESSES="2", JAXGAN_PROCESS_ID=str(pid))
        workers.append(subprocess.Popen([*command, "--workdir", str(tmp_path / "two"), *sets], cwd=REPO, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for w in workers:
        out, _ = w.communicate(timeout=300)
        assert w.returncode == 0, out[-2000:]
    single = subprocess.run([*command, "--workdir", str(tmp_path / "one"), *sets], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert single.returncode == 0, single.stderr[-2000:]
    a, b = load_generator(tmp_path / "two"), load_generator(tmp_path / "one")
    assert a.step == b.step == 6
    for x, y in zip(jax.tree.leaves(a.state), jax.tree.leaves(b.state)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-5)
    lines = [json.loads(l) for l in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert [l["step"] for l in lines] == [3, 6]  # written once, by process 0


def test_device_count_errors():
    from jaxgan.errors import JaxganError
    from jaxgan.parallel import Placement

    visible = len(jax.devices())
    with pytest.raises(JaxganError, match=f"train.num_devices is {visible + 1} but only {visible} device"):
        Placement.create(16, num_devices=visible + 1)
    assert Placement.create(16, num_devices=1).num_devices == 1
    assert load_config(FASHION_CONFIG, ["train.num_devices=1"]).train.num_devices == 1
