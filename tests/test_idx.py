"""The IDX reader: round trips, every malformed-file error, and the real files."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from jaxgan.data.idx import parse_idx, read_idx, write_idx
from jaxgan.errors import JaxganError

SYSTEM_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_round_trip_raw_and_gzip(tmp_path, name):
    images = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / name, images)
    assert (tmp_path / name).read_bytes()[:2] == (b"\x1f\x8b" if name.endswith(".gz") else b"\x00\x00")
    np.testing.assert_array_equal(read_idx(tmp_path / name), images)


def test_labels_and_wider_types(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    write_idx(tmp_path / "l", labels)
    np.testing.assert_array_equal(read_idx(tmp_path / "l"), labels)
    floats = np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3)
    write_idx(tmp_path / "f", floats)
    out = read_idx(tmp_path / "f")
    assert out.dtype == np.float32 and out.dtype.isnative
    np.testing.assert_array_equal(out, floats)


def _header(shape, code=0x08):
    return bytes([0, 0, code, len(shape)]) + np.asarray(shape, ">u4").tobytes()


def test_wrong_magic_is_refused():
    with pytest.raises(JaxganError, match=r"<bytes>: not an IDX file \(magic 0x504b0304"):
        parse_idx(b"PK\x03\x04" + bytes(100))


def test_unknown_type_byte_is_refused():
    with pytest.raises(JaxganError, match="not an IDX file"):
        parse_idx(bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]))


def test_truncated_data_is_refused():
    raw = _header((3, 28, 28)) + bytes(3 * 28 * 28 - 5)
    with pytest.raises(JaxganError, match=r"truncated: 2363 bytes, expected 2368 for shape \(3, 28, 28\)"):
        parse_idx(raw)


def test_truncated_header_is_refused():
    with pytest.raises(JaxganError, match="truncated IDX header"):
        parse_idx(bytes([0, 0, 8, 3, 0, 0, 0, 3]))


def test_trailing_bytes_are_refused():
    with pytest.raises(JaxganError, match="has trailing bytes"):
        parse_idx(_header((2,)) + bytes(3))


def test_corrupt_gzip_names_the_file(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(_header((4,)) + bytes(4))[:-10])
    with pytest.raises(JaxganError, match=f"{path}: corrupt gzip stream"):
        read_idx(path)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(JaxganError, match=f"{tmp_path / 'nope'}: cannot read IDX file"):
        read_idx(tmp_path / "nope")


@pytest.mark.real_data
@pytest.mark.skipif(not SYSTEM_FASHION.exists(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_files():
    train = read_idx(SYSTEM_FASHION / "train-images-idx3-ubyte.gz")
    labels = read_idx(SYSTEM_FASHION / "train-labels-idx1-ubyte.gz")
    test = read_idx(SYSTEM_FASHION / "t10k-images-idx3-ubyte.gz")
    assert train.shape == (60000, 28, 28) and train.dtype == np.uint8
    assert test.shape == (10000, 28, 28)
    assert labels.shape == (60000,) and set(np.unique(labels)) == set(range(10))
    assert np.bincount(labels).tolist() == [6000] * 10  # Fashion-MNIST is balanced
    assert 70 < train.mean() < 75  # the published mean pixel is 72.94 (0.2860 * 255)
