r"""7.1 Scale invariance: the same two identities for every normalization of the book.

If the loss depends on a weight vector :math:`w` only through :math:`w/\|w\|` (the loss is
*scale-invariant* in :math:`w`), then differentiating :math:`L(kw) = L(w)` in :math:`k` at
:math:`k = 1` gives :math:`\langle w, \nabla L(w)\rangle = 0`, and in :math:`w` gives
:math:`\nabla L(kw) = \nabla L(w)/k`. Which :math:`w` is invariant depends on the normalization:
each unit's incoming weights for BN, WN's :math:`v` and WS's :math:`W`; each group of units for
GN; the whole layer for LN. All of it holds only at :math:`\epsilon = 0`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

import normlab
from normlab import data, nets, train

SIZES = (64, 32, 32, 10)
BATCH = 64
GN_GROUPS = 4


def layer_of(kind: str, eps: float = 0.0):
    """The hidden layer of each kind, at normalizer epsilon ``eps``; and the name of its
    scale-invariant parameter."""
    layers = {
        "BN": (nets.BatchNorm(eps=eps), "W"),
        "LN": (nets.LayerNorm(eps=eps), "W"),
        "GN": (nets.GroupNorm(groups=GN_GROUPS, eps=eps), "W"),
        "WN": (nets.WeightNorm(), "v"),
        "WS": (nets.WS(nets.Dense(), eps=eps), "W"),
        "none": (nets.Dense(), "W"),
    }
    if kind not in layers:
        raise ValueError(f"kind must be one of {sorted(layers)}; got {kind!r}")
    return layers[kind]


def groups(kind: str, units: int) -> np.ndarray:
    """Which invariance group each unit (column) belongs to: its own for BN, WN, WS (and, as a
    control, the plain layer); ``GN_GROUPS`` contiguous groups for GN; one for LN."""
    if kind == "LN":
        return np.zeros(units, int)
    if kind == "GN":
        return np.arange(units) // (units // GN_GROUPS)
    return np.arange(units)


def _loss(kind, eps):
    layer, _ = layer_of(kind, eps)
    d = data.digits(dtype=jnp.float64)
    x, y = d["x_train"][:BATCH], d["y_train"][:BATCH]
    return lambda p: train.cross_entropy(nets.apply_mlp(p, x, layer)[0], y)


def identities(kind: str, eps: float = 0.0, seed: int = 0, ks=(0.1, 3.0, 100.0)) -> dict:
    r"""Both identities in float64 on the digits MLP (``SIZES``) with hidden layers of ``kind``:

    - ``orth``: the largest :math:`|\langle w, \nabla L\rangle|/(\|w\|\,\|\nabla L\|)` over the
      invariance groups of every hidden layer's invariant parameter (0 when invariant);
    - ``scale``: the largest relative error of :math:`k\,\nabla L(kw)` against :math:`\nabla L(w)`
      over ``ks`` (every hidden layer's invariant parameter scaled by :math:`k`);
    - ``out_orth``, ``out_scale``: the same for the output layer's weights (never invariant).
    """
    with normlab.float64():
        layer, name = layer_of(kind, eps)
        p = nets.init_mlp(seed, SIZES, layer, dtype=jnp.float64)
        loss = _loss(kind, eps)
        g = jax.grad(loss)(p)

        def orth(w, gw, grp):
            w, gw = np.asarray(w).reshape(-1, w.shape[-1]), np.asarray(gw).reshape(-1, gw.shape[-1])
            out = 0.0
            for j in np.unique(grp):
                a, b = w[:, grp == j], gw[:, grp == j]
                den = np.linalg.norm(a) * np.linalg.norm(b)
                if den > 0:  # a unit with no gradient (dead) has nothing to be orthogonal
                    out = max(out, abs(np.sum(a * b)) / den)
            return out

        o = max(orth(p[i][name], g[i][name], groups(kind, p[i][name].shape[-1]))
                for i in range(len(p) - 1))
        last = p[-1]["W"]
        o_out = orth(last, g[-1]["W"], np.zeros(last.shape[-1], int))

        def scaled(k, out_layer=False):
            q = [dict(l) for l in p]
            if out_layer:
                q[-1]["W"] = k * q[-1]["W"]
            else:
                for i in range(len(q) - 1):
                    q[i][name] = k * q[i][name]
            gk = jax.grad(loss)(q)
            if out_layer:
                return _rel(k * gk[-1]["W"], g[-1]["W"])
            return max(_rel(k * gk[i][name], g[i][name]) for i in range(len(q) - 1))

        s = max(scaled(k) for k in ks)
        s_out = scaled(ks[-1], True)
    return {"orth": float(o), "scale": float(s), "out_orth": float(o_out), "out_scale": float(s_out)}


def _rel(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / max(1e-300, np.max(np.abs(b))))


KINDS = ("BN", "LN", "GN", "WN", "WS")


@functools.lru_cache(maxsize=None)
def table(eps: float = 0.0) -> dict:
    """:func:`identities` for every normalization of the book and the plain layer, at ``eps``."""
    return {k: identities(k, eps) for k in KINDS + ("none",)}


def eps_curve(kind: str = "BN", epss=(1e-12, 1e-9, 1e-6, 1e-5, 1e-3, 1e-1)) -> dict:
    """How the identities break as the normalizer's epsilon grows (``orth`` and ``scale`` per eps)."""
    rows = [identities(kind, e, ks=(3.0,)) for e in epss]
    return {"eps": np.asarray(epss), "orth": np.array([r["orth"] for r in rows]),
            "scale": np.array([r["scale"] for r in rows])}
