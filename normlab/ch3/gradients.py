r"""Chapter 3, section 3.2: the gradients of weight normalization by hand (eqs. 3-4), each step
checked against ``jax.grad``/``jax.jacobian`` and central finite differences, in float64.

Per column (one unit) with :math:`u = v/\|v\|`:

.. math::
    \frac{\partial\|v\|}{\partial v} = u,\qquad
    \frac{\partial w}{\partial g} = u,\qquad
    \frac{\partial w}{\partial v} = \frac{g}{\|v\|}\big(I - u u^\top\big),

so that

.. math::
    \nabla_g\ell = \nabla_w\ell\cdot u,\qquad
    \nabla_v\ell = \frac{g}{\|v\|}\nabla_w\ell - \frac{g\,\nabla_g\ell}{\|v\|^2}\,v
    = \frac{g}{\|v\|}\,M_w\nabla_w\ell,\qquad M_w = I - \frac{w w^\top}{\|w\|^2}.

- :func:`backward_steps`: those pieces, by hand (no autodiff);
- :func:`backward_check`: every piece against autodiff and finite differences;
- :func:`projection_check`: :math:`v\cdot\nabla_v\ell = 0`, :math:`M_w^2 = M_w = M_w^\top`,
  :math:`M_w w = 0`;
- :func:`network_check`: in the MLP, :math:`\nabla_v\ell` from ``jax.grad`` equals eq. 4 applied to
  the gradient of the *plain* network at :math:`W = w` ("the gradient with respect to the weights
  as used normally").
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

import normlab
from normlab import data, nets, train, weightnorm
from normlab.measure import finite_difference_grad, rel_error
from normlab import cache


def backward_steps(grad_w, v, g) -> dict:
    r"""The hand-derived pieces of eqs. 3-4 for ``v`` (k, units), ``g`` (units,) and the upstream
    ``grad_w`` (k, units): ``dnorm_dv`` (:math:`u`), ``dw_dg`` (:math:`u`), ``dw_dv`` (units, k, k)
    :math:`\frac{g}{\|v\|}(I-uu^\top)`, ``grad_g``, ``grad_v_eq3`` (the first form), ``M``
    (units, k, k) and ``grad_v_eq4`` (:math:`\frac{g}{\|v\|}M_w\nabla_w\ell`)."""
    norm = jnp.sqrt(jnp.sum(v * v, axis=0))
    u = v / norm
    w = g * u
    eye = jnp.eye(v.shape[0], dtype=v.dtype)
    proj = eye - jnp.einsum("iu,ju->uij", u, u)  # I - u u^T per unit
    grad_g = jnp.sum(grad_w * v, axis=0) / norm  # eq. 3, first part
    M = eye - jnp.einsum("iu,ju->uij", w, w) / jnp.sum(w * w, axis=0)[:, None, None]
    return {
        "dnorm_dv": u,
        "dw_dg": u,
        "dw_dv": (g / norm)[:, None, None] * proj,
        "grad_g": grad_g,
        "grad_v_eq3": (g / norm) * grad_w - (g * grad_g / norm**2) * v,  # eq. 3, second part
        "M": M,
        "grad_v_eq4": (g / norm) * jnp.einsum("uij,ju->iu", M, grad_w),  # eq. 4
    }


def _case(k: int, units: int, seed: int):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(k, units)) * np.exp(rng.normal(0, 1, units))  # columns of any scale
    g = rng.normal(1.0, 1.0, units)
    x = rng.normal(size=(12, k))
    delta = rng.normal(size=(12, units))  # random upstream gradient at the unit's output
    return v, g, x, delta


def _downstream(w, x, delta):
    r"""A nonlinear loss of the weight: :math:`\ell(w) = \sum \delta \odot \tanh(x w)`."""
    return jnp.sum(delta * jnp.tanh(x @ w))


@lru_cache(maxsize=None)
def backward_check(k: int = 5, units: int = 3, seed: int = 0, h: float = 1e-6) -> dict:
    r"""Every piece of :func:`backward_steps` against autodiff and central finite differences
    (float64). Returns ``{name: (error vs autodiff, error vs finite differences)}`` plus
    ``"backward"``: :func:`normlab.weightnorm.backward` against ``jax.vjp`` of
    :func:`normlab.weightnorm.weight` (no finite differences: ``nan``)."""
    v, g, x, delta = _case(k, units, seed)
    with normlab.float64():
        loss_w = lambda w: _downstream(w, x, delta)
        loss = lambda v_, g_: loss_w(weightnorm.weight(v_, g_))

        @jax.jit
        def auto(v, g):
            grad_w = jax.grad(loss_w)(weightnorm.weight(v, g))
            gv, gg = jax.grad(loss, (0, 1))(v, g)
            norms = lambda v_: jnp.sqrt(jnp.sum(v_ * v_, axis=0))
            dnorm = jax.grad(lambda v_: jnp.sum(norms(v_)))(v)  # column j only feeds norm j
            dw_dg = jnp.einsum("iuj->iu", jax.jacobian(weightnorm.weight, 1)(v, g))
            J = jax.jacobian(weightnorm.weight, 0)(v, g)  # (k, units, k, units)
            dw_dv = jnp.stack([J[:, j, :, j] for j in range(v.shape[1])])
            _, vjp = jax.vjp(weightnorm.weight, v, g)
            return grad_w, {"dnorm_dv": dnorm, "dw_dg": dw_dg, "dw_dv": dw_dv, "grad_g": gg,
                            "grad_v_eq3": gv, "grad_v_eq4": gv}, vjp(grad_w)

        grad_w, ref, vjp = jax.tree_util.tree_map(np.asarray, auto(v, g))
        mine = jax.tree_util.tree_map(np.asarray, jax.jit(backward_steps)(grad_w, v, g))
        hand = jax.tree_util.tree_map(np.asarray, jax.jit(weightnorm.backward)(grad_w, v, g))
        f = jax.jit(loss)
        norms = lambda v_: np.sqrt(np.sum(v_ * v_, axis=0))
        wfun = jax.jit(weightnorm.weight)
        fd = {
            "dnorm_dv": finite_difference_grad(lambda v_: np.sum(norms(v_)), v, h),
            # column j of w depends on g_j and v_j only: the per-unit Jacobians, by differences
            "dw_dg": np.stack([_fd_jacobian(lambda gj, j=j: np.asarray(wfun(v, _put(g, j, gj)))[:, j],
                                            g[j:j + 1], h)[:, 0] for j in range(units)], axis=1),
            "dw_dv": np.stack([_fd_jacobian(lambda c, j=j: np.asarray(wfun(_col(v, j, c), g))[:, j],
                                            v[:, j], h) for j in range(units)]),
            "grad_g": finite_difference_grad(lambda g_: float(f(v, g_)), g, h),
            "grad_v_eq3": finite_difference_grad(lambda v_: float(f(v_, g)), v, h),
        }
        fd["grad_v_eq4"] = fd["grad_v_eq3"]
    out = {name: (rel_error(mine[name], ref[name]), rel_error(mine[name], fd[name])) for name in fd}
    out["backward"] = (max(rel_error(hand[0], vjp[0]), rel_error(hand[1], vjp[1])), float("nan"))
    return out


def _fd_jacobian(f, x, h: float) -> np.ndarray:
    """Central-difference Jacobian (len(f(x)), len(x)) of a vector function of a vector (NumPy)."""
    x = np.asarray(x, dtype=np.float64)
    cols = []
    for m in range(x.size):
        e = np.zeros_like(x)
        e[m] = h
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h))
    return np.stack(cols, axis=1)


def _put(g, j, gj):
    out = np.array(g, dtype=np.float64)
    out[j] = np.asarray(gj).reshape(())
    return out


def _col(v, j, column):
    """``v`` with column ``j`` replaced (NumPy)."""
    out = np.array(v, dtype=np.float64)
    out[:, j] = column
    return out


@lru_cache(maxsize=None)
def projection_check(k: int = 7, units: int = 4, seed: int = 1) -> dict:
    r"""The projection, measured (float64): ``orth``, :math:`\max_j|v_j\cdot\nabla_{v_j}\ell| /
    (\|v_j\|\,\|\nabla_{v_j}\ell\|)` (a cosine); ``idempotent`` :math:`\|M^2-M\|`, ``symmetric``
    :math:`\|M-M^\top\|`, ``kills_w`` :math:`\|M w\|/\|w\|`; ``forms``: eq. 3 against eq. 4;
    ``removed``: the fraction of :math:`\|\nabla_w\ell\|^2` the projection removes (the part along
    :math:`w`), per unit."""
    v, g, x, delta = _case(k, units, seed)
    @jax.jit
    def pieces(v, g):
        w = weightnorm.weight(v, g)
        grad_w = jax.grad(lambda w_: _downstream(w_, x, delta))(w)
        return w, grad_w, backward_steps(grad_w, v, g)

    with normlab.float64():
        w, grad_w, s = jax.tree_util.tree_map(np.asarray, pieces(v, g))
    gv, M = s["grad_v_eq4"], s["M"]
    cos = np.abs(np.sum(v * gv, 0)) / (np.linalg.norm(v, axis=0) * np.linalg.norm(gv, axis=0))
    u = w / np.linalg.norm(w, axis=0)
    return {
        "orth": float(cos.max()),
        "idempotent": float(np.max(np.abs(np.einsum("uij,ujk->uik", M, M) - M))),
        "symmetric": float(np.max(np.abs(M - np.transpose(M, (0, 2, 1))))),
        "kills_w": float(np.max(np.linalg.norm(np.einsum("uij,ju->iu", M, w), axis=0)
                                / np.linalg.norm(w, axis=0))),
        "forms": rel_error(s["grad_v_eq3"], s["grad_v_eq4"]),
        "removed": np.sum(grad_w * u, 0) ** 2 / np.sum(grad_w * grad_w, 0),
    }


@cache.cached
@lru_cache(maxsize=None)
def network_check(seed: int = 0) -> float:
    r"""In a digits MLP with WN hidden layers (float64): the largest relative error between
    ``jax.grad`` in :math:`(v, g)` and :func:`normlab.weightnorm.backward` applied to the gradient
    of the *plain* network (``nets.Dense``) at the same weights :math:`W = g\,v/\|v\|`."""
    sizes = [64, 32, 32, 10]
    with normlab.float64():
        d = data.digits(dtype=jnp.float64)
        x, y = d["x_train"][:64], d["y_train"][:64]
        rng = np.random.default_rng(seed)
        wn = nets.init_mlp(seed, sizes, nets.WeightNorm(), dtype=jnp.float64)
        for p in wn[:-1]:
            p["g"] = jnp.asarray(rng.normal(1.5, 0.5, p["g"].shape))
            p["b"] = jnp.asarray(rng.normal(0.0, 0.1, p["b"].shape))
        @jax.jit
        def grads(wn):
            plain = [{"W": weightnorm.weight(p["v"], p["g"]), "b": p["b"]} for p in wn[:-1]] + [wn[-1]]
            loss = lambda p, layer: train.cross_entropy(nets.apply_mlp(p, x, layer)[0], y)
            g_plain = jax.grad(loss)(plain, nets.Dense())
            hand = [weightnorm.backward(gp["W"], p["v"], p["g"]) for gp, p in zip(g_plain[:-1], wn[:-1])]
            return jax.grad(loss)(wn, nets.WeightNorm()), g_plain, hand

        g_wn, g_plain, hand = jax.tree_util.tree_map(np.asarray, grads(wn))
    errs = []
    for gw, gp, (hv, hg) in zip(g_wn[:-1], g_plain[:-1], hand):
        errs += [rel_error(gw["v"], hv), rel_error(gw["g"], hg), rel_error(gw["b"], gp["b"])]
    return max(errs)
