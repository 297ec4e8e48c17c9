"""`python -m jaxgan.bench --population N`: member-steps/s of N members sharing each batch, jax
in one program and every backend one after another (N times one member's time), in the table
and the JSON; a population of no members is one `error:` line with exit code 2."""

from __future__ import annotations

import json

import pytest

from jaxgan import bench
from jaxgan.config import CONFIG_DIR

FASHION = str(CONFIG_DIR / "gan_fashion_mnist.yaml")
QUICK = ["--data", "fake", "--steps", "4", "--warmup", "2", "--set", "train.steps_per_dispatch=2",
         "--torch-threads", "1", "--batch-size", "8"]
MEMBERS = 2


@pytest.mark.slow
def test_a_population_is_timed_in_one_program_and_one_member_after_another(tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = ["--config", FASHION, "--backends", "jax,torch-tuned", *QUICK, "--population", str(MEMBERS),
            "--set", "train.population_program=vmap"]
    assert bench.main([*argv, "--json", str(out)]) == 0
    table = capsys.readouterr().out
    for row in ("| jax | in one program (vmap) |", "| jax | one after another |", "| torch-tuned | one after another |"):
        assert row in table, table
    record = json.loads(out.read_text())
    assert record["population"] == MEMBERS
    jax_run, torch_run = record["results"]
    one_program = jax_run["population"]["one_program"]
    assert one_program["steps"] == 4 and one_program["program"] == "vmap"
    assert one_program["member_steps_per_s"] == pytest.approx(MEMBERS * 1000 / one_program["ms_per_step"])
    assert "one_program" not in torch_run["population"]  # torch runs the members one after another
    for run in (jax_run, torch_run):
        assert run["population"]["members"] == MEMBERS
        sequential = run["population"]["one_after_another"]
        assert sequential["member_steps_per_s"] == pytest.approx(1000 * MEMBERS / sequential["ms_per_step"])
    assert torch_run["population"]["one_after_another"]["ms_per_step"] == pytest.approx(
        MEMBERS * torch_run["ms_per_step"])


def test_a_population_of_no_members_is_one_error_line(capsys):
    assert bench.main(["--config", FASHION, *QUICK, "--population", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --population must be a positive number") and err.count("\n") == 1, err
