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
a batch of 1 sees 128 times fewer examples than a batch of 128. The comparison that matters is
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
#: the ablation (Going further): GN on the centred weight only, on the weight divided by sigma_W only
ABLATION = ("GN+centre", "GN+scale")
#: BN on the weight-standardized convolution (the landscape probes, section 6.6)
BNWS = "BN+WS"
KINDS = METHODS + ABLATION + (BNWS,)   # a method's kind number in :class:`Switch` is its index here
BATCHES = (1, 2, 4, 16, 64, 128)
#: the learning-rate grid at each batch size (a smaller batch, a smaller best rate): three rates a
#: factor of about 3 apart, around the best rates of a wider five-rate sweep (not shipped; edges()
#: lists the cells whose best rate is still at a grid's end)
LRS = {1: (0.01, 0.03, 0.1), 2: (0.01, 0.03, 0.1), 4: (0.03, 0.1, 0.3), 16: (0.03, 0.1, 0.3),
       64: (0.1, 0.3, 1.0), 128: (0.1, 0.3, 1.0)}
SEEDS = tuple(range(9))   # batches 1, 2 and 4: nine seeds, for paired differences with a CI
SEEDS_16 = (0, 1, 2)      # batches 16, 64 and 128 (each its own compiled call): three seeds
#: the kinds trained at batches 1, 2, 4 (the sweep and the ablation), at batch 16 (the sweep's
#: methods and BN+WS, whose runs the landscape probes of section 6.6 read) and at 64 and 128 (the sweep's
#: methods)
KINDS_SMALL = METHODS + ABLATION
KINDS_16 = METHODS + (BNWS,)
#: batch 16 keeps its parameters every CHECK_EVERY steps (the landscape probes' checkpoints)
CHECK_EVERY = 50
CHANNELS = (1, 4, 8)   # 8x8x1 -> 3x3 conv, 4 channels -> 3x3 conv, 8 channels -> 10 classes
GROUPS = 2
STEPS = 150
N_TEST = 320           # the first 320 test images (BN's training-mode view splits them in batches of 1)
CRITERION = f"test error after {STEPS} steps (inference mode: BN with running statistics)"


