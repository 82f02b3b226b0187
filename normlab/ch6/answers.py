r"""Chapter 6's answers, computed: what the explorables show at the settings the "predict, run,
explain" questions name, so that the solutions' statements are tested (``tests/test_ch6.py``)."""

from __future__ import annotations

import numpy as np

from normlab.ch6 import explorables as ex


def projection_crossing() -> dict:
    r"""Where the W-gradient's norm :math:`\|Pg\|/\sigma_W` equals :math:`\|g\|` (the explorable's
    unit): ``sigma`` = :math:`\|Pg\|/\|g\|`, and the W-gradient's direction at the two ends of the
    slider (``cos``: cosine between them)."""
    lo, hi = ex.projection_compute(ex.SIGMAS[0]), ex.projection_compute(ex.SIGMAS[-1])
    pg = float(np.asarray(hi["grad_norm"]) * ex.SIGMAS[-1])
    a, b = np.asarray(lo["grad_w"]), np.asarray(hi["grad_w"])
    return {"sigma": pg / float(np.asarray(hi["g_norm"])),
            "cos": float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))}


def microbatch_point(batch: int, rate: int) -> dict:
    """The micro-batch explorable at (``batch``, ``rate``): mean test error per method."""
    g = ex.batch_row(batch)   # the explorable's row of that batch size (its sweep alone)
    return {m: float(np.float32(g["error"][rate, k])) for k, m in enumerate(ex.EXPLORE_METHODS)}
