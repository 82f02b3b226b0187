r"""Chapter 3's exercise checks (built on :func:`normlab.checks.run_check`): random cases in
float64, a reference, and the usual mistakes recognized by name. No check ever raises."""

from __future__ import annotations

from typing import Callable

import jax
import numpy as np

from normlab import weightnorm
from normlab.checks import (Exercise, Result, call_student, jit_once, matches as _matches, rel_error,
                            run_check)


def _parts(got, n: int):
    """The first ``n`` entries of a returned tuple, or Nones."""
    if isinstance(got, (tuple, list)) and len(got) == n:
        return list(got)
    return [None] * n


# ------------------------------------------------------------------------------------------------
# The backward pass (eqs. 3-4)
# ------------------------------------------------------------------------------------------------
def _wn_cases(seed: int = 30):
    rng = np.random.default_rng(seed)
    cases = []
    for (k, units), g_mean in [((5, 3), 1.0), ((8, 1), 2.0), ((3, 4), -0.5), ((16, 6), 1.0)]:
        v = rng.normal(size=(k, units)) * np.exp(rng.normal(0.0, 1.0, units))  # any scale
        g = rng.normal(g_mean, 0.5, units)
        cases.append((rng.normal(size=(k, units)), v, g))  # a random upstream grad_w
    return cases


def _wn_reference(grad_w, v, g):
    _, vjp = jax.vjp(weightnorm.weight, v, g)
    return vjp(grad_w)


def check_wn_backward(student_backward: Callable, seed: int = 0) -> Result:
    r"""Check ``student_backward(grad_w, v, g) -> (grad_v, grad_g)`` (``v`` of shape (fan_in,
    units), one unit per column) against ``jax.vjp`` of :func:`normlab.weightnorm.weight`, float64,
    tolerance 1e-8; ``seed`` draws the random cases."""
    def reference(grad_w, v, g):
        return jit_once("wn_vjp", _wn_reference)(grad_w, v, g)

    def diagnose(args, got):
        G, v, g = args
        gv, gg = _parts(got, 2)
        n = np.linalg.norm(v, axis=0)
        u = v / n
        proj = G - u * np.sum(G * u, 0)
        right_gg = np.sum(G * v, 0) / n
        if gv is not None and np.shape(gv) == np.shape(g) and np.shape(gg) == np.shape(v):
            return "you returned (grad_g, grad_v): return them in the order (grad_v, grad_g)."
        if _matches(gv, (g / n) * G):
            return ("`grad_v` is (g/||v||) grad_w: you forgot the projection M_w. Hint: scaling v "
                    "does not change w, so grad_v has no component along v; remove it, "
                    "grad_w - u (u . grad_w) with u = v/||v||.")
        if _matches(gv, (g / n) ** 2 * proj) or _matches(gv, (g / n) ** 2 * G):
            return ("`grad_v` carries (g/||v||)^2: the factor is g/||v||, once. Hint: "
                    "dw/dv = (g/||v||)(I - u u^T); (g/||v||)^2 is what w sees after a step on v.")
        if _matches(gv, (g / n) * (G - v * np.sum(G * v, 0))):
            return ("`grad_v` projects with v instead of the unit vector v/||v||: (v . grad_w) v "
                    "removes ||v||^2 times the component along v. Hint: use u = v/||v|| in "
                    "M_w = I - u u^T.")
        big = np.linalg.norm(v)
        if _matches(gv, (g / big) * (G - v * np.sum(G * v, 0) / big**2)) or \
                _matches(gg, np.sum(G * v, 0) / big):
            return ("you used the norm of the whole matrix v: each column (unit) has its own "
                    "||v_j||. Hint: np.linalg.norm(v, axis=0).")
        if _matches(gg, np.sum(G * v, 0)):
            return ("`grad_g` is grad_w . v: it is not divided by ||v||. Hint: dw/dg = v/||v||, so "
                    "grad_g = (grad_w . v)/||v||.")
        if _matches(gg, -right_gg) or _matches(gv, -(g / n) * proj):
            return "a sign is flipped: eqs. 3-4 have no minus sign in front (chain rule, not a step)."
        return None

    return run_check("WN backward", student_backward, _wn_cases(30 + 7919 * seed), reference,
                     ["grad_v", "grad_g"],
                     ["grad_v = (g/||v||) (grad_w - u (u . grad_w)) per column, u = v/||v|| (eq. 4).",
                      "grad_g = (grad_w . v)/||v|| per column (eq. 3)."],
                     tol=1e-8, diagnose=diagnose)


