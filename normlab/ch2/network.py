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

from normlab import cache
from normlab import data, nets, train
from normlab.measure import ema

VARIANTS = {
    "naive centring": dict(hold=1.0, scale=0.0, affine=0.0),
    "naive centring + scaling": dict(hold=1.0, scale=1.0, affine=0.0),
    "batch norm": dict(hold=0.0, scale=1.0, affine=1.0),
    "centring, differentiated": dict(hold=0.0, scale=0.0, affine=0.0),
    # the fair control of naive centring + scaling: the same fixed layer, statistics differentiated
    "standardizing, differentiated": dict(hold=0.0, scale=1.0, affine=0.0),
}
#: the variants of the chapter's figure (section 2.3); the last one is a control used by the claims
SHOWN = ("naive centring", "naive centring + scaling", "batch norm", "centring, differentiated")


SIZES = (64, 32, 32, 10)


def layer(hold, scale, affine, bias: bool = True) -> nets.BatchNorm:
    r"""The chapter's hidden layer :math:`\gamma\,\mathrm{Norm}(hW + b) + \beta` for one variant
    (``bias=False``: without :math:`b`)."""
    return nets.BatchNorm(hold=hold, divisor=scale, learn_gamma=affine, learn_beta=affine, bias=bias,
                          choices=(0, 1))


def init_params(seed: int = 0, sizes=SIZES, bias: bool = True):
    """He-initialized weights (std sqrt(2/fan_in)); every hidden layer has ``W``, a bias ``b`` (0;
    none with ``bias=False``), ``gamma`` (1) and ``beta`` (0). NumPy draws them (no ``jax.random``
    compile on a CPU)."""
    return nets.init_mlp(seed, list(sizes), layer(0, 1, 1, bias))


def hidden_norms(params):
    """``(||all hidden W||, ||all hidden b||)``: the parameters a normalization hides."""
    w = jnp.sqrt(sum(jnp.sum(l["W"] ** 2) for l in params[:-1]))
    b = jnp.sqrt(sum(jnp.sum(l["b"] ** 2) for l in params[:-1] if "b" in l))
    return w, b


def fit(params, x, y, inputs, *, lr, noise, hold, scale, affine):
    """Mini-batch SGD (:func:`normlab.train.run`) over the per-step ``inputs`` (``idx`` and, for
    input noise, ``noise``: :func:`normlab.train.batches`), with traced lr, noise level and variant
    flags. Input noise: ``x[idx] + noise * inputs["noise"]``. Records per step the batch loss and
    the hidden ||W|| and ||b|| after the step."""
    L = layer(hold, scale, affine, "b" in params[0])

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
    L = layer(hold, scale, 1, "b" in p[0])
    _, aux = nets.apply_mlp(p, d["x_train"], L)
    running = [(mean, var) for mean, var, _ in aux["stats"]]
    logits, _ = nets.apply_mlp(p, d["x_test"], L, running=running)
    return train.cross_entropy(logits, d["y_test"]), train.accuracy(logits, d["y_test"])


@cache.cached
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


@cache.cached
@lru_cache(maxsize=1)
def explore_grid() -> dict:
    """:func:`explore_compute` on the explorable's whole grid (lr x noise) in one ``jit(vmap)``,
    as NumPy arrays (memoised: the website frames and the live view's grid points share it)."""
    return jax.tree_util.tree_map(np.asarray, train.grid(explore_compute, lr=EXPLORE_LRS,
                                                         noise=EXPLORE_NOISES))


def compare(lr: float = 1.0, steps: int = 2000, batch: int = 32, seed: int = 0,
            seeds: tuple = DIGITS_SEEDS):
    """The four-way comparison of the chapter for one seed, taken from the run over ``seeds``
    (the same vmapped run the chapter and claim 2.6 print: the blow-up step is sensitive to float32
    rounding, which differs between a one-seed and a three-seed batch, by hundreds of steps): a
    dict of arrays per variant name."""
    r = train_digits(lr, steps, batch, tuple(seeds))
    k = list(seeds).index(seed)
    return {name: {key: r[key][k, j] for key in ("loss", "w_norm", "b_norm", "test_loss", "test_acc")}
            for j, name in enumerate(r["names"]) if name in SHOWN}


