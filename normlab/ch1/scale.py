r"""Chapter 1, section 1.4: scale invariance and what it does to the weights.

- :func:`scale_invariance`: :math:`\mathrm{BN}(aWu) = \mathrm{BN}(Wu)`, the :math:`1/a` weight
  gradient, and the identity :math:`\mathrm{BN}_\epsilon(aWu) = \mathrm{BN}_{\epsilon/a^2}(Wu)`;
- :func:`weight_growth`: why SGD can only grow a weight vector that feeds BN.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

import normlab
from normlab import batchnorm, data, nets, train

A_VALUES = tuple(float(a) for a in np.logspace(-3, 3, 25))


EPS_VALUES = (0.0, 1e-5, 1e-3, 1e-1)


def bn_linear(W, u, eps: float = 1e-5):
    r""":math:`\mathrm{BN}(uW)` with :math:`\gamma=1,\beta=0`: a linear layer followed by BN."""
    return batchnorm.forward(u @ W, jnp.ones(W.shape[1], W.dtype), jnp.zeros(W.shape[1], W.dtype),
                             eps)[0]


@lru_cache(maxsize=None)
def scale_invariance(a_values=A_VALUES, eps_values=EPS_VALUES, m: int = 32, seed: int = 0) -> dict:
    r"""Measure :math:`\mathrm{BN}(aWu)` against :math:`\mathrm{BN}(Wu)` and the weight gradient.

    For each ``eps`` and ``a`` (float64), with the loss :math:`\ell=\sum dy\odot\mathrm{BN}(uW)`
    and a random ``dy``:

    - ``out``: :math:`\max|\mathrm{BN}(aWu)-\mathrm{BN}(Wu)|/\max|\mathrm{BN}(Wu)|`;
    - ``grad``: relative error of :math:`a\,\nabla_W\ell|_{aW}` against :math:`\nabla_W\ell|_W`;
    - ``u_grad``: relative error of the input gradients :math:`\nabla_u\ell` at ``aW`` and ``W``;
    - ``eps_identity``: relative error of :math:`\mathrm{BN}_\epsilon(aWu)` against
      :math:`\mathrm{BN}_{\epsilon/a^2}(Wu)`, which holds for every ``a`` and ``eps``.

    ``sigma2`` is the per-unit batch variance of ``uW`` (the scale to compare ``eps`` with).
    """
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(m, 10))
    W = rng.normal(size=(10, 6)) / np.sqrt(10)
    dy = rng.normal(size=(m, 6))

    def point(a, e, W, u, dy):
        loss = lambda W_, u_: jnp.sum(dy * bn_linear(W_, u_, e))
        y0, ya = bn_linear(W, u, e), bn_linear(a * W, u, e)
        (gW0, gu0), (gWa, gua) = jax.grad(loss, (0, 1))(W, u), jax.grad(loss, (0, 1))(a * W, u)
        rel = lambda p, q: jnp.max(jnp.abs(p - q)) / jnp.maximum(1e-8, jnp.max(jnp.abs(p) + jnp.abs(q)))
        return {"out": jnp.max(jnp.abs(ya - y0)) / jnp.max(jnp.abs(y0)),
                "grad": rel(a * gWa, gW0), "u_grad": rel(gua, gu0),
                "eps_identity": rel(ya, bn_linear(W, u, e / a**2))}

    f = jax.jit(jax.vmap(jax.vmap(point, (0, None, None, None, None)), (None, 0, None, None, None)))
    with normlab.float64():
        out = {k: np.asarray(v) for k, v in
               f(np.asarray(a_values), np.asarray(eps_values, dtype=float), W, u, dy).items()}
    out["sigma2"] = (u @ W).var(axis=0)
    out["a"] = np.asarray(a_values)
    out["eps"] = np.asarray(eps_values)
    return out


@lru_cache(maxsize=None)
def weight_growth(steps: int = 300, lr: float = 2.0, seed: int = 0) -> dict:
    r"""SGD on a one-hidden-layer BN net (digits, float64, :math:`\epsilon=0`): the hidden weight
    matrix's squared norm against the prediction :math:`\|W_0\|^2+\eta^2\sum_t\|g_t\|^2`.

    With :math:`\epsilon=0` each unit's output is invariant to the scale of its weight column
    :math:`w_k`, so :math:`w_k\cdot\nabla_{w_k}\ell=0` and
    :math:`\|w_k-\eta g_k\|^2=\|w_k\|^2+\eta^2\|g_k\|^2`: the norm can only grow. Also records
    the same norm for the network without BN (same initial weights), for contrast.
    """
    rng = np.random.default_rng(seed)
    layers = {"bn": nets.BatchNorm(eps=0.0), "plain": nets.Dense()}

    def record(s):
        W, gW = s.params[0]["W"], s.grads[0]["W"]
        cos = jnp.abs(jnp.sum(W * gW, 0)) / (jnp.linalg.norm(W, axis=0) * jnp.linalg.norm(gW, axis=0))
        return {"w2": jnp.sum(W * W), "g2": jnp.sum(gW * gW), "cos": jnp.max(cos)}

    def runs(params, x, y, idx):
        out = {}
        for name, layer in layers.items():
            loss = lambda p, i, _, layer=layer: (
                train.cross_entropy(nets.apply_mlp(p, x[i], layer)[0], y[i]), {})
            p, _, h = train.run(loss, params[name], idx, lr=lr, record=record)
            out[name] = (h, jnp.sum(p[0]["W"] ** 2))
        return out

    with normlab.float64():
        d = data.digits(dtype=jnp.float64)
        x, y = d["x_train"], d["y_train"]
        idx = jnp.asarray(rng.integers(0, x.shape[0], (steps, 64)))
        params = {name: nets.init_mlp(seed, [64, 64, 10], layer, dtype=jnp.float64)
                  for name, layer in layers.items()}
        res = jax.jit(runs)(params, x, y, idx)
    out = {}
    for name, (h, w2_end) in res.items():
        out[name] = {"w2": np.append(np.asarray(h["w2"]), float(w2_end)), "g2": np.asarray(h["g2"]),
                     "cos": np.asarray(h["cos"])}
    bn = out["bn"]
    bn["predicted"] = bn["w2"][0] + lr**2 * np.concatenate([[0.0], np.cumsum(bn["g2"])])
    bn["rel_error"] = float(np.max(np.abs(bn["w2"] - bn["predicted"]) / bn["predicted"]))
    out["lr"] = lr
    return out
