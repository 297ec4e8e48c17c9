"""Seed 001, "Make Your First GAN With PyTorch": the MNIST GAN that works (notebooks 08/09).

The seed shows only its headings; this is the book's public notebook code, as it writes it:
LeakyReLU(0.02), LayerNorm, BCELoss and Adam(lr=0.0001) in place of the first attempt's
sigmoids, MSE and SGD, and a seed of 100 normal values (`generate_random_seed(100)`).
`train` shadows `nn.Module.train` as in the book: switch modes with `nn.Module.train(net, False)`.
"""

import torch
import torch.nn as nn

epochs = 4

# The recipe keys (configs/myfgan_mnist.yaml) these lines fix.
RECIPE = {
    "model.arch": 'mlp',
    "model.init": 'torch_default',
    "train.scheme": 'book',
    "train.batch_size": 1,
    "data.scale": 'zero_one',
    "data.shuffle": False,
    "model.z_dim": 100,
    "model.noise": 'normal',
    "model.generator.hidden": [200],
    "model.generator.activation": 'leaky_relu',
    "model.generator.negative_slope": 0.02,
    "model.generator.norm": 'layernorm',
    "model.generator.output": 'sigmoid',
    "model.discriminator.hidden": [200],
    "model.discriminator.activation": 'leaky_relu',
    "model.discriminator.negative_slope": 0.02,
    "model.discriminator.norm": 'layernorm',
    "model.discriminator.output": 'sigmoid',
    "loss.kind": 'bce',
    "loss.generator": 'non_saturating',
    "optimizer.generator.name": 'adam',
    "optimizer.generator.lr": 0.0001,
    "optimizer.generator.b1": 0.9,
    "optimizer.generator.b2": 0.999,
    "optimizer.generator.eps": 1e-08,
    "optimizer.discriminator.name": 'adam',
    "optimizer.discriminator.lr": 0.0001,
    "optimizer.discriminator.b1": 0.9,
    "optimizer.discriminator.b2": 0.999,
    "optimizer.discriminator.eps": 1e-08,
    "train.epochs": 4,
}


class Discriminator(nn.Module):

    def __init__(self):
        # initialise parent pytorch class
        super().__init__()

        # define neural network layers
        self.model = nn.Sequential(
            nn.Linear(784, 200),
            nn.LeakyReLU(0.02),

            nn.LayerNorm(200),

            nn.Linear(200, 1),
            nn.Sigmoid()
        )

        # create loss function
        self.loss_function = nn.BCELoss()

        # create optimiser
        self.optimiser = torch.optim.Adam(self.parameters(), lr=0.0001)

        # counter and accumulator for progress
        self.counter = 0;
        self.progress = []

        pass

    def forward(self, inputs):
        # simply run model
        return self.model(inputs)

    def train(self, inputs, targets):
        # calculate the output of the network
        outputs = self.forward(inputs)

        # calculate loss
        loss = self.loss_function(outputs, targets)

        # increase counter and accumulate error every 10
        self.counter += 1;
        if (self.counter % 10 == 0):
            self.progress.append(loss.item())
            pass
        if (self.counter % 10000 == 0):
            print("counter = ", self.counter)
            pass

        # zero gradients, perform a backward pass, update weights
        self.optimiser.zero_grad()
        loss.backward()
        self.optimiser.step()

        pass


class Generator(nn.Module):

    def __init__(self):
        # initialise parent pytorch class
        super().__init__()

        # define neural network layers
        self.model = nn.Sequential(
            nn.Linear(100, 200),
            nn.LeakyReLU(0.02),

            nn.LayerNorm(200),

            nn.Linear(200, 784),
            nn.Sigmoid()
        )

        # create optimiser, using Adam
        self.optimiser = torch.optim.Adam(self.parameters(), lr=0.0001)

        # counter and accumulator for progress
        self.counter = 0;
        self.progress = []

        pass

    def forward(self, inputs):
        # simply run model
        return self.model(inputs)

    def train(self, D, inputs, targets):
        # calculate the output of the network
        g_output = self.forward(inputs)

        # pass onto Discriminator
        d_output = D.forward(g_output)

        # calculate error
        loss = D.loss_function(d_output, targets)

        # increase counter and accumulate error every 10
        self.counter += 1;
        if (self.counter % 10 == 0):
            self.progress.append(loss.item())
            pass

        # zero gradients, perform a backward pass, update weights
        self.optimiser.zero_grad()
        loss.backward()
        self.optimiser.step()

        pass


def generate_random_image(size):
    random_data = torch.rand(size)
    return random_data


def generate_random_seed(size):
    random_data = torch.randn(size)
    return random_data


def train_step(D, G, image_data_tensor, seed_d, seed_g):
    """The book's loop body for one image; seed_d and seed_g are its two `generate_random_seed(100)` draws."""
    # the book's targets are torch.FloatTensor([1.0]) and ([0.0]): float32 by name, made here in
    # the default dtype so that the same lines run in float64
    device = image_data_tensor.device  # the book's CUDA chapter: torch.cuda.FloatTensor
    one, zero = torch.tensor([1.0], device=device), torch.tensor([0.0], device=device)

    # train discriminator on true
    D.train(image_data_tensor, one)

    # train discriminator on false
    # use detach() so gradients in G are not calculated
    D.train(G.forward(seed_d).detach(), zero)

    # train generator
    G.train(D, seed_g, one)
