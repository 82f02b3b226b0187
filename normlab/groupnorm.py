r"""Group Normalization (Wu & He, 2018), written out by hand, channels last.

For one example, the :math:`C` channels are split into :math:`G` groups of :math:`C/G` consecutive
channels; each group is normalized with the mean and the biased variance of all its entries over
the spatial axes and its :math:`C/G` channels (eqs. 1, 2 and 7 of the paper), then every channel
gets its own gain and bias (eq. 6):

.. math::
    \mu_{n,g} = \frac1{|S|}\sum_{k\in S_{n,g}} x_k,\quad
    \sigma^2_{n,g} = \frac1{|S|}\sum_{k\in S_{n,g}} (x_k-\mu_{n,g})^2,\quad
    y_{n,\dots,c} = \gamma_c\,\frac{x_{n,\dots,c}-\mu_{n,g(c)}}{\sqrt{\sigma^2_{n,g(c)}+\epsilon}} + \beta_c .

``groups = 1`` is Layer Normalization over (spatial, C); ``groups = C`` is Instance Normalization.
The statistics never mix examples, so a batch of one is fine and training and inference agree.
These are ``torch.nn.functional.group_norm``'s conventions (biased variance, epsilon inside the
square root, per-channel affine) with its channels-first layout transposed to channels last.
"""

from __future__ import annotations

import jax.numpy as jnp

from normlab import validate


def _check(x, groups: int, gain, bias) -> tuple[int, int]:
    shape = jnp.shape(x)
    if len(shape) < 2:
        raise ValueError(
            f"GroupNorm expects x of shape (N, ..., C), channels last; got shape {shape}. Add a "
            "batch axis (x[None]) for a single example.")
    c = shape[-1]
    if not isinstance(groups, (int,)) or groups < 1 or c % groups:
        raise ValueError(
            f"groups must be a positive integer that divides the number of channels C = {c} (the "
            f"last axis of x, shape {shape}); got groups = {groups!r}.")
    for name, p in (("gain", gain), ("bias", bias)):
        if p is not None and jnp.shape(p) != (c,):
            hint = ""
            if jnp.ndim(p) == 1 and len(shape) >= 3 and shape[1] == jnp.shape(p)[0]:
                hint = (" x looks channels-first (N, C, ...): GroupNorm here is channels last, "
                        "move the channels last (jnp.moveaxis(x, 1, -1)).")
            raise ValueError(
                f"{name} must have shape (C,) = ({c},), one per channel of the last axis of x "
                f"(shape {shape}); got shape {jnp.shape(p)}.{hint}")
    return c, groups


def forward(x, groups: int, gain, bias, eps: float = 1e-5):
    r"""GroupNorm of ``x`` (shape ``(N, ..., C)``, channels last) with ``groups`` groups of
    ``C/groups`` consecutive channels; ``gain`` and ``bias`` of shape ``(C,)``. Statistics per
    example over the spatial axes and the group's channels, biased variance, ``eps`` inside the
    square root. Returns ``y``, shaped like ``x``."""
    fn = "groupnorm.forward"
    x, gain, bias = (validate.array(a, n, fn) for a, n in ((x, "x"), (gain, "gain"), (bias, "bias")))
    c, g = _check(x, groups, gain, bias)
    validate.eps(eps, fn)
    for name, a in (("x", x), ("gain", gain), ("bias", bias)):
        validate.finite(a, name, fn)
    work = validate.compute_dtype(x)
    if work != x.dtype:  # float16/bfloat16: statistics in float32, the result in x's dtype
        return forward(x.astype(work), groups, gain.astype(work), bias.astype(work), eps).astype(x.dtype)
    n, spatial = x.shape[0], x.shape[1:-1]
    xg = x.reshape((n, *spatial, g, c // g))
    axes = tuple(range(1, len(spatial) + 1)) + (xg.ndim - 1,)
    mu = jnp.mean(xg, axis=axes, keepdims=True)
    xc = xg - mu
    var = jnp.mean(xc * xc, axis=axes, keepdims=True)
    xhat = (xc / jnp.sqrt(var + eps)).reshape(x.shape)
    return gain * xhat + bias
