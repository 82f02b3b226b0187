r"""Chapter 4's explorables: the geometry of a plain and a normalized GLM (input scale x weight
scale), and training the digits MLP with no normalization, BN and LN (learning rate x batch size).

Each result has one producer: :func:`normlab.ch4.curvature.frame` for the geometry, and
:func:`normlab.ch4.experiments.train_one` for training, whether it runs for a slider move (the
live view) or comes from the chapter's memoised runs (:func:`training_grid`: the website frames
and the grid points of the live view, shared with section 4.6 and the claims).
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from normlab.ch4 import curvature, figures
from normlab.ch4 import experiments as ex
from normlab.explore import Explorable, Slider

S_GRID = tuple(float(v) for v in np.logspace(-1, 1, 5))
R_GRID = (0.25, 0.5, 1.0, 2.0, 4.0)


def geometry_compute(s, r):
    """The geometry frame at input scale ``s`` and weight scale ``r`` (pure JAX)."""
    return curvature.frame(s, r)


_frame = jax.jit(geometry_compute)


@functools.lru_cache(maxsize=1)
def geometry_grid():
    """The website grid (S_GRID x R_GRID) as NumPy arrays: one compiled frame, called per grid
    point (on two CPU cores this compiles in half the time of a ``vmap`` over the grid, measured,
    and runs in a fraction of a second)."""
    pts = [[jax.tree_util.tree_map(np.asarray, _frame(s, r)) for r in R_GRID] for s in S_GRID]
    return jax.tree_util.tree_map(lambda *a: np.stack(a).reshape((len(S_GRID), len(R_GRID))
                                                                  + a[0].shape),
                                  *[p for row in pts for p in row])


def geometry_reference():
    """The frame at s = r = 1 (a grid point), against which the planes are drawn."""
    g = geometry_grid()
    i, j = S_GRID.index(1.0), R_GRID.index(1.0)
    return jax.tree_util.tree_map(lambda a: np.asarray(a[i, j]), g)


def plot_geometry(result, s, r, fig=None):
    return figures.plot_geometry(result, s, r, fig=fig, s_curve=curvature.S_CURVE,
                                 r_curve=curvature.R_CURVE, half=curvature.PLANE_HALF,
                                 ref=geometry_reference())


def geometry_explorable() -> Explorable:
    """Sliders: the input scale and the weight scale of the GLMs of section 4.4."""
    return Explorable(
        geometry_compute,
        [Slider("s", "input scale s", S_GRID, default=1.0, log=True),
         Slider("r", "weight scale r", R_GRID, default=1.0, log=True)],
        plot_geometry,
        title="The curvature of a plain and a normalized GLM",
        caption="Top: the Fisher quadratic form along a direction of one unit's weights "
                "(orthogonal to them) for four Bernoulli GLMs, no normalization, batch, weight "
                "and layer norm, against the scale of the inputs and the scale of the weights; "
                "the dots mark the chosen point. Bottom: in a plane of that unit's weights, the "
                "ellipse where half the Fisher quadratic form is 0.01 nats (solid) and the exact "
                "KL contour at 0.01 nats (dashed), without normalization (left) and with layer "
                "norm (right), over the ellipse at s = r = 1 (grey); each title says how many "
                "times larger the ellipse has become.",
        number="4.3",
        alt="Four panels. Top: log-log curvature curves; batch norm and layer norm are flat "
            "against the input scale while weight norm and no normalization rise; against the "
            "weight scale the three normalized curves fall as one over r squared. Bottom: two "
            "square panels with a grey reference ellipse and the current ellipse and KL contour.",
        notice="Watch the layer-norm and weight-norm curves at the top and the number in each "
               "lower panel's title as you move one slider at a time.",
        grid_fn=geometry_grid, dpi=80)


def training_compute(lr, batch_size):
    """The three runs (no normalization, BN, LN) at one learning rate and batch size: seed 0,
    the inputs unscaled (traceable in both)."""
    return {k: ex.train_one(k, ex.init(k, 0), ex.rows(0), lr, batch_size, 1.0)
            for k in ex.EXPLORE_KINDS}


@functools.lru_cache(maxsize=1)
def training_grid():
    """The website grid (LRS x BATCHES) read from the chapter's runs (:func:`ex.runs`)."""
    out = {}
    for k in ex.EXPLORE_KINDS:
        cells = [[ex.get(k, lr=lr, batch=b) for b in ex.BATCHES] for lr in ex.LRS]
        out[k] = {key: np.stack([np.stack([c[key] for c in row]) for row in cells])
                  for key in ("loss", "test_loss", "test_acc")}
    return out


