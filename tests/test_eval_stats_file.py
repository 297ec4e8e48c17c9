"""FID statistics that travel: pytorch-fid's .npz (mu, sigma, float64) in and out of jaxgan.

pytorch-fid's own code reads what jaxgan writes and scores it with its own
`calculate_frechet_distance`; what pytorch-fid writes (`np.savez(path, mu=..., sigma=...)`)
scores in jaxgan to the same FID; a bad file is one line; the evaluate CLI writes, reads and
reports which statistics it used.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxgan import evaluate as evaluate_cli
from jaxgan.config import load_config
from jaxgan.data import to_float
from jaxgan.errors import JaxganError
from jaxgan.quality import stats_file
from jaxgan.quality.scoring import Evaluator, RealImages, to_unit
from tests.conftest import FASHION_CONFIG
from tests.test_eval_evaluate import trained  # noqa: F401  (the module's run folder and classifier)

fid_score = pytest.importorskip("pytorch_fid.fid_score")  # the dev extra

NUM_SAMPLES = 300


class ProjectedPixels:
    """A stand-in extractor with well-conditioned features: 16 fixed random projections of the
    pixels (so every covariance here is full rank and FID needs no eps), and a 2-class vote."""

    name = "pixels"
    feature_dim = 16
    num_classes = 2
    class_names = ["dark", "bright"]
    batch_size = 64

    def __init__(self):
        self.weights = np.random.default_rng(5).normal(size=(784, 16)) / 28.0

    def features_and_probs(self, images01):
        x = np.asarray(images01, np.float64).reshape(len(images01), -1)
        bright = (x.mean(axis=1) > 0.5).astype(np.float32)
        return (x @ self.weights).astype(np.float32), np.stack([1 - bright, bright], axis=1)

    def describe(self):
        return {"name": self.name, "feature_dim": self.feature_dim}


def _generate(z):
    """A fixed 'generator': images in [-1, 1] from z, through a fixed random map."""
    mixing = np.random.default_rng(7).normal(size=(z.shape[1], 784)) / 8.0
    return np.tanh(np.asarray(z) @ mixing + 0.3).reshape(len(z), 28, 28, 1).astype(np.float32)


@pytest.fixture(scope="module")
def scene():
    """An Evaluator with the stand-in features, and the features computed here independently:
    (evaluator, real training features, generated features)."""
    config = load_config(FASHION_CONFIG, [f"eval.num_samples={NUM_SAMPLES}", "eval.batch_size=100"])
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (500, 28, 28, 1), dtype=np.uint8)
    test = rng.integers(0, 256, (300, 28, 28, 1), dtype=np.uint8)
    extractor = ProjectedPixels()
    evaluator = Evaluator(config, extractor=extractor, real=RealImages(train, test, "random"))
    real = extractor.features_and_probs(to_float(train, "zero_one"))[0]  # as the evaluator reads them
    fake = extractor.features_and_probs(to_unit(_generate(evaluator.noise()), (-1.0, 1.0)))[0]
    return evaluator, real, fake


def pytorch_fid_of(features_a, features_b) -> float:
    """pytorch-fid's FID of two feature arrays: its statistics (np.mean, np.cov), its distance."""
    stats = [(np.mean(f, axis=0), np.cov(f, rowvar=False)) for f in (features_a, features_b)]
    return float(fid_score.calculate_frechet_distance(*stats[0], *stats[1]))


