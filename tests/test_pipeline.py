"""The batch pipeline: a pure function of (seed, step), drop-last, torchvision's scaling."""

import numpy as np
import pytest

from jaxgan.config import load_config
from jaxgan.data import BatchPipeline, load_images, to_float
from jaxgan.errors import JaxganError

from tests.conftest import FASHION_CONFIG


def _images(n=103):
    return np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1)


def test_drop_last_and_every_image_once_per_epoch():
    p = BatchPipeline(_images(), batch_size=10, seed=0)
    assert p.steps_per_epoch == 10
    seen = np.concatenate([p.batch(s).ravel() for s in range(10)])
    assert len(set(seen.tolist())) == 100  # 3 images dropped, none repeated


def test_deterministic_and_reshuffled_each_epoch():
    a = BatchPipeline(_images(), 10, seed=1)
    b = BatchPipeline(_images(), 10, seed=1)
    np.testing.assert_array_equal(a.batches(0, 25), b.batches(0, 25))
    assert not np.array_equal(a.batch(0), a.batch(10))  # epoch 1 has its own order
    assert not np.array_equal(a.batch(0), BatchPipeline(_images(), 10, seed=2).batch(0))


def test_batches_is_stack_of_batch_at_any_start():
    p = BatchPipeline(_images(), 10, seed=0)
    chunk = p.batches(7, 6)  # crosses the epoch boundary at step 10
    assert chunk.shape == (6, 10, 1, 1, 1)
    for i in range(6):
        np.testing.assert_array_equal(chunk[i], p.batch(7 + i))
    assert p.position(13) == (1, 3)


def test_unshuffled_keeps_file_order():
    p = BatchPipeline(_images(), 1, seed=0, shuffle=False)
    assert [int(p.batch(s).ravel()[0]) for s in (0, 1, 102, 103)] == [0, 1, 102, 0]


def test_batch_larger_than_dataset():
    with pytest.raises(JaxganError, match="batch_size 200 is larger than the dataset"):
        BatchPipeline(_images(), 200, seed=0)


def test_to_float_is_totensor_then_normalize():
    x = np.arange(256, dtype=np.uint8)
    expected = (x.astype(np.float32) / np.float32(255) - np.float32(0.5)) / np.float32(0.5)
    np.testing.assert_array_equal(np.asarray(to_float(x, "minus_one_one")), expected)
    np.testing.assert_array_equal(np.asarray(to_float(x, "zero_one")), x.astype(np.float32) / np.float32(255))
    assert float(to_float(x, "minus_one_one").min()) == -1.0 and float(to_float(x, "minus_one_one").max()) == 1.0


def test_data_found_in_root_then_env(fashion_dir, monkeypatch, tmp_path):
    cfg = load_config(FASHION_CONFIG, [f"data.root={fashion_dir}"]).data
    assert load_images(cfg).shape == (400, 28, 28, 1)
    monkeypatch.setenv("JAXGAN_DATA", str(fashion_dir.parent))  # finds <env>/fashion_mnist? no: <env>/fashion
    (fashion_dir.parent / "fashion_mnist").symlink_to(fashion_dir)
    (tmp_path / "empty").mkdir()  # a root without the files: the search goes on to $JAXGAN_DATA
    cfg = load_config(FASHION_CONFIG, [f"data.root={tmp_path / 'empty'}"]).data
    assert load_images(cfg).shape == (400, 28, 28, 1)


def test_missing_data_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.delenv("JAXGAN_DATA", raising=False)
    monkeypatch.setattr("jaxgan.data.locate.SYSTEM_DIRS", {"fashion_mnist": str(tmp_path / "sys")})
    (tmp_path / "nowhere").mkdir()  # an existing folder without the files
    cfg = load_config(FASHION_CONFIG, [f"data.root={tmp_path / 'nowhere'}"]).data
    with pytest.raises(JaxganError) as info:
        load_images(cfg)
    msg = str(info.value)
    assert "train-images-idx3-ubyte[.gz] not found" in msg
    assert str(tmp_path / "nowhere") in msg and str(tmp_path / "sys") in msg and "$JAXGAN_DATA (unset)" in msg
    assert "apt-get install dataset-fashion-mnist" in msg
