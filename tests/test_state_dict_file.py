"""jaxgan reads torch.save'd state_dicts without torch: both of torch's file formats, every
common element type, strided and shared storages, and a refusal of pickles that would run
code. torch writes the files here; jaxgan's reader must give back exactly torch's arrays."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from jaxgan.errors import JaxganError
from jaxgan.quality.state_dict_file import load_state_dict

torch = pytest.importorskip("torch")


def _state_dict() -> "collections.OrderedDict[str, torch.Tensor]":
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, 3)
    bn = torch.nn.BatchNorm2d(4)
    sd = collections.OrderedDict()
    sd.update({f"conv.{k}": v for k, v in conv.state_dict().items()})
    sd.update({f"bn.{k}": v for k, v in bn.state_dict().items()})  # int64 num_batches_tracked, a scalar
    base = torch.arange(24, dtype=torch.float64).reshape(4, 6)
    sd["transposed"] = base.t()  # a strided view
    sd["column"] = base[:, 2]  # an offset, strided view sharing base's storage
    sd["half"] = torch.randn(5).half()
    sd["bf16"] = torch.randn(3, 2).bfloat16()
    sd["mask"] = torch.tensor([True, False, True])
    sd["param"] = torch.nn.Parameter(torch.randn(2, 2))
    return sd


def _as_numpy(t: "torch.Tensor") -> np.ndarray:
    if t.dtype == torch.bfloat16:
        return t.float().numpy()
    return t.detach().numpy()


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_the_arrays_are_torchs_own(tmp_path, zip_format):
    sd = _state_dict()
    path = tmp_path / "weights.pth"
    torch.save(sd, path, _use_new_zipfile_serialization=zip_format)
    loaded = load_state_dict(path)
    assert list(loaded) == list(sd)
    for name, tensor in sd.items():
        ours = loaded[name]
        assert ours.shape == tuple(tensor.shape), name
        np.testing.assert_array_equal(ours.astype(np.float64) if name == "bf16" else ours, _as_numpy(tensor),
                                      err_msg=name)
        assert ours.flags.writeable and ours.flags.owndata, name
    assert loaded["half"].dtype == np.float16 and loaded["bn.num_batches_tracked"].dtype == np.int64


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"w": torch.zeros(2), "f": collections.Counter("ab")}, path)
    with pytest.raises(JaxganError, match=r"evil.pth: not a torch state_dict file \(GLOBAL collections.Counter"):
        load_state_dict(path)


@pytest.mark.parametrize("content", [b"", b"not a pickle", b"PK\x03\x04 truncated zip"])
def test_anything_else_is_one_line(tmp_path, content):
    path = tmp_path / "junk.pth"
    path.write_bytes(content)
    with pytest.raises(JaxganError, match="junk.pth: not a torch state_dict file"):
        load_state_dict(path)


def test_a_tensor_alone_is_not_a_state_dict(tmp_path):
    path = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), path)
    with pytest.raises(JaxganError, match="expected a torch state_dict"):
        load_state_dict(path)
