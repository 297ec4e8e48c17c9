"""Resize + CenterCrop against torchvision on real photographs (scikit-image's sample images).

scikit-image is in the `dev` extra; its bundled photos (astronaut, chelsea the cat, coffee,
the grey cameraman) have the textures and edges that synthetic images lack.
"""

import numpy as np
import pytest
import skimage.data
from PIL import Image
from torchvision import datasets, transforms as T

from jaxgan.config import DataConfig
from jaxgan.data.sources import load_images
from jaxgan.data.transforms import resize_center_crop

PHOTOS = {
    "astronaut": lambda: skimage.data.astronaut(),  # 512x512
    "astronaut_celeba_shape": lambda: skimage.data.astronaut()[40:258, 160:338],  # 218x178
    "chelsea": lambda: skimage.data.chelsea(),  # 300x451
    "coffee": lambda: skimage.data.coffee(),  # 400x600
    "camera": lambda: skimage.data.camera(),  # 512x512 grey
    "camera_tall": lambda: skimage.data.camera()[:, 101:400],  # 512x299 grey
}


@pytest.mark.parametrize("name", sorted(PHOTOS))
@pytest.mark.parametrize("size", [64, 45, 200])
def test_real_photos_match_torchvision(name, size):
    img = Image.fromarray(PHOTOS[name]())
    expected = np.asarray(T.Compose([T.Resize(size), T.CenterCrop(size)])(img))
    np.testing.assert_array_equal(np.asarray(resize_center_crop(img, size)), expected)


def test_real_photos_as_jpegs_through_the_loader(tmp_path, monkeypatch):
    monkeypatch.delenv("JAXGAN_DATA", raising=False)
    root = tmp_path / "photos" / "all"
    root.mkdir(parents=True)
    for name, make in PHOTOS.items():
        Image.fromarray(make()).save(root / f"{name}.jpg", quality=92)
    ref = datasets.ImageFolder(str(tmp_path / "photos"), transform=T.Compose([T.Resize(64), T.CenterCrop(64), T.PILToTensor()]))
    expected = np.stack([ref[i][0].permute(1, 2, 0).numpy() for i in range(len(ref))])
    cfg = DataConfig(dataset="photos", format="image_folder", root=str(tmp_path / "photos"), channels=3, image_size=64, cache_dir=str(tmp_path / "cache"))
    np.testing.assert_array_equal(load_images(cfg), expected)
