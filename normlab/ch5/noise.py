r"""Chapter 5, section 5.2: the "noisy BatchNorm" of Santurkar et al. (2018).

Every hidden layer's output :math:`y_{bj}` (example :math:`b`, unit :math:`j`; for BN
:math:`y = \gamma\hat x + \beta`) becomes :math:`s_{bj} y_{bj} + m_{bj}`, with a noise distribution
redrawn every step (:func:`sample_noise`); the network applies it before the ReLU
(:class:`normlab.nets.Noise`).

What is the paper's and what is ours: the two-level model (per-unit parameters
:math:`\mu_j, \sigma_j` drawn per layer and step, then per-element noise), the distributions and
the constants are the paper's (Algorithm 1 of its appendix; per unit, not per layer, in the
primary text). That :math:`r_\sigma` is a standard deviation (the paper writes
:math:`\mathcal N(\sigma, r_\sigma)`) and that "after the BN layer" means after
:math:`\gamma\hat x + \beta` and before the ReLU are our readings.
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
    :math:`s_{bj} \sim \mathcal N(\sigma_j, r_\sigma^2)` (the paper's model; per-unit draws as in its
    primary text; :math:`r_\sigma` read as a standard deviation, our reading). ``level``
    (traceable) scales the noise: :math:`n_\mu, n_\sigma - 1, r_\mu, r_\sigma` are multiplied by it,
    so ``level = 0`` is the identity and ``level = 1`` the paper's constants. Call it once per
    training step. It is :func:`noise_from_uniforms` of :func:`noise_uniforms`.
    """
    return noise_from_uniforms(noise_uniforms(key, shape), level, n_mu=n_mu, n_sigma=n_sigma,
                               r_mu=r_mu, r_sigma=r_sigma)


def noise_uniforms(key, shape):
    """The uniforms one noise draw is made of, ``(L, 3m + 2, C)`` for ``shape = (L, m, C)`` (one
    RNG call). Drawing them ahead, once per seed and step, lets many runs share one stream."""
    L, m, c = shape
    return jax.random.uniform(key, (L, 3 * m + 2, c), minval=1e-7, maxval=1.0)


def noise_from_uniforms(u, level=1.0, *, n_mu=NOISE["n_mu"], n_sigma=NOISE["n_sigma"],
                        r_mu=NOISE["r_mu"], r_sigma=NOISE["r_sigma"]) -> Noise:
    """:func:`sample_noise` from the uniforms ``u`` of :func:`noise_uniforms`."""
    m = (u.shape[1] - 2) // 3
    mu = level * n_mu * (2 * u[:, :1] - 1)
    sigma = 1.0 + level * (n_sigma - 1.0) * u[:, 1:2]
    shift = mu + level * r_mu * (2 * u[:, 2:m + 2] - 1)
    # standard normals by Box-Muller from the remaining uniforms
    z = jnp.sqrt(-2.0 * jnp.log(u[:, m + 2:2 * m + 2])) * jnp.cos(2 * jnp.pi * u[:, 2 * m + 2:])
    scale = sigma + level * r_sigma * z
    return Noise(scale, shift)


def bounds(level: float = 1.0) -> dict:
    r"""What the noise does to one unit, from the constants: the shift :math:`m` lies within
    :math:`\pm(n_\mu + r_\mu)`; the scale :math:`s` is Gaussian with a mean :math:`\sigma_j` in
    :math:`[1, n_\sigma]` and standard deviation :math:`r_\sigma` (so it has no upper bound)."""
    return {"shift": level * (NOISE["n_mu"] + NOISE["r_mu"]), "mu": level * NOISE["n_mu"],
            "sigma_lo": 1.0, "sigma_hi": 1.0 + level * (NOISE["n_sigma"] - 1.0),
            "scale_sd": level * NOISE["r_sigma"]}


def identity_noise(L: int, m: int, c: int) -> Noise:
    """Noise that does nothing (scale 1, shift 0)."""
    return Noise(jnp.ones((L, m, c)), jnp.zeros((L, m, c)))
