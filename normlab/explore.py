"""The explorable: one notebook cell that is a live JAX widget in a kernel and a kernel-free
slider on the website.

An explorable is declared once, by

- ``compute(**params) -> pytree of arrays``: pure JAX, ``jit``-able and ``vmap``-able over params;
- a :class:`Slider` per parameter, whose ``values`` are the website's grid;
- ``plot(result, fig=None, **params) -> matplotlib Figure``: drawing only, from NumPy arrays, in
  the retained mode of :mod:`normlab.style` (``fig`` given: update its changing parts).

Displaying an :class:`Explorable` emits one MIME bundle that carries both views:

- ``application/vnd.jupyter.widget-view+json``: ipywidgets sliders; moving one recomputes with the
  jitted ``compute`` at that exact value (not only grid points) and redraws.
- ``text/html``: the whole grid computed in a single ``jit(vmap(compute))``, each point drawn by the
  same ``plot`` into a PNG frame, plus a few lines of inline JavaScript that swap frames when a
  range input moves. Self-contained (no CDN, no kernel), keyboard-operable, labelled.

Jupyter and Colab render the widget; the book's ``_config.yml`` tells myst-nb to prefer
``text/html`` when building the website, and loads no widget JavaScript there.
"""

from __future__ import annotations

import base64
import html
import itertools
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Sequence

import jax
import numpy as np

from normlab import show, style
from normlab.train import grid

#: The smallest text, in CSS pixels, that a figure may show on a phone (its tick labels).
PHONE_TEXT_PX = 8.0


