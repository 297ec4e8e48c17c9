"""TFDS through `tfds.data_source`, with TFDS's own mock datasets (no TensorFlow, no download)."""

import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxgan.config import DataConfig
from jaxgan.data import tfds_source
from jaxgan.data.sources import LOADERS, load_images
from jaxgan.data.transforms import resize_center_crop_array
from jaxgan.errors import JaxganError


def _cfg(**kw):
    kw.setdefault("dataset", "mnist")
    return DataConfig(format="tfds", **kw)


def _error(cfg):
    with pytest.raises(JaxganError) as e:
        load_images(cfg)
    assert "\n" not in str(e.value)
    return str(e.value)


def test_registered():
    assert LOADERS["tfds"] is tfds_source.load_tfds


def test_mnist_mock(tmp_path):
    with tfds.testing.mock_data(num_examples=9):
        images = load_images(_cfg(root=str(tmp_path)))
        reference = tfds.data_source("mnist", split="train", data_dir=str(tmp_path))
        expected = np.stack([reference[i]["image"] for i in range(len(reference))])
    assert images.shape == (9, 28, 28, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, expected)


def test_cifar10_mock_test_split_resized_by_tfds_name(tmp_path):
    with tfds.testing.mock_data(num_examples=5):
        cfg = _cfg(dataset="my_cifar", tfds_name="cifar10", split="test", channels=3, image_size=64)
        images = load_images(cfg)
        raw = tfds.data_source("cifar10", split="test")
        expected = np.stack([resize_center_crop_array(raw[i]["image"], 64) for i in range(5)])
    assert images.shape == (5, 64, 64, 3)
    np.testing.assert_array_equal(images, expected)


def test_root_is_the_data_dir_and_limit_reads_only_that_many(tmp_path, monkeypatch):
    calls, reads = [], []
    real = tfds.data_source

    class Counted:
        def __init__(self, source):
            self.source = source

        def __len__(self):
            return len(self.source)

        def __getitem__(self, key):
            reads.append(key)
            return self.source[key]

    def spy(name, **kw):
        calls.append((name, kw))
        return Counted(real(name, **kw))

    monkeypatch.setattr(tfds, "data_source", spy)
    with tfds.testing.mock_data(num_examples=20):
        images = load_images(_cfg(root=str(tmp_path), limit=4))
    assert images.shape == (4, 28, 28, 1)
    assert calls == [("mnist", {"split": "train", "data_dir": str(tmp_path), "download": False})]
    assert reads == [0, 1, 2, 3]


def test_unknown_dataset_is_one_line(tmp_path):
    msg = _error(_cfg(dataset="no_such_dataset_xyz", root=str(tmp_path)))
    assert msg.startswith("tfds 'no_such_dataset_xyz' split 'train'") and "DatasetNotFoundError" in msg


def test_unprepared_dataset_says_how_to_prepare_it(tmp_path):
    msg = _error(_cfg(root=str(tmp_path)))  # nothing under tmp_path, and nothing is downloaded
    assert "tfds build mnist --data_dir DIR --file_format array_record" in msg
    assert list(tmp_path.rglob("*.array_record*")) == []


def test_records_without_an_image(monkeypatch):
    monkeypatch.setattr(tfds, "data_source", lambda name, **kw: [{"text": b"hi", "label": 1}])
    assert "no 'image' feature (features: text, label)" in _error(_cfg())


def test_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import now raises ImportError
    assert "pip install tensorflow-datasets" in _error(_cfg())
