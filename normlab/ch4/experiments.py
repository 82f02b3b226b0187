r"""Chapter 4, section 4.6 and "WN or LN?": the digits MLP with no normalization, BN, LN and WN.

Every run is :func:`normlab.train.fit_classifier` (the book's one loop) on the MLP of
:mod:`normlab.nets` (64-64-64-10, ReLU, He initialization, plain SGD, ``STEPS`` steps, batches
padded to ``MAX_BATCH`` rows and masked, so the batch size is a traced number). A run is a
:class:`Spec` (learning rate, batch size, input scale, seed); all the runs of one kind of layer
train in one ``jit(vmap)`` (:func:`runs`), memoised, so that the notebook, the training
explorable, the claims and the tests share them:

- the explorable's grid: :data:`LRS` x :data:`BATCHES`, seed 0 (no normalization, BN, LN);
- the batch-size experiment (section 6.6 of Ba et al.): batch sizes 128, 4 and 1 at ``LR``,
  seeds 0-2, every kind;
- "WN or LN?" (Going further): the inputs multiplied by 0.1 and 10 (batch 128, ``LR``, seeds 0-2), WN and LN
  (and the two others, for comparison);
- the fair comparison (:func:`comparison`): no normalization, BN and LN at every rate of :data:`LRS`, batch sizes
  128 and 4, seeds 0-2, so that each method is judged at its own best learning rate
  (:mod:`normlab.compare`), and runs that diverged, died or stalled are set aside
  (:func:`run_status`).

BN in inference mode (the test set) uses running statistics with the unbiased variance; at batch
size 1 that variance is :math:`0\cdot 1/0`: NaN, and the test accuracy is that of a constant guess.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from normlab import compare as cmp
from normlab import data, nets, train
from normlab import cache

SIZES = (64, 64, 64, 10)
LAYERS = {"none": nets.Dense(), "bn": nets.BatchNorm(), "ln": nets.LayerNorm(),
          "wn": nets.WeightNorm()}
KIND_NAMES = {"none": "no normalization", "bn": "batch norm", "ln": "layer norm",
              "wn": "weight norm"}
STEPS, EVAL_EVERY, MAX_BATCH = 200, 20, 128
LRS = (0.01, 0.03, 0.1, 0.3, 1.0)
BATCHES = (1, 4, 16, 128)
LR = 0.1
SEEDS = (0, 1, 2)
EXP_BATCHES = (128, 4, 1)
SCALES = (0.1, 10.0)
EXPLORE_KINDS = ("none", "bn", "ln")
COMPARE_BATCHES = (128, 4)
# At batch 128 the best rate of LRS was the grid's largest (1.0) for every method: the grid is
# extended there until each method's best rate is interior (referee finding 2).
COMPARE_LRS = {128: LRS + (2.0, 3.0, 5.0), 4: LRS}
SELECT = "train_loss"   # the criterion that picks each method's rate (not the reported test loss)


class Spec(NamedTuple):
    lr: float
    batch: int
    scale: float
    seed: int


def specs(kind: str) -> tuple[Spec, ...]:
    """The runs of ``kind``, in a fixed order (no duplicates)."""
    out = []
    if kind in EXPLORE_KINDS:
        out += [Spec(lr, b, 1.0, 0) for lr in LRS for b in BATCHES]
    out += [Spec(LR, b, 1.0, s) for s in SEEDS for b in EXP_BATCHES]
    out += [Spec(LR, 128, c, s) for s in SEEDS for c in SCALES]
    if kind in EXPLORE_KINDS:
        out += [Spec(lr, b, 1.0, s) for s in SEEDS for b in COMPARE_BATCHES for lr in COMPARE_LRS[b]]
    return tuple(dict.fromkeys(out))


@functools.lru_cache(maxsize=None)
def init(kind: str, seed: int):
    """The MLP's initial parameters for ``kind`` (NumPy draws from ``seed``: the same weights
    for every kind)."""
    return nets.init_mlp(seed, list(SIZES), LAYERS[kind])


@functools.lru_cache(maxsize=None)
def rows(seed: int):
    """The mini-batch rows of every step, (STEPS, MAX_BATCH), drawn by NumPy from ``seed``."""
    return train.batches(seed, STEPS, MAX_BATCH, data.digits()["x_train"].shape[0])["idx"]


def train_one(kind: str, params, idx, lr, batch, scale):
    """One run (traceable in ``params``, ``idx``, ``lr``, ``batch`` and ``scale``): the digits
    with every input multiplied by ``scale``. Returns ``loss`` (STEPS,), ``test_loss`` and
    ``test_acc``, ``dead`` (STEPS / EVAL_EVERY,)."""
    d = data.digits()
    d = dict(d, x_train=d["x_train"] * scale, x_test=d["x_test"] * scale)
    _, h = train.fit_classifier(params, d, idx, layer=LAYERS[kind], lr=lr, batch_size=batch,
                                steps=STEPS, max_batch=MAX_BATCH, eval_every=EVAL_EVERY)
    return {"loss": h["loss"], "test_loss": h["test_loss"], "test_acc": h["test_acc"],
            "dead": h["dead"]}


@functools.lru_cache(maxsize=None)
def train_fn(kind: str):
    """:func:`train_one` for ``kind``, jitted once (the runs of :func:`runs` and the live
    training explorable call it)."""
    return jax.jit(functools.partial(train_one, kind))


@cache.cached
@functools.lru_cache(maxsize=None)
def runs(kind: str) -> dict:
    """Every run of :func:`specs` for ``kind``: ``{"specs": ..., "loss": (R, STEPS),
    "test_loss", "test_acc": (R, STEPS / EVAL_EVERY)}`` as NumPy arrays.

    One compiled run, called once per spec. (On two CPU cores a ``vmap`` over the runs was
    slower than this loop: 1.46 s against 1.03 s for 32 runs, measured.)
    """
    f = train_fn(kind)
    out = [f(init(kind, s.seed), rows(s.seed), jnp.float32(s.lr), jnp.float32(s.batch),
             jnp.float32(s.scale)) for s in specs(kind)]
    out = jax.tree_util.tree_map(lambda *a: np.stack([np.asarray(v) for v in a]), *out)
    return {"specs": specs(kind), **out}


def get(kind: str, lr=LR, batch=128, scale=1.0, seed=0) -> dict:
    """One run's histories, from :func:`runs`."""
    R = runs(kind)
    i = R["specs"].index(Spec(lr, batch, scale, seed))
    return {k: R[k][i] for k in ("loss", "test_loss", "test_acc", "dead")}


