"""Everything of jaxgan that touches PyTorch: the only part of the package that imports torch or
torch_ref.

  layouts      which torch state_dict entry is which jaxgan variable, recipe by recipe
  weights      GANState <-> torch state_dicts and optimiser states (numpy, no torch needed)
  torch_files  torch_ref checkpoints and the seeds' netG.pth/netD.pth, read and written
  jax_runs     jaxgan run folders made from converted weights, and read back for converting
  lockstep     both backends trained side by side from one start (`python -m jaxgan.compare`)
  torch_bench  the PyTorch backends of `python -m jaxgan.bench`
"""

from jaxgan.interop.weights import from_torch, to_torch

__all__ = ["from_torch", "to_torch"]
