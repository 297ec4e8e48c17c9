"""torchvision's `Resize(size)` then `CenterCrop(size)` on PIL images, reproduced exactly.

The DCGAN recipes feed `ImageFolder` images through these two transforms; the readers here
(image folders, TFDS) must produce the same pixels so a jaxgan run sees what torch_ref sees.
What torchvision 0.2x does on a PIL image:

- Resize(size): the shorter side becomes `size`, the longer `int(size * long / short)`
  (truncated, not rounded); an image already that size is returned untouched; otherwise
  `PIL.Image.resize((w, h), BILINEAR)`, which always antialiases.
- CenterCrop(size): top = int(round((h - size) / 2.0)), left likewise (Python's round: half
  to even), then `PIL.Image.crop`. After Resize(size) no zero padding is ever needed.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from PIL import Image

_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def resized_size(height: int, width: int, size: int) -> tuple[int, int]:
    """(h, w) after torchvision's Resize(size): shorter side to `size`, longer truncated."""
    if width <= height:
        return int(size * height / width), size
    return size, int(size * width / height)


def resize_center_crop(img: Image.Image, size: Optional[int]) -> Image.Image:
    """`Compose([Resize(size), CenterCrop(size)])` on a PIL image; `size=None` is identity."""
    if size is None:
        return img
    width, height = img.size
    new_h, new_w = resized_size(height, width, size)
    if (new_h, new_w) != (height, width):
        img = img.resize((new_w, new_h), Image.BILINEAR)
    top = int(round((new_h - size) / 2.0))
    left = int(round((new_w - size) / 2.0))
    return img.crop((left, top, left + size, top + size))


def resize_center_crop_array(image: np.ndarray, size: Optional[int]) -> np.ndarray:
    """The same on a uint8 (H, W, C) array with C in 1, 3, 4; returns uint8 (size, size, C)."""
    if size is None:
        return image
    channels = image.shape[-1]
    if image.dtype != np.uint8 or image.ndim != 3 or channels not in _MODES:
        raise ValueError(f"expected uint8 (H, W, 1|3|4), got {image.dtype} {image.shape}")
    pil = Image.fromarray(image[..., 0] if channels == 1 else image)  # L, RGB or RGBA
    out = np.asarray(resize_center_crop(pil, size))
    return out.reshape(size, size, channels)


def resize_center_crop_batch(images: np.ndarray, size: Optional[int]) -> np.ndarray:
    """`resize_center_crop_array` on each image of uint8 (N, H, W, C); `size=None` is identity."""
    if size is None or images.shape[1:3] == (size, size):
        return images
    out = np.empty((len(images), size, size, images.shape[-1]), dtype=np.uint8)
    for i, image in enumerate(images):
        out[i] = resize_center_crop_array(image, size)
    return out
