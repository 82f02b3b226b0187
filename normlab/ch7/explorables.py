r"""Chapter 7's explorables: learning rate x weight decay (the norm and the angular update against
the predicted equilibrium), and the exponential-learning-rate equivalence with the normalizer's
epsilon as a slider.

Both look their frames up in grids the chapter computes anyway (one vmapped call each): a live
slider shows the precomputed run nearest to its value and says which in the title, so a move
costs a gather and a redraw, not a retraining (600 steps of 48 runs, or 2 x 400 float64 steps).
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

from normlab.ch7 import dynamics, equilibrium, figures
from normlab.explore import Explorable, Slider


@functools.lru_cache(maxsize=1)
def equilibrium_frames() -> dict:
    """Seed 0 of :func:`normlab.ch7.equilibrium.runs`, first layer: ``norm`` (lr, wd, T+1),
    ``angle`` (lr, wd, T) and the prediction ``pred`` (lr, wd)."""
    r = equilibrium.runs()
    t = equilibrium.equilibrium_table(r)
    return {"norm": r["norm"][:, :, 0, :, 0], "angle": r["angle"][:, :, 0, :, 0],
            "pred": t["pred"]}


def equilibrium_consts() -> dict:
    return {"grid": equilibrium_frames()}


def equilibrium_nearest(lr, wd, grid=None):
    """The runs at the grid's learning rate nearest to ``lr`` (log scale), every weight decay,
    and the prediction at the weight decay nearest to ``wd``: a gather (jit-able)."""
    g = equilibrium_frames() if grid is None else grid
    i = jnp.argmin(jnp.abs(jnp.log(jnp.asarray(equilibrium.LRS)) - jnp.log(lr)))
    j = jnp.argmin(jnp.abs(jnp.asarray(equilibrium.WDS) - wd))
    return {"norm": jnp.asarray(g["norm"])[i], "angle": jnp.asarray(g["angle"])[i],
            "pred": jnp.asarray(g["pred"])[i, j], "wds": jnp.asarray(equilibrium.WDS),
            "top": jnp.max(jnp.asarray(g["norm"]))}   # the whole grid's largest norm: a fixed y-axis


def equilibrium_explorable() -> Explorable:
    sliders = [Slider("lr", "learning rate \u03b7", equilibrium.LRS, default=0.3, log=True),
               Slider("wd", "weight decay \u03bb", equilibrium.WDS, default=3e-3, fmt="{:g}")]
    return Explorable(
        equilibrium_nearest, sliders, figures.plot_equilibrium,
        title="Weight decay sets the angular update: learning rate x weight decay",
        number="7.4",
        caption="The digits network with BN (scale-invariant hidden weights), momentum 0.9, 600 "
                "steps, seed 0. Left: the first hidden layer's mean unit norm for every weight "
                "decay of the grid at the chosen learning rate (the chosen decay bold). Right: "
                "the chosen run's root-mean-square angle per step over the layer's units, "
                "against the predicted equilibrium \u221a(2\u03b7\u03bb/(1 + \u03b3)) (dashed). The "
                "title gives the relaxation time (1 \u2212 \u03b3)/(2\u03b7\u03bb).",
        alt="Two panels against SGD step. Left: four norm curves, one per weight decay; without "
            "decay the norm rises and stays high, with decay it falls and levels off, lower for "
            "larger decay. Right: the angle per step on a log axis, noisy, falling without decay "
            "and levelling off on the dashed predicted line with decay once the run is several "
            "relaxation times long.",
        notice="Compare the right panel's angle with the dashed line and with the relaxation time "
               "in the title: with decay it settles on the line only where the run lasts a few "
               "relaxation times; at \u03bb = 0 there is no line, and the angle drops over the first "
               "hundred steps, then creeps down slowly as the norm grows.",
        grid_fn=lambda: _equilibrium_grid(), consts=equilibrium_consts, recomputes=False)


@functools.lru_cache(maxsize=1)
def _equilibrium_grid() -> dict:
    g = equilibrium_frames()
    nl, nw = g["pred"].shape
    wds = np.broadcast_to(np.asarray(equilibrium.WDS), (nl, nw, nw))
    return {"norm": np.broadcast_to(g["norm"][:, None], (nl, nw) + g["norm"].shape[1:]),
            "angle": np.broadcast_to(g["angle"][:, None], (nl, nw) + g["angle"].shape[1:]),
            "pred": g["pred"], "wds": wds, "top": np.full((nl, nw), g["norm"].max())}


@functools.lru_cache(maxsize=1)
def exp_lr_frames() -> dict:
    """:func:`normlab.ch7.dynamics.exp_lr_grid` at the slider's eps values (eps > 0), with the
    eps = 0 matched curve (``ref``) and the predicted norm ratio (``grow``)."""
    g = dynamics.exp_lr_grid()
    a = dynamics.alpha(dynamics.LR, dynamics.WD, dynamics.MOM)
    T = g["unit"].shape[-1]
    n = len(dynamics.EPS_GRID) - 1
    return {"unit": g["unit"][1:], "ratio": g["ratio"][1:],
            "ref": np.broadcast_to(g["unit"][0, 0], (n, T)),
            "grow": np.broadcast_to(a ** -np.arange(1.0, T + 1), (n, T)),
            "eps_shown": np.asarray(dynamics.EPS_GRID[1:])}


def exp_lr_consts() -> dict:
    return {"grid": exp_lr_frames()}


def exp_lr_nearest(eps, grid=None):
    """The precomputed pair of runs at the grid's eps nearest to ``eps`` (log scale)."""
    g = exp_lr_frames() if grid is None else grid
    i = jnp.argmin(jnp.abs(jnp.log(jnp.asarray(dynamics.EPS_GRID[1:])) - jnp.log(eps)))
    return {k: jnp.asarray(v)[i] for k, v in g.items()}


