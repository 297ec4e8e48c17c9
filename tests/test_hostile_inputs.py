"""What a hostile (or hurried) user does: each case ends in exit code 2 and exactly one
`error: ...` line, no traceback, and changes no file outside the run it names, or it ends in
exit 0 having said what it did instead (a damaged checkpoint skipped, a stale lock taken).

The CLIs run in-process through their `main(argv)`; a real second process is used where the
case needs one (a live trainer holding the run lock, a trainer killed while holding it).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import jaxgan.run.checkpoint as checkpoint_module
from jaxgan import evaluate, fake_data, make_hdf5, sample, train
from jaxgan.config import load_config
from jaxgan.run.loop import train_and_evaluate
from jaxgan.run.lock import LOCK_NAME

from tests.conftest import FASHION_CONFIG, REPO, write_fashion_folder

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax's closed loop


def _sets(root: Path, *extra: str) -> list[str]:
    return [f"data.root={root}", "train.batch_size=20", "train.steps_per_dispatch=8", "train.log_every=8",
            "train.sample_every=8", "train.checkpoint_every=8", "train.max_steps=16", *extra]


def _train_argv(workdir: Path, root: Path, *extra: str) -> list[str]:
    return ["--config", str(FASHION_CONFIG), "--workdir", str(workdir), "--no-progress",
            *[a for s in _sets(root) for a in ("--set", s)], *extra]


def _tree_hashes(folder: Path, skip: Path | None = None) -> dict[str, str]:
    """sha256 of every file under `folder` (but not under `skip`), by relative path."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        if path.is_file() and not path.is_symlink():
            out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _refused(capsys, main, argv: list[str]) -> str:
    """Runs a CLI that must refuse: exit 2, exactly one `error:` line, no traceback."""
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse's own usage errors
        rc = e.code
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert rc == 2, err
    assert len(errors) == 1, err
    assert "Traceback" not in err, err
    return errors[0][len("error: "):]


def _ok(capsys, main, argv: list[str]) -> tuple[str, str]:
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "error:" not in captured.err and "Traceback" not in captured.err
    return captured.out, captured.err


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_fashion_folder(tmp_path_factory.mktemp("hostile_data"), 100)


@pytest.fixture(scope="module")
def run16(tmp_path_factory, data) -> Path:
    """A run folder with checkpoints at steps 8 and 16, trained once for the module."""
    run = tmp_path_factory.mktemp("hostile") / "run"
    train_and_evaluate(load_config(FASHION_CONFIG, _sets(data)), run, progress=False)
    assert sorted(p.name for p in (run / "checkpoints").iterdir() if p.name.isdigit()) == ["16", "8"]
    return run


@pytest.fixture
def run(tmp_path, run16) -> Path:
    """A private copy of `run16`, inside this test's tmp_path (hashed around each case)."""
    return Path(shutil.copytree(run16, tmp_path / "run"))


def _damage(checkpoint: Path) -> None:
    """Truncates the tensor files of one checkpoint (its OCDBT data files)."""
    files = [f for f in (checkpoint / "state").rglob("*") if f.is_file() and f.parent.name == "d"]
    assert files
    for f in files:
        f.write_bytes(b"")


# --- a run folder belongs to one run --------------------------------------------------------


def test_unrelated_folder_is_refused_not_overwritten(tmp_path, data, capsys):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "config.yaml").write_text("database: postgres://localhost\n")
    (folder / "summary.json").write_text('{"quarter": 3}\n')
    (folder / "notes.txt").write_text("do not lose me\n")
    before = _tree_hashes(tmp_path)
    message = _refused(capsys, train.main, _train_argv(folder, data))
    assert message == (f"{folder}: not empty and not a jaxgan run folder (it holds 'notes.txt'); nothing was "
                       "written: choose a new or empty --workdir")
    assert _tree_hashes(tmp_path) == before
    assert sorted(p.name for p in folder.iterdir()) == ["config.yaml", "notes.txt", "summary.json"]


