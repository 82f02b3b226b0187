r"""Chapter 1's explorables: training with and without BN (learning rate x batch size), and a
sigmoid unit's input distribution over training (learning rate)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

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
        number="1.6",
        alt="Two panels against SGD step: training loss on a log axis and test accuracy, one curve "
            "per network. At the default setting both networks learn, BN's loss falling faster at "
            "first; at learning rate 10 the plain network's curves stop at a 'diverged' mark while "
            "BN's accuracy stays near chance; at batch size 2 BN's accuracy stays low.",
        notice="Watch the gap between the two loss curves in the first steps and the two final "
               "accuracies on the right, then move each slider to its ends and watch them again.",
        caption="Training loss and test accuracy against SGD step for a 64-64-64-10 ReLU MLP on "
                "the 8x8 digits, with and without batch normalization, for the chosen learning "
                "rate and batch size; a diverged run is marked and its curves stop there.",
        grid_fn=training.training_grid)  # the website frames, the live view and the claims share one run


@lru_cache(maxsize=None)
def drift_ylims() -> tuple:
    """One range for both panels over the whole learning-rate grid (the slider moves, the axes
    stay; a shared axis lets the eye compare how far each unit's input moves)."""
    g = training.drift_grid()
    return style.span(np.concatenate([g[n]["q"].ravel() for n in ("plain", "bn")]))


def plot_drift(res, lr, fig=None):
    return figures.plot_drift(res, lr, fig=fig, ylims=drift_ylims())


DRIFT_NOTICE = ("Compare how far the three percentile curves travel in the left panel and in the "
                "right one, and read each panel's title (did that network train?) before you "
                "compare them; then move the learning rate.")


def drift_explorable() -> Explorable:
    sliders = [Slider("lr", "learning rate", training.DRIFT_LRS, default=3.0, log=True)]
    return Explorable(
        training.drift_nearest, sliders, plot_drift,
        title="A sigmoid unit's input over training (cf. Ioffe & Szegedy, Figure 1)",
        number="1.7",
        caption="The 15th, 50th and 85th percentiles, over the test set, of one last-hidden-layer "
                "unit's input to its sigmoid during 500 SGD steps, without BN (left) and with BN "
                "(right), on one shared axis; each panel's title gives the final test accuracy, "
                "whether the network trained, and the range the percentiles sweep after the first "
                "10% of training. Unlike Figure 1.6 this view does not retrain: 500 steps with a "
                "percentile probe every 10 take longer than a slider should wait, so between the "
                "grid's learning rates the live view shows the precomputed run at the nearest one, "
                "and says so in its title.",
        alt="Two panels of three curves against SGD step, on one symmetric-log axis. At learning "
            "rate 3 the plain network's percentiles start together near -5, then spread out to "
            "between about -8 and -1 and keep moving; the BN network's settle after the first "
            "steps between about -3 and 0.5. At learning rate 10 the plain network's curves sit "
            "flat near -33 (it does not learn) while the BN curves wander between about -7 and 1.",
        notice=DRIFT_NOTICE,
        grid_fn=training.drift_frames, consts=training.drift_consts, recomputes=False)


# The chapter's explorables, by name (the benchmark times each one's live slider).
EXPLORABLES = {"training": training_explorable, "drift": drift_explorable}
