r"""Chapter 2's figures: NumPy results in, a matplotlib Figure out (no computing here)."""

from __future__ import annotations

import numpy as np

from normlab import style
from normlab.measure import diverged_at
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


def _cut(loss, *after):
    """Curves recorded after each step's update (norms), cut where the run's loss blew up, so that
    every panel names the same step: the loss of step k comes before its update, a norm at index
    k - 1 after the update that leads to step k."""
    k = diverged_at(np.asarray(loss, float), 1e3)
    out = []
    for a in after:
        a = np.array(a, dtype=float)
        if k is not None:
            a[max(k - 1, 0):] = np.nan
        out.append(a)
    return out


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
    # narrow panels and one legend under them in the panels' text size: the page shrinks a wide
    # figure to the text column, and a legend inside a panel came out about 6 px high
    fig, ax = style.figure(3, 1, width=2.9, height=2.6,
                           title=f"digits MLP (64-32-32-10, ReLU), SGD, learning rate {lr:g}")
    for name, r in res.items():
        # the loss of step k is taken before its update, the norms after it (at step k + 1): so
        # that a blow-up is labelled with one step number in all three panels
        steps = np.arange(len(r["loss"]))
        w_norm, b_norm = _cut(r["loss"], r["w_norm"], r["b_norm"])
        acc = r["test_acc"] * 100
        lab = f"{name} ({acc:.0f}% test)" if np.isfinite(r["loss"][-1]) else name
        kw = dict(linestyle="--") if name.startswith("centring") else {}
        style.curve(ax[0, 0], steps, r["loss"], color=VARIANT_COLORS[name], label=lab,
                    limit=1e3, **kw)
        style.curve(ax[0, 1], steps + 1, w_norm, color=VARIANT_COLORS[name], label=lab,
                    limit=100, **kw)
        style.curve(ax[0, 2], steps + 1, b_norm, color=VARIANT_COLORS[name], label=name,
                    limit=100, **kw)
    style.log_y(ax[0, 0])
    ax[0, 0].set(xlabel="step", ylabel="training loss (nats, smoothed)")
    ax[0, 1].set(xlabel="step", ylabel="hidden ||W|| (Frobenius)")
    ax[0, 2].set(xlabel="step", ylabel="hidden ||b|| (Euclidean)")
    style.figure_legend(fig, ax[0, 1].get_legend_handles_labels()[0], ncol=2, fontsize=style.PANEL)
    style.fit(fig)
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
    steps = np.arange(EXPLORE_STEPS)[::3]
    for j, name in enumerate(EXPLORE_NAMES):
        c = VARIANT_COLORS[name]
        # one step number for a blow-up in all three panels: each curve is cut where the first of
        # the three leaves its range
        cur = [np.array(res[key][j], dtype=float) for key in ("b_norm", "loss", "w_norm")]
        ks = [diverged_at(v, 1e3) for v in cur]
        k = min((v for v in ks if v is not None), default=None)
        if k is not None:
            for v in cur:
                v[k:] = np.nan
        for a, v in zip(ax[0], cur):
            style.curve(a, steps, v[::3], color=c, label=name, limit=1e3)
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
