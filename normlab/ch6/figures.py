r"""Chapter 6's figures: NumPy results in, a matplotlib Figure out (no training here). The
explorables' plots (:func:`plot_projection`, :func:`plot_microbatch`) draw in the retained mode of
:mod:`normlab.style`."""

from __future__ import annotations

import matplotlib.ticker
import numpy as np

from normlab import style

METHOD_COLORS = {"none": style.COLORS["plain"], "BN": style.COLORS["bn"], "LN": style.COLORS["ln"],
                 "GN": style.PALETTE["green"], "GN+WS": style.PALETTE["black"]}
MARKERS = {"none": "v", "BN": "o", "LN": "D", "GN": "s", "GN+WS": "^"}


def plot_smallbatch(tab: dict, gaps: dict | None = None):
    """Top: test error (%) against batch size, each method at its own best learning rate per batch
    size: the mean over seeds (markers, line) and every seed (small dots), log axes. Bottom, with
    ``gaps`` ({method: {batch: :func:`normlab.ch6.smallbatch.paired` record}}): each method minus
    GN, paired by seed (mean and 95% interval) against batch size, with a line at 0."""
    # stacked, not side by side: a phone (390 px) shows the whole figure
    fig, ax = style.figure(1, 2 if gaps else 1, width=3.6, height=2.7)
    a = ax[0, 0]
    b = np.asarray(tab["batches"], float)
    offset = lambda k: b * (1 + 0.05 * (k - 2))   # a small offset per method, so the dots do not cover each other
    for k, (m, err) in enumerate(tab["error"].items()):
        e = [100 * np.asarray(v, float) for v in err]   # per batch size: (seeds,), seeds may differ
        x = offset(k)
        open_marker = {"markerfacecolor": "white", "zorder": 3} if m == "GN" else {}   # GN, the reference, on top
        a.plot(x, [v.mean() for v in e], color=METHOD_COLORS[m], marker=MARKERS[m], label=m, **open_marker)
        a.plot(np.repeat(x, [len(v) for v in e]), np.concatenate(e), linestyle="none", marker=".", markersize=3,
               color=METHOD_COLORS[m], alpha=0.6)
    for axis in ax[:, 0]:
        axis.set_xscale("log", base=2)
        axis.set_xticks(b, [str(int(v)) for v in b])
    ax[-1, 0].set_xlabel("examples per batch")
    a.set_yscale("log")
    lo, hi = a.get_ylim()
    ticks = [t for t in (1, 2, 3, 5, 10, 20, 30, 50) if lo <= t <= hi]
    a.set_yticks(ticks, [str(t) for t in ticks])
    a.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    a.set(ylabel="test error (%)", title="each method")
    a.legend(fontsize=style.SMALL, ncol=2)
    if gaps:
        g = ax[1, 0]
        g.axhline(0.0, color=METHOD_COLORS["GN"], lw=1.0)
        for k, (m, per) in enumerate(gaps.items()):
            x = offset(k)
            mean = np.asarray([per[v]["mean"] for v in tab["batches"]])
            err = np.asarray([[per[v]["mean"] - per[v]["lo"] for v in tab["batches"]],
                              [per[v]["hi"] - per[v]["mean"] for v in tab["batches"]]])
            g.errorbar(x, mean, yerr=err, color=METHOD_COLORS[m], marker=MARKERS[m], capsize=2, lw=1,
                       label=f"{m} \u2212 GN")
        g.set(ylabel="minus GN (points)", title="paired by seed, 95% interval")
        g.legend(fontsize=style.SMALL)
    return fig


