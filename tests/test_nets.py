"""The one network: every layer kind against its reference formula (float64), traced options equal
static ones, inference mode, data-dependent initialization, the loop's optimizers, and the
ten-line example of CONTRIBUTING.md."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import normlab
from normlab import batchnorm, data, layernorm, nets, train, weightnorm
from normlab.measure import rel_error

RNG = np.random.default_rng(0)
H = RNG.normal(1.0, 2.0, size=(12, 5))
W = RNG.normal(size=(5, 4))


def test_dense_and_batchnorm_layers_equal_their_formulas():
    with normlab.float64():
        z, st = nets.Dense()({"W": W, "b": np.arange(4.0)}, H)
        assert rel_error(z, H @ W + np.arange(4.0)) < 1e-15 and st is None
        bn = nets.BatchNorm()
        p = bn.init(jnp.asarray(W))
        p["gamma"], p["beta"] = jnp.full(4, 1.5), jnp.full(4, -0.5)
        z, (mean, var, m) = bn(p, H)
        ref = batchnorm.forward(H @ W, p["gamma"], p["beta"])[0]
        assert rel_error(z, ref) < 1e-14 and m == 12
        # inference mode with the batch's own statistics is the folded map of Algorithm 2
        zi, _ = bn(p, H, nets.Ctx(running=(mean, var)))
        assert rel_error(zi, batchnorm.inference(H @ W, p["gamma"], p["beta"], mean, var)) < 1e-14


@pytest.mark.parametrize("divisor", [0, 1, 2, 3, 4])
def test_traced_options_equal_static_ones(divisor):
    """A layer whose options are traced numbers (one compiled program for several kinds of
    network) computes what the static layer computes, gradients included."""
    with normlab.float64():
        p = nets.BatchNorm(bias=True).init(jnp.asarray(W))
        p["b"] = jnp.asarray(RNG.normal(size=4))
        dy = RNG.normal(size=(12, 4))

        def f(p, hold, center, k, learn):
            layer = nets.BatchNorm(hold=hold, center=center, divisor=k, learn_gamma=learn,
                                   learn_beta=learn, bias=True)
            return jnp.sum(dy * layer(p, H)[0])

        for hold, learn in ((0, 1), (1, 0)):
            static = jax.grad(f)(p, hold, 1, divisor, learn)
            traced = jax.jit(jax.grad(f))(p, jnp.asarray(hold), jnp.asarray(1.0),
                                          jnp.asarray(divisor), jnp.asarray(learn))
            scale = 1.0 + float(jnp.max(jnp.abs(static["W"])))
            for k in p:  # (b's gradient is 0 up to rounding when the mean is differentiated)
                assert float(jnp.max(jnp.abs(static[k] - traced[k]))) < 1e-13 * scale, k
            if not learn:
                assert float(jnp.max(jnp.abs(static["gamma"]))) == 0.0


def test_hold_is_the_naive_gradient():
    """hold=1 differentiates as if the batch statistics were constants."""
    with normlab.float64():
        p = nets.BatchNorm(bias=True).init(jnp.asarray(W))
        dy = RNG.normal(size=(12, 4))
        g = jax.grad(lambda p: jnp.sum(dy * nets.BatchNorm(hold=1, bias=True)(p, H)[0]))(p)
        a = H @ W
        sd = np.sqrt(a.var(0) + 1e-5)
        assert rel_error(g["b"], (dy / sd).sum(0)) < 1e-13  # the bias gets a gradient
        g = jax.grad(lambda p: jnp.sum(dy * nets.BatchNorm(bias=True)(p, H)[0]))(p)
        assert float(jnp.max(jnp.abs(g["b"]))) < 1e-12  # through the statistics it gets none


def test_weightnorm_layer_keeps_the_function_and_mean_only_centres():
    with normlab.float64():
        wn = nets.WeightNorm()
        p = wn.init(jnp.asarray(W))
        assert rel_error(wn(p, H)[0], H @ W) < 1e-14  # init: w = W exactly
        assert rel_error(weightnorm.weight(2.0 * p["v"], p["g"]), W) < 1e-15
        mo = nets.WeightNorm(mean_only=1)
        z, (mean, _, _) = mo(p, H)
        assert np.max(np.abs(np.asarray(z).mean(0))) < 1e-13
        zi, _ = mo(p, H, nets.Ctx(running=(mean, None)))
        assert rel_error(zi, z) < 1e-14


def test_layernorm_layer_normalizes_each_example_even_alone():
    with normlab.float64():
        ln = nets.LayerNorm()
        p = ln.init(jnp.asarray(W))
        z, _ = ln(p, H)
        assert rel_error(z, layernorm.forward(H @ W, p["gain"], p["bias"])) < 1e-15
        z1, _ = ln(p, H[:1])  # batch size 1
        assert rel_error(z1, z[:1]) < 1e-14


def test_data_init_gives_unit_preactivations_in_every_layer():
    with normlab.float64():
        d = data.digits(dtype=jnp.float64)
        layer = nets.WeightNorm()
        p = nets.init_mlp(0, [64, 32, 32, 10], layer, init=0.05, dtype=jnp.float64)
        p = nets.data_init(p, d["x_train"][:128], layer)
        _, aux = nets.apply_mlp(p, d["x_train"][:128], layer)
        for z in aux["pre"]:
            z = np.asarray(z)
            assert np.max(np.abs(z.mean(0))) < 1e-12
            assert np.max(np.abs(z.std(0) - 1)) < 1e-12


def test_mixed_layers_and_running_statistics():
    layers = [nets.BatchNorm(), nets.LayerNorm()]
    p = nets.init_mlp(0, [5, 4, 4, 2], layers)
    running = nets.init_running(p, layers)
    assert running[1] is None and running[0][0].shape == (4,)
    _, aux = nets.apply_mlp(p, jnp.asarray(H, jnp.float32), layers)
    new = nets.update_running(running, aux["stats"], layers, momentum=0.5)
    a = np.asarray(H @ np.asarray(p[0]["W"]))
    np.testing.assert_allclose(new[0][1], 0.5 + 0.5 * a.var(0, ddof=1), rtol=1e-5)


def test_dln_is_the_bn_layer_scanned():
    with normlab.float64():
        p = nets.init_dln(jax.random.PRNGKey(0), depth=4, d=3)
        x = jnp.asarray(RNG.normal(size=(16, 3)))
        h = x
        for i in range(3):
            h = batchnorm.forward(h @ p["W"][i], p["gamma"][i], p["beta"][i])[0]
        assert rel_error(nets.apply_dln(p, x, 1.0), h @ p["W"][3]) < 1e-13
        lin = x @ p["W"][0] @ p["W"][1] @ p["W"][2] @ p["W"][3]
        assert rel_error(nets.apply_dln(p, x, 0.0), lin) < 1e-14


def test_optimizers_take_their_textbook_steps():
    """Two steps on f(x) = 0.5 * c * x^2 (gradient c x), by hand and by the loop."""
    c, x0, lr = 3.0, 2.0, 0.1
    loss = lambda p, _x, _s: (0.5 * c * p ** 2, {})
    rec = lambda s: {"x": s.params}
    with normlab.float64():
        _, _, h = train.run(loss, jnp.asarray(x0), lr=lr, steps=3, record=rec,
                            optimizer=train.momentum(0.9))
        x1 = x0 - lr * c * x0
        u1 = c * x0
        u2 = 0.9 * u1 + c * x1
        np.testing.assert_allclose(h["x"], [x0, x1, x1 - lr * u2], rtol=1e-14)
        _, _, h = train.run(loss, jnp.asarray(x0), lr=lr, steps=2, record=rec,
                            optimizer=train.adam())
        # Adam's first step is lr * sign(g) (bias-corrected m / sqrt(v) = g/|g|)
        np.testing.assert_allclose(h["x"][1], x0 - lr * 1.0 / (1.0 + 1e-8 / abs(c * x0)), rtol=1e-12)


def test_loop_records_checkpoints_and_evaluations():
    loss = lambda p, x, _s: (jnp.sum((p - x) ** 2), {})
    inputs = jnp.arange(6.0)
    _, _, h = train.run(loss, jnp.asarray(0.0), inputs, lr=0.1, every=3,
                        checkpoint=lambda p, s: {"start": p}, evaluate=lambda p, s: {"end": p})
    assert h["loss"].shape == (6,) and h["start"].shape == (2,) and h["end"].shape == (2,)
    assert float(h["start"][0]) == 0.0 and float(h["start"][1]) == float(h["end"][0])
    with pytest.raises(ValueError, match="multiple"):
        train.run(loss, jnp.asarray(0.0), inputs, lr=0.1, every=4)


# ---- the ten-line example of CONTRIBUTING.md, verbatim ------------------------------------------
@dataclass(frozen=True)
class RMSNorm(nets.Layer):
    r"""z = gain * a / sqrt(mean_j a_j^2 + eps), a = hW, over the units of each example."""
    eps: float = 1e-5

    def init(self, W):                      # the layer's parameters, from its initial weights
        return {"W": W, "gain": jnp.ones(W.shape[1], W.dtype)}

    def __call__(self, p, h, ctx=nets.Ctx()):   # -> (input of the nonlinearity, stats or None)
        a = h @ p["W"]
        return p["gain"] * a / jnp.sqrt(jnp.mean(a * a, -1, keepdims=True) + self.eps), None


def test_the_contributing_example_trains():
    import re
    from pathlib import Path

    doc = (Path(__file__).parents[1] / "CONTRIBUTING.md").read_text()
    assert "class RMSNorm(nets.Layer):" in doc
    body = re.search(r"class RMSNorm\(nets\.Layer\):.*?, None\n", doc, re.S).group(0)
    import inspect
    assert body.strip() in inspect.getsource(RMSNorm).strip().replace("\n\n", "\n\n")
    d = data.digits()
    p = nets.init_mlp(0, [64, 32, 10], RMSNorm())
    _, h = train.fit_classifier(p, d, jax.random.PRNGKey(0), layer=RMSNorm(), lr=0.3,
                                batch_size=32, steps=200, max_batch=32, eval_every=100)
    assert float(h["test_acc"][-1]) > 0.85
