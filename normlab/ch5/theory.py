r"""Chapter 5, section 5.5: the theory, for one BN layer with :math:`\epsilon = 0` and the biased
batch variance, float64 (Theorem 4.1, Theorem 4.2, Observation 4.3, Lemma 4.5), each identity
checked against JAX autodiff.

The chapter states them in the book's symbols: :math:`x = Wu` the layer's output before BN,
:math:`\hat x` its standardization, :math:`y = \gamma\hat x + \beta` the BN output and
:math:`g = \partial\mathcal L/\partial y` the upstream gradient. The code's variable names follow
the paper's (``y`` before BN, ``yhat``, ``z`` after it)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from normlab import batchnorm
from normlab.measure import rel_error

def standardize(y):
    r""":math:`\hat y = (y - \mu)/\sigma` per column of ``y`` (m, C), biased :math:`\sigma`,
    :math:`\epsilon = 0` (:func:`normlab.batchnorm.standardize`). Returns ``(yhat, sigma)``."""
    return batchnorm.standardize(y)


def thm41_rhs(g, yhat, gamma, sigma):
    r"""Theorem 4.1's right-hand side for one unit (vectors of length m):
    :math:`\frac{\gamma^2}{\sigma^2}\big(\|g\|^2 - \frac1m\langle\mathbf 1, g\rangle^2
    - \frac1m\langle g, \hat y\rangle^2\big)`, with :math:`g = \partial\mathcal L/\partial z`."""
    m = g.shape[0]
    return gamma**2 / sigma**2 * (jnp.sum(g * g) - jnp.sum(g) ** 2 / m - jnp.dot(g, yhat) ** 2 / m)


def _coupled_loss(z, U, V, a, b):
    return jnp.sum(jnp.tanh(z @ U) * a) + 0.5 * jnp.sum((z @ V) ** 2) + jnp.sum(z**3 * b) / 6


def random_instance(seed: int = 0, m: int = 7, c: int = 3):
    r"""A random BN layer and a smooth, non-convex downstream loss :math:`\mathcal L(z)` coupling
    all units: :math:`\mathcal L(z) = \sum \tanh(zU)\odot a + \frac12\|zV\|^2 + \sum z^3 \odot b / 6`.
    Returns ``(y, gamma, beta, loss_z)`` in float64 (call inside :func:`normlab.float64`)."""
    y, gamma, beta, coeffs = _instance_arrays(seed, m, c)
    return y, gamma, beta, functools.partial(_loss_from, coeffs=coeffs)


def _loss_from(z, coeffs):
    return _coupled_loss(z, *coeffs)


def _instance_arrays(seed, m, c):
    rng = np.random.default_rng(seed)
    y = jnp.asarray(rng.normal(rng.normal(size=c), rng.uniform(0.5, 3.0, size=c), size=(m, c)))
    gamma = jnp.asarray(rng.uniform(0.5, 2.0, size=c))
    beta = jnp.asarray(rng.normal(size=c))
    coeffs = (jnp.asarray(rng.normal(size=(c, 4))), jnp.asarray(rng.normal(size=(c, c))),
              jnp.asarray(rng.normal(size=(m, 4))), jnp.asarray(rng.normal(size=(m, c))))
    return y, gamma, beta, coeffs


def bn_loss(y, gamma, beta, loss_z):
    r""":math:`\hat{\mathcal L}(y) = \mathcal L(\gamma\hat y + \beta)`: the loss seen through a BN layer."""
    return loss_z(gamma * standardize(y)[0] + beta)


@functools.partial(jax.jit, static_argnums=4)
def _thm41_core(y, gamma, beta, coeffs, j):
    loss_z = functools.partial(_loss_from, coeffs=coeffs)
    yhat, sigma = standardize(y)
    g = jax.grad(loss_z)(gamma * yhat + beta)[:, j]
    lhs = jnp.sum(jax.grad(bn_loss)(y, gamma, beta, loss_z)[:, j] ** 2)
    m = y.shape[0]
    printed = gamma[j] ** 2 / sigma[j] ** 2 * (jnp.sum(g * g) - jnp.sum(g) ** 2 / m
                                               - jnp.dot(g, yhat[:, j]) ** 2 / jnp.sqrt(m))
    return lhs, thm41_rhs(g, yhat[:, j], gamma[j], sigma[j]), jnp.sum(g * g), printed


INSTANCE_M, INSTANCE_C = 7, 3  # the random instances' batch size and number of units


def thm41(seed: int = 0, j: int = 0, m: int = INSTANCE_M):
    """Theorem 4.1 on a random instance: ``{"lhs": ||grad_y_j L_hat||^2 (autodiff), "rhs", "rel",
    "plain": ||g||^2, "kept": the share ||Pg||^2 / ||g||^2 that the two projections leave,
    "rel_printed": the relative error of the paper's printed form, 1/sqrt(m) on the last term}``."""
    lhs, rhs, plain, printed = _thm41_core(*_instance_arrays(seed, m, INSTANCE_C), j)
    y, gamma, _, _ = _instance_arrays(seed, m, INSTANCE_C)
    sigma = standardize(y)[1][j]
    kept = float(rhs) * float(sigma) ** 2 / float(gamma[j]) ** 2 / float(plain)
    return {"lhs": float(lhs), "rhs": float(rhs), "rel": rel_error(lhs, rhs), "plain": float(plain),
            "kept": kept, "rel_printed": rel_error(lhs, printed)}


def thm41_scale(seed: int = 0, k: float = 2.0, j: int = 0, m: int = INSTANCE_M):
    r"""The prefactor :math:`\gamma^2/\sigma_j^2` of Theorem 4.1 is a free scale: rescaling the
    layer's weights, :math:`y \to ky` (:math:`W \to kW`, :math:`k > 0`), leaves the BN loss
    unchanged but multiplies :math:`\sigma_j` by :math:`k`, so the gradient's squared norm is divided
    by :math:`k^2`; the share the projections keep, :math:`\|Pg\|^2/\|g\|^2`, does not change.
    Returns ``loss_change`` (relative), ``ratio`` :math:`\|\nabla_y\hat{\mathcal L}(y)\|^2 /
    \|\nabla_y\hat{\mathcal L}(ky)\|^2` (expect :math:`k^2`), ``k2`` and ``kept_change``."""
    y, gamma, beta, coeffs = _instance_arrays(seed, m, INSTANCE_C)
    loss_z = functools.partial(_loss_from, coeffs=coeffs)
    a, b = thm41(seed, j, m), _thm41_core(k * y, gamma, beta, coeffs, j)
    kept_k = float(b[1]) * (k * float(standardize(y)[1][j])) ** 2 / float(gamma[j]) ** 2 / float(b[2])
    return {"loss_change": rel_error(bn_loss(y, gamma, beta, loss_z), bn_loss(k * y, gamma, beta, loss_z)),
            "ratio": a["lhs"] / float(b[0]), "k2": k * k, "kept_change": abs(kept_k - a["kept"])}


@functools.partial(jax.jit, static_argnums=4)
def _thm42_core(y, gamma, beta, coeffs, j):
    loss_z = functools.partial(_loss_from, coeffs=coeffs)
    m = y.shape[0]
    yhat, sigma = standardize(y)
    z = gamma * yhat + beta
    g = jax.grad(loss_z)(z)[:, j]
    v = jax.grad(bn_loss)(y, gamma, beta, loss_z)[:, j]
    E = jnp.zeros_like(y).at[:, j].set(v)  # the direction v in column j only

    def second(f, x0):
        return jax.jvp(lambda t: jnp.vdot(jax.grad(f)(x0 + t * E), E), (0.0,), (1.0,))[1]

    lhs = second(lambda yy: bn_loss(yy, gamma, beta, loss_z), y)
    vHv = second(loss_z, z)
    s2 = sigma[j] ** 2
    rhs = gamma[j] ** 2 / s2 * vHv - gamma[j] / (m * s2) * jnp.dot(g, yhat[:, j]) * jnp.sum(v * v)
    return lhs, rhs


def thm42(seed: int = 0, j: int = 0, m: int = INSTANCE_M):
    r"""Theorem 4.2 (first form, an equality here) on a random instance.

    With :math:`v = \nabla_{y_j}\hat{\mathcal L}`, :math:`g = \partial\mathcal L/\partial z_j` and
    :math:`H_{jj} = \partial^2\mathcal L/\partial z_j^2`:
    :math:`v^\top \frac{\partial^2\hat{\mathcal L}}{\partial y_j^2} v = \frac{\gamma^2}{\sigma^2}
    v^\top H_{jj} v - \frac{\gamma}{m\sigma^2}\langle g, \hat y_j\rangle \|v\|^2`.
    Both quadratic forms are second directional derivatives (``jax.jvp`` of ``jax.grad``).
    """
    lhs, rhs = _thm42_core(*_instance_arrays(seed, m, INSTANCE_C), j)
    return {"lhs": float(lhs), "rhs": float(rhs), "rel": rel_error(lhs, rhs)}


def thm44(seed: int = 0, j: int = 0, m: int = INSTANCE_M, d: int = 5, lam: float = 1.5):
    r"""Theorem 4.4 (the minimax bound over inputs :math:`\|U\| \le \lambda`), corrected, on a
    random instance: the weights of unit :math:`j` get the gradient :math:`U^	op v` with
    :math:`v = 
abla_{x_j}\hat{\mathcal L}` (autodiff through BN) for the layer input :math:`U`
    (m, d). Holding :math:`v` (the upstream gradient and the batch statistics) fixed while
    :math:`U` varies, as the paper's proof does, :math:`\max_{\|U\|\le\lambda}\|U^	op v\|^2 =
    \lambda^2\|v\|^2`, attained at :math:`U^* = \lambda\,v b^	op/\|v\|`, and Theorem 4.1 turns it
    into :math:`rac{\gamma^2}{\sigma_j^2}ig(g_j - \lambda^2 m\mu_g^2 - rac{\lambda^2}{m}
    \langle g, \hat x_j
angle^2ig)` with :math:`g_j = \max_{\|U\|\le\lambda}\|U^	op g\|^2 =
    \lambda^2\|g\|^2` and :math:`\mu_g` the mean of :math:`g`.

    Returns ``max`` (at :math:`U^*`), ``random`` (the largest over 200 random :math:`U` of
    spectral norm :math:`\lambda`: never above), ``corrected`` (the formula), ``printed`` (the
    paper's printed :math:`rac{\gamma^2}{\sigma_j^2}(g_j^2 - m\mu_g^2 - \lambda^2\langle g,
    \hat x_j
angle^2)`), ``rel`` (max vs corrected) and ``rel_printed``."""
    y, gamma, beta, coeffs = _instance_arrays(seed, m, INSTANCE_C)
    loss_z = functools.partial(_loss_from, coeffs=coeffs)
    yhat, sigma = standardize(y)
    g = jax.grad(loss_z)(gamma * yhat + beta)[:, j]
    v = jax.grad(bn_loss)(y, gamma, beta, loss_z)[:, j]
    rng = np.random.default_rng(seed + 100)
    b = rng.normal(size=d)
    U_star = lam * jnp.outer(v, b) / (jnp.linalg.norm(v) * np.linalg.norm(b))
    best = float(jnp.sum((U_star.T @ v) ** 2))
    rand = 0.0
    for _ in range(200):
        U = rng.normal(size=(m, d))
        U = lam * U / np.linalg.norm(U, 2)
        rand = max(rand, float(np.sum((U.T @ np.asarray(v)) ** 2)))
    gj, mu = lam**2 * float(jnp.sum(g * g)), float(jnp.mean(g))
    ip = float(jnp.dot(g, yhat[:, j]))
    pre = float(gamma[j]) ** 2 / float(sigma[j]) ** 2
    corrected = pre * (gj - lam**2 * m * mu**2 - lam**2 / m * ip**2)
    printed = pre * (gj**2 - m * mu**2 - lam**2 * ip**2)
    return {"max": best, "random": rand, "corrected": corrected, "printed": printed,
            "rel": rel_error(best, corrected), "rel_printed": rel_error(printed, corrected)}


def lemma45(seed: int = 0, shape=(6, 4)):
    r"""The last step of Lemma 4.5's proof on a random instance with :math:`\langle W_0, W^*\rangle > 0`,
    and the scale invariance the proof rests on.

    BN is invariant to :math:`W \to kW` (k > 0, :math:`\epsilon = 0`), so if :math:`W^*` is optimal
    for the BN network the whole ray :math:`\{kW^*\}` is; its closest point to :math:`W_0` is at
    :math:`k^* = \langle W_0, W^*\rangle/\|W^*\|^2`. Returns the distance found by minimizing over k
    with JAX (``lhs``), the lemma's right-hand side (``rhs``), the standard distance
    :math:`\|W_0 - W^*\|^2`, and the relative change of a BN layer's output between :math:`W^*` and
    :math:`k^*W^*` (``invariance``). It does not check that :math:`W^*` is a BN optimum (the step
    that needs the standard layer to have a bias) or that no other BN optimum is closer.
    """
    rng = np.random.default_rng(seed)
    W0 = jnp.asarray(rng.normal(size=shape))
    Ws = jnp.asarray(rng.normal(size=shape))
    Ws = jnp.where(jnp.vdot(W0, Ws) > 0, Ws, -Ws)
    d = lambda k: jnp.sum((W0 - k * Ws) ** 2)
    k = 1.0 - jax.grad(d)(1.0) / jax.grad(jax.grad(d))(1.0)  # one Newton step: exact for a quadratic
    n2, ip = jnp.sum(Ws**2), jnp.vdot(W0, Ws)
    rhs = jnp.sum((W0 - Ws) ** 2) - (n2 - ip) ** 2 / n2
    x = jnp.asarray(rng.normal(size=(16, shape[0])))
    inv = rel_error(standardize(x @ (k * Ws))[0], standardize(x @ Ws)[0])
    return {"lhs": float(d(k)), "rhs": float(rhs), "rel": rel_error(d(k), rhs), "k": float(k),
            "standard": float(jnp.sum((W0 - Ws) ** 2)), "invariance": inv}


def obs43(seed: int = 0):
    r"""Observation 4.3: with :math:`\gamma = \sigma_j`, :math:`\beta = \mu_j` a BN layer returns
    :math:`y = xW` unchanged. Returns the relative error."""
    rng = np.random.default_rng(seed)
    y = jnp.asarray(rng.normal(rng.normal(size=5), 2.0, size=(9, 5)))
    yhat, sigma = standardize(y)
    return rel_error(sigma * yhat + jnp.mean(y, 0), y)


@functools.lru_cache(maxsize=None)
def identity_errors(seeds=(0, 1, 2)) -> dict:
    """The largest relative error of each identity over ``seeds`` random instances (float64):
    ``thm41``, ``thm42``, ``lemma45`` (its last step), ``invariance`` (BN at k*W* vs W*),
    ``obs43``, ``thm44`` (corrected); ``max`` over all of them; ``printed``: the largest relative
    error of the paper's printed Theorem 4.1 and 4.4 over the same instances."""
    from normlab import float64

    with float64():
        out = {"thm41": max(thm41(s)["rel"] for s in seeds),
               "thm42": max(thm42(s)["rel"] for s in seeds),
               "lemma45": max(lemma45(s)["rel"] for s in seeds),
               "invariance": max(lemma45(s)["invariance"] for s in seeds),
               "obs43": max(obs43(s) for s in seeds),
               "thm44": max(thm44(s)["rel"] for s in seeds)}
        printed = {"thm41": max(thm41(s)["rel_printed"] for s in seeds),
                   "thm44": max(thm44(s)["rel_printed"] for s in seeds)}
        big, small = [thm44(s) for s in seeds], [thm44(s, lam=0.5) for s in seeds]
        bound44 = {"loose": np.array([b["printed"] / b["max"] for b in big]),
                   "violated_small": sum(b["printed"] < b["max"] for b in small), "n": len(seeds)}
    out["max"] = max(out.values())
    out["bound44"] = bound44  # the printed Thm 4.4 as a bound: right side / max at lambda 1.5,
    # and in how many instances it is violated at lambda 0.5
    out["printed"] = printed  # the largest relative error of the paper's printed forms
    return out
