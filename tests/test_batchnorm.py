"""normlab.batchnorm: the hand-derived backward pass against JAX autodiff (float64, hypothesis over
shapes, scales and batch sizes), and the running statistics and inference against PyTorch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import normlab
from normlab import batchnorm
from normlab.checks import rel_error


@jax.jit
def _hand_and_vjp(x, gamma, beta, dy):
    y, cache = batchnorm.forward(x, gamma, beta)
    _, vjp = jax.vjp(lambda a, g, b: batchnorm.forward(a, g, b)[0], x, gamma, beta)
    return y, batchnorm.backward(dy, cache), vjp(dy)


def _reference_forward(x, gamma, beta, eps=1e-5):
    """Algorithm 1 in NumPy, float64."""
    axes = tuple(range(x.ndim - 1))
    mu = x.mean(axis=axes)
    var = ((x - mu) ** 2).mean(axis=axes)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


@st.composite
def bn_inputs(draw):
    """(x, gamma, beta, dy) with shape (N, C) or (N, H, W, C), any scale and offset, m >= 2."""
    conv = draw(st.booleans())
    c = draw(st.integers(1, 5))
    if conv:
        h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        n = draw(st.integers(1 if h * w >= 2 else 2, 6))
        shape = (n, h, w, c)
    else:
        shape = (draw(st.integers(2, 40)), c)
    scale = 10.0 ** draw(st.floats(-2, 3))
    offset = draw(st.floats(-100, 100))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = offset + scale * rng.normal(size=shape)
    return (x, rng.normal(1.0, 0.5, c), rng.normal(0.0, 1.0, c), rng.normal(size=shape))


@settings(max_examples=30, deadline=None)
@given(bn_inputs())
def test_forward_and_backward_match_autodiff_float64(args):
    x, gamma, beta, dy = args
    with normlab.float64():
        y, hand, auto = _hand_and_vjp(x, gamma, beta, dy)
        assert y.dtype == jnp.float64
    assert rel_error(y, _reference_forward(x, gamma, beta)) < 1e-12
    for h, a, name in zip(hand, auto, ("dx", "dgamma", "dbeta")):
        assert h.shape == a.shape
        assert rel_error(h, a) < 1e-9 or name == "dx", name
    # dx is a difference of terms of size |gamma dy| / sigma, and can be far smaller than they are
    # (with m = 2 BN's output hardly depends on x): measure its error on the terms' scale
    axes = tuple(range(x.ndim - 1))
    terms = np.max(np.abs(gamma * dy) / np.sqrt(x.var(axis=axes) + 1e-5))
    assert np.max(np.abs(np.asarray(hand[0]) - np.asarray(auto[0]))) < 1e-12 * terms


@settings(max_examples=20, deadline=None)
@given(bn_inputs())
def test_normalized_output_has_zero_mean_and_unit_variance(args):
    x, gamma, beta, _ = args
    axes = tuple(range(x.ndim - 1))
    with normlab.float64():
        _, cache = batchnorm.forward(x, gamma, beta, eps=0.0)
        xhat = np.asarray(cache.xhat)
    var = x.var(axis=axes)
    keep = var > 1e-20  # a channel can be constant only by accident; skip it then
    assert np.all(np.abs(xhat.mean(axis=axes))[keep] < 1e-9)
    assert np.all(np.abs(xhat.var(axis=axes) - 1)[keep] < 1e-9)


def test_gradient_is_orthogonal_to_ones_and_xhat_when_eps_is_zero():
    rng = np.random.default_rng(0)
    x, dy = rng.normal(3, 2, (12, 4)), rng.normal(size=(12, 4))
    with normlab.float64():
        _, cache = batchnorm.forward(x, rng.normal(size=4), rng.normal(size=4), eps=0.0)
        dx = np.asarray(batchnorm.backward(dy, cache)[0])
        xhat = np.asarray(cache.xhat)
    assert np.max(np.abs(dx.sum(0))) < 1e-12 * np.abs(dx).max()
    assert np.max(np.abs((xhat * dx).sum(0))) < 1e-12 * np.abs(dx).max() * 12
    # ...and it is not zero: a random upstream gradient does reach x
    assert np.abs(dx).max() > 1e-3


def test_gamma_sigma_beta_mu_recovers_the_identity():
    rng = np.random.default_rng(1)
    x = rng.normal(5, 3, (20, 3))
    eps = 1e-5
    with normlab.float64():
        y, _ = batchnorm.forward(x, np.sqrt(x.var(0) + eps), x.mean(0), eps)
    assert rel_error(y, x) < 1e-13


def test_conv_statistics_are_per_channel_over_n_h_w():
    rng = np.random.default_rng(2)
    x = rng.normal(rng.normal(size=3), 2.0, (4, 5, 6, 3))
    with normlab.float64():
        mean, var, var_unb = batchnorm.batch_stats(x)
        y4 = batchnorm.forward(x, np.ones(3), np.zeros(3))[0]
        y2 = batchnorm.forward(x.reshape(-1, 3), np.ones(3), np.zeros(3))[0]
    assert mean.shape == (3,)
    assert rel_error(mean, x.mean(axis=(0, 1, 2))) < 1e-14
    assert rel_error(var, x.var(axis=(0, 1, 2))) < 1e-14
    assert rel_error(var_unb, x.var(axis=(0, 1, 2), ddof=1)) < 1e-14
    assert rel_error(np.reshape(y4, (-1, 3)), y2) < 1e-14


def test_batch_of_one_raises_a_clear_value_error():
    with pytest.raises(ValueError, match="at least 2 values per channel"):
        batchnorm.forward(jnp.ones((1, 4)), jnp.ones(4), jnp.zeros(4))
    with pytest.raises(ValueError, match="m = 1"):
        batchnorm.update_running((jnp.zeros(3), jnp.ones(3)), jnp.ones((1, 1, 1, 3)))
    with pytest.raises(ValueError, match=r"\(N, C\) or \(N, H, W, C\)"):
        batchnorm.forward(jnp.ones(4), jnp.ones(4), jnp.zeros(4))
    # one image with several positions is a valid batch for a convolution (m = H * W)
    y, _ = batchnorm.forward(jnp.arange(8.0).reshape(1, 2, 2, 2), jnp.ones(2), jnp.zeros(2))
    assert np.all(np.isfinite(np.asarray(y)))


def test_inference_is_the_folded_affine_map():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(7, 4))
    gamma, beta = rng.normal(size=4), rng.normal(size=4)
    mean, var = rng.normal(size=4), rng.uniform(0.5, 2, 4)
    with normlab.float64():
        y = batchnorm.inference(x, gamma, beta, mean, var, 1e-3)
        scale, shift = batchnorm.fold(gamma, beta, mean, var, 1e-3)
    assert rel_error(y, gamma * (x - mean) / np.sqrt(var + 1e-3) + beta) < 1e-14
    assert rel_error(y, x * np.asarray(scale) + np.asarray(shift)) < 1e-14


def test_masked_stats_equal_the_stats_of_the_kept_rows():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(10, 3))
    mask = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 0], float)
    with normlab.float64():
        mean, var, m = batchnorm.masked_stats(x, mask)
    kept = x[mask == 1]
    assert float(m) == 6
    assert rel_error(mean, kept.mean(0)) < 1e-14
    assert rel_error(var, kept.var(0)) < 1e-14


# ---- PyTorch's conventions ------------------------------------------------------------------------
def _torch_bn(conv: bool, c: int, gamma, beta, momentum=0.1, eps=1e-5):
    import torch

    layer = (torch.nn.BatchNorm2d if conv else torch.nn.BatchNorm1d)(
        c, eps=eps, momentum=momentum, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(gamma))
        layer.bias.copy_(torch.from_numpy(beta))
    return layer


def _to_torch(x, conv):
    import torch

    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2) if conv else x))


def _from_torch(t, conv):
    a = t.detach().numpy()
    return a.transpose(0, 2, 3, 1) if conv else a


@pytest.mark.parametrize("conv,shape,momentum", [
    (False, (16, 5), 0.1), (False, (2, 3), 0.1), (False, (7, 4), 0.3),
    (True, (4, 3, 5, 2), 0.1), (True, (1, 2, 3, 3), 0.1), (True, (3, 4, 4, 6), 0.05)])
def test_training_running_stats_and_eval_match_pytorch(conv, shape, momentum):
    import torch

    rng = np.random.default_rng(5)
    c = shape[-1]
    gamma, beta = rng.normal(1, 0.5, c), rng.normal(0, 1, c)
    layer = _torch_bn(conv, c, gamma, beta, momentum)
    layer.train()
    running = (np.zeros(c), np.ones(c))  # PyTorch's initial running statistics
    with normlab.float64():
        for step in range(5):
            x = rng.normal(rng.normal(0, 3, c), rng.uniform(0.5, 4, c), shape)
            y_torch = _from_torch(layer(_to_torch(x, conv)), conv)
            y_ours = np.asarray(batchnorm.forward(x, gamma, beta, 1e-5)[0])
            assert rel_error(y_ours, y_torch) < 1e-12, f"training output, step {step}"
            running = batchnorm.update_running(running, x, momentum)
            assert rel_error(running[0], layer.running_mean.numpy()) < 1e-12
            assert rel_error(running[1], layer.running_var.numpy()) < 1e-12
        layer.eval()
        x = rng.normal(size=shape)
        with torch.no_grad():
            y_torch = _from_torch(layer(_to_torch(x, conv)), conv)
        y_ours = np.asarray(batchnorm.inference(x, gamma, beta, *running, 1e-5))
    assert rel_error(y_ours, y_torch) < 1e-12


def test_running_variance_is_unbiased_like_pytorch_not_biased():
    """The distinction the test above could miss on large batches: with m = 2 the biased and the
    unbiased variance differ by a factor 2."""
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 3))
    layer = _torch_bn(False, 3, np.ones(3), np.zeros(3), momentum=1.0)
    layer.train()
    layer(_to_torch(x, False))
    with normlab.float64():
        _, var = batchnorm.update_running((np.zeros(3), np.ones(3)), x, momentum=1.0)
    assert rel_error(var, x.var(0, ddof=1)) < 1e-14
    assert rel_error(var, layer.running_var.numpy()) < 1e-14
    assert rel_error(var, x.var(0)) > 0.3


@pytest.mark.parametrize("conv,shape", [(False, (9, 4)), (True, (3, 4, 2, 5))])
def test_backward_matches_pytorch_autograd(conv, shape):
    import torch

    rng = np.random.default_rng(7)
    c = shape[-1]
    x, dy = rng.normal(2, 3, shape), rng.normal(size=shape)
    gamma, beta = rng.normal(1, 0.5, c), rng.normal(size=c)
    layer = _torch_bn(conv, c, gamma, beta)
    layer.train()
    xt = _to_torch(x, conv).requires_grad_(True)
    layer(xt).backward(_to_torch(dy, conv))
    with normlab.float64():
        _, cache = batchnorm.forward(x, gamma, beta)
        dx, dgamma, dbeta = batchnorm.backward(dy, cache)
    assert rel_error(dx, _from_torch(xt.grad, conv)) < 1e-12
    assert rel_error(dgamma, layer.weight.grad.numpy()) < 1e-12
    assert rel_error(dbeta, layer.bias.grad.numpy()) < 1e-12
