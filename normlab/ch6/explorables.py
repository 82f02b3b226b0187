r"""Chapter 6's explorables: the WS projection of one unit with a small fan-in (sigma_W as the
slider), and the micro-batch story (batch size x learning rate for BN, GN and GN+WS, read from the
chapter's own sweep)."""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

from normlab import weightstd
from normlab.ch6 import figures
from normlab.ch6 import smallbatch as sb
from normlab.explore import Explorable, Slider
from normlab.measure import trailing_mean

# ------------------------------------------------------------------------------------------------
# The WS projection
# ------------------------------------------------------------------------------------------------
FAN_IN = 6
SIGMAS = tuple(float(v) for v in np.geomspace(0.05, 4.0, 21))
_rng = np.random.default_rng(6)
W_HAT = weightstd.standardize(_rng.normal(size=(FAN_IN, 1)))[:, 0]
G = np.asarray(_rng.normal(size=FAN_IN) + 0.8 * np.asarray(W_HAT) + 0.5)  # has a W_hat and a 1 component
MU = 0.3


def projection_compute(sigma):
    r"""One unit: :math:`W = \mu + \sigma_W\hat W` (fixed direction, mean 0.3), the gradient ``g``
    with respect to :math:`\hat W` (fixed) and :math:`\nabla_W\ell = Pg/\sigma_W`
    (:func:`normlab.weightstd.backward`); the gradient norm over the whole slider range."""
    w_hat, g = jnp.asarray(W_HAT), jnp.asarray(G)
    W = MU + sigma * w_hat
    grad_w = weightstd.backward(g[:, None], W[:, None])[:, 0]
    sigmas = jnp.asarray(SIGMAS)
    pg = jnp.linalg.norm(weightstd.backward(g[:, None], w_hat[:, None])[:, 0])  # ||Pg|| (sigma = 1)
    pg_vec = weightstd.backward(g[:, None], w_hat[:, None])[:, 0]   # Pg (sigma = 1)
    cos = jnp.dot(grad_w, pg_vec) / (jnp.linalg.norm(grad_w) * jnp.linalg.norm(pg_vec))
    return {"W": W, "g": g, "grad_w": grad_w, "sigma": sigma, "grad_norm": jnp.linalg.norm(grad_w), "cos": cos,
            "g_norm": jnp.linalg.norm(g), "sigmas": sigmas, "curve": pg / sigmas,
            "ylim": jnp.array([-100.0, 100.0])}


def projection_explorable() -> Explorable:
    sliders = [Slider("sigma", "\u03c3_W (the unit's weight spread)", SIGMAS, default=SIGMAS[10],
                      log=True, fmt="{:.3g}")]
    return Explorable(
        projection_compute, sliders,
        lambda res, fig=None, sigma=None: figures.plot_projection(res, fig, sigma),
        title="The WS projection of one unit's gradient",
        caption="One output unit with a fan-in of six weights under Weight Standardization: its "
                "weights W (mean 0.3, spread \u03c3_W), the gradient g with respect to the "
                "standardized weights and the gradient with respect to W, Pg/\u03c3_W; right, the "
                "norm of the gradient with respect to W against \u03c3_W (log-log), the dashed line "
                "the norm of g; the titles give the cosine between the W-gradient and Pg, and the "
                "ratio \u2016\u2207_W \u2113\u2016 / \u2016g\u2016.",
        number="6.2",
        alt="Left: three markers per weight index, the weight, the gradient g and the gradient "
            "with respect to W. Right: a falling straight line of gradient norm against sigma_W "
            "on log axes, a dashed horizontal line at the norm of g, and a red dot at the "
            "current sigma_W.",
        notice="Move \u03c3_W across its range: read the cosine between the W-gradient and Pg in the left "
               "panel's title, and follow the red dot on the right to where it crosses the dashed "
               "line \u2016g\u2016.")


# ------------------------------------------------------------------------------------------------
# The micro-batch story
# ------------------------------------------------------------------------------------------------
EXPLORE_METHODS = ("BN", "GN", "GN+WS")
RATES = (0, 1, 2)  # the position in each batch size's learning-rate grid (low, middle, high)
SMOOTH = figures.SMOOTH


