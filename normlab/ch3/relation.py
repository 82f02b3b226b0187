r"""Chapter 3, section 3.4: weight normalization and batch normalization (Salimans & Kingma,
section 2.2).

- :func:`whitened_check`: for inputs that are exactly whitened over the batch (mean 0, covariance
  :math:`I`), :math:`\mu[t] = 0` and :math:`\sigma[t] = \|v\|` for :math:`t = xv`, so BN of the
  pre-activation (:math:`\epsilon = 0`) equals WN with :math:`g = 1`; on the digits it does not;
- :func:`batch_noise`: the noise a mini-batch adds to one example's normalized pre-activation,
  under BN, mean-only BN (eq. 7) and WN, as the batch size changes: standard deviation and excess
  kurtosis over many random batches.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

import normlab
from normlab import batchnorm, data, weightnorm
from normlab.measure import rel_error


def whiten(x):
    r"""The batch ``x`` (n, k) made exactly white over its rows: centred, then multiplied by
    :math:`\Sigma^{-1/2}` (biased covariance), so that :math:`\bar x = 0` and
    :math:`x^\top x / n = I`."""
    x = x - x.mean(axis=0)
    cov = x.T @ x / x.shape[0]
    e, q = np.linalg.eigh(cov)
    return x @ q @ np.diag(e ** -0.5) @ q.T


@lru_cache(maxsize=None)
def whitened_check(n: int = 256, k: int = 10, units: int = 6, seed: int = 0) -> dict:
    r"""BN of :math:`t = xv` (:math:`\gamma = 1, \beta = 0, \epsilon = 0`) against WN
    :math:`t/\|v\|` (float64), for an exactly whitened Gaussian batch (``white``: relative error;
    ``sigma_ratio``: :math:`\sigma[t]/\|v\|` per unit, which is 1) and for the digits
    (``digits``: relative error; ``digits_ratio``: :math:`\sigma[t]/\|v\|` per unit, far from 1,
    and ``digits_mean``: :math:`|\mu[t]|/\sigma[t]`)."""
    rng = np.random.default_rng(seed)
    x = whiten(rng.normal(size=(n, k)))
    v = rng.normal(size=(k, units)) * np.exp(rng.normal(0, 1, units))
    xd = np.asarray(data.digits(dtype=jnp.float32)["x_train"], np.float64)[:n]
    vd = rng.normal(size=(xd.shape[1], units))
    with normlab.float64():
        def both(x, v):
            t = x @ v
            bn = batchnorm.forward(t, jnp.ones(units), jnp.zeros(units), 0.0)[0]
            wn = x @ weightnorm.weight(v, jnp.ones(units))
            return bn, wn, jnp.std(t, axis=0) / jnp.linalg.norm(v, axis=0), jnp.mean(t, 0) / jnp.std(t, 0)

        f = jax.jit(both)
        bn, wn, ratio, _ = [np.asarray(a) for a in f(x, v)]
        bnd, wnd, ratio_d, mean_d = [np.asarray(a) for a in f(xd, vd)]
    return {"white": rel_error(bn, wn), "sigma_ratio": ratio, "digits": rel_error(bnd, wnd),
            "digits_ratio": ratio_d, "digits_mean": np.abs(mean_d),
            "whiteness": float(max(np.abs(x.mean(0)).max(), np.abs(x.T @ x / n - np.eye(k)).max()))}


NOISE_BATCHES = (4, 8, 16, 32, 64)


@lru_cache(maxsize=None)
def batch_noise(batch_sizes=NOISE_BATCHES, n_batches: int = 1000, n_examples: int = 8,
                units: int = 16, seed: int = 0) -> dict:
    r"""One example's normalized pre-activation over ``n_batches`` random mini-batches that
    contain it (the other :math:`m-1` rows drawn from the digits), for ``units`` units
    :math:`t = xv` (:math:`v` random) and ``n_examples`` fixed examples:

    - BN: :math:`(t_i - \mu_B)/\sigma_B` (biased std, :math:`\epsilon = 0`);
    - mean-only BN: :math:`(t_i - \mu_B)/\sigma` (eq. 7, divided by the unit's population std
      :math:`\sigma` so that the two are in the same units);
    - WN: :math:`t_i/\|v\|`, which does not depend on the batch.

    Returns ``m`` and, for ``bn`` and ``mean_only``, per batch size: ``std``, the standard
    deviation over batches (mean over units and examples; in units of the population std, i.e.
    of the normalized output) and ``kurtosis``, the excess kurtosis of that noise (same mean);
    for ``wn``: ``spread``, the largest change of the output between batches (exactly 0).
    """
    d = data.digits()
    x = np.asarray(d["x_train"], np.float64)
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(x.shape[1], units))
    t = x @ v  # (n, units): every example's pre-activation
    sigma = t.std(axis=0)
    examples = rng.choice(x.shape[0], n_examples, replace=False)
    ti = t[examples][:, None, :]  # (examples, 1, units)
    out = {"m": np.asarray(batch_sizes), "bn": {"std": [], "kurtosis": []},
           "mean_only": {"std": [], "kurtosis": []}}
    spread = 0.0
    for m in batch_sizes:
        tb = t[rng.integers(0, x.shape[0], (n_examples, n_batches, m - 1))]
        mu = (tb.sum(axis=2) + ti) / m
        var = (((tb - mu[:, :, None]) ** 2).sum(axis=2) + (ti - mu) ** 2) / m
        for name, o in (("bn", (ti - mu) / np.sqrt(var)), ("mean_only", (ti - mu) / sigma)):
            dev = o - o.mean(axis=1, keepdims=True)
            s2, s4 = (dev ** 2).mean(axis=1), (dev ** 4).mean(axis=1)
            out[name]["std"].append(float(np.mean(np.sqrt(s2))))
            out[name]["kurtosis"].append(float(np.mean(s4 / s2 ** 2 - 3)))
        # WN's output for example i, computed in each batch: the batch never enters
        wn = np.stack([t[examples] / np.linalg.norm(v, axis=0) for _ in range(3)])
        spread = max(spread, float(np.max(np.abs(wn - wn[0]))))
    for name in ("bn", "mean_only"):
        out[name] = {k: np.asarray(val) for k, val in out[name].items()}
    out["wn"] = {"spread": spread}
    return out
