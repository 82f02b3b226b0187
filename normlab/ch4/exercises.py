r"""Chapter 4's exercise checks (built on :mod:`normlab.checks`): the Fisher of logistic
regression, Layer Normalization's forward pass, and the weight re-centering of Table 1.

Each check runs the student's function on random cases in float64, compares it with a reference
(:mod:`normlab.fisher`, :mod:`normlab.layernorm`), recognizes the usual mistakes by name and never
raises.
"""

from __future__ import annotations

from typing import Callable

import jax.numpy as jnp
import numpy as np

import normlab
from normlab import fisher, layernorm
from normlab.ch4.definitions import common_form
from normlab.checks import Exercise, Result, call_student, jit_once, rel_error, run_check


def _close(got, want, tol=1e-8) -> bool:
    g, w = np.asarray(got, float), np.asarray(want, float)
    return g.shape == w.shape and bool(np.all(np.isfinite(g))) and rel_error(g, w) < tol


# ------------------------------------------------------------------------------------------------
# The Fisher of logistic regression
# ------------------------------------------------------------------------------------------------
def _logistic_logits(theta, x):
    return (x @ theta[:-1] + theta[-1])[:, None]


def _logistic_cases(seed: int = 0):
    rng = np.random.default_rng(seed)
    cases = []
    for n, d in [(50, 3), (7, 2), (200, 5), (1, 4)]:
        w = rng.normal(size=d + 1)
        x = rng.normal(0.3, 1.2, size=(n, d))
        y = (rng.uniform(size=n) < 0.5).astype(np.float64)  # the data's labels, not the model's
        cases.append((w, x, y))
    return cases


def check_logistic_fisher(student: Callable, seed: int = 0) -> Result:
    r"""Check ``student(w, x, y) -> F``: the Fisher information of logistic regression,
    :math:`F = \frac1n\sum_i p_i(1-p_i)\,\tilde x_i\tilde x_i^\top` with :math:`\tilde x_i = [x_i, 1]`,
    :math:`p_i = \sigma(x_i\cdot w_{:d} + w_d)`; ``w`` holds the ``d`` weights and then the bias,
    ``x`` is (n, d), ``y`` the data's 0/1 labels (which the Fisher does not use). Reference:
    :func:`normlab.fisher.fisher` with ``family="bernoulli"``; ``seed`` draws the random cases."""
    def reference(w, x, y):
        f = jit_once("ch4_logistic_fisher",
                     lambda w_, x_: fisher.fisher(_logistic_logits, w_, x_, family="bernoulli"))
        return np.asarray(f(jnp.asarray(w), jnp.asarray(x)))

    def diagnose(args, got):
        w, x, y = args
        n, d = x.shape
        g = np.asarray(got[0], float)  # run_check passes a single output as a 1-tuple
        if g.shape == (d, d):
            return (f"`F` has shape ({d}, {d}): you forgot the bias column. Hint: the parameters "
                    f"are the {d} weights and the bias, so F is ({d + 1}, {d + 1}); append a "
                    "column of ones to x.")
        xt = np.concatenate([x, np.ones((n, 1))], 1)
        p = 1 / (1 + np.exp(-(xt @ w)))
        outer = lambda c: np.einsum("n,na,nb->ab", c, xt, xt) / n
        if _close(g, outer((y - p) ** 2)):
            return ("`F` is the empirical Fisher: you used the data's labels y. Hint: the Fisher "
                    "averages over labels drawn from the model, E_y[(y - p)^2] = p(1 - p); "
                    "y is not needed at all.")
        if _close(g, outer(p)) or _close(g, outer(1 - p)):
            return ("`F` weights each example by p (or 1 - p) instead of p(1 - p). Hint: the "
                    "weight is the variance of a Bernoulli label, p(1 - p).")
        if _close(g, n * reference(w, x, y)):
            return ("`F` is n times too large: you summed over the examples. Hint: the Fisher "
                    "here is the mean over the rows of x.")
        if _close(g, outer(np.full(n, 0.25))):
            return ("`F` uses p(1 - p) = 1/4 everywhere (the value at w = 0). Hint: compute "
                    "p_i from each example's logit.")
        return None

    return run_check("logistic Fisher", student, _logistic_cases(seed), reference, ["F"],
                     ["F = mean over i of p_i (1 - p_i) * outer(x~_i, x~_i), x~_i = [x_i, 1]."],
                     tol=1e-8, diagnose=diagnose)


