r"""Chapter 3, section 3.7: the digits MLP trained five ways over a learning-rate grid and several
seeds: plain, WN, WN + data-dependent init, WN + mean-only BN, BN.

All five start from the same He-initialized weights per seed (WN from the same function,
:math:`v = W`, :math:`g = \|W_{:,j}\|`; "WN + data init" then sets :math:`g, b` from the first
training batch, eqs. 5-6) and see the same batches. Plain SGD, 200 steps of 64, through
:func:`normlab.train.fit_classifier`; the three WN variants train in one ``vmap`` (mean-only BN is
a traced option of ``nets.WeightNorm``), and the whole grid is one ``jit(vmap)``.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from normlab import data, nets, train
from normlab.compare import compare, final
from normlab.measure import diverged_at
from normlab import cache

SIZES = (64, 64, 64, 10)
STEPS = 200
BATCH = 64
EVAL_EVERY = 20
LRS = tuple(float(v) for v in np.logspace(-2, 1, 7))
SEEDS = (0, 1, 2)
VARIANTS = ("plain", "WN", "WN + data init", "WN + mean-only BN", "BN")
WN_VARIANTS = VARIANTS[1:4]
GOOD_ACC = 0.9  # "usable": every seed reaches this test accuracy without diverging


def _stack(trees):
    return jax.tree_util.tree_map(lambda *a: jnp.stack(a), *trees)


@lru_cache(maxsize=None)
def _setup():
    """Per seed: initial parameters of every variant and the batches' row indices (NumPy draws;
    concrete even when first asked for inside a ``jit`` trace)."""
    with jax.ensure_compile_time_eval():
        return _make_setup()


def _make_setup():
    d = data.digits()
    n = d["x_train"].shape[0]
    idx = jnp.stack([train.batches(s, STEPS, BATCH, n)["idx"] for s in SEEDS])
    wn = nets.WeightNorm()
    raw = [nets.init_mlp(s, list(SIZES), wn) for s in SEEDS]
    inited = [nets.data_init(p, d["x_train"][idx[i, 0]], wn) for i, p in enumerate(raw)]
    return {"idx": idx,
            "plain": _stack([nets.init_mlp(s, list(SIZES), nets.Dense()) for s in SEEDS]),
            "BN": _stack([nets.init_mlp(s, list(SIZES), nets.BatchNorm()) for s in SEEDS]),
            "WN": _stack(raw), "WN + data init": _stack(inited)}


def initial_norms():
    """Per seed: the mean column norm of WN's first hidden v before training (as the probe
    measures it)."""
    v = np.asarray(_setup()["WN"][0]["v"])  # (seed, fan_in, units)
    return np.sqrt((v ** 2).sum(axis=1)).mean(axis=1)


def _wn_probe(params, running, aux):
    r"""Per hidden layer: the mean column norm of :math:`v`, the mean of :math:`g^2/\|v\|^2`, the
    mean bias, and the fraction of dead units (ReLU off on every test image)."""
    out = []
    for p, z in zip(params[:-1], aux["pre"]):
        n = jnp.sqrt(jnp.sum(p["v"] ** 2, axis=0))
        dead = jnp.mean(jnp.all(z <= 0, axis=0))
        out.append(jnp.stack([jnp.mean(n), jnp.mean(p["g"] ** 2 / n**2), jnp.mean(p["b"]), dead]))
    return jnp.stack(out)


def compute(lr, seed):
    """Train all five variants at learning rate ``lr`` for the seed with index ``seed`` (both may
    be traced). Per variant: ``loss`` (STEPS,), ``acc``, ``dead`` (evaluations,: the largest
    fraction of a hidden layer's units off on the whole test set); the WN variants also
    ``probe`` (evaluations, layers, 4): per hidden layer mean ||v||, mean g^2/||v||^2, mean b and
    the fraction of dead units on the test set (:func:`_wn_probe`)."""
    d, s = data.digits(), _setup()
    pick = lambda tree: jax.tree_util.tree_map(lambda a: a[seed], tree)
    idx = s["idx"][seed]
    fit = lambda p, layer, probe=None: train.fit_classifier(
        p, d, idx, layer=layer, lr=lr, steps=STEPS, max_batch=BATCH, eval_every=EVAL_EVERY,
        probe=probe)[1]
    out = {}
    for name, layer in (("plain", nets.Dense()), ("BN", nets.BatchNorm())):
        h = fit(pick(s[name]), layer)
        out[name] = {"loss": h["loss"], "acc": h["test_acc"], "dead": h["dead"]}
    wn = pick(s["WN"])
    params = _stack([wn, pick(s["WN + data init"]), wn])
    mean_only = jnp.asarray([0.0, 0.0, 1.0])
    h = jax.vmap(lambda p, mo: fit(p, nets.WeightNorm(mean_only=mo), _wn_probe))(params, mean_only)
    for j, name in enumerate(WN_VARIANTS):
        out[name] = {"loss": h["loss"][j], "acc": h["test_acc"][j], "dead": h["dead"][j],
                     "probe": h["probe"][j]}
    return out


@cache.cached
@lru_cache(maxsize=None)
def experiment_grid() -> dict:
    """:func:`compute` over :data:`LRS` x :data:`SEEDS` in one ``jit(vmap)``: per variant, arrays
    with leading axes (lr, seed)."""
    out = train.grid(compute, lr=LRS, seed=np.arange(len(SEEDS)))
    return jax.tree_util.tree_map(np.asarray, out)


def summary(res=None) -> dict:
    """Per variant, arrays (lr, seed): ``diverged`` (step or -1), ``final`` (mean training loss of
    the last 20 steps; inf if diverged), ``acc`` (final test accuracy; 0 if diverged); and
    ``usable``: the learning rates at which every seed reaches :data:`GOOD_ACC` without diverging."""
    res = experiment_grid() if res is None else res
    out = {}
    for name in VARIANTS:
        loss, acc = res[name]["loss"], res[name]["acc"]
        div = np.array([[(lambda k: -1 if k is None else k)(diverged_at(loss[i, j]))
                         for j in range(loss.shape[1])] for i in range(loss.shape[0])])
        tail = loss[..., -20:]
        final = np.where(div < 0, np.where(np.isfinite(tail), tail, 0.0).mean(-1), np.inf)
        a = np.where(div < 0, acc[..., -1], 0.0)
        ok = (div < 0) & (a >= GOOD_ACC)
        out[name] = {"diverged": div, "final": final, "acc": a,
                     "usable": [LRS[i] for i in range(len(LRS)) if ok[i].all()]}
    return out


def table(res=None) -> str:
    """Final test accuracy (%) per learning rate, mean over seeds (min-max), 'div' if any seed
    diverged."""
    s = summary(res)
    w = 19
    lines = ["lr      " + "".join(f"{n:>{w}}" for n in VARIANTS)]
    for i, lr in enumerate(LRS):
        cells = []
        for n in VARIANTS:
            if (s[n]["diverged"][i] >= 0).any():
                k = int((s[n]["diverged"][i] >= 0).sum())
                cells.append(f"{f'div ({k}/{len(SEEDS)})':>{w}}")
            else:
                a = 100 * s[n]["acc"][i]
                cells.append(f"{f'{a.mean():.0f} ({a.min():.0f}-{a.max():.0f})':>{w}}")
        lines.append(f"{lr:<8.3g}" + "".join(cells))
    return "\n".join(lines)


def speed(res=None, lrs=(0.01, 0.0316, 0.1)) -> dict:
    """Per variant, the mean training loss of the last 20 steps at the small learning rates
    ``lrs`` (where no variant diverges), averaged over them: (mean over seeds, min, max)."""
    s = summary(res)
    rows = [LRS.index(min(LRS, key=lambda v: abs(v - lr))) for lr in lrs]
    out = {}
    for n in VARIANTS:
        f = s[n]["final"][rows].mean(axis=0)  # per seed
        out[n] = (float(f.mean()), float(f.min()), float(f.max()))
    return out


CRITERION = "mean training loss of the last 20 of 200 steps"
SPEED_THRESHOLD = 0.3  # nats: the loss a run must reach (10-step trailing mean) to count as fast
SPEED_CRITERION = (f"steps until the training loss (trailing mean of 10 steps) falls below "
                   f"{SPEED_THRESHOLD:g} ({STEPS + 1} if never)")


def steps_to(loss, threshold: float = SPEED_THRESHOLD, window: int = 10) -> np.ndarray:
    """Per run (leading axes of ``loss``, steps last): the first step at which the trailing mean
    of ``window`` losses is below ``threshold``; STEPS + 1 if it never is (the speed criterion:
    how soon a run gets somewhere, not where all runs end)."""
    c = np.cumsum(np.asarray(loss, float), axis=-1)
    sm = np.concatenate([c[..., window - 1:window], c[..., window:] - c[..., :-window]], -1) / window
    hit = sm < threshold
    return np.where(hit.any(-1), hit.argmax(-1) + window, loss.shape[-1] + 1)


@lru_cache(maxsize=None)
def statuses() -> dict:
    """Per variant, an object array (lr, seed) of :func:`normlab.train.status`: whether each run
    trained (diverged, died: >= 90% of a hidden layer's units off on the test set, stalled)."""
    res = experiment_grid()
    out = {}
    for n in VARIANTS:
        r = res[n]
        st = np.empty(r["loss"].shape[:2], dtype=object)
        for i in range(st.shape[0]):
            for j in range(st.shape[1]):
                st[i, j] = train.status(r["loss"][i, j], dead=r["dead"][i, j],
                                        test_acc=r["acc"][i, j], chance=0.1)
        out[n] = st
    return out


def kinds(name: str) -> np.ndarray:
    """(lr, seed) array of status kinds ("ok", "diverged", "died", "stalled") for one variant."""
    return np.vectorize(lambda s: s.kind, otypes=[object])(statuses()[name])


@lru_cache(maxsize=None)
def comparison(methods=VARIANTS, metric: str = "loss"):
    """:func:`normlab.compare.compare` of ``methods`` on the whole grid, each at its own best
    learning rate over the three seeds: ``metric`` "loss" (:data:`CRITERION`, lower is better)
    "speed" (:func:`steps_to`, lower is better) or "acc" (final test accuracy, higher is better); runs that did not train are excluded."""
    res = experiment_grid()
    st = statuses()
    if metric == "loss":
        m = np.stack([final(res[n]["loss"], 20) for n in methods])
        crit, hib = CRITERION, False
    elif metric == "speed":
        m = np.stack([steps_to(res[n]["loss"]) for n in methods])
        crit, hib = SPEED_CRITERION, False
    else:
        m = np.stack([res[n]["acc"][..., -1] for n in methods])
        crit, hib = "final test accuracy after 200 steps", True
    return compare(m, methods=list(methods), lrs=LRS, seeds=list(SEEDS), criterion=crit,
                   status=np.stack([st[n] for n in methods]), higher_is_better=hib)
