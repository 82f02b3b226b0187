r"""Chapter 2, section 2.3: a digits MLP whose hidden layers keep a bias b AND normalize, trained
four ways (naive centring, naive centring and scaling, true BN, and differentiated centring as a
control).

Each variant is one :class:`normlab.nets.BatchNorm` layer whose options are traced numbers, so all
of them train in one vmapped, compiled call of :func:`normlab.train.run`:

- ``hold``: statistics held outside the gradient (``stop_gradient``, the naive layer);
- ``scale``: divide by :math:`\sigma_B` (``divisor`` 1) or not (0);
- ``affine``: gamma and beta are trained, or frozen at 1 and 0 (a fixed normalization layer).
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from normlab import data, nets, train
from normlab.measure import ema

VARIANTS = {
    "naive centring": dict(hold=1.0, scale=0.0, affine=0.0),
    "naive centring + scaling": dict(hold=1.0, scale=1.0, affine=0.0),
    "batch norm": dict(hold=0.0, scale=1.0, affine=1.0),
    "centring, differentiated": dict(hold=0.0, scale=0.0, affine=0.0),
}


SIZES = (64, 32, 32, 10)


def layer(hold, scale, affine) -> nets.BatchNorm:
    r"""The chapter's hidden layer :math:`\gamma\,\mathrm{Norm}(hW + b) + \beta` for one variant."""
    return nets.BatchNorm(hold=hold, divisor=scale, learn_gamma=affine, learn_beta=affine, bias=True,
                          choices=(0, 1))


def init_params(seed: int = 0, sizes=SIZES):
    """He-initialized weights (std sqrt(2/fan_in)); every hidden layer has ``W``, a bias ``b`` (0),
    ``gamma`` (1) and ``beta`` (0). NumPy draws them (no ``jax.random`` compile on a CPU)."""
    return nets.init_mlp(seed, list(sizes), layer(0, 1, 1))


def hidden_norms(params):
    """``(||all hidden W||, ||all hidden b||)``: the parameters a normalization hides."""
    w = jnp.sqrt(sum(jnp.sum(l["W"] ** 2) for l in params[:-1]))
    b = jnp.sqrt(sum(jnp.sum(l["b"] ** 2) for l in params[:-1]))
    return w, b


def fit(params, x, y, inputs, *, lr, noise, hold, scale, affine):
    """Mini-batch SGD (:func:`normlab.train.run`) over the per-step ``inputs`` (``idx`` and, for
    input noise, ``noise``: :func:`normlab.train.batches`), with traced lr, noise level and variant
    flags. Input noise: ``x[idx] + noise * inputs["noise"]``. Records per step the batch loss and
    the hidden ||W|| and ||b|| after the step."""
    L = layer(hold, scale, affine)

    def loss(p, x_t, _):
        xb = x[x_t["idx"]]
        if "noise" in x_t:
            xb = xb + noise * x_t["noise"]
        return train.cross_entropy(nets.apply_mlp(p, xb, L)[0], y[x_t["idx"]]), {}

    def record(s):
        w, b = hidden_norms(s.new_params)
        return {"loss": s.loss, "w_norm": w, "b_norm": b}

    p, _, hist = train.run(loss, params, inputs, lr=lr, record=record)
    return p, hist


def smoothed(loss):
    """The loss curves the chapter shows: an exponential moving average (decay 0.9, from log 10,
    the loss of a uniform guess), along the last axis."""
    return ema(loss, 0.9, start=float(np.log(10.0)))


def _flags(names):
    return {k: jnp.asarray([VARIANTS[n][k] for n in names]) for k in ("hold", "scale", "affine")}


def _evaluate(p, d, hold, scale):
    """Test loss and accuracy with the whole training set's statistics (Algorithm 2's population
    estimates; the mean and the biased variance, exact rather than running averages)."""
    L = layer(hold, scale, 1)
    _, aux = nets.apply_mlp(p, d["x_train"], L)
    running = [(mean, var) for mean, var, _ in aux["stats"]]
    logits, _ = nets.apply_mlp(p, d["x_test"], L, running=running)
    return train.cross_entropy(logits, d["y_test"]), train.accuracy(logits, d["y_test"])


