r"""Chapter 2, sections 2.1-2.2: the paper's toy layer, and the toy with scaling.

Ioffe & Szegedy (2015, section 2) take a layer :math:`x = u + b` followed by a normalization
:math:`\hat x = x - \mathrm E[x]` and ask what happens when the gradient step treats
:math:`\mathrm E[x]` as a constant: the step on :math:`b` is cancelled by the normalization, so the
loss does not move while :math:`b` drifts by :math:`\eta\,|\sum_i \partial\ell/\partial\hat x_i|`
every step, for ever.

- the toy layer: :func:`toy_problem`, :func:`toy_loss`, :func:`toy_run`, :func:`drift_rate` (the
  derived rate), :func:`toy_measurements`;
- the toy with scaling, :math:`x_i = w a_i + b`, :math:`\hat x = (x-\mu)/\sigma` with both
  statistics held constant: :func:`scaled_run`, :func:`collapse_step` (the scale collapses in
  finite time, and near the collapse each step on :math:`b`, finite, grows like :math:`1/|w_k|`), :func:`scaled_measurements`.

Gradient descent here is :func:`normlab.train.run`, the book's one loop, on one scalar (or two).
"""

from __future__ import annotations

from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np

import normlab
from normlab import batchnorm, train
from normlab.ch2.fix import bias_grad_through_bn, identity_error

sg = jax.lax.stop_gradient

def toy_problem(n: int = 50, target_mean: float = 1.0, seed: int = 0, dtype=None) -> dict:
    """A fixed input ``u`` (n,) and a target ``t`` (n,) with the given mean (float64 by default
    inside :func:`normlab.float64`)."""
    rng = np.random.default_rng(seed)
    u = rng.normal(2.0, 1.5, size=n)
    t = rng.normal(0.0, 1.0, size=n)
    t = t - t.mean() + target_mean
    dtype = dtype or jnp.result_type(float)
    return {"u": jnp.asarray(u, dtype), "t": jnp.asarray(t, dtype)}


def center(x, differentiate: bool = True):
    r""":math:`\hat x = x - \mathrm E[x]`; with ``differentiate=False`` the mean is held outside the
    gradient (``jax.lax.stop_gradient``), the naive layer of the paper's section 2."""
    mu = jnp.mean(x, axis=0)
    return x - (mu if differentiate else sg(mu))


def toy_loss(b, u, t, differentiate: bool = False):
    r""":math:`\ell(b) = \tfrac12\sum_i(\hat x_i - t_i)^2` with :math:`\hat x = (u+b) - \mathrm E[u+b]`."""
    xhat = center(u + b, differentiate)
    return 0.5 * jnp.sum((xhat - t) ** 2)


def _descend(loss, p0, lr, steps, record):
    """Full-batch gradient descent on ``loss(p)`` with :func:`normlab.train.run`."""
    p, _, h = train.run(lambda p, _x, _s: (loss(p), {}), p0, lr=lr, steps=steps, record=record)
    return p, h


@partial(jax.jit, static_argnames=("steps", "differentiate"))
def toy_run(u, t, b0: float = 0.0, lr: float = 0.1, steps: int = 20, differentiate: bool = False):
    r"""Gradient descent :math:`b \leftarrow b - \eta\,\partial\ell/\partial b` on :func:`toy_loss`.

    Returns ``{"b": (steps+1,), "loss": (steps+1,)}``: the bias and the loss before each step.
    """
    loss = lambda b: toy_loss(b, u, t, differentiate)
    b_last, h = _descend(loss, jnp.asarray(b0, u.dtype), lr, steps,
                         lambda s: {"b": s.params, "loss": s.loss})
    return {"b": jnp.append(h["b"], b_last), "loss": jnp.append(h["loss"], loss(b_last))}


def dloss_dxhat(u, t, b=0.0):
    r""":math:`\partial\ell/\partial\hat x_i = \hat x_i - t_i` for the squared loss (by autodiff)."""
    xhat = center(u + b)
    return jax.grad(lambda xh: 0.5 * jnp.sum((xh - t) ** 2))(xhat)


def drift_rate(u, t, lr: float, b=0.0):
    r"""The derived drift of :math:`b` per naive step: :math:`\eta\,|\sum_i \partial\ell/\partial\hat x_i|`.

    For the squared loss :math:`\sum_i(\hat x_i - t_i) = -\sum_i t_i` because :math:`\sum_i\hat x_i = 0`,
    so the rate is :math:`\eta\,|\sum_i t_i| = \eta N |\bar t|`: zero exactly when the target's mean
    equals the layer's output mean, 0.
    """
    return lr * jnp.abs(jnp.sum(dloss_dxhat(u, t, b)))


def scaled_loss(p, a, t, differentiate: bool = False):
    r""":math:`\ell(w,b) = \tfrac12\sum_i(\hat x_i - t_i)^2` with :math:`x_i = w a_i + b` standardized."""
    xhat = batchnorm.standardize(p["w"] * a + p["b"], hold=not differentiate)[0]
    return 0.5 * jnp.sum((xhat - t) ** 2)