def run_status(kind: str, **spec) -> train.Status:
    """Whether one run trained (:func:`normlab.train.status`: diverged, died, stalled or ok;
    chance is 10% on the digits)."""
    h = get(kind, **spec)
    return train.status(h["loss"], dead=h["dead"], test_acc=h["test_acc"], chance=0.1)


def final_acc(kind: str, **spec) -> float:
    """Test accuracy (%) at the end of one run."""
    return 100 * float(get(kind, **spec)["test_acc"][-1])


@cache.cached
@functools.lru_cache(maxsize=None)
def batch_table() -> dict:
    r"""The batch-size experiment per kind and batch size, over the seeds: ``acc[kind][batch]``
    (final test accuracy, %), ``nll[kind][batch]`` (final test loss, nats); ``drop[kind]``, the
    accuracy at batch 128 minus that at batch 4, and ``nll_rise[kind]``, the test loss at batch 4
    minus that at batch 128, per seed."""
    acc = {k: {b: np.array([final_acc(k, batch=b, seed=s) for s in SEEDS]) for b in EXP_BATCHES}
           for k in LAYERS}
    nll = {k: {b: np.array([float(get(k, batch=b, seed=s)["test_loss"][-1]) for s in SEEDS])
               for b in EXP_BATCHES} for k in LAYERS}
    return {"acc": acc, "nll": nll, "drop": {k: acc[k][128] - acc[k][4] for k in LAYERS},
            "nll_rise": {k: nll[k][4] - nll[k][128] for k in LAYERS}}


def batch_lines() -> str:
    """The batch-size experiment as text: mean (min-max) over the seeds."""
    t = batch_table()
    lines = [f"{'test accuracy (%)':18s}" + "".join(f"{'batch ' + str(b):>22s}" for b in EXP_BATCHES)
             + f"{'128 minus 4':>20s}  |  {'test loss (nats), 4 minus 128':>28s}"]
    for k in LAYERS:
        cells = "".join(f"{spread(t['acc'][k][b]):>22s}" for b in EXP_BATCHES)
        lines.append(f"{KIND_NAMES[k]:18s}{cells}{spread(t['drop'][k]):>20s}  |  "
                     f"{spread(t['nll_rise'][k], 3):>28s}")
    return "\n".join(lines)


def spread(v, digits: int = 1) -> str:
    """``mean (min-max)`` of the values ``v`` (over seeds), ``digits`` decimals."""
    v = np.asarray(v, float)
    return f"{v.mean():.{digits}f} ({v.min():.{digits}f} to {v.max():.{digits}f})"


def early_loss(kind: str, batch: int = 128, upto: int = 50) -> np.ndarray:
    """Mean training loss over the first ``upto`` steps, per seed (how fast a run starts)."""
    return np.array([get(kind, batch=batch, seed=s)["loss"][:upto].mean() for s in SEEDS])


@functools.lru_cache(maxsize=None)
def rescaling_table() -> dict:
    r"""Section 4.9: for each kind, the final test accuracy (%) per input scale (0.1, 1, 10) and
    seed, and ``curve_change``: the largest relative difference of the training-loss curve at
    scale 0.1 or 10 from the one at scale 1 (same seed, same batches)."""
    out = {}
    for k in LAYERS:
        acc = {c: np.array([final_acc(k, scale=c, seed=s) for s in SEEDS]) for c in (0.1, 1.0, 10.0)}
        diff = max(_curve_diff(get(k, scale=c, seed=s)["loss"], get(k, seed=s)["loss"])
                   for c in SCALES for s in SEEDS)
        out[k] = {"acc": acc, "curve_change": diff}
    return out


