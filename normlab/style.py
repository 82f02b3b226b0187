"""One figure style for the whole book: a colour-blind-safe palette (Okabe & Ito) and helpers.

Every figure labels its axes with units ("step", "loss (nats)", "accuracy (%)") and marks a
diverged run with the text "diverged at step k" instead of leaving a blank or broken plot.

Figures that a slider redraws are drawn in *retained mode*: a plot function makes the figure and
its fixed parts once (``fig is None``), and on every call sets the data of its changing parts
through the keyed helpers below (:func:`line`, :func:`curve`, :func:`band`, :func:`text`,
:func:`title`, :func:`suptitle`, :func:`legend`), which create an artist the first time and update
it afterwards. :func:`render` then redraws only those artists over a saved background, unless an
axis range changed; a slider move costs a few milliseconds of drawing instead of a new figure.
"""

from __future__ import annotations

import contextlib
import io

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, NullLocator
from PIL import Image

from normlab.measure import diverged_at

# Okabe-Ito palette, safe for the common forms of colour blindness.
PALETTE = {
    "blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00",
    "purple": "#CC79A7", "sky": "#56B4E9", "yellow": "#F0E442", "black": "#000000",
}
# Fixed roles, so "with BN" has the same colour in every chapter.
COLORS = {"plain": PALETTE["vermillion"], "bn": PALETTE["blue"], "noisy": PALETTE["green"],
          "naive": PALETTE["orange"], "other": PALETTE["purple"], "ref": PALETTE["black"],
          "wn": PALETTE["green"], "ln": PALETTE["purple"]}

# Text sizes in points: figures take every size from here. SMALL is the smallest text a figure
# may draw (legends, notes, annotations such as "diverged at step k"): the overlap test
# (style.text_problems) also fails on anything smaller.
SMALL, PANEL, TITLE, SYMBOL, BIG = 8.0, 10.0, 11.0, 12.0, 15.0

RC = {
    "figure.dpi": 100, "savefig.dpi": 100, "font.size": 10, "axes.titlesize": 11,
    "axes.labelsize": 10, "legend.fontsize": 9, "axes.spines.top": False,
    "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3, "lines.linewidth": 1.6,
    "figure.constrained_layout.use": False,  # costs ~100 ms a redraw; figure() sets margins
}

_OFFSCREEN = [False]


def use() -> None:
    """Apply the book's matplotlib style."""
    plt.rcParams.update(RC)


@contextlib.contextmanager
def offscreen():
    """Figures made inside are not registered with pyplot (a notebook does not display them by
    itself, and they live until dropped): the explorables draw their frames this way."""
    _OFFSCREEN.append(True)
    try:
        yield
    finally:
        _OFFSCREEN.pop()


def figure(ncols: int = 1, nrows: int = 1, width: float = 4.0, height: float = 3.0,
           title: str | None = None, **kw):
    """A figure with the book's style, a size per panel (inches) and fixed margins.

    Returns ``(fig, axes)`` with ``axes`` a 2-D array (``squeeze=False``); :func:`axes` gives the
    same array back later (retained mode).
    """
    use()
    size = (width * ncols, height * nrows + (0.3 if title else 0))
    if _OFFSCREEN[-1]:
        fig = Figure(figsize=size)
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    else:
        fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False, **kw)
    top = 1 - (0.55 if title else 0.25) / size[1]
    fig.subplots_adjust(left=0.6 / size[0], right=1 - 0.15 / size[0],
                        bottom=0.55 / (height * nrows), top=top, wspace=0.32, hspace=0.45)
    _reg(fig)["axes"] = axes
    if title:
        suptitle(fig, title)
    return fig, axes


def axes(fig):
    """The 2-D array of axes that :func:`figure` made for ``fig``."""
    return _reg(fig)["axes"]


def log_y(ax) -> None:
    """Log-scale y axis with plain-text tick labels ("0.01", "1", "100") and no minor ticks.

    Matplotlib's default labels are typeset with mathtext and, with the minor ticks, cost about
    half of a redraw.
    """
    ax.set_yscale("log")
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


