r"""Chapter 3, section 3.3: norm growth under gradient descent (Salimans & Kingma, section 2.1).

With :math:`\Delta v = -\eta\nabla_v\ell` orthogonal to :math:`v` (eq. 4),
:math:`\|v'\| = \sqrt{1+c^2}\,\|v\|` exactly, with :math:`c = \|\Delta v\|/\|v\|` (Pythagoras).

- :func:`pythagoras_run`: the identity over a whole training run of a digits MLP (float64, SGD);
- :func:`geometry_compute`: one unit with two inputs, so that :math:`v`, :math:`\Delta v` and
  :math:`v'` can be drawn: the explorable of the norm-growth geometry.

Both train with :func:`normlab.train.run`, the book's one loop.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

import normlab
from normlab import data, nets, train, weightnorm
from normlab import cache

PY_SIZES = (64, 32, 32, 10)
PY_STEPS = 300
PY_LR = 1.0


def _norms(v):
    return jnp.sqrt(jnp.sum(v * v, axis=0))


@cache.cached
@lru_cache(maxsize=None)
def pythagoras_run(lr: float = PY_LR, steps: int = PY_STEPS, seed: int = 0) -> dict:
    r"""Plain SGD (batch 64) on a digits MLP with WN hidden layers, float64. Every step, for every
    column :math:`j` of every hidden :math:`v`: :math:`\|v_j\|`, :math:`\|v'_j\|` and
    :math:`c_j = \|\Delta v_j\|/\|v_j\|`.

    Returns ``norm`` (steps + 1, units) of the first hidden layer, ``c`` (steps, units) of it,
    ``rel_error``: :math:`\max |\|v'\| - \sqrt{1+c^2}\|v\|| / \|v'\|` over every column, layer and
    step; ``cos``: the largest :math:`|\cos(v, \nabla_v\ell)|`; ``shrank``: how many column-steps
    decreased the norm (by rounding: ``drop`` is the largest relative decrease); ``predicted``: :math:`\|v_0\|\prod_t\sqrt{1+c_t^2}` (first layer); ``loss``.
    """
    layer = nets.WeightNorm()

    def record(s):
        out = {"loss": s.loss, "err": 0.0, "cos": 0.0, "shrank": 0, "drop": 0.0}
        for i, (p, q) in enumerate(zip(s.params[:-1], s.new_params[:-1])):
            n0, n1, dv = _norms(p["v"]), _norms(q["v"]), q["v"] - p["v"]
            c = _norms(dv) / n0
            out["err"] = jnp.maximum(out["err"], jnp.max(jnp.abs(n1 - jnp.sqrt(1 + c * c) * n0) / n1))
            # orthogonality from the gradient itself (dv = new - old loses digits when tiny);
            # a dead unit gets no gradient: its cosine is 0, not 0/0
            gv = s.grads[i]["v"]
            out["cos"] = jnp.maximum(out["cos"], jnp.max(jnp.abs(jnp.sum(p["v"] * gv, 0))
                                                         / (n0 * jnp.maximum(_norms(gv), 1e-300))))
            out["shrank"] = out["shrank"] + jnp.sum(n1 < n0)
            out["drop"] = jnp.maximum(out["drop"], jnp.max((n0 - n1) / n0))
            if i == 0:
                out["norm"], out["c"] = n1, c
        return out

    with normlab.float64():
        d = data.digits(dtype=jnp.float64)
        x, y = d["x_train"], d["y_train"]
        idx = train.batches(seed, steps, 64, x.shape[0])["idx"]
        params = nets.init_mlp(seed, list(PY_SIZES), layer, dtype=jnp.float64)

        @jax.jit
        def go(params, idx):
            loss = lambda p, i, _: (train.cross_entropy(nets.apply_mlp(p, x[i], layer)[0], y[i]), {})
            return train.run(loss, params, idx, lr=lr, record=record)[2]

        h = jax.tree_util.tree_map(np.asarray, go(params, idx))
        n0 = np.asarray(_norms(params[0]["v"]))
    norm = np.concatenate([n0[None], h["norm"]])
    predicted = n0 * np.concatenate([np.ones((1, n0.size)),
                                     np.cumprod(np.sqrt(1 + h["c"] ** 2), axis=0)])
    return {"norm": norm, "c": h["c"], "rel_error": float(h["err"].max()),
            "cos": float(h["cos"].max()), "shrank": int(h["shrank"].sum()),
            "drop": float(h["drop"].max()), "column_steps": int(steps * sum(PY_SIZES[1:-1])),
            "predicted": predicted, "loss": h["loss"], "lr": lr,
            "cum_error": float(np.max(np.abs(predicted - norm) / norm))}


@lru_cache(maxsize=None)
def effective_lr_check(etas=(1e-2, 1e-3, 1e-4), k: int = 6, units: int = 3, seed: int = 0) -> dict:
    r"""The first-order effect of one SGD step on :math:`(v, g)` on the weight (our derivation),
    float64: :math:`\Delta w \approx -\eta\frac{g^2}{\|v\|^2}M_w\nabla_w\ell - \eta\,u\,(u\cdot
    \nabla_w\ell)`, i.e. plain SGD with :math:`\eta_{\text{eff}} = \eta g^2/\|v\|^2` across
    :math:`w` and :math:`\eta` along it. Returns ``etas`` and ``error``, the relative error of the
    prediction against the actual :math:`\Delta w` (it must fall like :math:`\eta`: first order)."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(k, units)) * np.exp(rng.normal(0, 1, units))
    g = rng.normal(1.0, 0.5, units)
    x, delta = rng.normal(size=(10, k)), rng.normal(size=(10, units))
    with normlab.float64():
        @jax.jit
        def step(v, g, eta):
            w = weightnorm.weight(v, g)
            G = jax.grad(lambda w_: jnp.sum(delta * jnp.tanh(x @ w_)))(w)
            gv, gg = weightnorm.backward(G, v, g)
            dw = weightnorm.weight(v - eta * gv, g - eta * gg) - w
            n = _norms(v)
            u = v / n
            along = u * jnp.sum(u * G, 0)
            pred = -eta * (g / n) ** 2 * (G - along) - eta * along
            return dw, pred

        out = [jax.tree_util.tree_map(np.asarray, step(v, g, e)) for e in etas]
    err = np.array([float(np.max(np.abs(a - b)) / np.max(np.abs(a))) for a, b in out])
    return {"etas": np.asarray(etas), "error": err}


