r"""Chapter 5, sections 5.2-5.4 and 5.6: the MLP experiments (noisy BN, ICS, the landscape, the
:math:`\ell_p` normalizations), over several seeds.

One network family serves every run: :mod:`normlab.nets`' MLP whose hidden layers are
:class:`normlab.nets.BatchNorm` layers :math:`y = \gamma\,\mathrm{Norm}_k(x) + \beta` with
:math:`x = Wu` (the book's notation: :math:`u` the layer's input), the kind ``k`` (a traced
integer: 0 standard, 1 BN, 2 :math:`\ell_1`, 3 :math:`\ell_2`, 4 :math:`\ell_\infty`) picking the
normalization (:func:`layer`). For the standard network ``Norm`` is the identity and ``gamma`` is
frozen at 1, so ``beta`` is exactly the usual bias. Because the kind, the learning rate, the noise
level and the seed are traced numbers, every run trains in one ``vmap`` with one compilation of
:func:`normlab.train.run`, and every measurement runs in a second compiled program.

The measurements are :func:`normlab.landscape.probe` (the loss and gradient along the gradient),
:func:`normlab.landscape.ics` (Definition 2.1) and :func:`noise_removal` (how much of one layer's
injected noise the next normalization removes), ``vmap``-ed over checkpoints and runs.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from normlab import cache
from normlab import batchnorm, data, landscape, nets, train
from normlab.ch5.dln import dln_experiment, dln_seeds
from normlab.ch5.noise import noise_from_uniforms, noise_uniforms
from normlab.nets import Noise
from normlab.measure import tree_norm
from normlab.ch5.summaries import (FINAL_LAST, PLATEAU_FRAC, SMOOTH, final_loss,  # noqa: F401
                                    instability, landscape_summary, mean_loss, plateau, removal)

KINDS = ("standard", "bn", "l1", "l2", "linf")

# The chapter's default MLP: 64 -> 6 x 32 (ReLU) -> 10, Glorot init, on the 8x8 digits.
SIZES = (64, 32, 32, 32, 32, 32, 32, 10)
BATCH = 64
PROBE_MULTIPLES = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)  # eta / lr, the paper's [1/2, 4]
CHOICES = (0, 1, 2, 3, 4)
SEEDS = (0, 1, 2)   # seed s: initialization PRNGKey(2s), batch and noise stream PRNGKey(2s + 1)
ACT_LAYER = 2       # the hidden layer (0-based) whose distributions are recorded: layer 3
NOISE_KEY = 7       # the noise draws of :func:`noise_removal`
PERCENTILES = (15, 50, 85)  # of one unit's values over the batch (``act_pct``)
FIXED_N = 512       # the fixed evaluation batch of the distribution measurements: the first images


def layer(kind, choices: Sequence[int] = CHOICES) -> nets.BatchNorm:
    r"""The hidden layer of kind ``kind`` (a Python int or a traced number among ``choices``):
    0 standard (:math:`Wu + \beta`, gamma frozen), 1 BN, 2-4 the :math:`\ell_1, \ell_2, \ell_\infty`
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
    initialization (normal, std :math:`\sqrt{2/(\text{fan-in}+\text{fan-out})}`), as in the paper
    (Appendix A: both its networks)."""
    return nets.init_mlp(key, list(sizes), layer(1), init=init)


def loss_fn(params, x, y, kind, noise=None, choices=CHOICES):
    """Training loss (mean cross-entropy, nats) of the MLP with hidden layers of ``kind``."""
    return train.cross_entropy(nets.apply_mlp(params, x, layer(kind, choices), noise=noise)[0], y)


# ------------------------------------------------------------------------------------------------
# Training, with checkpoints for the probes
# ------------------------------------------------------------------------------------------------
def train_mlp(params, x, y, key, kind, lr, noise_level=0.0, *, steps: int, every: int = 10,
              batch: int = BATCH, act_layer: int = ACT_LAYER, choices: Sequence[int] = CHOICES,
              noisy: bool = True, table=None, row=0, base=None, lean: bool = False,
              checkpoints: bool = True, percentiles: bool = True):
    r"""Plain SGD (:func:`normlab.train.run`) on the MLP with hidden layers of ``kind``.

    ``kind``, ``lr``, ``noise_level`` and ``key`` may be traced (the function ``vmap``s over them).
    Each step samples ``batch`` rows with replacement and a fresh noise draw (the identity when
    ``noise_level = 0``). Returns a dict: ``loss`` (T,), the batch loss of every step;
    ``act_mean``, ``act_std`` (T, C): mean and std over the step's batch of every unit of hidden
    layer ``act_layer``'s output :math:`y` (after the noise: the input of the ReLU); ``act_pct``
    (T, 3): its :data:`PERCENTILES` for unit 0; ``next_mean``, ``next_std`` (T, C): the
    same for the next layer's input to its normalization, :math:`x = Wu` with :math:`u` = ReLU(y);
    and every ``every`` steps a checkpoint for the landscape and ICS measurements, ``ckpt`` (the
    parameters, leading axis T/every) with the batch ``ckpt_idx`` (T/every, batch) that step
    trained on. ``noisy=False`` skips drawing the noise (for runs at noise level 0: the same
    numbers, less work). ``table`` (S, steps, L, 3 batch + 2, C), with ``row`` (may be traced):
    read step t's noise uniforms from ``table[row, t]`` (:func:`noise_table`, the same numbers as
    drawing them from ``key``) instead of drawing them, so that many runs share one stream.
    ``base``: ``(shift, scale - 1)`` of every step's noise at level 1, each (steps, L, batch, C)
    (:func:`normlab.ch5.noise.noise_base` of the same uniforms): the noise at ``noise_level`` is
    then two multiplications (no random numbers, no transcendental functions; the live view).
    ``lean``: record only ``loss`` and ``act_pct`` (``percentiles=False``: not even that);
    ``checkpoints=False``: no checkpoints.
    """
    x, y = jnp.asarray(x), jnp.asarray(y)
    n = x.shape[0]
    L, C = len(params) - 1, params[0]["W"].shape[1]
    pct = jnp.round(jnp.array(PERCENTILES) / 100 * (batch - 1)).astype(jnp.int32)
    lay = layer(kind, choices)

    def loss(p, kt, _):
        k, t = kt
        kb, kn = jax.random.split(k)
        idx = jax.random.randint(kb, (batch,), 0, n)
        if base is not None:  # (steps, ...) arrays, or (seeds, steps, ...) read at ``row``
            sh, sc = (base[0][row, t], base[1][row, t]) if base[0].ndim == 5 else (base[0][t], base[1][t])
            noise = Noise(1.0 + noise_level * sc, noise_level * sh)
        elif noisy:
            u = noise_uniforms(kn, (L, batch, C)) if table is None else table[row, t]
            noise = noise_from_uniforms(u, noise_level)
        else:
            noise = None
        logits, aux = nets.apply_mlp(p, x[idx], lay, noise=noise)
        out = {"act": aux["pre"][act_layer], "idx": idx}
        if not lean:  # the next layer's x = Wu
            out["next"] = jax.nn.relu(aux["pre"][act_layer]) @ p[act_layer + 1]["W"]
        return train.cross_entropy(logits, y[idx]), out

    def record(s):
        a = s.aux["act"]
        out = {"loss": s.loss}
        if percentiles:
            out["act_pct"] = jnp.sort(a[:, 0])[pct]
        if checkpoints:
            out["idx"] = s.aux["idx"]
        if not lean:
            b = s.aux["next"]
            out.update({"act_mean": jnp.mean(a, 0), "act_std": jnp.std(a, 0),
                        "next_mean": jnp.mean(b, 0), "next_std": jnp.std(b, 0)})
        return out

    _, _, hist = train.run(loss, params, (jax.random.split(key, steps), jnp.arange(steps)), lr=lr,
                           record=record, every=every if checkpoints else None,
                           checkpoint=(lambda p, _: {"ckpt": p}) if checkpoints else None)
    if checkpoints:
        hist["ckpt_idx"] = hist.pop("idx")[::every]
    return hist


def measure_mlp(params, xb, yb, kind, lr, etas_mult=PROBE_MULTIPLES, with_ics: bool = True,
                choices: Sequence[int] = CHOICES, with_probe: bool = True):
    r"""The landscape probe (:func:`normlab.landscape.probe`) and, if asked, the ICS
    (:func:`normlab.landscape.ics`) at one checkpoint, on the batch it trained on.

    Returns ``probe_loss``, ``probe_dgrad`` (K,), ``beta``, ``grad_norm`` :math:`\|G\|_2` (the
    whole gradient) and ``ics_l2``, ``ics_cos``, ``ics_rel`` (layers,), where ``ics_rel`` is
    :math:`\|G_i - G'_i\|_2 / (\eta\|G\|_2)`: the gradient shift per unit of distance moved, to first
    order independent of the step size. ``vmap`` it over checkpoints and runs: no loop, one
    batched computation.
    """
    f = lambda q: loss_fn(q, xb, yb, kind, None, choices)
    out = {}
    if with_probe:
        pr = landscape.probe(f, params, lr * jnp.asarray(etas_mult))
        out = {"probe_loss": pr["loss"], "probe_dgrad": pr["grad_change"], "beta": pr["beta"],
               "grad_norm": pr["grad_norm"]}
    if with_ics:
        g = jax.grad(f)(params)
        gn = out["grad_norm"] if with_probe else tree_norm(g)
        # the sign of dL/dgamma_j = <g, xhat_j>, which signs Theorem 4.2's extra term
        out["gamma_pos"] = jnp.mean(jnp.stack([jnp.mean(q["gamma"] > 0) for q in g[:-1]]))
        out["ics_l2"], out["ics_cos"] = landscape.ics(f, params, lr, key="W")
        out["ics_rel"] = out["ics_l2"] / (lr * gn)
        out.setdefault("grad_norm", gn)
    return out


def measure_run(hist, x, y, kind, lr, **kw):
    """:func:`measure_mlp` at every checkpoint of one :func:`train_mlp` history (one ``vmap``)."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    return jax.vmap(lambda p, i: measure_mlp(p, x[i], y[i], kind, lr, **kw))(
        hist["ckpt"], hist["ckpt_idx"])


