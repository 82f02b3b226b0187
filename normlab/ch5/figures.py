r"""Chapter 5's figures: NumPy results in, a matplotlib Figure out (no computing here).

The functions the explorables use (:func:`plot_noisy`, :func:`plot_landscape`) are drawn in the
retained mode of :mod:`normlab.style`: called with ``fig``, they update its changing parts only.
"""

from __future__ import annotations

import numpy as np

from normlab import style
from normlab.ch5.experiments import ACT_LAYER, KINDS, PERCENTILES, SEEDS, SMOOTH
from normlab.measure import trailing_mean

LABELS = {"standard": "standard", "bn": "BatchNorm", "l1": r"$\ell_1$ norm", "l2": r"$\ell_2$ norm",
          "linf": r"$\ell_\infty$ norm", "bn+noise": "BatchNorm + noise",
          "standard+noise": "standard + noise"}


KIND_COLORS = {"standard": style.COLORS["plain"], "bn": style.COLORS["bn"],
               "l1": style.PALETTE["orange"], "l2": style.PALETTE["purple"],
               "linf": style.PALETTE["sky"], "bn+noise": style.COLORS["noisy"],
               "standard+noise": style.PALETTE["black"]}


# Figure 5.3's per-seed markers: hues that the figure's other panels do not use for a network
SEED_COLORS = (style.PALETTE["black"], style.PALETTE["orange"], style.PALETTE["purple"],
               style.PALETTE["sky"])
SEED_MARKERS = ("o", "s", "^", "D")


def _band(ax, key, x, lo, hi, color, label):
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    ok = np.isfinite(lo) & np.isfinite(hi)
    style.band(ax, key, np.asarray(x)[ok], lo[ok], hi[ok], color=color, alpha=0.35, lw=0)
    return style.curve(ax, x, hi, color=color, label=label, key=key, lw=1.0)


def plot_landscape(E: dict, names=("standard", "bn"), title=None, fig=None, ylims=None):
    """Three panels over training: the loss along the gradient (min-max band over the probe step
    sizes), the gradient change (band) and the effective beta-smoothness. ``ylims``: fixed
    ``{"probe_loss", "probe_dgrad", "beta"}`` ranges (all three on log axes; the explorable's,
    from its whole grid), or None to fit the data."""
    if fig is None:
        fig, ax = style.figure(3, 1, width=3.6, height=3.0, title=title)
        style.figure_legend(fig, [style.proxy(LABELS[n], KIND_COLORS[n]) for n in names],
                            ncol=len(names))
        ax[0, 0].set(xlabel="training step", ylabel="loss along gradient (nats)", title="loss landscape")
        ax[0, 1].set(xlabel="training step", ylabel=r"$\|\nabla L(\theta-\eta G)-G\|_2$",
                     title="gradient predictiveness")
        ax[0, 2].set(xlabel="training step", ylabel=r"max $\|\Delta\nabla L\|/\|\Delta\theta\|$",
                     title=r"effective $\beta$-smoothness")
        for a in ax[0, 1:]:
            style.log_y(a)
        for a in ax[0]:
            a.set_xlim(E["probe_steps"][0] - 2, E["probe_steps"][-1] + 2)
        if ylims is not None:
            style.log_y(ax[0, 0])
            for a, k in zip(ax[0], ("probe_loss", "probe_dgrad", "beta")):
                a.set_ylim(*ylims[k])
    elif title is not None:
        style.suptitle(fig, title)
    ax = style.axes(fig)
    t = E["probe_steps"]
    for n in names:
        h, c = E[n], KIND_COLORS[n]
        _band(ax[0, 0], n, t, h["probe_loss"].min(1), h["probe_loss"].max(1), c, LABELS[n])
        _band(ax[0, 1], n, t, h["probe_dgrad"].min(1), h["probe_dgrad"].max(1), c, LABELS[n])
        style.curve(ax[0, 2], t, h["beta"], color=c, label=LABELS[n], lw=1.2)
    if ylims is None:  # the static figure: fit its margins to its labels and legend once
        for a in ax[0]:
            style.rescale(a)
        style.fit(fig)
    return fig


