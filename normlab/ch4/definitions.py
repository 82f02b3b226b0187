r"""Chapter 4, section 4.1: Layer Normalization (Ba et al., eqs. 3-5), against BN and WN.

- :func:`common_form`: eq. 5, :math:`z_i = \frac{g_i}{\sigma_i}(a_i - \mu_i) + b_i`, with
  :math:`\mu, \sigma` from the batch (BN, eq. 2), from the units of each example (LN, eq. 3) or
  :math:`\mu = 0`, :math:`\sigma_i = \|w_i\|` (WN);
- :func:`common_form_check`: eq. 5 against the layers the book trains (:mod:`normlab.nets`), and
  :func:`normlab.layernorm.backward` against ``jax.vjp``;
- :func:`batch_dependence`: an example's LN output does not depend on the rest of its batch; its
  BN output does, and a batch of one is degenerate for BN.

Layout: ``x`` is ``(n, D)``, ``W`` is ``(D, H)`` (``h @ W``: unit :math:`i`'s weight vector
:math:`w_i` is column ``i``), so the summed inputs are ``a = x @ W`` of shape ``(n, H)``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

import normlab
from normlab import batchnorm, layernorm, nets
from normlab.measure import rel_error

KINDS = ("bn", "wn", "ln")
NAMES = {"plain": "no normalization", "bn": "batch norm", "wn": "weight norm", "ln": "layer norm"}


def statistics(kind: str, W, x, eps: float = 0.0):
    r"""The :math:`(\mu, \sigma)` of eq. 5 for the summed inputs :math:`a = xW`, broadcastable to
    ``(n, H)``: BN over the ``n`` examples (one pair per unit), LN over the ``H`` units (one pair
    per example), WN :math:`\mu = 0`, :math:`\sigma_i = \|w_i\|` (``eps`` unused).
    Biased (1/n, 1/H) variances, ``eps`` added inside the square root."""
    a = x @ W
    if kind == "bn":
        mu = jnp.mean(a, axis=0, keepdims=True)
        return mu, jnp.sqrt(jnp.mean((a - mu) ** 2, axis=0, keepdims=True) + eps)
    if kind == "ln":
        mu = jnp.mean(a, axis=-1, keepdims=True)
        return mu, jnp.sqrt(jnp.mean((a - mu) ** 2, axis=-1, keepdims=True) + eps)
    if kind == "wn":
        return jnp.zeros((1, W.shape[1]), a.dtype), jnp.linalg.norm(W, axis=0, keepdims=True)
    raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")


def common_form(kind: str, W, b, g, x, eps: float = 0.0):
    r"""Eq. 5 of Ba et al.: :math:`z_i = \frac{g_i}{\sigma_i}(a_i - \mu_i) + b_i` (the input of
    the nonlinearity :math:`h_i = f(z_i)`), with :func:`statistics` of ``kind``; shape ``(n, H)``.
    ``kind = "plain"`` is :math:`z = a + b` (``g`` unused)."""
    if kind == "plain":
        return x @ W + b
    mu, sigma = statistics(kind, W, x, eps)
    return g * (x @ W - mu) / sigma + b


def nets_layer(kind: str, W, b, g, x, eps: float = 0.0):
    """The same pre-activation computed by the hidden layer of :mod:`normlab.nets` that the book
    trains: ``BatchNorm``, ``WeightNorm`` or ``LayerNorm`` (``Dense`` for ``"plain"``)."""
    if kind == "bn":
        return nets.BatchNorm(eps=eps)({"W": W, "gamma": g, "beta": b}, x)[0]
    if kind == "wn":
        return nets.WeightNorm()({"v": W, "g": g, "b": b}, x)[0]
    if kind == "ln":
        return nets.LayerNorm(eps=eps)({"W": W, "gain": g, "bias": b}, x)[0]
    return nets.Dense()({"W": W, "b": b}, x)[0]


def random_layer(seed: int = 0, n: int = 8, d: int = 4, h: int = 5):
    r"""A random layer and batch (NumPy, float64): ``(W (d, h), b (h,), g (h,), x (n, d))``;
    inputs with a non-zero mean, gains away from 1 and biases away from 0, so that no invariance
    holds by accident."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(d, h)), rng.normal(size=h), rng.uniform(0.5, 2.0, size=h),
            rng.normal(0.5, 1.5, size=(n, d)))