def plot_training(result, lr, batch_size, fig=None):
    return figures.plot_training(result, lr, batch_size, fig=fig, steps=ex.STEPS,
                                 eval_every=ex.EVAL_EVERY)


def training_explorable() -> Explorable:
    """Sliders: learning rate and batch size."""
    return Explorable(
        training_compute,
        [Slider("lr", "learning rate", ex.LRS, default=ex.LR, log=True, fmt="{:.3g}"),
         Slider("batch_size", "batch size", ex.BATCHES, default=4, integer=True, fmt="{:d}")],
        plot_training,
        title="Training the digits MLP with no normalization, batch norm and layer norm",
        caption="Training loss (10-step mean) and test accuracy against SGD step for a "
                "64-64-64-10 ReLU MLP on the 8x8 digits, with no normalization, batch "
                "normalization or layer normalization in its hidden layers, at the chosen "
                "learning rate and batch size; a diverged run is marked and its curves stop there.",
        number="4.4",
        alt="Two panels against SGD step: training loss (left) and test accuracy (right) of "
            "three networks at the chosen learning rate and batch size, with notes where a run "
            "diverged or where batch norm cannot train at batch size one.",
        notice="Watch where each network's accuracy ends on the right and look for a "
               "'diverged' mark as you move the batch size to 1 and the learning rate to 1.",
        grid_fn=training_grid)


# ------------------------------------------------------------------------------------------------
# What the predict questions' answers assert, computed at the settings they name
# ------------------------------------------------------------------------------------------------
def geometry_answer() -> dict:
    """The curvature explorable on its website grid: ``s_spread[kind]``, max/min of the left
    panel's curve over the input scales (at r = 1); ``ellipse[kind][r]``, how many times the
    Fisher ellipse at weight scale r (s = 1) is the one at r = 1, for r = 2 and 4 (plain and
    LN); ``ellipse_s[kind]``, the same at s = 10 (r = 1)."""
    g = geometry_grid()
    i1, j1 = S_GRID.index(1.0), R_GRID.index(1.0)
    ref = lambda k: float(g["point"][k][i1, j1])
    out = {"s_spread": {k: float(np.max(g["curv_s"][k][i1, j1]) / np.min(g["curv_s"][k][i1, j1]))
                        for k in curvature.KINDS},
           "ellipse": {k: {r: float(np.sqrt(ref(k) / g["point"][k][i1, R_GRID.index(r)]))
                           for r in (2.0, 4.0)} for k in curvature.PLANE_KINDS},
           "ellipse_s": {k: float(np.sqrt(ref(k) / g["point"][k][len(S_GRID) - 1, j1]))
                         for k in curvature.PLANE_KINDS}}
    return out


def training_answer() -> dict:
    """The training explorable's grid (seed 0) at the settings its predict question names:
    ``status[(kind, lr, batch)]`` (:func:`normlab.train.status` kind and why) and
    ``acc[(kind, lr, batch)]`` (final test accuracy, %), for batch 1 at lr 0.1 and lr 1 at
    batch 1 and 128; ``bn_b1_flat``: BN's largest change of the training loss at batch 1 and lr
    0.1 after the first 10 steps, relative to its start."""
    out = {"status": {}, "acc": {}}
    for k in ex.EXPLORE_KINDS:
        for lr, b in ((0.1, 1), (1.0, 1), (1.0, 128)):
            st = ex.run_status(k, lr=lr, batch=b)
            out["status"][(k, lr, b)] = (st.kind, st.step, st.why)
            out["acc"][(k, lr, b)] = ex.final_acc(k, lr=lr, batch=b)
    return out


# The chapter's explorables, by name (the benchmark times each one's live slider).
EXPLORABLES = {"geometry": geometry_explorable, "training": training_explorable}
