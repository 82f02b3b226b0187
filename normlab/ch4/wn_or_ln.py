r"""Chapter 4, Going further "WN or LN?": the argument that LN is preferable because WN's Fisher still
depends on the scale of the data, tested twice:

- :func:`fisher_rescaling`: the exact Fisher of the GLMs of :mod:`normlab.ch4.geometry` at fixed
  parameters, with every input multiplied by ``s``: how far it moves from the Fisher at ``s = 1``;
- :func:`training_rescaling`: the digits MLP trained with the inputs multiplied by 0.1 and 10
  (the runs of :mod:`normlab.ch4.experiments`): how far the training curve moves, and the final
  test accuracy.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

import normlab
from normlab.ch4 import experiments as ex
from normlab.ch4.geometry import KINDS, fisher_all, glm_problem

SCALES = (0.1, 0.5, 2.0, 10.0)


@functools.lru_cache(maxsize=None)
def fisher_rescaling(seeds=(0, 1, 2), scales=SCALES) -> dict:
    r"""``change[kind]`` (seeds, scales): :math:`\|F(sx) - F(x)\|_F / \|F(x)\|_F` for the GLM of
    each kind at fixed parameters (float64); ``worst[kind]``: the largest over seeds and scales."""
    out = {"scales": np.asarray(scales), "change": {}, "worst": {}}
    with normlab.float64():
        for k in KINDS:
            rows = []
            for seed in seeds:
                P = glm_problem(seed)
                th, x = jnp.asarray(P["theta"][k]), jnp.asarray(P["x"])
                F0 = np.asarray(fisher_all(k, th, x)[0])
                rows.append([np.linalg.norm(np.asarray(fisher_all(k, th, s * x)[0]) - F0)
                             / np.linalg.norm(F0) for s in scales])
            out["change"][k] = np.stack(rows)
            out["worst"][k] = float(np.max(out["change"][k]))
    return out


def training_rescaling() -> dict:
    r"""From :func:`normlab.ch4.experiments.rescaling_table`: per kind, ``curve_change`` (the
    largest relative difference of a training-loss curve at input scale 0.1 or 10 from the one
    at scale 1, same seed and batches) and ``acc[scale]`` (final test accuracy per seed, %)."""
    return ex.rescaling_table()


def rescaling_lines() -> str:
    """The training side of the test as text."""
    t = training_rescaling()
    lines = [f"{'test accuracy (%)':18s}{'inputs x 0.1':>22s}{'x 1':>22s}{'x 10':>22s}"
             f"{'loss curve change':>20s}"]
    for k in ("wn", "ln", "none", "bn"):
        cells = "".join(f"{ex.spread(t[k]['acc'][c]):>22s}" for c in (0.1, 1.0, 10.0))
        lines.append(f"{ex.KIND_NAMES[k]:18s}{cells}{t[k]['curve_change']:>20.1e}")
    return "\n".join(lines)