def test_folder_whose_config_is_not_a_recipe_is_refused(tmp_path, data, capsys):
    folder = tmp_path / "other_tool"
    folder.mkdir()
    (folder / "config.yaml").write_text("database: postgres://localhost\n")
    before = _tree_hashes(tmp_path)
    message = _refused(capsys, train.main, _train_argv(folder, data))
    assert message.endswith("(its config.yaml is not a jaxgan recipe); nothing was written: choose a new or empty "
                            "--workdir")
    assert _tree_hashes(tmp_path) == before and sorted(p.name for p in folder.iterdir()) == ["config.yaml"]


def test_second_trainer_on_a_live_run_is_refused(tmp_path, data, capsys):
    workdir = tmp_path / "run"
    sets = [a for s in _sets(data, "train.max_steps=100000", "train.checkpoint_every=100000") for a in ("--set", s)]
    first = subprocess.Popen([sys.executable, "-m", "jaxgan.train", "--config", str(FASHION_CONFIG), "--workdir",
                              str(workdir), "--no-progress", *sets, "--set", "seed=1"],
                             cwd=REPO, env=dict(os.environ, JAX_PLATFORMS="cpu"), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not (workdir / "metrics.jsonl").exists():  # the first trainer is training
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()[-2000:]
            time.sleep(0.2)
        before = _tree_hashes(tmp_path, skip=workdir / "metrics.jsonl")
        message = _refused(capsys, train.main, _train_argv(workdir, data, "--set", "seed=2"))
        assert message == (f"{workdir}: another jaxgan.train is training into this folder (pid {first.pid} on "
                           f"{os.uname().nodename}); wait for it to end, stop it, or choose another --workdir")
        after = _tree_hashes(tmp_path, skip=workdir / "metrics.jsonl")
        # the first run's own files may grow meanwhile; the refused one wrote nothing at all
        assert {k: v for k, v in after.items() if not k.startswith("run/")} == \
               {k: v for k, v in before.items() if not k.startswith("run/")}
        assert (workdir / "config.yaml").read_text().splitlines()[1] == "seed: 1"
    finally:
        first.kill()
        first.wait()
        first.stderr.close()


def test_stale_lock_of_a_killed_trainer_is_taken_over(tmp_path, data, capsys):
    workdir = tmp_path / "run"
    workdir.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from jaxgan.run.lock import RunLock; "
                               "RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(600)",
                               str(workdir)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    holder.stdout.close()
    assert f"pid {holder.pid}" in (workdir / LOCK_NAME).read_text()  # the record a kill leaves behind
    _, err = _ok(capsys, train.main, _train_argv(workdir, data, "--set", "train.max_steps=8"))
    assert f"{workdir / LOCK_NAME}: taking over the lock of pid {holder.pid} on " in err
    assert (workdir / LOCK_NAME).read_text() == ""  # released at the end
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()) == ["8"]


# --- no command overwrites what it did not write ---------------------------------------------


def test_fake_data_never_replaces_real_files(tmp_path, capsys):
    real = tmp_path / "fashion"
    real.mkdir()
    (real / "train-images-idx3-ubyte.gz").write_bytes(b"26 MB of real images" * 1000)
    before = _tree_hashes(tmp_path)
    message = _refused(capsys, fake_data.main, ["--config", str(FASHION_CONFIG), "--out", str(real), "--num", "8"])
    assert message == (f"--out {real}: already holds train-images-idx3-ubyte.gz; "
                       "nothing was written: choose another --out or pass --force to replace them")
    assert _tree_hashes(tmp_path) == before
    assert [p.name for p in real.iterdir()] == ["train-images-idx3-ubyte.gz"]  # no temporary folder left
    out, _ = _ok(capsys, fake_data.main, ["--config", str(FASHION_CONFIG), "--out", str(real), "--num", "8", "--force"])
    assert out.strip() == f"--set data.root={real}"
    assert (real / "train-images-idx3-ubyte.gz").stat().st_size < 20000
    # files it wrote itself it may write again, without --force
    _ok(capsys, fake_data.main, ["--config", str(FASHION_CONFIG), "--out", str(real), "--num", "8"])


