r"""Chapter 3's figures: NumPy results in, a matplotlib Figure out (no computing here).

The two explorables' figures (:func:`plot_geometry`, :func:`plot_stabilization`) are drawn in the
retained mode of :mod:`normlab.style`: with ``fig`` given they update its changing parts only, on
fixed axis ranges.
"""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import FuncFormatter, NullLocator

from normlab import style
from normlab.ch3 import experiment, growth, relation, stabilization
from normlab.ch3.experiment import EVAL_EVERY, LRS, STEPS, VARIANTS
from normlab.ch3.growth import GEO_STEPS, GEO_TARGET, V0
from normlab.ch3.stabilization import STEPS as STAB_STEPS
from normlab.measure import diverged_at, trailing_mean

VARIANT_COLORS = {"plain": style.COLORS["plain"], "WN": style.COLORS["wn"],
                  "WN + data init": style.PALETTE["orange"],
                  "WN + mean-only BN": style.COLORS["other"], "BN": style.COLORS["bn"]}
# WN starts as the plain network's function and its curves lie on the plain ones at small rates:
# drawn dashed on top, so that both stay visible.
VARIANT_STYLE = {"WN": {"linestyle": (0, (4, 2.5)), "lw": 1.8}}
FLOOR = 1e-9  # the bottom of the log loss axes (float32 losses reach it)


