"""Feedback for exercises that never crashes the notebook.

Every check runs the student's function on a few random cases (float64), compares it with a
reference (JAX autodiff or :mod:`normlab`'s own implementation) and returns a :class:`Result`:
``PASS`` or ``FAIL`` plus one line saying what is off and a hint. A wrong shape, an exception,
a NaN, a wrong type and a wrong value each get their own diagnosis; nothing is raised.

Gradient checks use a random upstream gradient (the loss ``sum(BN(x))`` has zero gradient with
respect to ``x``, so it would hide every mistake) and the relative error
``max|a - b| / max(1e-8, max(|a| + |b|))``.
"""

from __future__ import annotations

import copy
import traceback
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

import normlab
from normlab import batchnorm


def rel_error(a, b) -> float:
    """``max|a - b| / max(1e-8, max(|a| + |b|))``, the relative error used by every check."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(1e-8, float(np.max(np.abs(a) + np.abs(b)))))


@dataclass
class Result:
    """Outcome of a check: ``passed`` and a one-line ``message``. Truthy iff passed."""

    name: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} [{self.name}] {self.message}"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        import html

        colour = "#009E73" if self.passed else "#D55E00"
        word = "PASS" if self.passed else "FAIL"
        return (f'<div style="border-left:4px solid {colour};padding:.3em .6em">'
                f'<b style="color:{colour}">{word}</b> [{html.escape(self.name)}] '
                f'{html.escape(self.message)}</div>')


def _call(fn, args):
    """Run the student's function; return (output, None) or (None, one-line diagnosis)."""
    try:
        return fn(*args), None
    except NotImplementedError:
        return None, "not implemented yet: replace the `raise NotImplementedError` with your code."
    except Exception as e:  # the whole point: never let a student's exception escape
        tb = traceback.extract_tb(e.__traceback__)
        where = f" (line {tb[-1].lineno}: `{(tb[-1].line or '').strip()}`)" if tb else ""
        return None, f"your function raised {type(e).__name__}: {e}{where}."


def _compare(name: str, got, want, *, tol: float, hint: str) -> str | None:
    """None if ``got`` matches ``want``; else a one-line diagnosis."""
    try:
        g = np.asarray(got, dtype=np.float64)
    except Exception:
        return f"`{name}` is a {type(got).__name__}, not an array of numbers."
    w = np.asarray(want, dtype=np.float64)
    if g.shape != w.shape:
        return (f"`{name}` has shape {g.shape} but should have shape {w.shape}. "
                "Hint: check which axes you reduce over and whether you kept dimensions.")
    if not np.all(np.isfinite(g)):
        return (f"`{name}` contains NaN or inf. Hint: look for a division by a zero variance "
                "or a square root of a negative number; did you add eps?")
    err = rel_error(g, w)
    if err > tol:
        return f"`{name}` is wrong (relative error {err:.2e}, tolerance {tol:.0e}). Hint: {hint}"
    return None


def _diagnose(diagnose, args, got) -> str | None:
    """The check's special diagnosis of a common mistake, or None; a diagnosis that cannot be
    computed (e.g. an output of a shape that does not broadcast) is no diagnosis, not a crash."""
    if diagnose is None:
        return None
    try:
        return diagnose(args, got)
    except Exception:
        return None


def _check(title: str, fn: Callable, cases: Sequence[tuple], reference: Callable,
           names: Sequence[str], hints: Sequence[str], tol: float, diagnose=None) -> Result:
    worst = 0.0
    with normlab.float64():
        for args in cases:
            # the student gets copies, so an in-place edit cannot change the reference's input
            got, problem = _call(fn, copy.deepcopy(args))
            if problem:
                return Result(title, False, problem)
            want = reference(*args)
            if len(names) > 1:
                if not isinstance(got, (tuple, list)) or len(got) != len(names):
                    return Result(title, False, f"return a tuple ({', '.join(names)}); got "
                                  f"{type(got).__name__}{'' if not isinstance(got, (tuple, list)) else f' of length {len(got)}'}.")
            else:
                got, want = (got,), (want,)
            for nm, g, w, h in zip(names, got, want, hints):
                problem = _compare(nm, g, w, tol=tol, hint=h)
                if problem:
                    return Result(title, False, _diagnose(diagnose, args, got) or problem)
                worst = max(worst, rel_error(g, w))
    return Result(title, True, f"all {len(cases)} random cases agree (max relative error {worst:.1e}).")


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


