"""torch_ref: the seeds' own PyTorch code, one module per recipe, and the glue that runs it.

The reference jaxgan is measured against (`parity_tests/`). Each seed module holds its seed's
classes, settings and loop body as the seed writes them, taking plain arguments:

  gan_fashion_mnist.py    seed 002: `G = nn.Sequential(nn.Linear(64, 256), ...)`, `D`
  gan_maxout_mnist.py     seed 004: `Generator`, `Maxout`, `Discriminator`
  dcgan_celeba.py         seed 000: the DCGAN tutorial's `Generator`, `Discriminator`, `weights_init`
  dcgan_cifar10.py        seed 003: `_netG`, `_netD`, `weights_init`
  myfgan_mnist_first.py   seed 001 (the book's notebooks): the first, mode-collapsing attempt
  myfgan_mnist.py         seed 001: the MNIST GAN that works
  myfgan_celeba.py        seed 001: the CelebA MLP GAN

Only the glue reads the recipe files (`jaxgan.config.load_config`) and jaxgan's pixels:

  models.py   which seed module a recipe runs; its networks, built by the seed's code
  steps.py    the seed's optimisers and loop body, with the noise (and dropout masks) given
  data.py     jaxgan's readers + the seeds' torchvision transforms
  train.py    `python -m torch_ref.train --config FILE`: a run folder like jaxgan's
"""
