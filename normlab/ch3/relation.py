r"""Chapter 3, section 3.4: weight normalization and batch normalization (Salimans & Kingma,
section 2.2).

- :func:`whitened_check`: for inputs that are exactly whitened over the batch (mean 0, covariance
  :math:`I`), :math:`\mu[t] = 0` and :math:`\sigma[t] = \|v\|` for :math:`t = xv`, so BN of the
  pre-activation (:math:`\epsilon = 0`) equals WN with :math:`g = 1`; on the digits it does not;
- :func:`batch_noise`: the noise a mini-batch adds to one example's normalized pre-activation,
  under BN, mean-only BN (eq. 7) and WN, as the batch size changes (its standard deviation over
  many random batches);
- :func:`noise_tails`: the shape of that noise (excess kurtosis) where it can show: BN's
  minibatch standard deviation, :math:`\sigma/\sigma_B`, against mean-only BN's minibatch mean.
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


SCALE = 0.3  # the white batch scaled by s: covariance s^2 I, sigma[a] = s ||v|| for every v


@lru_cache(maxsize=None)
def whitened_check(n: int = 256, k: int = 10, units: int = 6, seed: int = 0) -> dict:
    r"""BN of :math:`a = xv` (:math:`\gamma = 1, \beta = 0, \epsilon = 0`) against WN
    :math:`a/\|v\|` (float64), for an exactly whitened Gaussian batch (``white``: relative error;
    ``sigma_ratio``: :math:`\sigma[a]/\|v\|` per unit, which is 1), for the same batch scaled
    (``scaled``: BN against WN/s for the white batch times s = SCALE, covariance s^2 I;
    ``scaled_ratio``: sigma/||v||, which is s for every unit), and for the digits
    (``digits``: relative error; ``digits_ratio``: :math:`\sigma[a]/\|v\|` per unit, unequal across units,
    and ``digits_mean``: :math:`|\mu[a]|/\sigma[a]`)."""
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
        bns, wns, ratio_s, _ = [np.asarray(a) for a in f(SCALE * x, v)]
    return {"white": rel_error(bn, wn), "sigma_ratio": ratio, "digits": rel_error(bnd, wnd),
            "scaled": rel_error(bns, wns / SCALE), "scaled_ratio": ratio_s,
            "digits_ratio": ratio_d, "digits_mean": np.abs(mean_d),
            "whiteness": float(max(np.abs(x.mean(0)).max(), np.abs(x.T @ x / n - np.eye(k)).max()))}


NOISE_BATCHES = (4, 8, 16, 32, 64)
TAIL = 3.0  # a large excursion of the noise (see noise_tails)


@lru_cache(maxsize=None)
def batch_noise(batch_sizes=NOISE_BATCHES, n_batches: int = 1000, n_examples: int = 8,
                units: int = 16, seed: int = 0) -> dict:
    r"""One example's normalized pre-activation over ``n_batches`` random mini-batches that
    contain it (the other :math:`m-1` rows drawn from the digits), for ``units`` units
    :math:`a = xv` (:math:`v` random) and ``n_examples`` fixed examples:

    - BN: :math:`(a_i - \mu_B)/\sigma_B` (biased std, :math:`\epsilon = 0`);
    - mean-only BN: :math:`(a_i - \mu_B)/\sigma` (eq. 7, divided by the unit's population std
      :math:`\sigma` so that the two are in the same units);
    - WN: :math:`a_i/\|v\|`, computed from the whole batch matrix (the example's row of
      :math:`x_B v/\|v\|`): the other rows never enter, by construction.

    Returns ``m`` and, for ``bn`` and ``mean_only``, per batch size: ``std``, the standard
    deviation over batches (mean over units and examples; in units of the normalized output);
    for ``wn``: ``spread``, the largest change of the output between batches (exactly 0).
    The shape of the noise is :func:`noise_tails`' business: this output is bounded by
    :math:`\sqrt{m-1}` under BN (Samuelson's inequality), so its tails cannot be heavy.
    """
    d = data.digits()
    x = np.asarray(d["x_train"], np.float64)
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(x.shape[1], units))
    t = x @ v  # (n, units): every example's summed input
    sigma = t.std(axis=0)
    examples = rng.choice(x.shape[0], n_examples, replace=False)
    ti = t[examples][:, None, :]  # (examples, 1, units)
    out = {"m": np.asarray(batch_sizes), "bn": {"std": []}, "mean_only": {"std": []}}
    spread = 0.0
    vn = v / np.linalg.norm(v, axis=0)
    for m in batch_sizes:
        rows = rng.integers(0, x.shape[0], (n_examples, n_batches, m - 1))
        tb = t[rows]
        mu = (tb.sum(axis=2) + ti) / m
        var = (((tb - mu[:, :, None]) ** 2).sum(axis=2) + (ti - mu) ** 2) / m
        for name, o in (("bn", (ti - mu) / np.sqrt(var)), ("mean_only", (ti - mu) / sigma)):
            dev = o - o.mean(axis=1, keepdims=True)
            out[name]["std"].append(float(np.mean(np.sqrt((dev ** 2).mean(axis=1)))))
        # WN's output for example 0 in its first 50 batches: row 0 of the batch's x_B v/||v||
        wn = np.stack([(np.concatenate([x[examples[:1]], x[rows[0, b]]]) @ vn)[0]
                       for b in range(min(50, n_batches))])
        spread = max(spread, float(np.max(np.abs(wn - wn[0]))))
    for name in ("bn", "mean_only"):
        out[name] = {k: np.asarray(val) for k, val in out[name].items()}
    out["wn"] = {"spread": spread}
    return out


def excess_kurtosis(a, axis=0):
    """Excess kurtosis (0 for a Gaussian) of ``a`` along ``axis``."""
    dev = a - a.mean(axis=axis, keepdims=True)
    s2, s4 = (dev ** 2).mean(axis=axis), (dev ** 4).mean(axis=axis)
    return s4 / s2 ** 2 - 3.0


@lru_cache(maxsize=None)
def noise_tails(batch_sizes=NOISE_BATCHES, n_batches: int = 20000, units: int = 16,
                seed: int = 0) -> dict:
    r"""The shape of the two noises the paper compares (its section 4), on the digits with random
    :math:`v`, over ``n_batches`` random mini-batches of each size :math:`m`: per unit, the excess
    kurtosis over batches of

    - ``bn``: :math:`\sigma/\sigma_B`, the factor by which BN's minibatch estimate of the standard
      deviation rescales the unit (forward and backward: BN's gradient is also divided by
      :math:`\sigma_B`), with :math:`\sigma` the population std;
    - ``mean_only``: :math:`(\mu_B - \mu)/\sigma`, the noise of the minibatch mean, all that
      mean-only BN adds.

    Returns ``m`` and, per noise, ``kurtosis`` (len(m), units) and ``median`` (len(m),), the
    median over units (a few units' samples are dominated by one extreme batch); and ``tail``
    (len(m), units) with its ``tail_median``: the probability of a large excursion, which converges
    where the kurtosis does not (for Gaussian summed inputs the fourth moment of
    :math:`\sigma/\sigma_B` is infinite at :math:`m \le 5`): :math:`P(\sigma/\sigma_B > 3)` for BN
    (the unit's scale tripled), and for mean-only BN the probability of a mean noise beyond 3 of
    its own standard deviations (0.27% for a Gaussian)."""
    d = data.digits()
    x = np.asarray(d["x_train"], np.float64)
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(x.shape[1], units))
    t = x @ v
    mu, sigma = t.mean(axis=0), t.std(axis=0)
    out = {"m": np.asarray(batch_sizes), "bn": {"kurtosis": [], "tail": []},
           "mean_only": {"kurtosis": [], "tail": []}}
    for m in batch_sizes:
        ratio, mean = [], []
        for lo in range(0, n_batches, 2000):  # bounded memory
            tb = t[rng.integers(0, x.shape[0], (min(2000, n_batches - lo), m))]
            ratio.append(sigma / tb.std(axis=1))
            mean.append((tb.mean(axis=1) - mu) / sigma)
        ratio, mean = np.concatenate(ratio), np.concatenate(mean)
        out["bn"]["kurtosis"].append(excess_kurtosis(ratio))
        out["mean_only"]["kurtosis"].append(excess_kurtosis(mean))
        out["bn"]["tail"].append(np.mean(ratio > TAIL, axis=0))
        out["mean_only"]["tail"].append(np.mean(np.abs(mean - mean.mean(0)) > TAIL * mean.std(0), axis=0))
    for name in ("bn", "mean_only"):
        k, p = np.asarray(out[name]["kurtosis"]), np.asarray(out[name]["tail"])
        out[name] = {"kurtosis": k, "median": np.median(k, axis=1), "tail": p,
                     "tail_median": np.median(p, axis=1)}
    return out
