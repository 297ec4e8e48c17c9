"""torch-tuned computes what torch_ref computes: the same losses and D outputs, step after
step, from the same weights and inputs (uncompiled, on the CPU, to float32 tolerance)."""

from __future__ import annotations

import pytest
import torch

from jaxgan.config import CONFIG_DIR, load_config
from jaxgan.errors import JaxganError
from torch_ref.steps import build_gan, fixed_dropout, train_step
from torch_ref.tuned import METRICS, LogWindow, TunedStep, build_tuned

CPU = torch.device("cpu")
RECIPES = {  # recipe, overrides, image shape (H, W, C)
    "dcgan": ("dcgan_celeba", [], (64, 64, 3)),
    "mlp": ("gan_fashion_mnist", [], (28, 28, 1)),
    "maxout": ("gan_maxout_mnist", [], (28, 28, 1)),
}


def _inputs(config, shape, steps: int, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    b, h, w, c = 6, *shape
    real = [torch.rand(b, c, h, w, generator=gen) * 2 - 1 for _ in range(steps)]
    z = [torch.randn(b, config.model.z_dim, generator=gen) for _ in range(steps)]
    return real, z


def _pair(name: str, overrides=()):
    recipe, small, shape = RECIPES[name]
    config = load_config(CONFIG_DIR / f"{recipe}.yaml", [*small, *overrides])
    torch.manual_seed(0)
    reference = build_gan(config, shape)
    torch.manual_seed(0)
    tuned = build_tuned(config, shape, CPU)
    return config, shape, reference, tuned


def _maxout_masks(gen: torch.Generator, b: int):
    """Keep masks for the three D passes of a step, one (B, 240) mask for its one Dropout."""
    return [[torch.rand(b, 240, generator=gen) > 0.8] for _ in range(3)]  # drop_1, p=0.8


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_tuned_step_equals_the_reference_step(name):
    config, shape, reference, tuned = _pair(name)
    for a, b in zip(reference.generator.state_dict().values(), tuned.gan.generator.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # the same weights to start from
    real, z = _inputs(config, shape, steps=3)
    gen = torch.Generator().manual_seed(2)
    g_z = z[::-1] if name == "maxout" else [None] * 3  # seed 004 draws fresh noise for the G step
    for x, noise, fresh in zip(real, z, g_z):
        masks = _maxout_masks(gen, x.size(0)) if name == "maxout" else None
        want = train_step(reference, x, noise, fresh, masks) if masks else train_step(reference, x, noise, fresh)
        with fixed_dropout(tuned.gan.discriminator, masks):
            got = tuned(tuned.prepare(x), noise, fresh)
        assert got.shape == (len(METRICS),) and got.dtype == torch.float32
        torch.testing.assert_close(got, torch.tensor([want[k] for k in METRICS]), rtol=1e-5, atol=1e-6)
    for a, b in zip(reference.discriminator.parameters(), tuned.gan.discriminator.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)  # and the same weights after three updates


def test_channels_last_computes_the_same_in_float64():
    """The GPU's layout, checked where rounding cannot hide a difference (oneDNN's float32
    channels_last gradients on the CPU are off by up to a few percent, so the CPU runs NCHW)."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        config, shape, reference, tuned = _pair("dcgan")
        tuned = TunedStep(tuned.gan, channels_last=True)
        assert tuned.gan.discriminator.main[0].weight.is_contiguous(memory_format=torch.channels_last)
        real, z = _inputs(config, shape, steps=2)
        for x, noise in zip(real, z):
            want = train_step(reference, x, noise)
            got = tuned(tuned.prepare(x), noise)
            assert got.dtype == torch.float64
            torch.testing.assert_close(got, torch.tensor([want[k] for k in METRICS]), rtol=1e-10, atol=1e-12)
    finally:
        torch.set_default_dtype(default)


def test_adam_is_foreach_on_the_cpu_with_the_seed_hyper_parameters():
    config, _, reference, tuned = _pair("dcgan")
    assert tuned.gan.d_opt.defaults["foreach"] is True  # fused on CUDA
    for opt, seed_opt in ((tuned.gan.d_opt, reference.d_opt), (tuned.gan.g_opt, reference.g_opt)):
        for key in ("lr", "betas", "eps", "weight_decay"):
            assert opt.defaults[key] == seed_opt.defaults[key], key


def test_bfloat16_autocast_stays_close_to_float32():
    config, shape, _, full = _pair("dcgan")
    _, _, _, mixed = _pair("dcgan", ["model.precision=bfloat16"])
    real, z = _inputs(config, shape, steps=1)
    a = full(full.prepare(real[0]), z[0])
    b = mixed(mixed.prepare(real[0]), z[0])
    assert b.dtype == torch.float32
    torch.testing.assert_close(b, a, rtol=0.05, atol=0.02)  # bf16 keeps ~3 significant digits
    assert not torch.equal(a, b)  # and it did run in bfloat16


def test_log_window_reads_the_mean_once_per_window():
    window = LogWindow()
    window.add(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]))
    window.add(torch.tensor([3.0, 4.0, 5.0, 6.0, 7.0]))
    assert window.read() == dict(zip(METRICS, [2.0, 3.0, 4.0, 5.0, 6.0]))
    assert window.count == 0 and window.total is None


def test_the_book_and_bad_compile_modes_are_refused():
    config = load_config(CONFIG_DIR / "myfgan_mnist.yaml")
    with pytest.raises(JaxganError, match="use the 'torch' backend"):
        build_tuned(config, (28, 28, 1), CPU)
    config = load_config(CONFIG_DIR / "gan_fashion_mnist.yaml")
    with pytest.raises(JaxganError, match="choose from none, default"):
        build_tuned(config, (28, 28, 1), CPU, compile_mode="fastest")


def test_channels_last_only_for_the_uncompiled_step_on_cuda():
    """Compiled on CUDA, channels_last stops at inductor's stride check (torch 2.11, H200)."""
    from torch_ref.tuned import COMPILE_MODES, uses_channels_last

    assert uses_channels_last("cuda", "none")
    assert not any(uses_channels_last("cuda", mode) for mode in COMPILE_MODES if mode != "none")
    assert not any(uses_channels_last("cpu", mode) for mode in COMPILE_MODES)
