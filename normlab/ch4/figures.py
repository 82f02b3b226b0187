r"""Chapter 4's figures: NumPy results in, a matplotlib Figure out (no computing here).

The explorables' figures (:func:`plot_geometry`, :func:`plot_training`) are drawn in the retained
mode of :mod:`normlab.style`: called with ``fig``, they update only their changing parts.
"""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from normlab import style
from normlab.ch4.experiments import EVAL_EVERY, STEPS
from normlab.measure import diverged_at, trailing_mean

COLORS = {"plain": style.COLORS["plain"], "none": style.COLORS["plain"], "bn": style.COLORS["bn"],
          "wn": style.COLORS["wn"], "ln": style.COLORS["ln"]}
NAMES = {"plain": "no normalization", "none": "no normalization", "bn": "batch norm",
         "wn": "weight norm", "ln": "layer norm"}


def _log_x(ax, ticks):
    """Log-scale x axis with plain-text labels at ``ticks`` and no minor ticks (cheap to draw)."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


# ------------------------------------------------------------------------------------------------
# 4.1 Fisher information
# ------------------------------------------------------------------------------------------------
def plot_fisher_basics(kl: dict, sl: dict):
    """(a) the KL divergence along a line against its quadratic model and the error's slope;
    (b) KL contours and the quadratic model's ellipses on a plane of parameter space."""
    fig, ax = style.figure(2, 1, width=3.6, height=3.0)
    fig.subplots_adjust(wspace=0.38)
    a = ax[0, 0]
    e = kl["eps"]
    a.loglog(e, kl["kl"], color=style.PALETTE["blue"], label=r"KL$(p_\theta\|p_{\theta+\epsilon u})$")
    a.loglog(e, kl["quad"], color=style.PALETTE["orange"], ls="--", label=r"$\frac{1}{2}\epsilon^2u^\top Fu$")
    a.loglog(e, kl["err"], color=style.PALETTE["black"], marker="o", ms=3, label="|difference|")
    a.loglog(e, kl["err"][0] * (e / e[0]) ** 3, color="#999999", ls=":", label="slope 3")
    a.set(xlabel=r"step length $\epsilon$", ylabel="nats", title=f"KL expansion (slope {kl['slope']:.2f})")
    a.legend(fontsize=style.SMALL, loc="upper left")
    c = ax[0, 1]
    t = sl["t"]
    levels = [0.02, 0.1, 0.3]
    c.contour(t, t, sl["kl"], levels=levels, colors=style.PALETTE["blue"], linewidths=1.4)
    c.contour(t, t, sl["quad"], levels=levels, colors=style.PALETTE["orange"], linestyles="--",
              linewidths=1.2)
    c.plot([], [], color=style.PALETTE["blue"], label="KL")
    c.plot([], [], color=style.PALETTE["orange"], ls="--", label=r"$\frac{1}{2}\delta^\top F\delta$")
    c.set(xlabel=r"$\delta w_1$", ylabel=r"$\delta w_2$", title="0.02, 0.1, 0.3 nats", aspect="equal")
    c.legend(fontsize=style.SMALL, loc="upper right")
    return fig


def plot_empirical_gap(gap: dict):
    """The empirical Fisher's distance from the Fisher against the number of examples, at the
    teacher's parameters and elsewhere (thin lines: each data set)."""
    fig, ax = style.figure(1, 1, width=4.4, height=3.0)
    b = ax[0, 0]
    n = gap["n"]
    for key, col, mk, lab in (("at_teacher", style.PALETTE["green"], "o", "at the teacher"),
                              ("elsewhere", style.PALETTE["vermillion"], "s", r"at $\theta_0$")):
        for row in gap[key]:
            b.loglog(n, row, color=col, lw=0.6, alpha=0.5)
        b.loglog(n, gap["mean_" + key], marker=mk, color=col, label=f"{lab} (mean of {len(gap[key])})")
    b.loglog(n, gap["mean_at_teacher"][0] * np.sqrt(n[0] / n), color="#999999", ls=":",
             label=r"$1/\sqrt{n}$")
    b.set(xlabel="examples n", ylabel=r"$\|\hat F - F\|_F / \|F\|_F$", title="empirical Fisher vs Fisher")
    b.legend(fontsize=style.SMALL, loc="lower left")
    return fig


