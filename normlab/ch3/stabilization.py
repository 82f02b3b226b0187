r"""Chapter 3, section 3.3 (continued): self-stabilization, measured in a network.

A larger step or a noisier gradient makes :math:`c = \|\Delta v\|/\|v\|` larger, so :math:`\|v\|`
grows faster, and the step that the weight :math:`w` itself takes shrinks: to first order,
:math:`\Delta w \approx -\eta_{\text{eff}}\,M_w\nabla_w\ell` (plus the change of :math:`g`) with
the *effective learning rate* :math:`\eta_{\text{eff}} = \eta\,g^2/\|v\|^2` (our derivation).

- :func:`compute_stabilization`, :func:`stabilization_grid`: the explorable (learning rate x
  gradient noise): a digits MLP with and without WN, SGD with Gaussian noise added to the gradient
  of every hidden weight; :math:`\|v\|`, :math:`\eta_{\text{eff}}` and the loss per step;
- :func:`stabilization_seeds`: the same at a few settings, over several seeds (the claims);
- :func:`optimizer_growth`: how much of the norm growth survives momentum and Adam.

The gradient noise is added through the loss: :math:`\ell + \sigma\sum\xi_t\odot w` has gradient
:math:`\nabla_w\ell + \sigma\xi_t` in :math:`w` (the same draws :math:`\xi_t` for both networks);
the loss recorded is :math:`\ell` alone.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from normlab import data, nets, train, weightnorm
from normlab import cache

SIZES = (64, 64, 64, 10)
STEPS = 400
BATCH = 32
LRS = tuple(float(v) for v in np.logspace(-1.5, 1, 6))
NOISES = (0.0, 0.02, 0.05, 0.1)
LAYERS = {"wn": nets.WeightNorm(), "plain": nets.Dense()}


def hidden_weights(params):
    """The weight :math:`w` of every hidden layer (eq. 2 for a WN layer, ``W`` otherwise)."""
    return [weightnorm.weight(p["v"], p["g"]) if "v" in p else p["W"] for p in params[:-1]]


def first_layer_scales(p, lr):
    r"""(mean column norm of the first hidden layer's :math:`v` or :math:`W`, mean over its units
    of the effective learning rate :math:`\eta g^2/\|v\|^2`, or :math:`\eta` without WN)."""
    if "v" in p:
        n = jnp.sqrt(jnp.sum(p["v"] ** 2, axis=0))
        return jnp.mean(n), lr * jnp.mean(p["g"] ** 2 / n**2)
    return jnp.mean(jnp.sqrt(jnp.sum(p["W"] ** 2, axis=0))), lr * jnp.ones(())


@lru_cache(maxsize=None)
def _inputs(seed: int = 0, steps: int = STEPS):
    """The batches' row indices and the noise draws (NumPy: nothing to compile). Concrete arrays
    even when first asked for inside a ``jit`` trace (they are memoised)."""
    d = data.digits()
    rng = np.random.default_rng(100 + seed)
    with jax.ensure_compile_time_eval():
        idx = jnp.asarray(rng.integers(0, d["x_train"].shape[0], (steps, BATCH)), jnp.int32)
        xi = [jnp.asarray(rng.normal(size=(steps, a, b)), jnp.float32)
              for a, b in zip(SIZES[:-2], SIZES[1:-1])]
    return {"idx": idx, "xi": xi}


@lru_cache(maxsize=None)
def _params(seed: int = 0):
    """The same initial weights for both networks (WN starts as the same function: g = ||v||)."""
    with jax.ensure_compile_time_eval():
        return {k: nets.init_mlp(seed, list(SIZES), layer) for k, layer in LAYERS.items()}


def fit_noisy(p0, layer, inputs, lr, noise, optimizer=None):
    r"""Train with :func:`normlab.train.run` on the digits with gradient noise ``noise`` (the std
    of :math:`\sigma\xi_t` per weight); records per step the loss, the first hidden layer's mean
    column norm and its effective learning rate (:func:`first_layer_scales`)."""
    d = data.digits()
    x, y = d["x_train"], d["y_train"]

    def loss(p, x_t, _):
        ce = train.cross_entropy(nets.apply_mlp(p, x[x_t["idx"]], layer)[0], y[x_t["idx"]])
        kick = sum(jnp.sum(xi * w) for xi, w in zip(x_t["xi"], hidden_weights(p)))
        return ce + noise * kick, {"ce": ce}

    def record(s):
        norm, eff = first_layer_scales(s.new_params[0], lr)
        return {"loss": s.aux["ce"], "norm": norm, "eff": eff}

    return train.run(loss, p0, inputs, lr=lr, record=record, optimizer=optimizer)


def compute_stabilization(lr, noise):
    """The explorable: both networks, 400 SGD steps (batch 32) at this learning rate and gradient
    noise, from the same weights and batches. Per network: ``loss``, ``norm``, ``eff`` (400,)."""
    inputs, params = _inputs(), _params()
    return {k: fit_noisy(params[k], layer, inputs, lr, noise)[2] for k, layer in LAYERS.items()}


@cache.cached
@lru_cache(maxsize=None)
def stabilization_grid() -> dict:
    """:func:`compute_stabilization` on the explorable's grid (one ``jit(vmap)``), NumPy arrays of
    shape (len(LRS), len(NOISES), STEPS)."""
    out = train.grid(compute_stabilization, lr=LRS, noise=NOISES)
    return jax.tree_util.tree_map(np.asarray, out)


SEED_LR = 1.0
SEED_NOISES = (0.0, 0.05, 0.1)
SEEDS = (0, 1, 2)


@cache.cached
@lru_cache(maxsize=None)
def stabilization_seeds(lr: float = SEED_LR, noises=SEED_NOISES, seeds=SEEDS) -> dict:
    """The WN network at one learning rate and several noise levels, over several seeds (weights,
    batches and noise draws per seed): final ``norm_ratio`` (norm at the end / ``norm0``, the mean
    column norm of the first hidden v before training),
    ``eff_ratio`` (effective learning rate at the end / lr), ``loss`` (mean of the last 40 steps),
    each (len(noises), len(seeds)); and the same for the plain network (``plain_loss``,
    ``plain_norm_ratio`` of its ||W||, ``plain_eff_ratio``, which is 1: no brake)."""
    stack = lambda trees: jax.tree_util.tree_map(lambda *a: jnp.stack(a), *trees)
    inputs = stack([_inputs(s) for s in seeds])
    params = {k: stack([_params(s)[k] for s in seeds]) for k in LAYERS}

    def one(noise, p_wn, p_plain, inp):
        h = fit_noisy(p_wn, LAYERS["wn"], inp, lr, noise)[2]
        hp = fit_noisy(p_plain, LAYERS["plain"], inp, lr, noise)[2]
        n0 = jnp.mean(jnp.sqrt(jnp.sum(p_wn[0]["v"] ** 2, axis=0)))
        n0p = jnp.mean(jnp.sqrt(jnp.sum(p_plain[0]["W"] ** 2, axis=0)))
        return {"norm_ratio": h["norm"][-1] / n0, "eff_ratio": h["eff"][-1] / lr, "norm0": n0,
                "loss": jnp.mean(h["loss"][-40:]), "plain_loss": jnp.mean(hp["loss"][-40:]),
                "plain_norm_ratio": hp["norm"][-1] / n0p, "plain_eff_ratio": hp["eff"][-1] / lr}

    f = jax.vmap(jax.vmap(one, (None, 0, 0, 0)), (0, None, None, None))
    out = jax.jit(f)(jnp.asarray(noises), params["wn"], params["plain"], inputs)
    return {k: np.asarray(v) for k, v in out.items()} | {"noises": noises, "seeds": seeds, "lr": lr}


def noise_growth_estimate(norm0, noise, lr=SEED_LR, steps: int = STEPS, fan_in: int = SIZES[0]):
    r"""Our back-of-the-envelope estimate of :math:`\|v\|` after ``steps`` steps from the noise
    alone: each step adds about :math:`\eta^2 (g/\|v\|)^2\sigma^2(k-1)` to :math:`\|v\|^2` (the
    projection removes one of the :math:`k` noise components), so
    :math:`\|v\|^4 \approx \|v_0\|^4 + 2\eta^2 g^2\sigma^2(k-1)\,t`, with :math:`g` held at its
    initial value :math:`\|v_0\|` (the gradient's own contribution and the drift of :math:`g`
    are ignored)."""
    norm0 = np.asarray(norm0, float)
    return (norm0**4 + 2 * lr**2 * norm0**2 * noise**2 * (fan_in - 1) * steps) ** 0.25


# ------------------------------------------------------------------------------------------------
# Momentum and Adam
# ------------------------------------------------------------------------------------------------
OPTIMIZERS = {"SGD": (train.sgd, (0.1, 0.3, 1.0)),
              "momentum 0.9": (lambda: train.momentum(0.9), (0.01, 0.03, 0.1)),
              "Adam": (train.adam, (0.001, 0.003, 0.01))}
OPT_STEPS = 200
OPT_BATCH = 64


def _growth_record(s):
    """Per step, the first hidden layer's v: mean column norm, the fraction of columns whose norm
    decreased, and the norm growth split into its two parts,
    :math:`\\|v'\\|^2-\\|v\\|^2 = 2\\,v\\cdot\\Delta v + \\|\\Delta v\\|^2` (summed over columns)."""
    v0, v1 = s.params[0]["v"], s.new_params[0]["v"]
    dv = v1 - v0
    n0, n1 = jnp.sqrt(jnp.sum(v0 * v0, 0)), jnp.sqrt(jnp.sum(v1 * v1, 0))
    return {"norm": jnp.mean(n1), "shrink": jnp.mean(n1 < n0), "radial": 2 * jnp.sum(v0 * dv),
            "pythagorean": jnp.sum(dv * dv), "loss": s.loss}


@cache.cached
@lru_cache(maxsize=None)
def optimizer_growth(seeds=SEEDS) -> dict:
    """The WN digits MLP (batch 64, 200 steps, no added noise) under SGD, momentum and Adam at
    three learning rates each, over several seeds. Per optimizer: ``lrs``, ``norm0`` (seed,), the
    mean column norm before training, and arrays (lr, seed, step) ``norm`` (after each step),
    ``shrink``, ``radial``, ``pythagorean``, ``loss``."""
    d = data.digits()
    x, y = d["x_train"], d["y_train"]
    layer = LAYERS["wn"]
    stack = lambda trees: jax.tree_util.tree_map(lambda *a: jnp.stack(a), *trees)
    params = stack([nets.init_mlp(s, list(SIZES), layer) for s in seeds])
    idx = jnp.stack([train.batches(s, OPT_STEPS, OPT_BATCH, x.shape[0])["idx"] for s in seeds])
    loss = lambda p, i, _: (train.cross_entropy(nets.apply_mlp(p, x[i], layer)[0], y[i]), {})

    def runs(params, idx):
        out = {}
        for name, (make, lrs) in OPTIMIZERS.items():
            one = lambda p, i, lr, make=make: train.run(loss, p, i, lr=lr, record=_growth_record,
                                                        optimizer=make())[2]
            f = jax.vmap(jax.vmap(one, (0, 0, None)), (None, None, 0))
            out[name] = f(params, idx, jnp.asarray(lrs))
        return out

    res = jax.tree_util.tree_map(np.asarray, jax.jit(runs)(params, idx))
    norm0 = np.asarray(jnp.mean(jnp.sqrt(jnp.sum(params[0]["v"] ** 2, axis=1)), axis=-1))
    return {name: dict(res[name], lrs=OPTIMIZERS[name][1], norm0=norm0) for name in OPTIMIZERS}


def growth_summary(res=None) -> dict:
    """Per optimizer and learning rate: ``growth`` (final / initial mean norm, mean over seeds),
    ``shrink`` (fraction of column-steps whose norm decreased), ``radial`` (share of the total
    squared-norm growth that comes from the radial term :math:`2v\\cdot\\Delta v`)."""
    res = optimizer_growth() if res is None else res
    out = {}
    for name, r in res.items():
        out[name] = {
            "lrs": r["lrs"],
            "growth": r["norm"][:, :, -1] / r["norm0"],  # (lr, seed)
            "shrink": r["shrink"].mean(axis=(1, 2)),
            "radial": r["radial"].sum(-1) / (r["radial"].sum(-1) + r["pythagorean"].sum(-1)),
            "loss": r["loss"][:, :, -20:].mean(-1),
        }
    return out


CRITERION = "mean training loss of the last 40 of 400 steps"


@cache.cached
@lru_cache(maxsize=None)
def best_lr_comparison() -> dict:
    """Per gradient noise of the explorable's grid (seed 0 only: the grid is one seed), WN and
    plain each at its own best learning rate (:func:`normlab.compare.compare`, runs that
    diverged or stalled excluded): noise -> Comparison."""
    from normlab.compare import compare, final

    g = stabilization_grid()
    out = {}
    for j, noise in enumerate(NOISES):
        m = np.stack([final(g[k]["loss"][:, j], 40) for k in ("wn", "plain")])[:, :, None]
        st = np.empty(m.shape, dtype=object)
        for a, k in enumerate(("wn", "plain")):
            for i in range(len(LRS)):
                st[a, i, 0] = train.status(g[k]["loss"][i, j])
        out[noise] = compare(m, methods=["WN", "plain"], lrs=LRS, seeds=[0], criterion=CRITERION,
                             status=st)
    return out


def predict_answer(lr: float = 1.0, noises=(0.0, 0.1)) -> dict:
    """What the explorable shows at learning rate ``lr`` for the two ``noises`` (grid points; the
    predict question's settings): per noise, the final mean ||v|| and effective learning rate of
    WN's first layer, and the final loss (mean of the last 40 steps) of both networks; and how
    much the noise raised each network's loss (ratio of the two final losses)."""
    g = stabilization_grid()
    i = LRS.index(min(LRS, key=lambda v: abs(v - lr)))
    js = [NOISES.index(n) for n in noises]
    fin = lambda k, key, j: float(np.mean(g[k][key][i, j, -40:])) if key == "loss" \
        else float(g[k][key][i, j, -1])
    out = {"lr": LRS[i], "noises": tuple(noises),
           "norm": [fin("wn", "norm", j) for j in js], "eff": [fin("wn", "eff", j) for j in js],
           "loss_wn": [fin("wn", "loss", j) for j in js],
           "loss_plain": [fin("plain", "loss", j) for j in js]}
    out["hurt_wn"] = out["loss_wn"][1] / out["loss_wn"][0]
    out["hurt_plain"] = out["loss_plain"][1] / out["loss_plain"][0]
    return out