def test_fake_data_onto_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "a_file"
    target.write_text("mine")
    before = _tree_hashes(tmp_path)
    message = _refused(capsys, fake_data.main, ["--config", str(FASHION_CONFIG), "--out", str(target)])
    assert message == f"--out {target}: is a file; give a folder to write the stand-in dataset into"
    assert _tree_hashes(tmp_path) == before


@pytest.mark.parametrize("argv,expected", [
    (["--num", "0"], "--num 0: must be 1 to 1000000"),
    (["--num", "-5"], "--num -5: must be 1 to 1000000"),
    (["--num", "2000000"], "--num 2000000: must be 1 to 1000000"),
    (["--num", "4", "--distinct", "9"], "--distinct 9: must be 1 to --num (4)"),
])
def test_fake_data_bad_counts(tmp_path, capsys, argv, expected):
    message = _refused(capsys, fake_data.main, ["--config", str(FASHION_CONFIG), "--out", str(tmp_path / "o"), *argv])
    assert message == expected and not (tmp_path / "o").exists()


def _jpegs(folder: Path, n: int = 2) -> Path:
    from PIL import Image

    folder.mkdir()
    for i in range(n):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(folder / f"{i + 1:06d}.jpg")
    return folder


def test_make_hdf5_never_replaces_an_existing_file(tmp_path, capsys):
    images = _jpegs(tmp_path / "img_align_celeba")
    out = tmp_path / "celeba_aligned_small.h5py"
    out.write_bytes(b"someone's HDF5 file")
    before = _tree_hashes(tmp_path)
    message = _refused(capsys, make_hdf5.main, ["--images", str(images), "--out", str(out)])
    assert message == f"{out}: already exists; choose another path or pass --force to replace it"
    assert _tree_hashes(tmp_path) == before
    _ok(capsys, make_hdf5.main, ["--images", str(images), "--out", str(out), "--force"])
    assert out.read_bytes()[:4] == b"\x89HDF"


def test_make_hdf5_usage_error_is_one_error_line(tmp_path, capsys):
    message = _refused(capsys, make_hdf5.main, ["--images", str(tmp_path), "--out", str(tmp_path / "o.h5"),
                                                "--limit", "many"])
    assert message.startswith("argument --limit: invalid int value: 'many'")


@pytest.mark.parametrize("out,expected", [
    ("missing/grid.png", "{tmp}/missing: no such folder; create it first or choose another path for the --out image"),
    ("grid", "--out {tmp}/grid: name an image file ending in .bmp, .jpeg, .jpg, .png, .tif, .tiff, .webp"),
    ("folder.png", "{tmp}/folder.png: is a folder; give a file path for the --out image"),
    ("taken.png", "{tmp}/taken.png: already exists; choose another path or pass --force to replace it"),
])
def test_sample_out_that_cannot_be_written(tmp_path, run, capsys, out, expected):
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "taken.png").write_bytes(b"my picture")
    before = _tree_hashes(tmp_path)
    message = _refused(capsys, sample.main, ["--checkpoint", str(run), "--out", str(tmp_path / out)])
    assert message == expected.format(tmp=tmp_path)
    assert _tree_hashes(tmp_path) == before


def test_sample_out_force_replaces_whole(tmp_path, run, capsys):
    out = tmp_path / "taken.png"
    out.write_bytes(b"my picture")
    _ok(capsys, sample.main, ["--checkpoint", str(run), "--out", str(out), "--num", "4", "--force"])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("argv,expected", [
    (["--num", "0"], "--num 0: must be 1 to 10000"),
    (["--num", "100001"], "--num 100001: must be 1 to 10000"),
    (["--nrow", "-1"], "--nrow -1: must be 1 to 10000"),
    (["--seed", "-1"], "--seed -1: must be 0 to 4294967295"),
])
def test_sample_bad_values(tmp_path, run, capsys, argv, expected):
    before = _tree_hashes(tmp_path)
    assert _refused(capsys, sample.main, ["--checkpoint", str(run), *argv]) == expected
    assert _tree_hashes(tmp_path) == before