@dataclass
class Slider:
    """One parameter of an explorable.

    ``values``: the grid the website offers (ascending). The live widget accepts any value in
    ``[values[0], values[-1]]``: on a log scale when ``log``, integers when ``integer``.
    """

    name: str
    label: str
    values: Sequence[float]
    default: float | None = None
    log: bool = False
    integer: bool = False
    fmt: str = "{:.3g}"

    def __post_init__(self):
        self.values = [int(v) if self.integer else float(v) for v in self.values]
        if self.default is None:
            self.default = self.values[len(self.values) // 2]
        if self.default not in self.values:
            raise ValueError(f"default {self.default} of slider {self.name!r} is not a grid value")

    def text(self, v) -> str:
        return self.fmt.format(v)


@dataclass
class Explorable:
    """A figure with sliders: see the module docstring.

    ``number`` ("3.2") and ``caption`` make the figure's numbered caption ("Figure 3.2: ...");
    ``alt`` describes what the frames show (for a screen reader; the caption if empty);
    ``notice`` is the one-line "What to notice", shown above the sliders."""

    compute: Callable
    sliders: list[Slider]
    plot: Callable
    title: str
    caption: str = ""
    dpi: int = 80
    number: str = ""
    alt: str = ""
    notice: str = ""
    #: optional: a (memoised) function returning the whole grid's results, when the chapter has
    #: computed them already; the website frames use it, and the live view reads grid points
    #: from it, so JAX recomputes (and compiles) only when a slider leaves the grid.
    grid_fn: Callable | None = None
    #: optional: a (memoised) function returning a dict of arrays that the live view passes to
    #: ``compute`` as extra keyword arguments (e.g. a precomputed table of random numbers): they
    #: are arguments of the compiled program, not constants baked into it.
    consts: Callable | None = None
    #: False when ``compute`` only looks results up (no retraining): the live view's status line
    #: then says so instead of "recomputed with JAX".
    recomputes: bool = True
    #: False when ``compute`` runs its own compiled programs (for instance several at once, one
    #: per core, or reusing a run the last move computed): the live view then calls it as is.
    jit: bool = True
    _jitted: Callable | None = field(default=None, repr=False)
    _live_fig: object = field(default=None, repr=False)
    _layout: dict | None = field(default=None, repr=False)
    timing: tuple = field(default=(0.0, 0.0), repr=False)

    # ----- computing ---------------------------------------------------------------------
    def _grid_index(self, params) -> tuple[int, ...] | None:
        idx = []
        for s in self.sliders:
            hit = np.flatnonzero(np.isclose(np.asarray(s.values, float), float(params[s.name]),
                                            rtol=1e-9, atol=0))
            if hit.size == 0:
                return None
            idx.append(int(hit[0]))
        return tuple(idx)

    def __call__(self, **params):
        """Compute at one point (jitted) and return the result as NumPy arrays."""
        if self.grid_fn is not None:
            idx = self._grid_index(params)
            if idx is not None:
                return jax.tree_util.tree_map(lambda a: np.asarray(a[idx]), self.grid_results())
        if self._jitted is None:
            self._jitted = jax.jit(self.compute) if self.jit else self.compute
        extra = self.consts() if self.consts is not None else {}
        out = self._jitted(**{k: np.asarray(v) for k, v in params.items()}, **extra)
        return jax.tree_util.tree_map(np.asarray, out)

    def figure(self, **params):
        """Compute and draw at one point; returns the matplotlib Figure."""
        point = {s.name: s.default for s in self.sliders}
        point.update(params)
        return self.plot(self(**point), **point)

    def live_frame(self, **point) -> bytes:
        """What the live widget does when a slider moves: recompute with JAX, update the kept
        figure's changing parts, encode PNG. ``self.timing`` holds the last (compute, draw) in s."""
        t0 = time.perf_counter()
        result = self(**point)
        t1 = time.perf_counter()
        new = self._live_fig is None
        with style.offscreen():
            self._live_fig = self.plot(result, fig=self._live_fig, **point)
        self._live_fig.set_dpi(self.dpi)
        if new and self._layout is not None:
            style.set_layout(self._live_fig, self._layout)  # the website frames' layout
        frame = style.png(self._live_fig, close=False)
        if self._layout is None:
            self._layout = style.layout(self._live_fig)
        self.timing = (t1 - t0, time.perf_counter() - t1)
        return frame

    def grid_results(self):
        """The whole website grid in one ``jit(vmap(compute))`` (or ``grid_fn``), as NumPy arrays."""
        if self.grid_fn is not None:
            return jax.tree_util.tree_map(np.asarray, self.grid_fn())
        extra = self.consts() if self.consts is not None else {}
        out = grid(lambda **kw: self.compute(**kw, **extra), **{s.name: s.values for s in self.sliders})
        return jax.tree_util.tree_map(np.asarray, out)

    # ----- the static, kernel-free view ----------------------------------------------------
    def frames(self, progress: bool = True) -> list[str]:
        """Every grid point drawn to a base64 PNG, in C order over the sliders (one figure, its
        changing parts updated from point to point: the same drawing as the live view's).
        ``progress``: say so on one updating line (see :class:`Progress`)."""
        t0 = time.perf_counter()
        shape = tuple(len(s.values) for s in self.sliders)
        total = int(np.prod(shape))
        line = Progress() if progress else None
        if line:
            line.show(f"{self.title}: computing the {total} slider settings of the website's "
                      "version with JAX ...")
        res = self.grid_results()
        out = []
        fig = None
        for n, idx in enumerate(itertools.product(*(range(k) for k in shape))):
            point = {s.name: s.values[i] for s, i in zip(self.sliders, idx)}
            r = jax.tree_util.tree_map(lambda a: a[idx], res)
            new = fig is None
            with style.offscreen():
                fig = self.plot(r, fig=fig, **point)
            fig.set_dpi(self.dpi)
            if new and self._layout is not None:
                style.set_layout(fig, self._layout)  # the live view's layout, if it came first
            out.append(base64.b64encode(style.png(fig, quantize=True, close=False)).decode("ascii"))
            if self._layout is None:
                self._layout = style.layout(fig)
            if line:
                line.show(f"{self.title}: drawing the website's frames, {n + 1} of {total} "
                          f"({time.perf_counter() - t0:.0f} s)")
        if line:
            line.close()
        return out

    def default_index(self) -> int:
        """Index of the sliders' default point in the flat (C-order) list of frames."""
        shape = [len(s.values) for s in self.sliders]
        return int(np.ravel_multi_index([s.values.index(s.default) for s in self.sliders], shape))

    def static_html(self, frames: list[str] | None = None) -> str:
        """Self-contained HTML: an image, one labelled range input per slider, inline JS.

        A light card with its own text colour (readable in a dark theme too); the range inputs are
        32 px tall touch targets, and a row wraps on a narrow screen so the readout is never cut.
        A frame wider than its box (a phone) scrolls sideways and says so in a line below it
        (phones hide scrollbars).
        """
        frames = self.frames() if frames is None else frames
        uid = "nlx-" + uuid.uuid4().hex[:10]
        # The frames' size in pixels (from the first PNG's header). On a narrow screen a frame is
        # never shrunk below the width at which its tick labels are PHONE_TEXT_PX tall: it scrolls
        # sideways inside its own box instead (never the page).
        head = base64.b64decode(frames[0][:44])
        width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        min_width = int(np.ceil(width * PHONE_TEXT_PX / (style.RC["font.size"] * self.dpi / 72)))
        shape = [len(s.values) for s in self.sliders]
        start = [s.values.index(s.default) for s in self.sliders]
        flat0 = self.default_index()
        labels = [[s.text(v) for v in s.values] for s in self.sliders]
        payload = json.dumps({"frames": frames, "shape": shape, "labels": labels})
        payload = payload.replace("</", "<\\/")
        alt = html.escape(self.alt or self.caption or self.title, quote=True)
        controls = []
        for j, s in enumerate(self.sliders):
            sid = f"{uid}-s{j}"
            controls.append(
                f'<div class="nlx-row"><label for="{sid}">{html.escape(s.label)}</label>'
                f'<input type="range" id="{sid}" data-axis="{j}" min="0" max="{len(s.values) - 1}" '
                f'step="1" value="{start[j]}" aria-valuetext="{html.escape(labels[j][start[j]])}">'
                f'<output for="{sid}" id="{sid}-out">{html.escape(labels[j][start[j]])}</output></div>'
            )
        body = f"""<div class="normlab-explorable" id="{uid}" role="group" aria-label="{html.escape(self.title, quote=True)}">
<style>#{uid}{{border:1px solid #ccc;border-radius:6px;padding:.5em;margin:.5em 0;max-width:100%;box-sizing:border-box;background:#fff;color:#1a1a1a}}
#{uid} img{{max-width:100%;height:auto;display:block;background:#fff}}
#{uid} .nlx-row{{display:flex;flex-wrap:wrap;align-items:center;gap:.25em .75em;margin:.35em 0}}
#{uid} .nlx-row label{{flex:0 1 11em}}
#{uid} .nlx-row input{{flex:1 1 10em;min-width:6em;max-width:22em;height:32px;margin:0;cursor:pointer}}
#{uid} output{{font-family:monospace;min-width:5em;white-space:nowrap}} #{uid} .nlx-note{{font-size:.85em;color:#555}}
@media (max-width: 600px) {{ #{uid} img{{max-width:none;width:{min_width}px}} }}
#{uid} .nlx-frame{{overflow-x:auto;max-width:100%}} #{uid} .nlx-swipe{{display:none;font-size:.85em;color:#555}}</style>
<div class="nlx-title"><strong>{html.escape(self.title)}</strong></div>
<div class="nlx-frame" tabindex="0" role="region" aria-label="figure (scrolls sideways on a narrow screen)">
<img id="{uid}-img" src="data:image/png;base64,{frames[flat0]}" alt="{alt}" width="{width}" height="{height}"></div>
<div class="nlx-swipe" aria-hidden="true">&#8596; the figure is wider than the screen: swipe it sideways to see all of it</div>
{''.join(controls)}
<div class="nlx-note">Precomputed on a grid of {len(frames)} settings when the book was built; open the notebook to recompute at any value.</div>
<script type="application/json" id="{uid}-data">{payload}</script>
<script>(function(){{
var root=document.getElementById("{uid}");
var data=JSON.parse(document.getElementById("{uid}-data").textContent);
var img=document.getElementById("{uid}-img");
var urls=data.frames.map(function(f){{return "data:image/png;base64,"+f;}});
var cache=urls.map(function(u){{var im=new Image();im.src=u;if(im.decode){{im.decode().catch(function(){{}});}}return im;}});
var inputs=root.querySelectorAll('input[type=range]');
function show(){{
  var idx=0;
  for(var j=0;j<inputs.length;j++){{
    var v=parseInt(inputs[j].value,10);
    idx=idx*data.shape[j]+v;
    var t=data.labels[j][v];
    document.getElementById(inputs[j].id+"-out").textContent=t;
    inputs[j].setAttribute("aria-valuetext",t);
  }}
  img.src=urls[idx];
  root.setAttribute("data-frame",String(idx));
}}
for(var j=0;j<inputs.length;j++){{inputs[j].addEventListener("input",show);}}
var frame=root.querySelector(".nlx-frame"),swipe=root.querySelector(".nlx-swipe");
function hint(){{swipe.style.display=frame.scrollWidth>frame.clientWidth+1?"block":"none";}}
window.addEventListener("resize",hint);img.addEventListener("load",hint);hint();
root.setAttribute("data-frame","{flat0}");
root.setAttribute("data-ready","1");
}})();</script>
</div>"""
        return show.wrap(body, self.number, self.caption, self.notice)

    # ----- the live view -----------------------------------------------------------------
    def widget(self, first_frame: bytes | None = None):
        """The live ipywidgets control: sliders, the figure as an image, and a timing line.

        ``first_frame``: PNG of the default point (e.g. the website's frame), shown until a slider
        moves, so that displaying the widget costs no compilation; otherwise it is computed.
        """
        import ipywidgets as W

        controls = []
        for s in self.sliders:
            lo, hi = s.values[0], s.values[-1]
            common = dict(description=s.label, continuous_update=False,
                          style={"description_width": "initial"},
                          layout=W.Layout(width="32em"))
            if s.log:
                c = W.FloatLogSlider(value=s.default, base=10, min=np.log10(lo), max=np.log10(hi),
                                     step=0.01, readout_format=".3g", **common)
            elif s.integer:
                c = W.IntSlider(value=s.default, min=lo, max=hi, step=1, **common)
            else:
                c = W.FloatSlider(value=s.default, min=lo, max=hi, step=(hi - lo) / 200,
                                  readout_format=".3g", **common)
            controls.append(c)
        image = W.Image(format="png")
        status = W.HTML()

        def redraw(*_):
            point = {s.name: (int(c.value) if s.integer else float(c.value))
                     for s, c in zip(self.sliders, controls)}
            status.value = "<small>computing...</small>"
            try:
                image.value = self.live_frame(**point)
                comp, draw = self.timing
                verb = "recomputed with JAX" if self.recomputes else "looked up (nearest precomputed run)"
                status.value = (f"<small>{verb} in {1000 * comp:.0f} ms, redrawn in "
                                f"{1000 * draw:.0f} ms</small>")
            except Exception as e:  # a slider must never leave a traceback or a blank figure
                status.value = f"<b>Could not compute this setting:</b> {html.escape(str(e))}"

        for c in controls:
            c.observe(redraw, names="value")
        if first_frame is None:
            redraw()
        else:
            image.value = first_frame
            status.value = ("<small>Move a slider to retrain with JAX at that value "
                            "(the first move off the website grid compiles the computation: seconds, once).</small>"
                            if self.recomputes else
                            "<small>Move a slider: the view shows the precomputed run nearest to that "
                            "value, and says which in its title.</small>")
        head = [W.HTML(f"<b>{html.escape(self.title)}</b>")]
        if self.notice:
            head.append(W.HTML(show.notice_html(self.notice)))
        tail = [W.HTML(show.caption_html(self.number, self.caption))] if self.caption else []
        return W.VBox([*head, *controls, image, status, *tail])

    def _repr_mimebundle_(self, include=None, exclude=None):
        if os.environ.get("NORMLAB_GRADING"):  # the course grader's kernel: nothing is drawn
            return {"text/plain": f"<Explorable: {self.title} (not computed while grading)>"}
        frames = self.frames()
        static = self.static_html(frames)
        bundle = {"text/plain": f"<Explorable: {self.title}>"}
        if _in_kernel():
            try:
                first = base64.b64decode(frames[self.default_index()])
                bundle.update(self.widget(first_frame=first)._repr_mimebundle_())
            except Exception:  # no ipywidgets: the static view still works
                pass
        bundle["text/html"] = static  # ours, not a widget's plain-text fallback
        return bundle


class Progress:
    """One line of progress that updates in place: in a Jupyter kernel a display that is updated
    (one output, in Jupyter, Colab and nbconvert alike) and emptied when the work is done, so
    nothing of it stays on the website; elsewhere a carriage-return line on stderr."""

    #: Set by ``tasks.py build``: the line also reaches the build's log (the kernel's own stderr),
    #: at most every few seconds, so a long notebook says what it is doing there too.
    BUILD_LOG = "NORMLAB_BUILD_LOG"

    def __init__(self):
        self.handle = None
        self.kernel = _in_kernel()
        self.log = self.kernel and bool(os.environ.get(self.BUILD_LOG)) and sys.__stderr__ is not None
        self.logged, self.text = None, ""

    def _to_build_log(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if self.log and (force or self.logged is None or now - self.logged >= 5):
            print(f"    [notebook] {text}", file=sys.__stderr__, flush=True)
            self.logged = now

    def show(self, text: str) -> None:
        self.text = text
        self._to_build_log(text)
        if not self.kernel:
            print(f"\r{text}", end="", file=sys.stderr, flush=True)
            return
        from IPython.display import display

        if self.handle is None:
            self.handle = display({"text/plain": text}, raw=True, display_id=True)
        else:
            self.handle.update({"text/plain": text}, raw=True)

    def close(self) -> None:
        self._to_build_log(f"{self.text}: done", force=True)
        if not self.kernel:
            print(file=sys.stderr, flush=True)
        elif self.handle is not None:
            self.handle.update({"text/html": ""}, raw=True)  # done: an empty output


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None
