r"""Chapter 7's exercise checks (built on :func:`normlab.checks.run_check`): random cases in
float64, a reference, and the usual mistakes recognized by name. No check ever raises."""

from __future__ import annotations

from typing import Callable

import numpy as np

from normlab.checks import Exercise, Result, matches as _matches, run_check


# ------------------------------------------------------------------------------------------------
# The angular update, with atan2
# ------------------------------------------------------------------------------------------------
def _angle_reference(w_prev, w_next):
    u = w_prev / np.linalg.norm(w_prev, axis=0, keepdims=True)
    along = np.sum(w_next * u, axis=0)
    across = np.linalg.norm(w_next - along * u, axis=0)
    return np.arctan2(across, along)


def _angle_cases(seed: int):
    rng = np.random.default_rng(seed)
    cases = []
    for shape, size in [((6, 3), 0.3), ((10, 4), 1e-3), ((5, 2), 2.0)]:
        a = rng.normal(size=shape) * np.exp(rng.normal(size=shape[1]))
        cases.append((a, a * rng.uniform(0.5, 2.0, shape[1]) + size * rng.normal(size=shape)))
    # tiny angles: rotations by about 1e-9 rad, where arccos of the cosine returns 0
    a = rng.normal(size=(4, 3))
    d = rng.normal(size=(4, 3))
    d -= np.sum(d * a, 0) / np.sum(a * a, 0) * a
    cases.append((a, 1.7 * (a + 1e-9 * d * np.linalg.norm(a, axis=0) / np.linalg.norm(d, axis=0))))
    return cases


def check_angle(student_angle: Callable, seed: int = 0) -> Result:
    r"""Check ``student_angle(w_prev, w_next) -> angles``: the angle in radians between
    corresponding columns (units) of two ``(fan_in, units)`` arrays, accurate at tiny angles
    (1e-9 rad; tolerance 1e-6 relative)."""
    def diagnose(args, got):
        a, b = args
        g = got[0]
        cos = np.sum(a * b, 0) / np.linalg.norm(a, axis=0) / np.linalg.norm(b, axis=0)
        if _matches(g, np.arccos(np.clip(cos, -1, 1)), 1e-6):
            return ("arccos of the cosine loses the small angles: at 1e-9 rad the cosine rounds "
                    "to 1. Split w_next into its parts along and across w_prev and use arctan2.")
        if _matches(g, np.degrees(_angle_reference(a, b)), 1e-6):
            return "you returned degrees; return radians."
        if np.ndim(g) == 0:
            return "you returned one angle; return one per column (unit)."
        if _matches(g, _angle_reference(a.T, b.T), 1e-6):
            return "you took the angle per row; a unit's weights are a column (axis 0 is the fan-in)."
        return None

    return run_check("angular update", student_angle, _angle_cases(70 + 7919 * seed),
                     _angle_reference, ["angles"],
                     ["Delta = atan2(||w_next - <w_next, u> u||, <w_next, u>), u = w_prev/||w_prev||, per column."],
                     tol=1e-6, diagnose=diagnose)


# ------------------------------------------------------------------------------------------------
# The equilibrium angle
# ------------------------------------------------------------------------------------------------
def _eq_reference(lr, wd, momentum):
    return np.sqrt(2 * lr * wd / (1 + momentum))


def _eq_cases(seed: int):
    rng = np.random.default_rng(seed)
    return [(float(10 ** rng.uniform(-3, 0)), float(10 ** rng.uniform(-5, -2)), float(m))
            for m in (0.0, 0.9, rng.uniform(0.5, 0.99), 0.0, 0.95)]


