"""Seed 001, "Make Your First GAN With PyTorch": the MNIST GAN's first attempt (notebook 07).

The seed shows only its headings; this is the book's public notebook code, as it writes it:
`Discriminator` and `Generator` each hold `self.model`, a loss function (D), an SGD optimiser
and a method `train` (which shadows `nn.Module.train`: switch modes with
`nn.Module.train(net, False)`). `train_step` is the book's loop body for one image, the seeds
(`generate_random(1)`, uniform) given. This attempt collapses to one mode, as the book shows.
"""

import torch
import torch.nn as nn

epochs = 1

# The recipe keys (configs/myfgan_mnist_first.yaml) these lines fix.
RECIPE = {
    "model.arch": 'mlp',
    "model.init": 'torch_default',
    "train.scheme": 'book',
    "train.batch_size": 1,
    "data.scale": 'zero_one',
    "data.shuffle": False,
    "model.z_dim": 1,
    "model.noise": 'uniform',
    "model.generator.hidden": [200],
    "model.generator.activation": 'sigmoid',
    "model.generator.norm": 'none',
    "model.generator.output": 'sigmoid',
    "model.discriminator.hidden": [200],
    "model.discriminator.activation": 'sigmoid',
    "model.discriminator.norm": 'none',
    "model.discriminator.output": 'sigmoid',
    "loss.kind": 'mse',
    "loss.generator": 'non_saturating',
    "optimizer.generator.name": 'sgd',
    "optimizer.generator.lr": 0.01,
    "optimizer.discriminator.name": 'sgd',
    "optimizer.discriminator.lr": 0.01,
    "train.epochs": 1,
}


class Discriminator(nn.Module):

    def __init__(self):
        # initialise parent pytorch class
        super().__init__()

        # define neural network layers
        self.model = nn.Sequential(
            nn.Linear(784, 200),
            nn.Sigmoid(),
            nn.Linear(200, 1),
            nn.Sigmoid()
        )

        # create loss function
        self.loss_function = nn.MSELoss()

        # create optimiser
        self.optimiser = torch.optim.SGD(self.parameters(), lr=0.01)

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
            nn.Linear(1, 200),
            nn.Sigmoid(),
            nn.Linear(200, 784),
            nn.Sigmoid()
        )

        # create optimiser, simple stochastic gradient descent
        self.optimiser = torch.optim.SGD(self.parameters(), lr=0.01)

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


def generate_random(size):
    random_data = torch.rand(size)
    return random_data


def train_step(D, G, image_data_tensor, seed_d, seed_g):
    """The book's loop body for one image; seed_d and seed_g are its two `generate_random(1)` draws."""
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