def noise_removal(params, xb, u, kind=1, at: int = ACT_LAYER, level=1.0,
                  choices: Sequence[int] = CHOICES):
    r"""How much of one noise draw injected after hidden layer ``at`` reaches the next layer, before
    and after that layer's normalization.

    The same parameters and batch, once without noise and once with the noise made of the uniforms
    ``u`` (:func:`normlab.ch5.noise.noise_from_uniforms`) at layer ``at`` only. Each change is the
    root mean square
    over examples and units, in units of the clean per-unit batch standard deviation:

    - ``inject``: the change of layer ``at``'s output :math:`y` (where the noise is added);
    - ``before``: the change of the next layer's input to its normalization, :math:`x = Wu`;
    - ``after``: the change of its standardized input :math:`\hat x = (x - \mu_B)/\sigma_B`.

    ``after / before`` is the share of the change that survives the normalization (0: all of it
    removed, as for a pure per-unit shift and scale of :math:`x`; 1: none)."""
    L = len(params) - 1
    n = noise_from_uniforms(u, level)
    only = (jnp.arange(L) == at)[:, None, None]
    n = nets.Noise(jnp.where(only, n.scale, 1.0), jnp.where(only, n.shift, 0.0))
    lay = layer(kind, choices)
    _, clean = nets.apply_mlp(params, xb, lay)
    _, noisy = nets.apply_mlp(params, xb, lay, noise=n)
    W = params[at + 1]["W"]
    xc, xn = clean["inputs"][at + 1] @ W, noisy["inputs"][at + 1] @ W
    rms = lambda d: jnp.sqrt(jnp.mean(d * d))
    yc, yn = clean["pre"][at], noisy["pre"][at]
    return {"inject": rms((yn - yc) / jnp.std(yc, 0)), "before": rms((xn - xc) / jnp.std(xc, 0)),
            "after": rms(batchnorm.standardize(xn)[0] - batchnorm.standardize(xc)[0])}


