r"""Chapter 7's figures: NumPy results in, a matplotlib Figure out (no computing here, except the
thunks of ``FIGURES``, which call the chapter's memoised experiments).

The explorables' figures (:func:`plot_equilibrium`, :func:`plot_exp_lr`) are drawn in the
retained mode of :mod:`normlab.style`: with ``fig`` given they update their changing parts only,
on fixed axis ranges.
"""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import LogLocator

from normlab import style

C_NORM = style.COLORS["bn"]
C_PLAIN = style.COLORS["plain"]
C_REF = style.COLORS["ref"]
C_EPS = style.PALETTE["orange"]   # the matched runs at a normalizer eps > 0 (Figures 7.5, 7.6)
# four hues far apart (Okabe-Ito), one per weight decay of the grid: 0, 1e-3, 3e-3, 1e-2
WD_COLORS = (style.PALETTE["orange"], style.PALETTE["purple"], style.PALETTE["green"],
             style.PALETTE["blue"])


def plot_identities(table: dict, curve: dict):
    """Left: for each layer kind at eps = 0, the two identities' departures (|cos(w, grad)| and
    the relative error of k grad(kw) vs grad(w)) for the hidden and the output weights, on a log
    axis. Right: BN's departures against eps."""
    fig, axes = style.figure(2, 1, width=4.2, height=3.2)
    ax, bx = axes[0]
    kinds = list(table)
    x = np.arange(len(kinds))
    floor = 1e-17
    vals = lambda key: np.maximum([table[k][key] for k in kinds], floor)
    ax.bar(x - 0.2, vals("orth"), 0.4, color=C_NORM, label=r"$|\cos(w, \nabla L)|$")
    ax.bar(x + 0.2, vals("scale"), 0.4, color=style.PALETTE["orange"],
           label=r"$k\nabla L(kw)$ vs $\nabla L(w)$")
    ax.set_yscale("log")
    ax.set_ylim(floor, 1e6)
    ax.set_xticks(x, [k if k != "none" else "plain" for k in kinds])
    ax.set_ylabel("departure (relative)")
    ax.set_title(r"hidden weights, $\epsilon = 0$", fontsize=style.PANEL)
    ax.legend(fontsize=style.SMALL, loc="upper left")
    e = curve["eps"]
    bx.loglog(e, curve["orth"], "o-", color=C_NORM, label=r"$|\cos(w, \nabla L)|$")
    bx.loglog(e, curve["scale"], "s-", color=style.PALETTE["orange"], label=r"$k = 3$ rescaling")
    bx.loglog(e, e, ":", color=C_REF, lw=1.0, label=r"$\epsilon$")
    bx.set_xlabel(r"normalizer $\epsilon$ (BN)")
    bx.set_ylabel("departure (relative)")
    bx.set_title("where it breaks", fontsize=style.PANEL)
    bx.legend(fontsize=style.SMALL, loc="upper left")
    style.fit(fig)
    return fig


def plot_norm_angle(with_wd: dict, without: dict):
    """The first layer's mean unit norm and its angle per step (float64 SGD), with and without
    weight decay; the angle against the exact prediction."""
    fig, axes = style.figure(2, 1, width=4.2, height=3.2)
    ax, bx = axes[0]
    for r, col, lab in ((without, C_PLAIN, r"$\lambda = 0$"),
                        (with_wd, C_NORM, rf"$\lambda$ = {with_wd['wd']:g}")):
        n = r["norm"].mean(1)
        ax.plot(np.arange(len(n)), n, color=col, label=lab)
        a = np.sqrt(np.mean(r["angle"] ** 2, 1))
        bx.plot(np.arange(1, len(a) + 1), a, color=col, label=lab)
    ax.set_xlabel("SGD step")
    ax.set_ylabel(r"mean $\|w_j\|$, first layer")
    ax.legend(fontsize=style.SMALL)
    bx.set_xlabel("SGD step")
    bx.set_ylabel(r"RMS angle per step (rad)")
    style.log_y(bx)
    bx.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))   # 0.005, 0.01, 0.02, 0.05, ...
    bx.legend(fontsize=style.SMALL)
    style.fit(fig)
    return fig