# ------------------------------------------------------------------------------------------------
# The geometry of one step: one unit, two inputs (the explorable)
# ------------------------------------------------------------------------------------------------
GEO_STEPS = 20
GEO_LRS = tuple(float(v) for v in np.logspace(-1.5, 0.5, 13))
GEO_TARGET = 100.0  # degrees: the direction w* the unit is pulled towards
V0 = (1.0, 0.0)


def geometry_compute(lr):
    r"""One WN unit in the plane: :math:`w = g\,v/\|v\|` with :math:`g = 1` held fixed,
    :math:`v_0 = (1, 0)`, loss :math:`\ell(w) = \tfrac12\|w - w^*\|^2` with :math:`w^*` the unit
    vector at :data:`GEO_TARGET` degrees. :data:`GEO_STEPS` SGD steps on :math:`v`; for contrast,
    the same steps on :math:`w` itself (the plain parameterization, from :math:`w_0 = v_0`).

    Returns ``v`` (steps + 1, 2), ``norm`` (steps + 1,), ``c`` (steps,), ``predicted``
    :math:`\|v_0\|\prod\sqrt{1+c_t^2}`, and the loss :math:`\tfrac12\|w-w^*\|^2` of both,
    ``loss_wn`` and ``loss_plain`` (steps + 1,): what the figure shows. Traced in ``lr``."""
    a = jnp.deg2rad(GEO_TARGET)
    target = jnp.stack([jnp.cos(a), jnp.sin(a)])[:, None]
    g = jnp.ones((1,))
    as_w = {"wn": lambda v: weightnorm.weight(v, g), "plain": lambda w: w}

    def fit(kind):
        def loss(p, _x, _s):
            return 0.5 * jnp.sum((as_w[kind](p) - target) ** 2), {}

        v0 = jnp.asarray(V0, jnp.float32)[:, None]
        _, _, h = train.run(loss, v0, steps=GEO_STEPS, lr=lr, record=lambda s: {"p": s.new_params[:, 0]})
        p = jnp.concatenate([v0[:, 0][None], h["p"]])
        w = jax.vmap(lambda q: as_w[kind](q[:, None])[:, 0])(p)
        return p, 0.5 * jnp.sum((w - target[:, 0]) ** 2, axis=1)

    v, loss_wn = fit("wn")
    _, loss_plain = fit("plain")
    norm = jnp.sqrt(jnp.sum(v * v, axis=1))
    c = jnp.sqrt(jnp.sum((v[1:] - v[:-1]) ** 2, axis=1)) / norm[:-1]
    predicted = norm[0] * jnp.concatenate([jnp.ones(1), jnp.cumprod(jnp.sqrt(1 + c * c))])
    return {"v": v, "norm": norm, "c": c, "predicted": predicted, "loss_wn": loss_wn,
            "loss_plain": loss_plain}


@lru_cache(maxsize=None)
def geometry_grid() -> dict:
    """:func:`geometry_compute` on the explorable's grid (one ``jit(vmap)``), NumPy arrays of
    shape (len(GEO_LRS), ...)."""
    out = train.grid(geometry_compute, lr=GEO_LRS)
    return jax.tree_util.tree_map(np.asarray, out)


def run_phases(res=None, k: int = 20) -> dict:
    r"""What falls over :func:`pythagoras_run` and why (the referee's point: the feedback is not
    this run's story): the mean first-layer :math:`\|v\|` at the start and the end, and the mean
    :math:`c` over the first and the last ``k`` steps. :math:`c = \eta\|\nabla_v\ell\|/\|v\|`, so
    ``c_fall / norm_growth`` is the factor by which the gradient itself shrank."""
    r = pythagoras_run() if res is None else res
    n, c = r["norm"].mean(1), r["c"].mean(1)
    c0, c1 = float(c[:k].mean()), float(c[-k:].mean())
    return {"norm0": float(n[0]), "norm1": float(n[-1]), "norm_growth": float(n[-1] / n[0]),
            "c0": c0, "c1": c1, "c_fall": c0 / c1, "grad_fall": c0 / c1 / float(n[-1] / n[0])}


TARGET_LOSS = 1e-6


def steps_to_target(res=None, loss: float = TARGET_LOSS) -> dict:
    """On the geometry explorable's grid: per step size, the first step at which the loss falls
    below ``loss`` with WN (steps on v) and plain (steps on w), or -1 if it never does within
    :data:`GEO_STEPS`; and whether the plain steps overshoot (the loss rises at some step or
    w passes w*: 1 - lr < 0)."""
    r = geometry_grid() if res is None else res
    first = lambda y: np.array([int(np.argmax(row < loss)) if np.any(row < loss) else -1 for row in y])
    lrs = np.asarray(GEO_LRS)
    return {"lrs": lrs, "wn": first(r["loss_wn"]), "plain": first(r["loss_plain"]),
            "plain_overshoots": lrs > 1.0,
            "plain_diverges": np.array([bool(np.any(~np.isfinite(row)) or row[-1] > row[0])
                                        for row in r["loss_plain"]])}
