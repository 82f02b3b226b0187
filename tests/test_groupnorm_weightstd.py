"""Group Normalization against torch.nn.functional.group_norm (float64, channels last vs first),
its special cases (G = 1 is LayerNorm over (spatial, C), G = C is InstanceNorm), and Weight
Standardization's hand-written backward pass and gradient-norm identity against JAX autodiff."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import normlab
from normlab import groupnorm, layernorm, weightstd
from normlab.measure import rel_error

SHAPES = [(1, 6, 8), (3, 6, 8), (1, 4, 5, 8), (3, 4, 5, 8), (2, 8)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("groups", [1, 2, 4, 8])
def test_group_norm_matches_torch(shape, groups):
    rng = np.random.default_rng(groups + len(shape))
    x = rng.normal(2.0, 3.0, shape)
    gain, bias = rng.normal(size=shape[-1]), rng.normal(size=shape[-1])
    want = torch.nn.functional.group_norm(torch.tensor(np.moveaxis(x, -1, 1)), groups,
                                          torch.tensor(gain), torch.tensor(bias), eps=1e-5)
    with normlab.float64():
        got = groupnorm.forward(jnp.asarray(x), groups, jnp.asarray(gain), jnp.asarray(bias))
        assert got.dtype == jnp.float64
        assert rel_error(got, np.moveaxis(want.numpy(), 1, -1)) < 1e-12


def test_group_norm_special_cases_and_gradient():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 5, 6))
    one, zero = np.ones(6), np.zeros(6)
    with normlab.float64():
        x = jnp.asarray(x)
        ln = layernorm.forward(x.reshape(3, -1), jnp.ones(120), jnp.zeros(120)).reshape(x.shape)
        assert rel_error(groupnorm.forward(x, 1, one, zero), ln) < 1e-13
        inst = torch.nn.functional.instance_norm(torch.tensor(np.moveaxis(np.asarray(x), -1, 1)), eps=1e-5)
        assert rel_error(groupnorm.forward(x, 6, one, zero), np.moveaxis(inst.numpy(), 1, -1)) < 1e-12
        # gradients agree with torch's autograd too
        dy = rng.normal(size=x.shape)
        g = jax.grad(lambda a: jnp.sum(groupnorm.forward(a, 2, one, zero) * dy))(x)
        t = torch.tensor(np.moveaxis(np.asarray(x), -1, 1), requires_grad=True)
        (torch.nn.functional.group_norm(t, 2, eps=1e-5) * torch.tensor(np.moveaxis(dy, -1, 1))).sum().backward()
        assert rel_error(g, np.moveaxis(t.grad.numpy(), 1, -1)) < 1e-12
        # a batch of one and a constant group: the output is the bias
        const = jnp.ones((1, 2, 6)) * 3.0
        assert rel_error(groupnorm.forward(const, 3, one, np.arange(6.0)), np.broadcast_to(np.arange(6.0), (1, 2, 6))) < 1e-12


def test_group_norm_says_what_is_wrong():
    x = jnp.zeros((2, 4, 4, 6))
    with pytest.raises(ValueError, match="divides the number of channels C = 6"):
        groupnorm.forward(x, 4, jnp.ones(6), jnp.zeros(6))
    with pytest.raises(ValueError, match="gain must have shape \\(C,\\) = \\(6,\\)"):
        groupnorm.forward(x, 2, jnp.ones(4), jnp.zeros(6))
    with pytest.raises(ValueError, match="channels-first"):
        groupnorm.forward(jnp.zeros((2, 6, 4, 4)), 2, jnp.ones(6), jnp.zeros(6))


@pytest.mark.parametrize("shape", [(9, 4), (3, 3, 2, 5), (64, 1)])
@pytest.mark.parametrize("eps", [0.0, 1e-5])
def test_weight_standardization_backward_is_autodiff(shape, eps):
    rng = np.random.default_rng(len(shape))
    with normlab.float64():
        W = jnp.asarray(rng.normal(0, 0.3, shape))
        g = jnp.asarray(rng.normal(size=shape))
        w_hat = weightstd.standardize(W, eps)
        axes = tuple(range(len(shape) - 1))
        np.testing.assert_allclose(jnp.mean(w_hat, axis=axes), 0, atol=1e-14)
        if eps == 0:
            np.testing.assert_allclose(jnp.mean(w_hat ** 2, axis=axes), 1, atol=1e-13)
        want = jax.grad(lambda w: jnp.sum(weightstd.standardize(w, eps) * g))(W)
        assert rel_error(weightstd.backward(g, W, eps), want) < 1e-12


def test_gradient_norm_and_curvature_identities():
    """At eps = 0, per output unit: ||grad_W||^2 = (||g||^2 - <1,g>^2/I - <W_hat,g>^2/I)/sigma^2,
    and along the gradient d = grad_W: d^T H_W d = (d^T H_hat d - <g, W_hat>/I ||d||^2)/sigma^2
    for a loss of W_hat with gradient g and Hessian H_hat (a random quadratic here)."""
    rng = np.random.default_rng(3)
    I = 12
    with normlab.float64():
        W = jnp.asarray(rng.normal(0, 0.2, (I, 1)))
        A = rng.normal(size=(I, I)); A = jnp.asarray(A + A.T)
        b = jnp.asarray(rng.normal(size=I))
        loss_hat = lambda wh: 0.5 * wh @ A @ wh + b @ wh
        loss = lambda w: loss_hat(weightstd.standardize(w.reshape(I, 1))[:, 0])
        w = W[:, 0]
        w_hat = weightstd.standardize(W)[:, 0]
        sigma = jnp.std(w)
        g = jax.grad(loss_hat)(w_hat)
        d = jax.grad(loss)(w)
        lhs = jnp.sum(d ** 2)
        rhs = (g @ g - jnp.sum(g) ** 2 / I - (w_hat @ g) ** 2 / I) / sigma ** 2
        assert abs(lhs - rhs) / abs(rhs) < 1e-12
        H = jax.hessian(loss)(w)
        curv = d @ H @ d
        pred = (d @ A @ d - (g @ w_hat) / I * (d @ d)) / sigma ** 2
        assert abs(curv - pred) / abs(pred) < 1e-10
