"""The Flax FID Inception against a torch twin of pytorch-fid's network, on random weights.

The torch side below restates pytorch-fid's `fid_inception_v3()` (torchvision's Inception3
with FIDInceptionA/C/E_1/E_2 patched in) and its `InceptionV3` forward; its state_dict has the
real file's key names and shapes. Weights are random, so nothing is downloaded; the network is
compared at 75 x 75 (its smallest input, pytorch-fid's resize_input=False) to stay fast, and
the 299 x 299 path is checked for shapes only (jax.eval_shape runs nothing).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.errors import JaxganError
from jaxgan.quality import inception as inc

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
F = torch.nn.functional
from torchvision.models import inception as tv  # noqa: E402


class FIDInceptionA(tv.InceptionA):
    def forward(self, x):
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False))
        return torch.cat([b1, b5, b3, bp], 1)


class FIDInceptionC(tv.InceptionC):
    def forward(self, x):
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            bd = layer(bd)
        bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False))
        return torch.cat([b1, b7, bd, bp], 1)


class FIDInceptionE(tv.InceptionE):
    def __init__(self, in_channels, pool):
        super().__init__(in_channels)
        self.pool = pool

    def forward(self, x):
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.pool == "avg":  # FIDInceptionE_1
            pooled = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        else:  # FIDInceptionE_2
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        return torch.cat([b1, b3, bd, self.branch_pool(pooled)], 1)


def torch_fid_inception(seed: int = 0):
    """pytorch-fid's fid_inception_v3() with random weights scaled to keep activations O(1)."""
    torch.manual_seed(seed)
    net = tv.inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=False)
    net.Mixed_5b = FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = FIDInceptionE(1280, "avg")
    net.Mixed_7c = FIDInceptionE(2048, "max")
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.normal_(0.0, (2.0 / fan_in) ** 0.5)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return net.eval()


def torch_pool3(net, x):
    """pytorch-fid InceptionV3(resize_input=False).forward: blocks 0-3, then net.fc."""
    x = 2 * x - 1
    x = F.max_pool2d(net.Conv2d_2b_3x3(net.Conv2d_2a_3x3(net.Conv2d_1a_3x3(x))), kernel_size=3, stride=2)
    x = F.max_pool2d(net.Conv2d_4a_3x3(net.Conv2d_3b_1x1(x)), kernel_size=3, stride=2)
    for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                 "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
        x = getattr(net, name)(x)
    pool3 = F.adaptive_avg_pool2d(x, (1, 1)).flatten(1)
    return pool3, net.fc(pool3)


def test_loaded_weights_give_torchs_features(tmp_path):
    net = torch_fid_inception()
    state_dict = net.state_dict()
    # The real file's keys: no AuxLogits (aux_logits=False); num_batches_tracked is ignored.
    assert "Mixed_7c.branch_pool.conv.weight" in state_dict and "fc.weight" in state_dict
    path = tmp_path / inc.WEIGHTS_NAME
    torch.save(state_dict, path)

    variables, digest = inc.load_weights(path)  # read without torch, names mapped
    assert len(digest) == 64
    n_torch = sum(v.numel() for k, v in state_dict.items() if "num_batches_tracked" not in k)
    assert sum(np.size(v) for v in jax.tree.leaves(variables)) == n_torch  # every tensor used once

    x = np.random.default_rng(0).uniform(0, 1, (2, 75, 75, 3)).astype(np.float32)
    with torch.no_grad():
        want_pool3, want_logits = (t.numpy() for t in torch_pool3(net, torch.from_numpy(x).permute(0, 3, 1, 2)))
    pool3, logits = jax.jit(lambda v, x: inc.FIDInceptionV3().apply(v, x, resize=False))(variables, x)
    assert pool3.shape == (2, 2048) and logits.shape == (2, 1008)
    assert np.abs(want_pool3).max() > 0.1  # activations stayed O(1) through 94 random layers
    np.testing.assert_allclose(pool3, want_pool3, rtol=1e-4, atol=1e-4 * np.abs(want_pool3).max())
    np.testing.assert_allclose(logits, want_logits, rtol=1e-4, atol=1e-4 * np.abs(want_logits).max())

    # ... and the inverse mapping gives back the same state_dict.
    back = inc.state_dict_from_variables(variables)
    for key, value in state_dict.items():
        if "num_batches_tracked" not in key:
            np.testing.assert_array_equal(back[key], value.numpy())


def test_pool3_is_2048_at_299():
    # Shapes only: the 299 x 299 forward pass is evaluated abstractly, not run.
    from flax.traverse_util import unflatten_dict

    variables = {c: unflatten_dict({k[1:]: jax.ShapeDtypeStruct(s, jnp.float32)
                                    for k, s in inc.variable_shapes().items() if k[0] == c})
                 for c in ("params", "batch_stats")}
    pool3, logits = jax.eval_shape(lambda v, x: inc.FIDInceptionV3().apply(v, x), variables,
                                   jax.ShapeDtypeStruct((4, 32, 32, 3), jnp.float32))
    assert pool3.shape == (4, 2048) and logits.shape == (4, 1008)
    gray = jax.eval_shape(lambda v, x: inc.FIDInceptionV3().apply(v, x), variables,
                          jax.ShapeDtypeStruct((1, 28, 28, 1), jnp.float32))
    assert gray[0].shape == (1, 2048)  # one channel is repeated to three
    # torchvision's Inception3 has 27,161,264 parameters with the aux head and 1,000 classes;
    # without AuxLogits (3,326,696) and with 1,008 classes (+8 * 2,049) the FID network has
    # 23,834,568 + 16,392 = 23,850,960 trainable ones (BatchNorm running stats not counted).
    n_params = sum(math.prod(s) for k, s in inc.variable_shapes().items() if k[0] == "params")
    assert n_params == 23_850_960


@pytest.mark.parametrize("size", [32, 64, 218, 400])
def test_resize_is_torch_bilinear(size):
    x = np.random.default_rng(size).uniform(0, 1, (2, size, size - 1, 3)).astype(np.float32)
    want = F.interpolate(torch.from_numpy(x).permute(0, 3, 1, 2), size=(299, 299), mode="bilinear",
                         align_corners=False).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(np.asarray(inc.resize_bilinear(jnp.asarray(x))), want, atol=2e-6)


def test_missing_weights_say_what_to_supply(monkeypatch, tmp_path):
    monkeypatch.delenv(inc.ENV_VAR, raising=False)
    with pytest.raises(JaxganError) as e:
        inc.find_weights(None)
    message = str(e.value)
    assert "\n" not in message
    for needed in (inc.WEIGHTS_NAME, "--inception-weights", "eval.inception_weights", inc.ENV_VAR):
        assert needed in message
    monkeypatch.setenv(inc.ENV_VAR, str(tmp_path / "nowhere.pth"))
    with pytest.raises(JaxganError, match="not found"):
        inc.find_weights(None)


def test_wrong_state_dict_is_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(10, 4)}, path)
    with pytest.raises(JaxganError, match="not pytorch-fid's Inception weights"):
        inc.load_weights(path)
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(JaxganError, match="not a torch state_dict"):
        inc.load_weights(tmp_path / "junk.pth")