# ------------------------------------------------------------------------------------------------
# The data-dependent initialization (eqs. 5-6)
# ------------------------------------------------------------------------------------------------
def _init_cases(seed: int = 31):
    rng = np.random.default_rng(seed)
    cases = []
    for n, k, units in [(32, 5, 3), (10, 4, 4), (64, 8, 2), (7, 3, 6)]:
        x = rng.normal(rng.normal(1.0, 1.0, k), rng.uniform(0.5, 3.0, k), size=(n, k))
        v = 0.05 * rng.normal(size=(k, units))  # the paper's scale
        cases.append((v, x))
    return cases


def check_data_init(student_init: Callable, seed: int = 0) -> Result:
    r"""Check ``student_init(v, x) -> (g, b)`` (eqs. 5-6) against
    :func:`normlab.weightnorm.data_init`: per unit, :math:`t = xv/\|v\|`,
    :math:`g = 1/\sigma[t]`, :math:`b = -\mu[t]/\sigma[t]`, biased std; float64, tolerance 1e-9;
    ``seed`` draws the random cases."""
    def reference(v, x):
        return tuple(np.asarray(a) for a in jit_once("wn_data_init", weightnorm.data_init)(v, x))

    def diagnose(args, got):
        v, x = args
        gs, bs = _parts(got, 2)
        t = x @ (v / np.linalg.norm(v, axis=0))
        mu, sd = t.mean(0), t.std(0)
        if gs is not None and np.shape(gs) == (x.shape[1],) != (v.shape[1],):
            return ("`g` has one entry per input feature: you normalized x, not the unit's "
                    "pre-activation. Hint: the statistics are those of t = x v/||v||, one per "
                    "column of v.")
        if _matches(gs, 1 / t.std(0, ddof=1)) or _matches(bs, -mu / t.std(0, ddof=1)):
            return ("you used the unbiased (n-1) standard deviation. Hint: the initialization "
                    "normalizes this very batch, so sigma[t] is its biased (1/n) std, as in BN.")
        if _matches(bs, -mu) and _matches(gs, 1 / sd):
            return "`b` is -mu[t]: you forgot to divide mu by sigma. Hint: b = -mu[t]/sigma[t]."
        if _matches(gs, 1 / (x @ v).std(0)):
            return ("`g` is 1/sigma[x v]: the statistics must be those of t = x v/||v||. Hint: "
                    "w = g v/||v||, so with t computed from v itself g comes out ||v|| too small.")
        if _matches(bs, mu / sd):
            return "`b` has the wrong sign: b = -mu[t]/sigma[t] makes the batch mean 0."
        if _matches(gs, sd):
            return "`g` is sigma[t]; it should be 1/sigma[t], so that g t has std 1."
        return None

    return run_check("data-dependent init", student_init, _init_cases(31 + 7919 * seed), reference,
                     ["g", "b"],
                     ["g = 1/sigma[t] with t = x v/||v|| and sigma the biased std over the batch.",
                      "b = -mu[t]/sigma[t]."],
                     tol=1e-9, diagnose=diagnose)


# ------------------------------------------------------------------------------------------------
# Predicting ||v|| from the gradients (section 3.3)
# ------------------------------------------------------------------------------------------------
def _norm_cases(seed: int = 32):
    rng = np.random.default_rng(seed)
    return [(float(rng.uniform(0.5, 3.0)), rng.exponential(s, size=K), lr)
            for K, s, lr in [(5, 1.0, 0.1), (12, 0.3, 1.0), (30, 0.05, 3.0), (1, 2.0, 0.5)]]


