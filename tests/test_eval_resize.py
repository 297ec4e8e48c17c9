"""A recipe trained on Fashion-MNIST resized to 64 x 64 (dcgan_fashion_mnist) is scored by the
Fashion-MNIST domain classifier on its samples resized back to 28 x 28, in the evaluator's
feature path, which scores the samples of either backend."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from jaxgan.config import load_config
from jaxgan.errors import JaxganError
from jaxgan.data.transforms import resize_center_crop_batch
from jaxgan.quality.scoring import ClassifierExtractor, Evaluator, choose_features, to_classifier_size
from tests.conftest import REPO
from tests.test_eval_evaluate import trained  # noqa: F401  (labelled IDX files and a cached classifier)

DCGAN_FASHION = REPO / "configs" / "dcgan_fashion_mnist.yaml"


def pil_resize(images01: np.ndarray, size: int) -> np.ndarray:
    """torchvision's Resize(size) on PIL images, in float ('F' mode): PIL's antialiased bilinear."""
    return np.stack([np.asarray(Image.fromarray(im[..., 0], mode="F").resize((size, size), Image.BILINEAR))[..., None]
                     for im in np.asarray(images01, np.float32)])


def test_the_resize_to_28_is_torchvisions_bilinear_resize():
    rng = np.random.default_rng(0)
    for size in (64, 32, 56):
        images = rng.uniform(size=(3, size, size, 1)).astype(np.float32)
        resized = to_classifier_size(images)
        assert resized.shape == (3, 28, 28, 1)
        np.testing.assert_allclose(resized, pil_resize(images, 28), atol=1e-5)
    already = rng.uniform(size=(2, 28, 28, 1)).astype(np.float32)
    np.testing.assert_array_equal(to_classifier_size(already), already)


def test_dcgan_fashion_mnist_is_scored_by_the_classifier_on_samples_resized_to_28(trained, monkeypatch):  # noqa: F811
    data, _, cache = trained
    monkeypatch.setenv("JAXGAN_CACHE", str(cache))
    config = load_config(DCGAN_FASHION, [f"data.root={data}", "eval.num_samples=64", "eval.batch_size=32"])
    assert choose_features(config, config.eval) == "classifier"
    evaluator = Evaluator(config)
    assert isinstance(evaluator.extractor, ClassifierExtractor)
    assert "samples 64x64 resized to 28x28" in evaluator.describe()["resize"]
    assert evaluator.real.train.shape[1:] == (28, 28, 1)  # the real images at the files' size

    # "Samples": real test images as the recipe trains on them (PIL-resized to 64), in [-1, 1].
    test64 = resize_center_crop_batch(evaluator.real.test[:64], 64)
    cursor = iter(range(0, 64, 32))

    def generate(z):
        start = next(cursor)
        return test64[start : start + 32].astype(np.float32) / 127.5 - 1.0

    features = evaluator.generated_stats(generate).all_features()
    classifier = evaluator.extractor.classifier
    expected = classifier.features_and_probs(pil_resize(test64 / 255.0, 28))[0]
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-4)
    with pytest.raises(JaxganError, match="28x28"):
        classifier.features_and_probs(test64 / 255.0)  # the classifier itself takes 28 x 28 only
