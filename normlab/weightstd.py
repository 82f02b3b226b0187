r"""Weight Standardization (Qiao et al., 2019), written out by hand.

Each output unit's whole fan-in vector of weights is centred and scaled to unit (biased)
variance before it is used (the paper's v2 definition, eqs. 5-7):

.. math::
    \hat W_{:,o} = \frac{W_{:,o}-\mu_o}{\sigma_o},\quad \mu_o = \frac1I\sum_j W_{j,o},\quad
    \sigma_o = \sqrt{\frac1I\sum_j W_{j,o}^2-\mu_o^2+\epsilon}.

Layout: the book's ``h @ W``, fan-in axes first and output units LAST, so a Dense weight is
``(I, O)`` and a convolution kernel ``(kh, kw, C_in, O)`` with :math:`I = k_h k_w C_{in}`.

It is BN's centring-and-scaling projection applied to a unit's fan-in instead of its batch: at
:math:`\epsilon = 0`, with :math:`g = \partial\ell/\partial\hat W_{:,o}`,

.. math::
    \frac{\partial\ell}{\partial W_{:,o}} = \frac1{\sigma_o}\Big(g - \frac{\langle\mathbf 1, g\rangle}{I}\mathbf 1
    - \frac{\langle\hat W_{:,o}, g\rangle}{I}\hat W_{:,o}\Big) = \frac{P g}{\sigma_o},

with :math:`P` the orthogonal projector off :math:`\mathbf 1` and :math:`\hat W_{:,o}`. The
official code differs: ``W.std(dim=1) + 1e-5`` (PyTorch) is the unbiased :math:`1/(I-1)` standard
deviation with :math:`\epsilon` added outside the square root (the paper's v1); this module
follows the v2 equations.
"""

from __future__ import annotations

import jax.numpy as jnp

from normlab import validate


def _check(W) -> tuple[int, tuple]:
    shape = jnp.shape(W)
    if len(shape) < 2:
        raise ValueError(
            f"W must have fan-in axes first and output units last, e.g. (I, O) or "
            f"(kh, kw, C_in, O); got shape {shape}.")
    fan_in = 1
    for s in shape[:-1]:
        fan_in *= s
    if fan_in < 2:
        raise ValueError(f"Weight Standardization needs a fan-in of at least 2 weights per output "
                         f"unit; W of shape {shape} has {fan_in}.")
    return fan_in, tuple(range(len(shape) - 1))


def _stats(W, eps: float):
    _, axes = _check(W)
    mu = jnp.mean(W, axis=axes, keepdims=True)
    wc = W - mu
    sigma = jnp.sqrt(jnp.mean(wc * wc, axis=axes, keepdims=True) + eps)
    return wc / sigma, sigma, axes


def standardize(W, eps: float = 0.0):
    r"""``W_hat``: every output unit's (last axis) fan-in centred and divided by its biased
    standard deviation :math:`\sqrt{\sigma^2+\epsilon}` (eps inside the root)."""
    W = validate.array(W, "W", "weightstd.standardize")
    validate.eps(eps, "weightstd.standardize")
    validate.finite(W, "W", "weightstd.standardize")
    return _stats(W, eps)[0]


def backward(grad_w_hat, W, eps: float = 0.0):
    r"""The gradient with respect to ``W`` from the gradient ``grad_w_hat`` with respect to
    :math:`\hat W`, by hand: :math:`(g - \bar g\,\mathbf 1 - \overline{g\hat W}\,\hat W)/\sigma`
    per output unit, bars the means over its fan-in, :math:`\sigma=\sqrt{\sigma^2_W+\epsilon}`:
    exact for any eps, and the projection :math:`Pg/\sigma` at :math:`\epsilon = 0`."""
    fn = "weightstd.backward"
    W, grad_w_hat = validate.array(W, "W", fn), validate.array(grad_w_hat, "grad_w_hat", fn)
    validate.eps(eps, fn)
    validate.finite(W, "W", fn)
    validate.finite(grad_w_hat, "grad_w_hat", fn)
    if jnp.shape(grad_w_hat) != W.shape:
        raise ValueError(f"grad_w_hat must have the shape of W, {W.shape}; got {jnp.shape(grad_w_hat)}.")
    w_hat, sigma, axes = _stats(W, eps)
    g = jnp.asarray(grad_w_hat)
    mean = lambda a: jnp.mean(a, axis=axes, keepdims=True)
    # d w_hat_j / d W_k = (delta_jk - 1/I - w_hat_j w_hat_k / I) / sigma (d sigma/dW_k = w_hat_k / I)
    return (g - mean(g) - w_hat * mean(g * w_hat)) / sigma
