r"""Chapter 5's explorables: noisy BatchNorm (learning rate x noise level) and the loss landscape
along the gradient (learning rate).

Each explorable's result has one producer: :func:`noisy_result` and :func:`landscape_result` take
the stacked histories of :func:`normlab.ch5.experiments.train_runs` (and the probes of
:func:`normlab.ch5.experiments.measure_runs`), whether they were just trained for a slider move
(the live view) or read from the chapter's memoised grid of runs (the website frames and grid
points of the live view). The landscape slider shows the two runs at the nearest of
:func:`landscape_lrs` (trained at its first move, :func:`landscape_table`) and says so.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from normlab.ch5 import experiments as ex
from normlab import style
from normlab.ch5 import figures
from normlab.explore import Explorable, Slider

NOISY_RUNS = ("standard", "bn", "standard+noise", "bn+noise")  # (kind, noise level on/off)
NOISY_SPECS = ((0, 0.0), (1, 0.0), (0, 1.0), (1, 1.0))
LANDSCAPE_RUNS = ("standard", "bn")


def noisy_result(hist) -> dict:
    """The noisy-BN explorable's result from the histories of the four runs of
    :data:`NOISY_RUNS` stacked on a leading axis: ``loss`` (4, T) and ``act_pct`` (4, T, 3)."""
    return {"loss": hist["loss"], "act_pct": hist["act_pct"]}


def landscape_result(meas) -> dict:
    """The landscape explorable's result from the probes of the two runs of
    :data:`LANDSCAPE_RUNS`: ``probe_loss``, ``probe_dgrad`` (2, T/EVERY, K), ``beta`` (2, T/EVERY)."""
    return {k: meas[k] for k in ("probe_loss", "probe_dgrad", "beta")}


# ---- the live views: only what the frame shows, one compiled run per core ------------------------
# A slider move trains seed 0's runs at the new setting with the very functions of the grid runs
# (:func:`normlab.ch5.experiments.train_mlp`, :func:`~normlab.ch5.experiments.measure_run`), one
# run per compiled program with its kind fixed (no traced switch between standard and BN), two
# programs at a time (one per core: XLA runs a program this small on one). The noise-free runs of
# the noisy-BN view depend on the learning rate only: a move of the noise slider reuses them (the
# same deterministic run; nothing is approximated) and trains the two noisy runs alone.
_POOL: list = []
_CLEAN: dict = {}          # lr -> the noise-free (standard, BN) runs at that rate, most recent last
_CLEAN_KEPT = 8


def _pool():
    from concurrent.futures import ThreadPoolExecutor

    if not _POOL:
        _POOL.append(ThreadPoolExecutor(2, thread_name_prefix="normlab-ch5-live"))
    return _POOL[0]


@functools.lru_cache(maxsize=None)
def _program(kind: int, noisy: bool, probe: bool, drawn: bool = False):
    """Seed 0's run of one kind (0 standard, 1 BN), compiled: with ``probe`` its landscape probes
    (:func:`landscape_result`), else its loss and unit percentiles (:func:`noisy_result`);
    ``noisy``: with the noise, from the precomputed level-1 noise (``shift``, ``scale``), or
    drawn as it goes when ``drawn``."""
    x, y = ex._setup()

    def run(lr, level, shift=None, scale=None):
        seed = ex.SEEDS[0]
        h = ex.train_mlp(ex.init_params(seed), x, y, ex._train_key(seed), kind, lr, level,
                         steps=ex.STEPS, every=ex.EVERY, choices=(kind,), noisy=noisy,
                         base=None if (drawn or not noisy) else (shift, scale), lean=True,
                         checkpoints=probe, percentiles=not probe)
        if not probe:
            return {"loss": h["loss"], "act_pct": h["act_pct"]}
        # the probes of one checkpoint after another (lax.map): on a CPU core this is faster than
        # one vmap over the checkpoints (BN: about 40 against 70 ms), and gives the same numbers
        xb, yb = jnp.asarray(x), jnp.asarray(y)
        probe_at = lambda c: ex.measure_mlp(c[0], xb[c[1]], yb[c[1]], kind, lr, with_ics=False,
                                            choices=(kind,))
        return landscape_result(jax.lax.map(probe_at, (h["ckpt"], h["ckpt_idx"])))

    return jax.jit(run)


def _start(fn, *args):
    """Run a compiled program on the pool; the future's result is NumPy."""
    return _pool().submit(lambda: jax.tree_util.tree_map(np.asarray, fn(*args)))


def _stacked(results: list[dict]) -> dict:
    return {k: np.stack([r[k] for r in results]) for k in results[0]}