def check_equilibrium_angle(student_fn: Callable, seed: int = 0) -> Result:
    r"""Check ``student_fn(lr, wd, momentum) -> angle``: the RMS angular update per step at
    equilibrium for SGD with momentum, the decay inside the buffer (tolerance 1e-9 relative)."""
    def diagnose(args, got):
        lr, wd, m = args
        g = got[0]
        if _matches(g, np.sqrt(2 * lr * wd)) and m > 0:
            return "right for plain SGD (gamma = 0); with momentum gamma, divide 2 eta lambda by (1 + gamma) (Wan et al., Theorem 3)."
        if _matches(g, np.sqrt(lr * wd / (1 + m))):
            return "the factor 2 is missing: cos(Delta) = 1 - eta lambda gives Delta^2/2 = eta lambda."
        if _matches(g, np.sqrt(2 * lr * wd / (1 - m))):
            return "(1 - gamma) where (1 + gamma) belongs."
        if _matches(g, 2 * lr * wd / (1 + m)):
            return "take the square root: that is Delta^2."
        return None

    return run_check("equilibrium angle", student_fn, _eq_cases(80 + 7919 * seed), _eq_reference,
                     ["angle"], ["Delta = sqrt(2 eta lambda / (1 + gamma))."], tol=1e-9,
                     diagnose=diagnose)


# ------------------------------------------------------------------------------------------------
# The exponential learning rate and its initial buffer
# ------------------------------------------------------------------------------------------------
def _exp_reference(lr, wd, momentum, steps, w0):
    b = 1 + momentum - wd * lr
    a = (b + np.sqrt(b * b - 4 * momentum)) / 2
    t = np.arange(steps)
    return lr * a ** (-2.0 * t - 1), -(1 - a) * w0 / (a * lr)


def _exp_cases(seed: int):
    rng = np.random.default_rng(seed)
    out = []
    for m in (0.9, 0.5, 0.95):
        out.append((float(10 ** rng.uniform(-2, 0)), float(10 ** rng.uniform(-4, -2)), m,
                    int(rng.integers(5, 50)), rng.normal(size=(4, 3))))
    return out


def check_exp_lr(student_fn: Callable, seed: int = 0) -> Result:
    r"""Check ``student_fn(lr, wd, momentum, steps, w0) -> (lrs, v0)``: the learning rates
    :math:`\eta\rho^{-2t-1}`, t = 0 .. steps-1, with the larger root :math:`\rho`, and the
    initial momentum buffer that makes the exponential-LR run equal the weight-decay run."""
    def diagnose(args, got):
        lr, wd, m, steps, w0 = args
        lrs, v0 = got
        b = 1 + m - wd * lr
        small = (b - np.sqrt(b * b - 4 * m)) / 2
        big = (b + np.sqrt(b * b - 4 * m)) / 2
        t = np.arange(steps)
        if _matches(lrs, lr * small ** (-2.0 * t - 1)):
            return "you used the smaller root (near gamma): it is exact too, but the book's run (and Li & Arora's experiment) uses the larger, near 1 - eta lambda/(1 - gamma)."
        if _matches(lrs, lr * big ** (-2.0 * t)):
            return "the exponent is -2t - 1, not -2t: the first step already uses eta/rho."
        if _matches(lrs, lr * big ** (-2.0 * t - 1)) and _matches(v0, np.zeros_like(w0)):
            return "the schedule is right; a zero initial buffer is not: the runs then drift apart (Figure 7.5). Solve w~_(-1) = rho w_(-1)."
        if _matches(lrs, lr * big ** (-2.0 * t - 1)) and _matches(v0, (1 - big) * w0 / (big * lr)):
            return "the buffer has the wrong sign: it is -(1 - rho) w0/(rho eta)."
        return None

    return run_check("exponential learning rate", student_fn, _exp_cases(90 + 7919 * seed),
                     _exp_reference, ["lrs", "v0"],
                     ["eta_t = eta rho^(-2t-1), rho the larger root of x^2 - (1+gamma-lambda eta) x + gamma",
                      "v0 = -(1 - rho) w0 / (rho eta)"], tol=1e-9, diagnose=diagnose)


# The graded exercises of the chapter, in the notebook's order (the grader reads this list).
EXERCISES = [
    Exercise("ex-angle", "angular_update", check_angle, references=("normlab.scale.angle",)),
    Exercise("ex-equilibrium-angle", "equilibrium_angle", check_equilibrium_angle,
             references=("normlab.scale.equilibrium_angle",)),
    Exercise("ex-exp-lr", "exp_lr_schedule", check_exp_lr,
             references=("normlab.ch7.dynamics.alpha", "normlab.ch7.dynamics.initial_buffer")),
]
