r"""Chapter 1's figures: NumPy results in, a matplotlib Figure out (no computing here).

The two explorables' figures (:func:`plot_training`, :func:`plot_drift`) are drawn in the retained
mode of :mod:`normlab.style`: called with ``fig``, they update its changing parts only.
"""

from __future__ import annotations

import numpy as np
from matplotlib.patches import FancyArrowPatch
from matplotlib.ticker import NullLocator

from normlab import style
from normlab.ch1 import jacobian, scale, statistics
from normlab.ch1.statistics import expected_batch_std
from normlab.ch1.training import (DRIFT_EVERY, DRIFT_STEPS, EVAL_EVERY, LOSS_TOP, PERCENTILES,
                                  TRAIN_STEPS, drift_range, drift_status)
from normlab.measure import diverged_at, trailing_mean

def draw_graph():
    """The computational graph of Algorithm 1 for one channel, each edge labelled with its local
    derivative (child with respect to parent); the backward pass walks it from right to left."""
    fig, axes = style.figure(1, 1, width=8.0, height=3.4)
    ax = axes[0, 0]
    ax.set_axis_off()
    ax.set_xlim(-0.5, 8.6)
    ax.set_ylim(-1.0, 3.1)
    pos = {"x": (0, 1), "mu": (2.2, 2.5), "var": (4.4, 2.5), "xhat": (6.2, 1), "y": (8.1, 1),
           "gamma": (6.2, -0.25), "beta": (8.1, -0.25)}
    text = {"x": r"$x_i$", "mu": r"$\mu_\mathcal{B}$", "var": r"$\sigma^2_\mathcal{B}$",
            "xhat": r"$\hat x_i$", "y": r"$y_i$", "gamma": r"$\gamma$", "beta": r"$\beta$"}
    for k, (px, py) in pos.items():
        learned = k in ("gamma", "beta")
        ax.text(px, py, text[k], ha="center", va="center", fontsize=style.BIG, zorder=3,
                bbox=dict(boxstyle="circle,pad=0.3", fc="#FCE9D9" if learned else "#DCEBF7",
                          ec=style.COLORS["plain"] if learned else style.COLORS["bn"], lw=1.5))
    # (parent, child, label, where along the edge, label offset)
    edges = [("x", "mu", r"$\frac{1}{m}$", 0.45, (-0.25, 0.2)),
             ("x", "var", r"$\frac{2(x_i-\mu)}{m}$", 0.3, (0.05, 0.3)),
             ("mu", "var", r"$-\frac{2}{m}\sum_j (x_j-\mu) = 0$", 0.5, (0, 0.3)),
             ("x", "xhat", r"$\frac{1}{\sqrt{\sigma^2+\epsilon}}$", 0.5, (0, -0.3)),
             ("mu", "xhat", r"$\frac{-1}{\sqrt{\sigma^2+\epsilon}}$", 0.72, (-0.45, -0.2)),
             ("var", "xhat", r"$\frac{-(x_i-\mu)}{2(\sigma^2+\epsilon)^{3/2}}$", 0.45, (1.0, 0.12)),
             ("xhat", "y", r"$\gamma$", 0.5, (0, 0.22)),
             ("gamma", "y", r"$\hat x_i$", 0.5, (0.05, -0.3)),
             ("beta", "y", r"$1$", 0.5, (0.2, 0))]
    for a, b, lab, t, (dx, dy) in edges:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=14,
                                     shrinkA=17, shrinkB=17, lw=1.3, color="#444444"))
        ax.text(x0 + t * (x1 - x0) + dx, y0 + t * (y1 - y0) + dy, lab, fontsize=style.SYMBOL,
                ha="center", va="center", color="#222222")
    ax.text(3.2, -0.85, r"forward: left to right.  backward: $\partial\ell/\partial(\mathrm{parent})"
            r" = \sum_{\mathrm{children}} \partial\ell/\partial(\mathrm{child}) \times$ (edge label)",
            ha="center", va="center", fontsize=style.PANEL, color="#222222")
    return fig


