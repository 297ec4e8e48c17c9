"""Each seed's generator and discriminator, written as the seed writes them, sized by the recipe.

  recipe (model.arch, train.scheme)   seed  modules                        state_dict keys
  mlp, minibatch                      002   G, D = nn.Sequential(...)      0.weight, 2.weight, ...
  maxout                              004   Generator / Maxout /           linear_1.weight,
                                            Discriminator classes          max_1.linear.weight, ...
  dcgan                               000,  Generator / Discriminator,     main.0.weight,
                                      003   `main` Sequential, weights_init main.1.running_mean, ...
  mlp, book                           001   the book's classes, `model`    model.0.weight, ...
                                            Sequential (+ View for CelebA)

The layer order (Linear, activation, [LayerNorm]) and every constant (LeakyReLU slopes,
LayerNorm eps 1e-5, BatchNorm momentum 0.1) are PyTorch's defaults or the seed's; the weight
layout each key maps to in jaxgan is `jaxgan.convert`'s table.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from jaxgan.config import Config, NetConfig, OptimizerConfig
from jaxgan.errors import JaxganError


def activation(name: str, negative_slope: float = 0.01) -> list[nn.Module]:
    """The activation a recipe names, as zero or one module (so Sequential indices stay honest)."""
    table = {
        "relu": lambda: nn.ReLU(),
        "leaky_relu": lambda: nn.LeakyReLU(negative_slope),
        "sigmoid": lambda: nn.Sigmoid(),
        "tanh": lambda: nn.Tanh(),
        "none": None,
    }
    if name not in table:
        raise ValueError(f"unknown activation {name!r}")
    return [table[name]()] if table[name] else []


def functional(name: str, negative_slope: float = 0.01):
    """The same activation as a function (seed 004 calls F.relu / F.sigmoid in `forward`)."""
    table = {
        "relu": F.relu,
        "leaky_relu": lambda x: F.leaky_relu(x, negative_slope),
        "sigmoid": torch.sigmoid,  # F.sigmoid in the seed: the same function
        "tanh": torch.tanh,
        "none": lambda x: x,
    }
    if name not in table:
        raise ValueError(f"unknown activation {name!r}")
    return table[name]


def mlp_layers(in_features: int, out_features: int, net: NetConfig) -> list[nn.Module]:
    """Linear -> activation [-> LayerNorm] per hidden width, then Linear -> output activation."""
    layers: list[nn.Module] = []
    for width in net.hidden:
        layers += [nn.Linear(in_features, width), *activation(net.activation, net.negative_slope)]
        if net.norm == "layernorm":
            layers.append(nn.LayerNorm(width))  # eps 1e-5
        elif net.norm != "none":
            raise JaxganError(f"norm '{net.norm}' is not used by any MLP seed")
        in_features = width
    return layers + [nn.Linear(in_features, out_features), *activation(net.output)]


# --- seed 002: the Fashion-MNIST MLP GAN ---------------------------------------------------

def fashion_mlp(config: Config, image_shape: tuple[int, int, int]) -> tuple[nn.Module, nn.Module]:
    """Seed 002's `G = nn.Sequential(...)` and `D = nn.Sequential(...)`.

    G: Linear(64,256) ReLU Linear(256,256) ReLU Linear(256,784) Tanh;
    D: Linear(784,256) LeakyReLU(0.2) Linear(256,256) LeakyReLU(0.2) Linear(256,1) Sigmoid.
    """
    pixels = math.prod(image_shape)
    m = config.model
    G = nn.Sequential(*mlp_layers(m.z_dim, pixels, m.generator))
    D = nn.Sequential(*mlp_layers(pixels, 1, m.discriminator))
    return G, D


# --- seed 004: Goodfellow's maxout GAN ----------------------------------------------------

class MaxoutGenerator(nn.Module):
    """Seed 004's `Generator`: linear_1 .. linear_n with F.relu after each, the last one too."""

    def __init__(self, input_dim: int = 100, output_dim: int = 784, hidden=(1200, 1200),
                 act: str = "relu", output: str = "relu", negative_slope: float = 0.01):
        super().__init__()
        widths = [input_dim, *hidden, output_dim]
        self.n = len(widths) - 1
        for i in range(self.n):
            setattr(self, f"linear_{i + 1}", nn.Linear(widths[i], widths[i + 1]))
        self.act = functional(act, negative_slope)
        self.out = functional(output)

    def forward(self, x):
        for i in range(self.n):
            x = getattr(self, f"linear_{i + 1}")(x)
            x = self.act(x) if i < self.n - 1 else self.out(x)  # seed: x = F.relu(x), all three
        return x


