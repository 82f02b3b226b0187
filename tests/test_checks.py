"""normlab.checks (Chapter 1's exercises): each check passes a correct function, fails each kind
of wrong one with the right diagnosis, and never raises."""

import numpy as np
import pytest

from normlab import checks
from normlab.ch1 import exercises


# ---- correct solutions (NumPy only, as a student would write them) -----------------------------
def _axes(x):
    return tuple(range(x.ndim - 1))


def good_backward(dy, x, gamma, eps):
    axes = _axes(x)
    m = x.size // x.shape[-1]
    inv = 1.0 / np.sqrt(x.var(axis=axes) + eps)
    xhat = (x - x.mean(axis=axes)) * inv
    g = gamma * dy
    dx = inv / m * (m * g - g.sum(axis=axes) - xhat * (g * xhat).sum(axis=axes))
    return dx, (dy * xhat).sum(axis=axes), dy.sum(axis=axes)


def good_update(running, x, momentum):
    mean, var = running
    axes = _axes(x)
    return ((1 - momentum) * mean + momentum * x.mean(axis=axes),
            (1 - momentum) * var + momentum * x.var(axis=axes, ddof=1))


def good_stats(x):
    return x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))


GOOD = {exercises.check_bn_backward: good_backward, exercises.check_running_update: good_update,
        exercises.check_conv_stats: good_stats}


def _stub(*args):
    raise NotImplementedError


def _boom(*args):
    return 1 / 0


def _nan(fn):
    def wrapped(*args):
        out = fn(*args)
        first = np.array(out[0], dtype=float, copy=True)
        first.flat[0] = np.nan
        return (first,) + tuple(out[1:])
    return wrapped


def _wrong_shape(fn):
    """First output with an extra leading axis (keepdims-like)."""
    def wrapped(*args):
        out = fn(*args)
        return (np.asarray(out[0])[None],) + tuple(out[1:])
    return wrapped


def _unbroadcastable(fn):
    """First output of a shape that cannot even broadcast against the right one."""
    def wrapped(*args):
        out = fn(*args)
        return (np.zeros(np.asarray(out[0]).size + 7),) + tuple(out[1:])
    return wrapped


def _off_by(fn, factor):
    def wrapped(*args):
        out = fn(*args)
        return tuple(np.asarray(o) * (factor if i == len(out) - 1 else 1) for i, o in enumerate(out))
    return wrapped


@pytest.mark.parametrize("check", list(GOOD), ids=lambda c: c.__name__)
def test_correct_function_passes(check):
    r = check(GOOD[check])
    assert r.passed and bool(r)
    assert str(r).startswith("PASS")
    assert "agree" in r.message
    assert "PASS" in r._repr_html_()


@pytest.mark.parametrize("check", list(GOOD), ids=lambda c: c.__name__)
def test_generic_failures_are_diagnosed(check):
    good = GOOD[check]
    cases = {
        "your turn": _stub,
        "raised ZeroDivisionError": _boom,
        "NaN": _nan(good),
        "should have shape": _wrong_shape(good),
        "is wrong (relative error": _off_by(good, 1.01),
        "return a tuple": lambda *a: good(*a)[0],
    }
    for expected, fn in cases.items():
        r = check(fn)
        assert not r.passed and not bool(r), expected
        assert str(r).startswith("YOUR TURN" if fn is _stub else "FAIL"), expected
        assert r.pending == (fn is _stub)
        assert expected in r.message, f"{expected!r} not in {r.message!r}"
        assert "\n" not in r.message  # one line


@pytest.mark.parametrize("check", list(GOOD), ids=lambda c: c.__name__)
def test_never_raises_on_garbage(check):
    good = GOOD[check]
    for fn in [_unbroadcastable(good), lambda *a: None, lambda *a: "abc", lambda *a: (1, 2, 3, 4),
               lambda *a: ("x", "y", "z")[:len(good(*a))], lambda *a: {"a": 1},
               lambda *a: (np.zeros(0),) * len(good(*a)), lambda *a: [[1, 2], [3]]]:
        r = check(fn)  # must return, not raise
        assert isinstance(r, checks.Result) and not r.passed


def test_exception_message_names_the_line():
    def broken(dy, x, gamma, eps):
        mu = x.mean(axis=0)
        return mu.nonexistent_attribute

    r = exercises.check_bn_backward(broken)
    assert not r.passed
    assert "AttributeError" in r.message and "nonexistent_attribute" in r.message


def test_backward_treating_statistics_as_constants():
    def constants(dy, x, gamma, eps):
        axes = _axes(x)
        inv = 1.0 / np.sqrt(x.var(axis=axes) + eps)
        xhat = (x - x.mean(axis=axes)) * inv
        return gamma * dy * inv, (dy * xhat).sum(axis=axes), dy.sum(axis=axes)

    r = exercises.check_bn_backward(constants)
    assert not r.passed
    assert "treated the batch mean and variance as constants" in r.message


def test_backward_with_only_the_mean_term_is_a_plain_wrong_value():
    def mean_only(dy, x, gamma, eps):
        axes = _axes(x)
        inv = 1.0 / np.sqrt(x.var(axis=axes) + eps)
        xhat = (x - x.mean(axis=axes)) * inv
        g = gamma * dy
        return inv * (g - g.mean(axis=axes)), (dy * xhat).sum(axis=axes), dy.sum(axis=axes)

    r = exercises.check_bn_backward(mean_only)
    assert not r.passed
    assert "`dx` is wrong" in r.message and "constants" not in r.message


