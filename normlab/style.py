"""One figure style for the whole book: a colour-blind-safe palette (Okabe & Ito) and helpers.

Every figure labels its axes with units ("step", "loss (nats)", "accuracy (%)") and marks a
diverged run with the text "diverged at step k" instead of leaving a blank or broken plot.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from normlab.train import diverged_at

# Okabe-Ito palette, safe for the common forms of colour blindness.
PALETTE = {
    "blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00",
    "purple": "#CC79A7", "sky": "#56B4E9", "yellow": "#F0E442", "black": "#000000",
}
# Fixed roles, so "with BN" has the same colour in every chapter.
COLORS = {"plain": PALETTE["vermillion"], "bn": PALETTE["blue"], "noisy": PALETTE["green"],
          "naive": PALETTE["orange"], "other": PALETTE["purple"], "ref": PALETTE["black"]}

RC = {
    "figure.dpi": 100, "savefig.dpi": 100, "font.size": 10, "axes.titlesize": 11,
    "axes.labelsize": 10, "legend.fontsize": 9, "axes.spines.top": False,
    "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3, "lines.linewidth": 1.6,
    "figure.constrained_layout.use": False,  # costs ~100 ms a redraw; figure() sets margins
}


def use() -> None:
    """Apply the book's matplotlib style."""
    plt.rcParams.update(RC)


def figure(ncols: int = 1, nrows: int = 1, width: float = 4.0, height: float = 3.0,
           title: str | None = None, **kw):
    """``plt.subplots`` with the book's style, a size per panel (inches) and fixed margins.

    Returns ``(fig, axes)`` with ``axes`` a 2-D array (``squeeze=False``).
    """
    use()
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows + (0.3 if title else 0)),
                             squeeze=False, **kw)
    top = 1 - (0.55 if title else 0.25) / (height * nrows + (0.3 if title else 0))
    fig.subplots_adjust(left=0.6 / (width * ncols), right=1 - 0.15 / (width * ncols),
                        bottom=0.55 / (height * nrows), top=top, wspace=0.32, hspace=0.45)
    if title:
        fig.suptitle(title)
    return fig, axes


def log_y(ax) -> None:
    """Log-scale y axis with plain-text tick labels ("0.01", "1", "100") and no minor ticks.

    Matplotlib's default labels are typeset with mathtext and, with the minor ticks, cost about
    half of a redraw; the live sliders redraw on every move.
    """
    from matplotlib.ticker import FuncFormatter, NullLocator

    ax.set_yscale("log")
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def png(fig, quantize: bool = False) -> bytes:
    """Render ``fig`` to PNG bytes and close it.

    ``quantize=True`` reduces the image to a 64-colour palette (3-4x smaller, for the website's
    precomputed frames); the live widget uses fast, lossless encoding.
    """
    import io

    from PIL import Image

    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    plt.close(fig)
    im = Image.fromarray(rgb)
    buf = io.BytesIO()
    if quantize:
        im.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(buf, format="png", optimize=True)
    else:
        im.save(buf, format="png", compress_level=1)
    return buf.getvalue()


def plot_curve(ax, x, y, *, color, label, limit: float = 1e4, **kw):
    """Plot ``y`` against ``x`` up to divergence; mark a diverged run "diverged at step k".

    Returns the step of divergence (or None). The curve stops where it became non-finite or left
    ``[-limit, limit]``, and a cross marks that point, so a blown-up run is a visible result.
    """
    x = np.asarray(x)
    y = np.asarray(y, dtype=float)
    k = diverged_at(y, limit)
    if k is None:
        ax.plot(x, y, color=color, label=label, **kw)
        return None
    ax.plot(x[:k], y[:k], color=color, label=f"{label}: diverged at step {int(x[k])}", **kw)
    finite = y[:k][np.isfinite(y[:k])]
    y_mark = finite[-1] if finite.size else 0.0
    ax.plot([x[k]], [y_mark], marker="x", color=color, markersize=9, mew=2.5, linestyle="none")
    left = x[k] < (x[0] + x[-1]) / 2  # keep the note inside the axes
    ax.annotate(f"diverged at step {int(x[k])}", (x[k], y_mark), textcoords="offset points",
                xytext=(4 if left else -4, 8), ha="left" if left else "right", color=color,
                fontsize=9, fontweight="bold")
    return int(x[k])