# ------------------------------------------------------------------------------------------------
# 4.4 The Fisher of the normalized GLM
# ------------------------------------------------------------------------------------------------
def plot_ln_fisher(exact: np.ndarray, eq13: np.ndarray, err: dict, h: int):
    """|F| of the LN GLM, exact and by eq. 13 (blocks of one unit: w, b, g), and eq. 13's
    relative error against the width H."""
    fig, ax = style.figure(3, 1, width=3.3, height=3.0)
    fig.subplots_adjust(left=0.04, wspace=0.3)
    vmax = float(np.abs(exact).max())
    m = exact.shape[0] // h
    for a, F, name in ((ax[0, 0], exact, "exact (normlab.fisher)"), (ax[0, 1], eq13, "eq. 13")):
        a.imshow(np.abs(F), cmap="Greys", vmin=0, vmax=vmax)
        for k in range(1, h):
            a.axhline(k * m - 0.5, color=style.PALETTE["sky"], lw=0.6)
            a.axvline(k * m - 0.5, color=style.PALETTE["sky"], lw=0.6)
        a.set(title=f"|F|, layer norm: {name}", xticks=[], yticks=[])
        a.grid(False)
    a = ax[0, 2]
    H = err["H"]
    for key, col, mk, lab in (("diag_blocks", style.PALETTE["green"], "o", "own blocks"),
                              ("frobenius", style.PALETTE["purple"], "s", "whole (Frobenius)"),
                              ("operator", style.PALETTE["vermillion"], "^", "whole (operator)")):
        a.loglog(H, err["eq13"][key], marker=mk, ms=4, color=col, label=lab)
    a.loglog(H, err["eq13"]["diag_blocks"][0] * H[0] / H, color="#999999", ls=":", label="1/H")
    _log_x(a, [int(h) for h in H])
    style.log_y(a)
    a.set(xlabel="units H", ylabel="eq. 13's relative error", title="eq. 13 for LN vs exact",
          ylim=(0.01, 1))
    a.legend(fontsize=style.SMALL, loc="lower left")
    return fig


# ------------------------------------------------------------------------------------------------
# The geometry explorable (retained mode)
# ------------------------------------------------------------------------------------------------
CURV_LIM = (1e-4, 1e3)



SHORT = {"plain": "no norm.", "ln": "layer norm"}
STYLE = {"plain": {}, "none": {}, "bn": {}, "wn": {"ls": "--"}, "ln": {"lw": 2.2}}


def _radius(r: dict, ref: dict, k: str) -> float:
    """How many times larger the Fisher ellipse of ``k`` is than at s = r = 1, along the fixed
    direction: sqrt(curvature there / curvature now)."""
    return float(np.sqrt(float(ref["point"][k]) / float(r["point"][k])))


