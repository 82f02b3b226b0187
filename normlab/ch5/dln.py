r"""Chapter 5, section 5.3: the deep linear network of Santurkar et al. (25 layers of 10 x 10),
trained by full-batch gradient descent with and without BN, and its internal covariate shift.

The network is :func:`normlab.nets.apply_dln` (the same BN layer as every other chapter, scanned
over the stacked layers); the loop is :func:`normlab.train.run`; ICS is
:func:`normlab.landscape.stacked_ics` (Definition 2.1).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from normlab import data, landscape, nets, train

DLN_DEPTH, DLN_WIDTH, DLN_N = 25, 10, 256


def dln_init(key, depth: int = DLN_DEPTH, d: int = DLN_WIDTH):
    r"""``{"W": (depth, d, d), "gamma", "beta": (depth-1, d)}``; Glorot init, std :math:`1/\sqrt d`
    (:func:`normlab.nets.init_dln`)."""
    return nets.init_dln(key, depth, d)


def dln_loss(params, x, y, bn):
    r"""Mean squared error :math:`\frac1n\sum_b \|f(x_b) - A x_b\|^2` of
    :func:`normlab.nets.apply_dln`. For the standard network (``bn`` = 0) gamma and beta are
    frozen and unused (their gradients are zero)."""
    return jnp.mean(jnp.sum((nets.apply_dln(params, x, bn) - y) ** 2, axis=1))


def dln_ics(params, x, y, bn, lr):
    r"""Definition 2.1 for every layer of the deep linear network at one gradient step.

    Returns ``(l2, cos)``, each (depth,), measured on :math:`W_i`; layer *i*'s :math:`G'` is taken
    after :math:`W_j, \gamma_j, \beta_j` for :math:`j < i` have stepped (one ``vmap`` over *i*).
    """
    return landscape.stacked_ics(dln_loss, params, lr, x, y, bn)


def train_dln(params, x, y, bn, lr, *, steps: int, every: int = 10):
    r"""Full-batch gradient descent on the deep linear network; ``bn`` and ``lr`` may be traced.

    Returns ``loss`` (T,) and, every ``every`` steps (before the block's first step), ``ics_l2``,
    ``ics_cos`` (T/every, depth).
    """
    def checkpoint(p, _):
        l2, cos = dln_ics(p, x, y, bn, lr)
        return {"ics_l2": l2, "ics_cos": cos}

    _, _, h = train.run(lambda p, _x, _s: (dln_loss(p, x, y, bn), {}), params, lr=lr,
                        steps=steps, every=every, checkpoint=checkpoint)
    return h


@functools.lru_cache(maxsize=4)
def dln_experiment(lr: float = 1e-3, steps: int = 100, every: int = 10, n: int = DLN_N,
                   seed: int = 0) -> dict:
    """The 25-layer deep linear network on Gaussian-teacher data, full-batch GD, standard and BN
    (one ``vmap``); ICS of every layer every ``every`` steps. Returns ``{"standard": h, "bn": h}``."""
    d = data.gaussian_teacher(jax.random.PRNGKey(seed), n=n)
    p0 = dln_init(jax.random.PRNGKey(seed + 1))
    h = jax.jit(jax.vmap(lambda bn: train_dln(p0, d["x"], d["y"], bn, lr, steps=steps,
                                              every=every)))(jnp.array([0.0, 1.0]))
    h = jax.tree_util.tree_map(np.asarray, h)
    return {"standard": {k: v[0] for k, v in h.items()}, "bn": {k: v[1] for k, v in h.items()},
            "steps": np.arange(steps), "probe_steps": np.arange(0, steps, every), "lr": lr}