@functools.lru_cache(maxsize=None)
def microbatch_grid() -> dict:
    """(batches, rates, ...) arrays from the chapter's sweep: ``loss`` (3 methods, steps), the
    mean over seeds smoothed over ``SMOOTH`` steps (NaN where a seed did not train);
    ``error`` (3,) the mean test error (NaN where a seed did not train); ``batch``, ``lr``."""
    rows = [batch_row(b) for b in sb.BATCHES]
    return {k: np.asarray([r[k] for r in rows], np.float32) for k in ("loss", "error", "batch", "lr")}


@functools.lru_cache(maxsize=None)
def batch_row(b: int) -> dict:
    """One batch size's row of :func:`microbatch_grid` (rates, ...): reads that batch size's sweep only."""
    res, st = sb.sweep(b), sb.statuses(sb.sweep(b))
    row_l, row_e = [], []
    for j, lr in enumerate(sb.LRS[b]):
        L, E = [], []
        for m in EXPLORE_METHODS:
            i = res["kinds"].index(m)
            ok = all(s.ok for s in st[i, j])
            curve = trailing_mean(res["loss"][i, j].mean(0), SMOOTH)
            L.append(curve if ok else np.full_like(curve, np.nan))
            E.append(float(1 - res["test_acc"][i, j].mean()) if ok else np.nan)
        row_l.append(L), row_e.append(E)
    return {"loss": np.asarray(row_l), "error": np.asarray(row_e),
            "batch": np.full(len(sb.LRS[b]), float(b)), "lr": np.asarray(sb.LRS[b], float)}


def microbatch_compute(batch, rate, loss, error, **unused):
    """A look-up in the precomputed grid (no training live)."""
    i = jnp.argmin(jnp.abs(jnp.log2(jnp.asarray(sb.BATCHES, jnp.float32)) - jnp.log2(batch)))
    k = jnp.clip(jnp.round(rate), 0, len(RATES) - 1).astype(jnp.int32)
    g = microbatch_grid()
    return {"loss": loss[i, k], "error": error[i, k], "batch": jnp.asarray(g["batch"])[i, k],
            "lr": jnp.asarray(g["lr"])[i, k]}


def _consts():
    g = microbatch_grid()
    return {"loss": g["loss"], "error": g["error"]}


def microbatch_explorable() -> Explorable:
    sliders = [Slider("batch", "examples per batch", sb.BATCHES, default=2, log=True,
                      integer=True, fmt="{:d}"),
               Slider("rate", "learning rate: 0 low, 1 middle, 2 high of the batch's grid (value in the title)", RATES,
                      default=1, integer=True, fmt="{:d}")]
    return Explorable(
        microbatch_compute, sliders,
        lambda res, fig=None, batch=None, rate=None: figures.plot_microbatch(res, fig, batch, rate),
        title="Micro-batches: BN, GN and GN+WS",
        caption=f"The chapter's conv net on the 8x8 digits: the training loss (mean over seeds, "
                f"{len(sb.SEEDS)} at batch sizes 1-4 and {len(sb.SEEDS_16)} at 16-{max(sb.BATCHES)}, "
                f"averaged over the last {SMOOTH} steps, drawn from step {SMOOTH}) of BN, GN and GN+WS trained at the chosen batch size and learning rate "
                f"(each batch size has its own grid of three rates) for {sb.STEPS} steps; the legend "
                "gives the mean test error (BN with its running statistics).",
        grid_fn=microbatch_grid, consts=_consts, recomputes=False, number="6.4",
        alt="Training-loss curves of three methods against SGD step for one batch size and one "
            "learning rate; the legend lists each method's test error.",
        notice="Set batch 2 and the middle rate and compare BN's legend entry with GN's and GN+WS's; "
               "then move the rate slider and read how far each entry moves.")


# The chapter's explorables, by name (the benchmark times each one's live slider).
EXPLORABLES = {"projection": projection_explorable, "microbatch": microbatch_explorable}
