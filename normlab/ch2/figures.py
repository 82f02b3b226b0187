r"""Chapter 2's figures: NumPy results in, a matplotlib Figure out (no computing here)."""

from __future__ import annotations

import numpy as np

from normlab import style
from normlab.ch2 import network, toy
from normlab.ch2.network import EXPLORE_NAMES, EXPLORE_STEPS, VARIANTS

# Five hues a reader can tell apart (Okabe-Ito): the two naive layers are orange and green, not
# two oranges.
VARIANT_COLORS = {"naive centring": style.PALETTE["orange"],
                  "naive centring + scaling": style.PALETTE["green"],
                  "batch norm": style.COLORS["bn"],
                  "centring, differentiated": style.COLORS["other"],
                  "standardizing, differentiated": style.PALETTE["sky"]}
assert set(VARIANT_COLORS) == set(VARIANTS)


def plot_toy(m):
    """The toy's bias and loss against step (naive centring, target mean 1)."""
    fig, ax = style.figure(2, 1, width=3.8, height=2.7)
    b = np.asarray(m["b_traj"])
    steps = np.arange(len(b))
    ax[0, 0].plot(steps, b, "o-", color=style.COLORS["naive"], ms=3, label="measured b")
    ax[0, 0].plot(steps, b[0] + m["drift_sign"] * m["drift_rate"] * steps, "--",
                  color=style.COLORS["ref"], label="b0 + k * derived drift")
    ax[0, 0].plot(steps, np.asarray(m["true_b_traj"]), color=style.COLORS["bn"],
                  label="mean differentiated")
    ax[0, 0].set(xlabel="step k", ylabel="bias b (units of x)")
    ax[0, 0].legend(fontsize=style.SMALL)
    loss = np.asarray(m["loss_traj"])
    ax[0, 1].plot(steps, loss - loss[0], "o-", color=style.COLORS["naive"], ms=3)
    ax[0, 1].set(xlabel="step k", ylabel=f"loss - loss at step 0 (of {loss[0]:.2f})",
                 ylim=(-1e-12, 1e-12))
    return fig


def plot_scaled(m):
    """The scaled toy: w, b and the loss against step, with the predicted collapse step."""
    fig, ax = style.figure(3, 1, width=3.2, height=2.6)
    steps = np.arange(len(m["w"]))
    c = VARIANT_COLORS["naive centring + scaling"]
    ax[0, 0].plot(steps, m["w"], color=c)
    ax[0, 0].axvline(m["k_pred"], color=style.COLORS["ref"], ls="--", lw=1, label="predicted w = 0")
    ax[0, 0].axhline(0, color="grey", lw=0.8)
    ax[0, 0].set(xlabel="step k", ylabel="scale w")
    ax[0, 0].legend(fontsize=style.SMALL)
    ax[0, 1].plot(steps, m["b"], color=c, label="scaling held constant")
    ax[0, 1].plot(steps, m["centring_b"], color=VARIANT_COLORS["naive centring"], label="centring only")
    ax[0, 1].set(xlabel="step k", ylabel="bias b")
    ax[0, 1].legend(fontsize=style.SMALL)
    ax[0, 2].plot(steps, m["loss"], color=c)
    ax[0, 2].set(xlabel="step k", ylabel="loss (squared error)")
    return fig


def plot_compare(res, lr: float = 1.0):
    """Three panels: smoothed training loss, hidden ||W||, hidden ||b|| per step, one curve a variant."""
    fig, ax = style.figure(3, 1, width=3.6, height=2.9,
                           title=f"digits MLP (64-32-32-10, ReLU), SGD, learning rate {lr:g}")
    for name, r in res.items():
        steps = np.arange(len(r["loss"]))  # step k: the k-th entry, as train.diverged_at counts
        acc = r["test_acc"] * 100
        lab = f"{name} ({acc:.0f}% test)" if np.isfinite(r["loss"][-1]) else name
        kw = dict(linestyle="--") if name.startswith("centring") else {}
        style.curve(ax[0, 0], steps, r["loss"], color=VARIANT_COLORS[name], label=lab,
                    limit=1e3, **kw)
        style.curve(ax[0, 1], steps, r["w_norm"], color=VARIANT_COLORS[name], label=lab,
                    limit=100, **kw)
        style.curve(ax[0, 2], steps, r["b_norm"], color=VARIANT_COLORS[name], label=name,
                    limit=100, **kw)
    style.log_y(ax[0, 0])
    ax[0, 0].set(xlabel="step", ylabel="training loss (nats, smoothed)")
    ax[0, 1].set(xlabel="step", ylabel="hidden ||W|| (Frobenius)")
    ax[0, 2].set(xlabel="step", ylabel="hidden ||b|| (Euclidean)")
    ax[0, 1].legend(loc="upper left", fontsize=style.SMALL)  # where the weights have not grown yet
    return fig


def plot_explore(res, lr, noise, fig=None, ylims=None):
    """The explorable's three panels (hidden ||b||, smoothed loss, hidden ||W||) against SGD step,
    every 3rd step, divergence marked. ``res``: ``loss`` (smoothed), ``b_norm``, ``w_norm`` of
    shape (variant, step) for ``names``. ``ylims``: fixed ``{"b_norm": .., "w_norm": ..}`` (the
    norms on a symmetric-log and a log axis: they grow by orders of magnitude), or None to fit."""
    if fig is None:
        fig, ax = style.figure(3, 1, width=3.2, height=2.7, title=" ")
        style.figure_legend(fig, [style.proxy(n, VARIANT_COLORS[n]) for n in EXPLORE_NAMES],
                            ncol=len(EXPLORE_NAMES))
        ax[0, 0].set(xlabel="step", ylabel="hidden ||b|| (Euclidean)")
        ax[0, 1].set(xlabel="step", ylabel="training loss (nats, smoothed)", ylim=(0, 2.5))
        ax[0, 2].set(xlabel="step", ylabel="hidden ||W|| (Frobenius)")
        for a in ax[0]:
            a.set_xlim(0, EXPLORE_STEPS + 3)
        if ylims is not None:
            style.symlog_y(ax[0, 0])
            ax[0, 0].set_ylim(*ylims["b_norm"])
            style.log_y(ax[0, 2])
            ax[0, 2].set_ylim(*ylims["w_norm"])
    ax = style.axes(fig)
    style.suptitle(fig, f"learning rate {lr:.3g}, input noise std {noise:.2g}")
    steps = np.arange(EXPLORE_STEPS)[::3]  # as train.diverged_at counts
    for j, name in enumerate(EXPLORE_NAMES):
        c = VARIANT_COLORS[name]
        style.curve(ax[0, 0], steps, res["b_norm"][j][::3], color=c, label=name, limit=1e3)
        style.curve(ax[0, 1], steps, res["loss"][j][::3], color=c, label=name, limit=1e3)
        style.curve(ax[0, 2], steps, res["w_norm"][j][::3], color=c, label=name, limit=1e3)
    if ylims is None:
        style.rescale(ax[0, 0])
        style.rescale(ax[0, 2])
    return fig


# Every static figure of the chapter, drawn from its experiments (tests/test_figures.py).
FIGURES = {
    "toy": lambda: plot_toy(toy.toy_measurements()),
    "scaled": lambda: plot_scaled(toy.scaled_measurements()),
    "compare": lambda: plot_compare(network.compare(network.DIGITS_LR, network.DIGITS_STEPS, 32, 0),
                                    lr=network.DIGITS_LR),
}