class Maxout(nn.Module):
    """Seed 004's `Maxout`: Linear(in, out * k), then `view(-1, out, k).max(dim=2)[0]`."""

    def __init__(self, input_dim: int = 784, output_dim: int = 784, k: int = 3):
        super().__init__()
        self.input_dim, self.output_dim, self.k = input_dim, output_dim, k
        self.linear = nn.Linear(self.input_dim, self.output_dim * k)

    def forward(self, x):
        x = self.linear(x)
        return x.view(-1, self.output_dim, self.k).max(dim=2)[0]


class MaxoutDiscriminator(nn.Module):
    """Seed 004's `Discriminator`: max_1, drop_1 (p=0.8), max_2, linear, F.sigmoid.

    A Dropout follows every Maxout but the last, as jaxgan's `MaxoutDiscriminator`.
    """

    def __init__(self, input_dim: int = 784, output_dim: int = 1, hidden=(240, 240), k: int = 5,
                 p: float = 0.8, output: str = "sigmoid"):
        super().__init__()
        widths = [input_dim, *hidden]
        self.n = len(hidden)
        for i in range(self.n):
            setattr(self, f"max_{i + 1}", Maxout(widths[i], widths[i + 1], k))
            if i < self.n - 1 and p > 0:
                setattr(self, f"drop_{i + 1}", nn.Dropout(p))
        self.linear = nn.Linear(widths[-1], output_dim)
        self.out = functional(output)

    def forward(self, x):
        for i in range(self.n):
            x = getattr(self, f"max_{i + 1}")(x)
            if hasattr(self, f"drop_{i + 1}"):
                x = getattr(self, f"drop_{i + 1}")(x)
        return self.out(self.linear(x))  # seed: x = F.sigmoid(self.linear(x))


def maxout(config: Config, image_shape: tuple[int, int, int]) -> tuple[nn.Module, nn.Module]:
    m = config.model
    g, d = m.generator, m.discriminator
    if d.maxout_pieces is None:
        raise JaxganError("model.arch 'maxout' needs model.discriminator.maxout_pieces (seed 004: 5)")
    pixels = math.prod(image_shape)
    G = MaxoutGenerator(m.z_dim, pixels, tuple(g.hidden), g.activation, g.output, g.negative_slope)
    D = MaxoutDiscriminator(pixels, 1, tuple(d.hidden), d.maxout_pieces, d.dropout, d.output)
    return G, D


# --- seeds 000 and 003: DCGAN ---------------------------------------------------------------

def weights_init(m: nn.Module) -> None:
    """The tutorial's custom init, applied with `net.apply(weights_init)`."""
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


class DCGANGenerator(nn.Module):
    """The tutorial's `Generator` (seed 003's `_netG` is the same `main`)."""

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 3):
        super().__init__()
        self.main = nn.Sequential(
            # input is Z, going into a convolution
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),
            # state size. (ngf*8) x 4 x 4
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            # state size. (ngf*4) x 8 x 8
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            # state size. (ngf*2) x 16 x 16
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            # state size. (ngf) x 32 x 32
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh(),
            # state size. (nc) x 64 x 64
        )

    def forward(self, input):
        return self.main(input)


class DCGANDiscriminator(nn.Module):
    """The tutorial's `Discriminator`; the loop reads its (B, 1, 1, 1) output with `.view(-1)`."""

    def __init__(self, nc: int = 3, ndf: int = 64):
        super().__init__()
        self.main = nn.Sequential(
            # input is (nc) x 64 x 64
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf) x 32 x 32
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf*2) x 16 x 16
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf*4) x 8 x 8
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 8),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf*8) x 4 x 4
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, input):
        return self.main(input)


def dcgan(config: Config, image_shape: tuple[int, int, int]) -> tuple[nn.Module, nn.Module]:
    h, w, nc = image_shape
    if (h, w) != (64, 64):
        raise JaxganError(f"model.arch 'dcgan' makes 64x64 images, but the data is {h}x{w} (set data.image_size: 64)")
    m = config.model
    return DCGANGenerator(m.z_dim, m.generator.width or 64, nc), DCGANDiscriminator(nc, m.discriminator.width or 64)


# --- seed 001: "Make Your First GAN With PyTorch" (the book) --------------------------------