def plot_trajectory(runs: dict, fan_ins):
    """Left: each hidden layer's mean sigma_W over training (GN+WS, He init; 3 seeds) with the
    level 1 where 1/sigma_W stops amplifying. Right: ||W||/||W_0|| of layer 2 for GN+WS with
    plain SGD and with weight decay."""
    fig, ax = style.figure(2, 1, width=3.8, height=3.2)
    he = runs["he"]
    t = np.arange(he["sigma"].shape[1]) * runs["every"]
    colors = (style.PALETTE["blue"], style.PALETTE["orange"])
    for layer in range(he["sigma"].shape[2]):
        for s in range(he["sigma"].shape[0]):
            ax[0, 0].plot(t, he["sigma"][s, :, layer], color=colors[layer],
                          label=f"layer {layer + 1} (I = {fan_ins[layer]})" if s == 0 else None)
    ax[0, 0].axhline(1.0, color=style.COLORS["ref"], lw=0.8, ls="--")
    ax[0, 0].text(t[-1], 0.93, r"$\sigma_W = 1$", ha="right", va="top", fontsize=style.SMALL)
    ax[0, 0].set(xlabel="SGD step", ylabel=r"mean $\sigma_W$", ylim=(0, 1.1), title=r"$\sigma_W$ under GN+WS")
    ax[0, 0].legend(fontsize=style.SMALL, loc="center right")
    for name, color, label in (("he", style.PALETTE["green"], "plain SGD"),
                               ("decay", style.PALETTE["vermillion"], "SGD + weight decay")):
        r = runs[name]
        for s in range(r["norm"].shape[0]):
            ax[0, 1].plot(t, r["norm"][s, :, 1] / r["norm"][s, 0, 1], color=color,
                          label=label if s == 0 else None)
    ax[0, 1].set(xlabel="SGD step", ylabel=r"$\|W\|/\|W_0\|$ (layer 2)", title=r"$\|W\|$ under GN+WS")
    ax[0, 1].legend(fontsize=style.SMALL)
    return fig


# ------------------------------------------------------------------------------------------------
# Explorables
# ------------------------------------------------------------------------------------------------
def plot_projection(res: dict, fig=None, sigma=None):
    """The WS projection for one unit with a small fan-in: the weight W, the gradient g with
    respect to W_hat and the gradient with respect to W (Pg/sigma), per weight; and the norm of
    the gradient against sigma_W with the current point."""
    if fig is None:
        fig, ax = style.figure(2, 1, width=3.8, height=3.2)
        I = len(res["W"])
        ax[0, 0].set(xlabel="weight j of the unit's fan-in", ylabel="value (symmetric log axis)",
                     xticks=np.arange(I))
        style.symlog_y(ax[0, 0], 1.0)
        ax[0, 0].set_ylim(*res["ylim"])
        ax[0, 0].axhline(0, color=style.COLORS["ref"], lw=0.6)
        ax[0, 1].plot(res["sigmas"], res["curve"], color=style.PALETTE["green"], label=r"$\|\nabla_W\ell\|$")
        ax[0, 1].axhline(res["g_norm"], color=style.COLORS["ref"], lw=0.8, ls="--", label=r"$\|g\|$")
        ax[0, 1].set(xscale="log", yscale="log", xlabel=r"$\sigma_W$", ylabel="gradient norm")
        ax[0, 1].legend(fontsize=style.SMALL, loc="upper right")
    ax = style.axes(fig)
    I = len(res["W"])
    j = np.arange(I)
    style.line(ax[0, 0], "W", j - 0.2, res["W"], color=style.PALETTE["blue"], marker="o", ls="none",
               label="W")
    style.line(ax[0, 0], "g", j, res["g"], color=style.PALETTE["black"], marker="s", ls="none",
               label=r"$g = \partial\ell/\partial\hat W$")
    style.line(ax[0, 0], "gw", j + 0.2, res["grad_w"], color=style.PALETTE["green"], marker="^",
               ls="none", label=r"$\nabla_W\ell = Pg/\sigma_W$")
    style.legend(ax[0, 0], fontsize=style.SMALL, loc="lower left")
    style.line(ax[0, 1], "now", [res["sigma"]], [res["grad_norm"]], color=style.PALETTE["vermillion"],
               marker="o", ls="none", markersize=8)
    style.title(ax[0, 0], rf"$\sigma_W$ = {float(res['sigma']):.3g}, cos($\nabla_W\ell$, $Pg$) = "
                f"{float(res['cos']):.4f}", fontsize=style.PANEL)
    style.title(ax[0, 1], rf"$\|\nabla_W\ell\| / \|g\|$ = {float(res['grad_norm'] / res['g_norm']):.3g}",
                fontsize=style.PANEL)
    return fig


#: the explorable's loss curves are trailing means over this many steps, drawn where the window is
#: full (a shorter window at the start bends the curve at this step)
SMOOTH = 15