# Is "naive centring blows up" a matter of the learning rate, and of the bias? (claim 2.6)
BLOWUP_LRS = (0.7,)  # the largest rate of the explorable's grid below 1
BLOWUP_NAMES = ("naive centring", "centring, differentiated")


def _sgd(train_b):
    """Plain SGD that moves the hidden biases b only when ``train_b`` is 1 (with ``train_b = 0`` and
    b = 0 at the start, the layer computes exactly what a layer without b does)."""
    def update(g, s, p, lr):
        new = [{k: v - lr * (train_b if k == "b" else 1.0) * gl[k] for k, v in pl.items()}
               for pl, gl in zip(p, g)]
        return new, s
    return train.Optimizer(lambda p: (), update)


@lru_cache(maxsize=1)
def blowup_runs(steps: int = DIGITS_STEPS, batch: int = 32) -> dict:
    """The runs behind claim 2.6, in one ``jit(vmap)`` (learning rate traced): naive centring and
    its differentiated control at every rate of :data:`BLOWUP_LRS` and every seed, and naive
    centring at :data:`DIGITS_LR` with the hidden biases frozen at 0 (i.e. without b). Returns
    ``{"lr": {...}, "no_bias": {...}}``: ``loss`` (raw batch loss per step), ``w_norm`` per step
    and ``test_acc``, with leading axes ``(lr, seed, variant)`` and ``(seed,)``."""
    d = data.digits()
    seeds, names = DIGITS_SEEDS, BLOWUP_NAMES
    pts = [(lr, s, v, 1.0) for lr in BLOWUP_LRS for s in range(len(seeds)) for v in range(len(names))]
    pts += [(DIGITS_LR, s, 0, 0.0) for s in range(len(seeds))]
    params = [init_params(s) for s in seeds]
    params = jax.tree_util.tree_map(lambda *a: jnp.stack([a[p[1]] for p in pts]), *params)
    idx = [train.batches(s, steps, batch, d["x_train"].shape[0])["idx"] for s in seeds]
    idx = jnp.stack([idx[p[1]] for p in pts])
    fl = {k: jnp.asarray([VARIANTS[names[p[2]]][k] for p in pts]) for k in ("hold", "scale", "affine")}
    lr = jnp.asarray([p[0] for p in pts], jnp.float32)
    train_b = jnp.asarray([p[3] for p in pts], jnp.float32)

    def one(p, idx, lr, hold, scale, affine, train_b):
        L = layer(hold, scale, affine)

        def loss(p, x_t, _):
            return train.cross_entropy(nets.apply_mlp(p, d["x_train"][x_t], L)[0], d["y_train"][x_t]), {}

        p, _, hist = train.run(loss, p, idx, lr=lr, optimizer=_sgd(train_b),
                               record=lambda s: {"loss": s.loss, "w_norm": hidden_norms(s.new_params)[0]})
        return {"loss": hist["loss"], "w_norm": hist["w_norm"], "test_acc": _evaluate(p, d, hold, scale)[1]}

    out = jax.jit(jax.vmap(one))(params, idx, lr, fl["hold"], fl["scale"], fl["affine"], train_b)
    out = jax.tree_util.tree_map(np.asarray, out)
    n = len(BLOWUP_LRS) * len(seeds) * len(names)
    grid = {k: v[:n].reshape((len(BLOWUP_LRS), len(seeds), len(names)) + v.shape[1:]) for k, v in out.items()}
    return {"lr": grid, "no_bias": {k: v[n:] for k, v in out.items()}}


def noise_effect(lr: float) -> dict:
    """What the explorable shows at one learning rate of its grid: per variant of
    :data:`EXPLORE_NAMES`, the final hidden ||b|| at each input-noise level of
    :data:`EXPLORE_NOISES` (NaN where the run blew up), and whether batch norm's b ever moved
    (its largest ||b|| over the grid row)."""
    g = explore_grid()
    i = EXPLORE_LRS.index(lr)
    b = g["b_norm"][i]                                    # (noise, variant, step)
    fin = np.where(np.all(np.isfinite(b), -1) & (np.max(np.abs(b), -1) < 1e3), b[..., -1], np.nan)
    out = {n: fin[:, j] for j, n in enumerate(EXPLORE_NAMES)}
    out["bn_max"] = float(np.nanmax(np.abs(b[:, EXPLORE_NAMES.index("batch norm")])))
    return out