def fixed_stats(params, x, key, kind, level, at: int = ACT_LAYER,
                choices: Sequence[int] = CHOICES):
    r"""The distributions of hidden layer ``at``'s output :math:`y` (after the noise) and of the next
    layer's input :math:`x = Wu` on a FIXED batch ``x``, with one fresh noise draw from ``key`` at
    ``level`` (the identity at 0): per-unit batch mean and std, ``fx_act_mean``, ``fx_act_std``,
    ``fx_next_mean``, ``fx_next_std`` (C,). Measured at successive checkpoints, their change is the
    change of the distribution without the batch-to-batch sampling noise that the per-step
    statistics of :func:`train_mlp` (each step's own batch) mix in."""
    L, C = len(params) - 1, params[0]["W"].shape[1]
    n = noise_from_uniforms(noise_uniforms(key, (L, x.shape[0], C)), level)
    _, aux = nets.apply_mlp(params, x, layer(kind, choices), noise=n)
    a = aux["pre"][at]
    b = jax.nn.relu(a) @ params[at + 1]["W"]
    return {"fx_act_mean": jnp.mean(a, 0), "fx_act_std": jnp.std(a, 0),
            "fx_next_mean": jnp.mean(b, 0), "fx_next_std": jnp.std(b, 0)}


def fixed_runs(ckpt, kinds, levels, choices: Sequence[int] = CHOICES):
    """:func:`fixed_stats` at every checkpoint of several runs, on the first :data:`FIXED_N`
    training images; checkpoint ``c`` draws its noise from ``fold_in(PRNGKey(NOISE_KEY), c)``,
    the same for every run."""
    x = jnp.asarray(_setup()[0][:FIXED_N])
    T = jax.tree_util.tree_leaves(ckpt)[0].shape[1]
    keys = jax.vmap(lambda c: jax.random.fold_in(jax.random.PRNGKey(NOISE_KEY), c))(jnp.arange(T))
    one = lambda c, k, lv: jax.vmap(lambda p, kk: fixed_stats(p, x, kk, k, lv, choices=choices))(
        c, keys)
    return jax.vmap(one)(ckpt, kinds, levels)