def plot_geometry(r: dict, s, wscale, fig=None, s_curve=None, r_curve=None, half=1.5, ref=None):
    """Top: curvature along a weight direction against the input scale and the weight scale.
    Bottom, one panel each for the plain GLM and LN: the Fisher ellipse (solid) and the exact KL
    contour (dashed) at the chosen scales, over the ellipse at s = r = 1 (grey, ``ref``: the
    frame at s = r = 1), with the factor by which the ellipse grew in the panel's title."""
    s_curve, r_curve = np.asarray(s_curve), np.asarray(r_curve)
    ref = r if ref is None else ref
    if fig is None:
        fig, axes = style.figure(2, 2, width=4.0, height=3.0, title=" ")
        fig.subplots_adjust(wspace=0.38, hspace=0.55)
        a, b = axes[0]
        for ax_, xl, ticks in ((a, (s_curve[0], s_curve[-1]), (0.1, 0.3, 1, 3, 10)),
                               (b, (r_curve[0], r_curve[-1]), (0.25, 0.5, 1, 2, 4))):
            _log_x(ax_, ticks)
            style.log_y(ax_)
            ax_.set_xlim(*xl)
            ax_.set_ylim(*CURV_LIM)
        a.set(xlabel="input scale s (x -> s x)", ylabel=r"curvature $u^\top F u$",
              title="curvature vs input scale")
        b.set(xlabel="weight scale r (W -> r W)", ylabel=r"curvature $u^\top F u$",
              title="curvature vs weight scale")
        b.plot(r_curve, 1.0 / r_curve**2, color="#999999", ls=":", lw=1)
        for c_, k in zip(axes[1], ("plain", "ln")):
            pl = ref["plane"][k]
            c_.fill(pl["fisher"][:, 0], pl["fisher"][:, 1], color="#dddddd", lw=0)
            c_.set(xlim=(-half, half), ylim=(-half, half), aspect="equal",
                   xlabel=r"$\delta$ along $e_1 \perp w_1$", ylabel=r"$\delta$ along $e_2 \perp w_1$")
        style.figure_legend(fig, _proxies(("plain", "bn", "wn", "ln")) + [
            style.proxy(r"$\propto 1/r^2$", "#999999", ls=":", lw=1),
            style.proxy("Fisher ellipse"), style.proxy("exact KL", ls="--"),
            style.proxy("ellipse at s = r = 1", "#bbbbbb", lw=6)], ncol=4)
    (a, b), (c1, c2) = style.axes(fig)
    style.suptitle(fig, f"input scale s = {float(s):.3g}, weight scale r = {float(wscale):.3g}")
    for k in ("plain", "bn", "wn", "ln"):
        col, kw = COLORS[k], STYLE[k]
        style.line(a, ("c", k), s_curve, r["curv_s"][k], color=col, label=NAMES[k], **kw)
        style.line(a, ("p", k), [float(s)], [float(r["point"][k])], color=col, marker="o", ls="none")
        style.line(b, ("c", k), r_curve, r["curv_r"][k], color=col, label=NAMES[k], **kw)
        style.line(b, ("p", k), [float(wscale)], [float(r["point"][k])], color=col, marker="o",
                   ls="none")
    for c_, k in ((c1, "plain"), (c2, "ln")):
        pl = r["plane"][k]
        style.line(c_, ("f", k), pl["fisher"][:, 0], pl["fisher"][:, 1], color=COLORS[k], lw=2)
        style.line(c_, ("k", k), pl["kl"][:, 0], pl["kl"][:, 1], color=COLORS[k], ls="--", lw=1.2)
        rad = np.linalg.norm(np.asarray(pl["fisher"]), axis=1)
        style.title(c_, f"{SHORT[k]}: ellipse x {_radius(r, ref, k):.2g}")
        style.text(c_, ("off", k), 0.0, -0.6 * half,
                   "the ellipse is larger\nthan the panel" if rad.min() > half else "",
                   ha="center", va="center", fontsize=style.SMALL, color=COLORS[k])
    return fig


# ------------------------------------------------------------------------------------------------
# 4.6 Learning the magnitude
# ------------------------------------------------------------------------------------------------
def plot_gain(g: dict):
    """ds^2 along the gain (BN, LN, WN) or the magnitude of w (plain) against the input scale:
    exact (lines) and the paper's closed forms, eqs. 32-35 (markers)."""
    fig, ax = style.figure(1, 1, width=4.8, height=3.1)
    fig.subplots_adjust(left=0.15)
    a = ax[0, 0]
    for k, eq in (("plain", "35"), ("bn", "32"), ("wn", "34"), ("ln", "33")):
        a.loglog(g["s"], g["exact"][k], color=COLORS[k], label=f"{NAMES[k]} (exact)")
        a.loglog(g["s"], g["closed"][k], color=COLORS[k], marker="o", ls="none", ms=4,
                 mfc="none", label=f"eq. {eq}")
    _log_x(a, (0.1, 0.3, 1, 3, 10))
    style.log_y(a)
    a.set(xlabel="input scale s (x -> s x)", ylabel=r"$ds^2$ for a unit step (nats)",
          title="learning the magnitude")
    a.legend(fontsize=style.SMALL, ncol=2, loc="lower right")
    return fig


# ------------------------------------------------------------------------------------------------
# 4.7 Training (the explorable, retained mode, and the batch-size experiment)
# ------------------------------------------------------------------------------------------------
LOSS_TOP = 3.0