def scaled_problem(n: int = 50, seed: int = 1, dtype=None) -> dict:
    """A centred input ``a`` (n,) with unit (1/n) variance and a target ``t`` with mean 1."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    a = (a - a.mean()) / a.std()
    t = rng.normal(1.0, 1.0, size=n)
    dtype = dtype or jnp.result_type(float)
    return {"a": jnp.asarray(a, dtype), "t": jnp.asarray(t, dtype)}


@partial(jax.jit, static_argnames=("steps", "differentiate"))
def scaled_run(a, t, w0: float = 1.0, b0: float = 0.0, lr: float = 0.01, steps: int = 400,
               differentiate: bool = False):
    """Gradient descent on :func:`scaled_loss`; returns ``w``, ``b``, ``loss`` before each step."""
    p0 = {"w": jnp.asarray(w0, a.dtype), "b": jnp.asarray(b0, a.dtype)}
    _, h = _descend(lambda p: scaled_loss(p, a, t, differentiate), p0, lr, steps,
                    lambda s: {"w": s.params["w"], "b": s.params["b"], "loss": s.loss})
    return h


def scaled_constants(a, t):
    r"""The constants of the naive scaled dynamics (for :math:`w>0`, centred ``a`` with unit variance).

    :math:`\partial\ell/\partial w = A/w` and :math:`\partial\ell/\partial b = B/w` with
    :math:`A = \sum_i(\hat a_i - t_i)\hat a_i = N - t\cdot\hat a` and :math:`B = \sum_i(\hat a_i - t_i) = -\sum_i t_i`.
    """
    ahat = batchnorm.standardize(a)[0]
    g = ahat - t
    return jnp.sum(g * ahat), jnp.sum(g)


def collapse_step(a, t, w0: float, lr: float) -> float:
    r"""Predicted step at which :math:`w` reaches 0: :math:`w_k^2 \approx w_0^2 - 2\eta A k`, so
    :math:`k^\star = w_0^2/(2\eta A)` (for :math:`A>0`; infinite otherwise: then :math:`w` grows like
    :math:`\sqrt{2\eta|A|k}`)."""
    A, _ = scaled_constants(a, t)
    return float(w0 ** 2 / (2 * lr * A)) if float(A) > 0 else float("inf")


@lru_cache(maxsize=1)
def toy_measurements(lr: float = 0.01, steps: int = 20):
    """Float64: measured drift vs the derived rate, the loss's spread, and the zero-mean target."""
    with normlab.float64():
        p = toy_problem(target_mean=1.0)
        r = toy_run(p["u"], p["t"], 0.0, lr, steps)
        db = np.diff(np.asarray(r["b"]))
        rate = float(drift_rate(p["u"], p["t"], lr))
        loss = np.asarray(r["loss"])
        p0 = toy_problem(target_mean=0.0)
        r0 = toy_run(p0["u"], p0["t"], 0.0, lr, steps)
        true = toy_run(p["u"], p["t"], 0.0, lr, steps, differentiate=True)
        gb, gW = bias_grad_through_bn(0)
        rng = np.random.default_rng(1)
        x = jnp.asarray(rng.normal(2.0, 3.0, size=(32, 6)))
        x2 = jnp.asarray(rng.normal(2.0, 3.0, size=(32, 6)))
        ident, ident_other = identity_error(x, other=x2)
    return {
        "drift_measured": np.abs(db), "drift_rate": rate,
        "drift_rel_err": float(np.max(np.abs(np.abs(db) - rate)) / rate),
        "loss_spread": float(loss.max() - loss.min()), "loss": float(loss[0]),
        "b_final": float(r["b"][-1]),
        "zero_mean_max_b": float(np.max(np.abs(np.asarray(r0["b"])))),
        "true_max_b": float(np.max(np.abs(np.asarray(true["b"])))),
        "bn_grad_b": float(np.max(np.abs(np.asarray(gb)))),
        "bn_grad_W": float(np.max(np.abs(np.asarray(gW)))),
        "identity_err": ident, "identity_other_err": ident_other, "b_traj": np.asarray(r["b"]), "loss_traj": loss,
        "true_b_traj": np.asarray(true["b"]), "drift_sign": float(np.sign(db[0])), "lr": lr,
        "sum_t": float(np.sum(np.asarray(p["t"]))), "n": int(p["t"].shape[0]),
    }


@lru_cache(maxsize=None)
def scaled_measurements(w0: float = 3.0, lr: float = 0.001, steps: int = 400):
    """Float64 scaled toy: predicted vs observed collapse step of w, the largest (finite) step on b
    near it, next to the centring-only drift over the same number of steps."""
    with normlab.float64():
        p = scaled_problem()
        r = scaled_run(p["a"], p["t"], w0, 0.0, lr, steps)
        w, b = np.asarray(r["w"]), np.asarray(r["b"])
        k_pred = collapse_step(p["a"], p["t"], w0, lr)
        k_obs = int(np.argmax(w <= 0)) if (w <= 0).any() else None
        centring = toy_run(p["a"], p["t"], 0.0, lr, steps)
        A, B = scaled_constants(p["a"], p["t"])
        db = np.abs(np.diff(b))
    return {"w": w, "b": b, "loss": np.asarray(r["loss"]), "k_pred": k_pred, "k_obs": k_obs,
            "max_jump": float(db.max()), "jump_at": int(np.argmax(db)),
            # the naive step on b is eta * |B| / sigma with sigma = |w_k|: finite, large when w_k ~ 0
            "jump_predicted": float(lr * abs(float(B)) / abs(w[int(np.argmax(db))])),
            "w_at_jump": float(w[int(np.argmax(db))]),
            "centring_step": float(np.abs(np.diff(np.asarray(centring["b"])))[0]),
            "b_end": float(b[-1]), "centring_b": np.asarray(centring["b"])[:steps],
            "A": float(A), "B": float(B), "lr": lr, "w0": w0, "steps": steps}
