"""normlab.layernorm: forward and gradients against torch.nn.functional.layer_norm, the hand-derived
backward pass against JAX autodiff (hypothesis over shapes, scales and eps), the invariances of
Ba et al.'s Table 1 for a single example, and the error messages. All in float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import normlab
from normlab import layernorm
from normlab.checks import rel_error


@st.composite
def ln_inputs(draw):
    """(x, gain, bias, dy, eps) with x of shape (..., H): no leading axis, (1, H), (N, H), (N, T, H)..."""
    lead = tuple(draw(st.lists(st.integers(1, 5), min_size=0, max_size=3)))
    h = draw(st.integers(2, 16))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = draw(st.floats(-100, 100)) + 10.0 ** draw(st.floats(-2, 3)) * rng.normal(size=lead + (h,))
    eps = draw(st.sampled_from([1e-5, 1e-3, 0.1]))
    return x, rng.normal(1.0, 0.5, h), rng.normal(size=h), rng.normal(size=lead + (h,)), eps


def _cond(x, eps):
    """How many digits x - mean(x) loses: max |x| / sqrt(sigma^2 + eps) over the examples (at least 1).
    Two correct float64 implementations differ by about machine epsilon times this (e.g. x = 32 +- 0.001
    with eps = 1e-5 gives about 1e4, and differences near 1e-12)."""
    scale = np.max(np.abs(x), axis=-1) / np.sqrt(x.var(axis=-1) + eps)
    return max(1.0, float(np.max(scale)))


def _dx_scale(x, gain, dy, eps):
    """The size of the terms dx is a difference of, |gain * dy| / sqrt(sigma^2 + eps) (dx itself
    can be far smaller, e.g. H = 2 where LN's output hardly depends on x)."""
    return np.max(np.abs(gain * dy) / np.sqrt(x.var(axis=-1, keepdims=True) + eps))


@settings(max_examples=25, deadline=None)
@given(ln_inputs())
def test_forward_and_gradients_match_torch_layer_norm(args):
    x, gain, bias, dy, eps = args
    with normlab.float64():
        y = layernorm.forward(x, gain, bias, eps)
        dx, dgain, dbias = layernorm.backward(dy, x, gain, eps)
        assert y.dtype == jnp.float64
    xt, gt, bt = (torch.tensor(a, requires_grad=True) for a in (x, gain, bias))
    yt = torch.nn.functional.layer_norm(xt, (x.shape[-1],), gt, bt, eps)
    yt.backward(torch.tensor(dy))
    assert y.shape == x.shape
    cond, ddy = _cond(x, eps), np.abs(dy).reshape(-1, x.shape[-1]).sum(axis=0)
    # absolute errors of machine-epsilon size times the conditioning: a wrong formula (the unbiased
    # variance, the statistics held constant) is off by O(1 / H) of these scales, not O(1e-13)
    assert np.max(np.abs(np.asarray(y) - yt.detach().numpy())) < 1e-14 * cond * np.max(np.abs(gain)) + 1e-15 * np.max(np.abs(bias))
    assert np.all(np.abs(np.asarray(dgain) - gt.grad.numpy()) <= 1e-14 * cond * ddy)
    assert rel_error(dbias, bt.grad.numpy()) < 1e-13
    assert np.max(np.abs(np.asarray(dx) - xt.grad.numpy())) < 1e-13 * cond * _dx_scale(x, gain, dy, eps)


@settings(max_examples=25, deadline=None)
@given(ln_inputs())
def test_backward_matches_jax_vjp(args):
    x, gain, bias, dy, eps = args
    with normlab.float64():
        hand = layernorm.backward(dy, x, gain, eps)
        _, vjp = jax.vjp(lambda a, g, b: layernorm.forward(a, g, b, eps), *map(jnp.asarray, (x, gain, bias)))
        auto = vjp(jnp.asarray(dy))
    for h, a in zip(hand, auto):
        assert h.shape == a.shape
    cond, ddy = _cond(x, eps), np.abs(dy).reshape(-1, x.shape[-1]).sum(axis=0)
    assert np.all(np.abs(np.asarray(hand[1]) - np.asarray(auto[1])) <= 1e-14 * cond * ddy)
    assert rel_error(hand[2], auto[2]) < 1e-13
    assert np.max(np.abs(np.asarray(hand[0]) - np.asarray(auto[0]))) < 1e-13 * cond * _dx_scale(x, gain, dy, eps)


def test_backward_is_not_the_naive_gradient():
    """The checks above can fail: gain * dy / sigma (the statistics held constant) is far off."""
    rng = np.random.default_rng(0)
    x, gain, dy = rng.normal(size=(4, 6)), rng.normal(1, 0.5, 6), rng.normal(size=(4, 6))
    with normlab.float64():
        dx, _, _ = layernorm.backward(dy, x, gain, 0.0)
    assert rel_error(dx, gain * dy / x.std(axis=-1, keepdims=True)) > 0.1


def test_each_example_is_normalized_on_its_own():
    """Zero mean and unit (biased) variance per row; a batch of one equals that row of a batch."""
    rng = np.random.default_rng(1)
    x, ones, zeros = rng.normal(5.0, 3.0, (7, 10)), np.ones(10), np.zeros(10)
    with normlab.float64():
        y = np.asarray(layernorm.forward(x, ones, zeros, eps=0.0))
        row = np.asarray(layernorm.forward(x[3:4], ones, zeros, eps=0.0))
        vec = np.asarray(layernorm.forward(x[3], ones, zeros, eps=0.0))
    assert np.all(np.abs(y.mean(axis=-1)) < 1e-14)
    assert np.all(np.abs(y.var(axis=-1) - 1.0) < 1e-13)
    assert rel_error(row, y[3:4]) < 1e-15 and rel_error(vec, y[3]) < 1e-15


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 12), st.floats(-3, 3), st.floats(-100, 100), st.integers(0, 2**32 - 1))
def test_invariant_to_rescaling_and_recentering_one_example(h, log_c, shift, seed):
    """Table 1: LN is invariant to re-scaling (and re-centering) a single training case (eps = 0);
    the other rows of the batch do not change either."""
    rng = np.random.default_rng(seed)
    x, gain, bias = rng.normal(size=(5, h)), rng.normal(1, 0.5, h), rng.normal(size=h)
    x2 = x.copy()
    x2[2] = 10.0 ** log_c * x[2] + shift
    with normlab.float64():
        y, y2 = layernorm.forward(x, gain, bias, 0.0), layernorm.forward(x2, gain, bias, 0.0)
    assert rel_error(y, y2) < 1e-10  # a shift of 100 on a row of std 1e-3 costs ~1e-11


