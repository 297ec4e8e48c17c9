"""The PyTorch files people have, into jaxgan (`python -m jaxgan.convert --from-torch`), saved the
way the tools that write them save them: a generator trained in `nn.DataParallel` (seed 000
with ngpu > 1: names under `module.`), a training script's dict of state_dicts
(`{'netG': ..., 'netD': ..., 'epoch': 3}`), Lightning's `{'state_dict': {'netG.0.weight': ...}}`,
a network saved in half precision. Each comes in with one line saying what was undone, and its
weights go back out equal to the network's own, tensor for tensor: through the command
(`--to-jax`, then `--to-seed`) for seed 000's files and a script's dict, in memory
(`read_torch_files`, `from_torch`, `to_torch`) for the other layouts.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from jaxgan import convert
from jaxgan.config import CONFIG_DIR, load_config
from jaxgan.gan import build_gan, init_state
from jaxgan.interop import torch_files, weights
from torch_ref import dcgan_celeba, gan_fashion_mnist

CELEBA = str(CONFIG_DIR / "dcgan_celeba.yaml")
FASHION = str(CONFIG_DIR / "gan_fashion_mnist.yaml")


def _cli(capsys, *argv) -> tuple[int, str, str]:
    code = convert.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _fashion_nets(seed: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(seed)
    return gan_fashion_mnist.make_G(), gan_fashion_mnist.make_D()


def _round_trip(capsys, tmp_path: Path, config: str, *source) -> tuple[str, dict, dict]:
    """--from-torch SOURCE --to-jax, then --to-seed: (stdout of the first, G's and D's state_dicts back)."""
    here = Path(tempfile.mkdtemp(dir=tmp_path))
    run, back = here / "run", here / "back"
    code, out, err = _cli(capsys, "--config", config, "--from-torch", *source, "--to-jax", run)
    assert code == 0, err
    code, _, err = _cli(capsys, "--config", config, "--from-jax", run, "--to-seed", back)
    assert code == 0, err
    return out, torch.load(back / "netG.pth", weights_only=True), torch.load(back / "netD.pth", weights_only=True)


@pytest.fixture(scope="module")
def fashion_template():
    config = load_config(FASHION)
    return config, init_state(build_gan(config, (28, 28, 1)), config.seed)


def _in_memory(template, paths: list[Path], keys: tuple[str, ...] = ()) -> tuple[dict, dict, list[str]]:
    """The files read and converted to a GANState and back: (G's and D's state_dicts, the notes)."""
    config, state = template
    checkpoint, sources, notes = torch_files.read_torch_files(paths, keys)
    converted = weights.from_torch(config, checkpoint, (28, 28, 1), source=sources, template=state)
    back = weights.to_torch(config, converted, (28, 28, 1))
    as_torch = {net: {k: torch.from_numpy(np.array(v)) for k, v in back[net].items()} for net in ("generator", "discriminator")}
    return as_torch["generator"], as_torch["discriminator"], notes


def _assert_equal(back: dict, original: dict) -> None:
    assert list(back) == list(original)
    for key, value in original.items():
        assert back[key].dtype == torch.float32 or key.endswith("num_batches_tracked"), key
        if not key.endswith("num_batches_tracked"):  # jaxgan rebuilds the counters from the step
            assert torch.equal(back[key], value.float()), key


def _notes(out: str, text: str) -> list[str]:
    return [line for line in out.splitlines() if text in line]


def test_seed_000_generator_trained_in_data_parallel(tmp_path, capsys):
    """Seed 000 wraps its networks in nn.DataParallel when ngpu > 1; on the CPU the wrapper
    saves the same `module.`-prefixed names."""
    torch.manual_seed(0)
    netG, netD = dcgan_celeba.Generator(2), dcgan_celeba.Discriminator(2)
    netG.apply(dcgan_celeba.weights_init)
    netD.apply(dcgan_celeba.weights_init)
    wrapped_g, wrapped_d = torch.nn.DataParallel(netG, list(range(2))), torch.nn.DataParallel(netD, list(range(2)))
    assert next(iter(wrapped_g.state_dict())) == "module.main.0.weight"
    torch.save(wrapped_g.state_dict(), tmp_path / "netG.pth")
    torch.save(wrapped_d.state_dict(), tmp_path / "netD.pth")
    out, back_g, back_d = _round_trip(capsys, tmp_path, CELEBA, tmp_path / "netG.pth", tmp_path / "netD.pth")
    _assert_equal(back_g, netG.state_dict())
    _assert_equal(back_d, netD.state_dict())
    removed = _notes(out, "'module.' removed")
    assert removed == [
        f"generator ({tmp_path / 'netG.pth'}): 'module.' removed from its {len(netG.state_dict())} tensor names "
        "(saved from nn.DataParallel or DistributedDataParallel)",
        f"discriminator ({tmp_path / 'netD.pth'}): 'module.' removed from its {len(netD.state_dict())} tensor "
        "names (saved from nn.DataParallel or DistributedDataParallel)"]


@pytest.mark.parametrize("names", [("netG", "netD"), ("generator", "discriminator"), ("G", "D")])
def test_a_scripts_dict_of_state_dicts(names, tmp_path, fashion_template):
    G, D = _fashion_nets(1)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4)
    torch.save({names[0]: G.state_dict(), names[1]: D.state_dict(), "epoch": 3,
                "optimizer" + names[0][-1]: opt_g.state_dict()}, tmp_path / "ckpt.pth")
    back_g, back_d, notes = _in_memory(fashion_template, [tmp_path / "ckpt.pth"])
    _assert_equal(back_g, G.state_dict())
    _assert_equal(back_d, D.state_dict())
    assert not [n for n in notes if n.startswith("discriminator")]  # found, not initialised fresh


def test_a_scripts_dict_through_the_command(tmp_path, capsys):
    G, D = _fashion_nets(8)
    torch.save({"netG": G.state_dict(), "netD": D.state_dict(), "epoch": 3}, tmp_path / "ckpt.pth")
    out, back_g, back_d = _round_trip(capsys, tmp_path, FASHION, tmp_path / "ckpt.pth")
    _assert_equal(back_g, G.state_dict())
    _assert_equal(back_d, D.state_dict())
    assert "optimiser state: not read from these files; initialised fresh (Adam moments zero, step 0)" in out


def test_lightnings_state_dict_of_both_networks(tmp_path, fashion_template):
    """A LightningModule with `self.netG` and `self.netD` saves both in one state_dict, each
    tensor under its attribute's name, beside Lightning's own entries."""
    G, D = _fashion_nets(2)
    state = {**{f"netG.{k}": v for k, v in G.state_dict().items()}, **{f"netD.{k}": v for k, v in D.state_dict().items()}}
    torch.save({"epoch": 4, "global_step": 120, "pytorch-lightning_version": "2.4.0", "state_dict": state,
                "loops": {}, "callbacks": {}, "optimizer_states": [], "lr_schedulers": []}, tmp_path / "last.ckpt")
    back_g, back_d, _ = _in_memory(fashion_template, [tmp_path / "last.ckpt"])
    _assert_equal(back_g, G.state_dict())
    _assert_equal(back_d, D.state_dict())


def test_one_network_under_a_generic_name_gets_a_fresh_discriminator(tmp_path, fashion_template):
    G, _ = _fashion_nets(3)
    torch.save({"model": G.state_dict(), "epoch": 7}, tmp_path / "g.pth")
    back_g, back_d, notes = _in_memory(fashion_template, [tmp_path / "g.pth"])
    _assert_equal(back_g, G.state_dict())
    fresh_d = weights.to_torch(fashion_template[0], fashion_template[1], (28, 28, 1))["discriminator"]
    _assert_equal(back_d, {k: torch.from_numpy(np.array(v)) for k, v in fresh_d.items()})
    assert f"discriminator: not in {tmp_path / 'g.pth'}; initialised fresh, as the recipe initialises it" in notes


def test_ambiguous_or_unnamed_entries_are_one_line_and_torch_key_chooses(tmp_path, capsys, fashion_template):
    G1, D = _fashion_nets(4)
    G2, _ = _fashion_nets(5)
    torch.save({"netG": G1.state_dict(), "G": G2.state_dict(), "netD": D.state_dict()}, tmp_path / "two.pth")
    code, out, err = _cli(capsys, "--config", FASHION, "--from-torch", tmp_path / "two.pth", "--to-jax", tmp_path / "r")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err == (f"error: {tmp_path / 'two.pth'}: holds several state_dicts that could be the generator: "
                   "'netG', 'G'; choose one with --torch-key NAME\n")
    assert not (tmp_path / "r").exists()
    _, back_g, back_d = _round_trip(capsys, tmp_path, FASHION, tmp_path / "two.pth", "--torch-key", "G")
    _assert_equal(back_g, G2.state_dict())
    _assert_equal(back_d, D.state_dict())

    torch.save({"G_ema": G1.state_dict(), "step": 9}, tmp_path / "ema.pth")
    code, _, err = _cli(capsys, "--config", FASHION, "--from-torch", tmp_path / "ema.pth", "--to-jax", tmp_path / "r")
    assert code == 2 and err.count("\n") == 1
    assert "its entries: 'G_ema', 'step'; name the generator's with --torch-key NAME" in err
    for key, why in (("step", "is not a state_dict"), ("netG", "is not one of its entries")):
        code, _, err = _cli(capsys, "--config", FASHION, "--from-torch", tmp_path / "ema.pth", "--to-jax",
                            tmp_path / "r", "--torch-key", key)
        assert code == 2 and err == f"error: {tmp_path / 'ema.pth'}: --torch-key {key} {why} (its entries: 'G_ema', 'step')\n"
    assert not (tmp_path / "r").exists()
    back_g, _, _ = _in_memory(fashion_template, [tmp_path / "ema.pth"], ("G_ema",))
    _assert_equal(back_g, G1.state_dict())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_weights_become_float32(dtype, tmp_path, fashion_template):
    G, D = _fashion_nets(6)
    half_g = {k: v.to(dtype) for k, v in G.state_dict().items()}
    torch.save(half_g, tmp_path / "netG.pth")
    torch.save(D.state_dict(), tmp_path / "netD.pth")
    back_g, back_d, notes = _in_memory(fashion_template, [tmp_path / "netG.pth", tmp_path / "netD.pth"])
    _assert_equal(back_g, half_g)  # the half values, exactly, as float32
    _assert_equal(back_d, D.state_dict())
    name = str(dtype).replace("torch.", "")
    assert [n for n in notes if "converted to float32" in n] == [
        f"generator ({tmp_path / 'netG.pth'}): {len(half_g)} {name} tensors converted to float32"]


def test_data_parallel_and_half_in_a_scripts_dict(tmp_path, fashion_template):
    G, D = _fashion_nets(7)
    wrapped = torch.nn.DataParallel(G, [0, 1]).half()
    torch.save({"netG": wrapped.state_dict(), "netD": D.state_dict()}, tmp_path / "ckpt.pth")
    back_g, _, notes = _in_memory(fashion_template, [tmp_path / "ckpt.pth"])
    _assert_equal(back_g, G.state_dict())  # G itself is half now, as the script trained it
    where = f"generator ({tmp_path / 'ckpt.pth'}['netG'])"
    assert [n for n in notes if n.startswith(where)] == [
        f"{where}: 'module.' removed from its 6 tensor names (saved from nn.DataParallel or DistributedDataParallel)",
        f"{where}: 6 float16 tensors converted to float32"]
