"""End to end: a run folder, its domain classifier, `python -m jaxgan.evaluate` and the
trainer's hook `make_evaluator`, on small labelled IDX files written here."""

from __future__ import annotations

import json

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from jaxgan import evaluate as evaluate_cli
from jaxgan.run.checkpoint import Checkpointer
from jaxgan.config import DataConfig, dump_config, load_config
from jaxgan.errors import JaxganError
from jaxgan.quality import domain_classifier as clf
from jaxgan.quality import make_evaluator
from jaxgan.quality.domain_classifier import DomainCNN
from jaxgan.quality.scoring import Evaluator, RealImages
from jaxgan.quality.labels import load_labelled_splits
from jaxgan.gan import build_gan, init_state
from jaxgan.run.saved_generator import load_generator
from jaxgan.steps import make_generate
from tests.conftest import FASHION_CONFIG, REPO
from tests.test_eval_classifier import write_labelled_idx


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(data dir, run dir, cache dir): 600 labelled images, an (untrained) classifier cached
    for them, and a run folder as jaxgan.train writes it with checkpoints at steps 5 and 10.

    Training either network is tested elsewhere (test_eval_classifier, test_train); here only
    the folders matter, so both are written directly and the tests stay fast.
    """
    base = tmp_path_factory.mktemp("eval")
    data = write_labelled_idx(base / "data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JAXGAN_CACHE", str(base / "cache"))
        labelled = load_labelled_splits(DataConfig(dataset="fashion_mnist", format="idx", root=str(data)))
        params = jax.jit(DomainCNN().init)(jax.random.PRNGKey(0), np.zeros((1, 28, 28, 1), np.float32))["params"]
        clf.save_classifier(params, {"dataset": "fashion_mnist", "architecture": clf.ARCHITECTURE,
                                     "checksum": labelled.checksum, "test_accuracy": 0.1, "epochs": 0,
                                     "num_classes": 10, "feature_dim": 128})
    run = base / "run"
    run.mkdir()
    config = load_config(FASHION_CONFIG, [f"data.root={data}"])
    dump_config(config, run / "config.yaml")
    gan = build_gan(config, (28, 28, 1))
    state = init_state(gan, config.seed)
    checkpointer = Checkpointer(run / "checkpoints")
    for step in (5, 10):
        checkpointer.save(state.replace(step=jnp.asarray(step, jnp.int32)),
                          {"recipe": config.name, "step": step, "epoch": 0, "batch_in_epoch": step,
                           "image_shape": [28, 28, 1]})
    checkpointer.wait()
    checkpointer.close()
    return data, run, base / "cache"


def test_evaluate_cli_writes_json_and_table(trained, monkeypatch, tmp_path, capsys):
    data, run, cache = trained
    monkeypatch.setenv("JAXGAN_CACHE", str(cache))
    out = tmp_path / "eval.json"
    assert evaluate_cli.main(["--run", str(run), "--num-samples", "250", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    for word in ("FID", "KID x10^3", "classes covered", "marginal entropy", "floor (200 real test)", "T-shirt/top"):
        assert word in table
    assert "the test split has only 200 images" in table and "--num-samples 200" in table
    result = json.loads(out.read_text())
    assert result["step"] == 10 and result["features"]["name"] == "classifier"
    g, f = result["generated"], result["floor"]
    assert g["num_images"] == 250 and f["num_images"] == 200  # the floor: 200 real test images
    assert g["kid_subset_size"] == 250 and f["kid_subset_size"] == 200
    for r in (g, f):
        assert np.isfinite(r["fid"]) and r["fid"] > -1e-6
        assert len(r["histogram"]) == 10 and sum(r["histogram"]) == pytest.approx(1.0)
        assert 0 <= r["marginal_entropy"] <= np.log(10) + 1e-9
    assert 1 <= f["classes_covered"] <= 10  # (the classifier here is untrained)

    kid_row = next(line for line in table.splitlines() if line.startswith("KID x10^3"))
    assert kid_row.split()[2] == f"{1e3 * g['kid']:.2f}"

    # One checkpoint step, by its folder; the floor at the score's sample size.
    out50 = tmp_path / "eval50.json"
    assert evaluate_cli.main(["--checkpoint", str(run / "checkpoints" / "5"), "--num-samples", "50",
                              "--json", str(out50)]) == 0
    table = capsys.readouterr().out
    assert "step 5:" in table and "floor (50 real test)" in table and "note:" not in table
    floor50 = json.loads(out50.read_text())["floor"]
    assert floor50["num_images"] == 50 and floor50["fid"] != pytest.approx(f["fid"])


def test_evaluate_without_classifier_trains_one_and_goes_on(trained, monkeypatch, tmp_path, capsys):
    data, run, _ = trained
    cache = tmp_path / "empty"
    monkeypatch.setenv("JAXGAN_CACHE", str(cache))
    command = f"python -m jaxgan.classifier --dataset fashion_mnist --root {data}"
    # --no-train-classifier: stop, with the command that trains it.
    assert evaluate_cli.main(["--run", str(run), "--num-samples", "50", "--no-train-classifier"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("error: ") and command in err
    assert not (cache / "classifiers").exists()
    # By default: one line saying so, the classifier trained and cached as the CLI does, then the report.
    assert evaluate_cli.main(["--run", str(run), "--num-samples", "50"]) == 0
    out = capsys.readouterr().out
    said = [line for line in out.splitlines() if "classifier" in line and "training" in line]
    assert len(said) == 1 and command in said[0]
    assert out.index(said[0]) < out.index("FID")
    (folder,) = (cache / "classifiers").iterdir()
    record = json.loads((folder / "classifier.json").read_text())
    assert (record["epochs"], record["batch_size"], record["seed"]) == (clf.DEFAULT_EPOCHS["fashion_mnist"], 128, 0)
    assert record["test_accuracy"] > 0.5  # the bars are easy to tell apart
    # Cached now: the next evaluation says nothing about training.
    assert evaluate_cli.main(["--run", str(run), "--num-samples", "50"]) == 0
    assert "training" not in capsys.readouterr().out
    assert evaluate_cli.main(["--run", str(tmp_path / "nothing")]) == 2
    assert "not a jaxgan run folder" in capsys.readouterr().err


def test_make_evaluator_is_off_by_default_and_cheap_to_call_again(trained, monkeypatch):
    data, run, cache = trained
    monkeypatch.setenv("JAXGAN_CACHE", str(cache))
    config = load_config(run / "config.yaml")
    assert config.eval.every == 0 and make_evaluator(config) is None
    config = load_config(run / "config.yaml", ["eval.every=5", "eval.num_samples=100", "eval.batch_size=40"])
    evaluator = make_evaluator(config)
    trained_g = load_generator(run)
    generate = make_generate(trained_g.gan)  # as the trainer holds it: built once

    def generator(z):
        return generate(trained_g.state, z)

    first = evaluator(generator)
    reference = evaluator._reference
    second = evaluator(generator)
    assert evaluator._reference is reference  # the real features were computed once
    assert first.keys() >= {"fid", "kid", "kid_std", "classes_covered", "marginal_entropy"}
    assert all(isinstance(v, float) for v in first.values())
    first.pop("eval_s"), second.pop("eval_s")
    assert first == second  # fixed evaluation z: same generator, same numbers
    assert evaluator.is_better(first, None) and not evaluator.is_better(first, first)
    assert evaluator.is_better({"fid": 1.0}, {"fid": 2.0})


def test_rgb_recipe_without_inception_weights_is_one_line(monkeypatch):
    monkeypatch.delenv("JAXGAN_INCEPTION_WEIGHTS", raising=False)
    config = load_config(REPO / "configs" / "dcgan_cifar10.yaml", ["eval.every=100"])
    with pytest.raises(JaxganError) as e:
        make_evaluator(config)
    assert "--inception-weights" in str(e.value) and "\n" not in str(e.value)


class PixelFeatures:
    """A stand-in extractor: 4x4 average-pooled pixels (16-d) and a 2-class 'brightness' vote."""

    name = "pixels"
    feature_dim = 16
    num_classes = 2
    class_names = ["dark", "bright"]
    batch_size = 64

    def features_and_probs(self, images01):
        x = np.asarray(images01, np.float32)[..., 0]
        feats = x[:, :28, :28].reshape(len(x), 4, 7, 4, 7).mean(axis=(2, 4)).reshape(len(x), 16)
        bright = (x.mean(axis=(1, 2)) > 0.15).astype(np.float32)
        return feats, np.stack([1 - bright, bright], axis=1)

    def describe(self):
        return {"name": self.name, "feature_dim": self.feature_dim}


def test_a_generator_of_the_test_images_scores_the_floor():
    # The evaluation pipeline end to end with a stand-in extractor: a "generator" that returns
    # the real test images (mapped to the recipe's [-1, 1]) must score exactly the floor.
    config = load_config(FASHION_CONFIG, ["eval.num_samples=200", "eval.batch_size=50"])
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (500, 28, 28, 1), dtype=np.uint8)
    test = rng.integers(0, 256, (200, 28, 28, 1), dtype=np.uint8)
    evaluator = Evaluator(config, extractor=PixelFeatures(), real=RealImages(train, test, "random"))
    cursor = iter(range(0, 200, 50))

    def generate(z):
        start = next(cursor)
        assert z.shape == (50, 64)
        return test[start : start + 50].astype(np.float32) / 127.5 - 1.0

    generated, floor = evaluator.measure(generate), evaluator.floor()
    # Equal up to float32 rounding of the images' round trip through [-1, 1].
    for key in ("fid", "kid", "kid_std", "classes_covered", "marginal_entropy", "histogram"):
        assert generated[key] == pytest.approx(floor[key], rel=1e-5, abs=1e-7), key


def test_training_evaluates_and_keeps_the_best_checkpoint(trained, monkeypatch, tmp_path):
    """eval.every in a real run: scores in metrics.jsonl, best/<step> and best.json agree."""
    from jaxgan.run.loop import train_and_evaluate

    data, _, cache = trained
    monkeypatch.setenv("JAXGAN_CACHE", str(cache))
    overrides = [f"data.root={data}", "train.batch_size=20", "train.max_steps=20", "train.steps_per_dispatch=10",
                 "train.log_every=10", "train.sample_every=20", "train.checkpoint_every=20",
                 "eval.every=10", "eval.num_samples=100", "eval.batch_size=50"]
    summary = train_and_evaluate(load_config(FASHION_CONFIG, overrides), tmp_path / "run", progress=False)
    lines = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    scored = [l for l in lines if "eval/fid" in l]
    assert [l["step"] for l in scored] == [10, 20]
    best = min(scored, key=lambda l: l["eval/fid"])
    record = json.loads((tmp_path / "run" / "best.json").read_text())
    assert record["step"] == best["step"] == summary["best"]["step"]
    assert record["fid"] == best["eval/fid"]
    assert load_generator(tmp_path / "run" / "best" / str(record["step"])).step == record["step"]


def test_evaluate_scores_every_member_of_a_population_then_mean_and_std(trained, monkeypatch, tmp_path, capsys):
    """A population's run folder: `evaluate` without --member scores each member with one
    evaluator and gives each score's mean ± std over them; --member k scores member k alone."""
    from jaxgan.population import init_population

    data, _, cache = trained
    monkeypatch.setenv("JAXGAN_CACHE", str(cache))
    run = tmp_path / "population"
    run.mkdir()
    config = load_config(FASHION_CONFIG, [f"data.root={data}", "train.population=3"])
    dump_config(config, run / "config.yaml")
    states = init_population(build_gan(config, (28, 28, 1)), config.seed, 3)
    checkpointer = Checkpointer(run / "checkpoints")
    checkpointer.save(states, {"recipe": config.name, "step": 0, "epoch": 0, "batch_in_epoch": 0,
                               "image_shape": [28, 28, 1], "population": 3, "frozen": []})
    checkpointer.wait()
    checkpointer.close()

    out = tmp_path / "all.json"
    assert evaluate_cli.main(["--run", str(run), "--num-samples", "100", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "population of 3 members, mean ± std" in printed
    result = json.loads(out.read_text())
    fids = [m["generated"]["fid"] for m in result["members"]]
    assert [m["member"] for m in result["members"]] == [0, 1, 2]
    assert len(set(fids)) == 3, f"the members were scored alike: {fids}"
    assert result["spread"]["fid"]["mean"] == pytest.approx(np.mean(fids))
    assert result["spread"]["fid"]["std"] == pytest.approx(np.std(fids, ddof=1))

    one = tmp_path / "one.json"
    assert evaluate_cli.main(["--run", str(run), "--num-samples", "100", "--member", "1", "--json", str(one)]) == 0
    assert json.loads(one.read_text())["generated"]["fid"] == pytest.approx(fids[1], rel=1e-6)
