r"""Small networks as plain JAX pytrees: MLPs with an optional per-layer normalization.

A network is a list of layer dicts. A hidden layer without normalization is ``{"W", "b"}`` and
computes :math:`h = \phi(hW + b)`; with normalization it is ``{"W", "gamma", "beta"}`` and computes
:math:`h = \phi(\gamma\,\mathrm{Norm}(hW) + \beta)`: the bias is dropped because the centring
cancels it (Ioffe & Szegedy, section 3.2). The output layer is always affine.

Batches may be padded to a fixed size with a 0/1 ``mask`` over rows, so the batch size is an
ordinary traced number and a whole grid of batch sizes can be trained in one ``vmap``.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from normlab import batchnorm

ACTIVATIONS: dict[str, Callable] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "linear": lambda z: z,
}


def init_mlp(key, sizes: Sequence[int], *, norm: bool = False, init="he", dtype=jnp.float32):
    """Random MLP parameters for layer widths ``sizes = [d_in, h_1, ..., d_out]``.

    ``key``: a JAX PRNG key, or an int seed for NumPy's generator (no XLA compilation: JAX's
    default sampler compiles once per shape, which costs seconds on a small CPU; chapters that
    must run in a minute use seeds).

    ``init``: ``"he"`` (std sqrt(2/fan_in)), ``"glorot"`` (std sqrt(2/(fan_in+fan_out))), or a
    number used as the standard deviation of every weight (the paper's "small random Gaussian").
    Hidden layers get ``gamma = 1, beta = 0`` when ``norm`` is true, else a zero bias ``b``.
    """
    if isinstance(key, int):
        rng = np.random.default_rng(key)
        normal = lambda k, shape, std: jnp.asarray(std * rng.normal(size=shape), dtype)
        keys = [None] * (len(sizes) - 1)
    else:
        normal = lambda k, shape, std: std * jax.random.normal(k, shape, dtype)
        keys = jax.random.split(key, len(sizes) - 1)
    layers = []
    for i, (k, fan_in, fan_out) in enumerate(zip(keys, sizes[:-1], sizes[1:])):
        if init == "he":
            std = (2.0 / fan_in) ** 0.5
        elif init == "glorot":
            std = (2.0 / (fan_in + fan_out)) ** 0.5
        else:
            std = float(init)
        layer = {"W": normal(k, (fan_in, fan_out), std)}
        hidden = i < len(sizes) - 2
        if hidden and norm:
            layer["gamma"] = jnp.ones((fan_out,), dtype)
            layer["beta"] = jnp.zeros((fan_out,), dtype)
        else:
            layer["b"] = jnp.zeros((fan_out,), dtype)
        layers.append(layer)
    return layers


def batch_norm(z, mask=None, eps: float = 1e-5):
    r"""Normalize ``z`` (N, C) with the statistics of the rows where ``mask`` is 1.

    Returns ``(zhat, (mean, var, m))`` with the biased variance :math:`\frac1m\sum(z-\mu)^2` and
    ``m = sum(mask)``. Gradients flow through the statistics, as in Algorithm 1.
    """
    if mask is None:
        mask = jnp.ones(z.shape[0], z.dtype)
    mean, var, m = batchnorm.masked_stats(z, mask)
    return (z - mean) / jnp.sqrt(var + eps), (mean, var, m)


def apply_mlp(params, x, *, act: str = "relu", mask=None, eps: float = 1e-5, running=None,
              normalize: Callable | None = None):
    """Forward pass. Returns ``(logits, aux)``.

    ``aux["pre"]`` lists each hidden layer's input to the nonlinearity, ``aux["stats"]`` the batch
    statistics ``(mean, var, m)`` of each normalized layer (``None`` for plain layers).
    ``running``: a list of ``(mean, var)`` per layer to normalize with population statistics
    (inference mode) instead of batch statistics. ``normalize(z, mask, i) -> (zhat, stats)``
    replaces batch normalization (other chapters plug in their own layers).
    """
    phi = ACTIVATIONS[act]
    h = x
    pre, stats = [], []
    for i, layer in enumerate(params[:-1]):
        z = h @ layer["W"]
        if "gamma" in layer:
            if running is not None:
                mean, var = running[i]
                zhat, st = (z - mean) / jnp.sqrt(var + eps), None
            elif normalize is not None:
                zhat, st = normalize(z, mask, i)
            else:
                zhat, st = batch_norm(z, mask, eps)
            z = layer["gamma"] * zhat + layer["beta"]
        else:
            z, st = z + layer["b"], None
        pre.append(z)
        stats.append(st)
        h = phi(z)
    out = params[-1]
    return h @ out["W"] + out["b"], {"pre": pre, "stats": stats}


def init_running(params):
    """Running statistics ``(mean=0, var=1)`` for every normalized layer (``None`` elsewhere)."""
    return [
        (jnp.zeros_like(l["gamma"]), jnp.ones_like(l["gamma"])) if "gamma" in l else None
        for l in params[:-1]
    ]


def update_running(running, stats, momentum: float = 0.1):
    """PyTorch-convention update of every layer's running ``(mean, var)`` from batch ``stats``.

    The stored variance is the unbiased ``m/(m-1)`` batch variance; ``momentum`` weighs the new
    batch. (:func:`normlab.batchnorm.running_step`, for masked batches.)
    """
    new = []
    for r, st in zip(running, stats):
        if r is None:
            new.append(None)
            continue
        mean, var, m = st
        new.append(batchnorm.running_step(r, mean, var * m / (m - 1), momentum))
    return new
