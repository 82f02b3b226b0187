r"""Chapter 3, section 3.5: the data-dependent initialization (Salimans & Kingma, eqs. 5-6).

On one mini-batch, layer by layer: :math:`t = xv/\|v\|`, then :math:`g \leftarrow 1/\sigma[t]`,
:math:`b \leftarrow -\mu[t]/\sigma[t]`, so that every unit's pre-activation :math:`xw + b` has
batch mean 0 and standard deviation 1 on that batch (:func:`normlab.nets.data_init`).

- :func:`init_stats`: those statistics, measured on the initialization batch (float64: exact) and
  on the held-out digits (the paper's caveat: other batches differ "slightly");
- :func:`effective_lr_at_init`: what the scale of :math:`v` does after it (nothing to the function,
  everything to the effective learning rate :math:`\eta g^2/\|v\|^2`).
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

import normlab
from normlab import data, nets, train

SIZES = (64, 64, 64, 10)
BATCH = 64
PAPER_STD = 0.05  # the paper's v ~ N(0, 0.05^2)


def _pre_stats(params, x, layer):
    """Per hidden layer: (mean, biased std) over the rows of ``x`` of every unit's pre-activation."""
    _, aux = nets.apply_mlp(params, x, layer)
    return [(jnp.mean(z, 0), jnp.std(z, 0)) for z in aux["pre"]]


@lru_cache(maxsize=None)
def init_stats(seed: int = 0, init=PAPER_STD) -> dict:
    r"""A digits MLP with WN hidden layers, :math:`v \sim N(0, 0.05^2)` (``init``), initialized
    from one batch of 64 training images. Returns, per hidden layer:

    - ``batch_mean``, ``batch_std_err``: :math:`\max_j|\mu_j|`, :math:`\max_j|\sigma_j - 1|` on the
      initialization batch (float64);
    - ``test_mean``, ``test_std``: the per-unit mean and std over the held-out digits (arrays);
    - ``before_std``: the per-unit std on the batch *before* initialization (g = ||v||, b = 0).
    """
    layer = nets.WeightNorm()
    with normlab.float64():
        d = data.digits(dtype=jnp.float64)
        rows = train.batches(seed, 1, BATCH, d["x_train"].shape[0])["idx"][0]
        xb = d["x_train"][rows]
        p0 = nets.init_mlp(seed, list(SIZES), layer, init=init, dtype=jnp.float64)

        @jax.jit
        def go(p0, xb, xt):
            p = nets.data_init(p0, xb, layer)
            return _pre_stats(p0, xb, layer), _pre_stats(p, xb, layer), _pre_stats(p, xt, layer)

        before, after, test = jax.tree_util.tree_map(np.asarray, go(p0, xb, d["x_test"]))
    return {"batch_mean": [float(np.abs(m).max()) for m, _ in after],
            "batch_std_err": [float(np.abs(s - 1).max()) for _, s in after],
            "test_mean": [m for m, _ in test], "test_std": [s for _, s in test],
            "before_std": [s for _, s in before]}


@lru_cache(maxsize=None)
def effective_lr_at_init(seed: int = 0) -> dict:
    r"""After the data-dependent initialization, :math:`g^2/\|v\|^2` (mean over the first hidden
    layer's units), the factor between :math:`\eta` and the effective learning rate, for
    :math:`v` drawn with std 0.05 (the paper) and with He's std :math:`\sqrt{2/64}`; and the
    largest difference between the two networks' logits on the test set (the same function:
    the scale of :math:`v` cancels in eq. 5)."""
    layer = nets.WeightNorm()
    d = data.digits()
    rows = train.batches(seed, 1, BATCH, d["x_train"].shape[0])["idx"][0]
    out, logits = {}, {}
    he = nets.init_mlp(seed, list(SIZES), layer, init="he")
    for name, std in (("paper", PAPER_STD), ("he", (2.0 / SIZES[0]) ** 0.5)):
        # the same directions, two scales
        p = [dict(q, v=q["v"] * (std / (2.0 / SIZES[0]) ** 0.5)) for q in he[:-1]] + [he[-1]]
        p = nets.data_init(p, d["x_train"][rows], layer)
        n = np.linalg.norm(np.asarray(p[0]["v"]), axis=0)
        out[name] = float(np.mean(np.asarray(p[0]["g"]) ** 2 / n**2))
        logits[name] = np.asarray(nets.apply_mlp(p, d["x_test"], layer)[0])
    out["same_function"] = float(np.max(np.abs(logits["paper"] - logits["he"]))
                                 / np.max(np.abs(logits["he"])))
    return out