_JITTED: dict = {}


def _jit_once(name: str, fn: Callable) -> Callable:
    """``jax.jit(fn)``, made once per process: a reference then costs one compilation per input
    shape instead of one per primitive, and a check answers in a fraction of a second."""
    if name not in _JITTED:
        import jax

        _JITTED[name] = jax.jit(fn)
    return _JITTED[name]


def _bn_vjp_reference(dy, x, gamma, eps):
    """``jax.vjp`` of training-mode BN at upstream gradient ``dy``: (dx, dgamma, dbeta)."""
    import jax
    import jax.numpy as jnp

    f = lambda x_, g_, b_: batchnorm.forward(x_, g_, b_, eps)[0]
    _, back = jax.vjp(f, x, gamma, jnp.zeros_like(gamma))
    return back(dy)


def check_bn_backward(student_backward: Callable) -> Result:
    """Check ``student_backward(dy, x, gamma, eps) -> (dx, dgamma, dbeta)`` against JAX autodiff.

    The reference is ``jax.vjp`` of training-mode BN at a random upstream gradient ``dy``, on
    ``(N, C)`` and ``(N, H, W, C)`` inputs, in float64 (tolerance 1e-8).
    """
    def reference(dy, x, gamma, eps):
        return _jit_once("bn_vjp", _bn_vjp_reference)(dy, x, gamma, eps)

    def diagnose(args, got):
        dy, x, gamma, eps = args
        axes = tuple(range(x.ndim - 1))
        inv = 1 / np.sqrt(x.var(axis=axes) + eps)
        if rel_error(got[0], dy * gamma * inv) < 1e-6:
            return ("`dx` equals gamma * dy / sigma: you treated the batch mean and variance as "
                    "constants. Hint: x_i also changes mu and sigma^2, which every other output "
                    "depends on; add the two terms through mu and sigma^2.")
        return None

    return _check("BN backward", student_backward, _bn_cases(), reference,
                  ["dx", "dgamma", "dbeta"],
                  ["dx = (1/(m*sigma)) * (m*g - sum(g) - xhat*sum(g*xhat)) with g = gamma*dy.",
                   "dgamma = sum over the batch of dy * xhat.",
                   "dbeta = sum over the batch of dy."],
                  tol=1e-8, diagnose=diagnose)


def check_running_update(student_update: Callable) -> Result:
    """Check ``student_update((mean, var), x, momentum) -> (mean, var)``, PyTorch's convention."""
    rng = np.random.default_rng(1)
    cases = []
    for shape, mom in [((6, 3), 0.1), ((2, 4), 0.5), ((32, 2), 0.01), ((3, 2, 2, 5), 0.1)]:
        c = shape[-1]
        cases.append(((rng.normal(size=c), rng.uniform(0.5, 2, size=c)),
                      rng.normal(2.0, 3.0, size=shape), mom))

    def reference(running, x, momentum):
        out = _jit_once("update_running", batchnorm.update_running)(running, x, momentum)
        return tuple(np.asarray(a) for a in out)

    def diagnose(args, got):
        (mean, var), x, mom = args
        axes = tuple(range(x.ndim - 1))
        biased = (1 - mom) * var + mom * x.var(axis=axes)
        swapped = mom * var + (1 - mom) * x.var(axis=axes, ddof=1)
        if rel_error(got[1], biased) < 1e-9:
            return ("`var` uses the biased 1/m batch variance. Hint: the running variance "
                    "estimates the population variance, so it tracks m/(m-1) * sigma_B^2.")
        if rel_error(got[1], swapped) < 1e-9:
            return ("momentum is applied the wrong way round. Hint: in PyTorch's convention "
                    "momentum is the weight of the NEW batch: (1-momentum)*old + momentum*new.")
        return None

    return _check("running statistics", student_update, cases, reference, ["mean", "var"],
                  ["mean <- (1 - momentum) * mean + momentum * batch_mean.",
                   "var <- (1 - momentum) * var + momentum * m/(m-1) * batch_var; "
                   "m counts every reduced value (N*H*W for images)."],
                  tol=1e-9, diagnose=diagnose)


