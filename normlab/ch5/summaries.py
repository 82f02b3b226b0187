r"""Chapter 5's summaries of the runs of :mod:`normlab.ch5.experiments` (NumPy in, numbers out)."""

from __future__ import annotations

import numpy as np

from normlab.measure import trailing_mean

FINAL_LAST = 50     # "final loss": the mean over the last FINAL_LAST steps
PLATEAU_FRAC = 0.9  # a run has left its plateau when its running-mean loss is below this x the first
SMOOTH = 10         # the running mean of the loss curves (steps)


# ------------------------------------------------------------------------------------------------
def instability(h, where: str = "act", relative: bool = False) -> float:
    r"""Mean step-to-step change of a layer's per-unit batch mean and std,
    :math:`\frac1{TC}\sum_{t,j} |\mu_{t+1,j}-\mu_{t,j}| + |s_{t+1,j}-s_{t,j}|`, at ``where``:
    ``"act"`` the output :math:`y` of layer ``ACT_LAYER`` (after the noise), ``"next"`` the next
    layer's input :math:`x = Wu` (before its normalization). ``relative``: divided by the mean of
    :math:`s_{t,j}`, so that networks whose activations have different scales compare."""
    m, s = np.asarray(h[f"{where}_mean"], float), np.asarray(h[f"{where}_std"], float)
    d = float(np.mean(np.abs(np.diff(m, axis=0)) + np.abs(np.diff(s, axis=0))))
    return d / float(np.mean(s)) if relative else d


def landscape_summary(h, steps=slice(None)) -> dict:
    """Averages over the probed steps (``steps``: a slice or mask of them): loss variation (max -
    min of the loss along the gradient), gradient predictiveness (max of the gradient change),
    effective beta-smoothness and the gradient's norm."""
    return {"loss_var": float(np.mean(np.ptp(h["probe_loss"][steps], axis=1))),
            "grad_change": float(np.mean(np.max(h["probe_dgrad"][steps], axis=1))),
            "beta": float(np.mean(h["beta"][steps])),
            "grad_norm": float(np.mean(h["grad_norm"][steps]))}


def final_loss(h, last: int = FINAL_LAST) -> float:
    """The training loss averaged over the last ``last`` steps."""
    return float(np.mean(h["loss"][-last:]))


def mean_loss(h) -> float:
    """The training loss averaged over the whole run (the area under the curve / T)."""
    return float(np.mean(h["loss"]))


def plateau(h, frac: float = PLATEAU_FRAC, width: int = SMOOTH) -> int:
    """The number of steps before the running mean of the loss (over ``width`` steps) first falls
    below ``frac`` times the first step's loss (``STEPS`` if it never does)."""
    below = np.nonzero(trailing_mean(h["loss"], width) < frac * float(h["loss"][0]))[0]
    return int(below[0]) if below.size else len(h["loss"])


def removal(h) -> dict:
    """Averages over the checkpoints of :func:`noise_removal`'s records, and the share of the
    change of the next layer's input that survives its normalization (``kept = after / before``)."""
    out = {k: float(np.mean(h[k])) for k in ("inject", "before", "after")}
    out["kept"] = out["after"] / out["before"]
    return out
