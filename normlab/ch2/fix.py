r"""Chapter 2, section 2.4: the fix. Differentiate through the statistics; gamma and beta.

- :func:`bias_grad_through_bn`: :math:`\partial\ell/\partial b = 0` exactly through BN;
- :func:`identity_error`: :math:`\gamma = \sqrt{\sigma_B^2+\epsilon}`, :math:`\beta = \mu_B` gives
  back the input (for the batch whose statistics they are);
- :func:`radial_components`: the naive gradient's component along the weights, which the true
  gradient does not have.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from normlab import batchnorm
from normlab.measure import rel_error

def bias_grad_through_bn(seed: int = 0, n: int = 16, d_in: int = 5, c: int = 4, eps: float = 1e-5):
    r""":math:`\partial\ell/\partial b` for :math:`y=\mathrm{BN}_{\gamma,\beta}(uW+b)` with a random
    upstream gradient, next to :math:`\partial\ell/\partial W` for scale: ``(grad_b, grad_W)``.

    (NumPy draws the random instance: the first ``jax.random`` call costs seconds on a CPU.)
    """
    rng = np.random.default_rng(seed)
    dt = jnp.result_type(float)
    u, W, dy = (jnp.asarray(rng.normal(size=s), dt) for s in [(n, d_in), (d_in, c), (n, c)])
    gamma, beta = jnp.full((c,), 1.5, dt), jnp.full((c,), 0.3, dt)

    def loss(W, b):
        y, _ = batchnorm.forward(u @ W + b, gamma, beta, eps)
        return jnp.sum(dy * y)

    gW, gb = jax.jit(jax.grad(loss, argnums=(0, 1)))(W, jnp.full((c,), 0.7, dt))
    return gb, gW


def identity_error(x, eps: float = 1e-5, other=None):
    r"""Relative error of training-mode :math:`\mathrm{BN}_{\gamma,\beta}` against the identity when
    :math:`\gamma = \sqrt{\sigma_B^2+\epsilon}` and :math:`\beta = \mu_B` are the statistics of the
    batch ``x`` (the paper's identity, for that batch).

    :math:`\gamma, \beta` are parameters, fixed while the batch statistics change: with ``other``
    (a second batch from the same distribution) also returns the error of the same
    :math:`\gamma, \beta` on that batch, which is not zero. The identity holds for every input
    only at inference, with :math:`\gamma, \beta` set from the population statistics.
    Returns the error on ``x``, or ``(error on x, error on other)``."""
    def f(x, z):
        mean, var, _ = batchnorm.batch_stats(x)
        gamma, beta = jnp.sqrt(var + eps), mean
        return batchnorm.forward(x, gamma, beta, eps)[0], batchnorm.forward(z, gamma, beta, eps)[0]

    z = x if other is None else other
    same, on_other = jax.jit(f)(x, z)
    if other is None:
        return rel_error(same, x)
    return rel_error(same, x), rel_error(on_other, other)


def radial_components(seed: int = 0, n: int = 32, d_in: int = 6, c: int = 4):
    r"""Per unit :math:`\langle w_j, \partial\ell/\partial w_j\rangle` of a standardized layer
    :math:`\hat z = \mathrm{Norm}(uW + b)`, random upstream gradient: ``(naive, true)``.

    The output is unchanged when :math:`w_j` is scaled, so the true gradient has no component along
    :math:`w_j` (:math:`\epsilon = 0`); the naive one keeps
    :math:`\sum_i g_i\hat z_i + ((\mu - b)/\sigma)\sum_i g_i` (since :math:`u_i\cdot w_j = z_i - b`),
    which changes :math:`\|w_j\|` for nothing.
    """
    rng = np.random.default_rng(seed)
    dt = jnp.result_type(float)
    u, W, b, dy = (jnp.asarray(rng.normal(size=s), dt) for s in [(n, d_in), (d_in, c), (c,), (n, c)])

    def grad_w(differentiate):
        return jax.jit(jax.grad(lambda W: jnp.sum(dy * batchnorm.standardize(u @ W + b, hold=not differentiate)[0])))(W)

    return jnp.sum(W * grad_w(False), axis=0), jnp.sum(W * grad_w(True), axis=0)


def naive_weight_gradient(seed: int = 0, batch: int = 32):
    r"""Where naive centring's W-gradient goes wrong, in the digits MLP of section 2.3 at
    initialization (float64 inside :func:`normlab.float64`), for its last hidden layer (above it
    only the output layer, so the upstream gradient :math:`g = \partial\ell/\partial z` is the same
    for the naive and the differentiated network).

    With the layer input :math:`h` (rows: the batch of :math:`m`), the naive gradient is
    :math:`h^\top g`, the true one :math:`(h-\bar h)^\top g`, so they differ by
    :math:`m\,\bar h\,\bar g^\top` (:math:`\bar h`, :math:`\bar g`: batch means). Returns the
    relative error of that identity, the size of the extra term against the true gradient, and
    the cosine between the extra term and the true gradient (a descent direction has cosine > 0)."""
    from normlab import data
    from normlab.ch2 import network

    d = data.digits()
    rng = np.random.default_rng(1000 + seed)
    dt = jnp.result_type(float)
    rows = rng.integers(0, d["x_train"].shape[0], batch)
    x, y = jnp.asarray(d["x_train"][rows], dt), jnp.asarray(d["y_train"][rows])
    p0 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dt), network.init_params(seed))

    k = len(p0) - 2  # the last hidden layer
    g_naive, g_true, h, gsum = _split_grads(p0, x, y, k)
    extra = jnp.outer(jnp.mean(h, 0), gsum)          # m hbar gbar^T = hbar (sum_i g_i)^T
    cos = jnp.sum(extra * g_true) / (jnp.linalg.norm(extra) * jnp.linalg.norm(g_true))
    return {"identity": rel_error(g_naive - g_true, extra),
            "ratio": float(jnp.linalg.norm(extra) / jnp.linalg.norm(g_true)), "cos": float(cos)}


@partial(jax.jit, static_argnums=3)
def _split_grads(p0, x, y, k):
    """Layer ``k``'s W-gradient of the naive and of the differentiated network (one compiled call,
    the hold flag traced), its input h, and the naive bias gradient sum_i g_i."""
    from normlab import nets, train
    from normlab.ch2 import network

    def grads(hold):
        L = network.layer(hold, 0.0, 0.0)
        return jax.grad(lambda p: train.cross_entropy(nets.apply_mlp(p, x, L)[0], y))(p0)

    g = jax.vmap(grads)(jnp.asarray([1.0, 0.0], x.dtype))   # naive, differentiated
    _, aux = nets.apply_mlp(p0, x, network.layer(1.0, 0.0, 0.0))
    return g[k]["W"][0], g[k]["W"][1], aux["inputs"][k], g[k]["b"][0]