# ------------------------------------------------------------------------------------------------
# Layer Normalization's forward pass
# ------------------------------------------------------------------------------------------------
def _ln_cases(seed: int = 1):
    rng = np.random.default_rng(seed)
    cases = []
    for shape, eps in [((8, 5), 1e-2), ((3, 16), 1e-5), ((1, 6), 1e-3), ((4, 3, 7), 1e-2)]:
        h = shape[-1]
        x = rng.normal(rng.normal(size=h), rng.uniform(0.3, 2.0, size=h), size=shape)
        cases.append((x, rng.normal(1.0, 0.5, size=h), rng.normal(0.0, 0.5, size=h), eps))
    return cases


def check_layer_norm(student: Callable, seed: int = 0) -> Result:
    r"""Check ``student(x, gain, bias, eps) -> y``: LN over the last axis of ``x`` (any leading
    axes), :math:`y = g\odot(x-\mu)/\sqrt{\sigma^2+\epsilon} + b` with the biased (1/H) variance
    (eq. 3). Reference: :func:`normlab.layernorm.forward`; ``seed`` draws the random cases."""
    def reference(x, gain, bias, eps):
        f = jit_once("ch4_layer_norm", layernorm.forward)
        return np.asarray(f(jnp.asarray(x), jnp.asarray(gain), jnp.asarray(bias), eps))

    def variant(x, gain, bias, eps, axis, ddof, outside):
        """LN with the chosen mistakes: statistics over ``axis``, variance with ``ddof``, eps
        outside the square root."""
        kd = axis != 0
        mu, var = x.mean(axis, keepdims=kd), x.var(axis, ddof=ddof, keepdims=kd)
        return gain * (x - mu) / ((np.sqrt(var) + eps) if outside else np.sqrt(var + eps)) + bias

    def diagnose(args, got):
        x, gain, bias, eps = args
        g = np.asarray(got[0], float)  # run_check passes a single output as a 1-tuple
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        # every combination of the three usual mistakes (the find-the-bugs exercise has all three)
        for axis in ((-1, 0) if x.ndim == 2 and x.shape[0] > 1 else (-1,)):
            for ddof in (0, 1):
                for outside in (False, True):
                    if (axis, ddof, outside) == (-1, 0, False):
                        continue
                    if _close(g, variant(x, gain, bias, eps, axis, ddof, outside)):
                        named = [m for m, on in (
                            ("`y` is normalized over the batch axis: that is batch normalization "
                             "(LN takes mu and sigma over the H units of each example, the last "
                             "axis, so it works with a batch of one)", axis == 0),
                            ("it uses the unbiased variance 1/(H-1) (eq. 3 divides by H: "
                             "np.var's default ddof=0)", ddof == 1),
                            ("eps is outside the square root (divide by sqrt(sigma^2 + eps), as "
                             "PyTorch's layer_norm does)", outside)) if on]
                        return (f"{len(named)} mistake{'s' if len(named) > 1 else ''}: "
                                + "; ".join(named) + ".")
        if _close(g, (x - mu) / np.sqrt(var + eps)):
            return ("`y` is normalized but the gain and the bias are missing. Hint: "
                    "y = gain * xhat + bias.")
        if _close(g, gain * (x - mu) / (var + eps) + bias):
            return ("`y` divides by the variance. Hint: divide by the standard deviation, "
                    "sqrt(sigma^2 + eps).")
        return None

    return run_check("layer norm forward", student, _ln_cases(1 + seed), reference, ["y"],
                     ["y = gain * (x - mean) / sqrt(var + eps) + bias, statistics over axis -1."],
                     tol=1e-10, diagnose=diagnose)


