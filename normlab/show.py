"""Numbered figures: what a chapter shows is "Figure N.k: caption", with alt text that says what
the picture shows.

- :func:`figure` wraps a static matplotlib figure: ``show.figure(fig, "3.2", caption, alt)`` as the
  last expression of a cell displays ``<figure class="normlab-figure">`` with the PNG (its ``alt``
  attribute a description of what it shows, never a file path) and a ``<figcaption>`` that starts
  with "Figure 3.2". The same HTML renders in Jupyter, Colab and on the website.
- :class:`normlab.explore.Explorable` takes the same ``number``, ``caption``, ``alt`` and a one-line
  ``notice`` ("What to notice"), and its website view is wrapped by :func:`wrap`.

The text refers to a figure by its number ("Figure 3.2 shows ..."); ``tests/test_teaching.py``
checks that every image of a chapter page sits in such a numbered figure.
"""

from __future__ import annotations

import base64
import html
import io
import re

_NUMBER = re.compile(r"^\d+\.\d+[a-z]?$")


def _check(number: str, caption: str) -> None:
    if not _NUMBER.match(str(number)):
        raise ValueError(f"figure number {number!r}: expected 'chapter.k', e.g. '3.2'")
    if not caption.strip():
        raise ValueError(f"Figure {number} needs a caption")


def anchor(number: str) -> str:
    """The HTML id of Figure ``number``: ``fig-3-2``."""
    return "fig-" + str(number).replace(".", "-")


def caption_html(number: str, caption: str) -> str:
    return (f'<figcaption class="normlab-caption"><strong>Figure {html.escape(str(number))}:</strong> '
            f'{html.escape(caption)}</figcaption>')


def notice_html(notice: str) -> str:
    return f'<p class="normlab-notice"><strong>What to notice:</strong> {html.escape(notice)}</p>'


def wrap(body: str, number: str = "", caption: str = "", notice: str = "") -> str:
    """``body`` (HTML) inside a numbered ``<figure>``; unchanged when ``number`` is empty."""
    if not number:
        return body
    _check(number, caption)
    top = notice_html(notice) if notice else ""
    return (f'<figure class="normlab-figure" id="{anchor(number)}">{top}{body}'
            f'{caption_html(number, caption)}</figure>')


class Figure:
    """A rendered, numbered static figure (see :func:`figure`)."""

    def __init__(self, png: bytes, size: tuple[int, int], number: str, caption: str, alt: str,
                 notice: str = ""):
        self.png, self.size = png, size
        self.number, self.caption, self.alt, self.notice = number, caption, alt, notice

    def _repr_html_(self) -> str:
        w, h = self.size
        data = base64.b64encode(self.png).decode()
        img = (f'<div class="normlab-figure-img" tabindex="0" role="region" '
               f'aria-label="Figure {html.escape(self.number)} (scrolls sideways on a narrow screen)">'
               f'<img src="data:image/png;base64,{data}" alt="{html.escape(self.alt, quote=True)}" '
               f'width="{w}" height="{h}" style="max-width:100%;height:auto"></div>')
        return wrap(img, self.number, self.caption, self.notice)

    def __repr__(self) -> str:
        return f"Figure {self.number}: {self.caption}"


def figure(fig, number: str, caption: str, alt: str, notice: str = "") -> Figure:
    """Render the matplotlib ``fig`` (cropped to its contents, as Jupyter's inline backend shows
    it), close it, and return it as numbered Figure ``number`` with its ``caption`` and ``alt``
    text (what the figure shows, for a reader who cannot see it)."""
    import matplotlib.pyplot as plt
    from PIL import Image

    from normlab import style

    _check(number, caption)
    if not alt.strip() or re.search(r"\.(png|svg|jpe?g)$|/", alt.strip()):
        raise ValueError(f"Figure {number}: alt text must describe what the figure shows, not a path")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    im = Image.open(io.BytesIO(buf.getvalue()))
    if im.mode == "RGBA" and im.getextrema()[-1][0] == 255:  # opaque: a palette loses nothing seen
        im = im.convert("RGB")
    if im.mode == "RGB":
        # a 256-colour palette: a plot's lines, text and fills keep their colours, and the PNG is
        # about 2.5x smaller (a chapter page has up to ten figures inside its 1.5 MB budget)
        png = style.palette_png(im, 256)
    else:
        png = buf.getvalue()
    return Figure(png, im.size, str(number), caption, alt, notice)