def test_sample_and_evaluate_of_a_missing_step(tmp_path, run, capsys):
    before = _tree_hashes(tmp_path)
    missing = run / "checkpoints" / "999"
    expected = f"{missing}: no such checkpoint (steps in {run / 'checkpoints'}: 8, 16)"
    assert _refused(capsys, sample.main, ["--checkpoint", str(missing)]) == expected
    assert _refused(capsys, evaluate.main, ["--checkpoint", str(missing), "--num-samples", "10"]) == expected
    assert _tree_hashes(tmp_path) == before


def test_evaluate_json_never_replaces_an_existing_file(tmp_path, run, capsys):
    out = tmp_path / "scores.json"
    out.write_text('{"mine": true}\n')
    before = _tree_hashes(tmp_path)
    message = _refused(capsys, evaluate.main, ["--run", str(run), "--json", str(out)])
    assert message == f"{out}: already exists; choose another path or pass --force to replace it"
    assert _refused(capsys, evaluate.main, ["--run", str(run), "--num-samples", "1"]) == "--num-samples 1: must be 2 to 10000000"
    assert _tree_hashes(tmp_path) == before


# --- damaged checkpoints --------------------------------------------------------------------


def test_damaged_newest_checkpoint_resume_uses_the_older_one(tmp_path, run, data, capsys):
    _damage(run / "checkpoints" / "16")
    before = _tree_hashes(tmp_path, skip=run)
    _, err = _ok(capsys, train.main, _train_argv(run, data, "--resume"))
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"warning: {run / 'checkpoints' / '16'}: checkpoint is damaged (")
    assert warnings[0].endswith("; using the next older checkpoint, step 8")
    # trained again from 8 to 16; the damaged one is kept aside, not deleted
    assert sorted(p.name for p in (run / "checkpoints").iterdir() if p.name.isdigit()) == ["16", "8"]
    assert (run / "checkpoints" / ".damaged" / "16").is_dir()
    assert [r["step"] for r in map(eval_json, (run / "metrics.jsonl").read_text().splitlines())] == [8, 16]
    assert _tree_hashes(tmp_path, skip=run) == before
    _ok(capsys, sample.main, ["--checkpoint", str(run), "--num", "4"])  # the new 16 reads back


def eval_json(line: str) -> dict:
    import json

    return json.loads(line)


def test_damaged_newest_checkpoint_sample_uses_the_older_one(tmp_path, run, capsys):
    _damage(run / "checkpoints" / "16")
    out, err = _ok(capsys, sample.main, ["--checkpoint", str(run), "--num", "4"])
    assert out.strip() == f"{run / 'samples' / 'sample_0000008.png'}: 4 samples from step 8"
    assert "; using the next older checkpoint, step 8" in err
    assert (run / "checkpoints" / "16").is_dir()  # a reader moves nothing


def test_every_checkpoint_damaged_is_one_line(tmp_path, run, data, capsys):
    _damage(run / "checkpoints" / "16")
    _damage(run / "checkpoints" / "8")
    message = _refused(capsys, sample.main, ["--checkpoint", str(run)])
    assert message.startswith(f"{run / 'checkpoints' / '8'}: checkpoint is damaged (")
    assert message.endswith("; no older checkpoint can be read either")


# --- a full disk --------------------------------------------------------------------------------


