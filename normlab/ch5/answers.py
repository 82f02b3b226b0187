r"""Chapter 5's answers, computed: what the explorables show at the settings the "predict, run,
explain" questions name (read from the website grids, which are the chapter's own runs), so that
the solutions' statements are tested (``tests/test_ch5.py``), not typed in."""

from __future__ import annotations

import numpy as np

from normlab.ch5 import experiments as ex
from normlab.ch5.explorables import LANDSCAPE_RUNS, NOISY_RUNS, landscape_grid, noisy_grid
from normlab.ch5.summaries import FINAL_LAST


def noisy_point(lr: float, level: float) -> dict:
    """The noisy-BN explorable at (``lr``, noise ``level``), seed 0: ``{run: {"final", "median",
    "peak", "mean"}}`` for the four runs (final: the mean loss of the last FINAL_LAST steps;
    median: their median, robust to a short spike; peak: their largest loss; mean: over the run)."""
    i, j = ex.EXPLORE_LRS.index(lr), ex.EXPLORE_LEVELS.index(level)
    loss = np.asarray(noisy_grid()["loss"][i, j], float)
    last = loss[:, -FINAL_LAST:]
    return {n: {"final": float(last[k].mean()), "median": float(np.median(last[k])),
                "peak": float(last[k].max()), "mean": float(loss[k].mean())}
            for k, n in enumerate(NOISY_RUNS)}


def landscape_point(lr: float) -> dict:
    """The landscape explorable at ``lr``, seed 0, per network: ``band`` the loss variation along
    the gradient (max - min over the probe steps, nats) and ``decades`` the band's height on the
    figure's log axis (log10 max/min), both as medians over the probed steps, and ``beta`` the
    median effective beta-smoothness."""
    g = landscape_grid()
    i = ex.EXPLORE_LRS.index(lr)
    out = {}
    for k, n in enumerate(LANDSCAPE_RUNS):
        pl = np.asarray(g["probe_loss"][i, k], float)
        ok = np.all(np.isfinite(pl), axis=1) & np.all(pl > 0, axis=1)
        out[n] = {"band": float(np.median(np.ptp(pl[ok], axis=1))),
                  "decades": float(np.median(np.log10(pl[ok].max(1) / pl[ok].min(1)))),
                  "beta": float(np.nanmedian(np.asarray(g["beta"][i, k], float)))}
    return out


def landscape_widening(lo: float = 0.1, hi: float = 1.0) -> dict:
    """How much each network's band grows from ``lo`` to ``hi``: the ratio of the medians of
    :func:`landscape_point` (``band``, nats) and the difference of their ``decades``."""
    a, b = landscape_point(lo), landscape_point(hi)
    return {n: {"band": b[n]["band"] / a[n]["band"], "decades": b[n]["decades"] - a[n]["decades"],
                "beta_lo": a[n]["beta"], "beta_hi": b[n]["beta"]} for n in LANDSCAPE_RUNS}
