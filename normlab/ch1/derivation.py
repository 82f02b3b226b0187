r"""Chapter 1, sections 1.2-1.3: Algorithm 1 step by step and its backward pass by hand.

- :func:`forward_staged`, :func:`backward_staged`: every intermediate of Algorithm 1 and of its
  backward pass as the paper writes it (before simplification) and in compact form;
- :func:`backward_check`: each step against ``jax.grad`` and central finite differences (float64);
- :func:`backward_vs_vjp`: :func:`normlab.batchnorm.backward` against ``jax.vjp``.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

import normlab
from normlab import batchnorm
from normlab.measure import finite_difference_grad, rel_error

def forward_staged(x, gamma, beta, eps: float = 1e-5, xp=jnp) -> dict:
    r"""Every intermediate of Algorithm 1 over the batch axis (axis 0 of ``x`` (m, C)).

    :math:`\mu = \frac1m\sum_i x_i`, :math:`\sigma^2 = \frac1m\sum_i (x_i-\mu)^2`,
    :math:`\hat x_i = (x_i-\mu)/\sqrt{\sigma^2+\epsilon}`, :math:`y_i = \gamma\hat x_i+\beta`.
    ``xp``: the array module (``jax.numpy``, or ``numpy`` for finite differences).
    """
    mu = xp.mean(x, axis=0)
    var = xp.mean((x - mu) ** 2, axis=0)
    xhat = (x - mu) / xp.sqrt(var + eps)
    return {"mu": mu, "var": var, "xhat": xhat, "y": gamma * xhat + beta}


def backward_staged(dy, x, gamma, eps: float = 1e-5) -> dict:
    r"""The backward pass of Algorithm 1 by hand, one chain-rule step per entry.

    ``dxhat`` :math:`=\gamma\,\partial\ell/\partial y`; ``dvar`` and ``dmu`` are the paper's
    :math:`\partial\ell/\partial\sigma^2_B` and :math:`\partial\ell/\partial\mu_B`; ``dx_paper`` is
    :math:`\partial\ell/\partial x_i` assembled from them, ``dx`` the compact form
    :math:`\frac{1}{m\sqrt{\sigma^2+\epsilon}}(m g_i - \sum_j g_j - \hat x_i\sum_j g_j\hat x_j)`.
    """
    m = x.shape[0]
    f = forward_staged(x, gamma, 0.0, eps)
    mu, var, xhat = f["mu"], f["var"], f["xhat"]
    xc = x - mu
    inv = 1.0 / jnp.sqrt(var + eps)
    dxhat = dy * gamma
    dvar = jnp.sum(dxhat * xc, axis=0) * (-0.5) * inv**3
    dmu = jnp.sum(dxhat, axis=0) * (-inv) + dvar * jnp.sum(-2.0 * xc, axis=0) / m
    dx_paper = dxhat * inv + dvar * 2.0 * xc / m + dmu / m
    dx = (inv / m) * (m * dxhat - jnp.sum(dxhat, axis=0) - xhat * jnp.sum(dxhat * xhat, axis=0))
    return {"dxhat": dxhat, "dvar": dvar, "dmu": dmu, "dx_paper": dx_paper, "dx": dx,
            "dgamma": jnp.sum(dy * xhat, axis=0), "dbeta": jnp.sum(dy, axis=0)}


def _staged_losses(dy, x, gamma, beta, eps, xp=jnp):
    """For each quantity of :func:`backward_staged`, ``(f, at)``: the scalar function of one
    variable whose gradient at ``at`` it is. The loss is l = sum(dy * y), so dl/dy = dy is a random
    upstream gradient. Each partial derivative holds the node's other inputs fixed, as the
    paper's do."""
    f = forward_staged(x, gamma, beta, eps, xp)
    mu, var, xhat = f["mu"], f["var"], f["xhat"]
    loss_y = lambda y: xp.sum(dy * y)
    fwd = lambda x_, g_, b_: forward_staged(x_, g_, b_, eps, xp)["y"]
    return {
        "dxhat": (lambda xh: loss_y(gamma * xh + beta), xhat),
        "dvar": (lambda v: loss_y(gamma * (x - mu) / xp.sqrt(v + eps) + beta), var),
        # mu reaches x-hat directly and through sigma^2 (the paper's second term)
        "dmu": (lambda u: loss_y(gamma * (x - u) / xp.sqrt(xp.mean((x - u) ** 2, 0) + eps) + beta),
                mu),
        "dx_paper": (lambda z: loss_y(fwd(z, gamma, beta)), x),
        "dx": (lambda z: loss_y(fwd(z, gamma, beta)), x),
        "dgamma": (lambda g: loss_y(fwd(x, g, beta)), gamma),
        "dbeta": (lambda b: loss_y(fwd(x, gamma, b)), beta),
    }


@lru_cache(maxsize=None)
def backward_check(m: int = 8, c: int = 3, eps: float = 1e-5, seed: int = 0) -> dict:
    """Compare every step of :func:`backward_staged` with ``jax.grad`` and finite differences.

    Float64. Returns ``{name: (rel_error_vs_autodiff, rel_error_vs_finite_differences)}``.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(1.0, 2.0, (m, c))
    gamma = rng.normal(1.0, 0.5, c)
    beta = rng.normal(0.0, 0.5, c)
    dy = rng.normal(size=(m, c))

    def hand_and_auto(dy, x, gamma, beta):
        auto = {k: jax.grad(f)(at) for k, (f, at) in _staged_losses(dy, x, gamma, beta, eps).items()}
        return backward_staged(dy, x, gamma, eps), auto

    with normlab.float64():
        hand, auto = jax.jit(hand_and_auto)(dy, x, gamma, beta)
    out = {}
    for name, (f, at) in _staged_losses(dy, x, gamma, beta, eps, np).items():
        fd = finite_difference_grad(f, at)
        out[name] = (rel_error(hand[name], auto[name]), rel_error(hand[name], fd))
    return out


@lru_cache(maxsize=None)
def backward_vs_vjp(seed: int = 0) -> float:
    """Max relative error of :func:`normlab.batchnorm.backward` against ``jax.vjp`` (float64) over
    (N, C) and (N, H, W, C) inputs of several scales and batch sizes, random upstream gradients."""
    rng = np.random.default_rng(seed)

    def both(x, gamma, beta, dy):
        hand = batchnorm.backward(dy, batchnorm.forward(x, gamma, beta)[1])
        _, vjp = jax.vjp(lambda a, g, b: batchnorm.forward(a, g, b)[0], x, gamma, beta)
        return hand, vjp(dy)

    worst = 0.0
    with normlab.float64():
        for shape, scale in [((8, 5), 100.0), ((3, 4, 5, 2), 1e-2)]:
            args = (rng.normal(0.5, scale, shape), rng.normal(1.0, 0.5, shape[-1]),
                    rng.normal(size=shape[-1]), rng.normal(size=shape))
            hand, auto = jax.jit(both)(*args)
            worst = max([worst] + [rel_error(h, a) for h, a in zip(hand, auto)])
    return worst
