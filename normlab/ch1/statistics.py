r"""Chapter 1, sections 1.6-1.8: statistics for inference, and convolutions.

- :func:`std_bias`, :func:`expected_batch_std`: what averaging batch variances (or standard
  deviations) gives, measured and exact;
- :func:`running_trajectories`: the running variance of PyTorch's convention, unbiased or not;
- :func:`folded_check`: Algorithm 2's folded affine map against training-mode BN;
- :func:`conv_check`: BN of an (N, H, W, C) activation is BN of its (N*H*W, C) reshape.
"""

from __future__ import annotations

from functools import lru_cache
from math import lgamma

import jax
import jax.numpy as jnp
import numpy as np

import normlab
from normlab import batchnorm
from normlab.measure import rel_error

BATCH_SIZES = (2, 3, 4, 8, 16, 32, 64)


def expected_batch_std(m: int) -> float:
    r""":math:`\mathbb E[\sigma_B]/\sigma` for the biased batch std of ``m`` Gaussian samples:
    :math:`\sqrt{2/m}\,\Gamma(m/2)/\Gamma((m-1)/2)`."""
    return float(np.sqrt(2.0 / m) * np.exp(lgamma(m / 2) - lgamma((m - 1) / 2)))


@lru_cache(maxsize=None)
def std_bias(ms=BATCH_SIZES, n_batches: int = 40000, seed: int = 0) -> dict:
    r"""Monte Carlo over ``n_batches`` batches of ``m`` i.i.d. samples of :math:`N(3, 2^2)`.

    Returns per ``m``, all divided by the population :math:`\sigma^2 = 4` (or :math:`\sigma`):
    ``var_biased`` :math:`\mathbb E[\sigma_B^2]` (exact: ``(m-1)/m``), ``var_unbiased``
    :math:`\frac{m}{m-1}\mathbb E[\sigma_B^2]` (exact: 1), ``std_mean`` :math:`\mathbb E[\sigma_B]`
    (exact: :func:`expected_batch_std`), ``std_rms`` :math:`\sqrt{\mathbb E[\sigma_B^2]}`, with
    standard errors ``*_se``.
    """
    rng = np.random.default_rng(seed)
    mu, sigma = 3.0, 2.0
    keys = ("var_biased", "var_biased_se", "var_unbiased", "std_mean", "std_mean_se", "std_rms",
            "exact_var_biased", "exact_std_mean")
    out = {k: np.zeros(len(ms)) for k in keys}
    for i, m in enumerate(ms):
        x = rng.normal(mu, sigma, (n_batches, m))
        v = x.var(axis=1) / sigma**2  # biased, 1/m
        s = np.sqrt(v)
        out["var_biased"][i] = v.mean()
        out["var_biased_se"][i] = v.std(ddof=1) / np.sqrt(n_batches)
        out["var_unbiased"][i] = v.mean() * m / (m - 1)
        out["std_mean"][i] = s.mean()
        out["std_mean_se"][i] = s.std(ddof=1) / np.sqrt(n_batches)
        out["std_rms"][i] = np.sqrt(v.mean())
        out["exact_var_biased"][i] = (m - 1) / m
        out["exact_std_mean"][i] = expected_batch_std(m)
    out["m"] = np.asarray(ms)
    out["n_batches"] = n_batches
    return out


