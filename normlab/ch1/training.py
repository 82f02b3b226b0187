r"""Chapter 1, sections 1.9-1.10: the training experiments behind the two explorables.

- :func:`compute_training`, :func:`training_grid`: a ReLU MLP on the digits with and without BN,
  over learning rate x batch size (:func:`grid_summary`, :func:`grid_table`, :func:`usable_lrs`);
- :func:`compute_drift`, :func:`drift_grid`, :func:`drift_measure`: a sigmoid unit's input
  distribution over training (the paper's Figure 1).

Both train with :func:`normlab.train.fit_classifier`, the book's one loop, on the one MLP of
:mod:`normlab.nets`; the grids are memoised so the notebook, the website frames, the live sliders
and the claims share one run.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from normlab import cache
from normlab import data, nets, train
from normlab.measure import diverged_at

NETS = {"plain": nets.Dense(), "bn": nets.BatchNorm()}


def _rbg_key(seed: int):
    # XLA's RngBitGenerator: its compile time on CPU is a fraction of threefry's, which matters
    # when the whole chapter has to run in a minute. (Streams differ from the default PRNG.)
    return jax.random.key(seed, impl="rbg")


SEEDS = (0, 1, 2)  # initial weights and mini-batch streams of the repeated runs


@data.cached
def _init_pair(sizes, init="he", seed: int = 0):
    """The same initial weights for the plain and the BN network (NumPy draws: concrete)."""
    return tuple(nets.init_mlp(seed, list(sizes), NETS[name], init=init) for name in ("plain", "bn"))


@data.cached
def _init_pairs(sizes, init="he"):
    """:func:`_init_pair` for every seed of :data:`SEEDS`, stacked on a leading axis, so that the
    seed can be a traced index (one ``vmap`` over seeds)."""
    pairs = [_init_pair(sizes, init, s) for s in SEEDS]
    return jax.tree_util.tree_map(lambda *a: jnp.stack(a), *pairs)


def _pair(sizes, init, seed):
    """The initial (plain, BN) weights of seed ``seed`` (an int or a traced index into SEEDS)."""
    return jax.tree_util.tree_map(lambda a: a[seed], _init_pairs(sizes, init))


TRAIN_SIZES = (64, 64, 64, 10)


TRAIN_STEPS = 150


EVAL_EVERY = 10


TRAIN_LRS = tuple(float(v) for v in np.logspace(-2, 1, 7))


TRAIN_BATCHES = (2, 4, 16, 64)


LOSS_TOP = 20.0  # nats; the loss axis ends here


def compute_training(lr, batch_size, seed=0):
    """Train the [64, 64, 64, 10] ReLU MLP with and without BN on the digits (plain SGD, 150 steps,
    batches padded to 64 and masked), from the initial weights and on the batches of ``seed``.
    Traced in ``lr``, ``batch_size`` and ``seed``."""
    d = data.digits()
    out = {}
    for name, p in zip(("plain", "bn"), _pair(TRAIN_SIZES, "he", seed)):
        _, h = train.fit_classifier(p, d, _rbg_key(1 + seed), layer=NETS[name], lr=lr,
                                    batch_size=batch_size, steps=TRAIN_STEPS, max_batch=64,
                                    eval_every=EVAL_EVERY)
        out[name] = {"loss": h["loss"], "acc": h["test_acc"]}
    return out


@cache.cached
@lru_cache(maxsize=None)
def training_grid_seeds() -> dict:
    """:func:`compute_training` on the whole slider grid and every seed of :data:`SEEDS` (one
    ``jit(vmap)``), as NumPy arrays; shape (len(TRAIN_LRS), len(TRAIN_BATCHES), len(SEEDS), ...)."""
    out = train.grid(compute_training, lr=TRAIN_LRS, batch_size=TRAIN_BATCHES,
                     seed=np.arange(len(SEEDS)))
    return jax.tree_util.tree_map(np.asarray, out)


def training_grid() -> dict:
    """The explorable's grid: seed 0 of :func:`training_grid_seeds`; shape
    (len(TRAIN_LRS), len(TRAIN_BATCHES), ...)."""
    return jax.tree_util.tree_map(lambda a: a[:, :, 0], training_grid_seeds())


def grid_summary(res=None) -> dict:
    """Per grid point (any leading shape): divergence step (or -1) and final test accuracy, for
    both networks."""
    res = training_grid() if res is None else res
    out = {}
    for name in ("plain", "bn"):
        loss = res[name]["loss"]
        div = np.full(loss.shape[:-1], -1)
        for idx in np.ndindex(*loss.shape[:-1]):
            k = diverged_at(loss[idx])
            div[idx] = -1 if k is None else k
        out[name] = {"diverged": div, "acc": res[name]["acc"][..., -1]}
    return out


def grid_table(res=None) -> str:
    """The final test accuracy (%) at every grid point, 'div' where the run diverged."""
    s = grid_summary(res)
    head = "lr \\ batch " + "".join(f"{b:>13d}" for b in TRAIN_BATCHES)
    lines = [head, " " * 11 + "".join(f"{'plain / BN':>13}" for _ in TRAIN_BATCHES)]
    for i, lr in enumerate(TRAIN_LRS):
        cells = []
        for j in range(len(TRAIN_BATCHES)):
            c = ["div" if s[n]["diverged"][i, j] >= 0 else f"{100 * s[n]['acc'][i, j]:.0f}"
                 for n in ("plain", "bn")]
            cells.append(f"{c[0] + ' / ' + c[1]:>13}")
        lines.append(f"{lr:<11.3g}" + "".join(cells))
    return "\n".join(lines)


def usable_lrs(res=None, threshold: float = 0.9) -> dict:
    """Per network, the learning rates of the grid at which some batch size reaches
    ``threshold`` test accuracy without diverging."""
    s = grid_summary(res)
    out = {}
    for name in ("plain", "bn"):
        good = (s[name]["diverged"] < 0) & (s[name]["acc"] >= threshold)
        out[name] = [TRAIN_LRS[i] for i in range(len(TRAIN_LRS)) if good[i].any()]
    return out


DRIFT_SIZES = (64, 100, 100, 100, 10)


DRIFT_STEPS = 500


DRIFT_EVERY = 10


DRIFT_LRS = (0.1, 0.3, 1.0, 3.0, 10.0)


PERCENTILES = (15.0, 50.0, 85.0)

DRIFT_LAYER, DRIFT_UNIT = 2, 0  # the last hidden layer, its first unit


def _probe(params, running, aux):
    return jnp.percentile(aux["pre"][DRIFT_LAYER][:, DRIFT_UNIT], jnp.asarray(PERCENTILES))


def compute_drift(lr, seed=0):
    """Sigmoid MLP 64-100-100-100-10 (weights N(0, 0.1^2): our choice; the paper says only "small random Gaussian"),
    batch 60, 500 SGD steps, with and without BN: every 10 steps the 15th/50th/85th percentiles
    over the test set of one last-hidden-layer unit's input to the sigmoid, and the test accuracy.
    ``seed`` (may be traced) picks the initial weights and the batches."""
    d = data.digits()
    out = {}
    for name, p in zip(("plain", "bn"), _pair(DRIFT_SIZES, 0.1, seed)):
        _, h = train.fit_classifier(p, d, _rbg_key(2 + seed), layer=NETS[name], lr=lr, batch_size=60,
                                    steps=DRIFT_STEPS, max_batch=64, eval_every=DRIFT_EVERY,
                                    act="sigmoid", probe=_probe)
        out[name] = {"q": h["probe"], "acc": h["test_acc"], "loss": h["loss"]}
    return out


@cache.cached
@lru_cache(maxsize=None)
def drift_grid_seeds() -> dict:
    """:func:`compute_drift` for every learning rate of the grid and every seed (one
    ``jit(vmap)``); shape (len(DRIFT_LRS), len(SEEDS), ...)."""
    out = train.grid(compute_drift, lr=DRIFT_LRS, seed=np.arange(len(SEEDS)))
    return jax.tree_util.tree_map(np.asarray, out)


def drift_grid() -> dict:
    """The explorable's grid: seed 0 of :func:`drift_grid_seeds`."""
    return jax.tree_util.tree_map(lambda a: a[:, 0], drift_grid_seeds())


