"""Recipe validation: every shipped recipe loads; every kind of bad input is one clear line."""

import pytest

from jaxgan.config import CONFIG_DIR, load_config, recipe_names
from jaxgan.errors import JaxganError

from tests.conftest import FASHION_CONFIG


@pytest.mark.parametrize("name", recipe_names())
def test_every_recipe_validates(name):
    config = load_config(CONFIG_DIR / f"{name}.yaml")
    assert config.name == name


def test_seed_002_recipe_restates_the_seed():
    c = load_config(FASHION_CONFIG)
    assert c.model.z_dim == 64
    assert c.model.generator.hidden == [256, 256] and c.model.generator.output == "tanh"
    assert c.model.discriminator.negative_slope == 0.2 and c.model.discriminator.output == "sigmoid"
    assert c.train.batch_size == 100 and c.train.epochs == 500
    assert c.optimizer.generator.lr == c.optimizer.discriminator.lr == 2e-4
    assert c.loss.kind == "bce" and c.data.scale == "minus_one_one"


def test_set_overrides_values():
    c = load_config(FASHION_CONFIG, ["train.max_steps=50", "optimizer.generator.lr=1e-3"])
    assert c.train.max_steps == 50 and c.optimizer.generator.lr == 1e-3


def _error(tmp_path, text=None, overrides=()):
    path = FASHION_CONFIG
    if text is not None:
        path = tmp_path / "recipe.yaml"
        path.write_text(text)
    with pytest.raises(JaxganError) as info:
        load_config(path, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unknown_key_suggests_the_closest(tmp_path):
    text = FASHION_CONFIG.read_text().replace("batch_size: 100", "batchsize: 100")
    msg = _error(tmp_path, text)
    assert msg.startswith(f"{tmp_path / 'recipe.yaml'}: unknown key 'train.batchsize'")
    assert "did you mean 'train.batch_size'?" in msg


def test_unknown_set_key_names_the_override():
    msg = _error(None, overrides=["train.max_step=5"])
    assert "(--set train.max_step=5)" in msg and "did you mean 'train.max_steps'?" in msg


def test_wrong_type_names_key_and_value():
    msg = _error(None, overrides=["train.batch_size=lots"])
    assert "key 'train.batch_size'" in msg and "valid integer" in msg and "'lots'" in msg


def test_impossible_value_says_what_is_allowed():
    assert "greater than 0" in _error(None, overrides=["optimizer.generator.lr=-1"])
    assert "'mlp', 'maxout' or 'dcgan'" in _error(None, overrides=["model.arch=resnet"])
    assert "less than 1" in _error(None, overrides=["optimizer.generator.b1=1.5"])


def test_missing_required_key(tmp_path):
    text = FASHION_CONFIG.read_text().replace("  z_dim: 64", "")
    assert "missing required key 'model.z_dim'" in _error(tmp_path, text)


def test_malformed_yaml_gives_line(tmp_path):
    msg = _error(tmp_path, "name: x\ntrain: [1, 2\nseed: 3\n")
    assert msg.startswith(f"{tmp_path / 'recipe.yaml'}:") and "malformed YAML" in msg


def test_not_a_mapping(tmp_path):
    assert "must be a YAML mapping" in _error(tmp_path, "- a\n- b\n")


def test_missing_file_lists_recipes(tmp_path):
    with pytest.raises(JaxganError, match="no such config file.*gan_fashion_mnist"):
        load_config(tmp_path / "nope.yaml")


def test_bad_set_syntax():
    assert "expected KEY=VALUE" in _error(None, overrides=["train.max_steps"])