def _arrow(ax, key, p0, p1, color, lw=2.0):
    """An arrow from ``p0`` to ``p1`` as two keyed lines (shaft and head), so a slider updates it."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    n = float(np.hypot(*d))
    if n < 1e-9:
        style.line(ax, (key, "shaft"), [p0[0]], [p0[1]], color=color, lw=lw)
        style.line(ax, (key, "head"), [p0[0]], [p0[1]], color=color, lw=lw)
        return
    u, perp = d / n, np.array([-d[1], d[0]]) / n
    size = min(0.14, 0.45 * n)
    base = p1 - size * u
    head = np.array([base + 0.5 * size * perp, p1, base - 0.5 * size * perp])
    style.line(ax, (key, "shaft"), [p0[0], base[0]], [p0[1], base[1]], color=color, lw=lw)
    style.line(ax, (key, "head"), head[:, 0], head[:, 1], color=color, lw=lw,
               solid_joinstyle="miter")


def plot_geometry(res, lr, fig=None):
    """One unit in the plane: v, the step dv (orthogonal to v), v', and the next steps; the norm
    against the prediction sqrt(1 + c^2) per step; the loss with WN and without it."""
    if fig is None:
        fig, axes = style.figure(3, 1, width=3.4, height=3.4, title=" ")
        fig.subplots_adjust(left=0.06, wspace=0.42, bottom=0.16)
        ax0, ax1, ax2 = axes[0]
        wn_col = style.COLORS["wn"]
        style.figure_legend(fig, [
            style.proxy("target direction $w^*$", style.COLORS["ref"], lw=0.9, ls=":"),
            style.proxy(r"predicted $\|v_0\|\prod_k\sqrt{1+c_k^2}$", style.COLORS["ref"], lw=1.2),
            style.proxy(r"measured $\|v_k\|$", wn_col, marker="o", ms=4, ls="none"),
            style.proxy("loss with WN (steps on v)", wn_col),
            style.proxy("plain (steps on w)", style.COLORS["plain"])], ncol=5)
        ax0.set_aspect("equal")
        ax0.set_xlim(-1.7, 1.7)
        ax0.set_ylim(-0.45, 3.45)
        th = np.linspace(0, 2 * np.pi, 200)
        ax0.plot(np.cos(th), np.sin(th), color="#999999", lw=0.8, ls="--")
        a = np.deg2rad(GEO_TARGET)
        ax0.plot([0, 3.6 * np.cos(a)], [0, 3.6 * np.sin(a)], color=style.COLORS["ref"], lw=0.9,
                 ls=":", label="target direction $w^*$")
        _arrow(ax0, "v0", (0, 0), V0, style.COLORS["ref"])
        ax0.text(V0[0] * 0.5, -0.22, "$v$", ha="center", fontsize=style.SYMBOL)
        ax0.set_xlabel("$v_1$")
        ax0.set_ylabel("$v_2$")
        ax0.set_title("one step, then the next ones", fontsize=style.PANEL)
        ax1.set_xlim(-0.5, GEO_STEPS + 0.5)
        ax1.set_ylim(0.9, 3.6)
        ax1.set_xlabel("SGD step $k$")
        ax1.set_ylabel(r"$\|v_k\|$")
        ax1.set_title("norm: measured and predicted", fontsize=style.PANEL)
        style.log_y(ax2)
        ax2.set_xlim(0, GEO_STEPS)
        ax2.set_ylim(FLOOR, 1e4)
        ax2.set_xlabel("SGD step $k$")
        ax2.set_ylabel(r"loss $\frac{1}{2}\|w - w^*\|^2$")
        ax2.set_title("the same steps on $w$ itself", fontsize=style.PANEL)
    ax0, ax1, ax2 = style.axes(fig)[0]
    v, norm, c = np.asarray(res["v"], float), np.asarray(res["norm"], float), np.asarray(res["c"], float)
    wn_col, step_col = style.COLORS["wn"], style.COLORS["naive"]
    _arrow(ax0, "dv", v[0], v[1], step_col)
    _arrow(ax0, "v1", (0, 0), v[1], wn_col)
    th = np.linspace(0, 2 * np.pi, 200)
    style.line(ax0, "circle1", norm[1] * np.cos(th), norm[1] * np.sin(th), color=wn_col, lw=0.8,
               ls="--")
    style.line(ax0, "path", v[1:, 0], v[1:, 1], color=wn_col, lw=0.9, marker="o", ms=3, alpha=0.7)
    style.text(ax0, "dv_label", (v[0, 0] + v[1, 0]) / 2 + 0.08, (v[0, 1] + v[1, 1]) / 2, r"$\Delta v$",
               color=step_col, fontsize=style.SYMBOL, ha="left", va="center")
    style.text(ax0, "v1_label", v[1, 0] * 0.55 - 0.18, v[1, 1] * 0.55 + 0.05, "$v'$", color=wn_col,
               fontsize=style.SYMBOL, ha="right")
    k = np.arange(len(norm))
    style.line(ax1, "predicted", k, np.asarray(res["predicted"], float), color=style.COLORS["ref"],
               lw=1.2, label=r"$\|v_0\|\prod_k\sqrt{1+c_k^2}$")
    style.line(ax1, "measured", k, norm, color=wn_col, marker="o", ms=4, ls="none",
               label="measured")
    for name, key, col in (("with WN (steps on v)", "loss_wn", wn_col),
                           ("plain (steps on w)", "loss_plain", style.COLORS["plain"])):
        y = np.asarray(res[key], float)
        style.curve(ax2, k, np.where(np.isfinite(y), np.maximum(y, FLOOR), y), color=col, label=name)
    style.suptitle(fig, f"step size \u03b7 = {float(lr):.3g}:  c = \u2016\u0394v\u2016/\u2016v\u2016 = "
                        f"{c[0]:.3g},  \u221a(1+c\u00b2) = {np.sqrt(1 + c[0] ** 2):.4f},  "
                        f"measured \u2016v'\u2016/\u2016v\u2016 = {norm[1] / norm[0]:.4f}")
    return fig


def plot_stabilization(res, lr, noise, fig=None):
    """Training loss, the first hidden layer's weight norm and its effective learning rate
    against step, with and without WN."""
    if fig is None:
        fig, axes = style.figure(3, 1, width=3.3, height=3.1, title=" ")
        fig.subplots_adjust(left=0.07, wspace=0.38)
        style.figure_legend(fig, [
            style.proxy("plain: \u2016W\u2016, effective rate = \u03b7 (dashed)", style.COLORS["plain"]),
            style.proxy("with WN: \u2016v\u2016", style.COLORS["wn"])], ncol=2)
        labels = ("training loss (nats, 20-step mean)",
                  "mean column norm, 1st hidden layer",
                  r"effective learning rate $\eta g^2/\|v\|^2$")
        for ax, lab, lim in zip(axes[0], labels, ((1e-3, 30), (1.0, 50), (1e-3, 30))):
            style.log_y(ax)
            ax.set_xlim(0, STAB_STEPS)
            ax.set_ylim(*lim)
            ax.set_xlabel("SGD step")
            ax.set_ylabel(lab)
    axes = style.axes(fig)[0]
    style.suptitle(fig, f"learning rate {float(lr):.3g}, gradient noise \u03c3 = {float(noise):.2g} "
                        "per weight")
    t = np.arange(1, STAB_STEPS + 1)
    for name, lab, sub in (("plain", "plain", "\u2016W\u2016"), ("wn", "with WN", "\u2016v\u2016")):
        r = res[name]
        col = style.COLORS[name]
        loss = np.asarray(r["loss"], float)
        k = diverged_at(loss)
        style.curve(axes[0], t, np.minimum(trailing_mean(loss, 20, k), 30.0), color=col, label=lab)
        style.curve(axes[1], t, np.asarray(r["norm"], float), color=col, label=f"{lab}: {sub}",
                    limit=50)
        eff = np.asarray(r["eff"], float)
        style.curve(axes[2], t, eff, color=col, label=lab + (" (= \u03b7)" if name == "plain" else ""),
                    limit=30, ls="--" if name == "plain" else "-")
    return fig


def plot_pythagoras(res, units=(0, 1, 2, 3)):
    """Left: ||v|| of a few units over a run, measured and predicted by the product of
    sqrt(1 + c_k^2). Right: c_k per step for the same units."""
    fig, axes = style.figure(2, 1, width=4.0, height=2.9)
    fig.subplots_adjust(wspace=0.32)
    ax0, ax1 = axes[0]
    t = np.arange(res["norm"].shape[0])
    colors = [style.PALETTE[c] for c in ("blue", "orange", "green", "purple")]
    for col, j in zip(colors, units):
        ax0.plot(t, res["norm"][:, j], color=col, lw=1.4)
        ax0.plot(t[::25], res["predicted"][::25, j], "o", mfc="none", color=col, ms=5)
        ax1.plot(t[1:], np.maximum(res["c"][:, j], 1e-8), color=col, lw=0.9)
    ax0.plot([], [], color="#555555", label="measured")
    ax0.plot([], [], "o", mfc="none", color="#555555", label=r"$\|v_0\|\prod_k\sqrt{1+c_k^2}$")
    ax0.legend(loc="lower right", fontsize=style.SMALL)
    ax0.set_xlabel("SGD step")
    ax0.set_ylabel(r"$\|v_j\|$ (4 units, 1st hidden layer)")
    style.log_y(ax1)
    ax1.set_xlabel("SGD step")
    ax1.set_ylabel(r"$c_k = \|\Delta v_j\|/\|v_j\|$")
    fig.suptitle(f"SGD on the digits, learning rate {res['lr']:g}, float64", fontsize=style.TITLE)
    return fig


def plot_optimizers(res):
    """Mean column norm of the first hidden layer's v over training (relative to the start),
    one panel per optimizer, one line per learning rate (mean over seeds, band: min-max)."""
    fig, axes = style.figure(len(res), 1, width=3.3, height=2.8)
    fig.subplots_adjust(left=0.07, wspace=0.35)
    shades = [style.PALETTE["orange"], style.PALETTE["blue"], style.PALETTE["black"]]
    for ax, (name, r) in zip(axes[0], res.items()):
        rel = r["norm"] / r["norm0"][None, :, None]  # (lr, seed, step)
        t = np.arange(1, rel.shape[-1] + 1)
        for i, lr in enumerate(r["lrs"]):
            ax.fill_between(t, rel[i].min(0), rel[i].max(0), color=shades[i], alpha=0.2, lw=0)
            ax.plot(t, rel[i].mean(0), color=shades[i], label=f"lr {lr:g}")
        ax.axhline(1.0, color="#999999", lw=0.8, ls=":")
        ax.set_xlabel("step")
        ax.set_title(name, fontsize=style.PANEL)
        ax.legend(loc="upper left", fontsize=style.SMALL)
    axes[0, 0].set_ylabel(r"$\|v\|$ / initial (mean column norm)")
    return fig


def plot_batch_noise(res):
    """The noise a mini-batch adds to one example's normalized pre-activation, its standard
    deviation against the batch size, for BN and mean-only BN (WN's is exactly 0 and cannot be
    drawn on the log axis: the caption says so)."""
    fig, axes = style.figure(1, 1, width=4.6, height=3.0)
    ax0 = axes[0, 0]
    m = res["m"]
    for name, lab, col in (("bn", "BN", style.COLORS["bn"]),
                           ("mean_only", "mean-only BN", style.COLORS["other"])):
        ax0.plot(m, res[name]["std"], "o-", color=col, label=lab)
    mm = np.geomspace(m.min(), m.max(), 50)
    ax0.plot(mm, np.sqrt(mm - 1) / mm, color=style.COLORS["ref"], lw=0.9, ls="--",
             label=r"$\sqrt{m-1}/m$")
    ax0.set_xscale("log", base=2)
    style.log_y(ax0)
    ax0.set_yticks([0.125, 0.25, 0.5])
    ax0.set_xticks(list(m))
    ax0.set_xticklabels([str(k) for k in m])
    ax0.set_xlabel("batch size $m$")
    ax0.set_ylabel("noise std (units of the output)")
    ax0.set_title("one example's output, batch to batch", fontsize=style.PANEL)
    ax0.legend(loc="lower left", fontsize=style.SMALL)
    return fig


def plot_noise_tails(res):
    """Excess kurtosis against the batch size of the two noises the paper compares: BN's
    sigma/sigma_B and mean-only BN's minibatch mean (median over units, band: the units' range),
    on a symmetric-log axis (0 is a Gaussian)."""
    fig, axes = style.figure(1, 1, width=4.6, height=3.0)
    ax = axes[0, 0]
    m = res["m"]
    for name, lab, col in (("bn", r"BN: $\sigma/\sigma_B$", style.COLORS["bn"]),
                           ("mean_only", r"mean-only BN: $(\mu_B-\mu)/\sigma$", style.COLORS["other"])):
        k = res[name]["kurtosis"]
        ax.fill_between(m, k.min(1), k.max(1), color=col, alpha=0.2, lw=0)
        ax.plot(m, res[name]["median"], "o-", color=col, label=lab)
    ax.axhline(0.0, color="#999999", lw=0.8, ls=":", label="Gaussian (0)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylim(-1.0, 10 ** np.ceil(np.log10(max(3.0, float(res["bn"]["kurtosis"].max())))))
    ax.set_xticks(list(m))
    ax.set_xticklabels([str(k) for k in m])
    ax.set_xlabel("batch size $m$")
    ax.set_ylabel("excess kurtosis over batches")
    ax.set_title("the tails of the two noises", fontsize=style.PANEL)
    ax.legend(loc="upper right", fontsize=style.SMALL)
    return fig


def _trained(kinds_row):
    return np.all(np.asarray(kinds_row) == "ok")


def plot_experiment(res, kinds, lr_index: int = 2):
    """The five variants: training loss at one learning rate (mean over seeds, band min-max) and
    final test accuracy against learning rate (mean over seeds, bars min-max), drawn only where
    every seed trained; a cross at the bottom (one row per variant) marks a rate where some seed
    diverged, died or stalled.
    ``kinds``: variant -> (lr, seed) status kinds."""
    fig, axes = style.figure(2, 1, width=4.1, height=3.0)
    fig.subplots_adjust(left=0.09, wspace=0.3)
    ax = axes[0, 0]
    t = np.arange(1, STEPS + 1)
    for name in VARIANTS:
        loss = res[name]["loss"][lr_index]  # (seed, step)
        sm = np.stack([trailing_mean(l, 10) for l in loss])
        ax.fill_between(t, sm.min(0), sm.max(0), color=VARIANT_COLORS[name], alpha=0.2, lw=0)
        ax.plot(t, sm.mean(0), color=VARIANT_COLORS[name], label=name, **VARIANT_STYLE.get(name, {}))
    style.log_y(ax)
    ax.set_xlabel("SGD step")
    ax.set_ylabel("training loss (nats, 10-step mean)")
    ax.set_title(f"learning rate {LRS[lr_index]:.3g}, 3 seeds", fontsize=style.PANEL)
    ax = axes[0, 1]
    lrs = np.asarray(LRS)
    for j, name in enumerate(VARIANTS):
        ok = np.array([_trained(kinds[name][i]) for i in range(len(LRS))])
        a = 100 * res[name]["acc"][..., -1]
        mean = np.where(ok, a.mean(1), np.nan)
        ax.errorbar(lrs[ok], mean[ok], yerr=[(a.mean(1) - a.min(1))[ok], (a.max(1) - a.mean(1))[ok]],
                    fmt="o", ms=3, capsize=2, color=VARIANT_COLORS[name], label=name,
                    ls=VARIANT_STYLE.get(name, {}).get("linestyle", "-"),
                    lw=VARIANT_STYLE.get(name, {}).get("lw", 1.6))
        ax.plot(lrs[~ok], np.full((~ok).sum(), 3.0 + 5.0 * j), "x", color=VARIANT_COLORS[name], ms=6,
                mew=1.6)  # stacked, one row per variant, so that each cross shows
    ax.set_xscale("log")
    ax.set_ylim(0, 100)
    ax.axhline(10, color="#999999", lw=0.8, ls=":")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("final test accuracy (%)")
    ax.set_title("accuracy against learning rate", fontsize=style.PANEL)
    handles = [style.proxy(n, VARIANT_COLORS[n], **VARIANT_STYLE.get(n, {})) for n in VARIANTS]
    handles.append(style.proxy("x: some seed did not train", "#555555", marker="x", ls="none"))
    style.figure_legend(fig, handles, ncol=3)
    style.fit(fig)
    return fig


EXP_LRS = (0.1, 1.0, 3.1622776601683795, 10.0)  # the rates drawn in the norm panels


def plot_experiment_norms(res, norm0, kinds):
    """WN's first hidden layer over training at a few learning rates (mean over seeds): the mean
    column norm ||v|| and the effective learning rate eta g^2/||v||^2; a rate whose runs did not
    train is dashed."""
    fig, axes = style.figure(2, 1, width=4.1, height=2.9)
    fig.subplots_adjust(left=0.09, wspace=0.32)
    evals = np.arange(0, STEPS // EVAL_EVERY + 1) * EVAL_EVERY
    cols = [style.PALETTE[c] for c in ("sky", "green", "orange", "vermillion")]
    for col, lr in zip(cols, EXP_LRS):
        i = min(range(len(LRS)), key=lambda j: abs(LRS[j] - lr))
        p = res["WN"]["probe"][i].mean(0)  # (evals, layers, 4), mean over seeds
        norm = np.concatenate([[float(np.mean(norm0))], p[:, 0, 0]])  # g = ||v|| at the start
        eff = LRS[i] * np.concatenate([[1.0], p[:, 0, 1]])
        dead = not _trained(kinds["WN"][i])
        lab = f"{LRS[i]:.3g}" + (" (died)" if dead else "")
        kw = {"ls": "--"} if dead else {}
        axes[0, 0].plot(evals, norm, color=col, label=lab, marker="o", ms=3, **kw)
        axes[0, 1].plot(evals, eff, color=col, label=lab, marker="o", ms=3, **kw)
    axes[0, 0].set_yscale("log")
    axes[0, 0].yaxis.set_minor_locator(NullLocator())
    axes[0, 0].set_yticks([1.5, 2, 3, 4, 6])
    axes[0, 0].yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    style.log_y(axes[0, 1])
    for ax, lab in ((axes[0, 0], r"mean $\|v_j\|$, 1st hidden layer"),
                    (axes[0, 1], r"$\eta\,g^2/\|v\|^2$, 1st hidden layer")):
        ax.set_xlabel("SGD step")
        ax.set_ylabel(lab)
    axes[0, 0].legend(title="learning rate", loc="upper left", fontsize=style.SMALL,
                      title_fontsize=style.SMALL)
    return fig


def _kinds():
    return {n: experiment.kinds(n) for n in VARIANTS}


# Every static figure of the chapter, drawn from its experiments (tests/test_figures.py).
FIGURES = {
    "pythagoras": lambda: plot_pythagoras(growth.pythagoras_run()),
    "optimizers": lambda: plot_optimizers(stabilization.optimizer_growth()),
    "batch_noise": lambda: plot_batch_noise(relation.batch_noise()),
    "noise_tails": lambda: plot_noise_tails(relation.noise_tails()),
    "experiment": lambda: plot_experiment(experiment.experiment_grid(), _kinds()),
    "experiment_norms": lambda: plot_experiment_norms(experiment.experiment_grid(),
                                                      experiment.initial_norms(), _kinds()),
}
