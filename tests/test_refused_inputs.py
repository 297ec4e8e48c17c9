"""Refused inputs not covered elsewhere: each is one line (and exit code 2 from the CLI), and is
refused before anything is trained or overwritten.

Config keys, malformed YAML, IDX/CSV/CIFAR/HDF5 files and a missing dataset are covered in
test_config.py, test_idx.py, test_data_*.py and test_train.py.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

import jaxgan.run.checkpoint as checkpoint_module
import jaxgan.run.loop as loop
from jaxgan.run.checkpoint import Checkpointer
from jaxgan.config import dump_config, load_config
from jaxgan.data.idx import write_idx
from jaxgan.errors import JaxganError
from jaxgan.gan import build_gan, init_state
from jaxgan.train import main
from jaxgan.run.loop import train_and_evaluate

from tests.conftest import FASHION_CONFIG, fashion_like_images


def _overrides(root: Path, *extra: str) -> list[str]:
    return [f"data.root={root}", "train.batch_size=20", "train.steps_per_dispatch=8", "train.log_every=8",
            "train.sample_every=8", "train.checkpoint_every=8", "train.max_steps=8", *extra]


def _idx_dir(root: Path, size: int) -> Path:
    root.mkdir(parents=True)
    images = fashion_like_images(100)
    if size != 28:
        images = np.pad(images, ((0, 0), (0, size - 28), (0, size - 28)))
    write_idx(root / "train-images-idx3-ubyte.gz", images)
    write_idx(root / "train-labels-idx1-ubyte.gz", np.zeros(100, np.uint8))
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """(data folder, a run folder with a checkpoint at step 8), made once for the module."""
    base = tmp_path_factory.mktemp("refused")
    data = _idx_dir(base / "data28", 28)
    run = base / "run"
    train_and_evaluate(load_config(FASHION_CONFIG, _overrides(data)), run, progress=False)
    return data, run


def _copy(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    return to


def _cli(capsys, workdir: Path, overrides: list[str], *extra: str, config: Path = FASHION_CONFIG) -> tuple[int, str]:
    sets = [a for o in overrides for a in ("--set", o)]
    rc = main(["--config", str(config), "--workdir", str(workdir), *sets, "--no-progress", *extra])
    errors = [l for l in capsys.readouterr().err.splitlines() if l.startswith("error: ")]
    assert len(errors) == 1, errors
    return rc, errors[0][len("error: "):]


# --- checkpoints of another recipe or shape ---------------------------------------------------


def test_resume_with_images_of_another_size_names_the_tensor_and_both_shapes(tmp_path, trained, capsys):
    data, run = trained
    run = _copy(run, tmp_path / "run")
    data32 = _idx_dir(tmp_path / "data32", 32)  # data.root may change on resume; the image size may not
    rc, message = _cli(capsys, run, _overrides(data32, "train.max_steps=16"), "--resume")
    assert rc == 2
    assert message == (f"{run / 'checkpoints' / '8'}: tensor d.params.fc0.kernel has shape (784, 256) in the "
                       "checkpoint but (1024, 256) in this recipe's model; was it written by another recipe or "
                       "for images of another size?")


def test_checkpoint_of_another_recipe_is_refused_by_tensor_name(tmp_path, trained):
    data, run = trained
    # a folder whose config.yaml is another recipe (narrower G) but whose checkpoints are the run's
    other = load_config(FASHION_CONFIG, _overrides(data, "model.generator.hidden=[128,128]"))
    folder = tmp_path / "other"
    shutil.copytree(run / "checkpoints", folder / "checkpoints")
    dump_config(other, folder / "config.yaml")
    with pytest.raises(JaxganError) as err:
        train_and_evaluate(other, folder, resume=True, progress=False)
    assert str(err.value) == (f"{folder / 'checkpoints' / '8'}: tensor g.params.fc0.bias has shape (256,) in the "
                              "checkpoint but (128,) in this recipe's model; was it written by another recipe or "
                              "for images of another size?")
    # a model with fewer layers: the checkpoint's extra tensor is named
    fewer = load_config(FASHION_CONFIG, _overrides(data, "model.generator.hidden=[256]"))
    checkpointer = Checkpointer(folder / "checkpoints")
    try:
        with pytest.raises(JaxganError, match=r"checkpoints/8: (tensor g\.params\.fc1\.\w+ has shape|checkpoint "
                                              r"holds tensor g\.params\.fc2)"):
            checkpointer.restore(init_state(build_gan(fewer, (28, 28, 1)), 0))
    finally:
        checkpointer.close()


def test_damaged_checkpoint_is_one_line(tmp_path, trained):
    data, run = trained
    run = _copy(run, tmp_path / "run")
    for f in (run / "checkpoints" / "8" / "state").rglob("*"):
        if f.is_file() and f.parent.name == "d":  # the array data files of the OCDBT store
            f.write_bytes(b"")
    with pytest.raises(JaxganError) as err:
        train_and_evaluate(load_config(FASHION_CONFIG, _overrides(data, "train.max_steps=16")), run, resume=True,
                           progress=False)
    message = str(err.value)
    assert "\n" not in message and len(message) < 400
    assert message.startswith(f"{run / 'checkpoints' / '8'}: checkpoint is damaged (")
    assert message.endswith("; no older checkpoint can be read either")


# --- a run folder of another config ---------------------------------------------------------


def test_resume_with_another_config_is_one_line_exit_2(tmp_path, trained, capsys):
    data, run = trained
    run = _copy(run, tmp_path / "run")
    rc, message = _cli(capsys, run, _overrides(data, "model.z_dim=32"), "--resume")
    assert rc == 2
    assert message == (f"{run}: --resume with a different recipe: model.z_dim was 64, now 32; use the run's own "
                       "config.yaml or a new --workdir")
    # how long, how often and how to react to divergence may change; what is trained may not
    rc, message = _cli(capsys, run, _overrides(data, "loss.generator=saturating"), "--resume")
    assert message.endswith("loss.generator was 'non_saturating', now 'saturating'; use the run's own config.yaml "
                            "or a new --workdir")


def test_run_folder_from_before_a_new_key_is_not_refused(tmp_path, trained):
    """A key added to the schema later (with a default) is not "a different recipe"."""
    data, run = trained
    saved = tmp_path / "config.yaml"
    text = (run / "config.yaml").read_text()
    saved.write_text("".join(l for l in text.splitlines(True) if "on_divergence" not in l and "max_rollbacks" not in l))
    assert "on_divergence" not in saved.read_text()
    loop.check_resumable(saved, load_config(FASHION_CONFIG, _overrides(data)))


def test_tampered_run_config_is_refused_without_running_it(tmp_path, trained):
    data, run = trained
    run = _copy(run, tmp_path / "run")
    marker = tmp_path / "pwned"
    (run / "config.yaml").write_text(f"!!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(JaxganError) as err:
        train_and_evaluate(load_config(FASHION_CONFIG, _overrides(data)), run, resume=True, progress=False)
    assert str(err.value) == (f"{run}: not empty and not a jaxgan run folder (its config.yaml is not a jaxgan "
                              "recipe); nothing was written: choose a new or empty --workdir")
    assert not marker.exists()
    # what check_resumable says of such a file, read on its own
    with pytest.raises(JaxganError) as err:
        loop.check_resumable(run / "config.yaml", load_config(FASHION_CONFIG, _overrides(data)))
    assert str(err.value).startswith(f"{run / 'config.yaml'}: unreadable (could not determine a constructor for the "
                                     "tag 'tag:yaml.org,2002:python/object/apply:os.system'")
    assert str(err.value).endswith("; this run folder cannot be resumed")
    assert not marker.exists()
    (run / "config.yaml").write_text("- just\n- a list\n")
    with pytest.raises(JaxganError, match=r"config\.yaml: not a recipe mapping; this run folder cannot be resumed$"):
        loop.check_resumable(run / "config.yaml", load_config(FASHION_CONFIG, _overrides(data)))


# --- the run folder cannot be written ------------------------------------------------------


def test_workdir_under_a_file_is_refused_before_anything_else(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    # the data root does not exist either: the run folder is checked first, before any loading
    rc, message = _cli(capsys, blocker / "run", _overrides(tmp_path / "no_data"))
    assert rc == 2
    assert message == f"{blocker / 'run'}: run folder is not writable (Not a directory); choose another --workdir"


def test_full_disk_is_refused_before_training(tmp_path, trained, monkeypatch):
    data, _ = trained
    real = shutil.disk_usage

    def nearly_full(path):
        return real(path)._replace(free=5 * 2**20)

    monkeypatch.setattr(checkpoint_module.shutil, "disk_usage", nearly_full)
    with pytest.raises(JaxganError) as err:
        train_and_evaluate(load_config(FASHION_CONFIG, _overrides(data)), tmp_path / "run", progress=False)
    assert str(err.value) == (
        f"{tmp_path / 'run'}: 5.0 MiB free on its disk, but the run needs about 41.2 MiB more (4 new checkpoints of "
        "6.3 MiB, images and logs); free some space, lower train.keep_checkpoints or choose another --workdir")
    assert not any((tmp_path / "run" / "checkpoints").iterdir())
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax's closed event loop
def test_failed_checkpoint_write_keeps_the_last_complete_one(tmp_path, trained):
    """A write that fails mid-run (here: files over 1 MiB refused, as a full disk would) is one
    line naming the step; the previous checkpoint survives and --resume continues from it."""
    data, run = trained
    run = _copy(run, tmp_path / "run")
    config = load_config(FASHION_CONFIG, _overrides(data, "train.max_steps=16"))
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, hard))
    try:
        with pytest.raises(JaxganError) as err:
            train_and_evaluate(config, run, resume=True, progress=False)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert str(err.value) == (f"{run / 'checkpoints'}: the checkpoint of step 16 could not be written (File too "
                              "large); the last complete checkpoint, step 8, is kept: free some space and --resume")
    assert sorted(p.name for p in (run / "checkpoints").iterdir() if p.name.isdigit()) == ["8"]
    summary = train_and_evaluate(config, run, resume=True, progress=False)
    assert summary["start_step"] == 8 and summary["step"] == 16
    assert not [p for p in (run / "checkpoints").iterdir() if "tmp" in p.name]


# --- unsafe YAML and pickles ------------------------------------------------------------------


def test_config_with_a_python_tag_is_refused_not_run(tmp_path):
    marker = tmp_path / "pwned"
    recipe = tmp_path / "evil.yaml"
    recipe.write_text(FASHION_CONFIG.read_text().replace(
        "name: gan_fashion_mnist", f"name: !!python/object/apply:os.system ['touch {marker}']"))
    with pytest.raises(JaxganError) as err:
        load_config(recipe)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{recipe}:")
    assert message.endswith(": malformed YAML: could not determine a constructor for the tag "
                            "'tag:yaml.org,2002:python/object/apply:os.system'")
    # in --set the tag is only text, never constructed (and no name a run folder can take)
    with pytest.raises(JaxganError, match=r"key 'name': String should match pattern"):
        load_config(FASHION_CONFIG, [f"name=!!python/object/apply:os.system ['touch {marker}']"])
    assert not marker.exists()


def test_torch_checkpoint_with_code_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    from jaxgan.interop.torch_files import load_torch_checkpoint

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    torch.save({"G": Evil()}, path)
    with pytest.raises(JaxganError) as err:
        load_torch_checkpoint(path)
    # (the converter's wording is its own; what matters: refused, one line, nothing ran)
    assert str(err.value).startswith(f"{path}: ")
    assert "\n" not in str(err.value) and not marker.exists()
