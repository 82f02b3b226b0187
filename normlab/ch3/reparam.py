r"""Chapter 3, section 3.1: the reparameterization :math:`w = g\,v/\|v\|` (eq. 2), measured.

- :func:`invariance`: :math:`\|w_{:,j}\| = |g_j|` whatever the scale of :math:`v`, and a network
  with WN hidden layers is unchanged when every column of :math:`v` is scaled by its own
  :math:`c_j > 0`; the gradient in :math:`v` then scales as :math:`1/c_j` and the gradient in
  :math:`g` does not change.

Everything in float64, on the book's one network (:mod:`normlab.nets`, ``WeightNorm`` layers).
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

import normlab
from normlab import nets, train, weightnorm
from normlab.measure import rel_error
from normlab import cache

C_VALUES = tuple(float(c) for c in np.logspace(-3, 3, 13))
SIZES = (8, 6, 5, 3)  # a small WN MLP: two hidden WN layers, then the affine output


def _problem(seed: int):
    """A small WN MLP (float64), a batch and labels, all drawn by NumPy."""
    rng = np.random.default_rng(seed)
    params = nets.init_mlp(seed, list(SIZES), nets.WeightNorm(), dtype=jnp.float64)
    for p in params[:-1]:  # g of either sign and not equal to ||v||: a general point
        p["g"] = jnp.asarray(rng.normal(1.0, 0.7, p["g"].shape))
        p["b"] = jnp.asarray(rng.normal(0.0, 0.3, p["b"].shape))
    x = jnp.asarray(rng.normal(size=(16, SIZES[0])))
    y = jnp.asarray(rng.integers(0, SIZES[-1], 16))
    # one positive factor per column of every hidden v: per-unit scales spread over a decade
    spread = [jnp.asarray(np.exp(rng.normal(0.0, 1.0, p["g"].shape))) for p in params[:-1]]
    return params, x, y, spread


def _loss(params, x, y):
    logits = nets.apply_mlp(params, x, nets.WeightNorm(), act="tanh")[0]
    return train.cross_entropy(logits, y), logits


def _scaled(params, factors):
    """The same network with column j of each hidden v multiplied by ``factors[layer][j]``."""
    out = [dict(p, v=p["v"] * f) for p, f in zip(params[:-1], factors)]
    return out + [params[-1]]


def _at(params, factors, x, y):
    """At the scaled point: (gradient, logits, max_j | ||w_j|| - |g_j| | / |g_j| over the layers)."""
    ps = _scaled(params, factors)
    grads, logits = jax.grad(_loss, has_aux=True)(ps, x, y)
    norm = jnp.max(jnp.stack([
        jnp.max(jnp.abs(jnp.linalg.norm(weightnorm.weight(p["v"], p["g"]), axis=0) - jnp.abs(p["g"]))
                / jnp.abs(p["g"])) for p in ps[:-1]]))
    return grads, logits, norm


@cache.cached
@lru_cache(maxsize=None)
def invariance(c_values=C_VALUES, seed: int = 0) -> dict:
    r"""For each :math:`c`, every column :math:`j` of every hidden :math:`v` is scaled by
    :math:`c\,s_j` (:math:`s_j` a fixed random positive spread), and we measure (float64):

    - ``norm``: :math:`\max_j \big|\|w_{:,j}\| - |g_j|\big| / |g_j|` at the scaled point;
    - ``out``: relative change of the logits;
    - ``grad_v``: relative error of :math:`c\,s_j\,\nabla_{v}\ell` at the scaled point against
      :math:`\nabla_v\ell` at the original one (the :math:`1/c` law);
    - ``grad_g``: relative error of :math:`\nabla_g\ell` at the two points (unchanged).

    ``flip``: the relative change of the logits when :math:`v \to -v` (a negative factor flips
    :math:`w`: the invariance is for :math:`c > 0` only).
    """
    with normlab.float64():
        params, x, y, spread = _problem(seed)
        at = jax.jit(_at)  # one compilation, then one call per c
        ones = [jnp.ones_like(sp) for sp in spread]
        g0, l0, _ = jax.tree_util.tree_map(np.asarray, at(params, ones, x, y))
        rows = []
        for c in c_values:
            f = [c * sp for sp in spread]
            gs, ls, norm = jax.tree_util.tree_map(np.asarray, at(params, f, x, y))
            rows.append({
                "norm": float(norm), "out": rel_error(ls, l0),
                "grad_v": max(rel_error(a["v"] * np.asarray(fi), b["v"])
                              for a, b, fi in zip(gs[:-1], g0[:-1], f)),
                "grad_g": max(rel_error(a["g"], b["g"]) for a, b in zip(gs[:-1], g0[:-1]))})
        lf = np.asarray(at(params, [-o for o in ones], x, y)[1])
        flip = rel_error(lf, l0)
    out = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    return out | {"c": np.asarray(c_values), "flip": flip}
