r"""Chapter 5, sections 5.2-5.4 and 5.6: the MLP experiments (noisy BN, ICS, the landscape, the
:math:`\ell_p` normalizations).

One network family serves every run: :mod:`normlab.nets`' MLP whose hidden layers are
:class:`normlab.nets.BatchNorm` layers :math:`a = \gamma\,\mathrm{Norm}_k(hW) + \beta`, the kind
``k`` (a traced integer: 0 standard, 1 BN, 2 :math:`\ell_1`, 3 :math:`\ell_2`, 4 :math:`\ell_\infty`)
picking the normalization (:func:`layer`). For the standard network ``Norm`` is the identity and
``gamma`` is frozen at 1, so ``beta`` is exactly the usual bias. Because the kind is a traced
number, every run trains in one ``vmap`` with one compilation of :func:`normlab.train.run`.

The measurements are :func:`normlab.landscape.probe` (the loss and gradient along the gradient)
and :func:`normlab.landscape.ics` (Definition 2.1), ``vmap``-ed over checkpoints and runs.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from normlab import data, landscape, nets, train
from normlab.ch5.dln import dln_experiment
from normlab.ch5.noise import sample_noise

KINDS = ("standard", "bn", "l1", "l2", "linf")

# The chapter's default MLP: 64 -> 6 x 32 (ReLU) -> 10, Glorot init, on the 8x8 digits.
SIZES = (64, 32, 32, 32, 32, 32, 32, 10)
BATCH = 64
PROBE_MULTIPLES = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)  # eta / lr, the paper's [1/2, 4]
CHOICES = (0, 1, 2, 3, 4)


def layer(kind, choices: Sequence[int] = CHOICES) -> nets.BatchNorm:
    r"""The hidden layer of kind ``kind`` (a Python int or a traced number among ``choices``):
    0 standard (:math:`hW + \beta`, gamma frozen), 1 BN, 2-4 the :math:`\ell_1, \ell_2, \ell_\infty`
    normalizations (see :class:`normlab.nets.BatchNorm`: centre each unit over the batch, then
    divide by the average :math:`\ell_p` norm of its un-centred batch vector; our reading of the
    paper's ":math:`\ell_p` normalization")."""
    if isinstance(kind, (int, np.integer)):
        on = int(kind != 0)
    else:
        on = (jnp.asarray(kind) != 0).astype(jnp.float32)
    return nets.BatchNorm(center=on, divisor=kind, learn_gamma=on, choices=tuple(choices))


def init(key, sizes: Sequence[int] = SIZES, init: str = "glorot"):
    r"""MLP with ``{"W", "gamma", "beta"}`` hidden layers (:func:`normlab.nets.init_mlp`); Glorot
    initialization (std :math:`\sqrt{2/(\text{fan-in}+\text{fan-out})}`), as in the paper's VGG runs."""
    return nets.init_mlp(key, list(sizes), layer(1), init=init)


def loss_fn(params, x, y, kind, noise=None, choices=CHOICES):
    """Training loss (mean cross-entropy, nats) of the MLP with hidden layers of ``kind``."""
    return train.cross_entropy(nets.apply_mlp(params, x, layer(kind, choices), noise=noise)[0], y)


# ------------------------------------------------------------------------------------------------
# Training, with checkpoints for the probes
# ------------------------------------------------------------------------------------------------
def train_mlp(params, x, y, key, kind, lr, noise_level=0.0, *, steps: int, every: int = 10,
              batch: int = BATCH, act_layer: int = 2, choices: Sequence[int] = CHOICES,
              noisy: bool = True):
    r"""Plain SGD (:func:`normlab.train.run`) on the MLP with hidden layers of ``kind``.

    ``kind``, ``lr`` and ``noise_level`` may be traced (the function ``vmap``s over them). Each
    step samples ``batch`` rows with replacement and a fresh noise draw (the identity when
    ``noise_level = 0``). Returns a dict: ``loss`` (T,), the batch loss of every step; ``act_mean``,
    ``act_std`` (T, C): mean and std over the step's batch of every unit of hidden layer
    ``act_layer``'s pre-activation (after the noise: the input of the ReLU); ``act_pct`` (T, 3): its
    15th, 50th, 85th percentiles for unit 0; and every ``every`` steps a checkpoint for the
    landscape and ICS measurements, ``ckpt`` (the parameters, leading axis T/every) with the batch
    ``ckpt_idx`` (T/every, batch) that step trained on. ``noisy=False`` skips drawing the noise
    (for runs at noise level 0: the same numbers, less work).
    """
    x, y = jnp.asarray(x), jnp.asarray(y)
    n = x.shape[0]
    L, C = len(params) - 1, params[0]["W"].shape[1]
    pct = jnp.round(jnp.array([0.15, 0.5, 0.85]) * (batch - 1)).astype(jnp.int32)
    lay = layer(kind, choices)

    def loss(p, k, _):
        kb, kn = jax.random.split(k)
        idx = jax.random.randint(kb, (batch,), 0, n)
        noise = sample_noise(kn, (L, batch, C), noise_level) if noisy else None
        logits, aux = nets.apply_mlp(p, x[idx], lay, noise=noise)
        return train.cross_entropy(logits, y[idx]), {"act": aux["pre"][act_layer], "idx": idx}

    def record(s):
        a = s.aux["act"]
        return {"loss": s.loss, "act_mean": jnp.mean(a, 0), "act_std": jnp.std(a, 0),
                "act_pct": jnp.sort(a[:, 0])[pct], "idx": s.aux["idx"]}

    _, _, hist = train.run(loss, params, jax.random.split(key, steps), lr=lr, record=record,
                           every=every, checkpoint=lambda p, _: {"ckpt": p})
    hist["ckpt_idx"] = hist.pop("idx")[::every]
    return hist


def measure_mlp(params, xb, yb, kind, lr, etas_mult=PROBE_MULTIPLES, with_ics: bool = True,
                choices: Sequence[int] = CHOICES):
    """The landscape probe (:func:`normlab.landscape.probe`) and, if asked, the ICS
    (:func:`normlab.landscape.ics`) at one checkpoint, on the batch it trained on.

    Returns ``probe_loss``, ``probe_dgrad`` (K,), ``beta``, ``grad_norm`` and ``ics_l2``,
    ``ics_cos`` (layers,). ``vmap`` it over checkpoints and runs: no loop, one batched computation.
    """
    f = lambda q: loss_fn(q, xb, yb, kind, None, choices)
    pr = landscape.probe(f, params, lr * jnp.asarray(etas_mult))
    out = {"probe_loss": pr["loss"], "probe_dgrad": pr["grad_change"], "beta": pr["beta"],
           "grad_norm": pr["grad_norm"]}
    if with_ics:
        out["ics_l2"], out["ics_cos"] = landscape.ics(f, params, lr, key="W")
    return out


def measure_run(hist, x, y, kind, lr, **kw):
    """:func:`measure_mlp` at every checkpoint of one :func:`train_mlp` history (one ``vmap``)."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    return jax.vmap(lambda p, i: measure_mlp(p, x[i], y[i], kind, lr, **kw))(
        hist["ckpt"], hist["ckpt_idx"])


# ------------------------------------------------------------------------------------------------
# The runs (memoised: the notebook, the explorables, the claims table and the tests share them)
# ------------------------------------------------------------------------------------------------
# The MLP runs of the main experiment: (name, kind, noise level), all at MAIN_LR.
RUNS = (("standard", 0, 0.0), ("bn", 1, 0.0), ("bn+noise", 1, 1.0), ("standard+noise", 0, 1.0),
        ("l1", 2, 0.0), ("l2", 3, 0.0), ("linf", 4, 0.0))
MEASURED = ("standard", "bn", "l1", "l2", "linf")  # runs that get the landscape and ICS probes
MAIN_LR, STEPS, EVERY = 0.1, 200, 10
EXPLORE_LRS = (0.03, 0.1, 0.3, 1.0)
EXPLORE_LEVELS = (0.0, 1.0, 2.0)


def _np(tree):
    return jax.tree_util.tree_map(np.asarray, tree)


def specs():
    """Every MLP run of the chapter, once: (kind, lr, noise level). The main experiment and the
    explorables' website grids are slices of this one list, so they share two compilations."""
    out = [(k, MAIN_LR, lv) for _, k, lv in RUNS]
    for lr in EXPLORE_LRS:
        for lv in EXPLORE_LEVELS:
            for k in (0, 1):
                out.append((k, lr, lv))
    return list(dict.fromkeys(out))


@data.cached
def _setup():
    d = data.digits()
    return np.asarray(d["x_train"]), np.asarray(d["y_train"]), _np(init(jax.random.PRNGKey(0)))


def train_runs(kinds, lrs, levels, choices: Sequence[int] = CHOICES, noisy: bool = True):
    """Train one run per (kind, lr, noise level), all from the same initialization and batches,
    in one ``vmap`` (:func:`train_mlp`). ``choices``: the kinds among ``kinds``, and
    ``noisy=False`` when every level is 0 (fewer operations; the same numbers)."""
    x, y, p0 = _setup()
    return jax.vmap(lambda k, lr, lv: train_mlp(p0, x, y, jax.random.PRNGKey(1), k, lr, lv,
                                                steps=STEPS, every=EVERY, choices=choices,
                                                noisy=noisy))(kinds, lrs, levels)


def measure_runs(ckpt, ckpt_idx, kinds, lrs, with_ics: bool = True,
                 choices: Sequence[int] = CHOICES):
    """:func:`measure_run` for several runs in one ``vmap``."""
    x, y, _ = _setup()
    return jax.vmap(lambda c, i, k, lr: measure_run({"ckpt": c, "ckpt_idx": i}, x, y, k, lr,
                                                    with_ics=with_ics, choices=choices))(
        ckpt, ckpt_idx, kinds, lrs)


@functools.lru_cache(maxsize=1)
def all_runs():
    """Train every run of :func:`specs` in one ``jit(vmap)`` and probe the noise-free ones at every
    ``EVERY``-th step in a second. Returns ``(specs, hist, measured_specs, meas)`` (NumPy)."""
    runs = specs()
    kinds, lrs, levels = (jnp.array(v) for v in zip(*runs))
    sel = jnp.array([i for i, (k, lr, lv) in enumerate(runs) if lv == 0.0])
    pick = lambda h: (jax.tree_util.tree_map(lambda a: a[sel], h["ckpt"]), h["ckpt_idx"][sel],
                      kinds[sel], lrs[sel])
    shapes = jax.eval_shape(lambda k, lr, lv: pick(train_runs(k, lr, lv)), kinds, lrs, levels)
    # XLA compiles on one core; compiling the two programs side by side uses both.
    with ThreadPoolExecutor(2) as ex:
        ft = ex.submit(lambda: jax.jit(train_runs).lower(kinds, lrs, levels).compile())
        fm = ex.submit(lambda: jax.jit(measure_runs).lower(*shapes).compile())
        train_c, meas_c = ft.result(), fm.result()
    hist = train_c(kinds, lrs, levels)
    meas = meas_c(*pick(hist))
    hist = _np({k: v for k, v in hist.items() if k not in ("ckpt", "ckpt_idx")})
    return runs, hist, [runs[i] for i in np.asarray(sel)], _np(meas)


def get_run(kind: int, lr: float, level: float = 0.0) -> dict:
    """One run's history from :func:`all_runs` (with its probe records if it was measured)."""
    specs, hist, mspecs, meas = all_runs()
    key = (kind, lr, level)
    out = {k: v[specs.index(key)] for k, v in hist.items()}
    if key in mspecs:
        out.update({k: v[mspecs.index(key)] for k, v in meas.items()})
    return out


def mlp_experiment() -> dict:
    """The main MLP experiment at ``MAIN_LR``: ``{name: history}`` for the seven :data:`RUNS`
    (same initialization and batches), with ``loss`` (T,), ``act_*``, and for :data:`MEASURED`
    the landscape records ``probe_loss``, ``probe_dgrad`` (T/EVERY, K), ``beta``, ``grad_norm``
    and the ICS records ``ics_l2``, ``ics_cos`` (T/EVERY, layers)."""
    out = {"steps": np.arange(STEPS), "probe_steps": np.arange(0, STEPS, EVERY), "lr": MAIN_LR}
    for name, k, lv in RUNS:
        out[name] = get_run(k, MAIN_LR, lv)
    return out


def run_all():
    """``(mlp_experiment(), dln_experiment())``, the DLN compiled and run in a second thread
    while the MLP programs compile (XLA compiles on one core; this uses two)."""
    with ThreadPoolExecutor(1) as ex:
        fd = ex.submit(dln_experiment)
        E = mlp_experiment()
        return E, fd.result()


# ------------------------------------------------------------------------------------------------
# Summaries
# ------------------------------------------------------------------------------------------------
def instability(h) -> float:
    """Mean step-to-step change of a layer's per-unit mean and std over the training batches,
    :math:`\\frac1{TC}\\sum_{t,j} |\\mu_{t+1,j}-\\mu_{t,j}| + |s_{t+1,j}-s_{t,j}|`."""
    return float(np.mean(np.abs(np.diff(h["act_mean"], axis=0)) + np.abs(np.diff(h["act_std"], axis=0))))


def landscape_summary(h) -> dict:
    """Averages over the probed steps: loss variation (max - min of the loss along the gradient),
    gradient predictiveness (max of the gradient change) and effective beta-smoothness."""
    return {"loss_var": float(np.mean(np.ptp(h["probe_loss"], axis=1))),
            "grad_change": float(np.mean(np.max(h["probe_dgrad"], axis=1))),
            "beta": float(np.mean(h["beta"]))}


def final_loss(h, last: int = 50) -> float:
    return float(np.mean(h["loss"][-last:]))


def mean_loss(h) -> float:
    """The training loss averaged over the whole run (the area under the curve / T)."""
    return float(np.mean(h["loss"]))
