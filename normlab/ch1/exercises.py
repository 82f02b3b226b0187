r"""Chapter 1's exercise checks (built on :mod:`normlab.checks`)."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from normlab import batchnorm
from normlab.checks import Exercise, Result, jit_once, rel_error, run_check

def _bn_cases(seed: int = 0):
    rng = np.random.default_rng(seed)
    cases = []
    for shape in [(8, 3), (5, 1), (16, 4), (4, 3, 3, 2)]:
        c = shape[-1]
        x = rng.normal(1.0, 2.0, size=shape)
        gamma = rng.normal(1.0, 0.5, size=c)
        dy = rng.normal(size=shape)
        cases.append((dy, x, gamma, 1e-5))
    return cases


def _bn_vjp_reference(dy, x, gamma, eps):
    """``jax.vjp`` of training-mode BN at upstream gradient ``dy``: (dx, dgamma, dbeta)."""
    f = lambda x_, g_, b_: batchnorm.forward(x_, g_, b_, eps)[0]
    _, back = jax.vjp(f, x, gamma, jnp.zeros_like(gamma))
    return back(dy)


def check_bn_backward(student_backward: Callable, seed: int = 0) -> Result:
    """Check ``student_backward(dy, x, gamma, eps) -> (dx, dgamma, dbeta)`` against JAX autodiff.

    The reference is ``jax.vjp`` of training-mode BN at a random upstream gradient ``dy``, on
    ``(N, C)`` and ``(N, H, W, C)`` inputs, in float64 (tolerance 1e-8).
    """
    def reference(dy, x, gamma, eps):
        return jit_once("bn_vjp", _bn_vjp_reference)(dy, x, gamma, eps)

    def compact(dy, x, gamma, eps, *, var_scale=1.0, m=None, g_scale=None):
        """The compact backward pass with one of the usual mistakes built in."""
        axes = tuple(range(x.ndim - 1))
        m_true = x.size // x.shape[-1]
        var = x.var(axis=axes) * var_scale
        inv = 1 / np.sqrt(var + eps)
        xhat = (x - x.mean(axis=axes)) * inv
        g = dy * (gamma if g_scale is None else g_scale)
        mm = m_true if m is None else m
        return inv / mm * (mm * g - g.sum(axis=axes) - xhat * (g * xhat).sum(axis=axes))

    def diagnose(args, got):
        dy, x, gamma, eps = args
        axes = tuple(range(x.ndim - 1))
        inv = 1 / np.sqrt(x.var(axis=axes) + eps)
        m = x.size // x.shape[-1]
        dx = got[0]
        if rel_error(dx, dy * gamma * inv) < 1e-6:
            return ("`dx` equals gamma * dy / sigma: you treated the batch mean and variance as "
                    "constants. Hint: x_i also changes mu and sigma^2, which every other output "
                    "depends on; add the two terms through mu and sigma^2.")
        if not np.allclose(gamma, 1) and rel_error(dx, compact(dy, x, gamma, eps, g_scale=1.0)) < 1e-6:
            return ("`dx` is right only if gamma = 1: you forgot gamma. Hint: the gradient that "
                    "reaches x-hat is g = gamma * dy, and the whole formula uses g.")
        if rel_error(dx, compact(dy, x, gamma, eps, var_scale=m / (m - 1))) < 1e-6:
            return ("`dx` uses the unbiased m/(m-1) variance: training-mode BN normalizes with the "
                    "biased 1/m batch variance (the correction is for the running estimate only).")
        if x.ndim > 2 and rel_error(dx, compact(dy, x, gamma, eps, m=x.shape[0])) < 1e-6:
            return (f"`dx` uses m = N = {x.shape[0]} for an input of shape {x.shape}: a channel's "
                    f"statistics are over N*H*W = {m} values, so m counts all of them.")
        return None

    return run_check("BN backward", student_backward, _bn_cases(seed), reference,
                  ["dx", "dgamma", "dbeta"],
                  ["dx = (1/(m*sigma)) * (m*g - sum(g) - xhat*sum(g*xhat)) with g = gamma*dy.",
                   "dgamma = sum over the batch of dy * xhat.",
                   "dbeta = sum over the batch of dy."],
                  tol=1e-8, diagnose=diagnose)


def check_running_update(student_update: Callable, seed: int = 0) -> Result:
    """Check ``student_update((mean, var), x, momentum) -> (mean, var)``, PyTorch's convention."""
    rng = np.random.default_rng(1 + 7919 * seed)
    cases = []
    for shape, mom in [((6, 3), 0.1), ((2, 4), 0.5), ((32, 2), 0.01), ((3, 2, 2, 5), 0.1)]:
        c = shape[-1]
        cases.append(((rng.normal(size=c), rng.uniform(0.5, 2, size=c)),
                      rng.normal(2.0, 3.0, size=shape), mom))

    def reference(running, x, momentum):
        out = jit_once("update_running", batchnorm.update_running)(running, x, momentum)
        return tuple(np.asarray(a) for a in out)

    def diagnose(args, got):
        (mean, var), x, mom = args
        axes = tuple(range(x.ndim - 1))
        biased = (1 - mom) * var + mom * x.var(axis=axes)
        swapped = mom * var + (1 - mom) * x.var(axis=axes, ddof=1)
        both = mom * var + (1 - mom) * x.var(axis=axes)
        if rel_error(got[1], both) < 1e-9:
            return ("two bugs at once: momentum is applied the wrong way round (it is the weight of "
                    "the NEW batch: (1-momentum)*old + momentum*new), and `var` uses the biased 1/m "
                    "batch variance (the running variance tracks m/(m-1) * sigma_B^2).")
        if rel_error(got[1], biased) < 1e-9:
            return ("`var` uses the biased 1/m batch variance. Hint: the running variance "
                    "estimates the population variance, so it tracks m/(m-1) * sigma_B^2.")
        if rel_error(got[1], swapped) < 1e-9:
            return ("momentum is applied the wrong way round. Hint: in PyTorch's convention "
                    "momentum is the weight of the NEW batch: (1-momentum)*old + momentum*new.")
        return None

    return run_check("running statistics", student_update, cases, reference, ["mean", "var"],
                  ["mean <- (1 - momentum) * mean + momentum * batch_mean.",
                   "var <- (1 - momentum) * var + momentum * m/(m-1) * batch_var; "
                   "m counts every reduced value (N*H*W for images)."],
                  tol=1e-9, diagnose=diagnose)