def plot_exp_lr_static(grid: dict, eps_values, i_eps: int):
    """The exponential-LR equivalence: the largest difference of unit weights per step, matched
    buffer at eps = 0, zero buffers, and the matched buffer at eps = eps_values[i_eps]."""
    fig, axes = style.figure(1, 1, width=5.6, height=3.2)
    ax = axes[0, 0]
    u = grid["unit"]
    t = np.arange(1, u.shape[-1] + 1)
    ax.plot(t, np.maximum(u[0, 0], 1e-17), color=C_NORM, label=r"initial buffer $\tilde v_0$ matched, $\epsilon = 0$")
    ax.plot(t, u[0, 1], color=C_PLAIN, label=r"both buffers zero, $\epsilon = 0$")
    ax.plot(t, u[i_eps, 0], color=C_EPS, ls="--",
            label=rf"matched, $\epsilon$ = {eps_values[i_eps]:g}")
    ax.set_yscale("log")
    ax.set_ylim(1e-17, 1)
    ax.set_xlabel("SGD step $t$")
    ax.set_ylabel("max |difference of unit weights|")
    ax.legend(fontsize=style.SMALL, loc="center right")
    style.fit(fig)
    return fig


# ------------------------------------------------------------------------------------------------
# Explorable figures (retained mode)
# ------------------------------------------------------------------------------------------------
def plot_equilibrium(res, lr, wd, fig=None):
    """||w|| per step for every weight decay of the grid at ``lr`` (the chosen one bold), and the
    chosen run's RMS angle per step against sqrt(2 eta lambda/(1+gamma))."""
    norm, angle, pred = res["norm"], res["angle"], float(res["pred"])
    if fig is None:
        fig, axes = style.figure(2, 1, width=4.2, height=3.2, title=" ")
        ax, bx = axes[0]
        ax.set_xlabel("SGD step")
        ax.set_ylabel(r"mean $\|w_j\|$, first layer")
        ax.set_xlim(0, norm.shape[-1])
        ax.set_ylim(0, 1.05 * float(res["top"]))   # every run of the grid fits
        bx.set_xlabel("SGD step")
        bx.set_ylabel("RMS angle per step (rad)")
        bx.set_xlim(0, angle.shape[-1])
        style.log_y(bx)
        bx.set_ylim(1e-4, 0.5)
        style.figure_legend(fig, [style.proxy(rf"$\lambda$ = {w:g}", WD_COLORS[j], lw=2)
                                  for j, w in enumerate(res["wds"])]
                            + [style.proxy("predicted equilibrium angle", C_REF, ls="--", lw=1.2)], ncol=5)
        style.fit(fig)
    ax, bx = style.axes(fig)[0]
    T = angle.shape[-1]
    for j, w in enumerate(res["wds"]):
        chosen = bool(np.isclose(w, wd))
        style.line(ax, ("n", j), np.arange(norm.shape[-1]), norm[j], color=WD_COLORS[j],
                   lw=2.4 if chosen else 1.2, alpha=1.0 if chosen else 0.9)
    jc = int(np.argmin(np.abs(np.asarray(res["wds"]) - wd)))
    style.line(bx, "a", np.arange(1, T + 1), angle[jc], color=WD_COLORS[jc], lw=1.2)
    style.line(bx, "p", [0, T], [max(pred, 1e-9)] * 2, color=C_REF, ls="--", lw=1.2)
    tau = (1 - 0.9) / (2 * lr * wd) if wd > 0 else np.inf
    style.suptitle(fig, rf"$\eta$ = {lr:g}, $\lambda$ = {wd:g}, momentum 0.9: relaxation time "
                   + (f"{tau:.0f} steps" if np.isfinite(tau) else "infinite"),
                   fontsize=style.TITLE)
    return fig