@lru_cache(maxsize=8)
def train_digits(lr: float = 1.0, steps: int = 2000, batch: int = 32, seeds: tuple = (0,),
                 names: tuple = tuple(VARIANTS)):
    """Train the digits MLP for every variant in ``names`` and every seed, in one ``jit(vmap)``.

    Same initialization and the same mini-batches for every variant of a seed. Returns NumPy
    arrays with leading axes ``(seed, variant)``: ``loss`` (smoothed, :func:`smoothed`),
    ``w_norm``/``b_norm`` per step and ``test_loss``/``test_acc`` at the end (see :func:`_evaluate`).
    """
    d = data.digits()
    flags = _flags(names)
    n_v, n_s = len(names), len(seeds)
    params = [init_params(s) for s in seeds]
    params = jax.tree_util.tree_map(lambda *a: jnp.stack([a[i // n_v] for i in range(n_s * n_v)]),
                                    *params)
    idx = jnp.stack([train.batches(s, steps, batch, d["x_train"].shape[0])["idx"] for s in seeds])
    idx = jnp.repeat(idx, n_v, axis=0)
    fl = {k: jnp.tile(v, n_s) for k, v in flags.items()}

    def one(p, idx, hold, scale, affine):
        p, hist = fit(p, d["x_train"], d["y_train"], {"idx": idx}, lr=lr, noise=0.0, hold=hold,
                      scale=scale, affine=affine)
        hist["loss"] = smoothed(hist["loss"])
        hist["test_loss"], hist["test_acc"] = _evaluate(p, d, hold, scale)
        return hist

    out = jax.jit(jax.vmap(one))(params, idx, fl["hold"], fl["scale"], fl["affine"])
    out = {k: np.asarray(v).reshape((n_s, n_v) + v.shape[1:]) for k, v in out.items()}
    return out | {"names": names, "seeds": seeds}


# The chapter's four-way comparison (section 2.3): learning rate, steps, seeds.
DIGITS_LR = 1.0
DIGITS_STEPS = 2000
DIGITS_SEEDS = (0, 1, 2)

EXPLORE_NAMES = ("naive centring", "naive centring + scaling", "batch norm")
EXPLORE_STEPS = 300


@data.cached
def _explore_inputs():
    d = data.digits()
    inputs = train.batches(0, EXPLORE_STEPS, 32, d["x_train"].shape[0], d["x_train"].shape[1])
    return d["x_train"], d["y_train"], inputs, init_params(0)


def explore_compute(lr, noise):
    """The explorable's result: the three variants of :data:`EXPLORE_NAMES` trained for 300 SGD
    steps (batch 32) at this learning rate and input noise level (same initialization, batches
    and noise draws for all three): ``loss`` (smoothed), ``w_norm``, ``b_norm``, (3, 300)."""
    x, y, inputs, p0 = _explore_inputs()
    flags = _flags(EXPLORE_NAMES)

    def one(hold, scale, affine):
        _, hist = fit(p0, x, y, inputs, lr=lr, noise=noise, hold=hold, scale=scale, affine=affine)
        return dict(hist, loss=smoothed(hist["loss"]))

    return jax.vmap(one)(flags["hold"], flags["scale"], flags["affine"])


EXPLORE_LRS = (0.1, 0.3, 0.9, 2.7)
EXPLORE_NOISES = (0.0, 0.25, 0.5, 1.0)


@lru_cache(maxsize=1)
def explore_grid() -> dict:
    """:func:`explore_compute` on the explorable's whole grid (lr x noise) in one ``jit(vmap)``,
    as NumPy arrays (memoised: the website frames and the live view's grid points share it)."""
    return jax.tree_util.tree_map(np.asarray, train.grid(explore_compute, lr=EXPLORE_LRS,
                                                         noise=EXPLORE_NOISES))


def compare(lr: float = 1.0, steps: int = 2000, batch: int = 32, seed: int = 0):
    """The four-way comparison of the chapter for one seed: a dict of arrays per variant name."""
    r = train_digits(lr, steps, batch, (seed,))
    return {name: {k: r[k][0, j] for k in ("loss", "w_norm", "b_norm", "test_loss", "test_acc")}
            for j, name in enumerate(r["names"])}