# ------------------------------------------------------------------------------------------------
# Retained mode: keyed artists that are created once and updated afterwards
# ------------------------------------------------------------------------------------------------
def _reg(fig) -> dict:
    r = getattr(fig, "_normlab", None)
    if r is None:
        r = fig._normlab = {"axes": None, "artists": {}, "bg": None, "view": None}
    return r


def _slot(ax, kind, key):
    return _reg(ax.figure)["artists"], (id(ax), kind, key)


def line(ax, key, x, y, **kw):
    """Create (first call) or update (later calls) the line ``key`` of ``ax``."""
    reg, k = _slot(ax, "line", key)
    a = reg.get(k)
    if a is None:
        (a,) = ax.plot(x, y, **kw)
        reg[k] = a
    else:
        a.set_data(x, y)
        a.set(**kw)
        a.set_visible(True)
    return a


def hide(ax, kind: str, key) -> None:
    """Hide the artist ``key`` of kind ``kind`` ("line", "text", ...) if it exists."""
    reg, k = _slot(ax, kind, key)
    if k in reg:
        reg[k].set_visible(False)


def text(ax, key, x, y, s, **kw):
    """Create or update the text ``key`` (data coordinates unless ``transform`` is given)."""
    reg, k = _slot(ax, "text", key)
    a = reg.get(k)
    if a is None:
        a = ax.text(x, y, s, **kw)
        reg[k] = a
    else:
        a.set_position((x, y))
        a.set_text(s)
        a.set(**{n: v for n, v in kw.items() if n != "transform"})
        a.set_visible(True)
    return a


def band(ax, key, x, lo, hi, **kw):
    """A filled band between ``lo`` and ``hi`` (re-made on every call: a polygon's vertices
    change with the data)."""
    reg, k = _slot(ax, "band", key)
    if k in reg:
        reg[k].remove()
    reg[k] = ax.fill_between(x, lo, hi, **kw)
    x = np.asarray(x, float)
    reg[k]._normlab_extent = (np.concatenate([x, x]),
                              np.concatenate([np.asarray(lo, float), np.asarray(hi, float)]))
    return reg[k]


def title(ax, s, **kw):
    """Set the panel title ``s`` (a changing part of the figure)."""
    reg, k = _slot(ax, "title", 0)
    ax.set_title(s, **kw)
    reg[k] = ax.title
    return ax.title


def suptitle(fig, s, **kw):
    """Set the figure title ``s`` (a changing part of the figure)."""
    t = fig.suptitle(s, **kw)
    _reg(fig)["artists"][(id(fig), "suptitle", 0)] = t
    return t


def legend(ax, **kw):
    """(Re)make the legend of ``ax`` from its current labelled artists."""
    reg, k = _slot(ax, "legend", 0)
    leg = ax.legend(**kw)
    reg[k] = leg
    return leg


def proxy(label: str, color: str = "#555555", **kw):
    """A legend entry standing for a kind of curve (a line with no data), for :func:`figure_legend`."""
    return Line2D([], [], color=color, label=label, **kw)


def figure_legend(fig, handles, ncol: int, fontsize: float = SMALL):
    """One legend for every panel, centred under them, where no curve can run through it (a
    fixed part: the entries name the curves' kinds; a blow-up is told by its "diverged at step k"
    note). :func:`fit` keeps room for it below the x labels."""
    leg = fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncol=ncol,
                     fontsize=fontsize, frameon=False)
    _reg(fig)["under"] = leg
    return leg