class View(nn.Module):
    """The book's reshaping module, so a Sequential can flatten or unflatten an image."""

    def __init__(self, shape):
        super().__init__()
        self.shape = (shape,)

    def forward(self, x):
        return x.view(*self.shape)


def book_flattens(image_shape: tuple[int, int, int]) -> bool:
    """The book feeds MNIST as flat CSV rows (784,), CelebA as (218, 178, 3) arrays.

    So its CelebA D starts with View(218*178*3) and its CelebA G ends with View((218, 178, 3));
    its MNIST nets have neither. Colour images are the CelebA case.
    """
    return image_shape[-1] > 1


class BookDiscriminator(nn.Module):
    """The book's `Discriminator`: `self.model = nn.Sequential(...)`.

    The book also gives the class `loss_function`, `optimiser` and a method named `train` that
    shadows `nn.Module.train`; here the criterion and optimiser live beside the module and the
    three training calls are `torch_ref.steps.book_step`, so `.eval()` still works.
    """

    def __init__(self, image_shape: tuple[int, int, int], net: NetConfig):
        super().__init__()
        pixels = math.prod(image_shape)
        view = [View(pixels)] if book_flattens(image_shape) else []
        self.model = nn.Sequential(*view, *mlp_layers(pixels, 1, net))

    def forward(self, inputs):
        return self.model(inputs)


class BookGenerator(nn.Module):
    """The book's `Generator`: `self.model = nn.Sequential(...)` (+ View((218, 178, 3)) for CelebA)."""

    def __init__(self, z_dim: int, image_shape: tuple[int, int, int], net: NetConfig):
        super().__init__()
        view = [View(tuple(image_shape))] if book_flattens(image_shape) else []
        self.model = nn.Sequential(*mlp_layers(z_dim, math.prod(image_shape), net), *view)

    def forward(self, inputs):
        return self.model(inputs)


def book(config: Config, image_shape: tuple[int, int, int]) -> tuple[nn.Module, nn.Module]:
    m = config.model
    return BookGenerator(m.z_dim, image_shape, m.generator), BookDiscriminator(image_shape, m.discriminator)


# --- one table -------------------------------------------------------------------------------

def flavour(config: Config) -> str:
    """Which seed's code a recipe runs: 'fashion_mlp' (002), 'maxout' (004), 'dcgan' (000/003), 'book' (001)."""
    arch, scheme = config.model.arch, config.train.scheme
    if scheme == "book":
        if arch != "mlp":
            raise JaxganError(f"train.scheme 'book' is the book's MLP loop; model.arch '{arch}' has no book version")
        return "book"
    return {"mlp": "fashion_mlp", "maxout": "maxout", "dcgan": "dcgan"}[arch]


BUILDERS = {"fashion_mlp": fashion_mlp, "maxout": maxout, "dcgan": dcgan, "book": book}


def build(config: Config, image_shape: tuple[int, int, int]) -> tuple[nn.Module, nn.Module]:
    """(G, D) of a recipe for images of `image_shape` (H, W, C), initialised as the seed does.

    Draws from torch's global RNG: seed it first (`torch.manual_seed`).
    """
    G, D = BUILDERS[flavour(config)](config, tuple(image_shape))
    if config.model.init == "dcgan":
        G.apply(weights_init)
        D.apply(weights_init)
    return G, D


def reinit(module: nn.Module, config: Config) -> None:
    """Draws `module`'s parameters again, as `build` drew them (used to pool init samples)."""
    for m in module.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    if config.model.init == "dcgan":
        module.apply(weights_init)


def make_criterion(config: Config) -> nn.Module:
    """nn.BCELoss() or nn.MSELoss() (the book's first attempt), mean reduction."""
    return {"bce": nn.BCELoss, "mse": nn.MSELoss}[config.loss.kind]()


def make_optimizer(cfg: OptimizerConfig, params) -> torch.optim.Optimizer:
    """optim.Adam(params, lr, betas, eps) or optim.SGD(params, lr) as the recipe says."""
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.b1, cfg.b2), eps=cfg.eps)
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr)
    raise JaxganError(f"optimizer '{cfg.name}' is not used by any seed")


__all__ = [
    "BookDiscriminator", "BookGenerator", "DCGANDiscriminator", "DCGANGenerator", "Maxout",
    "MaxoutDiscriminator", "MaxoutGenerator", "View", "build", "flavour", "make_criterion",
    "make_optimizer", "reinit", "weights_init",
]