def test_running_update_with_biased_variance():
    def biased(running, x, momentum):
        mean, var = running
        return ((1 - momentum) * mean + momentum * x.mean(axis=_axes(x)),
                (1 - momentum) * var + momentum * x.var(axis=_axes(x)))

    r = exercises.check_running_update(biased)
    assert not r.passed and "biased 1/m batch variance" in r.message


def test_running_update_with_momentum_swapped():
    def swapped(running, x, momentum):
        mean, var = running
        return (momentum * mean + (1 - momentum) * x.mean(axis=_axes(x)),
                momentum * var + (1 - momentum) * x.var(axis=_axes(x), ddof=1))

    r = exercises.check_running_update(swapped)
    assert not r.passed and "wrong way round" in r.message


def test_running_update_over_the_batch_axis_only_fails_on_images():
    def batch_axis_only(running, x, momentum):
        mean, var = running
        return ((1 - momentum) * mean + momentum * x.mean(axis=0),
                (1 - momentum) * var + momentum * x.var(axis=0, ddof=1))

    r = exercises.check_running_update(batch_axis_only)
    assert not r.passed and "shape" in r.message


def test_conv_stats_per_position():
    r = exercises.check_conv_stats(lambda x: (x.mean(axis=0), x.var(axis=0)))
    assert not r.passed
    assert "one value per (H, W, C) position" in r.message


def test_conv_stats_unbiased_variance():
    r = exercises.check_conv_stats(lambda x: (x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2), ddof=1)))
    assert not r.passed and "unbiased variance" in r.message


def test_in_place_edits_do_not_fool_the_reference():
    """A correct function that scribbles on its input must still pass (it gets copies)."""
    def scribbling_stats(x):
        out = good_stats(x)
        x -= 1000.0
        return out

    def scribbling_update(running, x, momentum):
        out = good_update(running, x, momentum)
        running[0][...] = 123.0
        x *= 0
        return out

    assert exercises.check_conv_stats(scribbling_stats).passed
    assert exercises.check_running_update(scribbling_update).passed


def test_jax_implementations_are_accepted():
    import jax.numpy as jnp

    def jax_stats(x):
        return jnp.mean(x, axis=(0, 1, 2)), jnp.var(x, axis=(0, 1, 2))

    r = exercises.check_conv_stats(jax_stats)
    assert r.passed, r.message  # runs in float64, so JAX arrays meet the 1e-9 tolerance


def test_rel_error_definition():
    assert checks.rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert checks.rel_error([1.0], [3.0]) == pytest.approx(0.5)
    assert checks.rel_error([0.0], [0.0]) == 0.0
    assert checks.rel_error([1e-12], [0.0]) == pytest.approx(1e-4)  # max(1e-8, .) floor


def _backward_with(dy, x, gamma, eps, *, ddof=0, m=None, g_gamma=True):
    axes = _axes(x)
    mm = x.size // x.shape[-1] if m is None else m(x)
    inv = 1.0 / np.sqrt(x.var(axis=axes, ddof=ddof) + eps)
    xhat = (x - x.mean(axis=axes)) * inv
    g = (gamma if g_gamma else 1.0) * dy
    dx = inv / mm * (mm * g - g.sum(axis=axes) - xhat * (g * xhat).sum(axis=axes))
    return dx, (dy * xhat).sum(axis=axes), dy.sum(axis=axes)


@pytest.mark.parametrize("mistake,words", [
    (dict(g_gamma=False), "you forgot gamma"),
    (dict(ddof=1), "unbiased m/(m-1) variance"),
    (dict(m=lambda x: x.shape[0]), "m = N"),
])
def test_bn_backward_names_the_usual_mistakes(mistake, words):
    r = exercises.check_bn_backward(lambda dy, x, g, e: _backward_with(dy, x, g, e, **mistake))
    assert not r.passed and words in r.message, r.message


def test_checks_draw_other_cases_for_another_seed():
    """The grader passes a fresh seed: the check still passes a right answer and the cases change."""
    assert exercises.check_bn_backward(good_backward, seed=12345).passed
    assert exercises.check_running_update(good_update, seed=7).passed
    seen = []
    exercises.check_conv_stats(lambda x: (seen.append(x.copy()), good_stats(x))[1], seed=3)
    exercises.check_conv_stats(lambda x: (seen.append(x.copy()), good_stats(x))[1], seed=4)
    assert not np.allclose(seen[0], seen[len(seen) // 2])


def test_matches_the_one_comparison_of_the_chapters_diagnoses():
    """checks.matches: same shape, finite, within the relative tolerance; a 1-tuple is its one
    element (run_check hands a single output to ``diagnose`` as ``(output,)``), a longer tuple is
    an array; anything malformed is False, never an exception."""
    w = np.array([1.0, -2.0, 3.0])
    assert checks.matches(w * (1 + 1e-12), w)
    assert checks.matches((w * (1 + 1e-12),), w)             # the 1-tuple of run_check
    assert not checks.matches(w * (1 + 1e-6), w)
    assert checks.matches(w * (1 + 1e-6), w, tol=1e-5)
    assert not checks.matches(w[:2], w)                       # shape
    assert not checks.matches(w[None], w)
    assert not checks.matches((w, w), w)                      # a 2-tuple is a (2, 3) array
    assert checks.matches((w, w), np.stack([w, w]))
    assert not checks.matches(np.array([1.0, np.nan, 3.0]), w)
    assert not checks.matches(None, w) and not checks.matches("abc", w)
    assert not checks.matches({"a": 1}, w) and not checks.matches(w, "abc")
    from normlab.ch3 import exercises as e3
    from normlab.ch6 import exercises as e6
    from normlab.ch7 import exercises as e7
    assert e3._matches is e6._matches is e7._matches is checks.matches
