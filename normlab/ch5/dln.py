r"""Chapter 5, section 5.3: the deep linear network of Santurkar et al. (25 layers of 10 x 10),
trained by full-batch gradient descent with and without BN, and its internal covariate shift,
over several seeds.

The network is :func:`normlab.nets.apply_dln` (the same BN layer as every other chapter, scanned
over the stacked layers); the loop is :func:`normlab.train.run`; ICS is
:func:`normlab.landscape.stacked_ics` (Definition 2.1).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from normlab import cache
from normlab import data, landscape, nets, train
from normlab.measure import tree_norm

DLN_DEPTH, DLN_WIDTH, DLN_N = 25, 10, 256
DLN_LR, DLN_STEPS, DLN_EVERY = 1e-3, 1000, 50
# The ICS sweep (the first is the main rate), one vmap. A step at rate eta on a loss summed over
# n examples is a step at n eta on their mean: the paper's 1e-6 and 1e-7 on its sum over 1000
# examples are 1e-3 and 1e-4 on our mean loss.
DLN_LRS = (1e-3, 1e-4)
DLN_SEEDS = (0, 1, 2)  # seed s: data PRNGKey(2s), initialization PRNGKey(2s + 1)


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
    r"""Full-batch gradient descent on the deep linear network; ``bn``, ``lr``, ``x``, ``y`` and
    ``params`` may be traced.

    Returns ``loss`` (T,) and, every ``every`` steps (before the block's first step), ``ics_l2``,
    ``ics_cos`` and ``ics_rel`` :math:`= \|G_i - G'_i\|_2/(\eta\|G\|_2)` (T/every, depth), with
    :math:`\|G\|_2` the norm of the whole gradient.
    """
    def checkpoint(p, _):
        l2, cos = dln_ics(p, x, y, bn, lr)
        gn = tree_norm(jax.grad(dln_loss)(p, x, y, bn))
        return {"ics_l2": l2, "ics_cos": cos, "ics_rel": l2 / (lr * gn)}

    _, _, h = train.run(lambda p, _x, _s: (dln_loss(p, x, y, bn), {}), params, lr=lr,
                        steps=steps, every=every, checkpoint=checkpoint)
    return h


def dln_seeds(lr: float = DLN_LR, steps: int = DLN_STEPS, every: int = DLN_EVERY, n: int = DLN_N,
              seeds: tuple = DLN_SEEDS, lrs: tuple = DLN_LRS) -> list[dict]:
    """:func:`_dln_seeds`, memoised under its arguments' values however they are passed (by
    position, by name or by default: ``dln_seeds()`` and :func:`dln_experiment`'s
    ``dln_seeds(lr, steps, ...)`` are one run, not two)."""
    return _dln_seeds(float(lr), int(steps), int(every), int(n), tuple(seeds), tuple(lrs))


@cache.cached
@functools.lru_cache(maxsize=4)
def _dln_seeds(lr: float, steps: int, every: int, n: int, seeds: tuple, lrs: tuple) -> list[dict]:
    """The 25-layer deep linear network on Gaussian-teacher data, full-batch GD, standard and BN,
    for every seed (its own data and initialization) and every rate of ``lrs`` (``lr`` among
    them), all in one ``vmap`` (the rate is traced); ICS of every layer every ``every`` steps.
    Returns one ``{"standard": h, "bn": h, "sweep": {rate: {"standard": h, "bn": h}}, ...}`` per
    seed, ``standard`` and ``bn`` at ``lr``."""
    lrs = tuple(dict.fromkeys((lr,) + tuple(lrs)))
    ds = [data.gaussian_teacher(jax.random.PRNGKey(2 * s), n=n) for s in seeds]
    x, y = jnp.stack([d["x"] for d in ds]), jnp.stack([d["y"] for d in ds])
    P = jax.tree_util.tree_map(lambda *a: jnp.stack(a),
                               *[dln_init(jax.random.PRNGKey(2 * s + 1)) for s in seeds])
    runs = [(i, bn, r) for i in range(len(seeds)) for r in lrs for bn in (0.0, 1.0)]
    idx, bns, rates = (jnp.array(v) for v in zip(*runs))
    run = lambda i, bn, r: train_dln(jax.tree_util.tree_map(lambda a: a[i], P), x[i], y[i], bn, r,
                                     steps=steps, every=every)
    h = jax.tree_util.tree_map(np.asarray, jax.jit(jax.vmap(run))(idx, bns, rates))
    at = lambda i, bn, r: {k: v[runs.index((i, bn, r))] for k, v in h.items()}
    return [{"standard": at(i, 0.0, lr), "bn": at(i, 1.0, lr),
             "sweep": {r: {"standard": at(i, 0.0, r), "bn": at(i, 1.0, r)} for r in lrs},
             "steps": np.arange(steps), "probe_steps": np.arange(0, steps, every), "lr": lr,
             "seed": s} for i, s in enumerate(seeds)]


def dln_experiment(lr: float = DLN_LR, steps: int = DLN_STEPS, every: int = DLN_EVERY,
                   n: int = DLN_N, seed: int = 0) -> dict:
    """One seed of :func:`dln_seeds` (the chapter's seeds share one compiled run):
    ``{"standard": h, "bn": h, "steps", "probe_steps", "lr", "seed"}``."""
    seeds = DLN_SEEDS if seed in DLN_SEEDS else (seed,)
    return dln_seeds(lr, steps, every, n, seeds)[seeds.index(seed)]