def test_not_invariant_to_recentering_each_unit():
    """... but, unlike BN, not to re-centering the data set unit by unit (Table 1)."""
    rng = np.random.default_rng(2)
    x, ones, zeros = rng.normal(size=(6, 5)), np.ones(5), np.zeros(5)
    with normlab.float64():
        y = layernorm.forward(x, ones, zeros, 0.0)
        y_shift = layernorm.forward(x + rng.normal(size=5), ones, zeros, 0.0)
    assert rel_error(y, y_shift) > 0.05


# ---- error messages -----------------------------------------------------------------------------
def test_errors_for_bad_shapes():
    x = np.ones((4, 3))
    with pytest.raises(ValueError, match=r"gain must have shape \(H,\) = \(3,\).*got shape \(4,\).*moveaxis"):
        layernorm.forward(x, np.ones(4), np.zeros(3))
    with pytest.raises(ValueError, match=r"bias must have shape \(H,\) = \(3,\).*got shape \(3, 1\)"):
        layernorm.forward(x, np.ones(3), np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"got a scalar.*atleast_1d"):
        layernorm.forward(np.float64(2.0), np.ones(1), np.zeros(1))
    with pytest.raises(ValueError, match=r"at least H = 2 units.*H = 1.*equals the bias"):
        layernorm.forward(np.ones((5, 1)), np.ones(1), np.zeros(1))
    with pytest.raises(ValueError, match=r"dy must have the shape of x and y, \(4, 3\); got shape \(3,\)"):
        layernorm.backward(np.ones(3), x, np.ones(3))
    with pytest.raises(ValueError, match=r"gain must have shape \(H,\) = \(3,\)"):
        layernorm.backward(x, x, np.ones(4))
