r"""Chapter 4, section 4.5 (and Going further, eqs. 32-35): curvature along the weights and
along the gain, measured on the GLMs of :mod:`normlab.ch4.geometry`.

Everything here is a quadratic form of the exact Fisher, :math:`u^\top F u =
\mathbb E_x\big[\sum_k p_k(1-p_k)\,(J_k u)^2\big]`, computed with one ``jax.jvp`` per direction
(:func:`quad_form`), never by building :math:`F`; :math:`ds^2 = \frac12 u^\top F u`.

- :func:`doubling`: the "factor of 1/2" of section 5.2: how :math:`\delta^\top F\delta` along
  :math:`w_i` changes when :math:`\|w_i\|` doubles (one row, or the whole matrix for LN);
- :func:`scaling`: how the curvature along a weight direction depends on the input scale and the
  weight scale, per kind;
- :func:`gain_metric`: :math:`ds^2` along the gain (eqs. 32-34) and along the magnitude of
  :math:`w_i` in the plain GLM (eq. 35), against the input scale;
- :func:`frame`: what the geometry explorable draws (pure JAX, traceable in its two sliders).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

import normlab
from normlab import cache
from normlab.ch4.geometry import (KINDS, _logits, cols, fisher_all, glm_parts, glm_problem,
                                  logits_from_summed, pack, unpack)

S_VALUES = tuple(float(v) for v in np.logspace(-1, 1, 9))   # input scales (4.6, 4.9)
S_CURVE = tuple(float(v) for v in np.logspace(-1, 1, 25))   # the explorable's curves
R_CURVE = tuple(float(v) for v in np.logspace(np.log10(0.25), np.log10(4.0), 25))
KL_LEVEL = 0.01      # nats: the contour of the explorable's third panel
PLANE_HALF = 1.5     # half-width of those panels (parameter units)
N_RAYS, N_RADII = 48, 40  # rays of the KL contour; radii per ray, a factor 2^(1/4) apart


def quad_form(kind: str, theta, x, u):
    r""":math:`u^\top F(\theta) u` for the GLM of ``kind`` on the rows of ``x``: one ``jvp``."""
    z, Ju = jax.jvp(lambda t: _logits(kind, t, x), (theta,), (u,))
    p = jax.nn.sigmoid(z)
    return jnp.mean(jnp.sum(p * (1 - p) * Ju * Ju, axis=1))


def quad_form_2d(kind: str, theta, x, u1, u2):
    r"""The 2x2 matrix :math:`[u_a^\top F u_b]` on the plane spanned by ``u1``, ``u2``."""
    f = lambda u: jax.jvp(lambda t: _logits(kind, t, x), (theta,), (u,))
    z, J1 = f(u1)
    _, J2 = f(u2)
    c = jax.nn.sigmoid(z) * jax.nn.sigmoid(-z)
    m = lambda A, B: jnp.mean(jnp.sum(c * A * B, axis=1))
    return jnp.array([[m(J1, J1), m(J1, J2)], [m(J1, J2), m(J2, J2)]])


def embed(kind: str, d: int, h: int, unit: int, w=None, b=0.0, g=0.0):
    r"""A vector of ``theta``'s layout that is zero except for unit ``unit``: its weights ``w``,
    bias ``b`` and (normalized kinds) gain ``g``."""
    W = jnp.zeros((h, d)) if w is None else jnp.zeros((h, d), jnp.asarray(w).dtype).at[unit].set(w)
    e = jnp.zeros(h, W.dtype).at[unit].set(1.0)
    return pack(kind, W, b * e, g * e)


def scale_weights(kind: str, theta, d: int, r, unit=None):
    """``theta`` with every weight vector (``unit=None``) or one unit's scaled by ``r``."""
    W, b, g = unpack(kind, theta, d)
    W = W * r if unit is None else W.at[unit].multiply(r)
    return pack(kind, W, b, g)


def tangent_basis(w):
    r"""Two orthonormal vectors orthogonal to ``w`` (3-D), by Gram-Schmidt from fixed vectors."""
    w = w / jnp.linalg.norm(w)
    e1 = jnp.array([1.0, -1.0, 0.5], w.dtype)
    e1 = e1 - (e1 @ w) * w
    e1 = e1 / jnp.linalg.norm(e1)
    e2 = jnp.cross(w, e1)
    return e1, e2


