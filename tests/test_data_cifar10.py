"""CIFAR-10: the Python-2 pickled batches (read without running pickled code) and the binary."""

import os
import pickle
import struct

import numpy as np
import pytest

from jaxgan.config import DataConfig
from jaxgan.data import cifar10
from jaxgan.data.sources import LOADERS, load_images
from jaxgan.errors import JaxganError

ROWS = 7  # the real batches hold 10,000 rows each


@pytest.fixture(autouse=True)
def _no_env_data(monkeypatch):
    monkeypatch.delenv("JAXGAN_DATA", raising=False)


class _Py2Pickler(pickle._Pickler):
    """Pickles as Python 2's cPickle did for the originals: every str/bytes is a py2 `str`
    (SHORT_BINSTRING/BINSTRING), never Python 3's `_codecs.encode` detour."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj):
        raw = obj.encode("latin-1") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str
    dispatch[str] = _save_py2_str


def _py2_pickle(obj) -> bytes:
    import io

    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    # numpy 2 names its module numpy._core; the 2009 files say numpy.core (GLOBAL is text).
    return buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def _batch(seed, label=b"training batch 1 of 5"):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (ROWS, 3072), dtype=np.uint8)
    labels = [int(x) for x in rng.integers(0, 10, ROWS)]
    return {
        b"batch_label": label,
        b"labels": labels,
        b"data": data,
        b"filenames": [f"img_{seed}_{i}.png".encode() for i in range(ROWS)],
    }


def _write_python(root, names=("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")):
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True, exist_ok=True)
    batches = {}
    for i, name in enumerate(names):
        batches[name] = _batch(i)
        (d / name).write_bytes(_py2_pickle(batches[name]))
    meta = {b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"], b"num_cases_per_batch": ROWS, b"num_vis": 3072}
    (d / "batches.meta").write_bytes(_py2_pickle(meta))
    return d, batches


def _write_binary(root, batches):
    d = root / "cifar-10-batches-bin"
    d.mkdir(parents=True, exist_ok=True)
    for name, b in batches.items():
        records = np.concatenate([np.asarray(b[b"labels"], np.uint8)[:, None], b[b"data"]], axis=1)
        (d / f"{name}.bin").write_bytes(records.tobytes())
    return d


def _hwc(data):
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def _cfg(root, **kw):
    return DataConfig(dataset="cifar10", format="cifar10", root=str(root), channels=3, **kw)


def _error(fn, *args):
    with pytest.raises(JaxganError) as e:
        fn(*args)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_registered():
    assert LOADERS["cifar10"] is cifar10.load_cifar10


def test_fixture_pickles_look_like_the_originals(tmp_path):
    d, _ = _write_python(tmp_path)
    raw = (d / "data_batch_1").read_bytes()
    assert raw[:2] == b"\x80\x02" and b"cnumpy.core.multiarray\n_reconstruct\n" in raw
    assert b"_codecs" not in raw
    # the official loader: pickle.load(fo, encoding='bytes')
    with open(d / "data_batch_1", "rb") as f:
        official = pickle.load(f, encoding="bytes")
    assert sorted(official) == [b"batch_label", b"data", b"filenames", b"labels"]


def test_python_train_and_test_splits(tmp_path):
    _, batches = _write_python(tmp_path)
    train = load_images(_cfg(tmp_path))  # root is the parent of cifar-10-batches-py
    assert train.shape == (5 * ROWS, 32, 32, 3) and train.dtype == np.uint8
    expected = np.concatenate([_hwc(batches[f"data_batch_{i}"][b"data"]) for i in range(1, 6)])
    np.testing.assert_array_equal(train, expected)
    # pixel (row 0, y 1, x 2): red at 0*1024 + 1*32 + 2, green 1024 later, blue 2048 later
    flat = batches["data_batch_1"][b"data"][0]
    assert tuple(train[0, 1, 2]) == (flat[34], flat[1024 + 34], flat[2048 + 34])
    test = load_images(_cfg(tmp_path / "cifar-10-batches-py", split="test"))
    np.testing.assert_array_equal(test, _hwc(batches["test_batch"][b"data"]))


def test_same_pixels_as_torchvision(tmp_path, monkeypatch):
    from torchvision.datasets import CIFAR10

    _write_python(tmp_path)
    import torchvision.datasets.cifar as tv_cifar

    # our files are not the real ones, so their md5s differ
    monkeypatch.setattr(CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: True)
    for train, split in ((True, "train"), (False, "test")):
        reference = CIFAR10(str(tmp_path), train=train, download=False)
        np.testing.assert_array_equal(load_images(_cfg(tmp_path, split=split)), reference.data)


def test_binary_layout_matches_python(tmp_path):
    _, batches = _write_python(tmp_path / "py")
    _write_binary(tmp_path / "bin", batches)
    for split in ("train", "test"):
        np.testing.assert_array_equal(load_images(_cfg(tmp_path / "bin", split=split)), load_images(_cfg(tmp_path / "py", split=split)))


def test_python3_pickles_with_protocol_4_load(tmp_path):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    b = _batch(3)
    (d / "test_batch").write_bytes(pickle.dumps(b, protocol=4))  # numpy._core spelling
    np.testing.assert_array_equal(load_images(_cfg(d, split="test")), _hwc(b[b"data"]))


def test_image_size_upscales_like_scale_64(tmp_path):
    _write_python(tmp_path)
    images = load_images(_cfg(tmp_path, split="test", image_size=64))
    assert images.shape == (ROWS, 64, 64, 3)


def test_foreign_global_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    payload = pickle.dumps({"data": Evil(), "labels": [0]}, protocol=2)
    # the payload is live: a plain pickle.loads runs it
    probe = tmp_path / "probe"
    pickle.loads(payload.replace(str(marker).encode(), str(probe).encode()))
    assert probe.exists()

    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    (d / "test_batch").write_bytes(payload)
    msg = _error(load_images, _cfg(d, split="test"))
    assert str(d / "test_batch") in msg and f"'{os.system.__module__}.system'" in msg and "refused" in msg
    assert not marker.exists()
    # and the classic hand-written form naming os.system
    (d / "test_batch").write_bytes(b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    assert "'os.system'" in _error(load_images, _cfg(d, split="test"))
    assert not marker.exists()


def test_python3_protocol_2_detour_is_refused(tmp_path):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    (d / "test_batch").write_bytes(pickle.dumps(_batch(0), protocol=2))
    assert "'_codecs.encode'" in _error(load_images, _cfg(d, split="test"))


def test_truncated_pickle(tmp_path):
    d, _ = _write_python(tmp_path)
    raw = (d / "data_batch_2").read_bytes()
    (d / "data_batch_2").write_bytes(raw[: len(raw) // 2])
    msg = _error(load_images, _cfg(tmp_path))
    assert str(d / "data_batch_2") in msg and "truncated" in msg


def test_wrong_contents(tmp_path):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    (d / "test_batch").write_bytes(_py2_pickle([1, 2, 3]))
    assert "holds a list" in _error(load_images, _cfg(d, split="test"))
    b = _batch(0)
    b[b"data"] = b[b"data"][:, :3000]
    (d / "test_batch").write_bytes(_py2_pickle(b))
    assert "(N, 3072)" in _error(load_images, _cfg(d, split="test"))
    del b[b"data"]
    (d / "test_batch").write_bytes(_py2_pickle(b))
    assert "b'data'" in _error(load_images, _cfg(d, split="test"))


def test_missing_train_batch_is_named(tmp_path):
    d, _ = _write_python(tmp_path)
    (d / "data_batch_3").unlink()
    (d / "data_batch_5").unlink()
    msg = _error(load_images, _cfg(tmp_path))
    assert "missing data_batch_3, data_batch_5" in msg and "cifar-10-python.tar.gz" in msg
    # the test split is still fine
    assert load_images(_cfg(tmp_path, split="test")).shape == (ROWS, 32, 32, 3)


def test_binary_size_and_label_checks(tmp_path):
    _, batches = _write_python(tmp_path / "py")
    d = _write_binary(tmp_path / "bin", batches)
    raw = (d / "test_batch.bin").read_bytes()
    (d / "test_batch.bin").write_bytes(raw[:-100])
    msg = _error(load_images, _cfg(d, split="test"))
    assert str(d / "test_batch.bin") in msg and "3073-byte records" in msg
    bad = bytearray(raw)
    bad[3073] = 57
    (d / "test_batch.bin").write_bytes(bytes(bad))
    assert "record 1 has label 57" in _error(load_images, _cfg(d, split="test"))


def test_not_found_says_how_to_get_it(tmp_path):
    msg = _error(load_images, _cfg(tmp_path))
    assert "cifar-10-batches-py" in msg and "cifar-10-python.tar.gz" in msg
