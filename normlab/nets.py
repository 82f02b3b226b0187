r"""The book's one network: an MLP whose hidden layers take the normalization you pass in, and the
deep linear network of Chapter 5 built from the same layers.

A network is a list of layer dicts (a plain pytree). A hidden layer maps its input :math:`h` to the
input of the nonlinearity, :math:`z = \text{layer}(p, h)`, and then :math:`h' = \phi(z)`; the
output layer is always affine, :math:`hW + b`. A normalization *is* the hidden layer's kind:

=======================  ==========================================================  ===========
layer                    :math:`z`                                                   parameters
=======================  ==========================================================  ===========
``Dense()``              :math:`hW + b`                                              W, b
``BatchNorm()``          :math:`\gamma\,(hW - \mu_B)/\sqrt{\sigma_B^2+\epsilon} + \beta`   W, gamma, beta
``BatchNorm(hold=1)``    the same with :math:`\mu_B, \sigma_B` held outside the gradient (Ch. 2)
``BatchNorm(divisor=k)`` :math:`\ell_1, \ell_2, \ell_\infty` instead of :math:`\sigma_B` (Ch. 5)
``WeightNorm()``         :math:`h\,(g\,v/\|v\|) + b` (optionally mean-only BN, eq. 7)      v, g, b
``LayerNorm()``          gain :math:`\odot\,(a - \mu)/\sigma` + bias over the units     W, gain, bias
``GroupNorm(G)``         GroupNorm of :math:`a` in G groups of channels (Ch. 6)      W, gamma, beta
``WS(layer)``            ``layer`` with its weight standardized (Ch. 6)              as ``layer``
=======================  ==========================================================  ===========

The same layers make a small **convolutional** net (:func:`init_convnet`): a weight of shape
``(kh, kw, C_in, C_out)`` makes :func:`linear` a convolution (channels last, stride 1, "SAME"),
BatchNorm's statistics are then per channel over (N, H, W), LayerNorm's over (H, W, C) of each
example (GroupNorm with one group), and the output layer reads the flattened feature maps.

Every layer has ``init(W) -> params`` (from the initial weight matrix, ``(fan_in, fan_out)``) and
``__call__(p, h, ctx) -> (z, stats)``; layers with running statistics also ``state(p)`` and
``update(state, stats, momentum)``. A layer's options may be traced numbers (e.g. built inside a
``vmap``), so several kinds of network train in one compiled call. Batches may be padded to a
fixed size with a 0/1 ``mask`` over rows, so batch size is an ordinary traced number too.

A new normalization is one more layer class: see ``CONTRIBUTING.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from normlab import batchnorm, groupnorm, layernorm, weightnorm, weightstd

sg = jax.lax.stop_gradient

ACTIVATIONS: dict[str, Callable] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "linear": lambda z: z,
}


class Ctx(NamedTuple):
    """What a layer may need besides its parameters and input: the rows of the batch that count
    (``mask``, (N,) of 0/1, or None for all) and population statistics for inference mode
    (``running``: this layer's state, or None for training mode)."""

    mask: Any = None
    running: Any = None


def _pick(flag, a, b):
    """``a`` if ``flag`` else ``b``; a Python flag decides now, a traced one with ``jnp.where``."""
    if isinstance(flag, (bool, int, float)):
        return a if flag else b
    return jnp.where(jnp.asarray(flag) > 0, a, b)


def linear(h, W):
    r""":math:`hW` for a weight matrix ``(fan_in, fan_out)``; for a kernel ``(kh, kw, C_in, C_out)``
    the convolution of ``h`` (N, H, W, C_in) with it (stride 1, "SAME" padding, channels last)."""
    if W.ndim == 2:
        return h @ W
    return jax.lax.conv_general_dilated(h, W, (1, 1), "SAME",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _masked(z, mask):
    """(mean, biased variance, m) per channel (last axis) over every other axis of ``z``, counting
    only the examples (first axis) where ``mask`` is 1; m counts every reduced element."""
    if z.ndim > 2:  # (N, H, W, C): per channel over (N, H, W)
        per = int(np.prod(z.shape[1:-1]))
        z = z.reshape(-1, z.shape[-1])
        mask = None if mask is None else jnp.repeat(mask, per)
    if mask is None:
        mean = jnp.mean(z, axis=0)
        return mean, jnp.mean((z - mean) ** 2, axis=0), z.shape[0]
    return batchnorm.masked_stats(z, mask)


class Layer:
    """Base of the hidden layers: no running state."""

    def state(self, p):
        return None

    def update(self, state, stats, momentum):
        return state


@dataclass(frozen=True)
class Dense(Layer):
    r""":math:`z = hW + b`: no normalization."""

    def init(self, W):
        return {"W": W, "b": jnp.zeros(W.shape[-1], W.dtype)}

    def __call__(self, p, h, ctx=Ctx()):
        return linear(h, p["W"]) + p["b"], None


@dataclass(frozen=True)
class BatchNorm(Layer):
    r"""Batch normalization of :math:`a = hW` (+ b when ``bias``) and its variants, each option a
    number that may be traced:

    :math:`z = \gamma\,(a - c\,\mu_B)/d + \beta` with ``center`` :math:`c`, and ``divisor`` picking
    :math:`d`: 0 none (1), 1 :math:`\sqrt{\sigma_B^2+\epsilon}` (BN), 2, 3
    :math:`(\frac1m\sum_b|a_b|^p)^{1/p}+\epsilon` for p = 1, 2, 4 :math:`\max_b|a_b|+\epsilon`
    (the :math:`\ell_p` normalizations of Santurkar et al.; the norms are of the un-centred
    batch vector). ``hold = 1`` puts ``stop_gradient`` on :math:`\mu_B` and :math:`d` (the naive
    layer of Ioffe & Szegedy, section 2). ``learn_gamma``/``learn_beta = 0`` freeze them (their
    gradient is zero). ``choices``: the divisors a traced ``divisor`` may take.

    Statistics use the biased :math:`1/m` variance over the rows where ``ctx.mask`` is 1. With
    ``ctx.running = (mean, var)`` the layer is in inference mode (Algorithm 2; divisors 0 and 1).
    ``stats = (mean, var, m)`` of :math:`a` feed the running averages (PyTorch's convention).
    """

    hold: Any = 0
    center: Any = 1
    divisor: Any = 1
    learn_gamma: Any = 1
    learn_beta: Any = 1
    bias: bool = False
    eps: float = 1e-5
    choices: tuple = (0, 1, 2, 3, 4)

    def init(self, W):
        p = {"W": W}
        if self.bias:
            p["b"] = jnp.zeros(W.shape[-1], W.dtype)
        p["gamma"] = jnp.ones(W.shape[-1], W.dtype)
        p["beta"] = jnp.zeros(W.shape[-1], W.dtype)
        return p

    def _divisor(self, a, mask, var):
        eps = self.eps
        if a.ndim > 2:  # a conv net: per channel over (N, H, W)
            per = int(np.prod(a.shape[1:-1]))
            a = a.reshape(-1, a.shape[-1])
            mask = None if mask is None else jnp.repeat(mask, per)
        if mask is None:
            mean_ = lambda v: jnp.mean(v, axis=0)
            amax = jnp.max(jnp.abs(a), axis=0)
        else:
            mean_ = lambda v: jnp.sum(mask[:, None] * v, axis=0) / jnp.sum(mask)
            amax = jnp.max(mask[:, None] * jnp.abs(a), axis=0)
        forms = {0: lambda: jnp.ones_like(var), 1: lambda: jnp.sqrt(var + eps),
                 2: lambda: mean_(jnp.abs(a)) + eps, 3: lambda: jnp.sqrt(mean_(a * a)) + eps,
                 4: lambda: amax + eps}
        if isinstance(self.divisor, (int, np.integer)):
            return forms[int(self.divisor)]()
        if len(self.choices) == 1:
            return forms[self.choices[0]]()
        # a traced divisor: one branch-free sum, weighted one-hot (cheaper to compile under vmap
        # than lax.switch)
        k = jnp.asarray(self.divisor)
        return sum((k == c).astype(a.dtype) * forms[c]() for c in self.choices)

    def __call__(self, p, h, ctx=Ctx()):
        a = linear(h, p["W"])
        if self.bias:
            a = a + p["b"]
        mean, var, m = _masked(a, ctx.mask)
        if ctx.running is not None:
            mu, rvar = ctx.running
            d = _pick(self.divisor, jnp.sqrt(rvar + self.eps), jnp.ones_like(rvar))
        else:
            mu, d = mean, self._divisor(a, ctx.mask, var)
            mu, d = _pick(self.hold, sg(mu), mu), _pick(self.hold, sg(d), d)
        gamma = _pick(self.learn_gamma, p["gamma"], sg(p["gamma"]))
        beta = _pick(self.learn_beta, p["beta"], sg(p["beta"]))
        return gamma * ((a - self.center * mu) / d) + beta, (mean, var, m)

    def state(self, p):
        return (jnp.zeros_like(p["gamma"]), jnp.ones_like(p["gamma"]))

    def update(self, state, stats, momentum):
        mean, var, m = stats
        return batchnorm.running_step(state, mean, var * m / (m - 1), momentum)


@dataclass(frozen=True)
class WeightNorm(Layer):
    r"""Weight normalization (Salimans & Kingma, eq. 2): :math:`z = h\,w + b` with
    :math:`w_{:,j} = g_j v_{:,j}/\|v_{:,j}\|` (:func:`normlab.weightnorm.weight`).

    ``mean_only`` (may be traced): mean-only batch normalization (eq. 7),
    :math:`z = t - \mu_B[t] + b` with :math:`t = hw`; its running mean is the state, used in
    inference mode. ``init(W)`` keeps the function: :math:`v = W`, :math:`g = \|W_{:,j}\|`.
    """

    mean_only: Any = 0

    def init(self, W):
        return {"v": W, "g": jnp.linalg.norm(W.reshape(-1, W.shape[-1]), axis=0),
                "b": jnp.zeros(W.shape[-1], W.dtype)}

    def __call__(self, p, h, ctx=Ctx()):
        v = p["v"]
        t = linear(h, weightnorm.weight(v.reshape(-1, v.shape[-1]), p["g"]).reshape(v.shape))
        if isinstance(self.mean_only, (bool, int, float)) and not self.mean_only:
            return t + p["b"], None
        mean, var, m = _masked(t, ctx.mask)
        mu = mean if ctx.running is None else ctx.running[0]
        return t - self.mean_only * mu + p["b"], (mean, var, m)

    def state(self, p):
        if isinstance(self.mean_only, (bool, int, float)) and not self.mean_only:
            return None
        return (jnp.zeros_like(p["g"]), jnp.ones_like(p["g"]))

    def update(self, state, stats, momentum):
        if state is None:
            return None
        mean, var, m = stats
        return batchnorm.running_step(state, mean, var * m / (m - 1), momentum)


@dataclass(frozen=True)
class LayerNorm(Layer):
    r"""Layer normalization (Ba et al., eq. 3) of :math:`a = hW` over the units of each example:
    :math:`z = \text{gain}\odot(a - \mu)/\sqrt{\sigma^2+\epsilon} + \text{bias}`
    (:func:`normlab.layernorm.forward`). No batch statistics: it works at batch size 1. In a conv
    net the statistics are over (H, W, C) of each example, with a gain and bias per channel
    (GroupNorm with one group)."""

    eps: float = 1e-5

    def init(self, W):
        return {"W": W, "gain": jnp.ones(W.shape[-1], W.dtype),
                "bias": jnp.zeros(W.shape[-1], W.dtype)}

    def __call__(self, p, h, ctx=Ctx()):
        a = linear(h, p["W"])
        if a.ndim > 2:
            return groupnorm.forward(a, 1, p["gain"], p["bias"], self.eps), None
        return layernorm.forward(a, p["gain"], p["bias"], self.eps), None


@dataclass(frozen=True)
class GroupNorm(Layer):
    r"""Group normalization (Wu & He) of :math:`a = hW`: per example, the channels in ``groups``
    groups, each normalized over its channels (and the spatial axes in a conv net), then a gain
    and bias per channel (:func:`normlab.groupnorm.forward`). No batch statistics."""

    groups: int = 2
    eps: float = 1e-5

    def init(self, W):
        return {"W": W, "gamma": jnp.ones(W.shape[-1], W.dtype),
                "beta": jnp.zeros(W.shape[-1], W.dtype)}

    def __call__(self, p, h, ctx=Ctx()):
        return groupnorm.forward(linear(h, p["W"]), self.groups, p["gamma"], p["beta"], self.eps), None


@dataclass(frozen=True)
class WS(Layer):
    r"""Weight Standardization (Qiao et al.) as a reparameterization, like WeightNorm: ``layer``
    (Dense, BatchNorm, GroupNorm, ...) computed with its weight ``W`` replaced by
    :func:`normlab.weightstd.standardize` (each output unit's fan-in centred and scaled to unit
    biased variance). The parameter stays ``W``; the loss no longer depends on its scale."""

    layer: Layer = Dense()
    eps: float = 0.0

    def init(self, W):
        return self.layer.init(W)

    def __call__(self, p, h, ctx=Ctx()):
        return self.layer(dict(p, W=weightstd.standardize(p["W"], self.eps)), h, ctx)

    def state(self, p):
        return self.layer.state(p)

    def update(self, state, stats, momentum):
        return self.layer.update(state, stats, momentum)


class Noise(NamedTuple):
    """Noise for every hidden layer, applied after its normalization: ``z <- scale * z + shift``,
    arrays of shape (L, m, C) (Santurkar et al.'s "noisy BatchNorm"; :mod:`normlab.ch5.noise`)."""

    scale: jnp.ndarray
    shift: jnp.ndarray


def _std(init, fan_in, fan_out) -> float:
    if init == "he":
        return (2.0 / fan_in) ** 0.5
    if init == "glorot":
        return (2.0 / (fan_in + fan_out)) ** 0.5
    return float(init)


def init_mlp(key, sizes: Sequence[int], layer: Layer | Sequence[Layer] = Dense(), *,
             init="he", dtype=jnp.float32):
    """Random MLP parameters for layer widths ``sizes = [d_in, h_1, ..., d_out]``.

    ``key``: a JAX PRNG key, or an int seed for NumPy's generator (no XLA compilation: JAX's
    default sampler compiles once per shape, which costs seconds on a small CPU; chapters that
    must run in a minute use seeds). The same seed gives every kind of layer the same weights.

    ``init``: ``"he"`` (std sqrt(2/fan_in)), ``"glorot"`` (std sqrt(2/(fan_in+fan_out))), or a
    number used as the standard deviation of every weight (the paper's "small random Gaussian").
    Each hidden layer's parameters are ``layer.init(W)``; the output layer is ``{"W", "b"}``.
    """
    if isinstance(key, (int, np.integer)):
        with jax.ensure_compile_time_eval():  # concrete even when called inside a trace
            return _init_mlp(int(key), sizes, layer, init, dtype)
    return _init_mlp(key, sizes, layer, init, dtype)


def _init_mlp(key, sizes, layer, init, dtype):
    if isinstance(key, int):
        rng = np.random.default_rng(key)
        normal = lambda k, shape, std: jnp.asarray(std * rng.normal(size=shape), dtype)
        keys = [None] * (len(sizes) - 1)
    else:
        normal = lambda k, shape, std: std * jax.random.normal(k, shape, dtype)
        keys = jax.random.split(key, len(sizes) - 1)
    layers = []
    for i, (k, fan_in, fan_out) in enumerate(zip(keys, sizes[:-1], sizes[1:])):
        W = normal(k, (fan_in, fan_out), _std(init, fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(layer_at(layer, i).init(W))
        else:
            layers.append({"W": W, "b": jnp.zeros((fan_out,), dtype)})
    return layers


def init_convnet(key, channels: Sequence[int] = (1, 8, 16), classes: int = 10,
                 layer: Layer | Sequence[Layer] = Dense(), *, size: tuple = (8, 8), kernel: int = 3,
                 init="he", dtype=jnp.float32):
    """A small conv net in the same format as :func:`init_mlp`: one ``(kernel, kernel, C_in,
    C_out)`` hidden layer per step of ``channels`` (the first is the input's channels; stride 1,
    "SAME": the feature maps keep the image ``size``), then an affine output layer on the
    flattened last feature maps. ``key``, ``init``: as :func:`init_mlp`, with fan-in
    ``kernel**2 * C_in``. :func:`apply_mlp` and ``train.fit_classifier`` run it on
    images (N, H, W, C) (``normlab.data.digits(images=True)``)."""
    rng = np.random.default_rng(int(key)) if isinstance(key, (int, np.integer)) else None
    keys = [None] * len(channels) if rng is not None else list(jax.random.split(key, len(channels)))

    def normal(k, shape, std):
        if rng is not None:
            return jnp.asarray(std * rng.normal(size=shape), dtype)
        return std * jax.random.normal(k, shape, dtype)

    with jax.ensure_compile_time_eval():
        layers = []
        for i, (cin, cout) in enumerate(zip(channels[:-1], channels[1:])):
            fan_in = kernel * kernel * cin
            W = normal(keys[i], (kernel, kernel, cin, cout), _std(init, fan_in, cout))
            layers.append(layer_at(layer, i).init(W))
        flat = int(np.prod(size)) * channels[-1]
        W = normal(keys[-1], (flat, classes), _std(init, flat, classes))
        layers.append({"W": W, "b": jnp.zeros((classes,), dtype)})
    return layers


def layer_at(layer, i: int) -> Layer:
    """The layer object of hidden layer ``i`` (one for all, or one per layer)."""
    return layer[i] if isinstance(layer, (list, tuple)) else layer


def apply_mlp(params, x, layer: Layer | Sequence[Layer] = Dense(), *, act: str = "relu",
              mask=None, running=None, noise: Noise | None = None):
    """Forward pass. Returns ``(logits, aux)``.

    ``aux["pre"]`` lists each hidden layer's input to the nonlinearity (after the noise, if any),
    ``aux["inputs"]`` each hidden layer's input :math:`h`, ``aux["stats"]`` what each layer reports (batch statistics for BN; None for plain layers).
    ``running``: a list with one state per hidden layer (inference mode), or None (training mode).
    ``noise``: a :class:`Noise` applied after every hidden layer's normalization, or None.
    """
    phi = ACTIVATIONS[act]
    h = x
    pre, stats, inputs = [], [], []
    for i, p in enumerate(params[:-1]):
        inputs.append(h)
        ctx = Ctx(mask, None if running is None else running[i])
        z, st = layer_at(layer, i)(p, h, ctx)
        if noise is not None:
            z = noise.scale[i] * z + noise.shift[i]
        pre.append(z)
        stats.append(st)
        h = phi(z)
    out = params[-1]
    if h.ndim > 2:  # a conv net: the output layer reads the flattened feature maps
        h = h.reshape(h.shape[0], -1)
    return h @ out["W"] + out["b"], {"pre": pre, "stats": stats, "inputs": inputs}


def init_running(params, layer: Layer | Sequence[Layer] = Dense()):
    """Each hidden layer's initial running state (``(mean=0, var=1)`` for BN; None for layers
    without one)."""
    return [layer_at(layer, i).state(p) for i, p in enumerate(params[:-1])]


def update_running(running, stats, layer: Layer | Sequence[Layer] = Dense(),
                   momentum: float = 0.1):
    """PyTorch-convention update of every layer's running statistics from the batch ``stats``:
    the stored variance is the unbiased ``m/(m-1)`` batch variance and ``momentum`` weighs the
    new batch (:func:`normlab.batchnorm.running_step`)."""
    return [layer_at(layer, i).update(r, st, momentum) for i, (r, st) in enumerate(zip(running, stats))]


def data_init(params, x, layer: WeightNorm | Sequence[WeightNorm], *, act: str = "relu"):
    r"""Salimans & Kingma's data-dependent initialization (eqs. 5-6), layer by layer: each
    WN layer's ``g, b`` are set from the batch ``x`` so that its pre-activation has batch mean 0
    and standard deviation 1, then the batch goes on to the next layer
    (:func:`normlab.weightnorm.data_init`). Layers of other kinds are left as they are."""
    phi = ACTIVATIONS[act]
    h, out = x, []
    for i, p in enumerate(params[:-1]):
        L = layer_at(layer, i)
        if isinstance(L, WeightNorm):
            g, b = weightnorm.data_init(p["v"], h)
            p = dict(p, g=g.astype(p["g"].dtype), b=b.astype(p["b"].dtype))
        out.append(p)
        h = phi(L(p, h)[0])
    return out + [params[-1]]


# ------------------------------------------------------------------------------------------------
# The deep linear network (Santurkar et al.: 25 layers of 10 x 10)
# ------------------------------------------------------------------------------------------------
def init_dln(key, depth: int = 25, d: int = 10, dtype=jnp.float32):
    r"""Parameters stacked along a leading layer axis: ``W`` (depth, d, d), ``gamma`` and
    ``beta`` (depth-1, d); Glorot init, std :math:`\sqrt{2/(d+d)}`."""
    W = jax.random.normal(key, (depth, d, d), dtype) * (2.0 / (d + d)) ** 0.5
    return {"W": W, "gamma": jnp.ones((depth - 1, d), dtype), "beta": jnp.zeros((depth - 1, d), dtype)}


def dln_layer(bn) -> BatchNorm:
    """The DLN's hidden layer: BN when ``bn`` is 1, the identity on :math:`hW` when 0 (gamma and
    beta then get no gradient); ``bn`` may be traced."""
    return BatchNorm(center=bn, divisor=bn, learn_gamma=bn, learn_beta=bn, choices=(0, 1))


def apply_dln(params, x, bn):
    r""":math:`f(x) = x W_1 \cdots W_{k}` (row vectors), with :func:`dln_layer` after every layer
    but the last: :math:`h \leftarrow \gamma_i \mathrm{BN}(h W_i) + \beta_i` when ``bn`` is 1.
    A ``lax.scan`` over the stacked layers (one layer compiled, not 25)."""
    layer = dln_layer(bn)

    def step(h, p):
        W, g, b = p
        return layer({"W": W, "gamma": g, "beta": b}, h)[0], None

    h, _ = jax.lax.scan(step, x, (params["W"][:-1], params["gamma"], params["beta"]))
    return h @ params["W"][-1]
