r"""Measuring tools shared by every chapter: errors, finite differences, divergence, curves.

Nothing here knows about networks or training; every chapter (and :mod:`normlab.checks`,
:mod:`normlab.style`) measures with these.

- :func:`rel_error`: :math:`\max|a-b| / \max(10^{-8}, \max(|a|+|b|))`, the book's relative error;
- :func:`finite_difference_grad`: central differences, the oracle that does not use autodiff;
- :func:`diverged_at`: the step at which a curve blew up (or None);
- :func:`trailing_mean`, :func:`ema`: the two ways the book smooths a training curve;
- :func:`tree_norm`, :func:`tree_sub`: Euclidean norm of a pytree, and the SGD step on one.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def rel_error(a, b) -> float:
    """``max|a - b| / max(1e-8, max(|a| + |b|))``, the relative error used by every check."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(1e-8, float(np.max(np.abs(a) + np.abs(b)))))


def finite_difference_grad(f, x, h: float = 1e-5) -> np.ndarray:
    r"""Central differences :math:`(f(x+he_k)-f(x-he_k))/2h` for every entry ``k`` of ``x``
    (NumPy, float64; ``f`` returns a scalar)."""
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[k] = h
        g[k] = (float(f(x + e)) - float(f(x - e))) / (2 * h)
    return g


def diverged_at(curve, limit: float = 1e4):
    """First index where ``curve`` is non-finite or above ``limit`` in magnitude, else ``None``."""
    c = np.asarray(curve, dtype=float)
    bad = ~np.isfinite(c) | (np.abs(c) > limit)
    return int(np.argmax(bad)) if bad.any() else None


def trailing_mean(curve, width: int = 10, stop: int | None = None) -> np.ndarray:
    """Mean over the last ``width`` values at every index (fewer at the start); NaN from index
    ``stop`` on (e.g. the divergence step, so a blow-up does not smear into the mean)."""
    c = np.asarray(curve, dtype=float)
    n = len(c) if stop is None else stop
    s = np.concatenate([[0.0], np.cumsum(c[:n])])
    i = np.arange(1, n + 1)
    lo = np.maximum(0, i - width)
    out = np.full(len(c), np.nan)
    out[:n] = (s[i] - s[lo]) / (i - lo)
    return out


def ema(curve, decay: float = 0.9, start: float | None = None):
    r"""Exponential moving average :math:`e_t = \text{decay}\,e_{t-1} + (1-\text{decay})\,c_t`
    along the last axis, from :math:`e_{-1} =` ``start`` (default: the first value). Pure JAX
    (traceable; NumPy input works too)."""
    c = jnp.asarray(curve)
    e0 = c[..., 0] if start is None else jnp.full(c.shape[:-1], start, c.dtype)

    def step(e, v):
        e = decay * e + (1 - decay) * v
        return e, e

    _, out = jax.lax.scan(step, e0, jnp.moveaxis(c, -1, 0))
    return jnp.moveaxis(out, 0, -1)


def tree_norm(tree):
    """Euclidean norm of all the leaves of a pytree together."""
    return jnp.sqrt(sum(jnp.sum(a * a) for a in jax.tree_util.tree_leaves(tree)))


def tree_sub(p, g, lr):
    r"""One plain gradient step :math:`p - \text{lr}\,g` on matching pytrees."""
    return jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g)
