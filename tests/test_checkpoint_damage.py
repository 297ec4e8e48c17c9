"""Damaged checkpoints, on a real small run: `--resume`, `jaxgan.sample`, `jaxgan.evaluate` and
`jaxgan.convert --from-jax` each end in exit 0 with one `warning:` line and the older
checkpoint's exact state, or in exit 2 with one `error:` line; never a traceback, never a
tensor that differs from what was saved.

One run (checkpoints at steps 8 and 16) is trained for the module; each case damages a copy
of its newest checkpoint: every data file truncated to 0, 1, 1,000 bytes and to half, 4 KiB
overwritten in place at its start, middle and end, one bit flipped; each kind of file deleted
(data, metadata, the manifest); the checkpoint folder replaced by a file. The state each
command restores is captured and compared with the saved one bit for bit. The whole matrix
(every file, every command) is marked slow; the default suite runs one case of each kind.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import jax
import numpy as np
import pytest

from jaxgan import convert, evaluate, sample, train
from jaxgan.config import load_config
from jaxgan.quality import domain_classifier as clf
from jaxgan.quality.domain_classifier import DomainCNN
from jaxgan.quality.labels import load_labelled_splits
from jaxgan.run.checkpoint import DAMAGED_DIR, Checkpointer
from jaxgan.run.loop import train_and_evaluate
from jaxgan.run.manifest import COMMIT_FILES, MANIFEST_NAME
from tests.conftest import FASHION_CONFIG, REPO
from tests.test_eval_classifier import write_labelled_idx

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax's closed loop

STEPS = (8, 16)


def _sets(data: Path) -> list[str]:
    return [f"data.root={data}", "train.batch_size=20", "train.steps_per_dispatch=8", "train.log_every=8",
            "train.sample_every=8", "train.checkpoint_every=8", "train.max_steps=16"]


@dataclasses.dataclass
class Trained:
    data: Path
    cache: Path
    run: Path
    saved: dict[int, list[np.ndarray]]  # the state of each checkpoint, as trained


def _leaves(state) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(state)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Trained:
    """Labelled data, an (untrained) domain classifier cached for it, and a run trained on it."""
    base = tmp_path_factory.mktemp("damage")
    data = write_labelled_idx(base / "data", n_train=200, n_test=100)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JAXGAN_CACHE", str(base / "cache"))
        labelled = load_labelled_splits(load_config(FASHION_CONFIG, _sets(data)).data)
        params = jax.jit(DomainCNN().init)(jax.random.PRNGKey(0), np.zeros((1, 28, 28, 1), np.float32))["params"]
        clf.save_classifier(params, {"dataset": "fashion_mnist", "architecture": clf.ARCHITECTURE,
                                     "checksum": labelled.checksum, "test_accuracy": 0.1, "epochs": 0,
                                     "num_classes": 10, "feature_dim": 128})
    config = load_config(FASHION_CONFIG, _sets(data))
    run = base / "run"
    train_and_evaluate(config, run, progress=False)
    checkpointer = Checkpointer(run / "checkpoints")
    try:
        assert checkpointer.all_steps() == list(STEPS)
        template = _template(config)
        saved = {step: _leaves(checkpointer.restore(template, step)[0]) for step in STEPS}
    finally:
        checkpointer.close()
    return Trained(data, base / "cache", run, saved)


def _template(config):
    from jaxgan.gan import build_gan, init_state

    return init_state(build_gan(config, (28, 28, 1)), config.seed)


# --- damage -------------------------------------------------------------------------------------


def data_files(checkpoint: Path) -> list[str]:
    """The tensor data files of a checkpoint (OCDBT's `d/` folders), relative to it."""
    return sorted(p.relative_to(checkpoint).as_posix() for p in checkpoint.rglob("*")
                  if p.is_file() and p.parent.name == "d")


def metadata_files(checkpoint: Path) -> list[str]:
    """Every other file orbax reads: the tree's metadata, the OCDBT manifests, the record."""
    return sorted(p.relative_to(checkpoint).as_posix() for p in checkpoint.rglob("*")
                  if p.is_file() and p.parent.name != "d" and p.name not in COMMIT_FILES | {MANIFEST_NAME})


def truncate(size: Callable[[int], int]):
    def damage(path: Path) -> None:
        with path.open("r+b") as f:
            f.truncate(size(path.stat().st_size))
    return damage


def overwrite(where: str, length: int = 4096):
    """Inverts `length` bytes in place (the size unchanged) at the file's start, middle or end."""
    def damage(path: Path) -> None:
        data = bytearray(path.read_bytes())
        n = min(length, len(data))
        start = {"start": 0, "middle": (len(data) - n) // 2, "end": len(data) - n}[where]
        data[start:start + n] = bytes(b ^ 0xFF for b in data[start:start + n])
        path.write_bytes(bytes(data))
    return damage


def flip_one_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def delete(path: Path) -> None:
    path.unlink()


FILE_DAMAGE = {
    "truncated to 0": truncate(lambda n: 0),
    "truncated to 1": truncate(lambda n: min(1, n - 1)),
    "truncated to 1000": truncate(lambda n: min(1000, n - 1)),
    "truncated to half": truncate(lambda n: n // 2),
    "4 KiB overwritten at the start": overwrite("start"),
    "4 KiB overwritten in the middle": overwrite("middle"),
    "4 KiB overwritten at the end": overwrite("end"),
    "one bit flipped": flip_one_bit,
    "deleted": delete,
}


def folder_to_file(checkpoint: Path) -> None:
    shutil.rmtree(checkpoint)
    checkpoint.write_text("not a checkpoint\n")


# --- the commands --------------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    code: int
    out: str
    err: str
    restored: list[tuple[int, list[np.ndarray]]]  # (step, state) of each restore

    def lines(self, prefix: str) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith(prefix)]


def _argv(tool: str, run: Path, trained: Trained) -> tuple[Callable, list[str]]:
    """The command line of `tool` on run folder `run`; its outputs go beside the folder."""
    if tool == "resume":
        return train.main, ["--config", str(FASHION_CONFIG), "--workdir", str(run), "--no-progress", "--resume",
                            *[a for s in _sets(trained.data) for a in ("--set", s)]]
    if tool == "sample":
        return sample.main, ["--checkpoint", str(run), "--num", "4", "--out", str(run.with_name(f"{run.name}.png"))]
    if tool == "evaluate":
        return evaluate.main, ["--run", str(run), "--num-samples", "20", "--no-train-classifier"]
    return convert.main, ["--config", str(run / "config.yaml"), "--from-jax", str(run),
                          "--to-torch", str(run.with_name(f"{run.name}.pt"))]


def run_tool(tool: str, run: Path, trained: Trained, capsys, monkeypatch,
             argv: list[str] | None = None) -> Outcome:
    """Runs one command in this process; records the state of every checkpoint it restores."""
    restored: list[tuple[int, list[np.ndarray]]] = []
    original = Checkpointer.restore_newest

    def recording(self, make_template, step=None):
        state, meta, got = original(self, make_template, step)
        restored.append((got, _leaves(state)))
        return state, meta, got

    monkeypatch.setattr(Checkpointer, "restore_newest", recording)
    monkeypatch.setenv("JAXGAN_CACHE", str(trained.cache))
    main, default_argv = _argv(tool, run, trained)
    code = main(argv if argv is not None else default_argv)
    captured = capsys.readouterr()
    monkeypatch.setattr(Checkpointer, "restore_newest", original)
    return Outcome(code, captured.out, captured.err, restored)


def assert_same(got: list[np.ndarray], want: list[np.ndarray], what: str) -> None:
    assert len(got) == len(want) > 20, what
    for x, y in zip(got, want):
        assert x.dtype == y.dtype and x.shape == y.shape, what
        np.testing.assert_array_equal(x, y, err_msg=what)


def assert_older_used(outcome: Outcome, run: Path, trained: Trained, tool: str, what: str) -> None:
    """Exit 0, one warning naming the damaged checkpoint 16, and step 8 restored exactly."""
    damaged = run / "checkpoints" / "16"
    assert outcome.code == 0, f"{what}: {outcome.err[-3000:]}"
    assert "Traceback" not in outcome.err and not outcome.lines("error:"), f"{what}: {outcome.err[-3000:]}"
    warnings = outcome.lines("warning: ")
    assert len(warnings) == 1, f"{what}: {outcome.err}"
    assert warnings[0].startswith(f"warning: {damaged}: checkpoint is damaged"), warnings[0]
    assert warnings[0].endswith("; using the next older checkpoint, step 8"), warnings[0]
    step, state = outcome.restored[0]
    assert step == 8, what
    assert_same(state, trained.saved[8], f"{what}: the state restored")
    if tool == "resume":  # set aside, never deleted; step 16 trained again, as the first time
        assert (run / "checkpoints" / DAMAGED_DIR / "16").exists()
        checkpointer = Checkpointer(run / "checkpoints")
        try:
            assert checkpointer.all_steps() == [8, 16]
            again = checkpointer.restore(_template(load_config(run / "config.yaml")), 16)[0]
        finally:
            checkpointer.close()
        assert_same(_leaves(again), trained.saved[16], f"{what}: step 16 trained again")
    else:  # a reader moves nothing
        assert not (run / "checkpoints" / DAMAGED_DIR).exists()


def assert_refused(outcome: Outcome, what: str) -> str:
    assert outcome.code == 2, f"{what}: {outcome.err[-3000:]}"
    errors = outcome.lines("error: ")
    assert len(errors) == 1 and "Traceback" not in outcome.err, f"{what}: {outcome.err[-3000:]}"
    assert outcome.restored == []
    return errors[0][len("error: "):]


@pytest.fixture
def fresh(tmp_path, trained) -> Callable[[], Path]:
    """Copies the trained run into this test's folder, once per call (a case damages its copy)."""
    count = iter(range(1_000_000))

    def copy() -> Path:
        return Path(shutil.copytree(trained.run, tmp_path / f"run{next(count)}"))

    return copy


TOOLS = ["resume", "sample", "evaluate", "convert"]


def _largest_data_file(checkpoint: Path) -> str:
    return max(data_files(checkpoint), key=lambda name: (checkpoint / name).stat().st_size)


# --- the default suite: one case of each kind, spread over the commands ---------------------------

FAST_CASES = [
    ("sample", "truncated to 1000"), ("resume", "truncated to 1000"), ("evaluate", "truncated to 0"),
    ("convert", "truncated to half"), ("sample", "4 KiB overwritten in the middle"),
    ("convert", "one bit flipped"), ("evaluate", "deleted"),
]


@pytest.mark.parametrize("tool, damage", FAST_CASES)
def test_damaged_data_file_uses_the_older_checkpoint(tool, damage, trained, fresh, capsys, monkeypatch):
    run = fresh()
    name = _largest_data_file(run / "checkpoints" / "16")
    FILE_DAMAGE[damage](run / "checkpoints" / "16" / name)
    outcome = run_tool(tool, run, trained, capsys, monkeypatch)
    assert_older_used(outcome, run, trained, tool, f"{tool}, {name} {damage}")
    assert name in outcome.lines("warning: ")[0]


@pytest.mark.parametrize("tool, victim", [("sample", "meta/metadata"), ("convert", "state/_METADATA"),
                                          ("sample", MANIFEST_NAME), ("evaluate", MANIFEST_NAME)])
def test_deleted_metadata_or_manifest_uses_the_older_checkpoint(tool, victim, trained, fresh, capsys,
                                                                monkeypatch):
    run = fresh()
    (run / "checkpoints" / "16" / victim).unlink()
    outcome = run_tool(tool, run, trained, capsys, monkeypatch)
    assert_older_used(outcome, run, trained, tool, f"{tool}, {victim} deleted")


@pytest.mark.parametrize("tool", ["resume", "sample"])
def test_checkpoint_folder_replaced_by_a_file_uses_the_older_one(tool, trained, fresh, capsys, monkeypatch):
    run = fresh()
    folder_to_file(run / "checkpoints" / "16")
    outcome = run_tool(tool, run, trained, capsys, monkeypatch)
    assert_older_used(outcome, run, trained, tool, f"{tool}, checkpoints/16 a file")
    assert "(a file, not a checkpoint folder)" in outcome.lines("warning: ")[0]


def test_orbax_bookkeeping_files_are_not_needed(trained, fresh, capsys, monkeypatch):
    """The two files orbax writes after the manifest are not in it; without them step 16 reads
    back unchanged, with no warning."""
    run = fresh()
    for name in COMMIT_FILES:
        (run / "checkpoints" / "16" / name).unlink()
    outcome = run_tool("sample", run, trained, capsys, monkeypatch)
    assert outcome.code == 0 and not outcome.lines("warning: ") and "Traceback" not in outcome.err
    assert outcome.restored[0][0] == 16
    assert_same(outcome.restored[0][1], trained.saved[16], "step 16 without orbax's bookkeeping files")


@pytest.mark.parametrize("tool", TOOLS)
def test_every_checkpoint_damaged_is_one_error_line(tool, trained, fresh, capsys, monkeypatch):
    run = fresh()
    for step in STEPS:
        checkpoint = run / "checkpoints" / str(step)
        FILE_DAMAGE["truncated to 1000"](checkpoint / _largest_data_file(checkpoint))
    message = assert_refused(run_tool(tool, run, trained, capsys, monkeypatch), f"{tool}, all damaged")
    assert message.startswith(f"{run / 'checkpoints' / '8'}: checkpoint is damaged (")
    assert message.endswith("; no older checkpoint can be read either")


@pytest.mark.parametrize("tool", ["sample", "evaluate", "convert"])
def test_a_damaged_checkpoint_named_by_the_user_is_one_error_line(tool, trained, fresh, capsys,
                                                                  monkeypatch):
    run = fresh()
    named = run / "checkpoints" / "16"
    FILE_DAMAGE["one bit flipped"](named / _largest_data_file(named))
    _, argv = _argv(tool, run, trained)
    flag = {"sample": "--checkpoint", "evaluate": "--run", "convert": "--from-jax"}[tool]
    argv[argv.index(flag) + 1] = str(named)
    message = assert_refused(run_tool(tool, run, trained, capsys, monkeypatch, argv), f"{tool}, 16 named")
    assert message.startswith(f"{named}: checkpoint is damaged (") and "sha256" in message


def test_best_checkpoint_is_checked_too(trained, fresh, capsys, monkeypatch):
    """best/ holds one checkpoint (the best by evaluation): checked, and with nothing older to
    fall back on, a damaged one is one error line."""
    run = fresh()
    shutil.copytree(run / "checkpoints" / "16", run / "best" / "16")
    argv = ["--checkpoint", str(run / "best"), "--num", "4", "--out", str(run.with_name("best.png"))]
    outcome = run_tool("sample", run, trained, capsys, monkeypatch, argv)
    assert outcome.code == 0 and outcome.restored[0][0] == 16 and not outcome.lines("warning: ")
    FILE_DAMAGE["one bit flipped"](run / "best" / "16" / _largest_data_file(run / "best" / "16"))
    run.with_name("best.png").unlink()
    message = assert_refused(run_tool("sample", run, trained, capsys, monkeypatch, argv), "best/16 damaged")
    assert message.startswith(f"{run / 'best' / '16'}: checkpoint is damaged (") and "sha256" in message


def _as_written_before_manifests(checkpoint: Path) -> None:
    """A checkpoint as jaxgan wrote it before manifests: no manifest, no word of one in its record."""
    (checkpoint / MANIFEST_NAME).unlink()
    record_path = checkpoint / "meta" / "metadata"
    record = json.loads(record_path.read_text())
    del record["manifest"]
    record_path.write_text(json.dumps(record))


def test_checkpoint_written_before_manifests_restores_with_a_note(trained, fresh, capsys, monkeypatch):
    run = fresh()
    _as_written_before_manifests(run / "checkpoints" / "16")
    outcome = run_tool("sample", run, trained, capsys, monkeypatch)
    assert outcome.code == 0 and not outcome.lines("warning: ") and "Traceback" not in outcome.err
    assert outcome.lines("note: ") == [f"note: {run / 'checkpoints' / '16'}: written before checkpoints carried a "
                                       f"manifest ({MANIFEST_NAME}); restored without checking its files"]
    assert outcome.restored[0][0] == 16
    assert_same(outcome.restored[0][1], trained.saved[16], "step 16 without a manifest")


def test_unreadable_checkpoint_without_manifest_is_damaged_too(trained, fresh, capsys, monkeypatch):
    """Without a manifest, whatever orbax raises while reading makes it damaged: a cut tensor
    file (here the largest) is a bare Exception from orbax ("Encountered error while reading
    array index")."""
    run = fresh()
    checkpoint = run / "checkpoints" / "16"
    _as_written_before_manifests(checkpoint)
    FILE_DAMAGE["truncated to half"](checkpoint / _largest_data_file(checkpoint))
    outcome = run_tool("sample", run, trained, capsys, monkeypatch)
    assert_older_used(outcome, run, trained, "sample", "pre-manifest checkpoint truncated")


def test_sample_as_a_process_prints_one_warning(trained, fresh, tmp_path):
    """The issue's case in a real process (logging as the command sets it up): every data file
    truncated to 1,000 bytes."""
    run = fresh()
    checkpoint = run / "checkpoints" / "16"
    for name in data_files(checkpoint):
        FILE_DAMAGE["truncated to 1000"](checkpoint / name)
    proc = subprocess.run([sys.executable, "-m", "jaxgan.sample", "--checkpoint", str(run), "--num", "4",
                           "--out", str(tmp_path / "grid.png")], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert [l for l in proc.stderr.splitlines() if l.startswith("warning: ")] == [
        l for l in proc.stderr.splitlines() if "checkpoint" in l.lower()], proc.stderr
    assert proc.stdout.strip() == f"{tmp_path / 'grid.png'}: 4 samples from step 8"


# --- the whole matrix: every file, every kind of damage, every command (slow) ----------------------


def _matrix() -> list[tuple[str, str]]:
    return [(tool, damage) for tool in TOOLS for damage in FILE_DAMAGE]


@pytest.mark.slow
@pytest.mark.parametrize("tool, damage", _matrix())
def test_every_data_file_every_damage(tool, damage, trained, fresh, capsys, monkeypatch):
    checkpoint = trained.run / "checkpoints" / "16"
    for name in data_files(checkpoint):
        run = fresh()
        FILE_DAMAGE[damage](run / "checkpoints" / "16" / name)
        outcome = run_tool(tool, run, trained, capsys, monkeypatch)
        assert_older_used(outcome, run, trained, tool, f"{tool}, {name} {damage}")


@pytest.mark.slow
@pytest.mark.parametrize("tool", TOOLS)
def test_every_metadata_file_deleted_or_truncated(tool, trained, fresh, capsys, monkeypatch):
    checkpoint = trained.run / "checkpoints" / "16"
    for name in [*metadata_files(checkpoint), MANIFEST_NAME]:
        for damage in ("deleted", "truncated to half", "one bit flipped"):
            run = fresh()
            FILE_DAMAGE[damage](run / "checkpoints" / "16" / name)
            outcome = run_tool(tool, run, trained, capsys, monkeypatch)
            assert_older_used(outcome, run, trained, tool, f"{tool}, {name} {damage}")


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["evaluate", "convert"])
def test_checkpoint_folder_replaced_by_a_file_every_reader(tool, trained, fresh, capsys, monkeypatch):
    run = fresh()
    folder_to_file(run / "checkpoints" / "16")
    assert_older_used(run_tool(tool, run, trained, capsys, monkeypatch), run, trained, tool,
                      f"{tool}, checkpoints/16 a file")
