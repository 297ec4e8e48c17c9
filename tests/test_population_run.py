"""A population as a training run: `python -m jaxgan.train --set train.population=N` writes one
run folder of N members (per-member metrics and grids, one checkpoint, a summary with mean and
std), resumes bit for bit, freezes a member that diverges, and its members are sampled,
scored and exported one by one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan.population as population
from jaxgan.config import dump_config, load_config
from jaxgan.errors import JaxganError, TrainingDiverged
from jaxgan.run.loop import train_and_evaluate
from jaxgan.run.saved_generator import load_generator, load_members

from tests.conftest import FASHION_CONFIG, REPO, write_fashion_folder

MEMBERS = 3


def _overrides(root: Path, *extra: str) -> list[str]:
    return [f"data.root={root}", "train.batch_size=20", "train.steps_per_dispatch=4", "train.log_every=4",
            "train.sample_every=8", "train.checkpoint_every=4", f"train.population={MEMBERS}",
            "train.max_steps=12", *extra]


def _train(workdir: Path, overrides: list[str], resume=False) -> dict:
    return train_and_evaluate(load_config(FASHION_CONFIG, overrides), workdir, resume=resume, progress=False)


def _lines(workdir: Path) -> list[dict]:
    return [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return write_fashion_folder(tmp_path_factory.mktemp("fashion"), 400)


@pytest.fixture(scope="module")
def population_run(data_root, tmp_path_factory) -> tuple[Path, dict]:
    workdir = tmp_path_factory.mktemp("population") / "run"
    return workdir, _train(workdir, _overrides(data_root))


def test_one_run_folder_holds_every_member(population_run):
    workdir, summary = population_run
    logged = [l for l in _lines(workdir) if "event" not in l]
    assert [(l["step"], l["member"]) for l in logged] == [(s, k) for s in (4, 8, 12) for k in range(MEMBERS)]
    first = [l["g_loss"] for l in logged if l["step"] == 4]
    assert len(set(first)) == MEMBERS, f"the members trained alike: {first}"  # member k from seed + k
    for k in range(MEMBERS):
        assert (workdir / "samples" / f"member_{k}" / "step_0000008.png").is_file()
    assert (workdir / "samples" / "step_0000008.png").is_file()  # a row of each member's images
    assert [int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()]
    assert summary["population"] == MEMBERS and summary["frozen"] == []
    finals = [m["final_metrics"]["g_loss"] for m in summary["members"]]
    assert finals == [l["g_loss"] for l in logged if l["step"] == 12]
    assert summary["final_metrics_spread"]["g_loss"] == pytest.approx(
        {"mean": np.mean(finals), "std": np.std(finals, ddof=1)})
    assert json.loads((workdir / "summary.json").read_text())["members"][2]["seed"] == 2


def test_the_checkpoint_holds_every_member_each_from_its_own_seed(population_run):
    workdir, _ = population_run
    members = load_members(workdir)
    assert len(members) == MEMBERS and {m.step for m in members} == {12}
    kernels = [np.asarray(jax.tree.leaves(m.state.g.params)[0]) for m in members]
    assert not np.array_equal(kernels[0], kernels[1]) and not np.array_equal(kernels[1], kernels[2])
    picked = load_generator(workdir, member=2)
    for a, b in zip(jax.tree.leaves(picked.state), jax.tree.leaves(members[2].state)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_single_run_folder_is_unchanged(data_root, tmp_path):
    config = load_config(FASHION_CONFIG, [f"data.root={data_root}"])
    dump_config(config, tmp_path / "config.yaml")
    assert "population" not in (tmp_path / "config.yaml").read_text()
    with pytest.raises(JaxganError, match="train.population"):
        load_config(FASHION_CONFIG, ["train.population=0"])


@pytest.mark.slow  # about 16 s: two more runs
def test_resume_continues_every_member_bit_for_bit(data_root, population_run, tmp_path):
    straight, _ = population_run
    _train(tmp_path / "split", _overrides(data_root, "train.max_steps=4"))
    summary = _train(tmp_path / "split", _overrides(data_root), resume=True)
    assert summary["start_step"] == 4 and summary["step"] == 12
    for a, b in zip(load_members(straight), load_members(tmp_path / "split"), strict=True):
        for x, y in zip(jax.tree.leaves(a.state), jax.tree.leaves(b.state), strict=True):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert _lines(tmp_path / "split") == [{**l, "wall_s": m["wall_s"]}
                                         for l, m in zip(_lines(straight), _lines(tmp_path / "split"), strict=True)]


@pytest.mark.slow  # about 16 s: two more runs
def test_resume_may_change_how_the_program_holds_the_members(data_root, population_run, tmp_path):
    straight, _ = population_run  # 'auto': map on a CPU, vmap on an accelerator
    _train(tmp_path / "split", _overrides(data_root, "train.max_steps=4", "train.population_program=map"))
    summary = _train(tmp_path / "split", _overrides(data_root, "train.population_program=vmap"), resume=True)
    assert summary["start_step"] == 4 and summary["step"] == 12
    for a, b in zip(load_members(straight), load_members(tmp_path / "split"), strict=True):
        for x, y in zip(jax.tree.leaves(a.state.g.params), jax.tree.leaves(b.state.g.params), strict=True):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=0, atol=2e-5)  # 0.1 lr: test_population


def _poison(monkeypatch, members: set[int], at_step: int, seed: int = 0) -> None:
    """Makes the networks of `members` NaN in step `at_step`, inside the compiled chunk."""
    real = population._member_step
    keys = jnp.stack([jax.random.split(jax.random.PRNGKey(seed + k), 3)[2] for k in sorted(members)])

    def member_step(gan):
        step = real(gan)

        def poisoned(state, batch):
            new, metrics = step(state, batch)
            hit = (state.step + 1 == at_step) & jnp.any(jnp.all(keys == state.rng, axis=-1))
            params = jax.tree.map(lambda x: jnp.where(hit, jnp.nan, x), new.d.params)
            return new.replace(d=new.d.replace(params=params)), metrics

        return poisoned

    monkeypatch.setattr(population, "_member_step", member_step)


def test_a_member_that_diverges_is_frozen_and_the_others_train_on(data_root, tmp_path, monkeypatch, capsys):
    _poison(monkeypatch, {1}, at_step=6)
    summary = _train(tmp_path / "run", _overrides(data_root))
    assert summary["finished"] and summary["frozen"] == [1] and summary["members"][1]["diverged_at"] == 6
    said = [line for line in capsys.readouterr().out.splitlines() if "diverged" in line]
    assert said == ["step 6: member 1 diverged (NaN or Inf); it keeps its last finite state, the other members "
                    "train on"]
    lines = _lines(tmp_path / "run")
    assert {"step": 6, "member": 1, "event": "diverged"}.items() <= next(l for l in lines if "event" in l).items()
    assert [l["member"] for l in lines if l["step"] == 12] == [0, 2]
    at_8, at_12 = (load_members(tmp_path / "run" / "checkpoints" / str(s)) for s in (8, 12))
    for k, changed in ((0, True), (1, False), (2, True)):
        same = all(np.array_equal(np.asarray(a), np.asarray(b))
                   for a, b in zip(jax.tree.leaves((at_8[k].state.g, at_8[k].state.d)),
                                   jax.tree.leaves((at_12[k].state.g, at_12[k].state.d))))
        assert same != changed, f"member {k}"
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(at_12[1].state))


def test_the_run_stops_when_every_member_has_diverged(data_root, tmp_path, monkeypatch):
    _poison(monkeypatch, set(range(MEMBERS)), at_step=6)
    with pytest.raises(TrainingDiverged, match=r"^step 6: member 2, the last one training, is NaN or Inf "
                                               r"\(training diverged\); stopped; the last good checkpoint, step 4"):
        _train(tmp_path / "run", _overrides(data_root, "data.on_device=never"))  # the streamed path


def _cli(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"jaxgan.{module}", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow  # about 30 s: six command-line processes
def test_member_flags_pick_one_member_or_refuse_in_one_line(population_run, tmp_path):
    workdir, _ = population_run
    out = _cli("sample", "--checkpoint", str(workdir), "--member", "1", "--out", str(tmp_path / "one.png"))
    assert out.returncode == 0 and (tmp_path / "one.png").is_file(), out.stderr
    for module, args in (("sample", ["--checkpoint", str(workdir)]),
                         ("sample", ["--checkpoint", str(workdir), "--member", str(MEMBERS)]),
                         ("evaluate", ["--run", str(workdir), "--member", "-1"]),
                         ("convert", ["--config", str(FASHION_CONFIG), "--from-jax", str(workdir),
                                      "--to-seed", str(tmp_path / "seed")])):
        out = _cli(module, *args)
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and "--member" in out.stderr, out.stderr
    out = _cli("convert", "--config", str(FASHION_CONFIG), "--from-jax", str(workdir), "--member", "2",
               "--to-seed", str(tmp_path / "seed"))
    assert out.returncode == 0 and (tmp_path / "seed" / "netG.pth").is_file(), out.stderr