def plot_exp_lr(res, eps, fig=None):
    """The two runs' largest unit-weight difference per step at ``eps``, matched and zero
    buffers, with eps = 0 (matched) as the reference; and the norm ratio of the two runs."""
    if fig is None:
        fig, axes = style.figure(2, 1, width=4.2, height=3.2, title=" ")
        ax, bx = axes[0]
        T = res["unit"].shape[-1]
        t = np.arange(1, T + 1)
        ax.plot(t, np.maximum(res["ref"], 1e-17), color=C_NORM, lw=1.2, ls=":")
        ax.set_yscale("log")
        ax.set_ylim(1e-17, 1)
        ax.set_xlim(0, T)
        ax.set_xlabel("SGD step $t$")
        ax.set_ylabel("max |difference of unit weights|")
        bx.set_xlabel("SGD step $t$")
        bx.set_ylabel(r"$\|\tilde W_1\| / \|W_1\|$")
        bx.set_xlim(0, T)
        bx.set_ylim(0.95, 1.3)
        style.figure_legend(fig, [style.proxy(r"matched $\tilde v_0$, chosen $\epsilon$", C_EPS, ls="--", lw=2),
                                  style.proxy("zero buffers", C_PLAIN, lw=2),
                                  style.proxy(r"matched, $\epsilon = 0$", C_NORM, ls=":", lw=1.2),
                                  style.proxy(r"$\rho^{-t}$", C_REF, ls="--", lw=1.0)], ncol=4)
        style.fit(fig)
    ax, bx = style.axes(fig)[0]
    T = res["unit"].shape[-1]
    t = np.arange(1, T + 1)
    style.line(ax, "m", t, np.maximum(res["unit"][0], 1e-17), color=C_EPS, ls="--")
    style.line(ax, "z", t, np.maximum(res["unit"][1], 1e-17), color=C_PLAIN)
    style.line(bx, "r", t, res["ratio"][0], color=C_EPS, lw=2.4)
    style.line(bx, "g", t, res["grow"], color=C_REF, ls="--", lw=1.0)
    style.suptitle(fig, rf"normalizer $\epsilon$ = {float(res['eps_shown']):.0e}: the weight-decay run "
                   rf"against the exponential-rate run, {T} steps", fontsize=style.TITLE)
    return fig


def _identities():
    from normlab.ch7 import invariance
    return plot_identities(invariance.table(), invariance.eps_curve())


def _norm_angle():
    from normlab.ch7 import dynamics
    return plot_norm_angle(dynamics.pythagoras(), dynamics.pythagoras(wd=0.0))


def _exp_lr():
    from normlab.ch7 import dynamics
    return plot_exp_lr_static(dynamics.exp_lr_grid(), dynamics.EPS_GRID,
                              dynamics.EPS_GRID.index(1e-5))


#: every static figure of the chapter (tests/test_figures.py draws each one)
FIGURES = {"identities": _identities, "norm_angle": _norm_angle, "exp_lr": _exp_lr}


def plot_ranges(rows: list[dict], lo: float = 0.78, hi: float = 1.22):
    """Section 7.5's ratios measured / predicted as min-max bars, one row each (label with the
    numbers on the left), the angles on top and the norms below; the claims' tolerances shaded;
    a row beyond the axis ends in an arrow at the edge."""
    groups = [("angle", "RMS angle per step / its predicted equilibrium"),
              ("norm", r"RMS $\|w\|$ over the second half / Wan et al.'s $w^*$")]
    n = [sum(r["group"] == g for r in rows) for g, _ in groups]
    fig, axes = style.figure(1, 2, width=7.2, height=0.3 * max(n) + 0.9,
                             gridspec_kw={"height_ratios": n})
    for ax, (g, title), k in zip(axes[:, 0], groups, n):
        rs = [r for r in rows if r["group"] == g][::-1]
        y = np.arange(len(rs))
        ax.axvspan(0.95, 1.05, color=C_REF, alpha=0.12, lw=0)
        ax.axvspan(0.98, 1.02, color=C_REF, alpha=0.12, lw=0)
        ax.axvline(1.0, color=C_REF, lw=1.0, ls="--")
        for yy, r in zip(y, rs):
            col = C_NORM if r["tol"] is not None else C_PLAIN
            a, b = np.clip([r["lo"], r["hi"]], lo, hi)
            ax.plot([a, b], [yy, yy], color=col, lw=3, solid_capstyle="butt")
            ax.plot([a, b], [yy, yy], "|", color=col, ms=7)
            if r["hi"] > hi:
                ax.plot([hi], [yy], ">", color=col, ms=6, clip_on=False)
        ax.set_yticks(y, [f"{r['label']}: {r['lo']:.3f}\u2013{r['hi']:.3f}" for r in rs],
                      fontsize=style.SMALL)
        ax.set_ylim(-0.6, len(rs) - 0.4)
        ax.set_xlim(lo, hi)
        ax.set_title(title, fontsize=style.PANEL)
    axes[-1, 0].set_xlabel("measured / predicted (shaded: within 5% and within 2%)")
    style.fit(fig)
    fig.subplots_adjust(left=0.45, hspace=0.6)
    return fig


def _ranges():
    from normlab.ch7 import ranges
    return plot_ranges(ranges.rows())


FIGURES["ranges"] = _ranges
