r"""Layer Normalization (Ba, Kiros & Hinton, 2016), written out by hand.

The statistics are those of the :math:`H` units of one example (eq. 3), taken over the last axis,
so every example (every row, every time step, every leading index) is normalized on its own and a
batch of one, or a single 1-D example, is fine:

.. math::
    \mu = \frac1H\sum_{i=1}^H a_i,\quad \sigma^2 = \frac1H\sum_{i=1}^H (a_i-\mu)^2,\quad
    \hat a_i = \frac{a_i-\mu}{\sqrt{\sigma^2+\epsilon}},\quad y_i = g_i\,\hat a_i + b_i .

The paper prints no :math:`\epsilon`; as in PyTorch's ``torch.nn.functional.layer_norm``, it is
added to the biased (1/H) variance inside the square root.
"""

from __future__ import annotations

import jax.numpy as jnp

from normlab import validate


def _check(x, gain, bias=None) -> int:
    """Validate shapes; return H, the size of the normalized (last) axis."""
    shape = jnp.shape(x)
    if len(shape) < 1:
        raise ValueError(
            f"LayerNorm expects x of shape (..., H), normalized over its last axis of H units; got "
            f"a scalar (shape {shape}). Pass a vector of units, e.g. jnp.atleast_1d(x).")
    h = shape[-1]
    if h < 2:
        raise ValueError(
            f"LayerNorm needs at least H = 2 units on the last axis; x of shape {shape} has H = "
            f"{h}. With one unit a - mu = 0, so every output equals the bias. If your units lie on "
            "another axis, move them last (jnp.moveaxis).")
    for name, p in (("gain", gain), ("bias", bias)):
        if p is not None and jnp.shape(p) != (h,):
            raise ValueError(
                f"{name} must have shape (H,) = ({h},), one per unit of the last axis of x (shape "
                f"{shape}); got shape {jnp.shape(p)}. LayerNorm normalizes over the last axis: if "
                "your units lie on another axis, move them last (jnp.moveaxis).")
    return h


def _normalize(x, eps: float):
    """``(xhat, 1/sqrt(sigma^2 + eps))`` per example, the statistics over the last axis."""
    mu = jnp.mean(x, axis=-1, keepdims=True)
    xc = x - mu
    inv_std = 1.0 / jnp.sqrt(jnp.mean(xc * xc, axis=-1, keepdims=True) + eps)
    return xc * inv_std, inv_std


def forward(x, gain, bias, eps: float = 1e-5):
    r"""LayerNorm over the last axis: :math:`y = g \odot (a-\mu)/\sqrt{\sigma^2+\epsilon} + b`.

    ``x`` of shape ``(..., H)`` (any leading axes, none included), ``gain`` and ``bias`` of shape
    ``(H,)``; :math:`\sigma^2` is the biased 1/H variance. Half-precision input is normalized with
    float32 statistics. Returns ``y``, shaped like ``x``, in its dtype.
    """
    fn = "layernorm.forward"
    x = validate.array(x, "x", fn)
    gain, bias = validate.array(gain, "gain", fn), validate.array(bias, "bias", fn)
    _check(x, gain, bias)
    validate.eps(eps, fn)
    for name, a in (("x", x), ("gain", gain), ("bias", bias)):
        validate.finite(a, name, fn)
    work = validate.compute_dtype(x)
    if work != x.dtype:  # float16/bfloat16: statistics in float32, the result in x's dtype
        return forward(x.astype(work), gain.astype(work), bias.astype(work), eps).astype(x.dtype)
    xhat, _ = _normalize(x, eps)
    return gain * xhat + bias


def backward(dy, x, gain, eps: float = 1e-5):
    r"""The hand-derived backward pass of :func:`forward` (no autodiff inside).

    BN's compact backward pass, but over the :math:`H` units of one example: with
    :math:`g_i = \text{gain}_i\, \partial\ell/\partial y_i`, for each example

    .. math::
        \frac{\partial\ell}{\partial a_i} = \frac{1}{H\sqrt{\sigma^2+\epsilon}}
        \Big(H g_i - \sum_j g_j - \hat a_i \sum_j g_j \hat a_j\Big),

    and, summed over every leading axis (the examples),
    :math:`\partial\ell/\partial\,\text{gain} = \sum \partial\ell/\partial y \odot \hat a` and
    :math:`\partial\ell/\partial\,\text{bias} = \sum \partial\ell/\partial y`.
    Returns ``(dx, dgain, dbias)``.
    """
    x = jnp.asarray(x)
    h = _check(x, gain)
    if jnp.shape(dy) != x.shape:
        raise ValueError(
            f"dy must have the shape of x and y, {x.shape}; got shape {jnp.shape(dy)}.")
    xhat, inv_std = _normalize(x, eps)
    lead = tuple(range(x.ndim - 1))
    dbias = jnp.sum(dy, axis=lead)
    dgain = jnp.sum(dy * xhat, axis=lead)
    g = dy * gain
    dx = (inv_std / h) * (h * g - jnp.sum(g, axis=-1, keepdims=True)
                          - xhat * jnp.sum(g * xhat, axis=-1, keepdims=True))
    return dx, dgain, dbias
