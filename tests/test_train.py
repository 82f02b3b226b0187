"""Training loops: a grid trained in one vmap equals a Python loop over it; training learns;
divergence is detected, not raised."""

import jax
import jax.numpy as jnp
import numpy as np

import normlab
from normlab import data, nets, train

D = data.digits()


def layer(norm):
    return nets.BatchNorm() if norm else nets.Dense()


def run(lr, batch_size, norm=True, steps=40):
    p = nets.init_mlp(jax.random.PRNGKey(0), [64, 32, 32, 10], layer(norm))
    return train.fit_classifier(p, D, jax.random.PRNGKey(1), layer=layer(norm), lr=lr,
                                batch_size=batch_size, steps=steps, max_batch=32, eval_every=10)[1]


def test_grid_equals_loop():
    """In float64 (where rounding cannot be amplified into a different trajectory), one vmapped
    call over the grid gives what a Python loop over the grid gives."""
    with normlab.float64():
        d64 = data.digits(dtype=jnp.float64)

        def run64(lr, batch_size):
            p = nets.init_mlp(jax.random.PRNGKey(0), [64, 32, 32, 10], layer(True), dtype=jnp.float64)
            return train.fit_classifier(p, d64, jax.random.PRNGKey(1), layer=layer(True), lr=lr,
                                        batch_size=batch_size, steps=40, max_batch=32,
                                        eval_every=10)[1]

        g = train.grid(run64, lr=[0.05, 0.5], batch_size=[4, 32])
        l = train.grid_loop(run64, lr=[0.05, 0.5], batch_size=[4, 32])
    assert g["loss"].shape == (2, 2, 40) and g["test_acc"].shape == (2, 2, 4)
    assert g["loss"].dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(g["loss"]), np.asarray(l["loss"]), rtol=1e-9)


def test_training_learns_the_digits():
    for norm in (False, True):
        h = run(0.1, 32, norm=norm, steps=200)
        assert float(h["test_acc"][-1]) > 0.85
        assert float(h["loss"][-20:].mean()) < float(h["loss"][:5].mean()) / 3


def test_masked_batch_equals_the_smaller_batch():
    """A batch padded to max_batch with a mask gives the statistics of the unpadded batch."""
    x = jax.random.normal(jax.random.PRNGKey(3), (16, 5))
    mask = (jnp.arange(16) < 6).astype(x.dtype)
    bn = nets.BatchNorm()
    p = bn.init(jnp.eye(5))
    zhat, (mean, var, m) = bn(p, x, nets.Ctx(mask=mask))
    ref, (mean6, var6, m6) = bn(p, x[:6])
    np.testing.assert_allclose(zhat[:6], ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(var, var6, rtol=1e-5)
    assert float(m) == 6.0


def test_divergence_is_found():
    assert train.diverged_at([1.0, 2.0, np.nan, 3.0]) == 2
    assert train.diverged_at([1.0, 1e9]) == 1
    assert train.diverged_at([1.0, 0.5]) is None
    h = run(50.0, 32, norm=False, steps=40)
    assert train.diverged_at(h["loss"]) is not None