# ------------------------------------------------------------------------------------------------
# The runs (memoised: the notebook, the explorables, the claims table and the tests share them)
# ------------------------------------------------------------------------------------------------
# The MLP runs of the main experiment: (name, kind, noise level), all at MAIN_LR, for every seed.
RUNS = (("standard", 0, 0.0), ("bn", 1, 0.0), ("bn+noise", 1, 1.0), ("standard+noise", 0, 1.0),
        ("l1", 2, 0.0), ("l2", 3, 0.0), ("linf", 4, 0.0))
MEASURED = ("standard", "bn", "l1", "l2", "linf")  # runs that get the landscape probes
ICS_RUNS = ("standard", "bn")                       # runs that also get the ICS measurement
REMOVAL_RUNS = ("bn+noise",)                        # runs that get :func:`noise_removal`
MAIN_LR, STEPS, EVERY = 0.1, 200, 10
EXPLORE_LRS = (0.03, 0.1, 0.3, 1.0)                 # the explorables' grids: seed 0
EXPLORE_LEVELS = (0.0, 1.0, 2.0)
GRID_LRS = (0.1, 0.3, 1.0)    # the fair comparison: every kind (no noise) at each rate, every seed
FIXED_RUNS = ("standard", "bn", "bn+noise", "standard+noise", "l1", "l2", "linf")  # fixed batch


def _np(tree):
    return jax.tree_util.tree_map(np.asarray, tree)


