"""torch_ref: every seed recipe in plain PyTorch, as the seeds wrote it.

The reference jaxgan is measured against (`parity_tests/`). It reads the same recipe files
(`jaxgan.config.load_config`) and the same pixels (jaxgan's readers), and otherwise does what
the seeds do: `nn.Sequential` and `nn.Module` classes, `zero_grad` / `backward` / `step`.

  models.py   each seed's generator and discriminator, sized from the recipe
  steps.py    each seed's training iteration, as a function of (batch, noise)
  data.py     jaxgan's readers + the seeds' torchvision transforms
  train.py    `python -m torch_ref.train --config FILE`: a run folder like jaxgan's
"""