def exp_lr_explorable() -> Explorable:
    zero_end = exp_lr_frames()["unit"][:, 1, -1]          # the zero-buffer curves' final values
    sliders = [Slider("eps", "normalizer \u03b5 (log)", dynamics.EPS_GRID[1:], default=1e-4,
                      log=True, fmt="{:.0e}")]
    return Explorable(
        exp_lr_nearest, sliders, figures.plot_exp_lr,
        title="Weight decay or an exponential learning rate: where the equivalence holds",
        number="7.6",
        caption="Two float64 runs of the digits network with BN (its scale, shift and the readout "
                "fixed): momentum 0.9 with weight decay 5e-4 at lr 0.1, and momentum 0.9 without "
                "decay at lr 0.1 \u03c1^(\u22122t\u22121). Left: the largest difference of their unit weight "
                "vectors per step, with the exponential run's initial buffer matched at the chosen "
                "eps (orange, dashed) or both buffers zero (vermillion, solid); blue dotted, the "
                "matched runs at eps = 0. The colours mean the same as in Figure 7.5. Right: the "
                "norm ratio of the two runs' first layers (orange) against "
                "\u03c1^(\u2212t) (black, dashed).",
        alt="Two panels against step. Left, log axis from 1e-17 to 1: the blue dotted eps = 0 "
            "curve stays near 1e-13; the orange dashed matched curve rises with eps, staying near eps for small "
            "eps and jumping to about 1e-3 from eps = 1e-5; the vermillion zero-buffer curve grows over the "
            f"run to {zero_end.min():.0e}-{zero_end.max():.0e} for every eps. Right: the norm ratio on "
            "the dashed \u03c1^(\u2212t) line.",
        notice="Move eps and compare the orange dashed curve's final level with eps itself, then "
               "look for the eps at which it leaves the blue dotted eps = 0 curve's slope and "
               "heads for the vermillion zero-buffer curve.",
        grid_fn=exp_lr_frames, consts=exp_lr_consts, recomputes=False)


# The chapter's explorables, by name (the benchmark times each one's live slider).
EXPLORABLES = {"equilibrium": equilibrium_explorable, "exp_lr": exp_lr_explorable}
