"""jaxgan's torch-exact layers and the seed 000/003/004 networks against torch.nn, on the CPU.

Same weights (converted by the documented layout change), same inputs: forwards agree to 1e-5
absolute, gradients to 1e-4 relative (max |jax - torch| / max |torch|, per tensor), BatchNorm
running statistics to 1e-5 relative. The torch modules are the seeds' own classes (torch_ref).

Layouts: Linear W (out, in) -> kernel W.T; Conv2d W (out, in, kh, kw) and ConvTranspose2d
W (in, out, kh, kw) -> kernel W.transpose(2, 3, 1, 0); activations NCHW <-> NHWC.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxgan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from jaxgan.models.layers import (
    TorchBatchNorm,
    TorchConv2d,
    TorchConvTranspose2d,
    torch_conv,
    torch_conv_transpose,
)
from jaxgan.models.maxout import Maxout, MaxoutDiscriminator, MaxoutGenerator
from torch_ref import dcgan_celeba, gan_maxout_mnist
from jaxgan.ops.conv import conv2d, conv2d_reference, conv_transpose2d, conv_transpose2d_reference

FWD_ATOL = 1e-5
GRAD_RTOL = 1e-4


# --- helpers ---------------------------------------------------------------------------------


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


def nhwc(t: torch.Tensor) -> np.ndarray:
    return _np(t).transpose(0, 2, 3, 1)


def nchw(a) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.asarray(a).transpose(0, 3, 1, 2)))


def conv_kernel(w: torch.Tensor) -> jnp.ndarray:
    """Conv2d (out, in, kh, kw) -> (kh, kw, in, out); ConvTranspose2d (in, out, kh, kw) -> (kh, kw, out, in)."""
    return jnp.asarray(_np(w).transpose(2, 3, 1, 0))


def dense(linear: torch.nn.Linear) -> dict:
    return {"kernel": jnp.asarray(_np(linear.weight).T), "bias": jnp.asarray(_np(linear.bias))}


def assert_grad_close(jax_grad, torch_grad):
    jax_grad, torch_grad = np.asarray(jax_grad), np.asarray(torch_grad)
    assert jax_grad.shape == torch_grad.shape
    scale = np.max(np.abs(torch_grad))
    err = np.max(np.abs(jax_grad - torch_grad)) / scale
    assert err <= GRAD_RTOL, f"relative gradient error {err:.2e}"


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def randn(seed: int, *shape, loc=0.0, scale=1.0) -> np.ndarray:
    return rng(seed).normal(loc, scale, shape).astype(np.float32)


# --- BatchNorm -------------------------------------------------------------------------------


def _torch_bn_pair(channels: int, dims: int, seed: int):
    bn = (torch.nn.BatchNorm2d if dims == 2 else torch.nn.BatchNorm1d)(channels)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(randn(seed, channels, loc=1.0, scale=0.3)))
        bn.bias.copy_(torch.from_numpy(randn(seed + 1, channels, scale=0.3)))
    variables = {
        "params": {"scale": jnp.asarray(_np(bn.weight)), "bias": jnp.asarray(_np(bn.bias))},
        "batch_stats": {"mean": jnp.zeros(channels), "var": jnp.ones(channels)},
    }
    return bn, variables


@pytest.mark.parametrize("dims", [2, 1])
def test_batchnorm_train_stats_and_eval(dims):
    channels = 5
    bn, variables = _torch_bn_pair(channels, dims, seed=0)
    module = TorchBatchNorm()
    shape = (4, channels, 3, 2) if dims == 2 else (6, channels)  # n = 24 and 6 per channel
    to_jax = nhwc if dims == 2 else _np
    bn.train()
    for call in range(3):  # running stats move once per call
        x = torch.from_numpy(randn(10 + call, *shape, loc=2.0 + call, scale=3.0))
        expected = bn(x)
        y, mutated = module.apply(variables, jnp.asarray(to_jax(x)), train=True, mutable=["batch_stats"])
        variables = {**variables, **mutated}
        np.testing.assert_allclose(y, to_jax(expected), atol=FWD_ATOL, rtol=0)
    np.testing.assert_allclose(variables["batch_stats"]["mean"], _np(bn.running_mean), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(variables["batch_stats"]["var"], _np(bn.running_var), rtol=1e-5, atol=1e-6)

    bn.eval()
    x = torch.from_numpy(randn(20, *shape, loc=1.0, scale=2.0))
    y = module.apply(variables, jnp.asarray(to_jax(x)), train=False)
    np.testing.assert_allclose(y, to_jax(bn(x)), atol=FWD_ATOL, rtol=0)


def test_batchnorm_train_gradients():
    bn, variables = _torch_bn_pair(4, 2, seed=1)
    x = torch.from_numpy(randn(2, 3, 4, 5, 5, loc=1.0, scale=2.0)).requires_grad_()
    ct = randn(3, 3, 5, 5, 4)
    bn.train()
    bn(x).backward(nchw(ct))

    def f(params, x):
        return TorchBatchNorm().apply({**variables, "params": params}, x, train=True, mutable=["batch_stats"])[0]

    _, vjp = jax.vjp(f, variables["params"], jnp.asarray(nhwc(x)))
    g_params, g_x = vjp(jnp.asarray(ct))
    assert_grad_close(g_x, nhwc(x.grad))
    assert_grad_close(g_params["scale"], _np(bn.weight.grad))
    assert_grad_close(g_params["bias"], _np(bn.bias.grad))


def test_init_does_not_move_stats_and_flax_batchnorm_differs():
    x = jnp.asarray(randn(4, 8, 3, loc=2.0, scale=3.0))
    v = TorchBatchNorm().init(jax.random.PRNGKey(0), x, train=True)  # even with train=True
    np.testing.assert_array_equal(v["batch_stats"]["mean"], 0.0)
    np.testing.assert_array_equal(v["batch_stats"]["var"], 1.0)
    # Why TorchBatchNorm exists: flax's BatchNorm averages the *biased* variance (n = 8 here).
    _, ours = TorchBatchNorm().apply(v, x, train=True, mutable=["batch_stats"])
    flax_bn = nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5)
    _, theirs = flax_bn.apply(flax_bn.init(jax.random.PRNGKey(0), x), x, mutable=["batch_stats"])
    np.testing.assert_allclose(ours["batch_stats"]["mean"], theirs["batch_stats"]["mean"], rtol=1e-6)
    biased = np.var(np.asarray(x), axis=0)
    np.testing.assert_allclose(theirs["batch_stats"]["var"], 0.9 + 0.1 * biased, rtol=1e-5)
    np.testing.assert_allclose(ours["batch_stats"]["var"], 0.9 + 0.1 * biased * 8 / 7, rtol=1e-5)


# --- convolutions ----------------------------------------------------------------------------


def _conv_parity(torch_layer, module, x_nchw: np.ndarray, seed: int):
    x = torch.from_numpy(x_nchw).requires_grad_()
    out = torch_layer(x)
    ct = randn(seed, *out.shape)
    out.backward(torch.from_numpy(ct))
    kernel = conv_kernel(torch_layer.weight)

    def f(kernel, x):
        return module.apply({"params": {"kernel": kernel}}, x)

    y, vjp = jax.vjp(f, kernel, jnp.asarray(x_nchw.transpose(0, 2, 3, 1)))
    assert y.shape == nhwc(out).shape
    np.testing.assert_allclose(y, nhwc(out), atol=FWD_ATOL, rtol=0)
    g_kernel, g_x = vjp(jnp.asarray(ct.transpose(0, 2, 3, 1)))
    assert_grad_close(g_x, nhwc(x.grad))
    assert_grad_close(g_kernel, conv_kernel(torch_layer.weight.grad))


@pytest.mark.parametrize(
    "cin,cout,k,s,p,h,w",
    [(3, 4, 4, 2, 1, 8, 8), (5, 2, 3, 1, 1, 7, 5), (4, 1, 4, 1, 0, 4, 4), (2, 3, 3, 2, 0, 9, 7)],
)
def test_conv2d(cin, cout, k, s, p, h, w):
    torch.manual_seed(0)
    layer = torch.nn.Conv2d(cin, cout, k, s, p, bias=False)
    module = torch_conv(cout, k, s, p, name=None)
    _conv_parity(layer, module, randn(1, 2, cin, h, w), seed=2)


@pytest.mark.parametrize(
    "cin,cout,k,s,p,h,w",
    [(6, 4, 4, 1, 0, 1, 1), (4, 3, 4, 2, 1, 4, 4), (3, 2, 3, 2, 1, 5, 3), (2, 5, 5, 3, 2, 3, 4), (3, 3, 3, 1, 1, 4, 4)],
)
def test_conv_transpose2d(cin, cout, k, s, p, h, w):
    torch.manual_seed(0)
    layer = torch.nn.ConvTranspose2d(cin, cout, k, s, p, bias=False)
    module = torch_conv_transpose(cout, k, s, p, name=None)
    _conv_parity(layer, module, randn(1, 2, cin, h, w), seed=2)


# The layers compute conv2d / conv_transpose2d (sub-pixel forward, custom VJP: fast on XLA:CPU);
# these must equal torch AND the straightforward conv2d_reference / conv_transpose2d_reference
# (XLA's strided / lhs-dilated convolution differentiated by JAX), forward and both gradients.
# Shapes: DCGAN's (k4 s2 p1, 1x1 k4 s1 p0, whole-window k4 p0), remainder rows, stride 3, k < s,
# padding > k - 1 (the sub-pixel conv's negative padding), non-square inputs.
_FAST_SHAPES = [
    # cin, cout, k, s, p, h, w
    (5, 4, 4, 2, 1, 4, 4), (6, 3, 4, 1, 0, 1, 1), (4, 2, 4, 1, 0, 4, 4), (3, 2, 3, 2, 1, 6, 5),
    (2, 3, 5, 3, 2, 7, 4), (3, 2, 2, 3, 0, 5, 6), (2, 2, 1, 2, 0, 3, 5), (2, 3, 3, 2, 3, 4, 5),
    (3, 2, 3, 1, 1, 5, 5), (2, 2, 4, 2, 1, 2, 3), (17, 18, 4, 2, 1, 5, 4),  # >= 16 channels: XLA kernel grad
]


def _fast_vs_torch_and_reference(transpose, cin, cout, k, s, p, h, w):
    torch.manual_seed(0)
    layer = (torch.nn.ConvTranspose2d if transpose else torch.nn.Conv2d)(cin, cout, k, s, p, bias=False)
    x = torch.from_numpy(randn(1, 2, cin, h, w)).requires_grad_()
    out = layer(x)
    ct = randn(2, *out.shape)
    out.backward(torch.from_numpy(ct))
    fast, ref = (conv_transpose2d, conv_transpose2d_reference) if transpose else (conv2d, conv2d_reference)
    kernel, xj, ctj = conv_kernel(layer.weight), jnp.asarray(nhwc(x)), jnp.asarray(ct.transpose(0, 2, 3, 1))
    results = {}
    for name, f in (("fast", fast), ("reference", ref)):
        @jax.jit  # one compile instead of one per eager op: keeps the test fast
        def y_and_grads(kernel, x, ct, f=f):
            y, vjp = jax.vjp(lambda kernel, x: f(x, kernel, s, p), kernel, x)
            return (y, *vjp(ct))

        results[name] = y_and_grads(kernel, xj, ctj)
        y = results[name][0]
        np.testing.assert_allclose(y, nhwc(out), atol=FWD_ATOL, rtol=0)
        assert_grad_close(results[name][1], conv_kernel(layer.weight.grad))
        assert_grad_close(results[name][2], nhwc(x.grad))
    for a, b in zip(results["fast"], results["reference"]):
        np.testing.assert_allclose(a, b, atol=1e-5 * float(np.max(np.abs(np.asarray(b)))), rtol=0)


@pytest.mark.parametrize("cin,cout,k,s,p,h,w", _FAST_SHAPES)
def test_conv_transpose2d_fast_equals_torch_and_reference(cin, cout, k, s, p, h, w):
    _fast_vs_torch_and_reference(True, cin, cout, k, s, p, h, w)


# A convolution's input must cover its kernel; a transposed one has no such bound.
_CONV2D_SHAPES = [shape for shape in _FAST_SHAPES if min(shape[5], shape[6]) + 2 * shape[4] >= shape[2]]


@pytest.mark.parametrize("cin,cout,k,s,p,h,w", _CONV2D_SHAPES)
def test_conv2d_fast_equals_torch_and_reference(cin, cout, k, s, p, h, w):
    _fast_vs_torch_and_reference(False, cin, cout, k, s, p, h, w)


@pytest.mark.parametrize("transpose", [False, True])
def test_fast_convs_second_order_gradients_match_reference(transpose):
    # custom VJPs whose backward is itself made of (custom-VJP) convs: grad-of-grad still works
    # (gradient penalties) and equals the reference's.
    fast, ref = (conv_transpose2d, conv_transpose2d_reference) if transpose else (conv2d, conv2d_reference)
    x = jnp.asarray(randn(0, 2, 6, 6, 3))
    kernel = jnp.asarray(randn(1, 4, 4, 3, 2) if not transpose else randn(1, 4, 4, 2, 3))
    ct = jnp.asarray(randn(2, *jax.eval_shape(lambda: ref(x, kernel, 2, 1)).shape))

    def penalty(f):
        def gx(kernel):
            return jax.grad(lambda x: jnp.sum(jnp.tanh(f(x, kernel, 2, 1)) * ct))(x)
        return jax.jit(jax.grad(lambda kernel: jnp.sum(gx(kernel) ** 2)))(kernel)

    want = penalty(ref)
    assert_grad_close(penalty(fast), want)


def test_modules_use_the_fast_convs_and_equal_the_reference():
    x = jnp.asarray(randn(0, 2, 8, 8, 4))
    for module, ref in ((TorchConvTranspose2d(3, 4, 2, 1), conv_transpose2d_reference),
                        (TorchConv2d(3, 4, 2, 1), conv2d_reference)):
        v = jax.jit(module.init)(jax.random.PRNGKey(0), x)
        ct = jnp.asarray(randn(3, *jax.eval_shape(module.apply, v, x).shape))

        @jax.jit
        def both(v, ct, module=module, ref=ref):
            y, vjp = jax.vjp(lambda v: module.apply(v, x), v)
            y_ref, vjp_ref = jax.vjp(lambda kernel: ref(x, kernel, 2, 1), v["params"]["kernel"])
            return y, y_ref, vjp(ct)[0]["params"]["kernel"], vjp_ref(ct)[0]

        y, y_ref, g, g_ref = both(v, ct)
        np.testing.assert_allclose(y, y_ref, atol=FWD_ATOL, rtol=0)
        assert_grad_close(g, g_ref)
        jaxpr = str(jax.make_jaxpr(lambda v: jax.grad(lambda v: jnp.sum(module.apply(v, x)))(v))(v))
        assert "lhs_dilation=(2,2)" not in jaxpr.replace(" ", "")  # no dilated conv anywhere
        assert "custom_vjp" in jaxpr


@pytest.mark.parametrize("transpose", [False, True])
def test_default_init_bound_is_torchs(transpose):
    # torch's kaiming_uniform_(a=sqrt(5)) bound is 1/sqrt(fan_in), fan_in read off the weight
    # tensor: in*k*k for Conv2d (out, in, k, k), out*k*k for ConvTranspose2d (in, out, k, k).
    cin, cout, k = 6, 10, 3
    layer = (torch.nn.ConvTranspose2d if transpose else torch.nn.Conv2d)(cin, cout, k, bias=False)
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(layer.weight)
    assert fan_in == (cout if transpose else cin) * k * k
    module = (TorchConvTranspose2d if transpose else TorchConv2d)(cout, k)
    kernel = module.init(jax.random.PRNGKey(0), jnp.zeros((1, 5, 5, cin)))["params"]["kernel"]
    assert kernel.shape == tuple(conv_kernel(layer.weight).shape)
    bound = 1.0 / np.sqrt(fan_in)
    assert float(jnp.max(jnp.abs(kernel))) <= bound
    assert float(jnp.max(jnp.abs(kernel))) > 0.9 * bound  # 540 draws reach near the edge


# --- seed 004: maxout ------------------------------------------------------------------------


def test_maxout_forward_and_gradients():
    torch.manual_seed(0)
    layer = gan_maxout_mnist.Maxout(12, 7, k=5)
    x = torch.from_numpy(randn(0, 6, 12)).requires_grad_()
    out = layer(x)
    ct = randn(1, 6, 7)
    out.backward(torch.from_numpy(ct))

    def f(params, x):
        return Maxout(7, 5).apply({"params": params}, x)

    y, vjp = jax.vjp(f, {"linear": dense(layer.linear)}, jnp.asarray(_np(x)))
    np.testing.assert_allclose(y, _np(out), atol=FWD_ATOL, rtol=0)
    g_params, g_x = vjp(jnp.asarray(ct))
    assert_grad_close(g_x, _np(x.grad))
    assert_grad_close(g_params["linear"]["kernel"], _np(layer.linear.weight.grad).T)
    assert_grad_close(g_params["linear"]["bias"], _np(layer.linear.bias.grad))


def test_maxout_gan_forward_with_torchs_dropout_mask():
    torch.manual_seed(0)
    tg, td = gan_maxout_mnist.Generator(), gan_maxout_mnist.Discriminator()
    g_params = {f"linear_{i}": dense(getattr(tg, f"linear_{i}")) for i in (1, 2, 3)}
    d_params = {"max_1": {"linear": dense(td.max_1.linear)}, "max_2": {"linear": dense(td.max_2.linear)},
                "linear": dense(td.linear)}
    z = torch.from_numpy(randn(0, 8, 1, 100))  # the seed's torch.randn(BATCH_SIZE, 1, latent_dim)
    fake = tg(z)  # (8, 1, 784)
    images = MaxoutGenerator((28, 28, 1)).apply({"params": g_params}, jnp.asarray(_np(z)[:, 0]))
    np.testing.assert_allclose(images.reshape(8, 784), _np(fake)[:, 0], atol=FWD_ATOL, rtol=0)

    kept = {}

    def record_mask(module, inputs, output):  # returns None: leaves torch's output alone
        kept["mask"] = _np(output) != 0

    td.drop_1.register_forward_hook(record_mask)
    td.train()
    p_torch = td(fake)  # (8, 1)
    d = MaxoutDiscriminator()
    p = d.apply({"params": d_params}, images, train=True, dropout_mask=kept["mask"])
    assert 0.1 < kept["mask"].mean() < 0.3  # torch kept about 1 - p = 20%
    np.testing.assert_allclose(p, _np(p_torch)[:, 0], atol=FWD_ATOL, rtol=0)

    td.eval()
    p = d.apply({"params": d_params}, images, train=False)
    np.testing.assert_allclose(p, _np(td(fake))[:, 0], atol=FWD_ATOL, rtol=0)


# --- seeds 000/003: DCGAN --------------------------------------------------------------------

NZ, NGF, NDF, NC = 100, 16, 16, 3


def torch_generator(nz=NZ, ngf=NGF, nc=NC):
    """Seed 000's Generator's `main` Sequential (torch_ref.dcgan_celeba)."""
    return dcgan_celeba.Generator(1, nz, ngf, nc).main


def torch_discriminator(ndf=NDF, nc=NC):
    """Seed 000's Discriminator's `main` Sequential."""
    return dcgan_celeba.Discriminator(1, ndf, nc).main


def convert_sequential(main: torch.nn.Sequential) -> dict:
    """The mapping documented in jaxgan/models/dcgan.py: main.{i} -> convt{i} / conv{i} / bn{i}."""
    params, stats = {}, {}
    for i, m in enumerate(main):
        if isinstance(m, torch.nn.ConvTranspose2d):
            params[f"convt{i}"] = {"kernel": conv_kernel(m.weight)}
        elif isinstance(m, torch.nn.Conv2d):
            params[f"conv{i}"] = {"kernel": conv_kernel(m.weight)}
        elif isinstance(m, torch.nn.BatchNorm2d):
            params[f"bn{i}"] = {"scale": jnp.asarray(_np(m.weight)), "bias": jnp.asarray(_np(m.bias))}
            stats[f"bn{i}"] = {"mean": jnp.asarray(_np(m.running_mean)), "var": jnp.asarray(_np(m.running_var))}
    return {"params": params, "batch_stats": stats}


def _assert_stats_match(stats, main):
    for i, m in enumerate(main):
        if isinstance(m, torch.nn.BatchNorm2d):
            np.testing.assert_allclose(stats[f"bn{i}"]["mean"], _np(m.running_mean), rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(stats[f"bn{i}"]["var"], _np(m.running_var), rtol=1e-5, atol=1e-7)


def test_dcgan_shapes_map_one_to_one():
    flax_vars = jax.eval_shape(
        lambda: DCGANGenerator(NGF, NC).init(jax.random.PRNGKey(0), jnp.zeros((1, NZ)), train=False))
    converted = convert_sequential(torch_generator())
    assert jax.tree_util.tree_map(lambda a: a.shape, flax_vars) == \
        jax.tree_util.tree_map(lambda a: a.shape, converted)
    flax_vars = jax.eval_shape(
        lambda: DCGANDiscriminator(NDF).init(jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, NC)), train=False))
    converted = convert_sequential(torch_discriminator())
    assert jax.tree_util.tree_map(lambda a: a.shape, flax_vars) == \
        jax.tree_util.tree_map(lambda a: a.shape, converted)


def test_dcgan_generator_and_discriminator_forward():
    torch.manual_seed(999)
    net_g, net_d = torch_generator(), torch_discriminator()
    net_g.apply(dcgan_celeba.weights_init)
    net_d.apply(dcgan_celeba.weights_init)
    g_vars, d_vars = convert_sequential(net_g), convert_sequential(net_d)
    G, D = DCGANGenerator(NGF, NC), DCGANDiscriminator(NDF)
    g_train = jax.jit(lambda v, z: G.apply(v, z, train=True, mutable=["batch_stats"]))
    d_train = jax.jit(lambda v, x: D.apply(v, x, train=True, mutable=["batch_stats"]))

    # train mode, as the seeds run it: BN normalises with batch statistics and moves its stats
    z = torch.from_numpy(randn(0, 4, NZ, 1, 1))
    fake = net_g(z)
    images, g_mut = g_train(g_vars, jnp.asarray(_np(z).reshape(4, NZ)))
    assert images.shape == (4, 64, 64, NC)
    np.testing.assert_allclose(images, nhwc(fake), atol=FWD_ATOL, rtol=0)
    _assert_stats_match(g_mut["batch_stats"], net_g)

    real = torch.from_numpy(np.tanh(randn(1, 4, NC, 64, 64)))
    p_real, d_mut = d_train(d_vars, jnp.asarray(nhwc(real)))
    p_fake, d_mut = d_train({**d_vars, **d_mut}, images)
    with torch.no_grad():
        t_real = net_d(real).view(-1, 1).squeeze(1)  # seed 003's output shape, (B,)
        t_fake = net_d(fake).view(-1, 1).squeeze(1)
    assert p_real.shape == (4,)
    np.testing.assert_allclose(p_real, _np(t_real), atol=FWD_ATOL, rtol=0)
    np.testing.assert_allclose(p_fake, _np(t_fake), atol=FWD_ATOL, rtol=0)
    _assert_stats_match(d_mut["batch_stats"], net_d)

    # eval mode: running statistics
    net_g.eval(), net_d.eval()
    g_vars, d_vars = {**g_vars, **g_mut}, {**d_vars, **d_mut}
    with torch.no_grad():
        images_eval = G.apply(g_vars, jnp.asarray(_np(z).reshape(4, NZ)), train=False)
        np.testing.assert_allclose(images_eval, nhwc(net_g(z)), atol=FWD_ATOL, rtol=0)
        p = D.apply(d_vars, jnp.asarray(nhwc(real)), train=False)
        np.testing.assert_allclose(p, _np(net_d(real)).reshape(-1), atol=FWD_ATOL, rtol=0)