def plot_scale_invariance(res):
    """Deviation from exact invariance against the weight scale ``a``, one line per ``eps``."""
    fig, axes = style.figure(2, 1, width=4.1, height=3.0)
    fig.subplots_adjust(left=0.11, wspace=0.38)
    colors = [style.COLORS["ref"], style.COLORS["bn"], style.COLORS["noisy"], style.COLORS["naive"]]
    floor = 1e-17  # plot exact zeros at the bottom of the log axis
    for i, e in enumerate(res["eps"]):
        lab = r"$\epsilon=0$" if e == 0 else rf"$\epsilon=10^{{{int(np.log10(e))}}}$"
        axes[0, 0].loglog(res["a"], np.maximum(res["out"][i], floor), color=colors[i], label=lab)
        axes[0, 1].loglog(res["a"], np.maximum(res["grad"][i], floor), color=colors[i], label=lab)
    axes[0, 0].set_ylabel("relative change (dimensionless)")
    axes[0, 1].set_ylabel("relative error (dimensionless)")
    for ax in axes[0]:
        ax.set_xlabel("weight scale $a$ (dimensionless)")
        ax.axvline(1.0, color="#999999", lw=0.8, ls=":")
        ax.yaxis.set_minor_locator(NullLocator())
    axes[0, 0].legend(loc="center right", fontsize=style.SMALL)
    axes[0, 0].set_title(r"output: $BN(aWu)$ vs $BN(Wu)$", fontsize=style.PANEL)
    axes[0, 1].set_title(r"gradient: $a\nabla_W\ell|_{aW}$ vs $\nabla_W\ell|_W$", fontsize=style.PANEL)
    return fig


def plot_weight_growth(res):
    fig, axes = style.figure(1, 1, width=5.0, height=3.0)
    ax = axes[0, 0]
    t = np.arange(len(res["bn"]["w2"]))
    ax.plot(t, np.sqrt(res["bn"]["w2"]), color=style.COLORS["bn"], label="with BN: measured")
    ax.plot(t[::15], np.sqrt(res["bn"]["predicted"][::15]), "o", mfc="none",
            color=style.COLORS["ref"], label=r"with BN: $\sqrt{\|W_0\|^2+\eta^2\sum_t\|g_t\|^2}$")
    ax.plot(t, np.sqrt(res["plain"]["w2"]), color=style.COLORS["plain"], label="without BN")
    ax.set_xlabel("SGD step")
    ax.set_ylabel(r"$\|W\|_F$ of the hidden layer")
    ax.set_title(f"hidden weight norm under SGD (learning rate {res['lr']:g}, $\\epsilon=0$)")
    top = max(np.sqrt(res["plain"]["w2"]).max(), np.sqrt(res["bn"]["w2"]).max())
    lo = np.sqrt(res["bn"]["w2"][0])
    ax.set_ylim(lo - 0.05 * (top - lo), top + 0.8 * (top - lo))
    ax.legend(loc="upper left", fontsize=style.SMALL)
    return fig


def plot_jacobian(res, act: str = "sigmoid"):
    """Left: histogram of log10 singular values with and without BN. Right: the eigenvalues of
    the correlation matrix of a BN layer's normalized input (all 1 if it were uncorrelated)."""
    fig, axes = style.figure(2, 1, width=4.1, height=3.0)
    ax = axes[0, 0]
    bins = np.linspace(-3, 1, 41)
    for name, lab in (("plain", "without BN"), ("bn", "with BN")):
        ls = np.log10(np.maximum(res[name].ravel(), 1e-3))
        ax.hist(ls, bins=bins, color=style.COLORS[name], alpha=0.55, label=lab)
    ax.axvline(0.0, color=style.COLORS["ref"], lw=1, ls="--")
    ax.set_xlabel(r"$\log_{10}$ singular value of a layer Jacobian")
    ax.set_ylabel("count (all layers, 16 examples)")
    ax.set_title(f"layer Jacobians, {act} MLP at init")
    ax.legend(loc="upper left")
    ax = axes[0, 1]
    ev = res["corr_eig"]
    for i in range(1, ev.shape[0]):
        ax.plot(np.arange(1, ev.shape[1] + 1), np.sort(ev[i])[::-1], color=style.COLORS["bn"],
                alpha=0.35 + 0.6 * i / ev.shape[0], lw=1.2)
    ax.axhline(1.0, color=style.COLORS["ref"], lw=1, ls="--", label="uncorrelated (identity)")
    style.log_y(ax)
    ax.set_xlabel("eigenvalue rank")
    ax.set_ylabel(r"eigenvalue of $\mathrm{Corr}[\hat x_l]$")
    ax.set_title("normalized inputs are correlated")
    ax.legend(loc="upper right")
    return fig