@functools.partial(jax.jit, static_argnums=5)
def _check_core(W, b, g, x, dy, eps):
    out = {k: (common_form(k, W, b, g, x, eps), nets_layer(k, W, b, g, x, eps))
           for k in ("plain",) + KINDS}
    a = x @ W
    _, vjp = jax.vjp(lambda a_, g_, b_: layernorm.forward(a_, g_, b_, eps), a, g, b)
    out["ln_backward"] = (layernorm.backward(dy, a, g, eps), vjp(dy))
    return out


def common_form_check(seed: int = 0, eps: float = 1e-5) -> dict:
    r"""Relative error of :func:`common_form` against :func:`nets_layer`, per kind (float64),
    and of :func:`normlab.layernorm.backward` (the hand-derived backward pass) against
    ``jax.vjp`` of :func:`normlab.layernorm.forward` at a random upstream gradient."""
    with normlab.float64():
        W, b, g, x = (jnp.asarray(v) for v in random_layer(seed))
        dy = jnp.asarray(np.random.default_rng(seed + 1).normal(size=(x.shape[0], W.shape[1])))
        r = _check_core(W, b, g, x, dy, eps)
        out = {k: rel_error(*r[k]) for k in ("plain",) + KINDS}
        out["ln_backward"] = max(rel_error(p, q) for p, q in zip(*r["ln_backward"]))
    return out


@jax.jit
def _batch_core(W, b, g, x, other):
    out = {}
    for kind in ("ln", "bn"):
        z = nets_layer(kind, W, b, g, x, 1e-5)[0]
        out[kind] = {"change": jnp.max(jnp.abs(nets_layer(kind, W, b, g, other, 1e-5)[0] - z)),
                     "size": jnp.max(jnp.abs(z))}
    out["ln"]["alone"] = jnp.max(jnp.abs(nets_layer("ln", W, b, g, x[:1], 1e-5)[0]
                                         - nets_layer("ln", W, b, g, x, 1e-5)[0]))
    mask = jnp.zeros(x.shape[0], x.dtype).at[0].set(1.0)
    layer = nets.BatchNorm()
    p = {"W": W, "gamma": g, "beta": b}
    z, st = layer(p, x, nets.Ctx(mask=mask))
    out["masked_minus_beta"] = jnp.max(jnp.abs(z[0] - b))
    out["running_var"] = layer.update(layer.state(p), st, 0.1)[1]
    return out


@functools.lru_cache(maxsize=None)
def batch_dependence(seed: int = 0) -> dict:
    r"""Does example 0's output depend on the other examples of its batch?

    For LN and BN (``eps = 1e-5``, float64): ``change``, the largest change of example 0's output
    when the other 7 examples of a batch of 8 are replaced by others, and ``alone``, when it is
    normalized in a batch of one. For BN at batch size 1: the ValueError of
    :func:`normlab.batchnorm.forward` (``bn_error``), and what the masked BN layer of
    :mod:`normlab.nets` (the one :func:`normlab.train.fit_classifier` trains) does instead: every
    output equals ``beta`` (``masked_minus_beta``: the largest deviation), and the unbiased
    running-variance update :math:`\sigma^2 m/(m-1)` is :math:`0 \cdot 1/0` (``running_var``).
    """
    rng = np.random.default_rng(seed + 7)
    with normlab.float64():
        W, b, g, x = (jnp.asarray(v) for v in random_layer(seed))
        other = jnp.asarray(rng.normal(0.5, 1.5, size=x.shape)).at[0].set(x[0])
        r = _batch_core(W, b, g, x, other)
        out = {k: {n: float(v) for n, v in r[k].items()} for k in ("ln", "bn")}
        out["masked_minus_beta"] = float(r["masked_minus_beta"])
        out["running_var"] = np.asarray(r["running_var"])
        try:
            batchnorm.forward(x[:1] @ W, g, b)
            out["bn_error"] = ""
        except ValueError as e:
            out["bn_error"] = str(e)
    return out