def plot_noisy(E: dict, title=None, fig=None, ylims=None):
    """Training loss of the four noisy-BN runs (running mean over ``SMOOTH`` steps) and the
    ``PERCENTILES`` of one unit's output in hidden layer ``ACT_LAYER + 1`` (after the noise, the
    input of the ReLU) over training, on each step's batch.
    ``ylims``: fixed ``{"loss", "act_pct"}`` ranges (the explorable's), or None to fit the data;
    with fixed ranges a curve that blows up is drawn up to the top of its panel and marked."""
    if fig is None:
        fig, ax = style.figure(2, 1, width=4.2, height=3.2, title=title)
        kinds = ("standard", "bn", "bn+noise", "standard+noise")
        style.figure_legend(fig, [style.proxy(LABELS[n], KIND_COLORS[n]) for n in kinds], ncol=4)
        ax[0, 0].set(xlabel="training step", ylabel="training loss (nats)", title="training")
        ax[0, 1].set(xlabel="training step", ylabel="layer output y (a.u.)",
                     title=f"one unit of layer {ACT_LAYER + 1}: "
                           + "-".join(str(p) for p in PERCENTILES) + "th pct")
        for a in ax[0]:
            a.set_xlim(E["steps"][0] - 2, E["steps"][-1] + 2)
        if ylims is not None:
            ax[0, 0].set_ylim(*ylims["loss"])
            ax[0, 1].set_ylim(*ylims["act_pct"])
    elif title is not None:
        style.suptitle(fig, title)
    ax = style.axes(fig)
    t = E["steps"]
    top = np.inf if ylims is None else ylims["loss"][1]
    for n in ("standard", "bn", "bn+noise", "standard+noise"):
        loss = np.asarray(E[n]["loss"], float)
        smooth = trailing_mean(loss, SMOOTH, style.diverged_at(loss))
        style.curve(ax[0, 0], t, np.minimum(smooth, top), color=KIND_COLORS[n], label=LABELS[n])
    for n in ("standard", "bn", "bn+noise"):
        p = np.asarray(E[n]["act_pct"], float)
        ok = np.all(np.isfinite(p), axis=1)
        style.band(ax[0, 1], n, t[ok], p[ok, 0], p[ok, 2], color=KIND_COLORS[n], alpha=0.25, lw=0)
        style.curve(ax[0, 1], t, p[:, 1], color=KIND_COLORS[n], lw=1.0, label=LABELS[n])
    if ylims is None:  # the static figure: fit its margins to its labels once
        for a in ax[0]:
            style.rescale(a)
        style.fit(fig)
    return fig


def plot_ics(layer_ratios, D: dict, lrs=None):
    r"""Figure 5.3. Left: the MLP's ICS per unit step (Definition 2.1, divided by
    :math:`\eta\|G\|`), BN over standard, per weight layer (one hue, marker and line per seed; layer 1 has none by
    definition). Right, one panel per learning rate: the distribution of the deep linear network's
    :math:`\cos\angle(G, G')` over all layers and checkpoints (seed ``D["seed"]``), standard vs
    BN, as the share of (layer, checkpoint) pairs at or below each cosine: a curve hugging the
    right edge means almost no ICS."""
    lrs = list(lrs or D["sweep"])
    fig, ax = style.figure(1 + len(lrs), 1, width=2.9, height=2.6)
    a = ax[0, 0]
    layer_ratios = np.asarray(layer_ratios, float)
    L = layer_ratios.shape[1]
    for k, r in enumerate(layer_ratios):  # one hue, marker and line per seed: overlaps stay readable
        a.plot(np.arange(2, L + 1) + 0.1 * (k - (len(layer_ratios) - 1) / 2), r[1:],
               SEED_MARKERS[k % len(SEED_MARKERS)], ls="-", lw=0.8, ms=4.5,
               color=SEED_COLORS[k % len(SEED_COLORS)], label=f"seed {SEEDS[k]}")
    a.axhline(1.0, color=style.COLORS["ref"], lw=0.8)
    style.log_y(a)
    a.set_yticks([0.1, 0.3, 1, 3, 10])
    a.set_yticklabels(["0.1", "0.3", "1", "3", "10"])
    a.set_ylim(0.1, 10)
    a.set(xlabel="MLP weight layer", ylabel="ICS per unit step, BN / standard",
          title="MLP: BN / standard", xticks=np.arange(2, L + 1))
    a.legend(fontsize=style.SMALL)
    for j, lr in enumerate(lrs):
        b = ax[0, 1 + j]
        for n in ("standard", "bn"):
            c = np.sort(np.asarray(D["sweep"][lr][n]["ics_cos"], float).ravel())
            c = c[np.isfinite(c)]
            b.step(c, np.arange(1, c.size + 1) / c.size, where="post", color=KIND_COLORS[n],
                   label=LABELS[n])
        b.set(xlabel=r"$\cos\angle(G, G')$", ylabel="share of layers x checkpoints",
              title=f"DLN, lr {lr:g}: cosine", xlim=(-1.05, 1.05), ylim=(0, 1.02))
        b.legend(fontsize=style.SMALL, loc="upper left")
    return fig


