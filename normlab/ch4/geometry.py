r"""Chapter 4, section 4.4: the geometry of a normalized GLM (Ba et al., section 5.2).

:math:`H` independent Bernoulli units (logistic GLMs, :math:`\phi = 1`) on an input
:math:`x \in \mathbb R^D`, with summed inputs :math:`a_i = w_i^\top x`:

- ``plain``: logit :math:`a_i + b_i`, parameters :math:`\theta = \mathrm{vec}([W, b]^\top)`,
  i.e. :math:`[w_1, b_1, w_2, b_2, \dots]`;
- ``bn``, ``wn``, ``ln``: logit :math:`\frac{g_i}{\sigma_i}(a_i - \mu_i) + b_i` (eq. 5),
  :math:`\theta = \mathrm{vec}([W, b, g]^\top) = [w_1, b_1, g_1, \dots]`; BN's statistics are
  those of the data set (eq. 2, the data set as :math:`P(x)`), LN's those of each example's
  :math:`H` units (eq. 3), WN's :math:`\mu = 0`, :math:`\sigma_i = \|w_i\|`; :math:`\epsilon = 0`.

The exact Fisher is :func:`normlab.fisher.fisher` (``family="bernoulli"``). Against it:

- :func:`fisher_eq12`: the unnormalized closed form (eq. 12);
- :func:`fisher_eq13`: the normalized closed form (eqs. 13-14), block-diagonal in the units;
- :func:`fisher_ln_exact`: our closed form for LN, which keeps what eq. 13 leaves out: LN's
  :math:`\mu, \sigma` are shared by the units, so unit :math:`k`'s logit depends on every
  :math:`w_i`: :math:`\partial\,\mathrm{logit}_k/\partial w_i = \frac{g_k}{\sigma}\,x\,
  (\delta_{ki} - \frac1H - \frac{\hat a_k\hat a_i}{H})`.

Layout here: a row of the paper's :math:`W` (one unit's weights) is a row of ``theta``'s
``(H, D+1)`` or ``(H, D+2)`` reshape, as in the paper's :math:`\mathrm{vec}(\cdot)`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

import normlab
from normlab import fisher
from normlab.measure import rel_error
from normlab import cache

KINDS = ("plain", "bn", "wn", "ln")
D, H, N = 3, 4, 400


def cols(kind: str, d: int) -> int:
    """Entries of ``theta`` per unit: ``[w_i (d), b_i]`` plain, ``[w_i, b_i, g_i]`` normalized."""
    return d + 1 if kind == "plain" else d + 2


def unpack(kind: str, theta, d: int):
    """``(W (H, d), b (H,), g (H,))`` from ``theta`` (``g`` is ones for the plain GLM)."""
    M = theta.reshape(-1, cols(kind, d))
    g = jnp.ones(M.shape[0], M.dtype) if kind == "plain" else M[:, d + 1]
    return M[:, :d], M[:, d], g


def pack(kind: str, W, b, g):
    """The inverse of :func:`unpack`."""
    parts = [W, b[:, None]] + ([] if kind == "plain" else [g[:, None]])
    return jnp.concatenate(parts, axis=1).ravel()


def summed_stats(kind: str, a, W=None):
    r"""The statistics of eq. 5 for the summed inputs ``a`` (n, H), broadcastable to (n, H): BN
    over the examples, LN over the units, WN :math:`\|w_i\|` (needs ``W``), plain 0 and 1."""
    if kind == "bn":
        mu = a.mean(0, keepdims=True)
        return mu, jnp.sqrt(((a - mu) ** 2).mean(0, keepdims=True))
    if kind == "ln":
        mu = a.mean(1, keepdims=True)
        return mu, jnp.sqrt(((a - mu) ** 2).mean(1, keepdims=True))
    if kind == "wn":
        return jnp.zeros_like(a[:1]), jnp.linalg.norm(W, axis=1)[None, :]
    return jnp.zeros_like(a[:1]), jnp.ones_like(a[:1])


def stats(kind: str, W, x):
    r"""``(a, mu, sigma)``: the summed inputs :math:`a = xW^\top` (n, H) and the statistics of
    eq. 5, broadcastable to (n, H)."""
    a = x @ W.T
    return (a,) + summed_stats(kind, a, W)


def logits_from_summed(kind: str, a, b, g, W=None):
    r"""Eq. 5 before the nonlinearity, from the summed inputs: :math:`g(a-\mu)/\sigma + b`
    (plain: :math:`a + b`)."""
    if kind == "plain":
        return a + b
    mu, sigma = summed_stats(kind, a, W)
    return g * (a - mu) / sigma + b


def glm_logits(kind: str):
    """``logits_fn(theta, x) -> (n, H)`` of the GLM of ``kind`` (for :mod:`normlab.fisher`)."""
    return _LOGITS[kind]


def _logits(kind, theta, x):
    W, b, g = unpack(kind, theta, x.shape[1])
    return logits_from_summed(kind, x @ W.T, b, g, W)


_LOGITS = {k: functools.partial(_logits, k) for k in KINDS}


def exact_fisher(kind: str, theta, x):
    r"""The exact Fisher of the GLM (:func:`normlab.fisher.fisher`, labels from the model)."""
    return fisher.fisher(glm_logits(kind), theta, x, family="bernoulli")


def _variance(kind, theta, x):
    r""":math:`\mathrm{Cov}[y_i \mid x] = p_i(1-p_i)` (independent units), shape (n, H)."""
    p = jax.nn.sigmoid(_logits(kind, theta, x))
    return p * (1 - p)


def _block_diag(c, J):
    r""":math:`F = \mathbb E_x[\bigoplus_i c_i J_i J_i^\top]` from ``c`` (n, H) and ``J``
    (n, H, m): unit i's block is :math:`\mathbb E[c_i J_i J_i^\top]`, off-diagonal blocks 0."""
    n, h, m = J.shape
    blocks = jnp.einsum("ni,nia,nib->iab", c, J, J) / n
    return jnp.einsum("ij,iab->iajb", jnp.eye(h, dtype=J.dtype), blocks).reshape(h * m, h * m)