def test_disk_full_writing_a_sample_is_one_line_and_resumable(tmp_path, run, data, capsys, monkeypatch):
    """ENOSPC from the sample PNG of step 24 (after the checkpoint of 16, before that of 24)."""
    from PIL import Image

    real_save = Image.Image.save

    def full_disk(self, fp, *args, **kwargs):
        if "step_0000024" in str(fp):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", full_disk)
    before = _tree_hashes(tmp_path, skip=run)
    argv = _train_argv(run, data, "--resume", "--set", "train.max_steps=32")
    message = _refused(capsys, train.main, argv)
    assert re.fullmatch(re.escape(f"{run / 'samples' / 'step_0000024.png'}: could not be written (") +
                        r"(\[Errno 28\] )?No space left on device\); the last complete checkpoint, step 16, is kept: "
                        r"free some space and --resume", message), message
    assert not list((run / "samples").glob(".*"))  # no temporary file left
    assert _tree_hashes(tmp_path, skip=run) == before
    monkeypatch.setattr(Image.Image, "save", real_save)  # space freed
    _ok(capsys, train.main, argv)
    assert sorted(int(p.name) for p in (run / "checkpoints").iterdir() if p.name.isdigit())[-1] == 32


def test_free_space_check_counts_only_new_checkpoints(tmp_path, run, data, monkeypatch):
    """keep 3, one checkpoint of 6.3 MiB each: a fresh run needs 4 new ones + 16 MiB (41.2 MiB),
    a resume beside two written ones only 2 more (28.6 MiB). 38 MiB free: resume yes, fresh no."""
    real = shutil.disk_usage
    monkeypatch.setattr(checkpoint_module.shutil, "disk_usage", lambda p: real(p)._replace(free=38 * 2**20))
    config = load_config(FASHION_CONFIG, _sets(data, "train.max_steps=24"))
    summary = train_and_evaluate(config, run, resume=True, progress=False)
    assert summary["start_step"] == 16 and summary["step"] == 24
    with pytest.raises(Exception, match=r"38\.0 MiB free on its disk, but the run needs about 41\.2 MiB more "
                                        r"\(4 new checkpoints of 6\.3 MiB, images and logs\)"):
        train_and_evaluate(config, tmp_path / "fresh", progress=False)


# --- environment variables -------------------------------------------------------------------


