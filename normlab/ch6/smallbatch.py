r"""Chapter 6, section 6.4: training with tiny batches. The small conv net on the 8x8 digits
trained at several batch sizes with no normalization, BN, LN, GN and GN+WS, each at its own best
learning rate (:func:`normlab.compare.compare`), over seeds.

One network (:func:`normlab.nets.init_convnet`, trained by :func:`normlab.train.fit_classifier`);
its hidden layers are a :class:`Switch`, whose kind is a traced number, so that every method,
learning rate and seed of one batch size trains in ONE compiled ``vmap``. The switch computes the
convolution once and applies the kind's normalization to it; it equals ``nets.Dense``,
``nets.BatchNorm``, ``nets.LayerNorm``, ``nets.GroupNorm`` and ``nets.WS(nets.GroupNorm)`` exactly
(``tests/test_ch6.py``).

The batch size is the number of examples per step, and every run takes the same number of steps:
a batch of 1 sees 64 times fewer examples than a batch of 64. The comparison that matters is
between methods at one batch size, not between batch sizes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from normlab import batchnorm, cache, compare, data, groupnorm, nets, train, weightstd

METHODS = ("none", "BN", "LN", "GN", "GN+WS")
BATCHES = (1, 2, 4, 16)   # 64 and 128 cost more than the notebook's minute on two cores
#: the learning-rate grid at each batch size (a smaller batch, a smaller best rate)
LRS = {1: (0.01, 0.03, 0.1), 2: (0.01, 0.03, 0.1), 4: (0.01, 0.03, 0.1), 16: (0.03, 0.1, 0.3)}
SEEDS = (0, 1, 2)
CHANNELS = (1, 4, 8)   # 8x8x1 -> 3x3 conv, 4 channels -> 3x3 conv, 8 channels -> 10 classes
GROUPS = 2
STEPS = 150
N_TEST = 320           # the first 320 test images: divisible by every batch size
CRITERION = f"test error after {STEPS} steps (inference mode: BN with running statistics)"


@dataclass(frozen=True)
class Switch(nets.Layer):
    r"""The hidden conv layer of kind ``kind`` (a Python int or a traced number): 0 none
    (:math:`a + \beta`), 1 BN (per channel over (N, H, W), the batch's rows in ``ctx.mask``;
    running statistics in inference mode), 2 LN (per example over (H, W, C)), 3 GN (``groups``
    groups), 4 GN on the weight-standardized convolution. ``a = h * W`` is computed once (twice
    for a traced kind: with :math:`W` and :math:`\hat W`); parameters ``W, gamma, beta`` (gamma
    unused by kind 0)."""

    kind: Any = 0
    groups: int = GROUPS
    eps: float = 1e-5

    def init(self, W):
        return {"W": W, "gamma": jnp.ones(W.shape[-1], W.dtype), "beta": jnp.zeros(W.shape[-1], W.dtype)}

    def __call__(self, p, h, ctx=nets.Ctx()):
        k = self.kind
        static = isinstance(k, (int, np.integer))
        W = p["W"]
        if static:
            a = nets.linear(h, weightstd.standardize(W) if k == 4 else W)
        else:
            ws = (jnp.asarray(k) == 4).astype(W.dtype)
            a = nets.linear(h, ws * weightstd.standardize(W) + (1 - ws) * W)
        g, b = p["gamma"], p["beta"]
        mean, var, m = nets._masked(a, ctx.mask)
        if ctx.running is not None:
            mu, rvar = ctx.running
        else:
            mu, rvar = mean, var
        forms = {0: lambda: a + b,
                 1: lambda: g * (a - mu) / jnp.sqrt(rvar + self.eps) + b,
                 2: lambda: groupnorm.forward(a, 1, g, b, self.eps),
                 3: lambda: groupnorm.forward(a, self.groups, g, b, self.eps),
                 4: lambda: groupnorm.forward(a, self.groups, g, b, self.eps)}
        if static:
            return forms[int(k)](), (mean, var, m)
        kk = jnp.asarray(k)
        pick = {0: kk == 0, 1: kk == 1, 2: kk == 2, 3: kk >= 3}  # kinds 3 and 4: GN
        out = sum(pick[c].astype(a.dtype) * forms[c]() for c in (0, 1, 2, 3))
        return out, (mean, var, m)

    def state(self, p):
        return (jnp.zeros_like(p["gamma"]), jnp.ones_like(p["gamma"]))

    def update(self, state, stats, momentum):
        mean, var, m = stats
        return batchnorm.running_step(state, mean, var * m / (m - 1), momentum)


def reference_layer(kind: int, groups: int = GROUPS) -> nets.Layer:
    """The library's own layer that :class:`Switch` of ``kind`` equals (for the tests)."""
    return (nets.Dense(), nets.BatchNorm(), nets.LayerNorm(), nets.GroupNorm(groups=groups),
            nets.WS(nets.GroupNorm(groups=groups)))[kind]