def plot_lp_landscape(E: dict, names=("l1", "l2", "linf")):
    """Figure 5.8: small multiples, one panel per l_p network: the loss variation along the
    gradient (max - min over the probe step sizes) over training, beside the standard and the BN
    network."""
    fig, ax = style.figure(len(names), 1, width=2.9, height=2.6)
    t = E["probe_steps"]
    for a, n in zip(ax[0], names):
        for m in ("standard", "bn", n):
            a.plot(t, np.ptp(np.asarray(E[m]["probe_loss"], float), axis=1), color=KIND_COLORS[m],
                   label=LABELS[m], lw=1.4)
        style.log_y(a)
        a.set(xlabel="training step", ylabel="loss variation (nats)", title=LABELS[n])
        a.legend(fontsize=style.SMALL)
    return fig


def plot_lp(E: dict):
    """Training loss (running mean) of the standard, BN and l_p-normalized MLPs."""
    fig, ax = style.figure(1, 1, width=4.5, height=3.0)
    for n in ("standard",) + KINDS[1:]:
        style.curve(ax[0, 0], E["steps"], trailing_mean(E[n]["loss"], SMOOTH), color=KIND_COLORS[n],
                         label=LABELS[n])
    ax[0, 0].set(xlabel="training step", ylabel="training loss (nats)",
                 title=r"BN and $\ell_p$ normalizations")
    ax[0, 0].legend()
    return fig


def plot_dln_loss(D: dict):
    """Figure 5.4: training loss of the deep linear network, standard vs BN, each divided by its own
    first loss (BN changes the loss at initialization)."""
    fig, ax = style.figure(1, 1, width=4.0, height=2.8)
    for n in ("standard", "bn"):
        loss = np.asarray(D[n]["loss"], float)
        style.curve(ax[0, 0], D["steps"], loss / loss[0], color=KIND_COLORS[n], label=LABELS[n])
    style.log_y(ax[0, 0])
    ax[0, 0].set(xlabel="gradient step (full batch)", ylabel="loss / its first value",
                 title=f"25-layer deep linear network, lr {D['lr']:g}")
    ax[0, 0].legend()
    return fig


def _E():
    from normlab.ch5.experiments import mlp_experiment
    return mlp_experiment()


def _D():
    from normlab.ch5.dln import dln_experiment
    return dln_experiment()


# Every static figure of the chapter, drawn from its experiments (tests/test_figures.py checks
# that each one is legible: no text on top of text, nothing cut off).
def _ratios():
    from normlab.ch5.evidence import ics_layers
    from normlab.ch5.experiments import mlp_seeds
    return [ics_layers(E)["rel"] for E in mlp_seeds()]


FIGURES = {
    "noisy": lambda: plot_noisy(_E()),
    "ics": lambda: plot_ics(_ratios(), _D()),
    "dln_loss": lambda: plot_dln_loss(_D()),
    "landscape": lambda: plot_landscape(_E()),
    "lp": lambda: plot_lp(_E()),
    "lp_landscape": lambda: plot_lp_landscape(_E()),
}