def specs():
    """Every MLP run of the chapter, once: (kind, lr, noise level, seed). Seed 0's runs come first
    (the main experiment and the explorables' website grids), then the main experiment of every
    other seed; all are slices of this one list and share two compilations."""
    out = [(k, MAIN_LR, lv, SEEDS[0]) for _, k, lv in RUNS]
    for lr in EXPLORE_LRS:
        for lv in EXPLORE_LEVELS:
            for k in (0, 1):
                out.append((k, lr, lv, SEEDS[0]))
    out += [(k, MAIN_LR, lv, s) for s in SEEDS[1:] for _, k, lv in RUNS]
    out += [(k, lr, 0.0, s) for s in SEEDS for lr in GRID_LRS for k in range(len(KINDS))]
    return list(dict.fromkeys(out))


def probe_specs():
    """The runs that get the landscape probes: the main experiment's :data:`MEASURED` runs of every
    seed and the landscape explorable's grid (seed 0, standard and BN, every rate of
    :data:`EXPLORE_LRS`)."""
    out = [(k, MAIN_LR, 0.0, s) for s in SEEDS for n, k, lv in RUNS if n in MEASURED]
    out += [(k, lr, 0.0, SEEDS[0]) for lr in EXPLORE_LRS for k in (0, 1)]
    return list(dict.fromkeys(out))


def _main_specs(names):
    kind = {n: (k, lv) for n, k, lv in RUNS}
    return [(kind[n][0], MAIN_LR, kind[n][1], s) for s in SEEDS for n in names]


@data.cached
def _setup():
    """The digits' training images and labels (NumPy)."""
    d = data.digits()
    return np.asarray(d["x_train"]), np.asarray(d["y_train"])


def init_params(seed):
    """Seed ``seed``'s initial parameters (:func:`init` from PRNGKey(2 seed)); ``seed`` may be
    traced, so the initialization is part of the compiled training program (no eager sampler
    compilations)."""
    return init(jax.random.PRNGKey(2 * seed))


def _train_key(seed):
    """Seed ``s``'s stream of batches and noise (its initialization is PRNGKey(2s))."""
    return jax.random.PRNGKey(2 * seed + 1)


def noise_table(seeds: Sequence[int] = SEEDS):
    """The noise uniforms of every step of every seed, ``(S, STEPS, L, 3 BATCH + 2, C)``: what
    :func:`train_mlp` draws from a seed's stream, drawn once for all the seed's runs."""
    L, C = len(SIZES) - 2, SIZES[1]

    def one(seed):
        keys = jax.random.split(_train_key(seed), STEPS)
        return jax.vmap(lambda k: noise_uniforms(jax.random.split(k)[1], (L, BATCH, C)))(keys)

    return jax.vmap(one)(jnp.asarray(seeds))


@functools.lru_cache(maxsize=1)
def live_base():
    """Seed 0's noise at level 1, ``(shift, scale - 1)``, each (STEPS, L, BATCH, C): the numbers of
    :func:`noise_table` (the same stream the grid runs draw), transformed once, for the live
    explorables (:func:`train_mlp`'s ``base``)."""
    u = noise_table((SEEDS[0],))[0]
    n = jax.jit(jax.vmap(lambda v: noise_from_uniforms(v, 1.0)))(u)
    return n.shift, n.scale - 1.0


def train_runs(kinds, lrs, levels, choices: Sequence[int] = CHOICES, noisy: bool = True,
               seeds=None, table=None, base=None, lean: bool = False, checkpoints: bool = True,
               percentiles: bool = True):
    """Train one run per (kind, lr, noise level[, seed]) in one ``vmap`` (:func:`train_mlp`).
    Seed ``s`` (an index into :data:`SEEDS`) starts from its own initialization and draws its own
    batches and noise; the noise of every seed is drawn once (:func:`noise_table`) and shared by
    that seed's runs. Without ``seeds`` every run is seed 0 and draws its noise as it goes (the
    live explorables: the same numbers, no table). ``table``: :func:`noise_table`, if the caller
    has it. ``choices``: the kinds among ``kinds``, and ``noisy=False`` when every level is 0
    (fewer operations; the same numbers). ``base``, ``lean``, ``checkpoints``: see
    :func:`train_mlp` (seed 0 only)."""
    x, y = _setup()
    kw = dict(steps=STEPS, every=EVERY, choices=choices, noisy=noisy, base=base, lean=lean,
              checkpoints=checkpoints, percentiles=percentiles)
    if seeds is None:
        p0 = init_params(SEEDS[0])
        return jax.vmap(lambda k, lr, lv: train_mlp(p0, x, y, _train_key(SEEDS[0]), k, lr, lv,
                                                    **kw))(kinds, lrs, levels)
    table = (noise_table() if table is None else table) if noisy else None
    if table is not None and base is None:  # every seed's noise at level 1, transformed once
        n = jax.vmap(jax.vmap(lambda v: noise_from_uniforms(v, 1.0)))(table)
        kw["base"] = (n.shift, n.scale - 1.0)

    def run(k, lr, lv, s):
        seed = jnp.asarray(SEEDS)[s]
        return train_mlp(init_params(seed), x, y, _train_key(seed), k, lr, lv, row=s, **kw)

    return jax.vmap(run)(kinds, lrs, levels, seeds)


