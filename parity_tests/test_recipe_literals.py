"""Every shipped recipe file holds its seed's literal hyperparameters.

torch_ref's seed modules own the seeds' values (each module's RECIPE, next to the lines that
set them); a recipe file that says otherwise fails here, naming the key. The parity tests
cannot see such a mistake on their own when both sides read the same wrong value. The RECIPE
tables themselves are checked against the seed code they sit beside: its optimisers, its
LeakyReLU slopes, its layer widths.
"""

from __future__ import annotations

import pytest
import torch

from jaxgan.config import CONFIG_DIR, load_config, recipe_names
from torch_ref import models
from torch_ref.steps import seed_optimizers


@pytest.mark.parametrize("recipe", sorted(models.SEED_MODULES))
def test_recipe_file_holds_the_seeds_values(recipe):
    config = load_config(CONFIG_DIR / f"{recipe}.yaml")
    assert models.seed_name(config) == recipe
    wrong = [f"{key}: {models.recipe_value(config, key)!r} in configs/{recipe}.yaml, the seed's is {value!r}"
             for key, value in models.SEED_MODULES[recipe].RECIPE.items() if models.recipe_value(config, key) != value]
    assert not wrong, "\n".join(wrong)


def test_every_shipped_recipe_has_a_seed_module():
    assert sorted(recipe_names()) == sorted([*models.SEED_MODULES, *models.ON_OTHER_DATA])


@pytest.mark.parametrize("recipe", sorted(models.ON_OTHER_DATA))
def test_a_seeds_networks_on_other_data_keep_its_model_loss_and_optimisers(recipe):
    config = load_config(CONFIG_DIR / f"{recipe}.yaml")
    seed = models.ON_OTHER_DATA[recipe]
    assert models.seed_name(config) == seed
    wrong = [f"{key}: {models.recipe_value(config, key)!r} in configs/{recipe}.yaml, seed's {value!r}"
             for key, value in models.SEED_MODULES[seed].RECIPE.items()
             if key.startswith(("model.", "loss.", "optimizer.")) and models.recipe_value(config, key) != value]
    assert not wrong, "\n".join(wrong)
    # torch_ref builds the seed's own classes, with the data's channels as their nc ...
    shape = (config.data.image_size, config.data.image_size, config.data.channels)
    with torch.device("meta"):
        G, D = models.build(config, shape)
    seed_classes = models.SEED_MODULES[seed]
    assert type(G) is seed_classes.Generator and type(D) is seed_classes.Discriminator
    convs = [m for net in (G, D) for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert convs[len(convs) // 2 - 1].out_channels == config.data.channels == convs[len(convs) // 2].in_channels
    # ... and refuses the recipe as soon as anything else differs from the seed's.
    from jaxgan.errors import JaxganError

    for key, value in (("model.generator.width", 32), ("loss.kind", "mse"), ("optimizer.generator.b1", 0.9)):
        with pytest.raises(JaxganError, match=key):
            models.build(load_config(CONFIG_DIR / f"{recipe}.yaml", [f"{key}={value}"]), shape)


def _module_values(recipe: str) -> dict:
    """What the seed's own code sets, read from the objects it builds."""
    G, D = models.seed_networks(recipe)
    g_opt, d_opt, _ = seed_optimizers(models.SEED_MODULES[recipe], G, D)
    out = {}
    for net, opt in (("generator", g_opt), ("discriminator", d_opt)):
        group = opt.param_groups[0]
        out[f"optimizer.{net}.name"] = type(opt).__name__.lower()
        out[f"optimizer.{net}.lr"] = group["lr"]
        if "betas" in group:
            out[f"optimizer.{net}.b1"], out[f"optimizer.{net}.b2"] = group["betas"]
            out[f"optimizer.{net}.eps"] = group["eps"]
    for net, module in (("generator", G), ("discriminator", D)):
        slopes = {m.negative_slope for m in module.modules() if isinstance(m, torch.nn.LeakyReLU)}
        if models.FLAVOURS[recipe] in ("fashion_mlp", "book"):  # the DCGANs' 0.2 has no recipe key
            if slopes:
                out[f"model.{net}.negative_slope"] = slopes.pop() if len(slopes) == 1 else sorted(slopes)
            out[f"model.{net}.hidden"] = [m.out_features for m in module.modules()
                                          if isinstance(m, torch.nn.Linear)][:-1]
    return out


@pytest.mark.parametrize("recipe", sorted(models.SEED_MODULES))
def test_recipe_tables_say_what_the_seed_code_does(recipe):
    table = models.SEED_MODULES[recipe].RECIPE
    with torch.device("meta"):
        values = _module_values(recipe)
    for key, value in values.items():
        assert key in table, f"{recipe}: RECIPE lacks {key} (the seed code sets {value!r})"
        assert table[key] == pytest.approx(value), f"{recipe}: RECIPE says {key}={table[key]!r}, the code {value!r}"
