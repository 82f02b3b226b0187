"""The feedback engine for exercises: checks that never crash the notebook.

Each chapter's own checks live in its ``exercises`` module (e.g. :mod:`normlab.ch1.exercises`) and
are built on :func:`run_check`.

Every check runs the student's function on a few random cases (float64), compares it with a
reference (JAX autodiff or :mod:`normlab`'s own implementation) and returns a :class:`Result`:
``PASS`` or ``FAIL`` plus one line saying what is off and a hint. A wrong shape, an exception,
a NaN, a wrong type and a wrong value each get their own diagnosis; nothing is raised.

Gradient checks use a random upstream gradient (the loss ``sum(BN(x))`` has zero gradient with
respect to ``x``, so it would hide every mistake) and the relative error
``max|a - b| / max(1e-8, max(|a| + |b|))``.
"""

from __future__ import annotations

import html
import copy
import traceback
from dataclasses import dataclass
from typing import Callable, Sequence

import jax
import numpy as np

import normlab
from normlab.measure import rel_error  # noqa: F401  (checks.rel_error, used by the notebooks)


@dataclass
class Result:
    """Outcome of a check: ``passed`` and a one-line ``message``. Truthy iff passed.
    ``pending``: the function is still the stub (``raise NotImplementedError``): not a failure
    to show in red, but the student's turn (it scores as not passed)."""

    name: str
    passed: bool
    message: str
    pending: bool = False

    def __bool__(self) -> bool:
        return self.passed

    @property
    def word(self) -> str:
        return "PASS" if self.passed else ("YOUR TURN" if self.pending else "FAIL")

    def __str__(self) -> str:
        return f"{self.word} [{self.name}] {self.message}"

    __repr__ = __str__

    #: (text colour, background) of PASS and FAIL: the Okabe-Ito bluish green and vermillion,
    #: darkened to >= 4.5:1 (WCAG AA) on their own tint, on white and on the website's dark-mode
    #: output card (#ced6dd). The word PASS/FAIL carries the meaning; colour only repeats it.
    COLOURS = {True: ("#00664A", "#E6F4EF"), False: ("#9A3B00", "#FBE9E1"),
               "pending": ("#1F4E79", "#E8F0F8")}

    def _repr_html_(self) -> str:
        colour, tint = self.COLOURS["pending" if self.pending else self.passed]
        word = self.word
        # A card with its own background and text colour, readable on any page or notebook theme
        # (light or dark Jupyter, Colab, the website in either mode).
        return (f'<div class="nl-result nl-result-{word.lower().replace(" ", "-")}" style="border-left:4px solid {colour};'
                f'background:{tint};color:#1A1A1A;padding:.3em .6em">'
                f'<b style="color:{colour}">{word}</b> [{html.escape(self.name)}] '
                f'{html.escape(self.message)}</div>')


NOT_YET = "your turn: replace the `raise NotImplementedError` with your code, then run this cell."


class StudentError(Exception):
    """What went wrong when a student's function was called somewhere else (the grader runs each
    submission in its own kernel), as the one-line diagnosis to show."""


def call_student(fn, args):
    """Run the student's function; return (output, None) or (None, one-line diagnosis)."""
    try:
        return fn(*args), None
    except NotImplementedError:
        return None, NOT_YET
    except StudentError as e:
        return None, str(e)
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


def matches(got, want, tol: float = 1e-9) -> bool:
    """``got`` has ``want``'s shape, is finite and agrees with it to relative error ``tol``
    (NumPy, float64); False on anything malformed, never an exception. A 1-tuple is its one
    element: :func:`run_check` hands a single output to ``diagnose`` as ``(output,)``. For the
    ``diagnose`` functions of the chapters' checks, which compare an output with a usual mistake."""
    if isinstance(got, tuple) and len(got) == 1:
        got = got[0]
    try:
        g = np.asarray(got, dtype=np.float64)
        w = np.asarray(want, dtype=np.float64)
    except Exception:
        return False
    return g.shape == w.shape and bool(np.all(np.isfinite(g))) and rel_error(g, w) < tol


def _diagnose(diagnose, args, got) -> str | None:
    """The check's special diagnosis of a common mistake, or None; a diagnosis that cannot be
    computed (e.g. an output of a shape that does not broadcast) is no diagnosis, not a crash."""
    if diagnose is None:
        return None
    try:
        return diagnose(args, got)
    except Exception:
        return None


def run_check(title: str, fn: Callable, cases: Sequence[tuple], reference: Callable,
           names: Sequence[str], hints: Sequence[str], tol: float, diagnose=None) -> Result:
    worst = 0.0
    with normlab.float64():
        for args in cases:
            # the student gets copies, so an in-place edit cannot change the reference's input
            got, problem = call_student(fn, copy.deepcopy(args))
            if problem:
                return Result(title, False, problem, pending=problem == NOT_YET)
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


@dataclass(frozen=True)
class Exercise:
    """One graded exercise of a chapter: its label in the notebook (``{exercise}`` ``:label:``),
    the name of the function the student defines, and the check that scores it. Each chapter's
    ``exercises`` module lists them in ``EXERCISES``; the grader takes this list from the
    instructor's copy of normlab, never from a submission. ``derivation`` and ``references`` say
    what a solution must not call (the grader flags it, and refuses it with ``--strict``)."""

    label: str
    function: str
    check: Callable
    #: the exercise asks for a hand derivation: calling autodiff (:data:`AUTODIFF`) is flagged
    derivation: bool = False
    #: normlab's own implementations of the answer (dotted names): calling them is flagged
    references: tuple = ()


#: The autodiff entry points a hand-derivation exercise must not call (the grader flags them).
AUTODIFF = ("jax.grad", "jax.value_and_grad", "jax.vjp", "jax.jvp", "jax.jacfwd", "jax.jacrev",
            "jax.jacobian", "jax.hessian", "jax.linearize", "jax.linear_transpose")


_JITTED: dict = {}


def jit_once(name: str, fn: Callable) -> Callable:
    """``jax.jit(fn)``, made once per process: a reference then costs one compilation per input
    shape instead of one per primitive, and a check answers in a fraction of a second."""
    if name not in _JITTED:
        _JITTED[name] = jax.jit(fn)
    return _JITTED[name]