def measure_runs(ckpt, ckpt_idx, kinds, lrs, with_ics: bool = True,
                 choices: Sequence[int] = CHOICES, with_probe: bool = True):
    """:func:`measure_run` for several runs in one ``vmap``."""
    x, y = _setup()
    return jax.vmap(lambda c, i, k, lr: measure_run({"ckpt": c, "ckpt_idx": i}, x, y, k, lr,
                                                    with_ics=with_ics, choices=choices,
                                                    with_probe=with_probe))(
        ckpt, ckpt_idx, kinds, lrs)


def removal_runs(ckpt, ckpt_idx, kinds, rows, uniforms, choices: Sequence[int] = (1,)):
    """:func:`noise_removal` at every checkpoint of several runs, with the noise that the run's
    seed (``rows``: its index in :data:`SEEDS`) drew at that step: ``uniforms`` is
    :func:`noise_table` at the checkpoints, (S, T/EVERY, L, 3 BATCH + 2, C); ``choices``: the
    kinds among ``kinds`` (BN only, by default)."""
    x = jnp.asarray(_setup()[0])
    one = lambda c, i, k, r: jax.vmap(lambda p, ii, u: noise_removal(p, x[ii], u, k,
                                                                     choices=choices))(
        c, i, uniforms[r])
    return jax.vmap(one)(ckpt, ckpt_idx, kinds, rows)


def _measure_all(probe, ics, removal, fixed):
    """The chapter's measurements, one compiled program: probes of :func:`probe_specs`, ICS of
    :data:`ICS_RUNS`, noise removal of :data:`REMOVAL_RUNS`, fixed-batch distributions of
    :data:`FIXED_RUNS`."""
    ics_kinds = tuple(sorted({dict((n, k) for n, k, _ in RUNS)[n] for n in ICS_RUNS}))
    return (measure_runs(*probe, with_ics=False),
            measure_runs(*ics, with_probe=False, choices=ics_kinds),
            removal_runs(*removal), fixed_runs(*fixed))


