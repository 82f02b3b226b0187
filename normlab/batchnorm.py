r"""Batch Normalization (Ioffe & Szegedy, 2015), written out by hand.

Statistics are taken over every axis but the last, so a fully connected activation of shape
``(N, C)`` and a convolutional one of shape ``(N, H, W, C)`` are both handled; for the latter the
effective batch is ``m = N * H * W`` values per channel (the paper's :math:`m' = m p q`).

Training mode (Algorithm 1), per channel, with ``m`` reduced elements:

.. math::
    \mu = \frac1m \sum_i x_i,\quad \sigma^2 = \frac1m \sum_i (x_i-\mu)^2,\quad
    \hat x_i = \frac{x_i-\mu}{\sqrt{\sigma^2+\epsilon}},\quad y_i = \gamma \hat x_i + \beta .

Inference (Algorithm 2) replaces the batch statistics by population estimates and folds
everything into one affine map per channel.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from normlab import validate


class Cache(NamedTuple):
    """What the backward pass needs from the forward pass."""

    xhat: jnp.ndarray  # normalized input, same shape as x
    inv_std: jnp.ndarray  # 1 / sqrt(sigma^2 + eps), shape (C,)
    gamma: jnp.ndarray  # scale, shape (C,)


def _reduced(x) -> tuple[tuple[int, ...], int]:
    """Axes reduced by BN (all but the channel axis) and the number m of values per channel."""
    x = jnp.asarray(x)
    if x.ndim < 2:
        raise ValueError(
            f"BatchNorm expects an input of shape (N, C) or (N, H, W, C); got shape {x.shape}. "
            "Add a batch axis, e.g. x[None, :] for one example, or x[:, None] for one channel."
        )
    axes = tuple(range(x.ndim - 1))
    m = 1
    for a in axes:
        m *= x.shape[a]
    return axes, m


def _require_batch(m: int, shape) -> None:
    if m == 0:
        raise ValueError(
            f"BatchNorm got an empty batch: x of shape {tuple(shape)} has no values to "
            "normalize (m = 0). Pass a batch of 2 or more examples.")
    if m < 2:
        raise ValueError(
            f"BatchNorm needs at least 2 values per channel to estimate a mean and a variance; "
            f"an input of shape {tuple(shape)} gives m = {m}. With one example, x - mean(x) = 0, "
            "so every output equals beta and no gradient reaches the layer below. Use a batch of "
            "2 or more (or a per-example normalization such as LayerNorm)."
        )


def _inputs(fn: str, x, eps, batch: bool = True, **params):
    """Validate ``x`` (channels-last, finite; with ``batch``, a batch axis), ``eps`` and the
    per-channel ``params``; return ``(x, params, dtype)``: ``x`` and the params as arrays in the
    dtype the statistics are computed in (float32 for float16/bfloat16 input), and the dtype to
    return the result in (None: the computed one)."""
    x = validate.array(x, "x", fn)
    if batch:
        _reduced(x)
    elif x.ndim < 1:
        raise ValueError(f"{fn}: x must have a channel axis last, shape (..., C); got a scalar.")
    validate.eps(eps, fn)
    validate.finite(x, "x", fn)
    out = {}
    for name, p in params.items():
        p = validate.per_channel(p, name, x, fn)
        validate.finite(p, name, fn)
        out[name] = p
    work = validate.compute_dtype(x)
    if work == x.dtype:
        return x, out, None
    return x.astype(work), {k: v.astype(work) for k, v in out.items()}, x.dtype


def forward(x, gamma, beta, eps: float = 1e-5):
    r"""Training-mode BN (Algorithm 1): :math:`y = \gamma (x-\mu_B)/\sqrt{\sigma_B^2+\epsilon} + \beta`.

    The batch variance is the biased one, :math:`\sigma_B^2 = \frac1m\sum_i (x_i-\mu_B)^2`.

    ``x`` is channels-last, ``(N, C)`` or ``(N, H, W, C)``; ``gamma`` and ``beta`` have shape
    ``(C,)``. Half-precision input is normalized with float32 statistics and ``y`` returned in its
    dtype. Returns ``(y, cache)``; ``cache`` holds what :func:`backward` needs.
    """
    x, p, back = _inputs("batchnorm.forward", x, eps, gamma=gamma, beta=beta)
    gamma, beta = p["gamma"], p["beta"]
    axes, m = _reduced(x)
    _require_batch(m, jnp.shape(x))
    mu = jnp.mean(x, axis=axes)
    xc = x - mu
    var = jnp.mean(xc * xc, axis=axes)
    inv_std = 1.0 / jnp.sqrt(var + eps)
    xhat = xc * inv_std
    y = gamma * xhat + beta
    return (y if back is None else y.astype(back)), Cache(xhat, inv_std, gamma)


def backward(dy, cache: Cache):
    r"""The hand-derived backward pass of training-mode BN (no autodiff inside).

    With :math:`g_i = \partial\ell/\partial\hat x_i = \gamma\, \partial\ell/\partial y_i`, the compact form is

    .. math::
        \frac{\partial\ell}{\partial x_i} = \frac{1}{m\sqrt{\sigma^2+\epsilon}}
        \Big(m\, g_i - \sum_j g_j - \hat x_i \sum_j g_j \hat x_j\Big),\qquad
        \frac{\partial\ell}{\partial\gamma} = \sum_i \frac{\partial\ell}{\partial y_i}\hat x_i,\qquad
        \frac{\partial\ell}{\partial\beta} = \sum_i \frac{\partial\ell}{\partial y_i}.

    Returns ``(dx, dgamma, dbeta)``.
    """
    if not isinstance(cache, tuple) or len(cache) != 3:
        raise TypeError("batchnorm.backward: cache must be the second value returned by "
                        f"batchnorm.forward, (y, cache) = forward(x, gamma, beta); got {type(cache).__name__}.")
    xhat, inv_std, gamma = cache
    dy = validate.array(dy, "dy", "batchnorm.backward")
    if dy.shape != xhat.shape:
        raise ValueError(f"batchnorm.backward: dy must have the shape of x and y, {tuple(xhat.shape)}; "
                         f"got shape {tuple(dy.shape)}.")
    validate.finite(dy, "dy", "batchnorm.backward")
    back = dy.dtype if dy.dtype != xhat.dtype and jnp.issubdtype(dy.dtype, jnp.inexact) else None
    dy = dy.astype(xhat.dtype)
    axes, m = _reduced(xhat)
    dbeta = jnp.sum(dy, axis=axes)
    dgamma = jnp.sum(dy * xhat, axis=axes)
    g = dy * gamma
    dx = (inv_std / m) * (m * g - jnp.sum(g, axis=axes) - xhat * jnp.sum(g * xhat, axis=axes))
    if back is not None:  # half-precision dy: computed in float32, returned in its dtype
        dx, dgamma, dbeta = dx.astype(back), dgamma.astype(back), dbeta.astype(back)
    return dx, dgamma, dbeta


def batch_stats(x):
    """Per-channel batch mean, biased variance (1/m) and unbiased variance (1/(m-1))."""
    axes, m = _reduced(x)
    _require_batch(m, jnp.shape(x))
    mean = jnp.mean(x, axis=axes)
    var = jnp.mean((x - mean) ** 2, axis=axes)
    return mean, var, var * (m / (m - 1))


def update_running(running, x, momentum: float = 0.1):
    r"""One update of the running statistics, PyTorch's convention.

    .. math::
        \text{mean} \leftarrow (1-\text{momentum})\,\text{mean} + \text{momentum}\,\mu_B,\qquad
        \text{var} \leftarrow (1-\text{momentum})\,\text{var} + \text{momentum}\,\tfrac{m}{m-1}\sigma_B^2,

    where ``momentum`` is the weight of the new batch and ``m`` counts every reduced element
    (``N`` for ``(N, C)``, ``N*H*W`` for ``(N, H, W, C)``). Returns the new ``(mean, var)``.
    """
    fn = "batchnorm.update_running"
    if not isinstance(running, (tuple, list)) or len(running) != 2:
        raise TypeError(f"{fn}: running must be the pair (mean, var) of the running statistics, "
                        f"each of shape (C,); got {type(running).__name__}.")
    x, p, _ = _inputs(fn, x, 0.0, **{"running mean": running[0], "running var": running[1]})
    bmean, _, bvar_unbiased = batch_stats(x)
    return running_step((p["running mean"], p["running var"]), bmean, bvar_unbiased, momentum)


def running_step(running, batch_mean, batch_var_unbiased, momentum: float = 0.1):
    """The update rule itself, from a batch's mean and unbiased variance (also used for the
    masked batches of :mod:`normlab.nets`)."""
    mean, var = running
    return ((1.0 - momentum) * mean + momentum * batch_mean,
            (1.0 - momentum) * var + momentum * batch_var_unbiased)


def inference(x, gamma, beta, mean, var, eps: float = 1e-5):
    r"""Inference-mode BN as the folded affine map of Algorithm 2:

    .. math::
        y = \frac{\gamma}{\sqrt{\mathrm{Var}[x]+\epsilon}}\, x
            + \Big(\beta - \frac{\gamma\,\mathrm{E}[x]}{\sqrt{\mathrm{Var}[x]+\epsilon}}\Big).

    ``x`` is channels-last (any number of leading axes, batch of one included); ``gamma``, ``beta``
    and the population ``mean`` and ``var`` have shape ``(C,)``.
    """
    x, p, back = _inputs("batchnorm.inference", x, eps, batch=False, gamma=gamma, beta=beta, mean=mean, var=var)
    scale, shift = fold(p["gamma"], p["beta"], p["mean"], p["var"], eps)
    y = x * scale + shift
    return y if back is None else y.astype(back)


def fold(gamma, beta, mean, var, eps: float = 1e-5):
    """The per-channel ``(scale, shift)`` of the folded inference map."""
    scale = gamma / jnp.sqrt(var + eps)
    return scale, beta - scale * mean


def standardize(x, eps: float = 0.0, hold: bool = False):
    r""":math:`\hat x = (x-\mu)/\sigma` over axis 0 with :math:`\sigma = \sqrt{\sigma_B^2+\epsilon}` and the
    biased batch variance; ``hold=True`` keeps :math:`\mu` and :math:`\sigma` outside the gradient
    (``stop_gradient``: the naive layer of Chapter 2). Returns ``(xhat, sigma)``. The theory of
    Chapters 2 and 5 uses it with :math:`\epsilon = 0`, where BN's identities are exact."""
    mu = jnp.mean(x, axis=0)
    sigma = jnp.sqrt(jnp.mean((x - mu) ** 2, axis=0) + eps)
    if hold:
        mu, sigma = jax.lax.stop_gradient(mu), jax.lax.stop_gradient(sigma)
    return (x - mu) / sigma, sigma


def masked_stats(x, mask):
    r"""Batch mean and biased variance over the rows of ``x`` (N, C) where ``mask`` (N,) is 1.

    Lets a fixed-shape array hold a batch of any size ``m = sum(mask)``, so batch size becomes an
    ordinary number that ``jit`` and ``vmap`` can trace (used by :mod:`normlab.nets`).
    """
    w = mask[:, None]
    m = jnp.sum(mask)
    mean = jnp.sum(w * x, axis=0) / m
    var = jnp.sum(w * (x - mean) ** 2, axis=0) / m
    return mean, var, m
