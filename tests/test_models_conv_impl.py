"""`$JAXGAN_CONV_IMPL` picks the convolution gradients once per process; a bad value is refused
by `python -m jaxgan.train` in one `error:` line with exit code 2, before any step runs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from jaxgan.config import CONFIG_DIR, load_config
from jaxgan.data.synthetic import write_for
from jaxgan.errors import JaxganError
from jaxgan.ops import conv

from tests.conftest import REPO


def _python(args: list[str], env_value: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != conv.CONV_IMPL_ENV}
    if env_value is not None:
        env[conv.CONV_IMPL_ENV] = env_value
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_the_choice_is_read_once_and_validated():
    code = ("import os; from jaxgan.ops import conv; first = conv.implementation(); "
            "os.environ[conv.CONV_IMPL_ENV] = 'custom'; print(first, conv.implementation())")
    assert _python(["-c", code], "xla").stdout.split() == ["xla", "xla"]  # a later change changes nothing
    assert _python(["-c", code], None).stdout.split() == ["custom", "custom"]
    for value in ("custom", "xla"):
        assert conv.parse_implementation(value) == value
    with pytest.raises(JaxganError, match="JAXGAN_CONV_IMPL='XLA': choose custom or xla") as e:
        conv.parse_implementation("XLA")
    assert "\n" not in str(e.value)


def test_train_refuses_a_bad_value_in_one_line_with_exit_2(tmp_path):
    path = CONFIG_DIR / "dcgan_cifar10.yaml"
    sets = write_for(load_config(path).data, tmp_path / "data", count=16) + [
        "train.batch_size=4", "model.generator.width=4", "model.discriminator.width=4", "train.max_steps=2"]
    args = ["-m", "jaxgan.train", "--config", str(path), "--workdir", str(tmp_path / "run"), "--no-progress"]
    result = _python(args + [a for s in sets for a in ("--set", s)], "fast")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: environment variable JAXGAN_CONV_IMPL='fast': choose custom or xla (or unset it)"]
    assert not list((tmp_path / "run").glob("checkpoints/*"))  # refused before any step was saved
