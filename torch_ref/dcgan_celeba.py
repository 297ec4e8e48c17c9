"""Seed 000: the PyTorch DCGAN tutorial (Korean translation), faces from CelebA.

The tutorial's code as it writes it: its settings, `weights_init`, `Generator` and
`Discriminator` (each a `main` Sequential; `ngpu` kept), its criterion and optimisers, and one
pass of its inner loop (`for i, data in enumerate(dataloader, 0)`) with `noise` given instead of
drawn there. The networks take the tutorial's globals (nz, ngf, ndf, nc) as defaults.
"""

import torch
import torch.nn as nn
import torch.optim as optim

manualSeed = 999
batch_size = 128
image_size = 64
nc = 3
nz = 100
ngf = 64
ndf = 64
num_epochs = 5
lr = 0.0002
beta1 = 0.5

# The recipe keys (configs/dcgan_celeba.yaml) these lines fix.
RECIPE = {
    "seed": manualSeed,
    "model.arch": "dcgan",
    "model.z_dim": nz,
    "model.noise": "normal",
    "model.generator.width": ngf,
    "model.discriminator.width": ndf,
    "model.init": "dcgan",
    "loss.kind": "bce",
    "loss.generator": "non_saturating",
    "optimizer.generator.name": "adam",
    "optimizer.generator.lr": lr,
    "optimizer.generator.b1": beta1,
    "optimizer.generator.b2": 0.999,
    "optimizer.generator.eps": 1e-8,
    "optimizer.discriminator.name": "adam",
    "optimizer.discriminator.lr": lr,
    "optimizer.discriminator.b1": beta1,
    "optimizer.discriminator.b2": 0.999,
    "optimizer.discriminator.eps": 1e-8,
    "data.image_size": image_size,
    "data.channels": nc,
    "data.scale": "minus_one_one",
    "train.scheme": "minibatch",
    "train.generator_noise": "same",
    "train.batch_size": batch_size,
    "train.epochs": num_epochs,
    "train.num_samples": 64,
}


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find('Conv') != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find('BatchNorm') != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


class Generator(nn.Module):
    def __init__(self, ngpu, nz=nz, ngf=ngf, nc=nc):
        super(Generator, self).__init__()
        self.ngpu = ngpu
        self.main = nn.Sequential(
            # 입력데이터 Z가 가장 처음 통과하는 전치 합성곱 계층입니다.
            nn.ConvTranspose2d( nz, ngf * 8, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),
            # 위의 계층을 통과한 데이터의 크기. ``(ngf*8) x 4 x 4``
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            # 위의 계층을 통과한 데이터의 크기. ``(ngf*4) x 8 x 8``
            nn.ConvTranspose2d( ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            # 위의 계층을 통과한 데이터의 크기. ``(ngf*2) x 16 x 16``
            nn.ConvTranspose2d( ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            # 위의 계층을 통과한 데이터의 크기. ``(ngf) x 32 x 32``
            nn.ConvTranspose2d( ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh()
            # 위의 계층을 통과한 데이터의 크기. ``(nc) x 64 x 64``
        )

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self, ngpu, ndf=ndf, nc=nc):
        super(Discriminator, self).__init__()
        self.ngpu = ngpu
        self.main = nn.Sequential(
            # 입력 데이터의 크기는 ``(nc) x 64 x 64`` 입니다
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            # 위의 계층을 통과한 데이터의 크기. ``(ndf) x 32 x 32``
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            # 위의 계층을 통과한 데이터의 크기. ``(ndf*2) x 16 x 16``
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            # 위의 계층을 통과한 데이터의 크기. ``(ndf*4) x 8 x 8``
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 8),
            nn.LeakyReLU(0.2, inplace=True),
            # 위의 계층을 통과한 데이터의 크기. ``(ndf*8) x 4 x 4``
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
            nn.Sigmoid()
        )

    def forward(self, input):
        return self.main(input)


def make_optimizers(netD, netG):
    # G와 D에서 사용할 Adam옵티마이저를 생성합니다
    optimizerD = optim.Adam(netD.parameters(), lr=lr, betas=(beta1, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=lr, betas=(beta1, 0.999))
    return optimizerD, optimizerG


def draw_noise(b_size):
    return torch.randn(b_size, nz, 1, 1)


real_label = 1.
fake_label = 0.


def train_step(netG, netD, criterion, optimizerD, optimizerG, real_cpu, noise, g_noise=None):
    """One iteration of the tutorial's inner loop; returns errD, errG, D_x, D_G_z1, D_G_z2.

    g_noise: None (the tutorial: the G step sends the same `fake` through the updated D), or
    noise for a G step on a fresh fake (`train.generator_noise: fresh`, not the tutorial's).
    """
    ############################
    # (1) D 신경망을 업데이트 합니다: log(D(x)) + log(1 - D(G(z)))를 최대화 합니다
    ###########################
    ## 진짜 데이터들로 학습을 합니다
    netD.zero_grad()
    b_size = real_cpu.size(0)
    label = torch.full((b_size,), real_label, device=real_cpu.device)  # the seed: dtype=torch.float (the default here), device=device
    # 진짜 배치 데이터로 D로 순전파합니다
    output = netD(real_cpu).view(-1)
    # 손실값을 구합니다
    errD_real = criterion(output, label)
    # 역전파의 변화도를 계산합니다
    errD_real.backward()
    D_x = output.mean().item()

    ## 가짜 데이터들로 학습을 합니다
    # G를 이용해 가짜 이미지를 생성합니다
    fake = netG(noise)
    label.fill_(fake_label)
    # D를 이용해 데이터의 진위를 판별합니다
    output = netD(fake.detach()).view(-1)
    # D의 손실값을 계산합니다
    errD_fake = criterion(output, label)
    # 역전파를 통해 변화도를 계산합니다. 이때 앞서 구한 변화도에 더합니다(accumulate)
    errD_fake.backward()
    D_G_z1 = output.mean().item()
    # 가짜 이미지와 진짜 이미지 모두에서 구한 손실값들을 더합니다
    errD = errD_real + errD_fake
    # D를 업데이트 합니다
    optimizerD.step()

    ############################
    # (2) G 신경망을 업데이트 합니다: log(D(G(z)))를 최대화 합니다
    ###########################
    netG.zero_grad()
    label.fill_(real_label)  # 생성자의 손실값을 구하기 위해 진짜 라벨을 이용할 겁니다
    if g_noise is not None:
        fake = netG(g_noise)
    # 우리는 방금 D를 업데이트했기 때문에, D에 다시 가짜 데이터를 통과시킵니다.
    output = netD(fake).view(-1)
    # G의 손실값을 구합니다
    errG = criterion(output, label)
    # G의 변화도를 계산합니다
    errG.backward()
    D_G_z2 = output.mean().item()
    # G를 업데이트 합니다
    optimizerG.step()

    return errD, errG, D_x, D_G_z1, D_G_z2
