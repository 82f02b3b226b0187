r"""Chapter 5, section 5.2: the "noisy BatchNorm" of Santurkar et al. (2018).

After every normalization layer the activation :math:`a_{bj}` becomes :math:`s_{bj} a_{bj} + m_{bj}`
with a noise distribution redrawn every step (:func:`sample_noise`); the network applies it
(:class:`normlab.nets.Noise`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from normlab.nets import Noise

NOISE = {"n_mu": 0.5, "n_sigma": 1.25, "r_mu": 0.1, "r_sigma": 0.1}


def sample_noise(key, shape, level=1.0, *, n_mu=NOISE["n_mu"], n_sigma=NOISE["n_sigma"],
                 r_mu=NOISE["r_mu"], r_sigma=NOISE["r_sigma"]) -> Noise:
    r"""Draw the paper's time-varying, non-zero-mean, non-unit-variance noise; ``shape = (L, m, C)``.

    Per layer :math:`l` and unit :math:`j`: :math:`\mu_j \sim U(-n_\mu, n_\mu)`,
    :math:`\sigma_j \sim U(1, n_\sigma)`; per element: :math:`m_{bj} \sim U(\mu_j - r_\mu, \mu_j + r_\mu)`,
    :math:`s_{bj} \sim \mathcal N(\sigma_j, r_\sigma^2)`. Our reading where the sources are
    ambiguous: :math:`(\mu_j, \sigma_j)` are drawn per unit (not one pair per layer) and
    :math:`r_\sigma` is a standard deviation. ``level`` (traceable) scales the noise:
    :math:`n_\mu, n_\sigma - 1, r_\mu, r_\sigma` are multiplied by it, so ``level = 0`` is the identity
    and ``level = 1`` the paper's constants. Call it once per training step.
    """
    L, m, c = shape
    u = jax.random.uniform(key, (L, 3 * m + 2, c), minval=1e-7, maxval=1.0)  # one RNG call a step
    mu = level * n_mu * (2 * u[:, :1] - 1)
    sigma = 1.0 + level * (n_sigma - 1.0) * u[:, 1:2]
    shift = mu + level * r_mu * (2 * u[:, 2:m + 2] - 1)
    # standard normals by Box-Muller from the remaining uniforms
    z = jnp.sqrt(-2.0 * jnp.log(u[:, m + 2:2 * m + 2])) * jnp.cos(2 * jnp.pi * u[:, 2 * m + 2:])
    scale = sigma + level * r_sigma * z
    return Noise(scale, shift)


def identity_noise(L: int, m: int, c: int) -> Noise:
    """Noise that does nothing (scale 1, shift 0)."""
    return Noise(jnp.ones((L, m, c)), jnp.zeros((L, m, c)))