def _row_bands(W, width: int):
    r"""The kernel as one banded matrix per kernel row: ``M[i, y', c, y, o] = W[i, y' - y + kw//2, c, o]``
    (zero where the kernel does not reach), shape (kh, width, C_in, width, C_out)."""
    kw = W.shape[1]
    S = np.stack([np.eye(width, k=-(j - kw // 2)) for j in range(kw)])  # S[j, y', y] = [y' = y + j - kw//2]
    return jnp.einsum("jab,ijco->iacbo", jnp.asarray(S, W.dtype), W)


def conv(h, W):
    """``nets.linear(h, W)`` (3x3 "SAME", stride 1, channels last) computed as a matrix product per
    image row: each output row is the three input rows around it, side by side, times one banded
    matrix built from the kernel (:func:`_row_bands`). The same numbers (``tests/test_ch6.py``);
    under ``vmap`` over runs a batched matrix product, which XLA's CPU backend runs faster than a
    grouped convolution or a 3x3 patches matrix (the channels are few, the images 8x8)."""
    if W.ndim == 2:
        return h @ W
    kh, kw, c, o = W.shape
    n, H, Wd, _ = h.shape
    M = _row_bands(W, Wd).reshape(kh * Wd * c, Wd * o)
    hp = jnp.pad(h.reshape(n, H, Wd * c), ((0, 0), (kh // 2, kh // 2), (0, 0)))
    rows = jnp.concatenate([hp[:, i:i + H, :] for i in range(kh)], axis=-1)
    return (rows @ M).reshape(n, H, Wd, o)


def weight(W, kind):
    r"""The weight the layer of ``kind`` convolves with: :math:`W` (kinds 0-3), WS's
    :math:`\hat W = (W - \mu_W)/\sigma_W` (4), the centred :math:`W - \mu_W` only (5, the WS
    paper's Eq. 11), :math:`W/\sigma_W` only (6, its Eq. 12), per output unit over the fan-in,
    biased :math:`\sigma_W` (as :func:`normlab.weightstd.standardize`); kind 7 (BN+WS) :math:`\hat W`
    too. ``kind`` may be traced."""
    ax = tuple(range(W.ndim - 1))
    mu = jnp.mean(W, axis=ax, keepdims=True)
    sd = jnp.sqrt(jnp.mean((W - mu) ** 2, axis=ax, keepdims=True))
    forms = (W, weightstd.standardize(W), W - mu, W / sd)
    slot = {0: 0, 1: 0, 2: 0, 3: 0, 4: 1, 5: 2, 6: 3, 7: 1}
    if isinstance(kind, (int, np.integer)):
        return forms[slot[int(kind)]]
    kk = jnp.asarray(kind)
    on = (kk < 4, (kk == 4) | (kk == 7), kk == 5, kk == 6)
    return sum(o.astype(W.dtype) * f for o, f in zip(on, forms))


def _cell_stats(a):
    """Per example and channel, the mean and biased variance over the spatial axes (two-pass):
    each (N, C). Every statistic the switch needs follows from these by the law of total variance,
    on (N, C)-sized arrays, so the full activation is read twice whatever the kind."""
    ax = tuple(range(1, a.ndim - 1))
    if not ax:  # a dense layer's (N, C): each cell is one number
        return a, jnp.zeros_like(a)
    s1 = jnp.mean(a, axis=ax)
    v1 = jnp.mean((a - s1.reshape(s1.shape[:1] + (1,) * len(ax) + s1.shape[1:])) ** 2, axis=ax)
    return s1, v1


def _pool(s1, v1, groups: int):
    """The mean and biased variance over each group of ``C/groups`` equal cells (per example), from
    the cells' means ``s1`` and variances ``v1`` (N, C): mean of means, and mean of variances plus
    the variance of the means. Returned per channel (N, C)."""
    n, c = s1.shape
    g1, gv = s1.reshape(n, groups, c // groups), v1.reshape(n, groups, c // groups)
    mu = jnp.mean(g1, axis=-1, keepdims=True)
    var = jnp.mean(gv + (g1 - mu) ** 2, axis=-1, keepdims=True)
    full = lambda t: jnp.broadcast_to(t, g1.shape).reshape(n, c)
    return full(mu), full(var)


@dataclass(frozen=True)
class Switch(nets.Layer):
    r"""The hidden conv layer of kind ``kind`` (a Python int or a traced number): 0 none
    (:math:`a + \beta`), 1 BN (per channel over (N, H, W), the batch's rows in ``ctx.mask``;
    running statistics in inference mode), 2 LN (per example over (H, W, C)), 3 GN (``groups``
    groups), 4 GN on the weight-standardized convolution, 5 and 6 GN on the centred-only and
    scaled-only weight (:func:`weight`), 7 BN on the weight-standardized convolution.
    ``a = h * weight(W, kind)`` is computed once; parameters ``W, gamma, beta`` (gamma unused by
    kind 0). A traced kind picks the statistics (BN's, LN's or GN's mean and variance) and
    normalizes once, so that one compiled program trains every kind."""

    kind: Any = 0
    groups: int = GROUPS
    eps: float = 1e-5

    def init(self, W):
        return {"W": W, "gamma": jnp.ones(W.shape[-1], W.dtype), "beta": jnp.zeros(W.shape[-1], W.dtype)}

    def __call__(self, p, h, ctx=nets.Ctx()):
        k = self.kind
        a = conv(h, weight(p["W"], k))
        g, b = p["gamma"], p["beta"]
        if isinstance(k, (int, np.integer)):
            mean, var, m = nets._masked(a, ctx.mask)
            mu, rvar = ctx.running if ctx.running is not None else (mean, var)
            forms = {0: lambda: a + b,
                     1: lambda: g * (a - mu) / jnp.sqrt(rvar + self.eps) + b,
                     2: lambda: groupnorm.forward(a, 1, g, b, self.eps),
                     3: lambda: groupnorm.forward(a, self.groups, g, b, self.eps)}
            return forms[{4: 3, 5: 3, 6: 3, 7: 1}.get(int(k), int(k))](), (mean, var, m)
        kk = jnp.asarray(k)
        s1, v1 = _cell_stats(a)
        # BN's per-channel statistics over (N, H, W), the batch's rows only, from the same cells
        w = jnp.ones(a.shape[:1], a.dtype) if ctx.mask is None else ctx.mask.astype(a.dtype)
        rows = jnp.sum(w)
        mean = jnp.sum(w[:, None] * s1, axis=0) / rows
        var = jnp.sum(w[:, None] * (v1 + (s1 - mean) ** 2), axis=0) / rows
        m = rows * int(np.prod(a.shape[1:-1]))
        mu, rvar = ctx.running if ctx.running is not None else (mean, var)
        ln_mu, ln_var = _pool(s1, v1, 1)
        gn_mu, gn_var = _pool(s1, v1, self.groups)
        bn = (kk == 1) | (kk == 7)
        centre = jnp.where(bn, mu, jnp.where(kk == 2, ln_mu, gn_mu))
        spread = jnp.where(bn, rvar, jnp.where(kk == 2, ln_var, gn_var))
        # kind 0 (no normalization) as the same affine map with centre 0 and scale 1: one pass
        scale = jnp.where(kk == 0, 1.0, g / jnp.sqrt(spread + self.eps)).astype(a.dtype)
        centre = jnp.where(kk == 0, 0.0, centre).astype(a.dtype)
        shape = (a.shape[0],) + (1,) * (a.ndim - 2) + (a.shape[-1],)
        return (a - centre.reshape(shape)) * scale.reshape(shape) + b, (mean, var, m)

    def state(self, p):
        return (jnp.zeros_like(p["gamma"]), jnp.ones_like(p["gamma"]))

    def update(self, state, stats, momentum):
        mean, var, m = stats
        return batchnorm.running_step(state, mean, var * m / (m - 1), momentum)


def reference_layer(kind: int, groups: int = GROUPS) -> nets.Layer:
    """The library's own layer that :class:`Switch` of ``kind`` equals (for the tests)."""
    if kind == 7:
        return nets.WS(nets.BatchNorm())
    return (nets.Dense(), nets.BatchNorm(), nets.LayerNorm(), nets.GroupNorm(groups=groups),
            nets.WS(nets.GroupNorm(groups=groups)))[kind]  # kinds 0-4, 7 (5 and 6: no library layer)


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


#: the batch sizes trained together in ONE compiled call (rows padded to the largest, masked)
SMALL = (1, 2, 4)


def seeds_for(batch: int) -> tuple:
    """The seeds of ``batch``: :data:`SEEDS` for :data:`SMALL`, :data:`SEEDS_16` otherwise."""
    return SEEDS if batch in SMALL else SEEDS_16


def kinds_for(batch: int) -> tuple:
    """The kinds trained at ``batch``: :data:`KINDS_SMALL` for :data:`SMALL`, :data:`KINDS_16` at
    16, :data:`METHODS` at 64 and 128."""
    return KINDS_SMALL if batch in SMALL else KINDS_16 if batch == 16 else METHODS


def _params_stack(seeds, channels):
    return jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[params_for(s, channels) for s in seeds])


@functools.lru_cache(maxsize=None)
@cache.cached
def joint(batches: tuple = SMALL, kinds: tuple = KINDS_SMALL, seeds: tuple = SEEDS, steps: int = STEPS,
          channels: tuple = CHANNELS, every: int | None = None) -> dict:
    """Every batch size of ``batches`` x method (``kinds``: names from :data:`KINDS`) x learning
    rate (:data:`LRS` of that batch size) x seed in ONE compiled call: each step draws
    ``max(batches)`` rows and a mask keeps the first ``batch`` (:func:`normlab.train.fit_classifier`),
    so a batch of 1 is the same computation as alone. Returns NumPy arrays (batches, kinds, lrs,
    seeds, ...): ``loss`` (steps,), ``test_acc`` (inference mode), ``dead``; with ``every``, the
    parameters after every ``every`` steps, ``ckpt`` (a list of per-layer dicts, each array with a
    (steps/every,) axis after the seed axis); ``kinds``; and BN's ``train_mode_acc`` (batches,
    lrs, seeds): the test set in batches of ``batch`` normalized with their own statistics,
    computed after training at batch 1 only (NaN at the other batch sizes: only batch 1's is read)."""
    width = max(batches)
    d = data.digits(images=True)
    d = dict(d, x_test=d["x_test"][:N_TEST], y_test=d["y_test"][:N_TEST])
    kind_ids = np.asarray([KINDS.index(k) for k in kinds])
    P = _params_stack(seeds, channels)
    rows = [[np.pad(rows_for(s, b, steps), ((0, 0), (0, width - b))) for s in seeds] for b in batches]
    R = jnp.asarray(np.asarray(rows))
    B = jnp.asarray(batches, jnp.float32)
    LR = jnp.asarray([LRS[b] for b in batches], jnp.float32)
    keep = (lambda p, running, aux: p) if every else None

    def one(bi, kind, j, seed):
        layer = Switch(kind=kind)
        p0 = jax.tree_util.tree_map(lambda a: a[seed], P)
        p, h = train.fit_classifier(p0, d, R[bi, seed], layer=layer, lr=LR[bi, j], batch_size=B[bi],
                                    max_batch=width, steps=steps, eval_every=every or steps, probe=keep)
        out = {"loss": h["loss"], "test_acc": h["test_acc"][-1], "dead": h["dead"][-1], "params": p}
        if every:
            out["ckpt"] = h["probe"]
        return out

    out = train.grid(one, bi=np.arange(len(batches)), kind=kind_ids, j=np.arange(3),
                     seed=np.arange(len(seeds)))
    res = {k: np.asarray(v) for k, v in out.items() if k not in ("params", "ckpt")}
    if every:
        res["ckpt"] = jax.tree_util.tree_map(np.asarray, out["ckpt"])
    res["kinds"] = tuple(kinds)
    bn = KINDS.index("BN")
    acc = np.full((len(batches), 3, len(seeds)), np.nan)
    if 1 in batches and bn in kind_ids:  # BN's training-mode view at batch 1 (a forward pass)
        bi = batches.index(1)
        pb = jax.tree_util.tree_map(lambda a: np.asarray(a)[bi, list(kind_ids).index(bn)], out["params"])
        f = lambda p: _batch_stat_acc(p, Switch(kind=bn), d["x_test"], d["y_test"], 1)
        acc[bi] = np.asarray(jax.jit(jax.vmap(jax.vmap(f)))(pb))
    res["train_mode_acc"] = acc
    return res


def _group(batch: int) -> tuple:
    """The batch sizes trained in one compiled call with ``batch``."""
    return SMALL if batch in SMALL else (batch,)


def _joint_for(batch: int) -> dict:
    return joint(_group(batch), kinds=kinds_for(batch), seeds=seeds_for(batch),
                 every=CHECK_EVERY if batch == 16 else None)


def prepare(batches=BATCHES, threads: int = 2) -> None:
    """Train every compiled call that ``batches`` need, ``threads`` at a time: one call compiles
    (one core) while another runs, which on two cores takes a tenth off the sweep's wall time."""
    from concurrent.futures import ThreadPoolExecutor
    firsts = list(dict.fromkeys(_group(b)[0] for b in batches))
    firsts.sort(key=lambda b: -max(_group(b)))   # the longest call first
    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(_joint_for, firsts))


@functools.lru_cache(maxsize=None)
def sweep(batch: int) -> dict:
    """Every kind of :func:`kinds_for` x learning rate x seed at one ``batch`` size: :func:`joint`'s
    slice (batches 1, 2 and 4 share one compiled call; 16, 64 and 128 each have their own; 16's
    keeps checkpoints for the landscape probes). NumPy arrays (kinds, lrs, seeds, ...) as
    :func:`joint`'s, and ``kinds``."""
    group = _group(batch)
    res = _joint_for(batch)
    out = {k: v[group.index(batch)] for k, v in res.items() if k not in ("kinds", "ckpt")}
    if "ckpt" in res:
        out["ckpt"] = jax.tree_util.tree_map(lambda a: a[group.index(batch)], res["ckpt"])
    out["kinds"] = res["kinds"]
    return out


def statuses(res: dict) -> np.ndarray:
    """Each run's :func:`normlab.train.status` (methods, lrs, seeds). The loss-based stall test is
    off (``stall=inf``): at batch 1 "the loss at the first step" is one example's loss, no
    reference (one seed's first digit has loss 0.2, and runs at 82% test accuracy were called
    stalled); a run that did not learn is caught by the test-accuracy test (at most twice chance),
    a diverged or dead one as usual."""
    shape = res["test_acc"].shape
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(shape):
        out[idx] = train.status(res["loss"][idx], dead=res["dead"][idx], test_acc=res["test_acc"][idx],
                                chance=0.1, stall=np.inf)
    return out


@functools.lru_cache(maxsize=None)
def comparison(batch: int, methods: tuple = METHODS) -> compare.Comparison:
    """``methods`` (names of :data:`KINDS`; the five of :data:`METHODS` by default) at ``batch``,
    each at its best learning rate by :data:`CRITERION`."""
    res = sweep(batch)
    idx = [res["kinds"].index(m) for m in methods]
    return compare.compare(1 - res["test_acc"][idx], methods=list(methods), lrs=LRS[batch],
                           seeds=list(seeds_for(batch)), criterion=CRITERION, status=statuses(res)[idx])


#: the ablation's four methods: GN alone, with the weight centred only, scaled only, and both (WS)
ABLATION_METHODS = ("GN", "GN+centre", "GN+scale", "GN+WS")


def ablation(batches=SMALL) -> dict:
    """{method: [per batch: (seeds,)]} test error of :data:`ABLATION_METHODS`, each at its own best rate
    per batch size (:func:`comparison`), with ``excluded`` {batch: text}."""
    cs = {b: comparison(b, ABLATION_METHODS) for b in batches}
    return {"error": {m: [cs[b].at_best[m] for b in batches] for m in ABLATION_METHODS},
            "best_lr": {m: [cs[b].best_lr[m] for b in batches] for m in ABLATION_METHODS},
            "batches": tuple(batches), "excluded": {b: cs[b].excluded_text() for b in batches}}


def table(batches=BATCHES) -> dict:
    """``{method: [per batch: (seeds,)]}`` test error at each method's best rate per batch size, with
    ``best_lr`` {method: [lr per batch]} and ``excluded`` {batch: text}."""
    prepare(batches)
    err = {m: [comparison(b).at_best[m] for b in batches] for m in METHODS}
    best = {m: [comparison(b).best_lr[m] for b in batches] for m in METHODS}
    return {"error": err, "best_lr": best, "batches": tuple(batches),
            "excluded": {b: comparison(b).excluded_text() for b in batches}}


def bn_mode_gap(batch: int) -> np.ndarray:
    """BN at its best rate for ``batch``: test accuracy with batch statistics minus with running
    statistics, per seed (the train/inference discrepancy). Only batch 1 records the accuracy with
    batch statistics (``train_mode_acc``); any other ``batch`` raises ValueError."""
    if batch != 1:
        raise ValueError(f"bn_mode_gap: only batch 1 records BN's batch-statistics accuracy, not batch {batch}")
    res, c = sweep(batch), comparison(batch)
    i, j = res["kinds"].index("BN"), LRS[batch].index(c.best_lr["BN"])
    return res["train_mode_acc"][j] - res["test_acc"][i, j]


# t quantiles (two-sided 95%) by degrees of freedom: no SciPy in the project's requirements
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
         10: 2.228}


def paired(batch: int, a: str, b: str, methods: tuple | None = None) -> dict:
    """``a`` minus ``b`` in test error (points), each at its own best rate, paired by seed at
    ``batch``: ``d`` per seed, ``mean``, the 95% t interval ``lo``-``hi``, ``below`` (seeds where
    ``a`` is lower) and ``n``."""
    c = comparison(batch, tuple(dict.fromkeys(methods or kinds_for(batch))))
    d = 100 * (np.asarray(c.at_best[a], float) - np.asarray(c.at_best[b], float))
    n = len(d)
    half = _T975[n - 1] * d.std(ddof=1) / np.sqrt(n)
    return {"d": d, "mean": float(d.mean()), "lo": float(d.mean() - half), "hi": float(d.mean() + half),
            "below": int(np.sum(d < 0)), "n": n}


def trend(a: str, b: str, small: int, large: int = max(BATCHES)) -> dict:
    """How ``a`` minus ``b`` (points, each at its own best rate, paired by seed, :func:`paired`)
    changes from batch ``large`` to batch ``small``: ``diff`` = mean at ``small`` minus mean at
    ``large``, with Welch's 95% interval ``lo``-``hi`` (the two batch sizes' runs are treated as
    independent: separate runs, though seeds 0-2 share their initialization at both; the t quantile
    at the Welch degrees of freedom rounded down, ``df``), and both :func:`paired`
    records (``at_small``, ``at_large``). A positive ``diff``: ``a`` loses ground to ``b`` as the
    batch shrinks."""
    ps, pl = paired(small, a, b, METHODS), paired(large, a, b, METHODS)
    vs, vl = ps["d"].var(ddof=1) / ps["n"], pl["d"].var(ddof=1) / pl["n"]
    se = float(np.sqrt(vs + vl))
    df = (vs + vl) ** 2 / (vs ** 2 / (ps["n"] - 1) + vl ** 2 / (pl["n"] - 1)) if se > 0 else ps["n"] + pl["n"] - 2
    k = int(min(max(np.floor(df), 1), max(_T975)))
    diff = ps["mean"] - pl["mean"]
    return {"diff": diff, "lo": diff - _T975[k] * se, "hi": diff + _T975[k] * se, "df": k,
            "at_small": ps, "at_large": pl}


def gaps(methods=("none", "BN", "LN", "GN+WS"), rival: str = "GN", batches=BATCHES) -> dict:
    """``{method: {batch: paired(batch, method, rival)}}`` for every batch size (Figure 6.3, right)."""
    return {m: {b: paired(b, m, rival, METHODS) for b in batches} for m in methods}


def paired_text(p: dict) -> str:
    """"+0.4 [-1.7, +2.4], lower in 4 of 9"."""
    return f"{p['mean']:+.1f} [{p['lo']:+.1f}, {p['hi']:+.1f}], lower in {p['below']} of {p['n']}"


def aa(batch: int, method: str = "GN") -> float:
    """The A/A control: ``method`` at its best rate, the mean test error (points) of the first four
    seeds minus that of the next four (disjoint seeds, the same method): what seed noise alone
    gives a difference of means."""
    e = 100 * np.asarray(comparison(batch).at_best[method], float)
    return float(e[:4].mean() - e[4:8].mean())


def edges(batches=BATCHES, methods=None) -> list:
    """``(batch, method, lr)`` wherever a method's best rate is the lowest or highest of its grid
    (``methods``: those of :func:`kinds_for` by default; a method not trained at a batch is skipped)."""
    out = []
    for b in batches:
        ms = tuple(m for m in (methods or kinds_for(b)) if m in kinds_for(b))
        c = comparison(b, ms)
        out += [(b, m, c.best_lr[m]) for m in ms
                if c.best_lr[m] is not None and c.best_lr[m] in (LRS[b][0], LRS[b][-1])]
    return out