def test_jaxgan_files_read_by_pytorch_fid_give_its_fid(scene, tmp_path):
    evaluator, real, fake = scene
    measured = evaluator.measure(_generate)["fid"]
    assert measured == pytest.approx(pytorch_fid_of(fake, real), abs=1e-6)
    real_path = stats_file.write_stats(tmp_path / "real.npz", evaluator.real_stats())
    generated = evaluator.generated_stats(_generate)
    fake_path = stats_file.write_stats(tmp_path / "fake.npz",
                                       stats_file.from_feature_stats(generated.features, "generated", "pixels"))
    # pytorch-fid's own reader of a .npz path (the model is not used for one) and its distance.
    read = [fid_score.compute_statistics_of_path(str(p), None, 50, 16, "cpu") for p in (fake_path, real_path)]
    for mu, sigma in read:
        assert mu.dtype == sigma.dtype == np.float64 and mu.shape == (16,) and sigma.shape == (16, 16)
    mu_r, sigma_r = read[1]
    np.testing.assert_allclose(mu_r, np.mean(real.astype(np.float64), axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(sigma_r, np.cov(real.astype(np.float64), rowvar=False), rtol=1e-10, atol=1e-12)
    assert fid_score.calculate_frechet_distance(*read[0], *read[1]) == pytest.approx(measured, abs=1e-6)


def test_a_file_written_the_pytorch_fid_way_scores_the_same(scene, tmp_path):
    _, real, fake = scene
    path = tmp_path / "pytorch_fid_stats.npz"
    np.savez(path, mu=np.mean(real, axis=0), sigma=np.cov(real, rowvar=False))  # no other keys
    stats = stats_file.read_stats(path, 16, features="pixels")
    assert (stats.num_images, stats.split, stats.features) == (None, None, None)
    config = load_config(FASHION_CONFIG, [f"eval.num_samples={NUM_SAMPLES}", "eval.batch_size=100"])
    evaluator = Evaluator(config, extractor=ProjectedPixels(), real=scene[0].real)
    evaluator.use_real_stats(stats, str(path))
    result = evaluator.measure(_generate)
    assert result["fid"] == pytest.approx(pytorch_fid_of(fake, real), abs=1e-6)
    assert result["kid"] is None  # a statistics file holds no features
    assert evaluator.floor()["fid"] > 0 and evaluator.floor()["kid"] is None


def test_what_jaxgan_writes_it_reads_back_with_where_it_came_from(scene, tmp_path):
    evaluator = scene[0]
    stats = evaluator.real_stats()
    back = stats_file.read_stats(stats_file.write_stats(tmp_path / "r.npz", stats), 16, "pixels")
    assert (back.num_images, back.split, back.features) == (500, "train", "pixels")
    np.testing.assert_array_equal(back.mu, stats.mu)
    np.testing.assert_array_equal(back.sigma, stats.sigma)
    with pytest.raises(JaxganError, match="statistics of other features"):
        stats_file.read_stats(tmp_path / "r.npz", 16, "classifier fashion_mnist data 0 weights 0")


def _bad_files(tmp_path, dim: int):
    """{case: (path, what its error line says)} for features of `dim` dimensions."""
    good_mu, good_sigma = np.zeros(dim), np.eye(dim)
    sigma_nan = good_sigma.copy()
    sigma_nan[3, 3] = np.nan
    cases = {
        "wrong dimension": (dict(mu=np.zeros(2048), sigma=np.eye(2048)), f"features here are {dim}-d"),
        "missing key": (dict(mu=good_mu, cov=good_sigma), "no 'sigma' array"),
        "non-finite": (dict(mu=good_mu, sigma=sigma_nan), "1 non-finite value"),
        "not numbers": (dict(mu=np.array(["a"] * dim), sigma=good_sigma), "not real numbers"),
    }
    paths = {}
    for name, (arrays, message) in cases.items():
        paths[name] = (tmp_path / f"{name.replace(' ', '_')}.npz", message)
        np.savez(paths[name][0], **arrays)
    (tmp_path / "garbage.npz").write_bytes(b"not a zip file at all")
    paths["unreadable"] = (tmp_path / "garbage.npz", "unreadable as an .npz")
    np.save(tmp_path / "single.npy", good_mu)
    paths["a .npy"] = (tmp_path / "single.npy", "a single .npy array")
    np.savez(tmp_path / "pickled.npz", mu=np.array([{"a": 1}], dtype=object), sigma=good_sigma)
    paths["pickled objects"] = (tmp_path / "pickled.npz", "unreadable as an .npz")
    paths["absent"] = (tmp_path / "absent.npz", "no such statistics file")
    return paths


def test_bad_statistics_files_are_one_line(tmp_path):
    for name, (path, message) in _bad_files(tmp_path, 16).items():
        with pytest.raises(JaxganError) as e:
            stats_file.read_stats(path, 16)
        assert message in str(e.value) and str(path) in str(e.value), name
        assert "\n" not in str(e.value), name


# ----------------------------------------------------------------------------------------------
# The evaluate command line, on a run folder and its (cached) domain classifier


def test_evaluate_saves_reads_and_reports_statistics(trained, monkeypatch, tmp_path, capsys):  # noqa: F811
    data, run, cache = trained
    monkeypatch.setenv("JAXGAN_CACHE", str(cache))
    real, fake, computed = tmp_path / "real.npz", tmp_path / "fake.npz", tmp_path / "computed.json"
    args = ["--run", str(run), "--num-samples", "150"]
    assert evaluate_cli.main([*args, "--save-stats", str(real), "--fake-stats", str(fake), "--json", str(computed)]) == 0
    table = capsys.readouterr().out
    assert "FID statistics: real computed from the real images: train split, 600 images" in table
    assert f"wrote {real}" in table and f"wrote {fake}" in table
    first = json.loads(computed.read_text())
    assert first["statistics"]["real"]["source"] == "computed"
    assert first["statistics"]["generated"]["num_images"] == 150
    assert stats_file.read_stats(fake, 128).split == "generated"

    from_file = tmp_path / "from_file.json"
    assert evaluate_cli.main([*args, "--real-stats", str(real), "--json", str(from_file)]) == 0
    table = capsys.readouterr().out
    assert f"FID statistics: real read from {real}" in table and "train split, 600 images" in table
    second = json.loads(from_file.read_text())
    assert second["statistics"]["real"] == {"source": str(real), "split": "train", "num_images": 600,
                                            "features": first["statistics"]["real"]["features"], "written_to": []}
    assert second["generated"]["fid"] == pytest.approx(first["generated"]["fid"], rel=1e-9)
    assert second["floor"]["fid"] == pytest.approx(first["floor"]["fid"], rel=1e-9)
    assert second["generated"]["kid"] is None and "n/a" in table

    # --config: the recipe's real statistics only, the same as the run's.
    again = tmp_path / "again.npz"
    assert evaluate_cli.main(["--config", str(run / "config.yaml"), "--save-stats", str(again)]) == 0
    np.testing.assert_array_equal(stats_file.read_stats(again, 128).sigma, stats_file.read_stats(real, 128).sigma)
    capsys.readouterr()


def test_evaluate_refuses_bad_statistics_in_one_line(trained, monkeypatch, tmp_path, capsys):  # noqa: F811
    data, run, cache = trained
    monkeypatch.setenv("JAXGAN_CACHE", str(cache))
    cases = _bad_files(tmp_path, 128)  # the classifier's 128-d features; all cases: the test above
    for name in ("wrong dimension", "missing key", "non-finite", "unreadable"):
        path, message = cases[name]
        out = tmp_path / f"{path.stem}.json"
        code = evaluate_cli.main(["--run", str(run), "--num-samples", "50", "--real-stats", str(path),
                                  "--json", str(out), "--fake-stats", str(tmp_path / "fake.npz")])
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.startswith("error: ") and "\n" not in err, (name, err)
        assert message in err and str(path) in err, (name, err)
        assert not out.exists() and not (tmp_path / "fake.npz").exists(), name
    for argv, message in (
        (["--config", str(run / "config.yaml")], "give --save-stats"),
        (["--run", str(run), "--save-stats", str(tmp_path / "x.npy")], "ending in .npz"),
        (["--run", str(run), "--save-stats", str(tmp_path / "a.npz"), "--real-stats", str(tmp_path / "b.npz")],
         "with --real-stats"),
    ):
        assert evaluate_cli.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err