@lru_cache(maxsize=None)
def running_trajectories(m: int = 4, steps: int = 200, runs: int = 500, momentum: float = 0.1,
                         seed: int = 0) -> dict:
    r"""Running variance (PyTorch convention, starting at 1) tracked from batches of size ``m`` of
    N(0, 3^2), with the unbiased m/(m-1) batch variance (correct) and with the biased one.
    Mean and 10th/90th percentiles over ``runs`` independent runs; divided by the true 9.

    The running average weighs batch :math:`t-k` by :math:`\alpha(1-\alpha)^k` (``momentum``
    :math:`\alpha`): its time constant is :math:`1/\alpha` batches, but the variance of an average
    of i.i.d. batch estimates with those weights is :math:`\alpha/(2-\alpha)` of one estimate's,
    as for an equal-weight average of :math:`(2-\alpha)/\alpha` batches (``n_equiv``). ``sd_end``:
    the measured spread over runs of the unbiased tracker once settled (the last half of the
    steps), ``sd_pred``: :math:`\sqrt{\alpha/(2-\alpha)}` times one unbiased batch variance's
    relative spread :math:`\sqrt{2/(m-1)}` (Gaussian data)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 3.0, (steps, runs, m))
    out = {}
    for name, ddof in (("unbiased", 1), ("biased", 0)):
        bv = x.var(axis=2, ddof=ddof)
        r = np.empty((steps + 1, runs))
        r[0] = 1.0
        for t in range(steps):
            r[t + 1] = (1 - momentum) * r[t] + momentum * bv[t]
        r /= 9.0
        out[name] = {"mean": r.mean(1), "q10": np.quantile(r, 0.1, 1), "q90": np.quantile(r, 0.9, 1),
                     "sd_end": float(r[steps // 2:].std(axis=1).mean())}
    a = momentum
    out.update(m=m, momentum=momentum, runs=runs, n_equiv=(2 - a) / a, time_constant=1 / a,
               sd_pred=float(np.sqrt(a / (2 - a)) * np.sqrt(2 / (m - 1))))
    return out


@lru_cache(maxsize=None)
def train_inference_gap(ms=(4, 16, 64), trials: int = 400, c: int = 8, eps: float = 1e-5,
                        seed: int = 0) -> dict:
    """How far training-mode BN of a batch of ``m`` examples is from inference mode (population
    statistics) on the same examples: the mean over ``trials`` batches of N(mu, sigma^2) data (per
    channel) of max|BN_train - BN_inference| / max|BN_inference|, per batch size (float64)."""
    rng = np.random.default_rng(seed)
    mu, sd = rng.normal(0, 3, c), rng.uniform(0.5, 4, c)
    gamma, beta = np.ones(c), np.zeros(c)
    out = []
    with normlab.float64():
        for m in ms:
            x = rng.normal(mu, sd, (trials, m, c))
            tr = jax.vmap(lambda b: batchnorm.forward(b, gamma, beta, eps)[0])(x)
            inf = batchnorm.inference(x, gamma, beta, mu, sd ** 2, eps)
            tr, inf = np.asarray(tr), np.asarray(inf)
            out.append(float(np.mean(np.max(np.abs(tr - inf), axis=(1, 2)) / np.max(np.abs(inf), axis=(1, 2)))))
    return {"m": np.asarray(ms), "gap": np.asarray(out)}


@lru_cache(maxsize=None)
def folded_check(n: int = 500, c: int = 6, eps: float = 1e-5, seed: int = 0) -> dict:
    r"""The folded affine map of Algorithm 2 against training-mode BN, float64.

    ``population``: ``inference`` with the mean and biased variance of a whole set of ``n``
    examples, against training-mode ``forward`` on that set. ``batch``: ``inference`` on a batch of
    16 with the population statistics, against normalizing the batch by those statistics by hand.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(rng.normal(0, 3, c), rng.uniform(0.1, 5, c), (n, c))
    gamma, beta = rng.normal(1, 0.5, c), rng.normal(0, 1, c)

    def compare(X, gamma, beta):
        mean, var, _ = batchnorm.batch_stats(X)
        train_mode = batchnorm.forward(X, gamma, beta, eps)[0]
        folded = batchnorm.inference(X, gamma, beta, mean, var, eps)
        xb = X[:16]
        by_hand = gamma * (xb - mean) / jnp.sqrt(var + eps) + beta
        return (train_mode, folded, by_hand, batchnorm.inference(xb, gamma, beta, mean, var, eps),
                batchnorm.forward(xb, gamma, beta, eps)[0])

    with normlab.float64():
        train_mode, folded, by_hand, inf_b, train_b = jax.jit(compare)(X, gamma, beta)
    return {"population": rel_error(folded, train_mode), "batch": rel_error(inf_b, by_hand),
            "batch_mode_differs": rel_error(train_b, by_hand)}


@lru_cache(maxsize=None)
def conv_check(shape=(4, 5, 6, 3), seed: int = 0) -> dict:
    """BN of an (N, H, W, C) input against BN of its reshape to (N*H*W, C), forward and backward."""
    rng = np.random.default_rng(seed)
    c = shape[-1]
    x = rng.normal(rng.normal(size=c), 2.0, shape)
    g, b, dy = rng.normal(1, 0.3, c), rng.normal(size=c), rng.normal(size=shape)

    def both(x, g, b, dy):
        y4, c4 = batchnorm.forward(x, g, b)
        y2, c2 = batchnorm.forward(x.reshape(-1, c), g, b)
        return (y4, batchnorm.backward(dy, c4), y2, batchnorm.backward(dy.reshape(-1, c), c2),
                batchnorm.batch_stats(x)[0])

    with normlab.float64():
        y4, d4, y2, d2, mean = jax.jit(both)(x, g, b, dy)
    return {"forward": rel_error(np.reshape(y4, (-1, c)), y2),
            "dx": rel_error(np.reshape(d4[0], (-1, c)), d2[0]),
            "dgamma": rel_error(d4[1], d2[1]), "dbeta": rel_error(d4[2], d2[2]),
            "m": int(np.prod(shape[:-1])), "mean_shape": tuple(mean.shape)}