def plot_std_bias(res):
    fig, axes = style.figure(1, 1, width=5.4, height=3.2)
    ax = axes[0, 0]
    m = res["m"]
    mm = np.arange(2, m.max() + 1)
    ax.plot(mm, (mm - 1) / mm, color=style.COLORS["bn"], lw=1, label=r"exact $(m-1)/m$")
    ax.plot(m, res["var_biased"], "o", color=style.COLORS["bn"],
            label=r"$E[\sigma_B^2]/\sigma^2$ (uncorrected), measured")
    ax.plot(m, res["var_unbiased"], "s", color=style.COLORS["noisy"],
            label=r"$\frac{m}{m-1}E[\sigma_B^2]/\sigma^2$ (corrected), measured")
    ax.plot(mm, [expected_batch_std(k) ** 2 for k in mm], color=style.COLORS["plain"], lw=1,
            label=r"exact $(E[\sigma_B]/\sigma)^2$")
    ax.plot(m, res["std_mean"] ** 2, "^", color=style.COLORS["plain"],
            label=r"$(E[\sigma_B]/\sigma)^2$ (averaged stds), measured")
    ax.axhline(1.0, color=style.COLORS["ref"], lw=0.8, ls="--")
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(m))
    ax.set_xticklabels([str(k) for k in m])
    ax.set_xlabel("batch size $m$")
    ax.set_ylabel("estimate / true variance")
    ax.set_title(f"variance estimates from batches ({res['n_batches']} batches per $m$)")
    ax.legend(loc="lower right", fontsize=style.SMALL)
    return fig


def plot_running(res):
    fig, axes = style.figure(1, 1, width=5.4, height=3.0)
    ax = axes[0, 0]
    t = np.arange(len(res["unbiased"]["mean"]))
    for name, col, lab in (("unbiased", style.COLORS["noisy"], r"tracks $\frac{m}{m-1}\sigma_B^2$"),
                           ("biased", style.COLORS["plain"], r"tracks $\sigma_B^2$ (biased)")):
        r = res[name]
        ax.fill_between(t, r["q10"], r["q90"], color=col, alpha=0.18, lw=0)
        ax.plot(t, r["mean"], color=col, label=f"{lab}: mean of {res['runs']} runs")
    m = res["m"]
    ax.axhline(1.0, color=style.COLORS["ref"], lw=0.8, ls="--", label="true variance")
    ax.axhline((m - 1) / m, color=style.COLORS["plain"], lw=0.8, ls=":",
               label=f"(m-1)/m = {(m - 1) / m:.2f}")
    ax.set_xlabel("update (batches seen)")
    ax.set_ylabel("running variance / true variance")
    ax.set_title(f"running variance, batch size m = {m}, momentum {res['momentum']}")
    ax.legend(loc="lower right", fontsize=style.SMALL)
    return fig