@pytest.mark.parametrize("env,expected", [
    ({"JAXGAN_DISTRIBUTED": "yes"}, "environment variable JAXGAN_DISTRIBUTED='yes': the only value is auto (or unset it)"),
    ({"JAXGAN_COORDINATOR": "localhost"}, "environment variable JAXGAN_COORDINATOR='localhost': expected host:port, "
                                          "e.g. 10.0.0.1:12345 (port 1 to 65535)"),
    ({"JAXGAN_COORDINATOR": "h:1", "JAXGAN_NUM_PROCESSES": "two", "JAXGAN_PROCESS_ID": "0"},
     "environment variable JAXGAN_NUM_PROCESSES='two': JAXGAN_COORDINATOR is set, so this must be a whole number "
     "from 1 to 1000000"),
    ({"JAXGAN_COORDINATOR": "h:1", "JAXGAN_NUM_PROCESSES": "2", "JAXGAN_PROCESS_ID": "2"},
     "environment variable JAXGAN_PROCESS_ID='2': JAXGAN_COORDINATOR is set, so this must be a whole number from 0 "
     "to 1"),
    ({"JAXGAN_PROCESS_ID": "1"}, "environment variable JAXGAN_PROCESS_ID is set but JAXGAN_COORDINATOR is not: set it "
                                 "to the host:port of process 0, or unset both"),
])
def test_bad_distributed_environment(tmp_path, data, capsys, monkeypatch, env, expected):
    for name in ("JAXGAN_DISTRIBUTED", "JAXGAN_COORDINATOR", "JAXGAN_NUM_PROCESSES", "JAXGAN_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    before = _tree_hashes(tmp_path)
    assert _refused(capsys, train.main, _train_argv(tmp_path / "run", data)) == expected
    assert _tree_hashes(tmp_path) == before and not (tmp_path / "run").exists()


@pytest.mark.parametrize("setting,expected", [
    ("seed=-1", "key 'seed': Input should be greater than or equal to 0 (got -1)"),
    ("seed=true", "key 'seed': Input should be a valid integer (got True)"),
    ("optimizer.generator.lr=.inf", "key 'optimizer.generator.lr': Input should be a finite number (got inf)"),
    ("model.generator.hidden=[0]", "key 'model.generator.hidden.0': Input should be greater than 0 (got 0)"),
    ("name=../elsewhere", "key 'name': String should match pattern"),
    ("data.root=''", "key 'data.root': String should have at least 1 character (got '')"),
    ("train.population_program=loop",
     "key 'train.population_program': Input should be 'auto', 'vmap' or 'map' (got 'loop')"),
])
def test_bad_recipe_values(tmp_path, data, capsys, setting, expected):
    before = _tree_hashes(tmp_path)
    message = _refused(capsys, train.main, _train_argv(tmp_path / "run", data, "--set", setting))
    assert expected in message and message.startswith(f"{FASHION_CONFIG} (--set {setting}): ")
    assert _tree_hashes(tmp_path) == before and not (tmp_path / "run").exists()


@pytest.fixture
def small_disk(tmp_path):
    """A 48 MiB tmpfs: a real disk that fills (needs the right to mount; skipped without it)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); test_disk_full_writing_a_sample_... covers the path")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def _fill(disk: Path) -> Path:
    """Writes a ballast file until the disk refuses (ENOSPC); returns it."""
    ballast = disk / "ballast"
    with ballast.open("wb") as f:
        try:
            while True:
                f.write(b"\0" * 2**20)
                f.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC
    return ballast


def test_real_disk_full_mid_run_is_one_line_and_resumable(tmp_path, data, small_disk, capsys):
    workdir = small_disk / "run"
    argv = _train_argv(workdir, data, "--set", "train.keep_checkpoints=1")
    trainer = subprocess.Popen([sys.executable, "-m", "jaxgan.train", *argv, "--set", "train.max_steps=100000"],
                               cwd=REPO, env=dict(os.environ, JAX_PLATFORMS="cpu"), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not (workdir / "checkpoints" / "8").is_dir():
            assert trainer.poll() is None and time.monotonic() < deadline, trainer.stderr.read()[-2000:]
            time.sleep(0.05)
        before = _tree_hashes(tmp_path, skip=small_disk)
        ballast = _fill(small_disk)
        _, err = trainer.communicate(timeout=240)
    finally:
        trainer.kill()
    assert trainer.returncode == 2, err[-3000:]
    assert "Traceback" not in err and len(err.splitlines()) == 1, err[-3000:]
    kept = re.search(r"the last complete checkpoint, step (\d+), is kept: free some space and --resume$", err.strip())
    assert err.startswith("error: ") and "No space left on device" in err and kept, err
    assert (workdir / "checkpoints" / kept.group(1)).is_dir()
    assert _tree_hashes(tmp_path, skip=small_disk) == before
    ballast.unlink()  # space freed: the free-space check counts only what the resume writes
    step = int(kept.group(1))
    _ok(capsys, train.main, [*argv, "--resume", "--set", f"train.max_steps={step + 8}"])
    assert sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()) == [step + 8]


def test_checkpoint_converted_from_torch_samples(tmp_path, run, capsys):
    """A run folder written by convert_cli (its record holds the image shape) samples and loads
    as jaxgan.evaluate loads it."""
    from jaxgan import convert_cli
    from jaxgan.run.saved_generator import load_generator

    pytest.importorskip("torch")
    pt, back = tmp_path / "g_and_d.pt", tmp_path / "back"
    assert convert_cli.main(["--config", str(run / "config.yaml"), "--from-jax", str(run), "--to-torch", str(pt)]) == 0
    assert convert_cli.main(["--config", str(run / "config.yaml"), "--from-torch", str(pt), "--to-jax", str(back)]) == 0
    capsys.readouterr()
    out, _ = _ok(capsys, sample.main, ["--checkpoint", str(back), "--num", "4"])
    assert out.strip() == f"{back / 'samples' / 'sample_0000016.png'}: 4 samples from step 16"
    generator = load_generator(back)  # what jaxgan.evaluate loads
    assert generator.gan.image_shape == (28, 28, 1)


def test_damaged_metrics_log_on_resume(tmp_path, run, data, capsys):
    lines = (run / "metrics.jsonl").read_text().splitlines(True)
    (run / "metrics.jsonl").write_text("".join([lines[0], "not json\n", *lines[1:]]))
    before, log = _tree_hashes(tmp_path, skip=run), (run / "metrics.jsonl").read_bytes()
    message = _refused(capsys, train.main, _train_argv(run, data, "--resume", "--set", "train.max_steps=24"))
    assert message == (f"{run / 'metrics.jsonl'}:2: not a metrics record (Expecting value: line 1 column 1 (char 0)); "
                       "remove the line or choose another --workdir")
    assert _tree_hashes(tmp_path, skip=run) == before and (run / "metrics.jsonl").read_bytes() == log


def test_metrics_line_cut_short_by_a_full_disk_is_dropped_on_resume(tmp_path, run, data, capsys):
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"step": 24, "d_lo')
    _ok(capsys, train.main, _train_argv(run, data, "--resume", "--set", "train.max_steps=24"))
    assert [eval_json(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [8, 16, 24]


def test_sample_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    before = _tree_hashes(tmp_path)
    message = _refused(capsys, sample.main, ["--checkpoint", str(folder)])
    assert message == f"{folder}: not a jaxgan run folder (expected config.yaml and checkpoints/ in {folder})"
    assert _tree_hashes(tmp_path) == before and not (folder / "checkpoints").exists()


# --- a mistyped data path, a mistyped number ------------------------------------------------


@pytest.mark.parametrize("where", ["data.root", "JAXGAN_DATA"])
def test_a_mistyped_data_path_is_refused_not_replaced_by_another_copy(tmp_path, data, capsys, monkeypatch, where):
    """The system's Fashion-MNIST must not be trained on silently when the named path is wrong."""
    missing = tmp_path / "fashoin"
    argv = _train_argv(tmp_path / "run", data)
    if where == "data.root":
        argv += ["--set", f"data.root={missing}"]
    else:
        argv = [a.replace(f"data.root={data}", "train.max_steps=16") for a in argv]
        monkeypatch.setenv("JAXGAN_DATA", str(missing))
    message = _refused(capsys, train.main, argv)
    label = "data.root" if where == "data.root" else "$JAXGAN_DATA"
    assert message == f"{label} {missing}: no such file or folder; correct it or unset it"
    checkpoints = tmp_path / "run" / "checkpoints"
    assert not checkpoints.exists() or not any(checkpoints.iterdir())  # nothing trained


@pytest.mark.parametrize("main, argv", [
    (sample.main, ["--checkpoint", "x", "--num", "abc"]),
    (evaluate.main, ["--run", "x", "--num-samples", "many"]),
    (fake_data.main, ["--config", str(FASHION_CONFIG), "--out", "x", "--num", "1.5"]),
    (train.main, ["--config", str(FASHION_CONFIG), "--bogus"]),
])
def test_a_malformed_flag_is_one_error_line(capsys, main, argv):
    message = _refused(capsys, main, argv)
    assert "--help" in message
    assert capsys.readouterr().out == ""  # no usage block either


def test_sample_seeds_writes_the_labelled_figure(tmp_path, run, capsys):
    from PIL import Image

    out = tmp_path / "seeds.png"
    printed, _ = _ok(capsys, sample.main, ["--checkpoint", str(run), "--noise-arithmetic", "--seed", "3", "--out", str(out)])
    assert printed.startswith(f"{out}: seed1, seed2") and "(--seed 3)" in printed
    width, height = Image.open(out).size
    assert width >= 800 and height >= 300  # two labelled rows, not a 152x124 px strip
    assert "seeds" in _refused(capsys, sample.main, ["--checkpoint", str(run), "--seeds", "3"])
