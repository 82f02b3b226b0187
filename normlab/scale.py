r"""Scale invariance and the effective learning rate (Chapter 7): angles between weight vectors
and the equilibrium angular update that weight decay leads to.

A weight vector :math:`w` on which the loss depends only through :math:`w/\|w\|` (the incoming
weights of a unit that BN, LN or GN normalizes, WN's :math:`v`, WS's :math:`W`) moves, per step,
by an *angle*; that angle, not :math:`\|\Delta w\|`, is what changes the function.
"""

from __future__ import annotations

import jax.numpy as jnp


def angle(w_prev, w_next):
    r"""The angle in radians between ``w_prev`` and ``w_next``, per output unit (per column of
    a ``(fan_in, units)`` matrix; a single angle for 1-D vectors):
    :math:`\Delta = \operatorname{atan2}(\|w_{next} - \langle w_{next}, \hat w\rangle\hat w\|,
    \langle w_{next}, \hat w\rangle)` with :math:`\hat w = w_{prev}/\|w_{prev}\|`.

    ``atan2`` keeps full relative precision for tiny angles, where
    :math:`\arccos(\cos\Delta)` loses about half the digits (a step of 1e-8 rad is lost entirely
    in float64: cos rounds to 1)."""
    a, b = jnp.asarray(w_prev), jnp.asarray(w_next)
    if a.shape != b.shape:
        raise ValueError(f"w_prev and w_next must have the same shape; got {a.shape} and {b.shape}")
    u = a / jnp.linalg.norm(a, axis=0, keepdims=True)
    along = jnp.sum(b * u, axis=0)
    across = jnp.linalg.norm(b - along * u, axis=0)
    return jnp.arctan2(across, along)


def equilibrium_angle(lr, weight_decay, momentum: float = 0.0, optimizer: str = "sgd",
                      beta1: float = 0.9):
    r"""The angular update per step at equilibrium for a scale-invariant weight vector:
    :math:`\sqrt{2\eta\lambda/(1+\gamma)}` for SGD with momentum :math:`\gamma` (decay inside the
    buffer; Wan et al. 2021, Theorem 3; :math:`\gamma = 0` plain SGD), and
    :math:`\sqrt{2\eta\lambda(1-\beta_1)/(1+\beta_1)}` for AdamW (Kosson et al. 2024). It is the
    root-mean-square angle that approaches it: compare RMS, not mean, angles."""
    if optimizer == "sgd":
        return jnp.sqrt(2 * lr * weight_decay / (1 + momentum))
    if optimizer == "adamw":
        return jnp.sqrt(2 * lr * weight_decay * (1 - beta1) / (1 + beta1))
    raise ValueError(f"optimizer must be 'sgd' or 'adamw'; got {optimizer!r}")