def fisher_eq12(theta, x):
    r"""Eq. 12: :math:`F = \mathbb E_x\big[\mathrm{Cov}[y\mid x] \otimes
    \begin{bmatrix} xx^\top & x \\ x^\top & 1\end{bmatrix}\big]` for the plain GLM
    (:math:`\phi = 1`, :math:`\mathrm{Cov}[y\mid x] = \mathrm{diag}(p_i(1-p_i))`)."""
    xt = jnp.concatenate([x, jnp.ones((x.shape[0], 1), x.dtype)], axis=1)
    c = _variance("plain", theta, x)
    return _block_diag(c, jnp.broadcast_to(xt[:, None, :], (x.shape[0], c.shape[1], xt.shape[1])))


def chi(kind: str, W, x):
    r""":math:`\chi_i = x - \frac{\partial\mu_i}{\partial w_i} - \frac{a_i-\mu_i}{\sigma_i}
    \frac{\partial\sigma_i}{\partial w_i}` (eq. 14), shape (n, H, D), each statistic
    differentiated with respect to unit :math:`i`'s own weights only:

    BN: :math:`x - \bar x - \hat a_i\,\Sigma w_i/\sigma_i` (:math:`\bar x, \Sigma`: the data's mean and
    biased covariance); WN: :math:`x - a_i w_i/\|w_i\|^2`; LN:
    :math:`x\,(1 - \frac1H - \frac{\hat a_i^2}{H})`.
    """
    a, mu, sigma = stats(kind, W, x)
    ahat = (a - mu) / sigma
    n, h = a.shape
    if kind == "bn":
        xbar = x.mean(0)
        cov = (x - xbar).T @ (x - xbar) / n
        return (x - xbar)[:, None, :] - ahat[..., None] * ((W @ cov) / sigma[0][:, None])[None]
    if kind == "wn":
        return x[:, None, :] - (a / jnp.sum(W * W, 1))[..., None] * W[None]
    if kind == "ln":
        return x[:, None, :] * (1 - 1 / h - ahat**2 / h)[..., None]
    raise ValueError(f"chi is defined for the normalized GLMs; got {kind!r}")


