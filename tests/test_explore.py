"""The explorable: one object gives a live widget and a self-contained static view."""

import json
import re

import jax.numpy as jnp
import numpy as np

from normlab import explore, style


def compute(a, n):
    t = jnp.linspace(0, 1, 20)
    return {"y": a * t ** 2 + n, "z": jnp.exp(a * 40 * t)}


def plot(r, a, n, fig=None):
    if fig is None:
        fig, ax = style.figure()
        ax[0, 0].set(xlabel="step", ylabel="value (a.u.)")
    ax = style.axes(fig)[0, 0]
    style.curve(ax, np.arange(20), r["y"], color=style.COLORS["bn"], label="y")
    k = style.curve(ax, np.arange(20), r["z"], color=style.COLORS["plain"], label="z")
    style.title(ax, f"a={a:.3g} n={n} k={k}")
    style.rescale(ax)
    style.legend(ax, loc="upper left")
    return fig


EX = explore.Explorable(
    compute,
    [explore.Slider("a", "scale a", [0.1, 1.0, 10.0], log=True),
     explore.Slider("n", "offset </script> n", [1, 2], integer=True, default=2)],
    plot, title="test explorable", caption="a test")


def test_static_view_is_self_contained_and_escaped():
    html = EX.static_html()
    assert html.count('type="range"') == 2
    data = re.search(r'<script type="application/json"[^>]*>(.*?)</script>', html, re.S).group(1)
    payload = json.loads(data)
    assert payload["shape"] == [3, 2] and len(payload["frames"]) == 6
    assert len(set(payload["frames"])) == 6, "every grid point has its own figure"
    assert "</script> n" not in html, "label text must be escaped"
    assert "http://" not in html and "https://" not in html
    assert 'alt="a test"' in html


def test_grid_matches_pointwise_compute():
    g = EX.grid_results()
    np.testing.assert_allclose(g["y"][2, 0], EX(a=10.0, n=1)["y"], rtol=1e-6)


def test_live_widget_recomputes_at_any_value():
    import ipywidgets as W

    w = EX.widget()
    sliders = [c for c in w.children if isinstance(c, (W.FloatLogSlider, W.IntSlider))]
    image = next(c for c in w.children if isinstance(c, W.Image))
    before = image.value
    sliders[0].value = 0.37  # not a grid point
    assert image.value != before and image.value[:4] == b"\x89PNG"


def test_divergence_is_drawn_not_raised():
    fig = EX.figure(a=10.0, n=1)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any(t.startswith("diverged at step") for t in texts)
    assert "k=" in fig.axes[0].get_title() and "k=None" not in fig.axes[0].get_title()


def test_mime_bundle_has_static_html():
    b = EX._repr_mimebundle_()
    assert "normlab-explorable" in b["text/html"]


def test_grid_fn_serves_grid_points_and_computes_the_others():
    calls = []

    def compute(lr):
        calls.append(1)
        return {"v": 2 * lr}

    ex = explore.Explorable(compute, [explore.Slider("lr", "lr", [0.1, 1.0, 10.0], log=True)],
                            plot, title="t", grid_fn=lambda: {"v": np.array([111.0, 222.0, 333.0])})
    assert float(ex(lr=1.0)["v"]) == 222.0  # read from the shared grid, nothing computed
    assert not calls
    assert ex.grid_results()["v"].tolist() == [111.0, 222.0, 333.0]
    assert float(ex(lr=3.0)["v"]) == 6.0  # off the grid: computed with JAX
    assert calls


def test_a_redrawn_figure_equals_a_fresh_one():
    """The live view and the website frames update one figure's changing parts; at every grid
    point the pixels equal those of a figure drawn from scratch for that point."""
    import itertools

    with style.offscreen():
        kept = None
        for a, n in itertools.product([10.0, 0.1, 1.0], [2, 1]):
            r = EX(a=a, n=n)
            kept = plot(r, a=a, n=n, fig=kept)
            style.render(kept)
            fresh = plot(r, a=a, n=n)
            style.set_layout(fresh, style.layout(kept))  # as the live view takes the frames' layout
            np.testing.assert_array_equal(style.render(kept), style.render(fresh))


def test_the_live_view_draws_with_the_website_frames_layout():
    ex = explore.Explorable(compute, EX.sliders, plot, title="t")
    ex.frames(progress=False)
    ex.live_frame(a=0.5, n=1)
    assert style.layout(ex._live_fig) == ex._layout


def test_live_frame_reports_compute_and_draw_time():
    frame = EX.live_frame(a=0.5, n=1)
    assert frame[:4] == b"\x89PNG"
    comp, draw = EX.timing
    assert comp > 0 and draw > 0


def test_numbered_figures_static_and_explorable():
    """Explorables and static figures render as numbered figures with a caption, alt text that
    describes the picture and a 'What to notice' line; a bad number or a path as alt is refused."""
    import dataclasses

    import matplotlib.pyplot as plt
    import pytest

    from normlab import show

    ex = dataclasses.replace(EX, number="9.1", alt="two curves, y against x", notice="n shifts y")
    html = ex.static_html()
    assert html.startswith('<figure class="normlab-figure" id="fig-9-1">')
    assert "<strong>Figure 9.1:</strong> a test</figcaption>" in html
    assert 'alt="two curves, y against x"' in html and "What to notice:</strong> n shifts y" in html
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    f = show.figure(fig, "9.2", "a falling line", "a line falling from 1 to 0")
    h = f._repr_html_()
    assert 'id="fig-9-2"' in h and "Figure 9.2:" in h and 'alt="a line falling from 1 to 0"' in h
    assert "data:image/png;base64," in h and not plt.fignum_exists(fig.number)
    # the PNG is a palette image (the page budget) that keeps the plot's colours
    from PIL import Image
    import io
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0], color="#0072B2")
    big = io.BytesIO()
    fig.savefig(big, format="png", bbox_inches="tight")
    im = Image.open(io.BytesIO(show.figure(fig, "9.4", "a line", "a blue line falling").png))
    assert im.mode == "P" and im.size == Image.open(big).size
    assert (0, 114, 178) in {c for _, c in im.convert("RGB").getcolors(256)}
    for number, alt in (("9", "ok"), ("9.3", "figures/a.png")):
        fig, _ = plt.subplots()
        with pytest.raises(ValueError):
            show.figure(fig, number, "caption", alt)
        plt.close(fig)