def plot_training(res, lr, batch_size, fig=None):
    """Training loss (10-step trailing mean) and test accuracy, with and without BN."""
    if fig is None:
        fig, axes = style.figure(2, 1, width=4.0, height=3.1, title=" ")
        fig.subplots_adjust(left=0.09, wspace=0.3)
        ax0, ax1 = axes[0]
        style.figure_legend(fig, [style.proxy("without BN", style.COLORS["plain"]),
                                  style.proxy("with BN", style.COLORS["bn"])], ncol=2)
        style.log_y(ax0)
        ax0.set_ylim(1e-2, 1.5 * LOSS_TOP)
        ax0.set_xlim(0, TRAIN_STEPS + 2)
        ax0.set_xlabel("SGD step")
        ax0.set_ylabel("training loss (nats, 10-step mean)")
        ax1.set_ylim(0, 100)
        ax1.set_xlim(0, TRAIN_STEPS + 2)
        ax1.set_xlabel("SGD step")
        ax1.set_ylabel("test accuracy (%)")
        ax1.axhline(10, color="#999999", lw=0.8, ls=":")
    ax0, ax1 = style.axes(fig)[0]
    style.suptitle(fig, f"learning rate {float(lr):.3g}, batch size {int(batch_size)}")
    steps = np.arange(1, TRAIN_STEPS + 1)
    evals = np.arange(1, TRAIN_STEPS // EVAL_EVERY + 1) * EVAL_EVERY
    for name, lab in (("plain", "without BN"), ("bn", "with BN")):
        loss = np.asarray(res[name]["loss"], dtype=float)
        k = diverged_at(loss)
        # drawn clipped to the axes, so a blow-up's last point and its mark stay in view
        style.curve(ax0, steps, np.minimum(trailing_mean(loss, 10, k), LOSS_TOP),
                    color=style.COLORS[name], label=lab)
        acc = 100 * np.asarray(res[name]["acc"], dtype=float)
        ok = evals <= (TRAIN_STEPS if k is None else k)  # stop at divergence
        if k is not None and not ok.any():
            ok = evals < 0
        style.line(ax1, name, evals[ok], acc[ok], color=style.COLORS[name], label=lab)
    return fig


def plot_drift(res, lr, fig=None, ylims=None):
    """The 15th/50th/85th percentiles of one sigmoid unit's input over training, without and with
    BN, each panel titled with the final test accuracy, whether the run trained and the range its
    percentiles sweep (:func:`normlab.ch1.training.drift_range`). ``ylims``: one fixed ``(lo, hi)``
    for both panels on a symmetric-log axis (the explorable's, from its whole grid), or None to
    fit each panel to the data. ``res["lr_shown"]``, when present and not ``lr``: the learning
    rate of the precomputed run shown (the live view off the grid)."""
    if fig is None:
        fig, axes = style.figure(2, 1, width=4.0, height=2.9, title=" ")
        fig.subplots_adjust(left=0.09, wspace=0.3)
        for ax in axes[0]:
            ax.set_xlabel("SGD step")
            ax.set_ylabel("input to the sigmoid")
            ax.set_xlim(0, DRIFT_STEPS + 5)
            if ylims is not None:
                style.symlog_y(ax)
                ax.set_ylim(*ylims)
    axes = style.axes(fig)
    shown = float(res.get("lr_shown", lr))
    head = f"learning rate {float(lr):.3g}"
    if not np.isclose(shown, float(lr), rtol=1e-6):
        head += f" (showing the precomputed run at {shown:.3g}, the nearest)"
    style.suptitle(fig, head)
    t = np.arange(1, DRIFT_STEPS // DRIFT_EVERY + 1) * DRIFT_EVERY
    for ax, name, lab in ((axes[0, 0], "plain", "without BN"), (axes[0, 1], "bn", "with BN")):
        q = np.asarray(res[name]["q"], dtype=float)
        col = style.COLORS[name]
        for j, (p, lw) in enumerate(zip(PERCENTILES, (1.0, 2.2, 1.0))):
            style.curve(ax, t, q[:, j], color=col, label=f"{p:.0f}th percentile", lw=lw,
                        ls="-" if j == 1 else "--")
        acc = np.asarray(res[name]["acc"], dtype=float)
        fin = f"{100 * acc[-1]:.0f}%" if np.isfinite(acc[-1]) else "n/a"
        r = {k: np.asarray(v) for k, v in res[name].items()}
        state = "trained" if drift_status(r).ok else "did not learn"
        style.title(ax, f"{lab}: {state}, test acc. {fin}\nrange swept {drift_range(q):.2f}")
        if ylims is None:
            style.rescale(ax)
    style.legend(axes[0, 0], loc="best", fontsize=style.SMALL)
    return fig


# Every static figure of the chapter, drawn from its experiments (tests/test_figures.py checks
# that each one is legible: no text on top of text, nothing cut off).
FIGURES = {
    "graph": draw_graph,
    "scale_invariance": lambda: plot_scale_invariance(scale.scale_invariance()),
    "weight_growth": lambda: plot_weight_growth(scale.weight_growth()),
    "jacobian": lambda: plot_jacobian(jacobian.jacobian_spectra("sigmoid", 0.1)),
    "std_bias": lambda: plot_std_bias(statistics.std_bias()),
    "running": lambda: plot_running(statistics.running_trajectories()),
}
