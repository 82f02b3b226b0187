r"""Training loops in JAX style: ``jit`` + ``lax.scan`` over steps, ``vmap`` over hyperparameters.

:func:`fit_classifier` trains one MLP with plain SGD, :math:`\theta \leftarrow \theta - \eta
\nabla_\theta \ell`, and records a history per step. Learning rate and batch size are traced
numbers (batches are padded to ``max_batch`` and masked), so :func:`grid` trains a whole
hyperparameter grid in a single compiled call.
"""

from __future__ import annotations

import itertools
from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from normlab import nets


def cross_entropy(logits, y, mask=None):
    r"""Mean softmax cross-entropy :math:`-\frac1m\sum_i \log p_{y_i}(x_i)` over rows where mask=1."""
    logp = jax.nn.log_softmax(logits)
    nll = -jnp.take_along_axis(logp, y[:, None], axis=1)[:, 0]
    if mask is None:
        return jnp.mean(nll)
    return jnp.sum(mask * nll) / jnp.sum(mask)


def accuracy(logits, y):
    """Fraction of rows whose arg-max logit is the label."""
    return jnp.mean(jnp.argmax(logits, axis=1) == y)


def fit_classifier(params, data: dict, key, *, lr, batch_size, steps: int, max_batch: int = 64,
                   eval_every: int = 1, act: str = "relu", momentum: float = 0.1,
                   normalize: Callable | None = None, probe: Callable | None = None):
    """Train an MLP classifier with SGD for ``steps`` steps; return ``(params, history)``.

    Each step samples ``max_batch`` training rows (with replacement) and uses the first
    ``batch_size`` of them (a mask), so ``lr`` and ``batch_size`` may be traced. Normalized layers
    keep running statistics (unbiased variance, PyTorch momentum); the test set is evaluated in
    inference mode with them every ``eval_every`` steps (``steps`` must be a multiple of it).
    ``history`` holds ``loss`` (the training batch loss, one per step) and, one per evaluation,
    ``test_loss``, ``test_acc`` and ``probe = probe(params, running, aux_test)`` if given.
    A run that diverges keeps going with non-finite values; :func:`diverged_at` finds the step.
    """
    x, y = data["x_train"], data["y_train"]
    xt, yt = data["x_test"], data["y_test"]
    n = x.shape[0]
    mask = (jnp.arange(max_batch) < batch_size).astype(x.dtype)

    def loss_fn(p, xb, yb):
        logits, aux = nets.apply_mlp(p, xb, act=act, mask=mask, normalize=normalize)
        return cross_entropy(logits, yb, mask), aux["stats"]

    def step(carry, k):
        p, running = carry
        idx = jax.random.randint(k, (max_batch,), 0, n)
        (loss, stats), g = jax.value_and_grad(loss_fn, has_aux=True)(p, x[idx], y[idx])
        p = jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g)
        return (p, nets.update_running(running, stats, momentum)), loss

    def block(carry, ks):
        carry, losses = jax.lax.scan(step, carry, ks)
        p, running = carry
        logits_t, aux_t = nets.apply_mlp(p, xt, act=act, running=running)
        rec = {"test_loss": cross_entropy(logits_t, yt), "test_acc": accuracy(logits_t, yt)}
        if probe is not None:
            rec["probe"] = probe(p, running, aux_t)
        return carry, (losses, rec)

    if steps % eval_every:
        raise ValueError(f"steps ({steps}) must be a multiple of eval_every ({eval_every})")
    keys = jax.random.split(key, steps)
    keys = keys.reshape((steps // eval_every, eval_every) + keys.shape[1:])
    (params, _), (losses, hist) = jax.lax.scan(block, (params, nets.init_running(params)), keys)
    return params, {"loss": losses.reshape(-1), **hist}


def diverged_at(curve, limit: float = 1e4):
    """First index where ``curve`` is non-finite or above ``limit`` in magnitude, else ``None``."""
    c = np.asarray(curve, dtype=float)
    bad = ~np.isfinite(c) | (np.abs(c) > limit)
    return int(np.argmax(bad)) if bad.any() else None


def grid(fn: Callable, **values):
    """Evaluate ``fn(**point)`` on the Cartesian grid of ``values`` with one ``jit(vmap(fn))``.

    ``values`` maps each parameter name to a 1-D sequence. Returns the pytree of results with
    leading axes of shape ``(len(v1), len(v2), ...)`` in the order the names were given.
    """
    names = list(values)
    axes = [np.asarray(values[k]) for k in names]
    shape = tuple(len(a) for a in axes)
    mesh = np.meshgrid(*axes, indexing="ij")
    flat = {k: jnp.asarray(m.reshape(-1)) for k, m in zip(names, mesh)}
    out = jax.jit(jax.vmap(lambda kw: fn(**kw)))(flat)
    return jax.tree_util.tree_map(lambda a: a.reshape(shape + a.shape[1:]), out)


def grid_loop(fn: Callable, **values):
    """The same as :func:`grid` with a Python loop over the points (for the benchmark)."""
    names = list(values)
    jfn = jax.jit(lambda kw: fn(**kw))
    outs = [jfn({k: jnp.asarray(v) for k, v in zip(names, point)})
            for point in itertools.product(*(values[k] for k in names))]
    shape = tuple(len(values[k]) for k in names)
    return jax.tree_util.tree_map(lambda *a: jnp.stack(a).reshape(shape + a[0].shape), *outs)