def check_conv_stats(student_stats: Callable) -> Result:
    """Check ``student_stats(x) -> (mean, var)`` per channel of ``x`` (N, H, W, C), biased var."""
    rng = np.random.default_rng(2)
    cases = [(rng.normal(rng.normal(size=c), 2.0, size=(n, h, w, c)),)
             for n, h, w, c in [(4, 5, 5, 3), (2, 3, 7, 6), (1, 4, 4, 2)]]

    def reference(x):
        mean, var, _ = _jit_once("batch_stats", batchnorm.batch_stats)(x)
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

    return _check("per-channel statistics", student_stats, cases, reference, ["mean", "var"],
                  ["average over axes (0, 1, 2), one value per channel.",
                   "the biased variance over axes (0, 1, 2): mean of (x - mean)**2."],
                  tol=1e-9, diagnose=diagnose)


# ---- Chapter 2 ----
def check_drift(student_drift: Callable) -> Result:
    """Check ``student_drift(u, t, lr) -> delta_b``: the change of ``b`` in one naive step.

    The layer is ``xhat = (u + b) - mean(u + b)`` with the mean held outside the gradient and the
    loss ``0.5 * sum((xhat - t)**2)``; the reference takes that step with ``jax.grad``.
    """
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(20)
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

    return _check("naive drift", student_drift, cases, reference, ["delta_b"],
                  ["dl/db = sum_i dl/dxhat_i * dxhat_i/db, and dxhat_i/db = 1 when the mean is "
                   "held constant; use sum_i xhat_i = 0."],
                  tol=1e-9, diagnose=diagnose)


