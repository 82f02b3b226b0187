"""The one network family as a small conv net (Chapter 6): convolution as the layers' linear map,
BatchNorm per channel over (N, H, W), LayerNorm and GroupNorm per example, Weight Standardization
as a reparameterization; trained by the one loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import normlab
from normlab import batchnorm, data, groupnorm, nets, train, weightstd
from normlab.measure import rel_error


def test_conv_layers_normalize_as_defined():
    rng = np.random.default_rng(0)
    with normlab.float64():
        h = jnp.asarray(rng.normal(size=(4, 6, 6, 3)))
        W = jnp.asarray(rng.normal(size=(3, 3, 3, 8)))
        a = nets.linear(h, W)
        assert a.shape == (4, 6, 6, 8)
        # the convolution at an interior pixel is the dot product with the 3x3 patch
        assert rel_error(a[1, 2, 3], np.einsum("ijc,ijco->o", h[1, 1:4, 2:5], W)) < 1e-13
        bn = nets.BatchNorm()
        z, (mean, var, m) = bn(bn.init(W), h)
        assert m == 4 * 6 * 6
        assert rel_error(z, batchnorm.forward(a, jnp.ones(8), jnp.zeros(8))[0]) < 1e-12
        # a padded batch: the masked rows do not count
        mask = jnp.array([1.0, 1.0, 1.0, 0.0])
        zm, _ = bn(bn.init(W), h, nets.Ctx(mask=mask))
        assert rel_error(zm[:3], bn(bn.init(W), h[:3])[0]) < 1e-12
        gn = nets.GroupNorm(groups=4)
        assert rel_error(gn(gn.init(W), h)[0], groupnorm.forward(a, 4, jnp.ones(8), jnp.zeros(8))) < 1e-13
        ln = nets.LayerNorm()
        flat = a.reshape(4, -1)
        want = ((flat - flat.mean(1, keepdims=True)) / jnp.sqrt(flat.var(1, keepdims=True) + 1e-5)).reshape(a.shape)
        assert rel_error(ln(ln.init(W), h)[0], want) < 1e-12
        ws = nets.WS(nets.GroupNorm(groups=4))
        assert rel_error(ws(ws.init(W), h)[0],
                         groupnorm.forward(nets.linear(h, weightstd.standardize(W)), 4, jnp.ones(8), jnp.zeros(8))) < 1e-12
        # WS makes the layer blind to the weight's scale (and to a shift of each unit's fan-in)
        p = ws.init(W)
        assert rel_error(ws(dict(p, W=3.0 * W + 0.5), h)[0], ws(p, h)[0]) < 1e-12


def test_gn_ws_gradient_of_a_batch_is_the_mean_of_single_example_gradients():
    """GN+WS couples nothing across examples: the gradient of a batch's mean loss is the mean of
    the per-example gradients, to float precision; BN's is not."""
    d = data.digits(images=True)
    x, y = d["x_train"][:16], d["y_train"][:16]
    with normlab.float64():
        x = jnp.asarray(x, jnp.float64)
        for layer, exact in ((nets.WS(nets.GroupNorm(groups=4)), True), (nets.BatchNorm(), False)):
            p = nets.init_convnet(0, (1, 8, 8), layer=layer, dtype=jnp.float64)
            loss = lambda p, xb, yb: train.cross_entropy(nets.apply_mlp(p, xb, layer)[0], yb)
            # compiled (one XLA program each, the same arithmetic): op by op, float64 costs 3x
            batch = jax.jit(jax.grad(loss))(p, x, y)
            singles = jax.jit(jax.vmap(lambda xi, yi: jax.grad(loss)(p, xi[None], yi[None])))(x, y)
            mean = jax.tree_util.tree_map(lambda a: a.mean(0), singles)
            err = max(rel_error(a, b) for a, b in zip(jax.tree_util.tree_leaves(batch),
                                                     jax.tree_util.tree_leaves(mean)))
            assert (err < 1e-12) if exact else (err > 1e-3), (layer, err)


@pytest.mark.parametrize("layer", [nets.Dense(), nets.BatchNorm(), nets.LayerNorm(),
                                   nets.GroupNorm(groups=4), nets.WS(nets.GroupNorm(groups=4)),
                                   nets.WeightNorm()], ids=lambda l: type(l).__name__)
def test_the_one_loop_trains_a_conv_net(layer):
    d = data.digits(images=True)
    p = nets.init_convnet(0, (1, 8, 8), layer=layer)
    _, h = train.fit_classifier(p, d, jax.random.PRNGKey(0), layer=layer, lr=0.3, steps=60,
                                batch_size=16, max_batch=16, eval_every=30)
    assert h["loss"].shape == (60,) and h["test_acc"].shape == (2,)
    s = train.status(h["loss"], dead=h["dead"], test_acc=h["test_acc"], chance=0.1)
    assert s.ok, s.why
    assert float(np.mean(h["loss"][-10:])) < float(np.mean(h["loss"][:10]))
