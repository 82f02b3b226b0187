"""Every figure the book makes is legible: no two visible pieces of text overlap (titles, axis
labels, the tick labels shown, legend entries, notes such as "diverged at step k"), none is cut
off at the edge and none is smaller than ``style.SMALL``. Checked on every explorable at its
default point and at the corners of its grid, and on every static figure a chapter registers (``normlab.chN.figures.FIGURES``)."""

from __future__ import annotations

import importlib
import itertools

import matplotlib.pyplot as plt
import pytest

from normlab import claims, style

CHAPTERS = [m.rsplit(".", 1)[0] for m in claims.MODULES]


def explorable_points():
    for ch in CHAPTERS:
        for name, factory in importlib.import_module(f"{ch}.explorables").EXPLORABLES.items():
            ex = factory()
            shape = [len(s.values) for s in ex.sliders]
            points = set(itertools.product(*[(0, n - 1) for n in shape]))
            points.add(tuple(s.values.index(s.default) for s in ex.sliders))
            for idx in sorted(points):
                yield pytest.param(factory, idx, id=f"{ch.split('.')[-1]}-{name}-{idx}")


def static_figures():
    for ch in CHAPTERS:
        for name, thunk in getattr(importlib.import_module(f"{ch}.figures"), "FIGURES", {}).items():
            yield pytest.param(thunk, id=f"{ch.split('.')[-1]}-{name}")


def test_every_chapter_registers_its_static_figures():
    for ch in CHAPTERS:
        assert getattr(importlib.import_module(f"{ch}.figures"), "FIGURES", None), \
            f"{ch}.figures has no FIGURES registry"


@pytest.mark.parametrize("factory,idx", list(explorable_points()))
def test_explorable_frames_are_legible(factory, idx):
    ex = factory()
    point = {s.name: s.values[i] for s, i in zip(ex.sliders, idx)}
    with style.offscreen():
        fig = ex.plot(ex(**point), **point)
    fig.set_dpi(ex.dpi)
    problems = style.text_problems(fig)
    assert not problems, f"{ex.title} at {point}: " + "; ".join(problems)


@pytest.mark.parametrize("thunk", list(static_figures()))
def test_static_figures_are_legible(thunk):
    fig = thunk()
    try:  # as the notebook shows it: with the margins the figure function gave it
        problems = style.text_problems(fig, fit_first=False)
        assert not problems, "; ".join(problems)
    finally:
        plt.close(fig)


def test_the_overlap_finder_finds_overlaps():
    """The tests above can fail: two titles drawn on top of each other are found."""
    fig, ax = style.figure(2, 1, title="a figure title")
    ax[0, 0].text(0.5, 0.5, "a note", transform=ax[0, 0].transAxes)
    ax[0, 0].text(0.52, 0.5, "another note", transform=ax[0, 0].transAxes)
    fig.text(0.97, 0.5, "text running off the right edge")
    ax[0, 1].text(0.1, 0.1, "tiny print", fontsize=style.SMALL - 1.5, transform=ax[0, 1].transAxes)
    problems = style.text_problems(fig)
    plt.close(fig)
    assert any("'a note' overlaps" in p for p in problems), problems
    assert any("off the right edge' sticks out" in p for p in problems), problems
    assert any("'tiny print' is 6.5 pt" in p for p in problems), problems