def drift_range(q) -> float:
    """How far the percentiles move after the first 10% of training, in units of the sigmoid's
    input: the mean over the three percentiles of the range (max - min) each curve sweeps."""
    q = np.asarray(q, dtype=float)
    late = q[len(q) // 10:]
    return float(np.mean(late.max(0) - late.min(0)))


def drift_status(res) -> train.Status:
    """Did this drift run train? :func:`normlab.train.status` on its batch losses and final test
    accuracy (chance: 10%)."""
    return train.status(res["loss"], test_acc=res["acc"], chance=0.1)


def drift_table(g=None) -> list[dict]:
    """Per (learning rate, seed) of :func:`drift_grid_seeds`: each network's absolute drift
    (:func:`drift_range`), relative drift (:func:`drift_measure`), final test accuracy and
    :func:`drift_status`."""
    g = drift_grid_seeds() if g is None else g
    rows = []
    for i, lr in enumerate(DRIFT_LRS):
        for k, seed in enumerate(SEEDS):
            row = {"lr": lr, "seed": seed}
            for n in ("plain", "bn"):
                r = {key: v[i, k] for key, v in g[n].items()}
                row[n] = {"range": drift_range(r["q"]), "relative": drift_measure(r["q"]),
                          "acc": float(r["acc"][-1]), "status": drift_status(r)}
            rows.append(row)
    return rows


def drift_nearest(lr, grid=None):
    """The live explorable's result off the grid: the precomputed run (seed 0) at the grid's
    learning rate nearest to ``lr`` on a log scale, and that rate (``lr_shown``). Training both
    networks for 500 steps takes about a quarter of a second per rate, so the live view looks the
    run up instead of retraining. ``grid`` is :func:`drift_frames`, loaded OUTSIDE any traced
    function (the explorable passes it as a jit argument through ``consts``): building the grid
    under ``jax.jit`` would fail. The lookup itself is a gather, so it can be jitted."""
    g = drift_frames() if grid is None else grid
    i = jnp.argmin(jnp.abs(jnp.log(jnp.asarray(DRIFT_LRS)) - jnp.log(lr)))
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a)[i], g)


