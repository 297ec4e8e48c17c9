"""The book's CelebA HDF5 file (group of `<n>.jpg` datasets) and `python -m jaxgan.make_hdf5`."""

import subprocess
import sys

import h5py
import numpy as np
import pytest
from PIL import Image

from jaxgan import make_hdf5
from jaxgan.config import DataConfig
from jaxgan.data import hdf5_images, image_folder
from jaxgan.data.sources import LOADERS, load_images
from jaxgan.errors import JaxganError

N = 12  # enough for 10.jpg and 11.jpg to sort (as text) before 2.jpg


@pytest.fixture(autouse=True)
def _no_env_data(monkeypatch):
    monkeypatch.delenv("JAXGAN_DATA", raising=False)


def _images(n=N, shape=(218, 178, 3)):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, shape, dtype=np.uint8)
    return np.stack([np.roll(base, i, axis=0) ^ np.uint8(i) for i in range(n)])


def _write_book_file(path, images, group="img_align_celeba"):
    """As notebook 10 writes it: one gzip-9 dataset per image, created in order 0, 1, 2, ..."""
    with h5py.File(path, "w") as hf:
        for n, img in enumerate(images):
            hf.create_dataset(f"{group}/{n}.jpg", data=img, compression="gzip", compression_opts=9)


def _cfg(root, **kw):
    return DataConfig(dataset="celeba", format="hdf5", root=str(root), channels=3, **kw)


def _error(cfg):
    with pytest.raises(JaxganError) as e:
        load_images(cfg)
    assert "\n" not in str(e.value)
    return str(e.value)


def test_registered():
    assert LOADERS["hdf5"] is hdf5_images.load_hdf5_images


def test_reads_in_natural_order(tmp_path):
    images = _images()
    path = tmp_path / "celeba_aligned_small.h5py"
    _write_book_file(path, images)
    with h5py.File(path) as f:
        assert list(f["img_align_celeba"])[:4] == ["0.jpg", "1.jpg", "10.jpg", "11.jpg"]  # HDF5's order
    loaded = load_images(_cfg(path))
    assert loaded.shape == (N, 218, 178, 3) and loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, images)
    np.testing.assert_array_equal(load_images(_cfg(tmp_path)), images)  # a directory holding the book's file


def test_natural_key():
    names = ["10.jpg", "2.jpg", "1.jpg", "a10", "a9", "100.jpg"]
    assert sorted(names, key=hdf5_images.natural_key) == ["1.jpg", "2.jpg", "10.jpg", "100.jpg", "a9", "a10"]


def test_other_group_and_resize(tmp_path):
    path = tmp_path / "faces.h5"
    _write_book_file(path, _images(3), group="faces")
    assert load_images(_cfg(tmp_path, hdf5_group="faces")).shape == (3, 218, 178, 3)  # the only .h5 there
    assert load_images(_cfg(path, hdf5_group="faces", image_size=64)).shape == (3, 64, 64, 3)


def test_missing_group_lists_the_groups(tmp_path):
    path = tmp_path / "faces.h5"
    _write_book_file(path, _images(2), group="faces")
    with h5py.File(path, "a") as f:
        f.create_group("other")
    msg = _error(_cfg(path))
    assert str(path) in msg and "no group 'img_align_celeba'" in msg and "groups present: faces, other" in msg


def test_bad_members_and_files(tmp_path):
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("img_align_celeba/0.jpg", data=np.zeros((4, 4, 3), np.float32))
    assert "img_align_celeba/0.jpg is float32 (4, 4, 3)" in _error(_cfg(path))
    with h5py.File(path, "w") as f:
        f.create_dataset("img_align_celeba/0.jpg", data=np.zeros((4, 4, 3), np.uint8))
        f.create_dataset("img_align_celeba/1.jpg", data=np.zeros((5, 4, 3), np.uint8))
    assert "set data.image_size" in _error(_cfg(path))
    with h5py.File(path, "w") as f:
        f.create_group("img_align_celeba")
    assert "is empty" in _error(_cfg(path))
    path.write_bytes(b"not hdf5 at all")
    assert "not a readable HDF5 file" in _error(_cfg(path))
    good = tmp_path / "good.h5"
    _write_book_file(good, _images(2))
    raw = good.read_bytes()
    good.write_bytes(raw[: len(raw) // 3])
    assert str(good) in _error(_cfg(good))


def test_not_found(tmp_path):
    (tmp_path / "nothing").mkdir()
    msg = _error(_cfg(tmp_path / "nothing"))
    assert "celeba_aligned_small.h5py" in msg and "make_hdf5" in msg


def _jpeg_folder(tmp_path, n=5):
    root = tmp_path / "img_align_celeba"
    root.mkdir()
    for i in range(n, 0, -1):
        Image.fromarray(_images(1)[0] // (i + 1)).save(root / f"{i:06d}.jpg", quality=90)
    return root


def test_make_hdf5_cli_builds_the_book_file(tmp_path):
    root = _jpeg_folder(tmp_path)
    out = tmp_path / "celeba_aligned_small.h5py"
    proc = subprocess.run(
        [sys.executable, "-m", "jaxgan.make_hdf5", "--images", str(root), "--out", str(out), "--limit", "3"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "wrote 3 images" in proc.stdout
    with h5py.File(out) as f:
        assert sorted(f["img_align_celeba"]) == ["0.jpg", "1.jpg", "2.jpg"]
        ds = f["img_align_celeba/1.jpg"]
        assert ds.dtype == np.uint8 and ds.shape == (218, 178, 3)
        assert ds.compression == "gzip" and ds.compression_opts == 9
    expected = np.stack([image_folder.decode(root / f"{i:06d}.jpg", None) for i in (1, 2, 3)])
    np.testing.assert_array_equal(load_images(_cfg(out)), expected)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--images", "{tmp}/nope", "--out", "{tmp}/o.h5"], "not a directory"),
        (["--images", "{tmp}/img_align_celeba", "--out", "{tmp}/o.h5", "--limit", "0"], "--limit 0"),
        (["--images", "{tmp}/img_align_celeba", "--out", "{tmp}/no/such/dir/o.h5"], "does not exist"),
        (["--images", "{tmp}/empty", "--out", "{tmp}/o.h5"], "no image files"),
        (["--out", "{tmp}/o.h5"], "--images"),
        (["--images", "{tmp}/img_align_celeba", "--out", "{tmp}/o.h5", "--limit", "many"], "invalid int"),
    ],
)
def test_make_hdf5_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, expected):
    _jpeg_folder(tmp_path, n=2)
    (tmp_path / "empty").mkdir()
    argv = [a.format(tmp=tmp_path) for a in args]
    try:
        code = make_hdf5.main(argv)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and expected in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o.h5").exists()


def test_make_hdf5_corrupt_jpeg_keeps_the_old_file(tmp_path, capsys):
    root = _jpeg_folder(tmp_path, n=3)
    (root / "000002.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    out = tmp_path / "o.h5"
    out.write_bytes(b"previous contents")
    assert make_hdf5.main(["--images", str(root), "--out", str(out)]) == 2  # exists: refused untouched
    refused = capsys.readouterr().err.strip()
    assert refused == f"error: {out}: already exists; choose another path or pass --force to replace it"
    assert make_hdf5.main(["--images", str(root), "--out", str(out), "--force"]) == 2
    last = capsys.readouterr().err.rstrip("\n").split("\n")[-1]  # after the progress bar
    assert last.startswith(f"error: {root / '000002.jpg'}: unreadable image (UnidentifiedImageError")
    assert out.read_bytes() == b"previous contents"  # written atomically: never half-replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img_align_celeba", "o.h5"]
