"""Bad input to normlab's public functions gets a message that names the argument and says what was
expected (normlab.validate); the checks never break jit, vmap or grad; half precision is normalized
with float32 statistics. And the command line's exit codes and --version."""

from __future__ import annotations

import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import normlab
from normlab import batchnorm, fisher, layernorm, weightnorm
from conftest import ROOT

X = jnp.asarray(np.random.default_rng(0).normal(size=(8, 3)), jnp.float32)
ONES, ZEROS = jnp.ones(3), jnp.zeros(3)


def with_nan(a, value=np.nan):
    return jnp.asarray(a).at[(0,) * jnp.ndim(a)].set(value)


# ---- batchnorm -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["gamma", "beta"])
@pytest.mark.parametrize("shape", [(4,), (3, 1), (1,), (8, 3), ()])
def test_batchnorm_names_a_wrong_shaped_parameter(name, shape):
    args = {"gamma": ONES, "beta": ZEROS, name: jnp.ones(shape)}
    with pytest.raises(ValueError, match=rf"batchnorm.forward: {name} must have shape \(C,\) = \(3,\)"
                                         rf".*last axis of x.*got shape {re.escape(str(shape))}"):
        batchnorm.forward(X, **args)


def test_batchnorm_recognizes_channels_first_input():
    x = jnp.ones((2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"x of shape \(2, 3, 4, 4\) looks channels-first \(N, C, H, W\)"
                                         r".*gamma has 3 values.*channels-last.*jnp.moveaxis\(x, 1, -1\)"):
        batchnorm.forward(x, ONES, ZEROS)
    with pytest.raises(ValueError, match=r"batchnorm.inference: x of shape .* looks channels-first"):
        batchnorm.inference(x, ONES, ZEROS, ZEROS, ONES)
    y, _ = batchnorm.forward(jnp.moveaxis(x, 1, -1), ONES, ZEROS)  # the advice works
    assert y.shape == (2, 4, 4, 3)


def test_an_empty_batch_has_its_own_message():
    with pytest.raises(ValueError, match=r"empty batch: x of shape \(0, 3\).*m = 0") as e:
        batchnorm.forward(jnp.zeros((0, 3)), ONES, ZEROS)
    assert "one example" not in str(e.value)
    with pytest.raises(ValueError, match="empty batch"):
        batchnorm.update_running((ZEROS, ONES), jnp.zeros((0, 3)))
    with pytest.raises(ValueError, match=r"m = 1.*With one example"):  # one example: its own
        batchnorm.forward(X[:1], ONES, ZEROS)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("arg", ["x", "gamma", "beta"])
def test_batchnorm_reports_nan_and_inf(bad, arg):
    args = {"x": X, "gamma": ONES, "beta": ZEROS}
    args[arg] = with_nan(args[arg], bad)
    what = "NaN" if np.isnan(bad) else "infinite"
    with pytest.raises(ValueError, match=rf"batchnorm.forward: {arg} contains 1 {what}.*first at index"):
        batchnorm.forward(**args)


def test_the_other_batchnorm_functions_report_nan_and_shapes():
    with pytest.raises(ValueError, match=r"batchnorm.inference: var contains 1 NaN"):
        batchnorm.inference(X, ONES, ZEROS, ZEROS, with_nan(ONES))
    with pytest.raises(ValueError, match=r"batchnorm.inference: mean must have shape \(C,\) = \(3,\)"):
        batchnorm.inference(X, ONES, ZEROS, jnp.zeros(2), ONES)
    with pytest.raises(ValueError, match=r"batchnorm.update_running: x contains 1 NaN"):
        batchnorm.update_running((ZEROS, ONES), with_nan(X))
    with pytest.raises(ValueError, match=r"running var must have shape \(C,\) = \(3,\).*got shape \(2,\)"):
        batchnorm.update_running((ZEROS, jnp.ones(2)), X)
    with pytest.raises(TypeError, match=r"running must be the pair \(mean, var\)"):
        batchnorm.update_running(ZEROS, X)
    _, cache = batchnorm.forward(X, ONES, ZEROS)
    with pytest.raises(ValueError, match=r"batchnorm.backward: dy must have the shape of x and y, \(8, 3\)"):
        batchnorm.backward(jnp.ones((3, 8)), cache)
    with pytest.raises(ValueError, match=r"batchnorm.backward: dy contains 1 NaN"):
        batchnorm.backward(with_nan(jnp.ones((8, 3))), cache)
    with pytest.raises(TypeError, match=r"cache must be the second value returned by batchnorm.forward"):
        batchnorm.backward(jnp.ones((8, 3)), "cache")


@pytest.mark.parametrize("eps", [-1e-3, float("inf"), float("nan")])
def test_a_negative_or_infinite_eps_is_reported(eps):
    with pytest.raises(ValueError, match=r"batchnorm.forward: eps must be a finite number >= 0"):
        batchnorm.forward(X, ONES, ZEROS, eps)
    with pytest.raises(ValueError, match=r"layernorm.forward: eps must be a finite number >= 0"):
        layernorm.forward(X, ONES, ZEROS, eps)


def test_a_python_list_is_accepted_and_garbage_rejected():
    x = [[1.0, 2.0], [3.0, 5.0], [0.0, 1.0]]
    y, _ = batchnorm.forward(x, [1.0, 1.0], [0.0, 0.0])
    np.testing.assert_allclose(y, batchnorm.forward(jnp.asarray(x), jnp.ones(2), jnp.zeros(2))[0])
    np.testing.assert_allclose(layernorm.forward(x, [1.0, 1.0], [0.0, 0.0]),
                               layernorm.forward(jnp.asarray(x), jnp.ones(2), jnp.zeros(2)))
    assert weightnorm.weight([[3.0], [4.0]], [2.0]).shape == (2, 1)
    with pytest.raises(TypeError, match=r"batchnorm.forward: x must be an array of numbers.*rows of equal length"):
        batchnorm.forward([[1.0, 2.0], [3.0]], [1.0, 1.0], [0.0, 0.0])
    with pytest.raises(TypeError, match=r"batchnorm.forward: gamma must be an array of numbers"):
        batchnorm.forward(x, "ones", [0.0, 0.0])


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_half_precision_is_normalized_with_float32_statistics(dtype):
    """float16's variance overflows once the spread is about 200 (1/sqrt(inf) = 0: every output 0
    before); the statistics now run in float32 and the result comes back in the input dtype."""
    x = (np.random.default_rng(1).normal(0, 300, (64, 3))).astype(np.float32)
    y, cache = batchnorm.forward(jnp.asarray(x, dtype), ONES.astype(dtype), ZEROS.astype(dtype))
    assert y.dtype == dtype
    ref, _ = batchnorm.forward(jnp.asarray(jnp.asarray(x, dtype), jnp.float32), ONES, ZEROS)
    np.testing.assert_allclose(np.asarray(y, np.float32), ref, atol=2e-2)
    assert float(jnp.std(y.astype(jnp.float32))) == pytest.approx(1.0, abs=1e-2)
    dx, dg, db = batchnorm.backward(jnp.ones_like(y), cache)
    assert dx.dtype == dg.dtype == db.dtype == dtype and bool(jnp.all(jnp.isfinite(dx)))
    yi = batchnorm.inference(jnp.asarray(x, dtype), ONES, ZEROS, jnp.asarray(x.mean(0)), jnp.asarray(x.var(0)))
    assert yi.dtype == dtype and float(jnp.std(yi.astype(jnp.float32))) == pytest.approx(1.0, abs=2e-2)
    yl = layernorm.forward(jnp.asarray(x.T, dtype), jnp.ones(64), jnp.zeros(64))
    assert yl.dtype == dtype and float(jnp.std(yl.astype(jnp.float32))) == pytest.approx(1.0, abs=2e-2)


def test_the_value_checks_are_skipped_under_jit_vmap_and_grad():
    """Under tracing there is no value to check: NaN flows as in plain JAX, and nothing breaks."""
    bad = with_nan(X)
    f = lambda x: batchnorm.forward(x, ONES, ZEROS)[0]
    assert bool(jnp.isnan(jax.jit(f)(bad)[:, 0]).all())
    np.testing.assert_allclose(jax.vmap(f)(jnp.stack([X, X]))[1], f(X), rtol=1e-6)
    g = jax.grad(lambda x: jnp.sum(f(x) ** 3))(X)
    assert g.shape == X.shape and bool(jnp.all(jnp.isfinite(g)))
    assert jax.jit(lambda x: layernorm.forward(x, ONES, ZEROS))(bad).shape == (8, 3)
    assert jax.jit(lambda v: weightnorm.weight(v, ONES))(with_nan(jnp.ones((4, 3)))).shape == (4, 3)
    # eps traced: no value check either
    assert jax.jit(lambda e: batchnorm.forward(X, ONES, ZEROS, e)[0])(-1.0).shape == (8, 3)


# ---- layernorm, weightnorm, fisher ---------------------------------------------------------------
def test_layernorm_names_bad_inputs():
    with pytest.raises(ValueError, match=r"gain must have shape \(H,\) = \(3,\).*got shape \(4,\)"):
        layernorm.forward(X, jnp.ones(4), ZEROS)
    with pytest.raises(ValueError, match=r"layernorm.forward: x contains 1 NaN"):
        layernorm.forward(with_nan(X), ONES, ZEROS)
    with pytest.raises(ValueError, match=r"layernorm.forward: bias contains 1 infinite"):
        layernorm.forward(X, ONES, with_nan(ZEROS, np.inf))


def test_weightnorm_names_bad_inputs():
    v = jnp.asarray(np.random.default_rng(2).normal(size=(4, 3)), jnp.float32)
    with pytest.raises(ValueError, match=r"weightnorm.weight: v contains 1 NaN"):
        weightnorm.weight(with_nan(v), ONES)
    with pytest.raises(ValueError, match=r"weightnorm.weight: g contains 1 infinite"):
        weightnorm.weight(v, with_nan(ONES, np.inf))
    with pytest.raises(ValueError, match=r"g must have shape \(units,\) = \(3,\).*got shape \(2,\)"):
        weightnorm.weight(v, jnp.ones(2))
    with pytest.raises(ValueError, match=r"weightnorm.backward: grad_w contains 1 NaN"):
        weightnorm.backward(with_nan(jnp.ones((4, 3))), v, ONES)
    with pytest.raises(ValueError, match=r"weightnorm.data_init: x contains 1 NaN"):
        weightnorm.data_init(v, with_nan(jnp.ones((5, 4))))
    with pytest.raises(TypeError, match=r"weightnorm.data_init: x must be an array of numbers"):
        weightnorm.data_init(v, [[1.0, 2.0], [1.0]])


def _logits(theta, x):
    return x @ theta.reshape(2, 3)


def test_fisher_names_bad_inputs():
    theta, x = jnp.ones(6), jnp.asarray(np.random.default_rng(3).normal(size=(5, 2)), jnp.float32)
    assert fisher.fisher(_logits, list(np.ones(6)), np.asarray(x).tolist()).shape == (6, 6)
    with pytest.raises(ValueError, match=r"fisher.fisher: theta contains 1 NaN"):
        fisher.fisher(_logits, with_nan(theta), x)
    with pytest.raises(ValueError, match=r"fisher.fisher: x contains 1 infinite"):
        fisher.fisher(_logits, theta, with_nan(x, np.inf))
    with pytest.raises(ValueError, match=r"fisher.kl: delta contains 1 NaN"):
        fisher.kl(_logits, theta, with_nan(jnp.zeros(6)), x)
    with pytest.raises(ValueError, match=r"fisher.kl: delta must have the shape of theta, \(6,\)"):
        fisher.kl(_logits, theta, jnp.zeros(5), x)
    with pytest.raises(TypeError, match=r"fisher.fisher: logits_fn must be a function"):
        fisher.fisher(theta, theta, x)
    with pytest.raises(ValueError, match=r"fisher.fisher: logits_fn\(theta, x\) contains"):
        fisher.fisher(lambda t, x: _logits(t, x) * jnp.inf, theta, x)


def test_groupnorm_and_weightstd_name_bad_inputs():
    from normlab import groupnorm, weightstd

    x = jnp.asarray(np.random.default_rng(4).normal(size=(2, 3, 3, 4)), jnp.float32)
    g, b = jnp.ones(4), jnp.zeros(4)
    with pytest.raises(ValueError, match=r"groupnorm.forward: x contains 1 NaN"):
        groupnorm.forward(with_nan(x), 2, g, b)
    with pytest.raises(ValueError, match=r"gain must have shape \(C,\) = \(4,\)"):
        groupnorm.forward(x, 2, jnp.ones(3), b)
    with pytest.raises(ValueError, match=r"groupnorm.forward: eps must be a finite number >= 0"):
        groupnorm.forward(x, 2, g, b, -1.0)
    y = groupnorm.forward(x.astype(jnp.float16) * 300, 2, g, b)
    assert y.dtype == jnp.float16 and float(jnp.std(y.astype(jnp.float32))) == pytest.approx(1.0, abs=2e-2)
    assert groupnorm.forward(np.asarray(x).tolist(), 2, [1.0] * 4, [0.0] * 4).shape == x.shape
    W = jnp.asarray(np.random.default_rng(5).normal(size=(6, 3)), jnp.float32)
    with pytest.raises(ValueError, match=r"weightstd.standardize: W contains 1 infinite"):
        weightstd.standardize(with_nan(W, np.inf))
    with pytest.raises(ValueError, match=r"weightstd.backward: grad_w_hat contains 1 NaN"):
        weightstd.backward(with_nan(jnp.ones((6, 3))), W)
    assert weightstd.standardize(np.asarray(W).tolist()).shape == (6, 3)


# ---- the command line ----------------------------------------------------------------------------
def cli(*args):
    return subprocess.run([sys.executable, "-m", "normlab", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_cli_version_help_and_exit_codes():
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"normlab {normlab.__version__}"
    r = cli("--help")
    assert r.returncode == 0 and "python -m normlab claims [--chapter N]" in r.stdout
    assert "`" not in r.stdout and ":mod:" not in r.stdout  # plain text, no RST
    r = cli("frobnicate")
    assert r.returncode == 2 and "unknown command 'frobnicate'" in r.stderr
    r = cli()
    assert r.returncode == 2 and "a command is missing" in r.stderr
    r = cli("claims", "--help")
    assert r.returncode == 0 and "--chapter" in r.stdout and "`" not in r.stdout