def drift_consts() -> dict:
    """The arrays the drift explorable's jitted lookup receives as arguments."""
    return {"grid": drift_frames()}


def drift_frames() -> dict:
    """The explorable's grid: :func:`drift_grid` (seed 0) with each point's learning rate
    (``lr_shown``)."""
    return {**drift_grid(), "lr_shown": np.asarray(DRIFT_LRS)}


def drift_measure(q) -> float:
    """How much the percentiles move after the first 10% of training: the mean over the three
    percentiles of the range (max - min) of each curve, divided by the final 15-85 spread."""
    q = np.asarray(q, dtype=float)
    late = q[len(q) // 10:]
    spread = max(abs(q[-1, 2] - q[-1, 0]), 1e-6)
    return float(np.mean(late.max(0) - late.min(0)) / spread)


def early_and_final(batch_size: int = 64, k: int = 10) -> dict:
    """What the training explorable shows at one batch size, per learning rate of the grid and
    seed: the mean training loss of the first and of the last ``k`` steps, for each network, and
    whether the run diverged (:func:`grid_summary`). Arrays of shape (len(TRAIN_LRS), len(SEEDS))."""
    g = training_grid_seeds()
    j = TRAIN_BATCHES.index(batch_size)
    s = grid_summary(g)
    out = {}
    for n in ("plain", "bn"):
        loss = g[n]["loss"][:, j]                         # (lr, seed, step)
        out[n] = {"early": loss[..., :k].mean(-1), "final": loss[..., -k:].mean(-1),
                  "diverged": s[n]["diverged"][:, j] >= 0, "acc": s[n]["acc"][:, j]}
    return out
