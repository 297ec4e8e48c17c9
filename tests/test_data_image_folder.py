"""Image folders: torchvision-exact Resize/CenterCrop, ImageFolder order, the decode-once cache."""

import os

import numpy as np
import pytest
from PIL import Image

from jaxgan.config import DataConfig
from jaxgan.data import image_folder
from jaxgan.data.sources import LOADERS, load_images
from jaxgan.data.transforms import resize_center_crop, resized_size
from jaxgan.errors import JaxganError


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv("JAXGAN_DATA", raising=False)
    monkeypatch.delenv("JAXGAN_CACHE", raising=False)


def photo(width, height, seed=0, mode="RGB"):
    """A photo-like image: smooth colour gradients, a few soft blobs, sensor noise, sharp edges."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.zeros((height, width, 3))
    for c in range(3):
        a, b, phase = rng.uniform(-1, 1, 3)
        img[..., c] = 128 + 60 * np.sin(a * x / 17 + b * y / 23 + phase * 3)
    for _ in range(4):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(5, max(6, width / 3))
        blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))
        img += blob[..., None] * rng.uniform(-90, 90, 3)
    img[int(height * 0.3) : int(height * 0.45), int(width * 0.2) : int(width * 0.7)] += 70  # hard edges
    img += rng.normal(0, 6, img.shape)
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    return pil.convert(mode)


def torchvision_resize_crop(img, size):
    from torchvision import transforms as T

    return np.asarray(T.Compose([T.Resize(size), T.CenterCrop(size)])(img))


# (width, height): CelebA's 178x218, landscape, tiny (upscaled), already square at size,
# and sizes where (long - size) / 2 is x.5 (round half to even: 16.5 -> 16, 17.5 -> 18).
SIZES = [(178, 218), (451, 300), (40, 25), (64, 64), (100, 153), (100, 157), (217, 101), (65, 64), (63, 1000)]


@pytest.mark.parametrize("width,height", SIZES)
@pytest.mark.parametrize("size", [64, 33])
def test_resize_center_crop_matches_torchvision(width, height, size):
    for mode in ("RGB", "L"):
        img = photo(width, height, seed=width * height, mode=mode)
        ours = np.asarray(resize_center_crop(img, size))
        assert ours.shape[:2] == (size, size)
        np.testing.assert_array_equal(ours, torchvision_resize_crop(img, size))


def test_long_side_is_truncated_not_rounded():
    # 64 * 218 / 178 = 78.38 and 64 * 157 / 100 = 100.48 and 33 * 1000 / 63 = 523.8 -> 523
    assert resized_size(218, 178, 64) == (78, 64)
    assert resized_size(157, 100, 64) == (100, 64)
    assert resized_size(1000, 63, 33) == (523, 33)
    assert resized_size(300, 451, 64) == (64, 96)


def _save(img, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, quality=90) if path.suffix == ".jpg" else img.save(path)


def _make_imagefolder(root):
    """ImageFolder layout with two classes, a nested folder, JPEG and PNG, grey and RGBA."""
    specs = {
        "b_class/002.jpg": photo(178, 218, 1),
        "b_class/010.jpg": photo(178, 218, 2),
        "b_class/sub/001.png": photo(90, 70, 3, mode="L"),
        "b_class/zz.JPG": photo(120, 160, 4),
        "a_class/x.png": photo(64, 80, 5, mode="RGBA"),
        "a_class/notes.txt": None,
    }
    for rel, img in specs.items():
        if img is None:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text("not an image")
        else:
            _save(img, root / rel)


def _cfg(root, tmp_path, **kw):
    kw.setdefault("image_size", 64)
    return DataConfig(dataset="celeba", format="image_folder", root=str(root), channels=3, cache_dir=str(tmp_path / "cache"), **kw)


def test_registered():
    assert LOADERS["image_folder"] is image_folder.load_image_folder


def test_same_images_and_order_as_torchvision_imagefolder(tmp_path):
    from torchvision import datasets, transforms as T

    root = tmp_path / "data"
    _make_imagefolder(root)
    ours = load_images(_cfg(root, tmp_path))
    ref = datasets.ImageFolder(str(root), transform=T.Compose([T.Resize(64), T.CenterCrop(64), T.PILToTensor()]))
    assert [str(p) for p in image_folder.list_images(root)] == [p for p, _ in ref.samples]
    expected = np.stack([ref[i][0].permute(1, 2, 0).numpy() for i in range(len(ref))])
    assert ours.shape == (5, 64, 64, 3) and ours.dtype == np.uint8
    np.testing.assert_array_equal(ours, expected)


def test_flat_celeba_folder_matches_imagefolder_on_its_parent(tmp_path, monkeypatch):
    from torchvision import datasets, transforms as T

    celeba = tmp_path / "celeba"
    for i in range(1, 6):
        _save(photo(178, 218, seed=i), celeba / "img_align_celeba" / f"{i:06d}.jpg")
    ref = datasets.ImageFolder(str(celeba), transform=T.Compose([T.Resize(64), T.CenterCrop(64), T.PILToTensor()]))
    expected = np.stack([ref[i][0].permute(1, 2, 0).numpy() for i in range(len(ref))])
    # data.root may be the parent (the DCGAN tutorial's dataroot) or img_align_celeba itself
    np.testing.assert_array_equal(load_images(_cfg(celeba, tmp_path)), expected)
    np.testing.assert_array_equal(load_images(_cfg(celeba / "img_align_celeba", tmp_path)), expected)
    # found through $JAXGAN_DATA/celeba too
    monkeypatch.setenv("JAXGAN_DATA", str(tmp_path))
    cfg = DataConfig(dataset="celeba", format="image_folder", channels=3, image_size=64, cache_dir=str(tmp_path / "cache"))
    np.testing.assert_array_equal(load_images(cfg), expected)


def test_cache_is_reused_without_decoding(tmp_path, monkeypatch):
    root = tmp_path / "img_align_celeba"
    for i in range(4):
        _save(photo(178, 218, seed=i), root / f"{i:06d}.jpg")
    first = load_images(_cfg(root, tmp_path))
    cache = sorted((tmp_path / "cache").iterdir())
    assert [p.suffix for p in cache] == [".json", ".npy"] and not any(p.name.startswith(".") for p in cache)

    def no_decoding(*args):
        raise AssertionError("decoded again although the cache is valid")

    monkeypatch.setattr(image_folder, "decode", no_decoding)
    monkeypatch.setattr(Image, "open", no_decoding)
    again = image_folder.load_image_folder(_cfg(root, tmp_path))
    assert isinstance(again, np.memmap) and str(again.filename) == str(cache[1])
    np.testing.assert_array_equal(again, first)
    # another image size is another cache entry, and it must decode
    with pytest.raises(JaxganError, match="decoded again"):  # the decoder was called
        load_images(_cfg(root, tmp_path, image_size=32))


def test_changed_file_invalidates_the_cache(tmp_path, monkeypatch):
    root = tmp_path / "imgs"
    for i in range(3):
        _save(photo(50, 60, seed=i), root / f"{i}.png")
    load_images(_cfg(root, tmp_path))
    _save(photo(50, 60, seed=99), root / "1.png")
    os.utime(root / "1.png", ns=(1, 1))  # a different mtime whatever the clock's resolution
    calls = []
    real = image_folder.decode
    monkeypatch.setattr(image_folder, "decode", lambda p, s: calls.append(p) or real(p, s))
    images = load_images(_cfg(root, tmp_path))
    assert len(calls) == 3
    np.testing.assert_array_equal(images[1], np.asarray(resize_center_crop(photo(50, 60, seed=99), 64)))


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    root = tmp_path / "imgs"
    _save(photo(30, 30), root / "a.png")
    monkeypatch.setenv("JAXGAN_CACHE", str(tmp_path / "envcache"))
    cfg = DataConfig(dataset="celeba", format="image_folder", root=str(root), channels=3)
    assert image_folder.cache_root(cfg) == tmp_path / "envcache"
    load_images(cfg)
    assert any(p.suffix == ".npy" for p in (tmp_path / "envcache").iterdir())


def _corrupt_folder(tmp_path):
    root = tmp_path / "img_align_celeba"
    for i in range(5):
        _save(photo(178, 218, seed=i), root / f"{i:06d}.jpg")
    good = (root / "000002.jpg").read_bytes()
    (root / "000002.jpg").write_bytes(good[: len(good) // 2])  # truncated JPEG
    (root / "000004.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    return root


def test_corrupt_jpeg_stop(tmp_path):
    root = _corrupt_folder(tmp_path)
    with pytest.raises(JaxganError) as e:
        load_images(_cfg(root, tmp_path))
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(str(root / "000002.jpg")) and "on_corrupt: skip" in msg
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_corrupt_jpeg_skip(tmp_path, capsys):
    root = _corrupt_folder(tmp_path)
    images = load_images(_cfg(root, tmp_path, on_corrupt="skip"))
    assert images.shape == (3, 64, 64, 3)
    np.testing.assert_array_equal(images[2], image_folder.decode(root / "000003.jpg", 64))  # 0, 1, 3
    line = f"skipped 2 unreadable images of 5: first was {root / '000002.jpg'}"
    assert line in capsys.readouterr().err
    # from the cache: the same line again, and 'stop' still refuses the folder
    assert load_images(_cfg(root, tmp_path, on_corrupt="skip")).shape == (3, 64, 64, 3)
    assert line in capsys.readouterr().err
    with pytest.raises(JaxganError, match="000002.jpg"):
        load_images(_cfg(root, tmp_path))


def test_interrupted_build_leaves_no_cache(tmp_path, monkeypatch):
    root = tmp_path / "imgs"
    for i in range(6):
        _save(photo(40, 40, seed=i), root / f"{i}.png")
    real = image_folder.decode

    def killed_on_fourth(path, size):
        if path.name == "3.png":
            raise KeyboardInterrupt
        return real(path, size)

    monkeypatch.setattr(image_folder, "decode", killed_on_fourth)
    with pytest.raises(KeyboardInterrupt):
        load_images(_cfg(root, tmp_path))
    assert list((tmp_path / "cache").iterdir()) == []
    monkeypatch.setattr(image_folder, "decode", real)
    assert load_images(_cfg(root, tmp_path)).shape == (6, 64, 64, 3)


def test_no_resize_keeps_native_size_and_refuses_mixed_sizes(tmp_path):
    root = tmp_path / "imgs"
    _save(photo(178, 218, 0), root / "0.jpg")
    _save(photo(178, 218, 1), root / "1.jpg")
    images = load_images(_cfg(root, tmp_path, image_size=None))
    assert images.shape == (2, 218, 178, 3)
    _save(photo(100, 100, 2), root / "2.jpg")
    with pytest.raises(JaxganError, match=r"2\.jpg: image is 100x100 but the first is 178x218; set data.image_size"):
        load_images(_cfg(root, tmp_path, image_size=None))


def test_limit_decodes_only_the_first_files(tmp_path):
    root = tmp_path / "imgs"
    for i in range(5):
        _save(photo(30, 30, seed=i), root / f"{i}.png")
    (root / "4.png").write_bytes(b"broken")  # never read with limit 3
    assert load_images(_cfg(root, tmp_path, limit=3)).shape == (3, 64, 64, 3)


def test_not_found(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(JaxganError) as e:
        load_images(_cfg(tmp_path / "empty", tmp_path))
    assert "img_align_celeba.zip" in str(e.value) and "\n" not in str(e.value)