def plot_microbatch(res: dict, fig=None, batch=None, rate=None):
    """Training loss (a trailing mean over :data:`SMOOTH` steps, drawn from step SMOOTH; mean over
    seeds) of BN, GN and GN+WS at one batch size and one learning rate of that batch size's grid;
    the legend gives each method's test error."""
    names = res["names"] if "names" in res else ("BN", "GN", "GN+WS")
    if fig is None:
        fig, ax = style.figure(1, 1, width=5.4, height=3.4)
        ax[0, 0].set(xlabel="SGD step", ylabel="training loss (nats, smoothed)", ylim=(0.0, 2.5))
    ax = style.axes(fig)
    t = np.arange(res["loss"].shape[-1])[SMOOTH - 1:]
    for k, m in enumerate(("BN", "GN", "GN+WS")):
        err = res["error"][k]
        lab = f"{m}: test error {100 * float(err):.1f}%" if np.isfinite(err) else f"{m}: did not train"
        style.curve(ax[0, 0], t, np.asarray(res["loss"][k])[SMOOTH - 1:], color=METHOD_COLORS[m], label=lab, key=m)
    style.legend(ax[0, 0], fontsize=style.SMALL, loc="upper right")
    style.title(ax[0, 0], f"batch {int(res['batch'])}, learning rate {float(res['lr']):.3g}",
                fontsize=style.PANEL)
    return fig


def plot_smoothing(panels: list):
    """The landscape probes' ratios (log axis), one panel per view, one row per comparison:
    ``panels`` is a list of ``(title, rows)``, ``rows`` a list of ``(label, agg)`` with ``agg``
    :func:`normlab.ch6.smoothing.aggregate`'s dict; per statistic the geometric mean (marker) and
    its 95% interval (bar); below 1 the first method of the label is smoother. Narrow (a phone
    shows it whole)."""
    from normlab.ch6.smoothing import NAMES, STATS
    n = max(len(rows) for _, rows in panels)
    fig, ax = style.figure(1, len(panels), width=3.3, height=0.5 * n + 0.75, sharex=True)
    colors = (style.PALETTE["orange"], style.PALETTE["black"], style.PALETTE["blue"], style.PALETTE["green"])
    for p, (head, rows) in enumerate(panels):
        a = ax[p, 0]
        for k, (key, mk) in enumerate(zip(STATS, "osD^")):
            for i, (_, g) in enumerate(rows):
                v, y = g[key], i + 0.18 * (k - 1.5)
                if np.isfinite(v["hi"]):
                    a.plot([v["lo"], v["hi"]], [y, y], color=colors[k], linewidth=1)
                a.plot([v["gm"]], [y], linestyle="none", marker=mk, markersize=4, color=colors[k],
                       label=NAMES[key] if i == 0 and p == 0 else None)
        a.axvline(1.0, color="0.5", linestyle="--", linewidth=1)
        a.set_xscale("log")
        a.set_yticks(range(len(rows)), [lab for lab, _ in rows])
        a.set_ylim(len(rows) - 0.5, -0.5)
        style.title(a, head, fontsize=style.SMALL)
    ax[-1, 0].set(xlabel="ratio (below 1: first is smoother)")
    style.figure_legend(fig, ax[0, 0].get_legend_handles_labels()[0], ncol=2)
    style.fit(fig)
    return fig


def trajectory_runs() -> dict:
    """The runs Figure 6.2 draws: GN+WS with He init, plain SGD and with weight decay."""
    from normlab.ch6 import claims, trajectory
    return {"he": trajectory.run(), "decay": trajectory.run(weight_decay=claims.DECAY),
            "every": trajectory.EVERY}


def _fan_ins():
    from normlab.ch6 import trajectory
    return trajectory.fan_ins()


def _table():
    from normlab.ch6 import smallbatch
    return smallbatch.table()


def smoothing_rows() -> list:
    """The panels Figure 6.5 draws: each run at its own best rate, and every method at the one
    shared rate; rows: the two WS pairs, the control (GN over no normalization) and BN over none,
    every method probed with the same steps."""
    from normlab.ch6 import smoothing as sm
    pairs = sm.PAIRS + (sm.CONTROL, ("BN", "none"))
    return [(head, [(f"{a} / {b}", sm.aggregate(sm.cell_ratios(a, b, shared=shared))) for a, b in pairs])
            for head, shared in (("each at its own best rate", False),
                                 (f"all at rate {sm.step_lr():g}", True))]


# Every static figure of the chapter (tests/test_figures.py draws each one).
FIGURES = {
    "smoothing": lambda: plot_smoothing(smoothing_rows()),
    "trajectory": lambda: plot_trajectory(trajectory_runs(), _fan_ins()),
    "smallbatch": lambda: plot_smallbatch(_table()),
}