# ------------------------------------------------------------------------------------------------
# Table 1: weight-matrix re-centering
# ------------------------------------------------------------------------------------------------
def _recenter_cases(seed: int = 2):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(d, h)), rng.normal(size=d)) for d, h in [(4, 4), (3, 5), (6, 2)]]


def invariance_demo(student: Callable, seed: int = 3):
    r"""Apply the student's re-centering to a random layer and batch (float64, :math:`\epsilon=0`)
    and measure the relative change of the LN and the BN outputs (eq. 5); ``None`` if the
    student's function fails."""
    rng = np.random.default_rng(seed)
    W, x = rng.normal(size=(4, 6)), rng.normal(0.5, 1.5, size=(10, 4))
    b, g, gamma = rng.normal(size=6), rng.uniform(0.5, 2, size=6), rng.normal(size=4)
    W2, problem = call_student(student, (W.copy(), gamma.copy()))
    if problem or np.shape(W2) != W.shape or not np.all(np.isfinite(np.asarray(W2, float))):
        return None
    out = {}
    with normlab.float64():
        for kind in ("ln", "bn"):
            z = common_form(kind, jnp.asarray(W), jnp.asarray(b), jnp.asarray(g), jnp.asarray(x))
            z2 = common_form(kind, jnp.asarray(np.asarray(W2, float)), jnp.asarray(b),
                             jnp.asarray(g), jnp.asarray(x))
            out[kind] = float(jnp.max(jnp.abs(z2 - z)) / jnp.max(jnp.abs(z)))
    return out


def check_recenter(student: Callable, seed: int = 0) -> Result:
    r"""Check ``student(W, gamma) -> W'``: Table 1's weight-matrix re-centering in the ``h @ W``
    layout, every unit's weight vector (a column of ``W``, shape (D, H)) plus the same vector
    ``gamma`` (D,); in the paper's layout :math:`W' = W + \mathbf 1\gamma^\top`. On PASS the
    message reports the measured change of an LN and a BN layer's output under it. ``seed``
    draws the random cases."""
    def reference(W, gamma):
        return W + gamma[:, None]

    def diagnose(args, got):
        W, gamma = args
        g = np.asarray(got[0], float)  # run_check passes a single output as a 1-tuple
        if W.shape[0] == W.shape[1] and _close(g, W + gamma[None, :]):
            return ("you added gamma_j to every weight of unit j, a different shift per unit. "
                    "Hint: in the h @ W layout a unit's weights are a column of W; add the same "
                    "vector gamma to every column: W + gamma[:, None].")
        if _close(g, W - W.mean(0)) or _close(g, W - W.mean(1, keepdims=True)):
            return ("you centred W. Hint: re-centering *adds* one vector gamma to every unit's "
                    "weight vector; it does not remove a mean.")
        if _close(g, W * gamma[:, None]):
            return "you multiplied by gamma. Hint: re-centering adds gamma to every column."
        return None

    res = run_check("weight re-centering", student, _recenter_cases(2 + seed), reference, ["W_new"],
                    ["W_new = W + gamma[:, None] (gamma added to every column)."], tol=1e-12,
                    diagnose=diagnose)
    if res.passed:
        try:
            demo = invariance_demo(student, 3 + seed)
        except Exception:  # a demonstration, never a crash
            demo = None
        if demo is not None:
            res.message += (f" Applied to a random layer (eps = 0): LN's output changes by "
                            f"{demo['ln']:.0e} (invariant), BN's by {demo['bn']:.2f} (not).")
    return res


# The graded exercises of the chapter, in the notebook's order (the grader reads this list).
EXERCISES = [
    Exercise("ex-logistic-fisher", "logistic_fisher", check_logistic_fisher,
             references=("normlab.fisher.fisher",)),
    Exercise("ex-layer-norm", "layer_norm", check_layer_norm,
             references=("normlab.layernorm.forward",)),
    Exercise("ex-recenter", "recenter", check_recenter),
]
