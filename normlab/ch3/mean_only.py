r"""Chapter 3, section 3.6: mean-only batch normalization (Salimans & Kingma, eqs. 7-8).

:math:`t = w\cdot x`, :math:`\tilde t = t - \mu[t] + b`; since
:math:`\partial\tilde t_i/\partial t_j = \delta_{ij} - 1/m`, the gradient is
:math:`\nabla_t\ell = \nabla_{\tilde t}\ell - \mu[\nabla_{\tilde t}\ell]` (eq. 8), and
:math:`\nabla_b\ell = \sum_i \nabla_{\tilde t_i}\ell`.

- :func:`eq8_check`: eq. 8 (:func:`normlab.weightnorm.mean_only_bn_backward`) against ``jax.vjp``
  and finite differences (float64), and the Jacobian :math:`I - \mathbf 1\mathbf 1^\top/m`;
- :func:`layer_check`: the whole WN + mean-only BN layer of :mod:`normlab.nets`, its gradients in
  :math:`(v, g, b)` from ``jax.grad`` against the hand chain eq. 8 -> :math:`h^\top` -> eqs. 3-4.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

import normlab
from normlab import nets, weightnorm
from normlab.measure import finite_difference_grad, rel_error


@lru_cache(maxsize=None)
def eq8_check(m: int = 9, units: int = 3, seed: int = 0) -> dict:
    r"""Eq. 8 against autodiff and central differences, float64, with the loss
    :math:`\ell = \sum \delta\odot\tanh(\tilde t)` (a random :math:`\delta`): ``vjp``, ``fd``
    (relative errors for :math:`\nabla_t\ell`), ``grad_b`` (against :math:`\sum_i\nabla_{\tilde t_i}\ell`),
    ``jacobian`` (``jax.jacobian`` of one unit against :math:`I - \mathbf 1\mathbf 1^\top/m`),
    ``sums_to_zero`` (:math:`\max_j|\sum_i\nabla_{t_{ij}}\ell|`, relative to the gradient's size)."""
    rng = np.random.default_rng(seed)
    t = rng.normal(1.0, 2.0, (m, units))
    b = rng.normal(size=units)
    delta = rng.normal(size=(m, units))
    with normlab.float64():
        loss = lambda t_, b_: jnp.sum(delta * jnp.tanh(weightnorm.mean_only_bn(t_, b_)))

        @jax.jit
        def auto(t, b):
            tt = weightnorm.mean_only_bn(t, b)
            up = delta * (1 - jnp.tanh(tt) ** 2)  # the upstream gradient at t~
            gt, gb = jax.grad(loss, (0, 1))(t, b)
            J = jax.jacobian(lambda c: weightnorm.mean_only_bn(c[:, None], b[:1])[:, 0])(t[:, 0])
            return up, weightnorm.mean_only_bn_backward(up), gt, gb, J

        up, hand, gt, gb, J = [np.asarray(a) for a in auto(t, b)]
        f = jax.jit(loss)
        fd = finite_difference_grad(lambda t_: float(f(t_, b)), t, 1e-6)
    return {"vjp": rel_error(hand, gt), "fd": rel_error(hand, fd), "grad_b": rel_error(up.sum(0), gb),
            "jacobian": rel_error(J, np.eye(m) - np.ones((m, m)) / m),
            "sums_to_zero": float(np.max(np.abs(hand.sum(0))) / np.max(np.abs(hand)))}


@lru_cache(maxsize=None)
def layer_check(m: int = 16, k: int = 7, units: int = 5, seed: int = 1) -> float:
    r"""The WN + mean-only BN hidden layer (``nets.WeightNorm(mean_only=1)``), float64: the
    largest relative error between ``jax.grad`` of :math:`\ell = \sum\delta\odot z` in
    :math:`(v, g, b)` and the hand chain :math:`\nabla_t = ` eq. 8 of :math:`\delta`,
    :math:`\nabla_w = h^\top\nabla_t`, :math:`(\nabla_v, \nabla_g) =` eqs. 3-4,
    :math:`\nabla_b = \sum_i\delta_i`."""
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(m, k))
    delta = rng.normal(size=(m, units))
    layer = nets.WeightNorm(mean_only=1)
    with normlab.float64():
        p = {"v": jnp.asarray(rng.normal(size=(k, units))), "g": jnp.asarray(rng.normal(1, 0.5, units)),
             "b": jnp.asarray(rng.normal(size=units))}

        @jax.jit
        def both(p):
            auto = jax.grad(lambda q: jnp.sum(delta * layer(q, h)[0]))(p)
            grad_t = weightnorm.mean_only_bn_backward(delta)
            gv, gg = weightnorm.backward(h.T @ grad_t, p["v"], p["g"])
            return auto, {"v": gv, "g": gg, "b": delta.sum(0)}

        auto, hand = jax.tree_util.tree_map(np.asarray, both(p))
    return max(rel_error(auto[k_], hand[k_]) for k_ in ("v", "g", "b"))
