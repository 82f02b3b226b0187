r"""Probes of the optimization landscape, for any scalar loss over any pytree of parameters.

- :func:`probe`: the loss and the gradient along the gradient direction (Santurkar et al. 2018,
  section 3.1), and the "effective" :math:`\beta`-smoothness;
- :func:`ics`: gradient-based internal covariate shift (their Definition 2.1).

Both are pure JAX and ``vmap``-able over checkpoints and runs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from normlab.measure import tree_norm, tree_sub


def probe(loss, theta, etas, *args):
    r"""The landscape along the gradient at ``theta`` (any pytree), for step sizes ``etas`` (K,).

    With :math:`g = \nabla\mathcal L(\theta)` and :math:`\theta_\eta = \theta - \eta g`, returns a
    dict with ``loss`` :math:`\mathcal L(\theta_\eta)` (K,), ``grad_change``
    :math:`\|\nabla\mathcal L(\theta_\eta) - g\|_2` (K,), ``beta``
    :math:`\max_\eta \|\nabla\mathcal L(\theta_\eta) - g\|_2 / \|\eta g\|_2` and ``grad_norm``
    :math:`\|g\|_2`. ``loss(theta, *args)`` is a scalar function; the probe step sizes are ``vmap``-ed.
    """
    g = jax.grad(loss)(theta, *args)
    gn = tree_norm(g)

    def one(eta):
        th = tree_sub(theta, g, eta)
        l, g2 = jax.value_and_grad(loss)(th, *args)
        return l, tree_norm(jax.tree_util.tree_map(jnp.subtract, g2, g))

    ls, dg = jax.vmap(one)(jnp.asarray(etas))
    beta = jnp.max(dg / (jnp.asarray(etas) * gn))
    return {"loss": ls, "grad_change": dg, "beta": beta, "grad_norm": gn}


def ics(loss, layers: list, lr, *args, key: str | None = None):
    r"""Internal covariate shift of Definition 2.1 for every layer, at one step of plain SGD.

    ``layers`` is a list of per-layer parameters (arrays or dicts); ``loss(layers, *args)`` a scalar.
    :math:`G_i = \nabla_{W_i}\mathcal L(W_1, \dots, W_k)`; after the SGD step
    :math:`W^+ = W - \text{lr}\, G`, :math:`G'_i = \nabla_{W_i}\mathcal L(W^+_1, \dots, W^+_{i-1}, W_i,
    \dots, W_k)` on the same batch. ``key`` names the entry of a dict layer that is measured (e.g.
    ``"W"``; all of the layer's parameters are updated). Returns ``(l2, cos)``, each of shape (k,):
    :math:`\|G_i - G'_i\|_2` and :math:`\cos\angle(G_i, G'_i)`. The k gradients are one ``vmap``.

    For stacked layers (one array with a leading layer axis, as in the deep linear network) call
    it with ``layers`` the list of slices, or use :func:`stacked_ics`.
    """
    k = len(layers)
    grads = jax.grad(loss)(layers, *args)
    new = [tree_sub(p, g, lr) for p, g in zip(layers, grads)]

    def shifted(i):
        mixed = [jax.tree_util.tree_map(lambda a, b: jnp.where(j < i, a, b), pn, po)
                 for j, (pn, po) in enumerate(zip(new, layers))]
        return jax.grad(loss)(mixed, *args)

    allg = jax.vmap(shifted)(jnp.arange(k))  # layer j's gradient for every i
    pick = (lambda t: t[key]) if key is not None else (lambda t: t)
    l2, cos = [], []
    for j in range(k):
        g = pick(grads[j]).ravel()
        gp = pick(jax.tree_util.tree_map(lambda a: a[j], allg[j])).ravel()
        l2.append(jnp.linalg.norm(g - gp))
        cos.append(jnp.dot(g, gp) / (jnp.linalg.norm(g) * jnp.linalg.norm(gp) + 1e-30))
    return jnp.stack(l2), jnp.stack(cos)


def stacked_ics(loss, params, lr, *args, depth_keys=("W",), measured: str = "W"):
    r"""Definition 2.1 for a network whose layers are stacked along the leading axis of each entry
    of the dict ``params`` (the deep linear network). Layer *i*'s :math:`G'` is taken after the
    entries of layers :math:`j < i` have stepped; ``loss(params, *args)``. Returns ``(l2, cos)``,
    each of shape (depth,), measured on ``params[measured]``."""
    g = jax.grad(loss)(params, *args)
    new = tree_sub(params, g, lr)
    depth = params[measured].shape[0]

    def shifted(i):
        mixed = {k: jnp.where((jnp.arange(v.shape[0]) < i).reshape((-1,) + (1,) * (v.ndim - 1)),
                              new[k], v) for k, v in params.items()}
        return jax.grad(loss)(mixed, *args)[measured][i]

    G = g[measured].reshape(depth, -1)
    Gp = jax.vmap(shifted)(jnp.arange(depth)).reshape(depth, -1)
    l2 = jnp.linalg.norm(G - Gp, axis=1)
    cos = jnp.sum(G * Gp, 1) / (jnp.linalg.norm(G, axis=1) * jnp.linalg.norm(Gp, axis=1) + 1e-30)
    return l2, cos
