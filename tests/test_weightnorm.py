"""normlab.weightnorm: eq. 2 against PyTorch's weight_norm parametrization, the hand-derived
gradients (eqs. 3-4, 8) against JAX autodiff and torch autograd, the invariances and orthogonality
they imply, the data-dependent initialization (eqs. 5-6), and the error messages. All in float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import normlab
from normlab import weightnorm
from normlab.checks import rel_error


@st.composite
def wn_inputs(draw):
    """(v, g, grad_w) with v (fan_in, units) of any scale, g of either sign, a random upstream grad."""
    fan_in, units = draw(st.integers(1, 7)), draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = 10.0 ** draw(st.floats(-3, 3))
    v = scale * rng.normal(size=(fan_in, units))
    g = rng.normal(1.0, 1.0, units)
    return v, g, rng.normal(size=(fan_in, units))


def _scaled_errors(hand, other, v, g, grad_w):
    """max|a - b| of (grad_v, grad_g) on the scale of the terms they are made of (both can be far
    smaller than those terms, e.g. grad_v = 0 for fan_in = 1, so rel_error would measure rounding
    against zero): (|g| / ||v||) ||grad_w|| for grad_v, ||grad_w|| for grad_g."""
    gw = np.linalg.norm(grad_w, axis=0)
    scales = (np.abs(g) / np.linalg.norm(v, axis=0) * gw, gw)
    return [float(np.max(np.abs(np.asarray(a) - np.asarray(b)) / s))
            for a, b, s in zip(hand, other, scales)]


def _torch_wn(v, g):
    """A bias-free torch Linear (weight (units, fan_in)) under weight_norm(dim=0), set to (g, v)."""
    fan_in, units = v.shape
    layer = torch.nn.Linear(fan_in, units, bias=False, dtype=torch.float64)
    torch.nn.utils.parametrizations.weight_norm(layer, dim=0)
    p = layer.parametrizations.weight
    with torch.no_grad():
        p.original0.copy_(torch.tensor(g)[:, None])  # g, shape (units, 1)
        p.original1.copy_(torch.tensor(v.T))  # v, shape (units, fan_in)
    return layer, p


@settings(max_examples=25, deadline=None)
@given(wn_inputs())
def test_weight_and_backward_match_torch_weight_norm(args):
    v, g, grad_w = args
    with normlab.float64():
        w = np.asarray(weightnorm.weight(v, g))
        grad_v, grad_g = weightnorm.backward(grad_w, v, g)
    layer, p = _torch_wn(v, g)
    w_torch = layer.weight  # recomputed from (original0, original1) on access
    assert rel_error(w, w_torch.detach().numpy().T) < 1e-14
    w_torch.backward(torch.tensor(grad_w.T))
    torch_grads = (p.original1.grad.numpy().T, p.original0.grad.numpy().ravel())
    assert max(_scaled_errors((grad_v, grad_g), torch_grads, v, g, grad_w)) < 1e-13
    # ||w[:, j]|| = |g_j| whatever v's scale (eq. 2)
    assert rel_error(np.linalg.norm(w, axis=0), np.abs(g)) < 1e-14


@settings(max_examples=15, deadline=None)
@given(wn_inputs())
def test_backward_matches_jax_autodiff(args):
    v, g, grad_w = args
    with normlab.float64():
        hand = weightnorm.backward(grad_w, v, g)
        _, vjp = jax.vjp(weightnorm.weight, jnp.asarray(v), jnp.asarray(g))
        auto = vjp(jnp.asarray(grad_w))
        # the same through jax.grad of a loss whose gradient in w is grad_w
        by_grad = jax.grad(lambda v_, g_: jnp.sum(grad_w * weightnorm.weight(v_, g_)),
                           argnums=(0, 1))(v, g)
    for h, a, b in zip(hand, auto, by_grad):
        assert h.shape == a.shape == b.shape
    assert max(_scaled_errors(hand, auto, v, g, grad_w)) < 1e-13
    assert max(_scaled_errors(hand, by_grad, v, g, grad_w)) < 1e-13


def test_backward_is_not_the_unnormalized_gradient():
    """The test above can fail: the plain grad_w (no projection, no g/||v|| factor) is far off."""
    rng = np.random.default_rng(0)
    v, g, grad_w = rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=(5, 3))
    with normlab.float64():
        grad_v, _ = weightnorm.backward(grad_w, v, g)
    assert rel_error(grad_v, grad_w) > 0.1


@settings(max_examples=25, deadline=None)
@given(wn_inputs(), st.floats(-3, 3))
def test_weight_is_invariant_to_scaling_v(args, log_c):
    v, g, _ = args
    c = 10.0 ** log_c
    with normlab.float64():
        w, wc = weightnorm.weight(v, g), weightnorm.weight(c * v, g)
    assert rel_error(w, wc) < 1e-14


@settings(max_examples=25, deadline=None)
@given(wn_inputs())
def test_grad_v_is_orthogonal_to_v(args):
    """The projection M_w of eq. 4: v . grad_v = 0 per column, to rounding."""
    v, g, grad_w = args
    with normlab.float64():
        grad_v, _ = weightnorm.backward(grad_w, v, g)
    grad_v = np.asarray(grad_v)
    dots = np.abs(np.sum(v * grad_v, axis=0))
    # relative to |v| times the size of the terms grad_v is made of, (|g| / |v|) |grad_w|
    scale = np.abs(g) / np.linalg.norm(v, axis=0) * np.linalg.norm(grad_w, axis=0)
    assert np.all(dots <= 1e-15 * v.shape[0] * np.linalg.norm(v, axis=0) * scale)
    # and grad_v is not trivially zero (except for fan_in = 1, where only the sign of v is left):
    # it is (g / ||v||) times grad_w's component orthogonal to v
    u = v / np.linalg.norm(v, axis=0)
    want = g / np.linalg.norm(v, axis=0) * (grad_w - u * np.sum(u * grad_w, axis=0))
    assert np.max(np.abs(grad_v - want) / scale) < 1e-13


@st.composite
def init_inputs(draw):
    """(v, x) with a batch of n >= 2 examples of any scale and offset."""
    n, fan_in, units = draw(st.integers(2, 50)), draw(st.integers(1, 8)), draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = draw(st.floats(-100, 100)) + 10.0 ** draw(st.floats(-2, 3)) * rng.normal(size=(n, fan_in))
    v = 10.0 ** draw(st.floats(-3, 3)) * rng.normal(size=(fan_in, units))
    return v, x


@settings(max_examples=30, deadline=None)
@given(init_inputs())
def test_data_init_gives_zero_mean_unit_std(args):
    v, x = args
    with normlab.float64():
        g, b = weightnorm.data_init(v, x)
        y = np.asarray(x @ weightnorm.weight(v, g) + b)
    assert g.shape == b.shape == (v.shape[1],)
    assert np.all(np.abs(y.mean(axis=0)) < 1e-9)
    assert np.all(np.abs(y.std(axis=0) - 1.0) < 1e-9)  # biased (1/n) std, as in eqs. 5-6


def test_data_init_matches_eqs_5_6_written_out():
    rng = np.random.default_rng(1)
    v, x = rng.normal(size=(4, 3)), rng.normal(2.0, 3.0, size=(9, 4))
    t = x @ (v / np.linalg.norm(v, axis=0))
    with normlab.float64():
        g, b = weightnorm.data_init(v, x)
    assert rel_error(g, 1 / t.std(axis=0)) < 1e-14
    assert rel_error(b, -t.mean(axis=0) / t.std(axis=0)) < 1e-14


@settings(max_examples=15, deadline=None)
@given(st.integers(2, 40), st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_mean_only_bn_and_its_backward(n, units, seed):
    rng = np.random.default_rng(seed)
    t, b, dy = rng.normal(3.0, 2.0, (n, units)), rng.normal(size=units), rng.normal(size=(n, units))
    with normlab.float64():
        out = np.asarray(weightnorm.mean_only_bn(t, b))
        hand = weightnorm.mean_only_bn_backward(dy)
        _, vjp = jax.vjp(weightnorm.mean_only_bn, jnp.asarray(t), jnp.asarray(b))
        auto_t, auto_b = vjp(jnp.asarray(dy))
    assert rel_error(out, t - t.mean(axis=0) + b) < 1e-14
    assert np.all(np.abs(out.mean(axis=0) - b) < 1e-12)  # the batch mean is b, eq. 7
    assert rel_error(hand, auto_t) < 1e-13
    assert rel_error(auto_b, dy.sum(axis=0)) < 1e-13
    # not the identity: the gradient reaching t sums to zero over the batch (the mean is removed),
    # while dy itself does not (the check fails for hand = dy unless dy's mean happens to be ~0)
    assert np.all(np.abs(np.asarray(hand).sum(axis=0)) <= 1e-13 * np.abs(dy).sum(axis=0))
    assert rel_error(hand, dy - dy.mean(axis=0)) < 1e-14


def test_weight_and_backward_trace_under_jit():
    """The zero-column check must not break jit (nets use WN inside jitted training)."""
    rng = np.random.default_rng(2)
    v, g, gw = rng.normal(size=(3, 2)), rng.normal(size=2), rng.normal(size=(3, 2))
    with normlab.float64():
        assert rel_error(jax.jit(weightnorm.weight)(v, g), weightnorm.weight(v, g)) < 1e-15
        for a, b in zip(jax.jit(weightnorm.backward)(gw, v, g), weightnorm.backward(gw, v, g)):
            assert rel_error(a, b) < 1e-15


# ---- error messages -----------------------------------------------------------------------------
def test_errors_for_bad_shapes():
    v, g = np.ones((3, 2)), np.ones(2)
    with pytest.raises(ValueError, match=r"v must have shape \(fan_in, units\).*v\[:, None\]"):
        weightnorm.weight(np.ones(3), np.ones(1))
    with pytest.raises(ValueError, match=r"g must have shape \(units,\) = \(2,\).*got shape \(3,\)"):
        weightnorm.weight(v, np.ones(3))
    with pytest.raises(ValueError, match=r"g.ravel\(\)"):
        weightnorm.weight(v, np.ones((2, 1)))
    with pytest.raises(ValueError, match=r"grad_w must have the shape .*\(3, 2\).*got shape \(2, 3\)"):
        weightnorm.backward(np.ones((2, 3)), v, g)
    with pytest.raises(ValueError, match=r"x must have shape \(n, fan_in\) = \(n, 3\)"):
        weightnorm.data_init(v, np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"b must have shape \(units,\) = \(2,\)"):
        weightnorm.mean_only_bn(np.ones((4, 2)), np.ones(3))
    with pytest.raises(ValueError, match=r"t must have shape \(n, units\).*t\[None, :\]"):
        weightnorm.mean_only_bn(np.ones(4), np.ones(4))


def test_error_for_zero_column():
    v = np.array([[1.0, 0.0, 2.0], [3.0, 0.0, -1.0]])
    with pytest.raises(ValueError, match=r"column\(s\) \[1\] of v are zero.*direction .*undefined"):
        weightnorm.weight(v, np.ones(3))
    with pytest.raises(ValueError, match=r"column\(s\) \[1\] of v are zero"):
        weightnorm.backward(np.ones_like(v), v, np.ones(3))
    with pytest.raises(ValueError, match=r"column\(s\) \[1\] of v are zero"):
        weightnorm.data_init(v, np.random.default_rng(0).normal(size=(4, 2)))


def test_error_for_batch_of_one_and_constant_batch():
    v = np.random.default_rng(0).normal(size=(3, 2))
    with pytest.raises(ValueError, match=r"n >= 2.*sigma\[t\] = 0"):
        weightnorm.data_init(v, np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"sigma\[t\] = 0 for unit\(s\) \[0, 1\]"):
        weightnorm.data_init(v, np.ones((4, 3)))  # every example the same
    with pytest.raises(ValueError, match=r"at least 2 values per unit"):
        weightnorm.mean_only_bn(np.ones((1, 3)), np.zeros(3))