def fisher_eq13(kind: str, theta, x):
    r"""Eqs. 13-14: :math:`\bar F_{ij} = \mathbb E_x\big[\mathrm{Cov}[y_i, y_j\mid x]\,
    J_i J_j^\top\big]` with :math:`J_i = [\frac{g_i}{\sigma_i}\chi_i,\ 1,\
    \frac{a_i-\mu_i}{\sigma_i}]` (the entries of the paper's 3x3 block matrix, in the order
    :math:`w_i, b_i, g_i`). Independent units: the blocks :math:`i \ne j` are zero."""
    W, b, g = unpack(kind, theta, x.shape[1])
    a, mu, sigma = stats(kind, W, x)
    ahat = (a - mu) / sigma
    J = jnp.concatenate([(g / sigma)[..., None] * chi(kind, W, x),
                         jnp.ones_like(a)[..., None], ahat[..., None]], axis=2)
    return _block_diag(_variance(kind, theta, x), J)


def ln_jacobian(theta, x):
    r"""The full Jacobian of the LN GLM's logits, (n, H, H(D+2)): row :math:`k`, block :math:`i`
    is :math:`[\frac{g_k}{\sigma}x(\delta_{ki} - \frac1H - \frac{\hat a_k\hat a_i}{H}),\
    \delta_{ki},\ \delta_{ki}\hat a_k]` (our derivation)."""
    d = x.shape[1]
    W, b, g = unpack("ln", theta, d)
    a, mu, sigma = stats("ln", W, x)
    ahat = (a - mu) / sigma
    n, h = a.shape
    eye = jnp.eye(h, dtype=x.dtype)
    coef = (g / sigma)[:, :, None] * (eye[None] - 1 / h - ahat[:, :, None] * ahat[:, None, :] / h)
    Jw = coef[..., None] * x[:, None, None, :]                   # (n, k, i, d)
    Jb = jnp.broadcast_to(eye[None, :, :, None], (n, h, h, 1))
    Jg = (eye[None] * ahat[:, :, None])[..., None]
    return jnp.concatenate([Jw, Jb, Jg], axis=3).reshape(n, h, h * (d + 2))


def fisher_ln_exact(theta, x):
    r"""Our closed form of LN's exact Fisher: :math:`\mathbb E_x[\sum_k p_k(1-p_k) J_k J_k^\top]`
    with the full Jacobian :func:`ln_jacobian` (the units are coupled through :math:`\mu, \sigma`)."""
    J = ln_jacobian(theta, x)
    return jnp.einsum("nk,nka,nkb->ab", _variance("ln", theta, x), J, J) / x.shape[0]


@functools.partial(jax.jit, static_argnums=0)
def glm_parts(kind: str, theta, x):
    r"""``(a, mu, sigma, p)`` of the GLM of ``kind``: the summed inputs, the statistics of eq. 5
    (broadcastable to (n, H)) and the predicted probabilities (jitted once per kind)."""
    W = unpack(kind, theta, x.shape[1])[0]
    a, mu, sigma = stats(kind, W, x)
    return a, mu, sigma, jax.nn.sigmoid(_logits(kind, theta, x))