# ------------------------------------------------------------------------------------------------
# 4.5 The "factor of 1/2"
# ------------------------------------------------------------------------------------------------
CASES = (("plain", "row"), ("bn", "row"), ("wn", "row"), ("ln", "row"), ("ln", "matrix"))


def _w_block(kind: str, d: int, unit: int = 0):
    """Indices of unit ``unit``'s weights in ``theta``."""
    return np.arange(d) + unit * cols(kind, d)


@cache.cached
@functools.lru_cache(maxsize=None)
def doubling(seed: int = 0, n_dirs: int = 16) -> dict:
    r"""For each case of :data:`CASES` (kind, and what is doubled: unit 0's weight vector
    :math:`w_0`, or the whole matrix): the ratio :math:`\delta^\top F'\delta / \delta^\top F\delta`
    after / before doubling, for ``n_dirs`` random directions :math:`\delta` in the :math:`w_0`
    block (``min``, ``max``), the same for :math:`ds` (the square root), and ``output_change``,
    the largest change of a logit (0 when the model's function is unchanged). The Fishers are
    exact (:func:`normlab.ch4.geometry.fisher_all`)."""
    P = glm_problem(seed)
    d = P["x"].shape[1]
    dirs = np.random.default_rng(seed + 3).normal(size=(n_dirs, d))
    out = {}
    with normlab.float64():
        x = jnp.asarray(P["x"])
        for kind, what in CASES:
            th = jnp.asarray(P["theta"][kind])
            th2 = scale_weights(kind, th, d, 2.0, unit=0 if what == "row" else None)
            idx = _w_block(kind, d)
            F1, F2 = (np.asarray(fisher_all(kind, t, x)[0])[np.ix_(idx, idx)] for t in (th, th2))
            ratio = np.einsum("na,ab,nb->n", dirs, F2, dirs) / np.einsum("na,ab,nb->n", dirs, F1, dirs)
            p1, p2 = (np.asarray(glm_parts(kind, t, x)[3]) for t in (th, th2))
            change = np.max(np.abs(np.log(p2 / (1 - p2)) - np.log(p1 / (1 - p1))))
            out[(kind, what)] = {"min": float(ratio.min()), "max": float(ratio.max()),
                                 "ds_min": float(np.sqrt(ratio.min())),
                                 "ds_max": float(np.sqrt(ratio.max())),
                                 "output_change": float(change)}
    return out


# ------------------------------------------------------------------------------------------------
# Input scale and weight scale
# ------------------------------------------------------------------------------------------------
def tangent_curvature(kind: str, theta, x, s, r):
    r"""Curvature :math:`u^\top F u` along a fixed unit direction ``u`` in unit 0's weight block,
    orthogonal to :math:`w_0`, with the inputs scaled by ``s`` and every weight vector by ``r``."""
    d, h = x.shape[1], theta.shape[0] // cols(kind, x.shape[1])
    W = unpack(kind, theta, d)[0]
    u = embed(kind, d, h, 0, tangent_basis(W[0])[0])
    return quad_form(kind, scale_weights(kind, theta, d, r), s * x, u)


@cache.cached
@functools.lru_cache(maxsize=None)
def scaling(seed: int = 0, s_values=(0.1, 1.0, 10.0), r_values=(0.5, 1.0, 2.0)) -> dict:
    r"""``curv[kind]`` (len(s), len(r)): :func:`tangent_curvature` on the grid, float64; and per
    kind ``s_spread`` (the largest max/min ratio over the input scales, at fixed ``r``) and
    ``r_exponent`` (the slope of log curvature against log r at ``s = 1``: -2 means
    :math:`1/\|w\|^2`)."""
    P = glm_problem(seed)
    out = {"s": np.asarray(s_values), "r": np.asarray(r_values), "curv": {}, "s_spread": {},
           "r_exponent": {}}
    with normlab.float64():
        x = jnp.asarray(P["x"])
        for k in KINDS:
            f = jax.jit(jax.vmap(jax.vmap(lambda s, r: tangent_curvature(k, jnp.asarray(P["theta"][k]),
                                                                         x, s, r), (None, 0)), (0, None)))
            c = np.asarray(f(jnp.asarray(s_values), jnp.asarray(r_values)))
            out["curv"][k] = c
            out["s_spread"][k] = float(np.max(c.max(0) / c.min(0)))
            i = list(s_values).index(1.0)
            out["r_exponent"][k] = float(np.polyfit(np.log(r_values), np.log(c[i]), 1)[0])
    return out


