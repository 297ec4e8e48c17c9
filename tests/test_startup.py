"""What a run pays before its first step: no torch import, the decode cache found without a
stat of every file, jax's compilation cache on by default, and a clock from process start."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jaxgan.run import compile_cache
from jaxgan.data import image_folder
from jaxgan.data.image_folder import read_image_folder

REPO = Path(__file__).resolve().parent.parent


def _folder(root: Path, n: int) -> Path:
    root.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((8, 8, 3), i * 20, np.uint8)).save(root / f"{i:06d}.png")
    return root


# `python -m jaxgan.train ...`, then which torch modules the process holds at its exit
TRAIN_THEN_REPORT = """
import atexit, runpy, sys
atexit.register(lambda: print("torch modules:", sorted(m for m in sys.modules if m.split(".")[0] == "torch")))
sys.argv = ["jaxgan.train", *sys.argv[1:]]
runpy.run_module("jaxgan.train", run_name="__main__")
"""


def test_train_never_imports_torch(tmp_path, tiny_overrides):
    sets = sum((["--set", o] for o in [*tiny_overrides, "train.max_steps=5"]), [])
    env = {**os.environ, "JAXGAN_CACHE": str(tmp_path / "cache")}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    proc = subprocess.run(
        [sys.executable, "-c", TRAIN_THEN_REPORT, "--config", "configs/gan_fashion_mnist.yaml",
         "--workdir", str(tmp_path / "run"), "--no-progress", *sets],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "run" / "tensorboard").is_dir()  # tensorboardX did write its events
    assert proc.stdout.splitlines()[-1] == "torch modules: []"
    # and the compilation cache was switched on, in jaxgan's cache folder
    assert (tmp_path / "cache" / "jax-compilation").is_dir()


def test_compile_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("JAXGAN_CACHE", str(tmp_path / "j"))
    assert compile_cache.cache_folder() == tmp_path / "j" / "jax-compilation"
    assert compile_cache.cache_folder(str(tmp_path / "data")) == tmp_path / "data" / "jax-compilation"
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "mine"))
    assert compile_cache.cache_folder(str(tmp_path / "data")) == tmp_path / "mine"
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", "")
    assert compile_cache.cache_folder() is None and compile_cache.enable() is None


def test_cached_folder_is_found_without_listing_it(tmp_path, monkeypatch):
    root = _folder(tmp_path / "img_align_celeba", 5)
    first = read_image_folder(root, None, tmp_path / "cache")

    def no_listing(*args):
        raise AssertionError("listed the folder although its stamp matches")

    monkeypatch.setattr(image_folder, "list_images", no_listing)
    np.testing.assert_array_equal(read_image_folder(root, None, tmp_path / "cache"), first)
    monkeypatch.undo()
    # a new file changes the folder's mtime: listed again, decoded again, the entry replaced
    Image.fromarray(np.full((8, 8, 3), 250, np.uint8)).save(root / "000009.png")
    again = read_image_folder(root, None, tmp_path / "cache")
    assert again.shape == (6, 8, 8, 3) and again[-1].min() == 250
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1


def test_touched_folder_with_the_same_files_is_not_decoded_again(tmp_path, monkeypatch):
    root = _folder(tmp_path / "imgs", 3)
    first = read_image_folder(root, None, tmp_path / "cache")
    (root / "notes.txt").write_text("not an image")  # the folder's mtime moves; the images do not
    monkeypatch.setattr(image_folder, "decode", lambda *a: pytest.fail("decoded again"))
    np.testing.assert_array_equal(read_image_folder(root, None, tmp_path / "cache"), first)


def test_a_cache_named_by_its_file_list_is_adopted_not_decoded_again(tmp_path, monkeypatch):
    root = _folder(tmp_path / "imgs", 3)
    cache = tmp_path / "cache"
    first = np.array(read_image_folder(root, None, cache))
    old_stem = cache / f"image_folder-{image_folder.cache_key(root, image_folder.list_images(root), None)}"
    for entry in cache.iterdir():  # as an earlier jaxgan named the entry
        entry.rename(old_stem.with_suffix(entry.suffix))
    monkeypatch.setattr(image_folder, "decode", lambda *a: pytest.fail("decoded again"))
    np.testing.assert_array_equal(read_image_folder(root, None, cache), first)
    assert not old_stem.with_suffix(".npy").exists() and not old_stem.with_suffix(".json").exists()
    assert len(list(cache.glob("image_folder-*.npy"))) == 1


def test_process_age_counts_from_process_start():
    code = "import time; time.sleep(0.5); from jaxgan.run.process_clock import process_age_s; print(process_age_s())"
    t0 = time.monotonic()
    age = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    # within the child's lifetime, however slow the machine (+ /proc's two 10 ms clocks)
    assert 0.5 <= age <= time.monotonic() - t0 + 0.05