def plot_training(res: dict, lr, batch_size, fig=None, steps=STEPS, eval_every=EVAL_EVERY):
    """Training loss (10-step trailing mean) and test accuracy of the MLP with no normalization,
    BN and LN at one learning rate and batch size."""
    if fig is None:
        fig, axes = style.figure(2, 1, width=4.0, height=3.2, title=" ")
        a, b = axes[0]
        a.set(xlim=(0, steps + 2), ylim=(0, LOSS_TOP), xlabel="SGD step",
              ylabel="training loss (nats, 10-step mean)")
        b.set(xlim=(0, steps + 2), ylim=(0, 100), xlabel="SGD step", ylabel="test accuracy (%)")
        b.axhline(10, color="#999999", lw=0.8, ls=":")
        # a fixed legend under the panels (drawn once, with the background); divergence is
        # marked on the curves
        style.figure_legend(fig, _proxies(("none", "bn", "ln")), ncol=3)
    a, b = style.axes(fig)[0]
    style.suptitle(fig, f"learning rate {float(lr):.3g}, batch size {int(round(float(batch_size)))}")
    t = np.arange(1, steps + 1)
    ev = np.arange(1, steps // eval_every + 1) * eval_every
    for k in ("none", "bn", "ln"):
        loss = np.asarray(res[k]["loss"], float)
        d = diverged_at(loss)
        style.curve(a, t, np.minimum(trailing_mean(loss, 10, d), LOSS_TOP), color=COLORS[k],
                    label=NAMES[k])
        acc = 100 * np.asarray(res[k]["test_acc"], float)
        ok = ev <= (steps if d is None else d)
        style.line(b, k, ev[ok], acc[ok], color=COLORS[k], marker="o", ms=3)
    if int(round(float(batch_size))) == 1:
        style.text(b, "bn1", 0.03, 0.97, "BN, batch 1: every unit outputs beta;\nthe running "
                   "variance is 0*1/0 = NaN,\nso at test time it guesses a constant",
                   transform=b.transAxes, fontsize=style.SMALL, color=COLORS["bn"], va="top")
    else:
        style.hide(b, "text", "bn1")
    return fig


def _proxies(kinds):
    """Legend handles for ``kinds`` (lines that are never drawn), so that a retained-mode figure
    can draw its legend once, with its fixed parts."""
    return [style.proxy(NAMES[k], COLORS[k], **STYLE.get(k, {})) for k in kinds]


def plot_batch(curves: dict, batches=(128, 4, 1), steps=STEPS, eval_every=EVAL_EVERY):
    """Test accuracy over training per batch size: mean over the seeds (line) and min-max
    (band), for each kind. ``curves[kind][batch]``: (seeds, evaluations)."""
    fig, ax = style.figure(len(batches), 1, width=3.3, height=2.9)
    ev = np.arange(1, steps // eval_every + 1) * eval_every
    for a, bs in zip(ax[0], batches):
        for k in ("none", "bn", "ln", "wn"):
            c = 100 * np.asarray(curves[k][bs], float)
            c = np.where(np.isfinite(c), c, np.nan)
            a.fill_between(ev, np.nanmin(c, 0), np.nanmax(c, 0), color=COLORS[k], alpha=0.2, lw=0)
            a.plot(ev, np.nanmean(c, 0), color=COLORS[k], label=NAMES[k])
        a.set(ylim=(0, 100), xlabel="SGD step", ylabel="test accuracy (%)", title=f"batch size {bs}")
    ax[0, -1].legend(fontsize=style.SMALL, loc="center right")
    return fig


def plot_tuned(cmps: dict, chosen: dict | None = None):
    """Test loss after 200 steps against the learning rate, per method, at each batch size of
    ``cmps`` ({batch: normlab.compare.Comparison}): mean over the seeds (line), min-max (band),
    each method's chosen rate circled (``chosen[batch][kind]``, e.g. chosen by the training loss;
    by default the rate of lowest test loss); rates where a seed did not train are left out."""
    fig, ax = style.figure(len(cmps), 1, width=3.5, height=3.0)
    for a, (bs, c) in zip(ax[0], cmps.items()):
        for k in c.methods:
            i = c.methods.index(k)
            ok = c.usable(k)
            m = c.metric[i]
            a.fill_between(c.lrs[ok], m[ok].min(1), m[ok].max(1), color=COLORS[k], alpha=0.2, lw=0)
            a.plot(c.lrs[ok], m[ok].mean(1), color=COLORS[k], marker="o", ms=3, label=NAMES[k],
                   **STYLE[k])
            lr = (chosen or {}).get(bs, c.best_lr)[k]
            if lr is not None:
                a.plot([lr], [m[list(c.lrs).index(lr)].mean()], marker="o", ms=11, mfc="none",
                       color=COLORS[k], ls="none")
        _log_x(a, [float(v) for v in c.lrs])
        style.log_y(a)
        a.set(xlabel="learning rate", ylabel="test loss after 200 steps (nats)",
              title=f"batch size {bs}", ylim=(0.05, 3))
    ax[0, 0].legend(fontsize=style.SMALL, loc="upper right")
    return fig


# ------------------------------------------------------------------------------------------------
# 4.8 The recurrent network, 4.9 WN or LN
# ------------------------------------------------------------------------------------------------
def plot_rnn(res: dict, rhos, eval_every=30):
    """Training loss (10-step mean; mean over seeds, min-max band) of the RNN and the LN-RNN for
    each scale of the initial recurrent weights."""
    fig, ax = style.figure(len(rhos), 1, width=3.2, height=2.9)
    for a, rho in zip(ax[0], rhos):
        for name, col, lab in (("rnn", COLORS["plain"], "tanh RNN"), ("ln-rnn", COLORS["ln"], "LN-RNN")):
            L = np.stack([trailing_mean(v, 10) for v in res[(name, rho)]["loss"]])
            t = np.arange(1, L.shape[1] + 1)
            a.fill_between(t, L.min(0), L.max(0), color=col, alpha=0.25, lw=0)
            acc = 100 * res[(name, rho)]["test_acc"][:, -1].mean()
            a.plot(t, L.mean(0), color=col, label=f"{lab}: test {acc:.0f}%")
        a.set(ylim=(0, 2.5), xlabel="SGD step", ylabel="training loss (nats)",
              title=rf"$W_{{hh}} \sim N(0, {rho:g}^2/H)$")
        a.legend(fontsize=style.SMALL, loc="upper right")
    return fig


def plot_rescaling(curves: dict, scales=(0.1, 1.0, 10.0)):
    """Training loss (10-step mean, seed 0) of WN and LN with the inputs multiplied by each scale.
    ``curves[kind][scale]``: (STEPS,)."""
    fig, ax = style.figure(2, 1, width=3.8, height=2.9)
    shades = (style.PALETTE["sky"], style.PALETTE["black"], style.PALETTE["orange"])
    for a, k in zip(ax[0], ("wn", "ln")):
        for c, col in zip(scales, shades):
            loss = np.asarray(curves[k][c], float)
            style.plot_curve(a, np.arange(1, len(loss) + 1), trailing_mean(loss, 10, diverged_at(loss)),
                             color=col, label=f"inputs x {c:g}", ls="-" if c == 1 else "--")
        a.set(ylim=(0, 2.5), xlabel="SGD step", ylabel="training loss (nats)", title=NAMES[k])
        a.legend(fontsize=style.SMALL, loc="upper right")
    return fig


# ------------------------------------------------------------------------------------------------
# The chapter's static figures, by name (tests/test_figures.py checks that each is legible)
# ------------------------------------------------------------------------------------------------
def _ln_fisher_figure():
    import jax.numpy as jnp

    import normlab
    from normlab.ch4 import geometry
    P = geometry.glm_problem(0)
    with normlab.float64():
        exact, eq13, _ = geometry.fisher_all("ln", jnp.asarray(P["theta"]["ln"]), jnp.asarray(P["x"]))
    return plot_ln_fisher(np.asarray(exact), np.asarray(eq13), geometry.ln_eq13_error(), geometry.H)


def batch_curves() -> dict:
    """``curves[kind][batch]``: the test accuracy of the batch-size runs, (seeds, evaluations)."""
    from normlab.ch4 import experiments as ex
    return {k: {b: np.stack([ex.get(k, batch=b, seed=s)["test_acc"] for s in ex.SEEDS])
                for b in ex.EXP_BATCHES} for k in ex.LAYERS}


def rescaling_curves() -> dict:
    """``curves[kind][scale]``: WN's and LN's training loss (seed 0) at each input scale."""
    from normlab.ch4 import experiments as ex
    return {k: {c: ex.get(k, scale=c)["loss"] for c in (0.1, 1.0, 10.0)} for k in ("wn", "ln")}


def _tuned_figure():
    from normlab.ch4 import experiments as ex
    return plot_tuned({b: ex.comparison(b) for b in ex.COMPARE_BATCHES},
                      {b: ex.comparison(b, ex.SELECT).best_lr for b in ex.COMPARE_BATCHES})


def _empirical_figure():
    from normlab.ch4 import fisher_basics as fb
    return plot_empirical_gap(fb.empirical_gap())


def _fisher_basics_figure():
    from normlab.ch4 import fisher_basics as fb
    return plot_fisher_basics(fb.kl_expansion(), fb.kl_slice())


def _gain_figure():
    from normlab.ch4 import curvature
    return plot_gain(curvature.gain_metric())


def _rnn_figure():
    from normlab.ch4 import recurrent
    return plot_rnn(recurrent.rnn_experiment(), recurrent.RHOS)


FIGURES = {
    "fisher_basics": _fisher_basics_figure,
    "empirical_gap": _empirical_figure,
    "ln_fisher": _ln_fisher_figure,
    "gain": _gain_figure,
    "batch": lambda: plot_batch(batch_curves()),
    "tuned": _tuned_figure,
    "rnn": _rnn_figure,
    "rescaling": lambda: plot_rescaling(rescaling_curves()),
}
