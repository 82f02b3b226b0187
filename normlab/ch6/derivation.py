r"""Chapter 6, sections 6.1-6.3: Weight Standardization's gradient by hand, the gradient-norm
identity and its Hessian companion (the book's derivation of what the WS paper's abstract claims,
checked in float64 against autodiff), set beside Santurkar et al.'s Theorem 4.1 with the batch
size m replaced by the fan-in I; and the exactness of "GN+WS with one example per GPU".

Notation (one output unit, :math:`\epsilon = 0`): :math:`W` its fan-in vector of length I,
:math:`\hat W = (W - \mu)/\sigma`, :math:`g = \partial\ell/\partial\hat W`,
:math:`H = \partial^2\ell/\partial\hat W^2`, :math:`P = I_I - \mathbf 1\mathbf 1^\top/I - \hat W\hat W^\top/I`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from normlab import data, nets, train, weightstd
from normlab.ch5 import theory as ch5
from normlab.measure import rel_error


def _consts(seed: int, fan_in: int, units: int, scale: float | None):
    rng = np.random.default_rng(seed)
    scale = (2.0 / fan_in) ** 0.5 if scale is None else scale
    W = jnp.asarray(rng.normal(size=units) * scale + scale * rng.normal(size=(fan_in, units)))
    A, B = jnp.asarray(rng.normal(size=(units, 3))), jnp.asarray(rng.normal(size=(fan_in, 3)))
    C, D = jnp.asarray(rng.normal(size=(units, units))), jnp.asarray(rng.normal(size=(fan_in, units)))
    return W, (A, B, C, D)


def _loss(Wh, consts):
    A, B, C, D = consts
    return jnp.sum(jnp.tanh(Wh @ A) * B) + 0.5 * jnp.sum((Wh @ C) ** 2) + jnp.sum(Wh**3 * D) / 6


def instance(seed: int = 0, fan_in: int = 9, units: int = 4, scale: float | None = None):
    r"""A random layer and a smooth non-convex loss of :math:`\hat W` coupling every unit:
    :math:`\ell(\hat W) = \sum\tanh(\hat W A)\odot B + \frac12\|\hat W C\|^2 + \sum\hat W^3\odot D/6`.
    Returns ``(W, loss_w_hat)`` in float64 (call inside :func:`normlab.float64`); ``W`` (I, units)
    has std ``scale`` (default He's :math:`\sqrt{2/I}`) around a random mean per unit."""
    W, consts = _consts(seed, fan_in, units, scale)
    return W, lambda Wh: _loss(Wh, consts)


def ws_loss(W, loss_w_hat, eps: float = 0.0):
    """The loss seen through WS: :math:`\\ell(\\hat W(W))`."""
    return loss_w_hat(weightstd.standardize(W, eps))


def sigma(W):
    """Each unit's biased standard deviation over its fan-in (the axes before the last)."""
    axes = tuple(range(W.ndim - 1))
    return jnp.sqrt(jnp.mean((W - jnp.mean(W, axes, keepdims=True)) ** 2, axes))


def norm_identity_rhs(g, w_hat, sig):
    r""":math:`\sigma^{-2}(\|g\|^2 - \langle\mathbf 1,g\rangle^2/I - \langle\hat W,g\rangle^2/I)`
    per unit (columns of ``g`` and ``w_hat``, shape (I, units)): Santurkar et al.'s Theorem 4.1
    right-hand side (:func:`normlab.ch5.theory.thm41_rhs`) with m -> I, gamma -> 1."""
    return jax.vmap(lambda gj, wj, sj: ch5.thm41_rhs(gj, wj, 1.0, sj), in_axes=(1, 1, 0))(g, w_hat, sig)


@jax.jit  # one compiled program per shape (eps and the loss's constants are arguments)
def _backward_pair(W, consts, eps):
    lw = lambda Wh: _loss(Wh, consts)
    g = jax.grad(lw)(weightstd.standardize(W, eps))
    return weightstd.backward(g, W, eps), jax.grad(ws_loss)(W, lw, eps)


@functools.lru_cache(maxsize=None)
def check_backward(seed: int = 0, fan_in: int = 9, units: int = 4, eps: float = 0.0) -> float:
    """Relative error of :func:`normlab.weightstd.backward` against ``jax.grad`` (float64)."""
    W, consts = _consts(seed, fan_in, units, None)
    return rel_error(*_backward_pair(W, consts, jnp.asarray(eps, W.dtype)))


@functools.lru_cache(maxsize=None)
def check_identities(seed: int = 0, fan_in: int = 9, units: int = 4) -> dict:
    r"""The gradient-norm identity and the Hessian companion along the gradient, per unit, at
    :math:`\epsilon = 0`, against autodiff (float64). ``norm``: rel. error of
    :math:`\|\nabla_W\ell\|^2`; ``hessian``: rel. error of
    :math:`(\nabla_W\ell)^\top\nabla^2_W\ell\,\nabla_W\ell = \sigma^{-2}[G^\top H G - \langle g,\hat W\rangle\|G\|^2/I]`
    with :math:`G = \nabla_W\ell` (the Hessian restricted to each unit's own block);
    ``raw_over_proj``: :math:`\|g\|^2/\sigma^2` over :math:`\|\nabla_W\ell\|^2` (>= 1: the projection
    only removes); ``sigma``: each unit's :math:`\sigma`."""
    W, lw = instance(seed, fan_in, units)
    I = fan_in

    @jax.jit  # one compiled call (memoised: call inside normlab.float64)
    def parts(W):
        Wh, sig = weightstd.standardize(W), sigma(W)
        g = jax.grad(lw)(Wh)
        G = jax.grad(ws_loss)(W, lw)
        lhs = jnp.sum(G * G, 0)
        def block(j):  # unit j's own diagonal block of the Hessian, along its gradient
            e = jnp.zeros_like(W).at[:, j].set(G[:, j])
            hvp_w = jax.jvp(lambda w: jax.grad(ws_loss)(w, lw), (W,), (e,))[1][:, j]
            hvp_hat = jax.jvp(jax.grad(lw), (Wh,), (e,))[1][:, j]
            return (jnp.dot(G[:, j], hvp_w),
                    (jnp.dot(G[:, j], hvp_hat) - jnp.dot(g[:, j], Wh[:, j]) / I * lhs[j]) / sig[j] ** 2)
        hess_lhs, hess_rhs = jax.vmap(block)(jnp.arange(units))
        return Wh, sig, g, G, lhs, hess_lhs, hess_rhs
    Wh, sig, g, G, lhs, hess_lhs, hess_rhs = parts(W)
    rhs = norm_identity_rhs(g, Wh, sig)
    return {"norm": rel_error(lhs, rhs), "hessian": rel_error(hess_lhs, hess_rhs),
            "raw_over_proj": np.asarray(jnp.sum(g * g, 0) / sig**2 / lhs),
            "sigma": np.asarray(sig), "orthogonal": float(jnp.max(jnp.abs(jnp.sum(W * G, 0)))
                                                         / float(jnp.linalg.norm(W) * jnp.linalg.norm(G)))}


@functools.lru_cache(maxsize=None)
def official_variant_error(seed: int = 0, fan_in: int = 9, units: int = 4) -> float:
    r"""The official code's WS (unbiased std :math:`s`, :math:`\epsilon = 0`): the same identity holds
    with :math:`s` for :math:`\sigma` and :math:`I-1` in the :math:`\hat W` term. Relative error."""
    W, lw = instance(seed, fan_in, units)
    mu = jnp.mean(W, 0)
    s = jnp.sqrt(jnp.sum((W - mu) ** 2, 0) / (fan_in - 1))
    std = lambda w: (w - jnp.mean(w, 0)) / jnp.sqrt(jnp.sum((w - jnp.mean(w, 0)) ** 2, 0) / (fan_in - 1))
    Wh = std(W)
    g, G = jax.jit(lambda W: (jax.grad(lw)(std(W)), jax.grad(lambda w: lw(std(w)))(W)))(W)
    rhs = (jnp.sum(g * g, 0) - jnp.sum(g, 0) ** 2 / fan_in
           - jnp.sum(g * Wh, 0) ** 2 / (fan_in - 1)) / s**2
    return rel_error(jnp.sum(G * G, 0), rhs)


# ------------------------------------------------------------------------------------------------
# 6.3: one example per GPU is exact for GN+WS, not for BN
# ------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def batch_vs_singles(layer: nets.Layer, n: int = 16, channels=(1, 4, 8), seed: int = 0) -> float:
    """Memoised (call it inside :func:`normlab.float64`). The relative difference between the gradient of a batch of ``n`` digits' mean loss and the
    mean of the ``n`` single-example gradients (float64; call inside :func:`normlab.float64`)."""
    d = data.digits(images=True)
    x, y = jnp.asarray(d["x_train"][:n], jnp.float64), d["y_train"][:n]
    p = nets.init_convnet(seed, channels, layer=layer, dtype=jnp.float64)
    loss = lambda p, xb, yb: train.cross_entropy(nets.apply_mlp(p, xb, layer)[0], yb)
    batch, singles = jax.jit(lambda p, x, y: (  # one compiled call, not op-by-op dispatch
        jax.grad(loss)(p, x, y), jax.vmap(lambda xi, yi: jax.grad(loss)(p, xi[None], yi[None]))(x, y)))(p, x, y)
    mean = jax.tree_util.tree_map(lambda a: a.mean(0), singles)
    flat = lambda t: jnp.concatenate([a.ravel() for a in jax.tree_util.tree_leaves(t)])
    return rel_error(flat(batch), flat(mean))