def params_for(seed: int, channels=CHANNELS):
    """The conv net's initial parameters for ``seed`` (He init, NumPy generator: no compile)."""
    return nets.init_convnet(seed, channels, layer=Switch())


def rows_for(seed: int, batch: int, steps: int = STEPS, n: int | None = None) -> np.ndarray:
    """(steps, batch) training-row indices, drawn with replacement, for ``seed``."""
    n = n or data.digits(images=True)["x_train"].shape[0]
    return np.random.default_rng(1000 + seed).integers(0, n, size=(steps, batch)).astype(np.int32)


def _batch_stat_acc(p, layer, xt, yt, batch):
    """Test accuracy in TRAINING mode: the test images in batches of ``batch``, each normalized
    with its own batch statistics (what BN sees while it trains)."""
    xb = xt.reshape((-1, batch) + xt.shape[1:])
    yb = yt.reshape(-1, batch)
    logits = jax.vmap(lambda x: nets.apply_mlp(p, x, layer)[0])(xb)
    return train.accuracy(logits.reshape(-1, logits.shape[-1]), yb.reshape(-1))


@functools.lru_cache(maxsize=None)
@cache.cached
def sweep(batch: int, methods: tuple = METHODS, lrs: tuple | None = None, seeds: tuple = SEEDS,
          steps: int = STEPS, channels: tuple = CHANNELS) -> dict:
    """Every method x learning rate x seed at one ``batch`` size, in one compiled call. Returns
    NumPy arrays (methods, lrs, seeds, ...): ``loss`` (steps,), ``test_acc`` (inference mode),
    ``train_mode_acc`` (the test set in batches of ``batch`` with batch statistics), ``dead``."""
    lrs = LRS[batch] if lrs is None else lrs
    d = data.digits(images=True)
    d = dict(d, x_test=d["x_test"][:N_TEST], y_test=d["y_test"][:N_TEST])
    kinds = [METHODS.index(m) for m in methods]
    P = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[params_for(s, channels) for s in seeds])
    R = jnp.asarray(np.stack([rows_for(s, batch, steps) for s in seeds]))

    def one(kind, lr, seed):
        layer = Switch(kind=kind)
        p0 = jax.tree_util.tree_map(lambda a: a[seed], P)
        probe = lambda p, running, aux: _batch_stat_acc(p, layer, d["x_test"], d["y_test"], batch)
        _, h = train.fit_classifier(p0, d, R[seed], layer=layer, lr=lr, batch_size=batch,
                                    max_batch=batch, steps=steps, eval_every=steps, probe=probe)
        return {"loss": h["loss"], "test_acc": h["test_acc"][-1], "dead": h["dead"][-1],
                "train_mode_acc": h["probe"][-1]}

    out = train.grid(one, kind=np.asarray(kinds), lr=np.asarray(lrs, np.float32),
                     seed=np.arange(len(seeds)))
    return {k: np.asarray(v) for k, v in out.items()}


def statuses(res: dict) -> np.ndarray:
    """Each run's :func:`normlab.train.status` (methods, lrs, seeds)."""
    shape = res["test_acc"].shape
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(shape):
        out[idx] = train.status(res["loss"][idx], dead=res["dead"][idx], test_acc=res["test_acc"][idx],
                                chance=0.1)
    return out


@functools.lru_cache(maxsize=None)
def comparison(batch: int) -> compare.Comparison:
    """The five methods at ``batch``, each at its best learning rate by :data:`CRITERION`."""
    res = sweep(batch)
    return compare.compare(1 - res["test_acc"], methods=list(METHODS), lrs=LRS[batch], seeds=list(SEEDS),
                           criterion=CRITERION, status=statuses(res))


def table(batches=BATCHES) -> dict:
    """``{method: (batches, seeds)}`` test error at each method's best rate per batch size, with
    ``best_lr`` {method: [lr per batch]} and ``excluded`` {batch: text}."""
    err = {m: np.stack([comparison(b).at_best[m] for b in batches]) for m in METHODS}
    best = {m: [comparison(b).best_lr[m] for b in batches] for m in METHODS}
    return {"error": err, "best_lr": best, "batches": tuple(batches),
            "excluded": {b: comparison(b).excluded_text() for b in batches}}


def bn_mode_gap(batch: int) -> np.ndarray:
    """BN at its best rate for ``batch``: test accuracy with batch statistics minus with running
    statistics, per seed (the train/inference discrepancy)."""
    res, c = sweep(batch), comparison(batch)
    i, j = METHODS.index("BN"), LRS[batch].index(c.best_lr["BN"])
    return res["train_mode_acc"][i, j] - res["test_acc"][i, j]