def check_centring_backward(student_backward: Callable) -> Result:
    """Check ``student_backward(dy, x) -> dx`` for ``y = x - mean(x, axis=0)`` on ``(N, C)`` inputs,
    with the mean differentiated (``jax.vjp`` reference, random upstream ``dy``, float64). On a
    PASS it also reports the bias gradient ``sum_i dx_i``, which must vanish."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(21)
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

    res = _check("centring backward", student_backward, cases, reference, ["dx"],
                 ["y_j = x_j - (1/N) sum_i x_i, so dl/dx_i = dy_i - (1/N) sum_j dy_j per column."],
                 tol=1e-9, diagnose=diagnose)
    if res.passed:
        with normlab.float64():
            dy, x = cases[0]
            dx, _ = _call(student_backward, (dy, x))
            dx = np.asarray(dx, dtype=float)
        res.message += (f" The bias gradient sum_i dx_i is {np.max(np.abs(dx.sum(axis=0))):.0e}: "
                        "with the mean differentiated, b gets no gradient.")
    return res


# ---- Chapter 5 ----
def _tiny_net_loss(Ws, x, y):
    """A small tanh network on a list of weight matrices, squared error (for the ICS check)."""
    import jax.numpy as jnp

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


def check_ics(student_ics: Callable) -> Result:
    """Check ``student_ics(loss, Ws, lr, x, y) -> (l2, cos)`` (Definition 2.1, one array per layer).

    ``Ws`` is a list of weight matrices, ``loss(Ws, x, y)`` a scalar. The reference is
    :func:`normlab.smoothing.ics` in float64 (tolerance 1e-8).
    """
    import jax
    import jax.numpy as jnp

    from normlab import smoothing

    ref = _jit_once("ch5-ics", lambda Ws, lr, x, y: smoothing.ics(_tiny_net_loss, Ws, lr, x, y))

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

    return _check("ICS (Definition 2.1)", student_ics, _ics_cases(), reference, ["l2", "cos"],
                  ["l2[i] = ||G_i - G'_i||_2 with G'_i = grad of layer i after layers < i stepped.",
                   "cos[i] = <G_i, G'_i> / (||G_i|| ||G'_i||), over all entries of the matrix."],
                  tol=1e-8, diagnose=diagnose)


def _probe_loss(theta, x, y):
    """Logistic regression with a tanh feature layer, parameters in one flat vector."""
    import jax
    import jax.numpy as jnp

    d = x.shape[1]
    W = theta[: d * 3].reshape(d, 3)
    v = theta[d * 3:]
    logits = jnp.tanh(x @ W) @ v
    return jnp.mean(jax.nn.softplus(-y * logits))


def check_probe(student_probe: Callable) -> Result:
    """Check ``student_probe(loss, theta, etas, x, y) -> (losses, grad_change, beta)``.

    Along ``-g`` with ``g = grad loss(theta)``: ``losses[k] = loss(theta - etas[k] g)``,
    ``grad_change[k] = ||grad loss(theta - etas[k] g) - g||_2`` and
    ``beta = max_k grad_change[k] / ||etas[k] g||_2``. Reference: :func:`normlab.smoothing.probe`.
    """
    import jax.numpy as jnp

    from normlab import smoothing

    rng = np.random.default_rng(6)
    cases = []
    for d, etas in [(4, [0.05, 0.1, 0.2, 0.4]), (4, [0.5, 1.0, 2.0, 3.0]), (4, [0.01, 0.3, 1.0, 4.0])]:
        theta = rng.normal(size=d * 3 + 3)
        x = rng.normal(size=(12, d))
        y = np.sign(rng.normal(size=12))
        cases.append((_probe_loss, theta, np.asarray(etas), x, y))

    ref = _jit_once("ch5-probe", lambda th, etas, x, y: smoothing.probe(_probe_loss, th, etas, x, y))

    def reference(loss, theta, etas, x, y):
        r = ref(jnp.asarray(theta), jnp.asarray(etas), jnp.asarray(x), jnp.asarray(y))
        return np.asarray(r["loss"]), np.asarray(r["grad_change"]), float(r["beta"])

    def diagnose(args, got):
        loss, theta, etas, x, y = args
        want = reference(*args)
        b = float(np.asarray(got[2], float))
        import jax

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

    return _check("landscape probe", student_probe, cases, reference,
                  ["losses", "grad_change", "beta"],
                  ["losses[k] = loss(theta - etas[k] * g), with g the gradient AT theta.",
                   "grad_change[k] = ||grad(theta - etas[k] * g) - g||_2 (not the norm of the new gradient).",
                   "beta = max over k of grad_change[k] / (etas[k] * ||g||_2)."],
                  tol=1e-8, diagnose=diagnose)


def check_thm41(student_rhs: Callable) -> Result:
    """Check ``student_rhs(g, yhat, gamma, sigma) -> float``, Theorem 4.1's right-hand side for one
    unit, against the squared norm of the true gradient through BN (JAX autodiff, float64, eps = 0)."""
    import jax
    import jax.numpy as jnp

    from normlab import smoothing

    cases, truth = [], {}
    with normlab.float64():
        for seed, m in [(0, 7), (1, 7), (2, 7)]:
            y, gamma, beta, loss_z = smoothing.random_instance(seed, m)
            yhat, sigma = smoothing.standardize(y)
            g = jax.grad(loss_z)(gamma * yhat + beta)[:, 0]
            lhs = smoothing.thm41(seed, 0, m)["lhs"]  # ||grad through BN||^2 by autodiff (jitted)
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

    return _check("Theorem 4.1", student_rhs, cases, lambda *a: truth[id(a[0])], ["rhs"],
                  ["(gamma^2/sigma^2) * (||g||^2 - <1,g>^2/m - <g,y_hat>^2/m)"],
                  tol=1e-10, diagnose=diagnose)
