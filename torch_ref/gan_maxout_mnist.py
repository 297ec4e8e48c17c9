"""Seed 004: "GAN구현(Pytorch)", Goodfellow et al.'s maxout GAN on MNIST.

The seed's classes as it writes them (`Generator` with linear_1..3 and a ReLU after each, the
last one too; `Maxout`; `Discriminator` with max_1, drop_1, max_2, linear), its optimisers, and
one pass of its inner loop (`for i, data in enumerate(mnist_loader)`) with the two noise draws
given instead of drawn there.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

latent_dim = 100
epochs = 500
BATCH_SIZE = 100  # not shown in the seed; the paper's minibatch

# The recipe keys (configs/gan_maxout_mnist.yaml) these lines fix.
RECIPE = {
    "model.arch": "maxout",
    "model.z_dim": latent_dim,
    "model.noise": "normal",
    "model.generator.hidden": [1200, 1200],
    "model.generator.activation": "relu",
    "model.generator.output": "relu",
    "model.discriminator.hidden": [240, 240],
    "model.discriminator.maxout_pieces": 5,
    "model.discriminator.dropout": 0.8,
    "model.discriminator.output": "sigmoid",
    "model.init": "torch_default",
    "loss.kind": "bce",
    "loss.generator": "non_saturating",
    "optimizer.generator.name": "adam",
    "optimizer.generator.lr": 1e-3,
    "optimizer.generator.b1": 0.9,
    "optimizer.generator.b2": 0.999,
    "optimizer.generator.eps": 1e-8,
    "optimizer.discriminator.name": "adam",
    "optimizer.discriminator.lr": 1e-3,
    "optimizer.discriminator.b1": 0.9,
    "optimizer.discriminator.b2": 0.999,
    "optimizer.discriminator.eps": 1e-8,
    "data.scale": "zero_one",
    "train.scheme": "minibatch",
    "train.generator_noise": "fresh",
    "train.batch_size": BATCH_SIZE,
    "train.epochs": epochs,
}


class Generator(nn.Module):
    def __init__(self, input_dim=100, output_dim = 784):
        super(Generator, self).__init__()
        self.input_dim = input_dim
        self.output_dim = output_dim

        self.linear_1 = nn.Linear(self.input_dim, 1200)
        self.linear_2 = nn.Linear(1200, 1200)
        self.linear_3 = nn.Linear(1200, self.output_dim)

    def forward(self, x):
        x = self.linear_1(x)
        x = F.relu(x)
        x = self.linear_2(x)
        x = F.relu(x)
        x = self.linear_3(x)
        x = F.relu(x)
        return x


class Maxout(nn.Module):
    def __init__(self, input_dim=784, output_dim=784,  k=3):
        super(Maxout, self).__init__()
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.k = k                                                          #[batch, input_dim]
        self.linear = nn.Linear(self.input_dim, self.output_dim * k)        #[batch, output_dim * k]

    def forward(self, x):
        self.input_size = x.size()
        x = self.linear(x)
        x = x.view(-1, self.output_dim, self.k).max(dim=2)[0]
        return x


class Discriminator(nn.Module):
    def __init__(self, input_dim=784, output_dim = 1):
        super(Discriminator, self).__init__()
        self.input_dim = input_dim
        self.output_dim = output_dim

        self.max_1 = Maxout(self.input_dim, 240, k=5)
        self.drop_1 = nn.Dropout(0.8)
        self.max_2 = Maxout(240, 240, 5)
        self.linear = nn.Linear(240, 1)

    def forward(self, x):
        x = self.max_1(x)
        x = self.drop_1(x)
        x = self.max_2(x)
        x  = self.linear(x)
        x = torch.sigmoid(x)  # F.sigmoid(x) in the seed: the same function, without the warning
        return x


def make_optimizers(G, D):
    optimizer_G = torch.optim.Adam(G.parameters(), lr=1e-3)
    optimizer_D = torch.optim.Adam(D.parameters(), lr=1e-3)
    return optimizer_G, optimizer_D


def draw_z(batch_size):
    return torch.randn(batch_size, 1, latent_dim, requires_grad=False)


def train_step(G, D, criterion, optimizer_G, optimizer_D, data, z, g_z):
    """One iteration of the seed's inner loop: D on real and G(z), then G on a fresh G(g_z).

    z and g_z: the seed's two `torch.randn(BATCH_SIZE, 1, latent_dim)` draws. Returns the
    losses, D(real), D(fake) and the G step's D output (the seed sums the losses per epoch).
    """
    BATCH_SIZE = data.size(0)
    real_y = torch.ones((BATCH_SIZE, 1), device=data.device)  # the seed: .cuda()
    fake_y = torch.zeros((BATCH_SIZE, 1), device=data.device)

    real = data.view(BATCH_SIZE, -1)
    fake = G(z)
    d_real = D(real)
    loss_real = criterion(d_real, real_y)
    d_fake = D(fake)
    loss_fake = criterion(d_fake, fake_y)

    #calculate D_loss
    optimizer_D.zero_grad()
    loss_D = loss_real + loss_fake
    loss_D.backward()
    optimizer_D.step()

    fake = G(g_z)
    y = D(fake)
    loss_G = criterion(y, real_y)

    optimizer_G.zero_grad()
    loss_G.backward()
    optimizer_G.step()

    return loss_D, loss_G, d_real, d_fake, y