def noisy_compute(lr, noise, shift=None, scale=None):
    """The four runs of :data:`NOISY_SPECS` at one (lr, noise level): standard, BN, and both with
    the noise, recording only what the figure shows (the loss and one unit's percentiles).
    ``shift``, ``scale``: seed 0's noise at level 1 (:func:`normlab.ch5.experiments.live_base`,
    passed by the explorable): the noise at level ``noise`` is ``noise`` times it, the very numbers
    the grid runs draw, so the live view computes no random numbers for it. Without them it draws
    the noise as it goes (the same numbers, slower). The noise-free pair is trained once per
    learning rate (kept for the last few rates); at level 0 the noisy runs are that pair."""
    lr, noise = float(lr), float(noise)
    jobs = {}
    if lr not in _CLEAN:
        jobs["clean"] = [_start(_program(k, False, False), lr, 0.0) for k in (0, 1)]
    if noise != 0.0:
        drawn = shift is None
        args = (lr, noise) if drawn else (lr, noise, shift, scale)
        jobs["noisy"] = [_start(_program(k, True, False, drawn), *args) for k in (0, 1)]
    if "clean" in jobs:
        _CLEAN[lr] = [f.result() for f in jobs["clean"]]
        while len(_CLEAN) > _CLEAN_KEPT:
            _CLEAN.pop(next(iter(_CLEAN)))
    clean = _CLEAN[lr]
    noisy = [f.result() for f in jobs["noisy"]] if "noisy" in jobs else clean
    return noisy_result(_stacked(clean + noisy))  # the order of NOISY_SPECS


def _live_base() -> dict:
    shift, scale = ex.live_base()
    return {"shift": shift, "scale": scale}


def landscape_compute(lr):
    """The standard and the BN run at ``lr``, probed along the gradient every EVERY steps (each
    run records only its loss and checkpoints, what the probes need), the two side by side."""
    jobs = [_start(_program(k, False, True), float(lr), 0.0) for k in (0, 1)]
    return _stacked([f.result() for f in jobs])


#: The live landscape view's rates: the website's rates (:data:`EXPLORE_LRS`) with
#: ``LANDSCAPE_STEPS - 1`` more, evenly on a log scale, between each two of them.
LANDSCAPE_STEPS = 10


def landscape_lrs() -> np.ndarray:
    e = np.log(np.asarray(ex.EXPLORE_LRS, float))
    fine = [np.linspace(a, b, LANDSCAPE_STEPS, endpoint=False) for a, b in zip(e[:-1], e[1:])]
    out = np.exp(np.concatenate(fine + [e[-1:]]))
    out[::LANDSCAPE_STEPS] = ex.EXPLORE_LRS  # the website's rates exactly
    return out


@functools.lru_cache(maxsize=1)
def landscape_table() -> dict:
    """The two runs at every rate of :func:`landscape_lrs` (each with ``lr_shown``, its rate),
    stacked: the website's rates read from the chapter's grid, the others trained by
    :func:`landscape_compute` (the grid runs' functions), two at a time. Made at the live view's
    first move off the website grid (a few seconds, once); a slider move then costs the redraw."""
    grid, lrs = landscape_grid(), landscape_lrs()
    rows = []
    for lr in lrs:
        hit = np.flatnonzero(np.isclose(ex.EXPLORE_LRS, lr, rtol=1e-9))
        r = jax.tree_util.tree_map(lambda a: a[hit[0]], grid) if hit.size else landscape_compute(lr)
        rows.append({**r, "lr_shown": np.float64(lr)})
    return {k: np.stack([r[k] for r in rows]) for k in rows[0]}


def landscape_nearest(lr) -> dict:
    """The live view off the website grid: the precomputed runs (:func:`landscape_table`) at the
    rate nearest to ``lr`` on a log scale, with that rate (``lr_shown``). Training and probing
    both networks takes longer than a slider should wait (about 80 ms of CPU on 2 cores), so the
    view looks the runs up and says in its title which rate it shows."""
    t = landscape_table()
    i = int(np.argmin(np.abs(np.log(t["lr_shown"]) - np.log(float(lr)))))
    return {k: v[i] for k, v in t.items()}


def _stack(runs: list[dict]) -> dict:
    """The entries every run has, stacked on a leading run axis."""
    keys = [k for k in runs[0] if all(k in r for r in runs)]
    return {k: np.stack([r[k] for r in runs]) for k in keys}


@functools.lru_cache(maxsize=1)
def noisy_grid():
    """The website grid (lr, noise level, ...) from the chapter's runs (:func:`ex.all_runs`)."""
    pts = [[noisy_result(_stack([ex.get_run(k, lr, on * lv) for k, on in NOISY_SPECS]))
            for lv in ex.EXPLORE_LEVELS] for lr in ex.EXPLORE_LRS]
    return jax.tree_util.tree_map(lambda *a: np.stack(a).reshape((len(ex.EXPLORE_LRS),
                                                                   len(ex.EXPLORE_LEVELS)) + a[0].shape),
                                  *[p for row in pts for p in row])


@functools.lru_cache(maxsize=1)
def landscape_grid():
    """The website grid (lr, ...) from the chapter's runs (:func:`ex.all_runs`)."""
    pts = [landscape_result(_stack([ex.get_run(k, lr, 0.0) for k in (0, 1)])) for lr in ex.EXPLORE_LRS]
    return {**jax.tree_util.tree_map(lambda *a: np.stack(a), *pts),
            "lr_shown": np.asarray(ex.EXPLORE_LRS, float)}


