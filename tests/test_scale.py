"""Chapter 7's core: angles with atan2, the equilibrium angle, and the one loop's weight decay
(inside the momentum buffer; AdamW's decoupled decay) and per-step learning rates, each against
an update written out by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import normlab
from normlab import scale, train


def test_angle_per_column_and_at_tiny_angles():
    rng = np.random.default_rng(0)
    with normlab.float64():
        a = rng.normal(size=(5, 3))
        b = a + 0.3 * rng.normal(size=(5, 3))
        cos = np.sum(a * b, 0) / np.linalg.norm(a, axis=0) / np.linalg.norm(b, axis=0)
        np.testing.assert_allclose(scale.angle(a, b), np.arccos(cos), rtol=1e-12)
        # a rotation by exactly 1e-9 rad in a plane: arccos cannot see it, atan2 can
        w = np.array([3.0, 0.0, 0.0])
        t = 1e-9
        w2 = 2.0 * np.array([3 * np.cos(t), 3 * np.sin(t), 0.0])
        assert abs(float(scale.angle(w, w2)) - t) < 1e-20
        assert float(np.arccos(np.clip(w @ w2 / np.linalg.norm(w) / np.linalg.norm(w2), -1, 1))) == 0.0
        np.testing.assert_allclose(scale.angle(w, -w), np.pi)
    with pytest.raises(ValueError, match="same shape"):
        scale.angle(np.ones(3), np.ones(4))


def test_equilibrium_angle_values():
    assert float(scale.equilibrium_angle(0.1, 5e-4)) == pytest.approx(0.01, rel=1e-6)
    assert float(scale.equilibrium_angle(0.1, 5e-4, momentum=0.9)) == pytest.approx(np.sqrt(1e-4 / 1.9), rel=1e-6)
    assert float(scale.equilibrium_angle(1e-3, 0.1, optimizer="adamw")) == pytest.approx(0.0032444, rel=1e-4)
    with pytest.raises(ValueError):
        scale.equilibrium_angle(0.1, 1e-3, optimizer="lion")


def _quadratic():
    A = jnp.asarray(np.random.default_rng(1).normal(size=(4, 4)))
    loss = lambda p, _x, _s: (0.5 * jnp.sum((A @ p["w"]) ** 2) + jnp.sum(p["w"]), {})
    grad = lambda w: A.T @ (A @ w) + 1.0
    return loss, grad


def test_sgd_momentum_and_adamw_with_weight_decay_by_hand():
    loss, grad = _quadratic()
    with normlab.float64():
        w0 = jnp.asarray(np.linspace(-1, 1, 4))
        lr, wd, beta, T = 0.01, 0.1, 0.9, 7
        # momentum, decay inside the buffer (PyTorch)
        w, u = w0, jnp.zeros(4)
        for _ in range(T):
            u = beta * u + grad(w) + wd * w
            w = w - lr * u
        got = train.run(loss, {"w": w0}, lr=lr, steps=T, optimizer=train.momentum(beta, weight_decay=wd))[0]["w"]
        np.testing.assert_allclose(got, w, rtol=1e-13)
        # plain SGD with decay
        w = w0
        for _ in range(T):
            w = w - lr * (grad(w) + wd * w)
        got = train.run(loss, {"w": w0}, lr=lr, steps=T, optimizer=train.sgd(weight_decay=wd))[0]["w"]
        np.testing.assert_allclose(got, w, rtol=1e-13)
        # AdamW: decoupled decay
        b1, b2, eps = 0.9, 0.999, 1e-8
        w, m, v = w0, jnp.zeros(4), jnp.zeros(4)
        for t in range(1, T + 1):
            g = grad(w)
            m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
            w = w - lr * wd * w - lr * (m / (1 - b1 ** t)) / (jnp.sqrt(v / (1 - b2 ** t)) + eps)
        got = train.run(loss, {"w": w0}, lr=lr, steps=T, optimizer=train.adamw(weight_decay=wd))[0]["w"]
        np.testing.assert_allclose(got, w, rtol=1e-12)


def test_per_step_learning_rates():
    loss, grad = _quadratic()
    with normlab.float64():
        w0 = jnp.asarray(np.linspace(-1, 1, 4))
        T = 6
        rates = 0.01 * 1.5 ** np.arange(T)
        w = w0
        for t in range(T):
            w = w - rates[t] * grad(w)
        by_array = train.run(loss, {"w": w0}, lr=jnp.asarray(rates), steps=T)[0]["w"]
        by_fn = train.run(loss, {"w": w0}, lr=lambda t: 0.01 * 1.5 ** t, steps=T)[0]["w"]
        np.testing.assert_allclose(by_array, w, rtol=1e-13)
        np.testing.assert_allclose(by_fn, w, rtol=1e-12)
        with pytest.raises(ValueError, match="needs 6 values"):
            train.run(loss, {"w": w0}, lr=jnp.ones(5), steps=T)