def _norm_reference(norm0, grad_norms, lr):
    return np.sqrt(norm0**2 + lr**2 * np.concatenate([[0.0], np.cumsum(np.asarray(grad_norms) ** 2)]))


def check_norm_prediction(student_predict: Callable, seed: int = 0) -> Result:
    r"""Check ``student_predict(norm0, grad_norms, lr) -> norms``: the norms
    :math:`\|v_0\|, \dots, \|v_K\|` (K + 1 values) after plain gradient steps
    :math:`v_{k+1} = v_k - \eta\nabla_v\ell_k` with :math:`\|\nabla_v\ell_k\|` = ``grad_norms[k]``.
    On a PASS it also compares the prediction with a real training run (section 3.3). ``seed``
    draws the random cases."""
    def diagnose(args, got):
        n0, gn, lr = args
        gn = np.asarray(gn)
        want = _norm_reference(n0, gn, lr)
        try:  # one output: run_check hands it over as a 1-tuple
            g = np.asarray(got[0], dtype=np.float64)
        except Exception:
            return None
        if g.ndim == 0:
            return (f"you returned one number; return all K + 1 = {len(gn) + 1} norms, "
                    "||v_0|| first, then the norm after each step.")
        if g.shape == (len(gn),):
            if rel_error(g, want[1:]) < 1e-9:
                return (f"you returned {len(gn)} norms, those after each step: the check wants "
                        f"{len(gn) + 1}, starting with ||v_0||.")
            return f"return K + 1 = {len(gn) + 1} norms (||v_0|| first), not {len(gn)}."
        if _matches(g, n0 + lr * np.concatenate([[0.0], np.cumsum(gn)])):
            return ("you added the step lengths: ||v|| + lr ||grad||. But each step is orthogonal "
                    "to v, so the squares add (Pythagoras): ||v'||^2 = ||v||^2 + lr^2 ||grad||^2.")
        if _matches(g, np.sqrt(n0**2 + lr * np.concatenate([[0.0], np.cumsum(gn**2)]))):
            return "the learning rate is not squared: the step is lr * grad, its square lr^2 ||grad||^2."
        if _matches(g, np.sqrt(n0**2 + np.concatenate([[0.0], np.cumsum(gn**2)]))):
            return "you forgot the learning rate: the step is lr * grad_v, not grad_v."
        if _matches(g, n0 * np.concatenate([[1.0], np.cumprod(np.sqrt(1 + (lr * gn / n0) ** 2))])):
            return ("c_k = lr ||grad_k||/||v_k|| uses the CURRENT norm ||v_k||, not ||v_0||. "
                    "Hint: update the norm step by step, or add the squares.")
        return None

    res = run_check("norm prediction", student_predict, _norm_cases(32 + 7919 * seed),
                    _norm_reference, ["norms"],
                    ["||v_{k+1}||^2 = ||v_k||^2 + lr^2 ||grad_k||^2, so ||v_K||^2 = ||v_0||^2 + "
                     "lr^2 sum_k ||grad_k||^2; return ||v_0|| .. ||v_K||."],
                    tol=1e-9, diagnose=diagnose)
    if res.passed:
        try:
            from normlab.ch3.growth import pythagoras_run

            r = pythagoras_run()
            norm, c = r["norm"][:, 0], r["c"][:, 0]
            pred, problem = call_student(student_predict, (float(norm[0]), c * norm[:-1] / r["lr"],
                                                          r["lr"]))
            if problem is None:
                res.message += (f" On the training run of section 3.3 ({len(c)} SGD steps, float64) "
                                f"it predicts unit 0's measured norm to {rel_error(pred, norm):.0e}.")
        except Exception:  # the extra is a bonus: it never turns a PASS into a crash
            pass
    return res


# The graded exercises of the chapter, in the notebook's order (the grader reads this list).
EXERCISES = [
    Exercise("ex-wn-backward", "wn_backward", check_wn_backward, derivation=True,
             references=("normlab.weightnorm.backward",)),
    Exercise("ex-data-init", "wn_data_init", check_data_init,
             references=("normlab.weightnorm.data_init",)),
    Exercise("ex-norm-prediction", "predict_norms", check_norm_prediction),
]
