r"""Chapter 1's explorables: training with and without BN (learning rate x batch size), and a
sigmoid unit's input distribution over training (learning rate)."""

from __future__ import annotations

from functools import lru_cache

from normlab import style
from normlab.ch1 import figures, training
from normlab.explore import Explorable, Slider

def training_explorable() -> Explorable:
    lrs, batches = training.TRAIN_LRS, training.TRAIN_BATCHES
    sliders = [Slider("lr", "learning rate", lrs, default=lrs[3], log=True, fmt="{:.3g}"),
               Slider("batch_size", "batch size", batches, default=16, integer=True, fmt="{:d}")]
    return Explorable(
        training.compute_training, sliders, figures.plot_training,
        title="Training a ReLU MLP on the digits with and without BN",
        caption="Training loss and test accuracy against SGD step for a 64-64-64-10 ReLU MLP on "
                "the 8x8 digits, with and without batch normalization, for the chosen learning "
                "rate and batch size; a diverged run is marked and its curves stop there.",
        grid_fn=training.training_grid)  # the website frames, the live view and the claims share one run


@lru_cache(maxsize=None)
def drift_ylims() -> dict:
    """Each panel's fixed range over the whole learning-rate grid (the slider moves, the axes stay)."""
    g = training.drift_grid()
    return {n: style.span(g[n]["q"]) for n in ("plain", "bn")}


def plot_drift(res, lr, fig=None):
    return figures.plot_drift(res, lr, fig=fig, ylims=drift_ylims())


def drift_explorable() -> Explorable:
    sliders = [Slider("lr", "learning rate", training.DRIFT_LRS, default=1.0, log=True)]
    return Explorable(
        training.compute_drift, sliders, plot_drift,
        title="A sigmoid unit's input over training (cf. Ioffe & Szegedy, Figure 1)",
        caption="The 15th, 50th and 85th percentiles, over the test set, of one last-hidden-layer "
                "unit's input to its sigmoid during training, without BN (left) and with BN "
                "(right), for the chosen learning rate.",
        grid_fn=training.drift_grid)


# The chapter's explorables, by name (the benchmark times each one's live slider).
EXPLORABLES = {"training": training_explorable, "drift": drift_explorable}
