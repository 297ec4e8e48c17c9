"""Numerical kernels the model layers call.

  conv.py   torch's Conv2d and ConvTranspose2d on NHWC arrays, with custom gradients that
            XLA:CPU runs fast (and a GPU too); `$JAXGAN_CONV_IMPL=xla` picks JAX's own instead
"""