# ------------------------------------------------------------------------------------------------
# 4.6 Learning the magnitude (eqs. 32-35)
# ------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def gain_metric(seed: int = 0, s_values=S_VALUES) -> dict:
    r""":math:`ds^2 = \frac12 u^\top F u` for a unit step on unit 0's gain (BN, LN, WN) or on the
    magnitude of :math:`w_0` (plain, :math:`u = w_0/\|w_0\|`), with the inputs scaled by each of
    ``s_values``: ``exact`` (the exact Fisher), ``closed`` (the paper's eqs. 32-35, as printed:
    BN :math:`\frac12\mathbb E[c]`, LN :math:`\frac12\mathbb E[c\,\hat a^2]`, WN and plain
    :math:`\frac12\mathbb E[c\,a^2/\|w\|^2]`, :math:`c = p(1-p)`), ``ours``
    (:math:`\frac12\mathbb E[c\,\hat a^2]`, what eq. 13's gain block gives for BN);
    ``spread``: max/min of ``exact`` over the input scales."""
    P = glm_problem(seed)
    d = P["x"].shape[1]
    out = {"s": np.asarray(s_values), "exact": {}, "closed": {}, "ours": {}, "spread": {}}
    with normlab.float64():
        x = jnp.asarray(P["x"])
        for k in KINDS:
            th = jnp.asarray(P["theta"][k])
            w0 = P["W"][0]
            u = np.zeros(th.shape[0])
            if k == "plain":  # eq. 35: a step delta_g along w_0 / ||w_0||
                u[_w_block(k, d)] = w0 / np.linalg.norm(w0)
            else:
                u[d + 1] = 1.0
            e, c_, o = [], [], []
            for s in s_values:
                F = np.asarray(fisher_all(k, th, s * x)[0])
                a, mu, sigma, p = (np.asarray(v) for v in glm_parts(k, th, s * x))
                c = (p * (1 - p))[:, 0]
                ahat = ((a - mu) / sigma)[:, 0]
                rel_a = a[:, 0] / np.linalg.norm(w0)
                e.append(0.5 * u @ F @ u)
                c_.append(0.5 * np.mean(c * {"plain": rel_a**2, "bn": 1.0, "ln": ahat**2,
                                             "wn": rel_a**2}[k]))
                o.append(0.5 * np.mean(c * ahat**2))
            out["exact"][k], out["closed"][k], out["ours"][k] = map(np.asarray, (e, c_, o))
            out["spread"][k] = float(out["exact"][k].max() / out["exact"][k].min())
    return out


# ------------------------------------------------------------------------------------------------
# The geometry explorable
# ------------------------------------------------------------------------------------------------
PLANE_KINDS = ("plain", "ln")