def _curve_diff(a, b) -> float:
    """Largest relative difference of two loss curves (inf if either is not finite)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return float("inf")
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


# ------------------------------------------------------------------------------------------------
# Fair comparisons: each method at its own best learning rate (normlab.compare)
# ------------------------------------------------------------------------------------------------
CRITERIA = {"test_loss": ("test loss after 200 steps (nats)", False),
            "test_acc": ("test accuracy after 200 steps (%)", True),
            "train_loss": ("mean training loss over the 200 steps (nats)", False)}


def _metric(kind: str, what: str, **spec) -> float:
    h = get(kind, **spec)
    if what == "test_loss":
        return float(h["test_loss"][-1])
    if what == "test_acc":
        return 100 * float(h["test_acc"][-1])
    return float(np.mean(h["loss"]))


@cache.cached
@functools.lru_cache(maxsize=None)
def comparison(batch: int, what: str = "test_loss", kinds=EXPLORE_KINDS) -> cmp.Comparison:
    """Every kind of ``kinds`` at its own best learning rate of :data:`COMPARE_LRS` at batch size
    ``batch`` (seeds 0-2), by the criterion ``what`` (a key of :data:`CRITERIA`); runs that did
    not train (:func:`run_status`) excluded."""
    if batch not in COMPARE_BATCHES or what not in CRITERIA:
        raise ValueError(f"comparison: batch in {COMPARE_BATCHES} and what in {tuple(CRITERIA)}, "
                         f"got {batch!r}, {what!r}")
    lrs = COMPARE_LRS[batch]
    m = np.array([[[_metric(k, what, lr=lr, batch=batch, seed=s) for s in SEEDS] for lr in lrs]
                  for k in kinds])
    st = np.empty(m.shape, dtype=object)
    for i, k in enumerate(kinds):
        for j, lr in enumerate(lrs):
            for n, s in enumerate(SEEDS):
                st[i, j, n] = run_status(k, lr=lr, batch=batch, seed=s)
    crit, higher = CRITERIA[what]
    return cmp.compare(m, methods=list(kinds), lrs=lrs, seeds=list(SEEDS),
                       criterion=f"{crit}, batch {batch}", status=st, higher_is_better=higher)


@cache.cached
@functools.lru_cache(maxsize=None)
def tuned_batch_table() -> dict:
    r"""Batch 128 against batch 4 with each method at its own best learning rate per batch size
    (chosen by the mean training loss, :data:`SELECT`, so that the test loss reported is not the
    one that chose the rate): ``best_lr[kind][batch]``, ``nll[kind][batch]`` and
    ``acc[kind][batch]`` per seed at that rate, ``nll_rise[kind]`` (batch 4 minus 128) and
    ``drop[kind]`` (accuracy, 128 minus 4) per seed, and ``excluded`` (the runs set aside)."""
    out = {"best_lr": {}, "nll": {}, "acc": {}, "nll_rise": {}, "drop": {}, "excluded": {}}
    for k in EXPLORE_KINDS:
        out["best_lr"][k], out["nll"][k], out["acc"][k] = {}, {}, {}
    for b in COMPARE_BATCHES:
        c = comparison(b, SELECT)
        out["excluded"][b] = c.excluded_text()
        for k in EXPLORE_KINDS:
            lr = c.best_lr[k]
            out["best_lr"][k][b] = lr
            out["nll"][k][b] = np.array([_metric(k, "test_loss", lr=lr, batch=b, seed=s)
                                         for s in SEEDS]) if lr is not None else np.full(3, np.nan)
            out["acc"][k][b] = np.array([_metric(k, "test_acc", lr=lr, batch=b, seed=s)
                                         for s in SEEDS]) if lr is not None else np.full(3, np.nan)
    for k in EXPLORE_KINDS:
        out["nll_rise"][k] = out["nll"][k][4] - out["nll"][k][128]
        out["drop"][k] = out["acc"][k][128] - out["acc"][k][4]
    return out


def tuned_lines() -> str:
    """:func:`tuned_batch_table` as text: best rate, test loss and accuracy per batch size."""
    t = tuned_batch_table()
    lines = [f"{'each at its best lr':20s}" + "".join(f"{'batch ' + str(b) + ': lr, test loss':>28s}"
                                                     for b in COMPARE_BATCHES)
             + f"{'loss rise 128 -> 4':>22s}{'acc. drop (points)':>22s}"]
    for k in EXPLORE_KINDS:
        cells = "".join(f"{t['best_lr'][k][b]:>8g}, {spread(t['nll'][k][b], 3):>18s}"
                        for b in COMPARE_BATCHES)
        lines.append(f"{KIND_NAMES[k]:20s}{cells}{spread(t['nll_rise'][k], 3):>22s}"
                     f"{spread(t['drop'][k]):>22s}")
    lines.append("runs set aside: " + "; ".join(f"batch {b}: {t['excluded'][b]}" for b in COMPARE_BATCHES))
    return "\n".join(lines)