@functools.lru_cache(maxsize=None)
def glm_problem(seed: int = 0, d: int = D, h: int = H, n: int = N):
    r"""Data and parameters for the GLMs (NumPy, float64): ``x`` (n, d) with a non-zero mean and
    unequal variances, weights ``W`` (h, d) with rows of different lengths, biases ``b``, gains
    ``g``; ``theta[kind]`` packs them for each kind."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(h, d)) * rng.uniform(0.5, 1.5, size=(h, 1)) / np.sqrt(d)
    b, g = 0.3 * rng.normal(size=h), rng.uniform(0.7, 1.5, size=h)
    scale, shift = rng.uniform(0.5, 1.5, size=d), rng.normal(0, 0.5, size=d)
    # the inputs come last, from their own stream: a smaller n is a prefix of the same data set
    x = np.random.default_rng(1000 + seed).normal(size=(n, d)) * scale + shift
    theta = {k: np.concatenate([W, b[:, None]] + ([] if k == "plain" else [g[:, None]]),
                               axis=1).ravel() for k in KINDS}  # as pack(), in NumPy
    return {"x": x, "W": W, "b": b, "g": g, "theta": theta}


@functools.partial(jax.jit, static_argnums=0)
def fisher_all(kind: str, theta, x):
    r"""``(exact, paper, ours)`` for the GLM of ``kind``, jitted once per kind and shape: the
    exact Fisher (:func:`exact_fisher`), the paper's closed form (eq. 12 or 13) and ours
    (:func:`fisher_ln_exact` for LN, the paper's otherwise). Everything in this chapter that
    needs a whole Fisher matrix calls this one function, so it compiles once per kind."""
    exact = exact_fisher(kind, theta, x)
    if kind == "plain":
        return exact, fisher_eq12(theta, x), exact
    own = fisher_ln_exact(theta, x) if kind == "ln" else fisher_eq13(kind, theta, x)
    return exact, fisher_eq13(kind, theta, x), own


@cache.cached
@functools.lru_cache(maxsize=None)
def closed_forms(seed: int = 0) -> dict:
    r"""Per kind, the relative error (:func:`normlab.measure.rel_error`) of the paper's closed
    form (eq. 12 for plain, eq. 13 otherwise) against the exact Fisher (``paper``), and of ours
    (``ours``: the same formula, except :func:`fisher_ln_exact` for LN); ``offdiag``: the share
    of the exact Fisher's Frobenius norm that lies off the unit-diagonal blocks (eq. 13 says 0)."""
    P = glm_problem(seed)
    out = {}
    with normlab.float64():
        x = jnp.asarray(P["x"])
        for k in KINDS:
            exact, paper, own = fisher_all(k, jnp.asarray(P["theta"][k]), x)
            m = cols(k, x.shape[1])
            mask = np.kron(np.eye(H), np.ones((m, m)))
            ex = np.asarray(exact)
            out[k] = {"paper": rel_error(paper, ex), "ours": rel_error(own, ex),
                      "offdiag": float(np.linalg.norm(ex * (1 - mask)) / np.linalg.norm(ex))}
    return out


LN_WIDTHS = (4, 8, 16, 32)  # H = 2 is degenerate: a_hat = +-1, so no logit depends on W


def recentering_direction(h: int, d: int = D, seed: int = 0):
    r"""A unit vector of LN's ``theta`` layout along Table 1's weight re-centering: the same
    vector :math:`\gamma` added to every unit's weights (biases and gains unchanged). LN's
    predictions do not change along it, so the exact Fisher has no curvature there."""
    gamma = np.random.default_rng(seed + 11).normal(size=d)
    u = np.zeros((h, d + 2))
    u[:, :d] = gamma
    return u.ravel() / np.linalg.norm(u)


def matrix_errors(approx, exact, h: int, m: int) -> dict:
    r"""How far ``approx`` is from ``exact`` (two Fishers with ``h`` unit blocks of size ``m``):
    ``entry`` (:func:`normlab.measure.rel_error`: largest entry error over the largest
    :math:`|a|+|b|`), ``max_entry`` (largest entry error over the largest entry),
    ``frobenius`` and ``operator`` (the relative error in those norms) and ``diag_blocks`` (the
    Frobenius relative error on the units' own blocks only)."""
    A, E = np.asarray(approx), np.asarray(exact)
    mask = np.kron(np.eye(h), np.ones((m, m)))
    return {"entry": rel_error(A, E), "max_entry": float(np.max(np.abs(A - E)) / np.max(np.abs(E))),
            "frobenius": float(np.linalg.norm(A - E) / np.linalg.norm(E)),
            "operator": float(np.linalg.norm(A - E, 2) / np.linalg.norm(E, 2)),
            "diag_blocks": float(np.linalg.norm(mask * (A - E)) / np.linalg.norm(mask * E))}


@cache.cached
@functools.lru_cache(maxsize=None)
def ln_eq13_error(widths=LN_WIDTHS, seed: int = 0, n: int = N) -> dict:
    r"""How far eq. 13 is from LN's exact Fisher as the layer widens. For each width :math:`H`:
    the errors of :func:`matrix_errors` (``eq13[name]``, arrays over the widths), the same for
    our closed form (``ours``: the largest entry error), the curvature along the re-centering
    direction (:func:`recentering_direction`) relative to the exact Fisher's largest eigenvalue,
    by the exact Fisher (``flat_exact``, rounding error) and by eq. 13 (``flat_eq13``), and the
    fitted slopes of log error against log H (``slope[name]``)."""
    errs, own, fl_ex, fl_13 = [], [], [], []
    with normlab.float64():
        for h in widths:
            P = glm_problem(seed, D, h, n)
            theta, x = jnp.asarray(P["theta"]["ln"]), jnp.asarray(P["x"])
            exact, paper, ours = (np.asarray(v) for v in fisher_all("ln", theta, x))
            errs.append(matrix_errors(paper, exact, h, D + 2))
            own.append(rel_error(ours, exact))
            u, top = recentering_direction(h), np.linalg.norm(exact, 2)
            fl_ex.append(float(u @ exact @ u) / top)
            fl_13.append(float(u @ paper @ u) / top)
    eq13 = {k: np.asarray([e[k] for e in errs]) for k in errs[0]}
    slope = {k: float(np.polyfit(np.log(widths), np.log(v), 1)[0]) for k, v in eq13.items()}
    return {"H": np.asarray(widths), "eq13": eq13, "ours": np.asarray(own), "slope": slope,
            "flat_exact": np.asarray(fl_ex), "flat_eq13": np.asarray(fl_13)}


def _np_logits(kind: str, W, b, g, x):
    """Eq. 5's logits in NumPy (float64), written independently of the JAX code above."""
    a = x @ W.T
    if kind == "bn":
        mu, sigma = a.mean(0, keepdims=True), a.std(0, keepdims=True)
    elif kind == "ln":
        mu, sigma = a.mean(1, keepdims=True), a.std(1, keepdims=True)
    else:
        mu, sigma = 0.0, np.linalg.norm(W, axis=1)[None]
    return g * (a - mu) / sigma + b


@functools.lru_cache(maxsize=None)
def chi_check(seed: int = 0, h: float = 1e-6) -> dict:
    r"""Eq. 14 derived, checked: for BN, WN and LN, the relative error
    (:func:`normlab.measure.rel_error`) of :math:`\frac{g_i}{\sigma_i}\chi_i` (:func:`chi`) against
    the derivative :math:`\partial\,\mathrm{logit}_i/\partial w_i` by central differences of an
    independent NumPy forward pass (unit :math:`i`'s own weights, every example); and ``cross``:
    the largest derivative of a logit with respect to ANOTHER unit's weights, relative to the
    largest own derivative (0 for BN and WN; LN's shared statistics make it non-zero, which
    eq. 13 leaves out). Float64."""
    P = glm_problem(seed)
    x, W, b, g = P["x"], P["W"], P["b"], P["g"]
    H_, D_ = W.shape
    out = {}
    for k in ("bn", "wn", "ln"):
        jac = np.zeros((x.shape[0], H_, H_, D_))
        for i in range(H_):
            for d in range(D_):
                E = np.zeros_like(W)
                E[i, d] = h
                jac[:, :, i, d] = (_np_logits(k, W + E, b, g, x) - _np_logits(k, W - E, b, g, x)) / (2 * h)
        own = jac[:, np.arange(H_), np.arange(H_), :]
        mask = 1 - np.eye(H_)[None, :, :, None]
        with normlab.float64():
            a, mu, sigma = (np.asarray(v) for v in stats(k, jnp.asarray(W), jnp.asarray(x)))
            c = np.asarray(chi(k, jnp.asarray(W), jnp.asarray(x)))
        ours = (g[None, :] / np.broadcast_to(sigma, a.shape))[..., None] * c
        out[k] = {"error": rel_error(ours, own),
                  "cross": float(np.max(np.abs(jac * mask)) / np.max(np.abs(own)))}
    return out
