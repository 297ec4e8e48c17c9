"""Seed 002: "경쟁하며 학습하는 GAN" (3분 딥러닝 파이토치맛, ch. 14), a GAN on Fashion-MNIST.

The seed's code, as it writes it: `G` and `D` are `nn.Sequential` literals, both trained with
`nn.BCELoss()` and `optim.Adam(..., lr=0.0002)`; `train_step` is one pass of its inner loop
(`for i, (images, _) in enumerate(train_loader)`) with `z` given instead of drawn there.
"""

import torch
import torch.nn as nn
import torch.optim as optim

# 하이퍼파라미터
EPOCHS = 500
BATCH_SIZE = 100

# The recipe keys (configs/gan_fashion_mnist.yaml) these lines fix.
RECIPE = {
    "model.arch": "mlp",
    "model.z_dim": 64,
    "model.noise": "normal",
    "model.generator.hidden": [256, 256],
    "model.generator.activation": "relu",
    "model.generator.output": "tanh",
    "model.discriminator.hidden": [256, 256],
    "model.discriminator.activation": "leaky_relu",
    "model.discriminator.negative_slope": 0.2,
    "model.discriminator.output": "sigmoid",
    "model.init": "torch_default",
    "loss.kind": "bce",
    "loss.generator": "non_saturating",
    "optimizer.generator.name": "adam",
    "optimizer.generator.lr": 0.0002,
    "optimizer.generator.b1": 0.9,
    "optimizer.generator.b2": 0.999,
    "optimizer.generator.eps": 1e-8,
    "optimizer.discriminator.name": "adam",
    "optimizer.discriminator.lr": 0.0002,
    "optimizer.discriminator.b1": 0.9,
    "optimizer.discriminator.b2": 0.999,
    "optimizer.discriminator.eps": 1e-8,
    "data.scale": "minus_one_one",
    "train.scheme": "minibatch",
    "train.generator_noise": "same",
    "train.batch_size": BATCH_SIZE,
    "train.epochs": EPOCHS,
}


def make_G():
    # 생성자(Generator)
    G = nn.Sequential(
        nn.Linear(64, 256),
        nn.ReLU(),
        nn.Linear(256, 256),
        nn.ReLU(),
        nn.Linear(256, 784),
        nn.Tanh())
    return G


def make_D():
    # 판별자(Discriminator)
    D = nn.Sequential(
        nn.Linear(784, 256),
        nn.LeakyReLU(0.2),
        nn.Linear(256, 256),
        nn.LeakyReLU(0.2),
        nn.Linear(256, 1),
        nn.Sigmoid()
    )
    return D


def make_optimizers(G, D):
    # 생성자와 판별자를 최적화할 Adam 모듈
    d_optimizer = optim.Adam(D.parameters(), lr=0.0002)
    g_optimizer = optim.Adam(G.parameters(), lr=0.0002)
    return d_optimizer, g_optimizer


def draw_z(batch_size):
    # 무작위 텐서로 가짜 이미지 생성
    return torch.randn(batch_size, 64)


def train_step(G, D, criterion, d_optimizer, g_optimizer, images, z):
    """One iteration of the seed's inner loop; returns what it prints and the G step's D output.

    D's loss uses `fake_images` undetached (its backward reaches G, whose grads are zeroed
    before G's own step), and the G step recomputes G(z) with the same z, as the seed does.
    """
    BATCH_SIZE = images.size(0)
    images = images.reshape(BATCH_SIZE, -1)

    # 진짜와 가짜 이미지에 레이블 달아주기 위해 두 레이블 텐서 정의
    real_labels = torch.ones(BATCH_SIZE, 1, device=images.device)  # the seed: .to(DEVICE)
    fake_labels = torch.zeros(BATCH_SIZE, 1, device=images.device)

    # 판별자가 진짜 이미지를 진짜로 인식하는 오차 계산
    outputs = D(images)
    d_loss_real = criterion(outputs, real_labels)
    real_score = outputs

    # 무작위 텐서로 가짜 이미지 생성 (z = torch.randn(BATCH_SIZE, 64): given)
    fake_images = G(z)

    # 판별자가 가짜 이미지를 가짜로 인식하는 오차 계산
    outputs = D(fake_images)
    d_loss_fake = criterion(outputs, fake_labels)
    fake_score = outputs

    # 진짜와 가짜 이미지를 갖고 낸 오차를 더해서 판별자의 오차 계산
    d_loss = d_loss_real + d_loss_fake

    # 역전파 알고리즘으로 판별자 모델의 학습 진행
    d_optimizer.zero_grad()
    g_optimizer.zero_grad()
    d_loss.backward()
    d_optimizer.step()

    # 생성자가 판별자를 속였는지에 대한 오차 계산
    fake_images = G(z)
    outputs = D(fake_images)
    g_loss = criterion(outputs, real_labels)

    # 역전파 알고리즘으로 생성자 모델의 학습 진행
    d_optimizer.zero_grad()
    g_optimizer.zero_grad()
    g_loss.backward()
    g_optimizer.step()

    return d_loss, g_loss, real_score, fake_score, outputs