def _nice(lo: float, hi: float, log: bool) -> tuple[float, float]:
    """Round a data range outwards to "nice" limits (multiples of a 1-2-5 step, about six steps
    across, on a linear axis; whole decades on a log axis), so that small changes of the data
    keep the same limits."""
    if log:
        lo, hi = max(lo, 1e-300), max(hi, 1e-300)
        return 10.0 ** np.floor(np.log10(lo)), 10.0 ** np.ceil(np.log10(hi) - 1e-12)
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    a, b = lo - 0.03 * span, hi + 0.03 * span
    if lo >= 0 > a:
        a = 0.0  # a non-negative quantity keeps 0 as its floor
    raw = (b - a) / 6
    mag = 10.0 ** np.floor(np.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    return (float(np.round(np.floor(a / step) * step, 12)),
            float(np.round(np.ceil(b / step) * step, 12)))


def span(values, log: bool = False, q: float | None = None) -> tuple[float, float]:
    """Nice limits (:func:`_nice`) that cover the finite ``values`` (positive ones on a log axis);
    with ``q``, from the (100-q)-th to the q-th percentile, so that a run that blew up does not
    flatten every other curve. An explorable computes its panels' limits this way from its whole
    grid, once: then every slider move keeps the axes and only redraws the curves."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v) & ((v > 0) if log else True)]
    if not v.size:
        return (1.0, 10.0) if log else (0.0, 1.0)
    lo, hi = (np.percentile(v, [100 - q, q]) if q is not None else (v.min(), v.max()))
    return _nice(float(lo), float(hi), log)


def symlog_y(ax, linthresh: float = 1.0) -> None:
    """A symmetric-log y axis (linear in [-linthresh, linthresh], logarithmic outside) with
    plain-text tick labels: for quantities that start near 0 and grow by orders of magnitude."""
    ax.set_yscale("symlog", linthresh=linthresh)
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def rescale(ax, x: bool = False, y: bool = True) -> None:
    """Fit the axis ranges to the visible data (lines, markers and bands) again after updating
    artists, rounded outwards to nice limits: the website frame and the live view get the same
    limits for the same data, and a small slider move usually keeps them (a cheap redraw)."""
    reg = _reg(ax.figure)["artists"]
    xs, ys = [], []
    for (owner, kind, _), a in reg.items():
        if owner != id(ax) or not a.get_visible():
            continue
        if kind == "line":
            xd, yd = np.asarray(a.get_xdata(), float), np.asarray(a.get_ydata(), float)
        elif kind == "band":
            xd, yd = a._normlab_extent
        else:
            continue
        ok = np.isfinite(xd) & np.isfinite(yd)
        if ax.get_yscale() == "log":
            ok &= yd > 0
        xs.append(xd[ok])
        ys.append(yd[ok])
    xs = np.concatenate(xs) if xs else np.array([])
    ys = np.concatenate(ys) if ys else np.array([])
    if y and ys.size:
        ax.set_ylim(*_nice(float(ys.min()), float(ys.max()), ax.get_yscale() == "log"))
    if x and xs.size:
        ax.set_xlim(*_nice(float(xs.min()), float(xs.max()), ax.get_xscale() == "log"))


def curve(ax, x, y, *, color, label, key=None, limit: float = 1e4, **kw):
    """Plot ``y`` against ``x`` up to divergence; mark a diverged run "diverged at step k".

    Returns the step of divergence (or None). The curve stops where it became non-finite or left
    ``[-limit, limit]``, and a cross marks that point, so a blown-up run is a visible result.
    ``key`` (default: ``label``) names the curve for retained-mode updates.
    """
    key = label if key is None else key
    x = np.asarray(x)
    y = np.asarray(y, dtype=float)
    k = diverged_at(y, limit)
    if k is None:
        line(ax, ("curve", key), x, y, color=color, label=label, **kw)
        hide(ax, "line", ("mark", key))
        hide(ax, "text", ("note", key))
        return None
    step = int(x[k])
    line(ax, ("curve", key), x[:k], y[:k], color=color, label=f"{label}: diverged at step {step}", **kw)
    finite = y[:k][np.isfinite(y[:k])]
    y_mark = finite[-1] if finite.size else 0.0
    line(ax, ("mark", key), [x[k]], [y_mark], marker="x", color=color, markersize=9, mew=2.5,
         linestyle="none")
    # The note has a place of its own: inside the panel, along its bottom edge, one row per curve
    # (in the order the curves were first drawn), so it never covers a title or another note.
    reg = _reg(ax.figure)["artists"]
    keys = [k_[2][1] for k_ in reg if k_[0] == id(ax) and k_[1] == "line" and k_[2][0] == "curve"]
    row = keys.index(key) if key in keys else len(keys)
    left = x[k] < (x[0] + x[-1]) / 2
    text(ax, ("note", key), 0.02 if left else 0.98, 0.03 + 0.085 * row, f"diverged at step {step}",
         color=color, fontsize=SMALL, fontweight="bold", ha="left" if left else "right", va="bottom",
         transform=ax.transAxes, zorder=10,
         bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))
    return step


def plot_curve(ax, x, y, *, color, label, limit: float = 1e4, **kw):
    """:func:`curve`, for figures drawn once."""
    return curve(ax, x, y, color=color, label=label, limit=limit, **kw)


def fit(fig, pad: float = 0.25) -> None:
    """Set the margins so that every title, label and tick label lies inside the figure (the
    frames of an explorable are not cropped the way a saved notebook figure is), keeping room for
    the figure title above the panels and a :func:`figure_legend` under them. Done once per
    figure, before its first drawing."""
    fig.canvas.draw()
    sup = fig._suptitle if getattr(fig, "_suptitle", None) is not None and \
        fig._suptitle.get_text().strip() else None
    H = fig.get_figheight() * fig.dpi
    top = 1.0
    if sup is not None:
        h = sup.get_window_extent(fig.canvas.get_renderer()).height
        top = 1.0 - (h + 0.35 * fig.dpi * 0.2) / H
    under = _reg(fig).get("under")
    bottom = 0.0
    if under is not None:
        bottom = (under.get_window_extent(fig.canvas.get_renderer()).height + 0.05 * fig.dpi) / H
    try:
        fig.tight_layout(pad=pad, rect=(0, bottom, 1, top))
    except Exception:  # an odd figure (no axes, say) keeps its margins
        pass


def layout(fig) -> dict:
    """The figure's margins and spacing (after :func:`fit`), to give another figure the same."""
    sp = fig.subplotpars
    return {k: getattr(sp, k) for k in ("left", "right", "bottom", "top", "wspace", "hspace")}


def set_layout(fig, params: dict) -> None:
    """Give ``fig`` the margins of another (:func:`layout`) instead of fitting its own: the live
    view of an explorable and its website frames then draw the same figure."""
    fig.subplots_adjust(**params)
    _reg(fig)["laid_out"] = True


def render(fig) -> np.ndarray:
    """Draw ``fig`` and return its pixels (H, W, 3).

    The first time, and whenever an axis range changed, everything is drawn and the fixed parts
    are kept as a background; otherwise only the changing parts (the keyed artists) are drawn on
    that background, which is what makes a slider move cheap.
    """
    r = _reg(fig)
    dyn = [a for a in r["artists"].values() if a.figure is not None or a.axes is not None]
    for a in dyn:
        a.set_animated(True)
    canvas = fig.canvas
    if not r.get("laid_out"):
        fit(fig)
        r["laid_out"] = True
    view = tuple((tuple(ax.get_xlim()), tuple(ax.get_ylim())) for ax in fig.axes)
    if r["bg"] is None or r["view"] != view:
        canvas.draw()  # the fixed parts (animated artists are skipped)
        r["bg"], r["view"] = canvas.copy_from_bbox(fig.bbox), view
    else:
        canvas.restore_region(r["bg"])
    renderer = canvas.get_renderer()
    for a in sorted(dyn, key=lambda a: a.get_zorder()):
        if a.get_visible():
            a.draw(renderer)
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def png(fig, quantize: bool = False, close: bool = True) -> bytes:
    """Render ``fig`` (:func:`render`) to PNG bytes; close it unless ``close=False``.

    ``quantize=True`` reduces the image to a 64-colour palette (3-4x smaller, for the website's
    precomputed frames); the live widget uses fast, lossless encoding.
    """
    im = Image.fromarray(render(fig))
    if close:
        plt.close(fig)
    if quantize:
        return palette_png(im, 64)
    buf = io.BytesIO()
    im.save(buf, format="png", compress_level=1)
    return buf.getvalue()


def palette_png(im, colors: int) -> bytes:
    """The RGB PIL image ``im`` as an optimized PNG with a ``colors``-colour palette (the
    website's frames: 64; its static figures, :func:`normlab.show.figure`: 256)."""
    buf = io.BytesIO()
    im.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(buf, format="png", optimize=True)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------
# Legibility: which pieces of text a reader sees, and whether two of them collide
# ------------------------------------------------------------------------------------------------
def visible_texts(fig, fit_first: bool = True) -> list:
    """``(description, bbox, points)`` of every piece of text a reader sees on ``fig`` after drawing it:
    figure and panel titles, axis labels, the tick labels inside the axis range, legend entries,
    annotations. Bounding boxes are in display pixels."""
    if not fit_first:  # a notebook shows a static figure with the margins it was given
        _reg(fig)["laid_out"] = True
    render(fig)  # laid out and drawn as the reader sees it (an explorable's frame, say)
    r = fig.canvas.get_renderer()
    out = []

    def add(what, t):
        if t is not None and t.get_visible() and t.get_text().strip():
            out.append((f"{what}: {t.get_text()!r}", t.get_window_extent(r), t.get_fontsize()))

    for t in fig.texts:
        add("figure text", t)
    for leg in fig.legends:
        for t in leg.get_texts():
            add("figure legend", t)
    for n, ax in enumerate(fig.axes):
        if not ax.get_visible() or not ax.axison:
            for t in ax.texts:
                add(f"panel {n} text", t)
            continue
        for t in (ax.title, ax._left_title, ax._right_title):
            add(f"panel {n} title", t)
        add(f"panel {n} x label", ax.xaxis.label)
        add(f"panel {n} y label", ax.yaxis.label)
        for axis, name in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            scale = axis.get_transform()  # compare positions on the axis' own (log, ...) scale
            lo, hi = sorted(float(v) for v in scale.transform(np.asarray(axis.get_view_interval())))
            tol = 1e-9 * max(hi - lo, 1e-300)
            for tick in axis.get_major_ticks():
                loc = tick.get_loc()
                if loc is None or not tick.label1.get_visible():
                    continue
                pos = float(scale.transform(np.asarray([loc]))[0])
                if np.isfinite(pos) and lo - tol <= pos <= hi + tol:
                    add(f"panel {n} {name} tick", tick.label1)
        leg = ax.get_legend()
        if leg is not None and leg.get_visible():
            for t in leg.get_texts():
                add(f"panel {n} legend", t)
        for t in ax.texts:
            add(f"panel {n} text", t)
    return out


def text_problems(fig, pad: float = 0.5, fit_first: bool = True) -> list[str]:
    """Pairs of visible texts that overlap (by more than ``pad`` pixels), and texts that stick out
    of the figure, or are smaller than ``SMALL``: what a reader could not read. Empty when the
    figure is legible. ``fit_first=False`` checks the figure with its own margins, as a notebook
    shows a static figure (cropped to what it draws, so nothing is cut off there); otherwise it is
    laid out once, as an explorable's frames are."""
    texts = visible_texts(fig, fit_first)
    W, H = fig.canvas.get_width_height()
    out = [f"{what} is {size:g} pt (the smallest text is {SMALL:g} pt)"
           for what, _, size in texts if size < SMALL - 1e-9]
    for what, b, _ in texts if fit_first else ():  # a notebook crops to the figure's contents
        if b.x0 < -pad or b.y0 < -pad or b.x1 > W + pad or b.y1 > H + pad:
            out.append(f"{what} sticks out of the figure")
    boxes = [(what, b) for what, b, _ in texts]
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            (wa, a), (wb, b) = boxes[i], boxes[j]
            if min(a.x1, b.x1) - max(a.x0, b.x0) > pad and min(a.y1, b.y1) - max(a.y0, b.y0) > pad:
                out.append(f"{wa} overlaps {wb}")
    return out