@cache.cached
@functools.lru_cache(maxsize=1)
def all_runs():
    """Train every run of :func:`specs` in one ``jit(vmap)`` and measure them at every
    ``EVERY``-th step in a second. Returns ``(specs, hist, measured)`` (NumPy), ``measured``
    ``{"probe" | "ics" | "removal" | "fixed": (specs, records)}``."""
    runs = specs()
    kinds, lrs, levels, seeds = (jnp.array(v) for v in zip(*runs))
    sets = {"probe": probe_specs(), "ics": _main_specs(ICS_RUNS),
            "removal": _main_specs(REMOVAL_RUNS), "fixed": _main_specs(FIXED_RUNS)}
    sel = {k: jnp.array([runs.index(r) for r in v]) for k, v in sets.items()}

    rows = jnp.array([SEEDS.index(int(s)) for s in np.asarray(seeds)])

    def train_fn(k, lr, lv, r):  # also returns the noise the seeds drew at the checkpoints
        table = noise_table()
        return train_runs(k, lr, lv, seeds=r, table=table), table[:, ::EVERY]

    def pick(h, u):
        take = lambda s: (jax.tree_util.tree_map(lambda a: a[s], h["ckpt"]), h["ckpt_idx"][s])
        return ((*take(sel["probe"]), kinds[sel["probe"]], lrs[sel["probe"]]),
                (*take(sel["ics"]), kinds[sel["ics"]], lrs[sel["ics"]]),
                (*take(sel["removal"]), kinds[sel["removal"]], rows[sel["removal"]], u),
                (take(sel["fixed"])[0], kinds[sel["fixed"]], levels[sel["fixed"]]))

    lowered = jax.jit(train_fn).lower(kinds, lrs, levels, rows)
    # The second program's argument shapes, from the first's output shapes (jax.eval_shape:
    # tracing only; ``Lowered.out_info`` does not exist in jax 0.4.20, the declared floor).
    shapes = jax.eval_shape(lambda *a: pick(*train_fn(*a)), kinds, lrs, levels, rows)
    # XLA compiles on one core; compiling the two programs side by side uses both.
    with ThreadPoolExecutor(2) as ex:
        ft = ex.submit(lowered.compile)
        fm = ex.submit(lambda: jax.jit(_measure_all).lower(*shapes).compile())
        train_c, meas_c = ft.result(), fm.result()
    hist, u = train_c(kinds, lrs, levels, rows)
    meas = dict(zip(("probe", "ics", "removal", "fixed"), _np(meas_c(*pick(hist, u)))))
    hist = _np({k: v for k, v in hist.items() if k not in ("ckpt", "ckpt_idx")})
    return runs, hist, {k: (sets[k], meas[k]) for k in sets}


def get_run(kind: int, lr: float, level: float = 0.0, seed: int = 0) -> dict:
    """One run's history from :func:`all_runs`, with the records of every measurement it got."""
    specs, hist, measured = all_runs()
    key = (kind, lr, level, seed)
    out = {k: v[specs.index(key)] for k, v in hist.items()}
    for mspecs, meas in measured.values():
        if key in mspecs:
            out.update({k: v[mspecs.index(key)] for k, v in meas.items()})
    return out


def mlp_experiment(seed: int = 0) -> dict:
    """The main MLP experiment at ``MAIN_LR`` for one seed: ``{name: history}`` for the seven
    :data:`RUNS` (same initialization and batches), with ``loss`` (T,), ``act_*``, ``next_*``;
    for :data:`MEASURED` the landscape records ``probe_loss``, ``probe_dgrad`` (T/EVERY, K),
    ``beta``, ``grad_norm``; for :data:`ICS_RUNS` the ICS records ``ics_l2``, ``ics_cos``,
    ``ics_rel`` (T/EVERY, layers); for :data:`REMOVAL_RUNS` ``inject``, ``before``, ``after``
    (T/EVERY,)."""
    out = {"steps": np.arange(STEPS), "probe_steps": np.arange(0, STEPS, EVERY), "lr": MAIN_LR,
           "seed": seed}
    for name, k, lv in RUNS:
        out[name] = get_run(k, MAIN_LR, lv, seed)
    return out


def grid_losses() -> np.ndarray:
    """The training-loss curves of every kind of :data:`KINDS` (no noise) at every rate of
    :data:`GRID_LRS` and every seed: (kinds, lrs, seeds, STEPS), for :mod:`normlab.compare`."""
    return np.array([[[get_run(k, lr, 0.0, s)["loss"] for s in SEEDS] for lr in GRID_LRS]
                     for k in range(len(KINDS))])


def mlp_seeds() -> list[dict]:
    """:func:`mlp_experiment` for every seed of :data:`SEEDS`."""
    return [mlp_experiment(s) for s in SEEDS]


def run_all():
    """``(mlp_experiment(), dln_experiment())``, the DLN runs compiled and run in a second thread
    while the MLP programs compile (XLA compiles on one core; this uses two)."""
    with ThreadPoolExecutor(1) as ex:
        fd = ex.submit(dln_seeds)
        E = mlp_experiment()
        fd.result()
        return E, dln_experiment()


