"""Seed 003: DCGAN on CIFAR-10 (a Korean blog post after pytorch/examples' dcgan).

The post's code as it writes it: its settings, `weights_init`, `_netG` and `_netD` (whose output
is `.view(-1, 1).squeeze(1)`), its criterion and optimisers, and one pass of its inner loop
(`for i, data in enumerate(train_loader)`) with the noise given instead of drawn there. The
networks take the post's globals (nz, ngf, ndf, nc) as defaults. The post ends each epoch with
`torch.save(netG.state_dict(), '%s/netG.pth' % (outf))` and the same for netD; those files
convert into jaxgan and back with `python -m jaxgan.convert_cli`.
"""

import torch
import torch.nn as nn
from torch import optim

nz = 100 # 노이즈 벡터의 크기
nc = 3 # 채널의 수
ngf = 64 # generator 필터 조정
ndf = 64 # discriminator 필터 조정
niter = 200 # 에폭 수
lr = 0.0002
beta1 = 0.5
imageSize = 64 # 만들어지는 이미지의 크기
batchSize = 64 # 미니배치의 크기

# The recipe keys (configs/dcgan_cifar10.yaml) these lines fix.
RECIPE = {
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
    "data.image_size": imageSize,
    "data.channels": nc,
    "data.scale": "minus_one_one",
    "train.scheme": "minibatch",
    "train.generator_noise": "same",
    "train.batch_size": batchSize,
    "train.epochs": niter,
    "train.num_samples": batchSize,
}


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find('Conv') != -1:         # Conv weight init
        m.weight.data.normal_(0.0, 0.02)
    elif classname.find('BatchNorm') != -1:  # BatchNorm weight init
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)


class _netG(nn.Module):
    def __init__(self, nz=nz, ngf=ngf, nc=nc):
        super(_netG, self).__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf*4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf*2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh()
        )

    def forward(self, input):
        output = self.main(input)
        return output


class _netD(nn.Module):
    def __init__(self, ndf=ndf, nc=nc):
        super(_netD, self).__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4,2,1,bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf*2, ndf*4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf*8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf*8, 1, 4, 1, 0, bias=False),
            nn.Sigmoid()
        )

    def forward(self, input):
        output = self.main(input)
        return output.view(-1, 1).squeeze(1)


def make_optimizers(netD, netG):
    optimizerD = optim.Adam(netD.parameters(), lr=lr, betas=(beta1, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=lr, betas=(beta1, 0.999))
    return optimizerD, optimizerG


def draw_noise(batch_size):
    # noise.resize_(batch_size, nz, 1, 1).normal_(0, 1)
    return torch.empty(batch_size, nz, 1, 1).normal_(0, 1)


real_label = 1
fake_label = 0


def train_step(netG, netD, criterion, optimizerD, optimizerG, real_cpu, noisev, g_noise=None):
    """One iteration of the post's inner loop; returns errD, errG, D_x, D_G_z1, D_G_z2.

    `input`, `label` and `noise` are the post's preallocated buffers (`torch.FloatTensor(...)`,
    made here in the default dtype so a float64 run works); `Variable` is a no-op today and is
    left out. g_noise: as in seed 000's step (not the post's).
    """
    netD.zero_grad()
    batch_size = real_cpu.size(0)
    input = torch.empty_like(real_cpu).copy_(real_cpu)
    label = torch.empty(batch_size, device=real_cpu.device).fill_(real_label)
    output = netD(input)
    errD_real = criterion(output, label)
    errD_real.backward()
    D_x = output.data.mean()

    fake = netG(noisev)
    labelv = label.fill_(fake_label)
    output = netD(fake.detach())
    errD_fake = criterion(output, labelv)
    errD_fake.backward()
    D_G_z1 = output.data.mean()
    errD = errD_real + errD_fake
    optimizerD.step()

    netG.zero_grad()
    labelv = label.fill_(real_label)
    if g_noise is not None:
        fake = netG(g_noise)
    output = netD(fake)
    errG = criterion(output, labelv)
    errG.backward()
    D_G_z2 = output.data.mean()
    optimizerG.step()

    return errD, errG, float(D_x), float(D_G_z1), float(D_G_z2)