def _plane(kind, theta, x, s, r):
    """Fisher ellipse and KL contour of ``kind`` in the tangent plane of w_0, at (s, r)."""
    d, h = x.shape[1], theta.shape[0] // cols(kind, x.shape[1])
    th = scale_weights(kind, theta, d, r)
    xs = s * x
    e1, e2 = tangent_basis(unpack(kind, th, d)[0][0])
    U1, U2 = embed(kind, d, h, 0, e1), embed(kind, d, h, 0, e2)
    F2 = quad_form_2d(kind, th, xs, U1, U2)
    phi = jnp.linspace(0.0, 2 * jnp.pi, N_RAYS + 1)
    v = jnp.stack([jnp.cos(phi), jnp.sin(phi)], 1)
    top = PLANE_HALF * 1.5
    rho_f = jnp.minimum(jnp.sqrt(2 * KL_LEVEL / jnp.einsum("na,ab,nb->n", v, F2, v)), top)
    # the KL along each ray. The step moves only unit 0's weights, so in terms of the summed
    # inputs it adds t (x . dir) to column 0: the logits are eq. 5 of a + t da (plain and LN)
    W, b, g = unpack(kind, th, d)
    a0 = xs @ W.T
    z0 = logits_from_summed(kind, a0, b, g)
    lp0, lq0 = jax.nn.log_sigmoid(z0), jax.nn.log_sigmoid(-z0)
    onehot = jnp.zeros(h, x.dtype).at[0].set(1.0)

    def kl(t, vv):
        da = (xs @ (vv[0] * e1 + vv[1] * e2))[:, None] * onehot
        z = logits_from_summed(kind, a0 + t * da, b, g)
        return jnp.mean(jnp.sum(jnp.exp(lp0) * (lp0 - jax.nn.log_sigmoid(z))
                                + jnp.exp(lq0) * (lq0 - jax.nn.log_sigmoid(-z)), axis=1))

    # on a geometric grid of radii per ray, the first crossing of the level, interpolated in
    # log-log coordinates (no loop: cheap to compile)
    ts = top * 2.0 ** (-jnp.arange(N_RADII - 1, -1, -1, dtype=x.dtype) / 4)

    def ray(vv):
        k = jax.vmap(lambda t: kl(t, vv))(ts)
        above = k > KL_LEVEL
        j = jnp.clip(jnp.argmax(above), 1, N_RADII - 1)   # first radius above the level
        lk0, lk1 = jnp.log(jnp.maximum(k[j - 1], 1e-30)), jnp.log(jnp.maximum(k[j], 1e-30))
        w = jnp.clip((jnp.log(KL_LEVEL) - lk0) / (lk1 - lk0), 0.0, 1.0)
        r_ = jnp.exp((1 - w) * jnp.log(ts[j - 1]) + w * jnp.log(ts[j]))
        return jnp.where(above.any(), r_, top)

    rho_kl = jax.vmap(ray)(v)
    return {"fisher": rho_f[:, None] * v, "kl": rho_kl[:, None] * v}


def frame(s, r, seed: int = 0):
    r"""The geometry explorable at input scale ``s`` and weight scale ``r`` (pure JAX, in the
    default precision): ``curv_s[kind]`` (:func:`tangent_curvature` over :data:`S_CURVE` at
    ``r``), ``curv_r[kind]`` (over :data:`R_CURVE` at ``s``), ``point[kind]`` (at ``(s, r)``), and
    for :data:`PLANE_KINDS` the Fisher ellipse :math:`\frac12\delta^\top F\delta` = KL_LEVEL and
    the KL contour in the plane of unit 0's weights orthogonal to :math:`w_0`, as (N_RAYS+1, 2)
    polylines."""
    P = glm_problem(seed, n=200)
    x = jnp.asarray(P["x"], jnp.result_type(float))
    out = {"curv_s": {}, "curv_r": {}, "point": {}, "plane": {}}
    ns, nr = len(S_CURVE), len(R_CURVE)
    # one vmap per kind over every (s, r) the figure shows: the curves and the point
    ss = jnp.concatenate([jnp.asarray(S_CURVE, x.dtype), jnp.full(nr + 1, s, x.dtype)])
    rr = jnp.concatenate([jnp.full(ns, r, x.dtype), jnp.asarray(R_CURVE, x.dtype),
                          jnp.full(1, r, x.dtype)])
    for k in KINDS:
        th = jnp.asarray(P["theta"][k], x.dtype)
        c = jax.vmap(lambda a, b: tangent_curvature(k, th, x, a, b))(ss, rr)
        out["curv_s"][k], out["curv_r"][k], out["point"][k] = c[:ns], c[ns:ns + nr], c[-1]
    for k in PLANE_KINDS:
        out["plane"][k] = _plane(k, jnp.asarray(P["theta"][k], x.dtype), x, s, r)
    return out


@functools.lru_cache(maxsize=None)
def ln_row_sigma(seed: int = 0) -> dict:
    r"""LN's :math:`\sigma` after / before doubling unit 0's weight vector, per example of the GLM
    problem: ``min`` and ``max`` over the examples (doubling the whole matrix gives exactly 2)."""
    P = glm_problem(seed)
    d = P["x"].shape[1]
    with normlab.float64():
        x, th = jnp.asarray(P["x"]), jnp.asarray(P["theta"]["ln"])
        s1 = np.asarray(glm_parts("ln", th, x)[2])
        s2 = np.asarray(glm_parts("ln", scale_weights("ln", th, d, 2.0, unit=0), x)[2])
    ratio = (s2 / s1).ravel()
    return {"min": float(ratio.min()), "max": float(ratio.max())}