def _as_runs(r: dict, names) -> dict:
    """``{name: {key: array}}`` from a result whose arrays have a leading run axis."""
    out = {"steps": np.arange(ex.STEPS), "probe_steps": np.arange(0, ex.STEPS, ex.EVERY)}
    for i, n in enumerate(names):
        out[n] = {k: np.asarray(v)[i] for k, v in r.items() if k != "lr_shown"}
    return out


@functools.lru_cache(maxsize=None)
def noisy_ylims() -> dict:
    """The panels' fixed ranges over the whole grid (the 99th percentile: a run that blew up
    runs into the top of its panel and is marked there)."""
    g = noisy_grid()
    return {"loss": (0.0, style.span(g["loss"], q=99)[1]), "act_pct": style.span(g["act_pct"], q=99.5)}


@functools.lru_cache(maxsize=None)
def landscape_ylims() -> dict:
    """The three panels' fixed ranges (log axes) over the whole grid."""
    g = landscape_grid()
    return {k: style.span(g[k], log=True) for k in ("probe_loss", "probe_dgrad", "beta")}


def plot_noisy(r, lr, noise, fig=None):
    return figures.plot_noisy(_as_runs(r, NOISY_RUNS), fig=fig, ylims=noisy_ylims(),
                              title=f"learning rate {lr:.3g}, noise level {noise:.2g} x the paper's")


def _probe_range() -> str:
    return f"[{min(ex.PROBE_MULTIPLES):g}, {max(ex.PROBE_MULTIPLES):g}]"


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def plot_landscape(r, lr, fig=None):
    shown, d = float(r.get("lr_shown", lr)), 3
    while d < 6 and f"{shown:.{d}g}" == f"{lr:.{d}g}":  # enough digits to tell them apart
        d += 1
    head = f"learning rate {lr:.{d}g}"
    if not np.isclose(shown, float(lr), rtol=1e-6):
        head += f" (showing the run at {shown:.{d}g}, the nearest precomputed)"
    return figures.plot_landscape(_as_runs(r, LANDSCAPE_RUNS), fig=fig, ylims=landscape_ylims(),
                                  title=f"{head}; probe steps η in {_probe_range()} × lr")


def noisy_explorable() -> Explorable:
    """Sliders: learning rate and noise level (x the paper's constants)."""
    return Explorable(
        compute=noisy_compute,
        # opens at lr 0.3: Figure 5.1 already shows lr 0.1 at the paper's noise
        sliders=[Slider("lr", "learning rate", ex.EXPLORE_LRS, default=0.3, log=True),
                 Slider("noise", "noise level (x paper)", ex.EXPLORE_LEVELS, default=1.0)],
        plot=plot_noisy, title="Noisy BatchNorm: training with injected covariate shift",
        number="5.2", alt="Two panels over 200 training steps. Left: training-loss curves of the "
        "standard network, BatchNorm, and both with injected noise. Right: the 15th-85th percentile "
        "band and median of one layer-3 unit for the standard, BatchNorm and noisy BatchNorm runs.",
        notice="Compare where the BN + noise curve ends (left) with the plain standard curve, and "
               "watch the width of the BN + noise unit's band (right) as the noise level moves.",
        caption=f"Training loss of an MLP with {len(ex.SIZES) - 2} hidden layers on the digits "
                f"(seed {ex.SEEDS[0]}): standard, BatchNorm, and both with time-varying noise on "
                f"every hidden layer's output (before the ReLU); right: the percentiles of one unit of layer "
                f"{ex.ACT_LAYER + 1} over training.",
        grid_fn=noisy_grid, consts=_live_base, jit=False)


def landscape_explorable() -> Explorable:
    """Slider: learning rate. The landscape bands of the standard and BN MLPs."""
    return Explorable(
        compute=landscape_nearest,
        sliders=[Slider("lr", "learning rate", ex.EXPLORE_LRS, default=0.1, log=True)],
        plot=plot_landscape, title="The loss landscape along the gradient, standard vs BN",
        number="5.6", alt="Three panels over 200 training steps, standard network and BatchNorm: "
        "the range of the loss along the gradient, the range of the gradient change, and the "
        "effective beta-smoothness, all on log axes.",
        notice="Read the band heights on the log axes before and after the standard network's "
               "loss starts to fall, and follow each network's bands as the rate moves.",
        caption=f"At every {_ordinal(ex.EVERY)} training step (seed {ex.SEEDS[0]}), the loss, the "
                f"gradient change and the effective β-smoothness when moving a step η of "
                f"{_probe_range()} × lr along the gradient ({len(ex.PROBE_MULTIPLES)} values); "
                f"shaded: min-max over η. Off the website's {len(ex.EXPLORE_LRS)} rates the live "
                f"view does not retrain at every move: at its first move it trains the two "
                f"networks at {len(landscape_lrs())} rates, {LANDSCAPE_STEPS} per interval "
                f"between the website's rates, evenly on a log scale, then shows the run at the "
                f"nearest of them and says so in its title.",
        grid_fn=landscape_grid, jit=False, recomputes=False)


# The chapter's explorables, by name (the benchmark times each one's live slider).
EXPLORABLES = {"noisy_bn": noisy_explorable, "landscape": landscape_explorable}
