r"""Weight Normalization (Salimans & Kingma, 2016), written out by hand.

Layout ``h @ W``: the weight ``W`` has shape ``(fan_in, units)``, one column per unit, and each
column is reparameterized by a direction ``v`` and a length ``g`` (eq. 2):

.. math::
    \mathbf w = \frac{g}{\|\mathbf v\|}\,\mathbf v, \qquad \|\mathbf w\| = g .

Also here: the hand-derived gradients (eqs. 3-4), the data-dependent initialization (eqs. 5-6)
and mean-only batch normalization with its gradient (eqs. 7-8).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from normlab import validate


def _concrete_any(mask) -> bool:
    """``any(mask)`` when its value is known; False while tracing (``jit``, ``vmap``), where a
    value cannot raise and the check is skipped."""
    try:
        return bool(jnp.any(mask))
    except jax.errors.ConcretizationTypeError:
        return False


def _finite(fn: str, **arrays):
    """The arrays (lists accepted) as JAX arrays, each checked for NaN and inf when concrete."""
    out = []
    for name, a in arrays.items():
        a = validate.array(a, name, fn)
        validate.finite(a, name, fn)
        out.append(a)
    return out


def _column_norms(v, g=None):
    """Validate ``v`` (and ``g``) and return ``||v[:, j]||``, shape ``(units,)``."""
    v = jnp.asarray(v)
    if v.ndim != 2:
        raise ValueError(
            f"v must have shape (fan_in, units), one column per unit (the h @ W layout); got shape "
            f"{v.shape}. For a single unit with k inputs use v[:, None] (shape (k, 1)) and g of "
            "shape (1,); a PyTorch weight of shape (units, fan_in) must be transposed first.")
    if g is not None and jnp.shape(g) != (v.shape[1],):
        raise ValueError(
            f"g must have shape (units,) = ({v.shape[1]},), one length per column of v of shape "
            f"{v.shape}; got shape {jnp.shape(g)}. A PyTorch-style g of shape (units, 1) needs "
            "g.ravel(); if v is (units, fan_in), transpose v instead.")
    norm = jnp.sqrt(jnp.sum(v * v, axis=0))
    if _concrete_any(norm == 0):
        cols = [int(j) for j in jnp.flatnonzero(norm == 0)]
        raise ValueError(
            f"column(s) {cols} of v are zero: the direction v/||v|| is undefined (||v|| = 0). "
            "Initialize v with nonzero random columns, e.g. 0.05 * normal, as the paper does.")
    return norm


def weight(v, g):
    r"""The weight of eq. 2, column by column: :math:`w_{:,j} = g_j\, v_{:,j} / \|v_{:,j}\|`.

    ``v`` has shape ``(fan_in, units)``, ``g`` shape ``(units,)``; returns ``w`` like ``v``.
    """
    v, g = _finite("weightnorm.weight", v=v, g=g)
    return v * (g / _column_norms(v, g))


def backward(grad_w, v, g):
    r"""The gradients of eqs. 3-4 by hand (no autodiff inside), per column:

    .. math::
        \nabla_g L = \frac{\nabla_{\mathbf w}L\cdot\mathbf v}{\|\mathbf v\|},\qquad
        \nabla_{\mathbf v}L = \frac{g}{\|\mathbf v\|}\,M_{\mathbf w}\nabla_{\mathbf w}L,\qquad
        M_{\mathbf w} = I - \frac{\mathbf w\mathbf w^\top}{\|\mathbf w\|^2}.

    :math:`M_{\mathbf w}` is applied as :math:`I - \mathbf u\mathbf u^\top` with
    :math:`\mathbf u = \mathbf v/\|\mathbf v\|` (the same matrix, still defined when ``g = 0``).
    Returns ``(grad_v, grad_g)``; ``v`` is orthogonal to ``grad_v`` column by column.
    """
    grad_w, v, g = _finite("weightnorm.backward", grad_w=grad_w, v=v, g=g)
    norm = _column_norms(v, g)
    if jnp.shape(grad_w) != jnp.shape(v):
        raise ValueError(
            f"grad_w must have the shape of the weight w = weight(v, g), {jnp.shape(v)}; got "
            f"shape {jnp.shape(grad_w)}. (In PyTorch's (units, fan_in) layout, transpose it.)")
    u = v / norm
    grad_g = jnp.sum(grad_w * u, axis=0)
    grad_v = (g / norm) * (grad_w - u * grad_g)
    return grad_v, grad_g


def data_init(v, x):
    r"""Data-dependent initialization (eqs. 5-6) from one batch ``x`` of shape ``(n, fan_in)``:

    .. math::
        t = \frac{\mathbf x\,\mathbf v}{\|\mathbf v\|},\qquad
        g \leftarrow \frac{1}{\sigma[t]},\qquad b \leftarrow \frac{-\mu[t]}{\sigma[t]},

    with :math:`\mu[t], \sigma[t]` the batch mean and biased (1/n) standard deviation per unit, so
    ``x @ weight(v, g) + b`` has per-unit batch mean 0 and biased std 1 on this batch.
    Returns ``(g, b)``, each of shape ``(units,)``.
    """
    v, x = _finite("weightnorm.data_init", v=v, x=x)
    norm = _column_norms(v)
    if x.ndim != 2 or x.shape[1] != v.shape[0]:
        raise ValueError(
            f"x must have shape (n, fan_in) = (n, {v.shape[0]}) to match v of shape {v.shape}; got "
            f"shape {x.shape}. Use x[None, :] for one example (but data_init needs n >= 2).")
    n = x.shape[0]
    if n < 2:
        raise ValueError(
            f"data_init needs a batch of n >= 2 examples; got n = {n}. With one example "
            "t - mu[t] = 0 and sigma[t] = 0, so g = 1/sigma[t] is undefined. Pass a minibatch.")
    t = x @ (v / norm)
    mu = jnp.mean(t, axis=0)
    sigma = jnp.sqrt(jnp.mean((t - mu) ** 2, axis=0))
    if _concrete_any(sigma == 0):
        cols = [int(j) for j in jnp.flatnonzero(sigma == 0)]
        raise ValueError(
            f"sigma[t] = 0 for unit(s) {cols}: every example of the batch gives the same "
            "pre-activation, so g = 1/sigma[t] is undefined. Use a batch of distinct examples.")
    return 1.0 / sigma, -mu / sigma


def _batch_axes(t, name: str):
    t = jnp.asarray(t)
    if t.ndim < 2:
        raise ValueError(
            f"{name} must have shape (n, units) (or (n, ..., units): statistics over every axis "
            f"but the last, as in normlab.batchnorm); got shape {t.shape}. Use t[None, :] for "
            "one example, or t[:, None] for one unit.")
    return tuple(range(t.ndim - 1))


def mean_only_bn(t, b):
    r"""Mean-only batch normalization (eq. 7): :math:`\tilde t = t - \mu[t] + b`.

    :math:`\mu[t]` is the batch mean per unit (over every axis but the last); no division by the
    batch standard deviation. ``t`` has shape ``(n, units)``, ``b`` shape ``(units,)``.
    """
    t = jnp.asarray(t)
    axes = _batch_axes(t, "t")
    if jnp.shape(b) != (t.shape[-1],):
        raise ValueError(f"b must have shape (units,) = ({t.shape[-1]},), one bias per unit of t "
                         f"of shape {t.shape}; got shape {jnp.shape(b)}.")
    m = 1
    for a in axes:
        m *= t.shape[a]
    if m < 2:
        raise ValueError(
            f"mean-only BN needs at least 2 values per unit; t of shape {t.shape} gives {m}. "
            "With one example t - mu[t] = 0: the output is b and no gradient reaches t.")
    return t - jnp.mean(t, axis=axes) + b


def mean_only_bn_backward(grad_t_tilde):
    r"""The gradient of eq. 8 by hand: :math:`\nabla_t L = \nabla_{\tilde t}L - \mu[\nabla_{\tilde t}L]`.

    (The gradient with respect to ``b`` is the batch sum of ``grad_t_tilde``.)
    """
    grad_t_tilde = jnp.asarray(grad_t_tilde)
    axes = _batch_axes(grad_t_tilde, "grad_t_tilde")
    return grad_t_tilde - jnp.mean(grad_t_tilde, axis=axes)