def check_conv_stats(student_stats: Callable, seed: int = 0) -> Result:
    """Check ``student_stats(x) -> (mean, var)`` per channel of ``x`` (N, H, W, C), biased var."""
    rng = np.random.default_rng(2 + 7919 * seed)
    cases = [(rng.normal(rng.normal(size=c), 2.0, size=(n, h, w, c)),)
             for n, h, w, c in [(4, 5, 5, 3), (2, 3, 7, 6), (1, 4, 4, 2)]]

    def reference(x):
        mean, var, _ = jit_once("batch_stats", batchnorm.batch_stats)(x)
        return np.asarray(mean), np.asarray(var)

    def diagnose(args, got):
        (x,) = args
        g = np.asarray(got[0]) if isinstance(got, (tuple, list)) else None
        if g is not None and g.shape == x.shape[1:]:
            return ("`mean` has one value per (H, W, C) position: you averaged over the batch "
                    "axis only. Hint: a channel shares one mean over N, H and W (m = N*H*W).")
        if isinstance(got, (tuple, list)) and len(got) == 2 and \
                rel_error(got[1], x.var(axis=(0, 1, 2), ddof=1)) < 1e-9:
            return ("`var` is the unbiased variance. Hint: training-mode BN normalizes with the "
                    "biased 1/m batch variance; the m/(m-1) correction is for the running estimate.")
        return None

    return run_check("per-channel statistics", student_stats, cases, reference, ["mean", "var"],
                  ["average over axes (0, 1, 2), one value per channel.",
                   "the biased variance over axes (0, 1, 2): mean of (x - mean)**2."],
                  tol=1e-9, diagnose=diagnose)


# The graded exercises of the chapter, in the notebook's order (the grader reads this list).
EXERCISES = [
    Exercise("ex-bn-backward", "bn_backward", check_bn_backward, derivation=True,
             references=("normlab.batchnorm.backward",)),
    Exercise("ex-running", "update_running", check_running_update,
             references=("normlab.batchnorm.update_running", "normlab.batchnorm.running_step")),
    Exercise("ex-conv-stats", "conv_stats", check_conv_stats,
             references=("normlab.batchnorm.batch_stats",)),
]
