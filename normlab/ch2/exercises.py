r"""Chapter 2's exercise checks (built on :mod:`normlab.checks`)."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

import normlab
from normlab.ch2 import toy
from normlab.checks import Exercise, Result, call_student, rel_error, run_check

def check_drift(student_drift: Callable, seed: int = 0) -> Result:
    """Check ``student_drift(u, t, lr) -> delta_b``: the change of ``b`` in one naive step.

    The layer is ``xhat = (u + b) - mean(u + b)`` with the mean held outside the gradient and the
    loss ``0.5 * sum((xhat - t)**2)``; the reference takes that step with ``jax.grad``.
    """
    rng = np.random.default_rng(20 + 7919 * seed)
    cases = [(rng.normal(rng.normal(), 2.0, size=n), rng.normal(m, 1.0, size=n), lr)
             for n, m, lr in [(10, 1.0, 0.1), (50, -0.7, 0.01), (7, 3.0, 0.5), (3, 0.2, 1.0)]]

    def reference(u, t, lr):
        def loss(b):
            x = jnp.asarray(u) + b
            xhat = x - jax.lax.stop_gradient(jnp.mean(x))
            return 0.5 * jnp.sum((xhat - jnp.asarray(t)) ** 2)

        return -lr * jax.grad(loss)(jnp.asarray(0.0))

    def diagnose(args, got):
        u, t, lr = args
        want = lr * np.sum(t)
        g = np.asarray(got[0], dtype=float) if np.ndim(got[0]) == 0 else None
        if g is None:
            return None
        if abs(g - abs(want)) < 1e-9 * (1 + abs(want)):
            return ("you returned the size |delta b|, but the check wants the signed step. Hint: "
                    "drop the abs; the sign says which way b drifts.")
        if abs(g + want) < 1e-9 * (1 + abs(want)):
            return ("the sign is flipped. Hint: gradient DEScent moves b by -lr * dl/db, and "
                    "dl/db = sum_i (xhat_i - t_i).")
        if abs(g - want / len(t)) < 1e-9 * (1 + abs(want)):
            return ("off by a factor N: the loss SUMS over the N examples, so dl/db is a sum of "
                    "dl/dxhat_i, not a mean.")
        if abs(g - np.sum(t)) < 1e-9 * (1 + abs(want)):
            return "you forgot the learning rate: the step is -lr * dl/db."
        return None

    return run_check("naive drift", student_drift, cases, reference, ["delta_b"],
                  ["dl/db = sum_i dl/dxhat_i * dxhat_i/db, and dxhat_i/db = 1 when the mean is "
                   "held constant; use sum_i xhat_i = 0."],
                  tol=1e-9, diagnose=diagnose)


def check_centring_backward(student_backward: Callable, seed: int = 0) -> Result:
    """Check ``student_backward(dy, x) -> dx`` for ``y = x - mean(x, axis=0)`` on ``(N, C)`` inputs,
    with the mean differentiated (``jax.vjp`` reference, random upstream ``dy``, float64). On a
    PASS it also reports the bias gradient ``sum_i dx_i``, which must vanish."""
    rng = np.random.default_rng(21 + 7919 * seed)
    cases = [(rng.normal(size=s), rng.normal(1.0, 2.0, size=s)) for s in [(8, 3), (5, 1), (16, 4)]]

    def reference(dy, x):
        _, vjp = jax.vjp(lambda x_: x_ - jnp.mean(x_, axis=0), jnp.asarray(x))
        return vjp(jnp.asarray(dy))[0]

    def diagnose(args, got):
        dy, x = args
        g = np.asarray(got[0], dtype=float)
        if g.shape == dy.shape and rel_error(g, dy) < 1e-9:
            return ("dx = dy: you held the mean constant, which is the naive layer. Hint: x_i also "
                    "moves mean(x) by 1/N, which every output subtracts; add that term.")
        if g.shape == dy.shape and rel_error(g, dy - dy.mean()) < 1e-9:
            return ("you subtracted the mean of dy over ALL entries. Hint: each channel (column) "
                    "has its own mean: reduce over axis 0 only.")
        return None

    res = run_check("centring backward", student_backward, cases, reference, ["dx"],
                 ["y_j = x_j - (1/N) sum_i x_i, so dl/dx_i = dy_i - (1/N) sum_j dy_j per column."],
                 tol=1e-9, diagnose=diagnose)
    if res.passed:
        with normlab.float64():
            dy, x = cases[0]
            dx, _ = call_student(student_backward, (dy, x))
            dx = np.asarray(dx, dtype=float)
        res.message += (f" The bias gradient sum_i dx_i is {np.max(np.abs(dx.sum(axis=0))):.0e}: "
                        "with the mean differentiated, b gets no gradient.")
    return res


def check_collapse(student_collapse: Callable, seed: int = 0) -> Result:
    r"""Check ``student_collapse(a, t, w0, lr) -> k``: the first-order step at which the naive
    scale w of section 2.2 reaches 0, :math:`w_0^2/(2\eta A)` with :math:`A = N - t\cdot\hat a`
    (``a`` centred with unit variance, so :math:`\hat a = a`). Reference:
    :func:`normlab.ch2.toy.collapse_step`."""
    rng = np.random.default_rng(22 + 7919 * seed)
    cases = []
    while len(cases) < 4:
        n = int(rng.integers(8, 60))
        a = rng.normal(size=n)
        a = (a - a.mean()) / a.std()
        t = rng.normal(rng.uniform(-1, 1), 1.0, size=n)
        if n - t @ a > 1.0:  # A > 0: the scale collapses
            cases.append((a, t, float(rng.uniform(0.5, 4.0)), float(10.0 ** rng.uniform(-4, -2))))

    def reference(a, t, w0, lr):
        return toy.collapse_step(jnp.asarray(a), jnp.asarray(t), w0, lr)

    def diagnose(args, got):
        a, t, w0, lr = args
        A, B = len(a) - t @ a, -np.sum(t)
        g = float(np.ravel(np.asarray(got[0], dtype=float))[0])
        for wrong, msg in [
            (w0 ** 2 / (lr * A), "you forgot the 2: w^2 falls by 2*eta*A per step (square the update)."),
            (w0 / (lr * A), "the scale itself does not fall linearly: w_{k+1} = w_k - eta*A/w_k, so "
                            "w^2 falls by 2*eta*A per step; solve w0^2 - 2*eta*A*k = 0."),
            (w0 ** 2 / (2 * lr * abs(B)), "A is the w-force, sum_i (a_i - t_i) a_i = N - t.a; you "
                                          "used B, the force on the bias."),
            (w0 ** 2 / (2 * lr * (len(a) + t @ a)), "the sign of t.a is wrong: A = N - t.a.")]:
            if abs(g - wrong) <= 1e-9 * (1 + abs(wrong)):
                return msg
        return None

    return run_check("collapse step", student_collapse, cases, reference, ["k"],
                     ["k* = w0**2 / (2 * lr * A) with A = N - t @ a."], tol=1e-9, diagnose=diagnose)


# The graded exercises of the chapter, in the notebook's order (the grader reads this list).
EXERCISES = [
    Exercise("ex-drift", "drift_step", check_drift, derivation=True),
    Exercise("ex-centring-backward", "centring_backward", check_centring_backward,
             derivation=True),
    Exercise("ex-collapse", "collapse_step", check_collapse,
             references=("normlab.ch2.toy.collapse_step",)),
]
