r"""Chapter 2's explorable: naive versus true normalization on the digits (learning rate x input
noise)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from normlab import style
from normlab.ch2 import figures, network
from normlab.explore import Explorable, Slider


@lru_cache(maxsize=None)
def explore_ylims() -> dict:
    """The norms' fixed ranges over the whole grid (below the divergence mark's limit, 1e3)."""
    g = network.explore_grid()
    below = lambda v: np.where(np.abs(v) < 1e3, v, np.nan)
    return {"b_norm": (0.0, style.span(below(g["b_norm"]), log=True)[1]),
            "w_norm": style.span(below(g["w_norm"]), log=True)}


def plot_explore(res, lr, noise, fig=None):
    return figures.plot_explore(res, lr, noise, fig=fig, ylims=explore_ylims())

def naive_explorable() -> Explorable:
    return Explorable(
        compute=network.explore_compute,
        sliders=[Slider("lr", "learning rate", network.EXPLORE_LRS, default=0.9, log=True),
                 Slider("noise", "input noise (std, in units of a pixel)", network.EXPLORE_NOISES,
                        default=0.0)],
        plot=plot_explore,
        grid_fn=network.explore_grid,
        title="Naive versus true normalization on the digits",
        number="2.4",
        caption=("Three panels against SGD step: the norm of the hidden biases, the smoothed "
                 "training loss, and the norm of the hidden weights, for a digits MLP with naive "
                 "centring (orange), naive centring and scaling (green) and batch norm (blue), 300 "
                 "steps at the chosen learning rate and input noise. A blow-up is marked with the "
                 "step at which it happened."),
        alt=("Three panels of three curves. At learning rate 0.9 without noise all three networks "
             "train; the naive layers' bias norms rise to a few units while batch norm's stays at "
             "zero. At 2.7 naive centring blows up within a few dozen steps."),
        notice=("Watch the left panel (the norm of the hidden biases) and any 'diverged' mark "
                "as you move the noise slider, first at learning rate 0.3, then at 0.9."),
    )


# The chapter's explorables, by name (the benchmark times each one's live slider).
EXPLORABLES = {"naive_vs_true": naive_explorable}
