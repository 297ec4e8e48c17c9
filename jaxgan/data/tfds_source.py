"""Any image dataset TensorFlow Datasets has prepared, read through `tfds.data_source`.

`tfds.data_source` reads the prepared ArrayRecord files with random access and needs no
TensorFlow, so a dataset prepared once (by anyone, `data.root` = its data_dir) feeds jaxgan
directly. tensorflow-datasets is imported only when this format is used.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm import tqdm

from jaxgan.config import DataConfig
from jaxgan.data.transforms import resize_center_crop_array
from jaxgan.errors import JaxganError

_CHUNK = 1024


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0] if text else 'no detail'}"


def load_tfds(cfg: DataConfig) -> np.ndarray:
    """LOADERS['tfds']: the split's 'image' feature as uint8 (N, H, W, C), resized if asked.

    The name is data.tfds_name or data.dataset, the data_dir data.root (None: TFDS's default).
    Nothing is downloaded (`download=False`): preparing needs TensorFlow and the network, so it
    is a separate, explicit step. Only the first data.limit records are decoded.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise JaxganError("data.format tfds needs TensorFlow Datasets: pip install tensorflow-datasets") from None
    name = cfg.tfds_name or cfg.dataset
    where = f"tfds '{name}' split '{cfg.split}' (data_dir {cfg.root or 'TFDS default'})"
    try:
        source = tfds.data_source(name, split=cfg.split, data_dir=cfg.root, download=False)
    except Exception as e:
        hint = "" if type(e).__name__ == "DatasetNotFoundError" else (
            f"; prepare it once where TensorFlow is installed: tfds build {name} --data_dir DIR "
            f"--file_format array_record, then set data.root to DIR"
        )
        raise JaxganError(f"{where}: {_first_line(e)}{hint}") from None
    count = len(source) if cfg.limit is None else min(cfg.limit, len(source))
    if count == 0:
        raise JaxganError(f"{where}: the split is empty")
    out = None
    with tqdm(total=count, desc=f"reading {name}", unit="img", disable=count < 10000) as bar:
        for start in range(0, count, _CHUNK):
            keys = list(range(start, min(start + _CHUNK, count)))
            try:
                records = [source[k] for k in keys]
            except Exception as e:
                raise JaxganError(f"{where}: cannot read records {keys[0]}..{keys[-1]}: {_first_line(e)}") from None
            for key, record in zip(keys, records):
                image = _image_of(record, where, cfg.image_size)
                if out is None:
                    out = np.empty((count, *image.shape), dtype=np.uint8)
                elif image.shape != out.shape[1:]:
                    raise JaxganError(
                        f"{where}: record {key} is {image.shape}, record 0 {out.shape[1:]}; "
                        f"set data.image_size to resize them all"
                    )
                out[key] = image
            bar.update(len(keys))
    return out


def _image_of(record: Any, where: str, image_size: int | None) -> np.ndarray:
    if not isinstance(record, dict) or "image" not in record:
        keys = ", ".join(record) if isinstance(record, dict) else type(record).__name__
        raise JaxganError(f"{where}: records have no 'image' feature (features: {keys})")
    image = np.asarray(record["image"])
    if image.ndim == 2:
        image = image[..., None]
    if image.dtype != np.uint8 or image.ndim != 3:
        raise JaxganError(f"{where}: 'image' is {image.dtype} {image.shape}, expected uint8 (H, W, C)")
    return resize_center_crop_array(image, image_size)
