"""Weight conversion (jaxgan.interop, jaxgan.convert): exact round trips for every recipe,
refusal of a checkpoint that does not fit the recipe, and a jaxgan-trained generator that
samples the same images in torch_ref."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jaxgan import convert_cli
from jaxgan.interop import jax_runs, weights
from jaxgan.interop.layouts import net_layouts
from jaxgan.config import CONFIG_DIR, load_config
from jaxgan.errors import JaxganError
from jaxgan.gan import build_gan
from jaxgan.steps import make_generate
from jaxgan.run.loop import train_and_evaluate
from parity_tests.conftest import FASHION
from parity_tests.recipes import RECIPES, SETTINGS, load_recipe
from parity_tests.twins import jax_init, torch_init
from torch_ref import models


def _adam_state(module: torch.nn.Module, cfg, seed: int) -> dict:
    """The recipe's torch Adam state_dict with random moments, as after some steps."""
    g = torch.Generator().manual_seed(seed)
    params = list(module.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.b1, cfg.b2), eps=cfg.eps)
    state = {i: {"step": torch.tensor(7.0), "exp_avg": torch.randn(p.shape, generator=g),
                 "exp_avg_sq": torch.rand(p.shape, generator=g)} for i, p in enumerate(params)}
    return {"state": state, "param_groups": opt.state_dict()["param_groups"]}


@pytest.mark.parametrize("recipe", RECIPES)
def test_torch_to_jax_to_torch_is_exact(recipe):
    config, shape = load_recipe(recipe), SETTINGS[recipe].image_shape
    G, D = torch_init(recipe)
    ckpt = {"generator": G.state_dict(), "discriminator": D.state_dict(), "step": 7}
    if config.optimizer.generator.name == "adam":
        ckpt["optimizer_g"] = _adam_state(G, config.optimizer.generator, 1)
        ckpt["optimizer_d"] = _adam_state(D, config.optimizer.discriminator, 2)
    back = weights.to_torch(config, weights.from_torch(config, ckpt, shape, template=jax_init(recipe)), shape)
    assert back["step"] == 7
    layouts = net_layouts(config, shape)
    for net in ("generator", "discriminator"):
        assert list(back[net]) == list(ckpt[net])  # same keys, same order
        for key, value in ckpt[net].items():
            if key.endswith("num_batches_tracked"):  # not kept by jaxgan: rebuilt from the step
                assert back[net][key] == 7 * layouts[net].passes_per_step
                continue
            np.testing.assert_array_equal(back[net][key], value.numpy(), err_msg=f"{net} {key}")
    for opt in ("optimizer_g", "optimizer_d") if "optimizer_g" in ckpt else ():
        for i, entry in ckpt[opt]["state"].items():
            for name, value in entry.items():
                np.testing.assert_array_equal(back[opt]["state"][i][name], value.numpy(), err_msg=f"{opt} {i} {name}")
        assert back[opt]["param_groups"] == ckpt[opt]["param_groups"]


def test_a_checkpoint_that_does_not_fit_is_refused_naming_the_first_tensor():
    G, D = torch_init("gan_fashion_mnist")
    ckpt = {"generator": G.state_dict(), "discriminator": D.state_dict()}
    narrower = load_config(FASHION, ["model.generator.hidden=[256,128]"])
    expected = r"generator tensor '2.weight' has shape \(256, 256\), the recipe expects \(128, 256\)"
    with pytest.raises(JaxganError, match=expected):
        weights.from_torch(narrower, ckpt, (28, 28, 1))
    with pytest.raises(JaxganError, match="generator has no tensor 'model.0.weight'"):
        weights.from_torch(load_recipe("myfgan_mnist"), ckpt, (28, 28, 1), template=jax_init("myfgan_mnist"))
    extra = {**ckpt, "discriminator": {**D.state_dict(), "extra": G.state_dict()["0.bias"]}}
    with pytest.raises(JaxganError, match="discriminator has tensor 'extra', which this recipe's network does not"):
        weights.from_torch(load_recipe("gan_fashion_mnist"), extra, (28, 28, 1), template=jax_init("gan_fashion_mnist"))
    with pytest.raises(JaxganError, match="not a torch_ref checkpoint"):
        weights.from_torch(load_recipe("gan_fashion_mnist"), {"netG": G.state_dict()}, (28, 28, 1))


def test_cli_converts_both_ways_and_errors_are_one_line(tmp_path, capsys):
    config = load_recipe("gan_fashion_mnist")
    torch.manual_seed(3)
    G, D = models.build(config, (28, 28, 1))
    src = tmp_path / "torch.pt"
    torch.save({"generator": G.state_dict(), "discriminator": D.state_dict(), "step": 5}, src)
    jax_dir = tmp_path / "jax"
    assert convert_cli.main(["--config", str(FASHION), "--from-torch", str(src), "--to-jax", str(jax_dir)]) == 0
    assert (tmp_path / "jax" / "config.yaml").is_file() and (tmp_path / "jax" / "checkpoints" / "5").is_dir()
    out = tmp_path / "back.pt"
    assert convert_cli.main(["--config", str(FASHION), "--from-jax", str(jax_dir), "--to-torch", str(out)]) == 0
    back = torch.load(out, weights_only=True)
    assert back["step"] == 5
    for key, value in G.state_dict().items():
        assert torch.equal(back["generator"][key], value)
    capsys.readouterr()

    maxout = str(CONFIG_DIR / "gan_maxout_mnist.yaml")
    fashion, src, jax_dir, t = str(FASHION), str(src), str(jax_dir), tmp_path
    cases = [
        ([maxout, "--from-torch", src, "--to-jax", str(t / "x")], "generator has no tensor 'linear_1.weight'"),
        ([maxout, "--from-jax", jax_dir, "--to-torch", str(t / "y.pt")], "checkpoint has no g/params/linear_1"),
        ([fashion, "--from-torch", str(t / "missing.pt"), "--to-jax", str(t / "z")], "no such checkpoint file"),
        ([fashion, "--from-torch", src, "--to-jax", jax_dir], "already holds a jaxgan checkpoint"),
    ]
    for argv, message in cases:
        assert convert_cli.main(["--config", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_jaxgan_trained_generator_samples_the_same_images_in_torch(tmp_path, tiny):
    """Train with jaxgan's own loop, convert the checkpoint with the CLI, sample in torch_ref."""
    config = load_config(FASHION, tiny)
    train_and_evaluate(config, tmp_path / "run", progress=False)
    out = tmp_path / "g.pt"
    assert convert_cli.main(["--config", str(FASHION), *sum((["--set", o] for o in tiny), []),
                             "--from-jax", str(tmp_path / "run"), "--to-torch", str(out)]) == 0
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["step"] == 12
    G = models.build(config, (28, 28, 1))[0]
    G.load_state_dict(ckpt["generator"])
    models.set_mode(G, False)
    state = jax_runs.restore_jax_checkpoint(config, tmp_path / "run")
    z = np.random.default_rng(0).standard_normal((32, config.model.z_dim)).astype(np.float32)
    ours = np.asarray(make_generate(build_gan(config, (28, 28, 1)))(state, z)).reshape(32, -1)
    with torch.no_grad():
        theirs = G(torch.from_numpy(z)).numpy()
    assert np.max(np.abs(ours - theirs)) <= 1e-5
