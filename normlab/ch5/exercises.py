r"""Chapter 5's exercise checks (built on :mod:`normlab.checks`)."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

import normlab
from normlab import landscape
from normlab.ch5 import theory
from normlab.checks import Exercise, Result, jit_once, rel_error, run_check

def _tiny_net_loss(Ws, x, y):
    """A small tanh network on a list of weight matrices, squared error (for the ICS check)."""
    h = x
    for W in Ws[:-1]:
        h = jnp.tanh(h @ W)
    return jnp.mean(jnp.sum((h @ Ws[-1] - y) ** 2, axis=1))


def _ics_cases(seed: int = 5):
    rng = np.random.default_rng(seed)
    cases = []
    for sizes, lr in [((3, 4, 4, 2), 0.1), ((3, 4, 4, 2), 0.3), ((3, 4, 4, 2), 0.05)]:  # one shape: compiles once
        Ws = [rng.normal(0, 1 / np.sqrt(a), size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
        x = rng.normal(size=(8, sizes[0]))
        y = rng.normal(size=(8, sizes[-1]))
        cases.append((_tiny_net_loss, Ws, lr, x, y))
    return cases


def check_ics(student_ics: Callable, seed: int = 0) -> Result:
    """Check ``student_ics(loss, Ws, lr, x, y) -> (l2, cos)`` (Definition 2.1, one array per layer).

    ``Ws`` is a list of weight matrices, ``loss(Ws, x, y)`` a scalar. The reference is
    :func:`normlab.landscape.ics` in float64 (tolerance 1e-8).
    """
    ref = jit_once("ch5-ics", lambda Ws, lr, x, y: landscape.ics(_tiny_net_loss, Ws, lr, x, y))

    def reference(loss, Ws, lr, x, y):
        l2, cos = ref([jnp.asarray(W) for W in Ws], lr, jnp.asarray(x), jnp.asarray(y))
        return np.asarray(l2), np.asarray(cos)

    def diagnose(args, got):
        loss, Ws, lr, x, y = args
        if np.allclose(np.asarray(got[0], float), 0):
            return ("`l2` is all zeros: G' was computed at the same parameters as G. Hint: before "
                    "taking layer i's gradient again, move layers 1..i-1 (only those) by -lr * G.")
        Ws = [jnp.asarray(W) for W in Ws]
        G = jax.grad(loss)(Ws, x, y)
        new = [W - lr * g for W, g in zip(Ws, G)]
        alt_all, alt_incl = [], []
        for i in range(len(Ws)):
            mixed = [new[j] if j != i else Ws[j] for j in range(len(Ws))]
            alt_all.append(float(jnp.linalg.norm(G[i] - jax.grad(loss)(mixed, x, y)[i])))
            mixed = [new[j] if j <= i else Ws[j] for j in range(len(Ws))]
            alt_incl.append(float(jnp.linalg.norm(G[i] - jax.grad(loss)(mixed, x, y)[i])))
        if rel_error(got[0], alt_all) < 1e-8:
            return ("you updated every other layer, also the ones after layer i. Hint: G'_i sees "
                    "the new values of the PRECEDING layers 1..i-1 only; layers i..k keep time t.")
        if rel_error(got[0], alt_incl) < 1e-8:
            return ("you also updated layer i itself. Hint: G'_i is the gradient at layer i's OLD "
                    "weights, after only layers 1..i-1 moved.")
        return None

    return run_check("ICS (Definition 2.1)", student_ics, _ics_cases(5 + 7919 * seed), reference, ["l2", "cos"],
                  ["l2[i] = ||G_i - G'_i||_2 with G'_i = grad of layer i after layers < i stepped.",
                   "cos[i] = <G_i, G'_i> / (||G_i|| ||G'_i||), over all entries of the matrix."],
                  tol=1e-8, diagnose=diagnose)


def _probe_loss(theta, x, y):
    """Logistic regression with a tanh feature layer, parameters in one flat vector."""
    d = x.shape[1]
    W = theta[: d * 3].reshape(d, 3)
    v = theta[d * 3:]
    logits = jnp.tanh(x @ W) @ v
    return jnp.mean(jax.nn.softplus(-y * logits))


def check_probe(student_probe: Callable, seed: int = 0) -> Result:
    """Check ``student_probe(loss, theta, etas, x, y) -> (losses, grad_change, beta)``.

    Along ``-g`` with ``g = grad loss(theta)``: ``losses[k] = loss(theta - etas[k] g)``,
    ``grad_change[k] = ||grad loss(theta - etas[k] g) - g||_2`` and
    ``beta = max_k grad_change[k] / ||etas[k] g||_2``. Reference: :func:`normlab.landscape.probe`.
    """
    rng = np.random.default_rng(6 + 7919 * seed)
    cases = []
    for d, etas in [(4, [0.05, 0.1, 0.2, 0.4]), (4, [0.5, 1.0, 2.0, 3.0]), (4, [0.01, 0.3, 1.0, 4.0])]:
        theta = rng.normal(size=d * 3 + 3)
        x = rng.normal(size=(12, d))
        y = np.sign(rng.normal(size=12))
        cases.append((_probe_loss, theta, np.asarray(etas), x, y))

    ref = jit_once("ch5-probe", lambda th, etas, x, y: landscape.probe(_probe_loss, th, etas, x, y))

    def reference(loss, theta, etas, x, y):
        r = ref(jnp.asarray(theta), jnp.asarray(etas), jnp.asarray(x), jnp.asarray(y))
        return np.asarray(r["loss"]), np.asarray(r["grad_change"]), float(r["beta"])

    def diagnose(args, got):
        loss, theta, etas, x, y = args
        want = reference(*args)
        b = float(np.asarray(got[2], float))
        gn = float(np.linalg.norm(np.asarray(jax.grad(loss)(jnp.asarray(theta), x, y))))
        if abs(b - float(np.max(want[1] / etas))) < 1e-8 * (1 + abs(b)):
            return ("`beta` divides by eta only. Hint: divide by the distance moved, "
                    "||eta * g||_2 = eta * ||g||_2.")
        if abs(b - float(np.max(want[1]))) < 1e-8 * (1 + abs(b)):
            return ("`beta` is the largest gradient change, not divided by the distance moved. "
                    "Hint: beta = max_k grad_change[k] / (etas[k] * ||g||_2).")
        if abs(b - float(np.max(want[1])) / (float(np.max(etas)) * gn)) < 1e-8 * (1 + abs(b)):
            return ("`beta` divides the largest change by the largest distance. Hint: take the "
                    "ratio for each step size first, then the maximum.")
        return None

    return run_check("landscape probe", student_probe, cases, reference,
                  ["losses", "grad_change", "beta"],
                  ["losses[k] = loss(theta - etas[k] * g), with g the gradient AT theta.",
                   "grad_change[k] = ||grad(theta - etas[k] * g) - g||_2 (not the norm of the new gradient).",
                   "beta = max over k of grad_change[k] / (etas[k] * ||g||_2)."],
                  tol=1e-8, diagnose=diagnose)


def check_thm41(student_rhs: Callable, seed: int = 0) -> Result:
    """Check ``student_rhs(g, yhat, gamma, sigma) -> float``, Theorem 4.1's right-hand side for one
    unit, against the squared norm of the true gradient through BN (JAX autodiff, float64, eps = 0)."""
    cases, truth = [], {}
    with normlab.float64():
        for inst, m in [(3 * seed, 7), (3 * seed + 1, 7), (3 * seed + 2, 7)]:
            y, gamma, beta, loss_z = theory.random_instance(inst, m)
            yhat, sigma = theory.standardize(y)
            g = jax.grad(loss_z)(gamma * yhat + beta)[:, 0]
            lhs = theory.thm41(inst, 0, m)["lhs"]  # ||grad through BN||^2 by autodiff (jitted)
            args = (np.asarray(g), np.asarray(yhat[:, 0]), float(gamma[0]), float(sigma[0]))
            truth[id(args[0])] = float(lhs)
            cases.append(args)

    def diagnose(args, got):
        g, yhat, gamma, sigma = args
        m = len(g)
        v = float(np.ravel(np.asarray(got[0], float))[0])
        full = np.sum(g * g)
        for wrong, msg in [
            (gamma**2 / sigma**2 * full, "you kept ||g||^2 only: subtract the two projections."),
            (gamma**2 / sigma**2 * (full - np.sum(g) ** 2 / m), "the projection on y_hat is missing."),
            (gamma**2 / sigma**2 * (full - np.dot(g, yhat) ** 2 / m), "the projection on 1 (the mean) is missing."),
            (gamma / sigma * (full - np.sum(g) ** 2 / m - np.dot(g, yhat) ** 2 / m),
             "the prefactor is gamma/sigma; it should be squared, gamma^2/sigma^2."),
            (gamma**2 / sigma**2 * (full - np.sum(g) ** 2 - np.dot(g, yhat) ** 2),
             "the projections need the 1/m: 1/sqrt(m) and y_hat/sqrt(m) are the unit vectors.")]:
            if abs(v - wrong) <= 1e-9 * (1 + abs(wrong)):
                return f"{msg} Hint: (gamma^2/sigma^2) (||g||^2 - <1,g>^2/m - <g,y_hat>^2/m)."
        return None

    return run_check("Theorem 4.1", student_rhs, cases, lambda *a: truth[id(a[0])], ["rhs"],
                  ["(gamma^2/sigma^2) * (||g||^2 - <1,g>^2/m - <g,y_hat>^2/m)"],
                  tol=1e-10, diagnose=diagnose)


# The graded exercises of the chapter, in the notebook's order (the grader reads this list).
EXERCISES = [
    Exercise("ex-ics", "ics_measure", check_ics, references=("normlab.landscape.ics",)),
    Exercise("ex-probe", "probe", check_probe, references=("normlab.landscape.probe",)),
    Exercise("ex-thm41", "thm41_rhs", check_thm41, references=("normlab.ch5.theory.thm41",)),
]
