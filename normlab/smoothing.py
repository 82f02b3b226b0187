r"""How does BatchNorm help optimization? Santurkar, Tsipras, Ilyas & Madry (2018), reproduced small.

Chapter 5's math, experiments, explorables and claims:

- **Noisy BatchNorm** (:func:`sample_noise`): after every normalization layer the activation
  :math:`a_{bj}` becomes :math:`s_{bj} a_{bj} + m_{bj}` with a noise distribution redrawn every step,

  .. math::
      \mu_j \sim U(-n_\mu, n_\mu),\ \ \sigma_j \sim U(1, n_\sigma),\ \
      m_{bj} \sim U(\mu_j - r_\mu, \mu_j + r_\mu),\ \ s_{bj} \sim \mathcal N(\sigma_j, r_\sigma^2).

- **Internal covariate shift** (Definition 2.1, :func:`ics`): :math:`\|G_{t,i} - G'_{t,i}\|_2` and
  :math:`\cos\angle(G_{t,i}, G'_{t,i})`, where :math:`G'_{t,i}` is layer *i*'s gradient after layers
  :math:`1..i-1` took their step, on the same batch.
- **The landscape** (:func:`probe`): along the gradient, for step sizes :math:`\eta`, the loss
  :math:`\mathcal L(\theta - \eta g)`, the gradient change :math:`\|\nabla\mathcal L(\theta-\eta g) - g\|_2`
  and the "effective" :math:`\beta`-smoothness :math:`\max_\eta \|\nabla\mathcal L(\theta-\eta g)-g\|_2 /
  \|\eta g\|_2`.
- **The theory** (Theorem 4.1, Theorem 4.2, Lemma 4.5, Observation 4.3): exact identities for one BN
  layer with :math:`\epsilon = 0` and the biased batch variance, checked against JAX autodiff.
- **:math:`\ell_p` normalizations** (:func:`normalize`): centre each unit over the batch, then divide
  by the average :math:`\ell_p` norm of its un-centred batch vector.

One network family serves every experiment: hidden layers ``{"W", "gamma", "beta"}`` computing
:math:`a = \gamma\,\mathrm{Norm}_k(hW) + \beta` where the kind ``k`` (a traced integer: 0 standard,
1 BN, 2 :math:`\ell_1`, 3 :math:`\ell_2`, 4 :math:`\ell_\infty`) picks the normalization. For the
standard network ``Norm`` is the identity and ``gamma`` is frozen at 1 (its gradient is masked), so
``beta`` is exactly the usual bias. Because the kind is a traced number, all five networks train in
one ``vmap`` with one compilation.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from normlab import data as _data
from normlab import nets, style
from normlab.claims import Claim

KINDS = ("standard", "bn", "l1", "l2", "linf")
LABELS = {"standard": "standard", "bn": "BatchNorm", "l1": r"$\ell_1$ norm", "l2": r"$\ell_2$ norm",
          "linf": r"$\ell_\infty$ norm", "bn+noise": "BatchNorm + noise",
          "standard+noise": "standard + noise"}
KIND_COLORS = {"standard": style.COLORS["plain"], "bn": style.COLORS["bn"],
               "l1": style.PALETTE["orange"], "l2": style.PALETTE["purple"],
               "linf": style.PALETTE["sky"], "bn+noise": style.COLORS["noisy"],
               "standard+noise": style.PALETTE["black"]}

# The paper's noise constants (Santurkar et al. 2018, Appendix, "noisy BatchNorm").
NOISE = {"n_mu": 0.5, "n_sigma": 1.25, "r_mu": 0.1, "r_sigma": 0.1}

# The chapter's default MLP: 64 -> 6 x 32 (ReLU) -> 10, He init, on the 8x8 digits.
SIZES = (64, 32, 32, 32, 32, 32, 32, 10)
BATCH = 64
PROBE_MULTIPLES = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)  # eta / lr, the paper's [1/2, 4]


# ------------------------------------------------------------------------------------------------
# Normalizations and noise
# ------------------------------------------------------------------------------------------------
def _branch(kid: int, z, eps):
    mu = jnp.mean(z, axis=0)
    c = z - mu
    if kid == 0:
        return z
    if kid == 1:
        return c / jnp.sqrt(jnp.mean(c * c, axis=0) + eps)
    if kid == 2:
        return c / (jnp.mean(jnp.abs(z), axis=0) + eps)
    if kid == 3:
        return c / (jnp.sqrt(jnp.mean(z * z, axis=0)) + eps)
    return c / (jnp.max(jnp.abs(z), axis=0) + eps)


def normalize(z, kind, eps: float = 1e-5, choices: Sequence[int] = (0, 1, 2, 3, 4)):
    r"""Normalize each column of ``z`` (m, C) over the batch.

    ``kind`` (an index into :data:`KINDS`, a Python int or a traced number among ``choices``):

    - 0 standard: :math:`z` unchanged;
    - 1 BN: :math:`(z-\mu)/\sqrt{\sigma^2+\epsilon}` with the biased variance;
    - 2, 3 :math:`\ell_p`, p = 1, 2: :math:`(z-\mu)/\big((\frac1m\sum_b |z_b|^p)^{1/p} + \epsilon\big)`;
    - 4 :math:`\ell_\infty`: :math:`(z-\mu)/(\max_b |z_b| + \epsilon)`.

    Our reading of the paper's ":math:`\ell_p` normalization": fix the first moment as BN does
    (subtract the batch mean), then divide by the average :math:`\ell_p` norm of the unit's batch
    vector, :math:`m^{-1/p}\|z_{\cdot j}\|_p`, computed *before* the mean is shifted. With zero-mean
    inputs :math:`\ell_2` would coincide with BN; here it divides by :math:`\sqrt{\sigma^2+\mu^2}`
    instead of :math:`\sigma`.
    """
    if isinstance(kind, (int, np.integer)):
        return _branch(int(kind), z, eps)
    if len(choices) == 1:
        return _branch(choices[0], z, eps)
    # A traced kind: one branch-free formula, (z - c mu) / d, with the divisor d picked by one-hot
    # weights (cheaper to compile under vmap than lax.switch over the branches).
    kind = jnp.asarray(kind)
    w = [(kind == c).astype(z.dtype) for c in range(5)]
    mu = jnp.mean(z, axis=0)
    d = w[0]
    if 1 in choices:
        d = d + w[1] * jnp.sqrt(jnp.mean((z - mu) ** 2, axis=0) + eps)
    if 2 in choices:
        d = d + w[2] * (jnp.mean(jnp.abs(z), axis=0) + eps)
    if 3 in choices:
        d = d + w[3] * (jnp.sqrt(jnp.mean(z * z, axis=0)) + eps)
    if 4 in choices:
        d = d + w[4] * (jnp.max(jnp.abs(z), axis=0) + eps)
    return (z - (1 - w[0]) * mu) / d


class Noise(NamedTuple):
    """Noise for every hidden layer: ``a_l <- scale[l] * a_l + shift[l]``, arrays (L, m, C)."""

    scale: jnp.ndarray
    shift: jnp.ndarray


def sample_noise(key, shape, level=1.0, *, n_mu=NOISE["n_mu"], n_sigma=NOISE["n_sigma"],
                 r_mu=NOISE["r_mu"], r_sigma=NOISE["r_sigma"]) -> Noise:
    r"""Draw the paper's time-varying, non-zero-mean, non-unit-variance noise; ``shape = (L, m, C)``.

    Per layer :math:`l` and unit :math:`j`: :math:`\mu_j \sim U(-n_\mu, n_\mu)`,
    :math:`\sigma_j \sim U(1, n_\sigma)`; per element: :math:`m_{bj} \sim U(\mu_j - r_\mu, \mu_j + r_\mu)`,
    :math:`s_{bj} \sim \mathcal N(\sigma_j, r_\sigma^2)`. Our reading where the sources are
    ambiguous: :math:`(\mu_j, \sigma_j)` are drawn per unit (not one pair per layer) and
    :math:`r_\sigma` is a standard deviation. ``level`` (traceable) scales the noise:
    :math:`n_\mu, n_\sigma - 1, r_\mu, r_\sigma` are multiplied by it, so ``level = 0`` is the identity
    and ``level = 1`` the paper's constants. Call it once per training step.
    """
    L, m, c = shape
    u = jax.random.uniform(key, (L, 3 * m + 2, c), minval=1e-7, maxval=1.0)  # one RNG call a step
    mu = level * n_mu * (2 * u[:, :1] - 1)
    sigma = 1.0 + level * (n_sigma - 1.0) * u[:, 1:2]
    shift = mu + level * r_mu * (2 * u[:, 2:m + 2] - 1)
    # standard normals by Box-Muller from the remaining uniforms
    z = jnp.sqrt(-2.0 * jnp.log(u[:, m + 2:2 * m + 2])) * jnp.cos(2 * jnp.pi * u[:, 2 * m + 2:])
    scale = sigma + level * r_sigma * z
    return Noise(scale, shift)


def identity_noise(L: int, m: int, c: int) -> Noise:
    """Noise that does nothing (scale 1, shift 0)."""
    return Noise(jnp.ones((L, m, c)), jnp.zeros((L, m, c)))


# ------------------------------------------------------------------------------------------------
# The network
# ------------------------------------------------------------------------------------------------
def init(key, sizes: Sequence[int] = SIZES, init: str = "glorot"):
    r"""MLP with ``{"W", "gamma", "beta"}`` hidden layers (:func:`normlab.nets.init_mlp`); Glorot
    initialization (std :math:`\sqrt{2/(\text{fan-in}+\text{fan-out})}`), as in the paper's VGG runs."""
    return nets.init_mlp(key, list(sizes), norm=True, init=init)


def forward(params, x, kind, noise=None, eps: float = 1e-5, choices=(0, 1, 2, 3, 4)):
    r"""Logits and the hidden pre-activations :math:`s\odot(\gamma\,\mathrm{Norm}_k(hW)+\beta)+m`.

    ``noise``: a :class:`Noise` with one (m, C) slice per hidden layer, applied after the
    normalization layer and before the ReLU, or None. ``choices``: the kinds a traced ``kind`` may
    take (fewer choices, fewer operations). Returns ``(logits, pre)``.
    """
    h, pre = x, []
    for i, layer in enumerate(params[:-1]):
        a = layer["gamma"] * normalize(h @ layer["W"], kind, eps, choices) + layer["beta"]
        if noise is not None:
            a = noise.scale[i] * a + noise.shift[i]
        pre.append(a)
        h = jax.nn.relu(a)
    out = params[-1]
    return h @ out["W"] + out["b"], pre


def xent(logits, y):
    """Mean softmax cross-entropy (nats)."""
    logp = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


def loss_fn(params, x, y, kind, noise=None, choices=(0, 1, 2, 3, 4)):
    """Training loss of :func:`forward` (mean cross-entropy, nats)."""
    return xent(forward(params, x, kind, noise, choices=choices)[0], y)


def _sub(p, g, lr):
    return jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g)


def _norm(tree):
    return jnp.sqrt(sum(jnp.sum(a * a) for a in jax.tree_util.tree_leaves(tree)))


# ------------------------------------------------------------------------------------------------
# Measurements: the landscape probe and internal covariate shift
# ------------------------------------------------------------------------------------------------
def probe(loss, theta, etas, *args):
    r"""The landscape along the gradient at ``theta`` (any pytree), for step sizes ``etas`` (K,).

    With :math:`g = \nabla\mathcal L(\theta)` and :math:`\theta_\eta = \theta - \eta g`, returns a
    dict with ``loss`` :math:`\mathcal L(\theta_\eta)` (K,), ``grad_change``
    :math:`\|\nabla\mathcal L(\theta_\eta) - g\|_2` (K,), ``beta``
    :math:`\max_\eta \|\nabla\mathcal L(\theta_\eta) - g\|_2 / \|\eta g\|_2` and ``grad_norm``
    :math:`\|g\|_2`. ``loss(theta, *args)`` is a scalar function; the probe step sizes are ``vmap``-ed.
    """
    g = jax.grad(loss)(theta, *args)
    gn = _norm(g)

    def one(eta):
        th = _sub(theta, g, eta)
        l, g2 = jax.value_and_grad(loss)(th, *args)
        return l, _norm(jax.tree_util.tree_map(jnp.subtract, g2, g))

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
    """
    k = len(layers)
    grads = jax.grad(loss)(layers, *args)
    new = [_sub(p, g, lr) for p, g in zip(layers, grads)]

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


# ------------------------------------------------------------------------------------------------
# Training the MLP, with optional probes
# ------------------------------------------------------------------------------------------------
def train_mlp(params, x, y, key, kind, lr, noise_level=0.0, *, steps: int, every: int = 10,
              batch: int = BATCH, act_layer: int = 2,
              choices: Sequence[int] = (0, 1, 2, 3, 4)):
    r"""Plain SGD, :math:`\theta \leftarrow \theta - \text{lr}\,\nabla\mathcal L`, as ``lax.scan``.

    ``kind``, ``lr`` and ``noise_level`` may be traced (the function ``vmap``s over them). Each
    step samples ``batch`` rows with replacement and a fresh noise draw (the identity when
    ``noise_level = 0``). Returns a dict: ``loss`` (T,), the batch loss of every step; ``act_mean``,
    ``act_std`` (T, C): mean and std over the step's batch of every unit of hidden layer
    ``act_layer``'s pre-activation (after the noise: the input of the ReLU); ``act_pct`` (T, 3): its
    15th, 50th, 85th percentiles for unit 0; and every ``every`` steps a checkpoint for the
    landscape and ICS measurements, ``ckpt`` (the parameters, leading axis T/every) with the batch
    ``ckpt_idx`` (T/every, batch) that step trained on.
    """
    x, y = jnp.asarray(x), jnp.asarray(y)
    n = x.shape[0]
    L, C = len(params) - 1, params[0]["W"].shape[1]
    pct = jnp.round(jnp.array([0.15, 0.5, 0.85]) * (batch - 1)).astype(jnp.int32)

    def step(p, k):
        kb, kn = jax.random.split(k)
        idx = jax.random.randint(kb, (batch,), 0, n)
        noise = sample_noise(kn, (L, batch, C), noise_level)

        def f(q):
            logits, pre = forward(_freeze(q, p, kind), x[idx], kind, noise, choices=choices)
            return xent(logits, y[idx]), pre[act_layer]

        (l, a), g = jax.value_and_grad(f, has_aux=True)(p)
        rec = {"loss": l, "act_mean": jnp.mean(a, 0), "act_std": jnp.std(a, 0),
               "act_pct": jnp.sort(a[:, 0])[pct], "idx": idx}
        return _sub(p, g, lr), rec

    def block(p, ks):
        p_new, rec = jax.lax.scan(step, p, ks)
        rec["ckpt"], rec["ckpt_idx"] = p, rec.pop("idx")[0]
        return p_new, rec

    if steps % every:
        raise ValueError(f"steps ({steps}) must be a multiple of every ({every})")
    keys = jax.random.split(key, steps).reshape(steps // every, every, -1)
    _, hist = jax.lax.scan(block, params, keys)
    out = {k: v.reshape((steps,) + v.shape[2:]) for k, v in hist.items() if k not in ("ckpt", "ckpt_idx")}
    out["ckpt"], out["ckpt_idx"] = hist["ckpt"], hist["ckpt_idx"]
    return out


def measure_mlp(params, xb, yb, kind, lr, etas_mult=PROBE_MULTIPLES, with_ics: bool = True,
                choices: Sequence[int] = (0, 1, 2, 3, 4)):
    """The landscape probe (:func:`probe`) and, if asked, the ICS (:func:`ics`) at one checkpoint.

    Returns ``probe_loss``, ``probe_dgrad`` (K,), ``beta``, ``grad_norm`` and ``ics_l2``,
    ``ics_cos`` (layers,). ``vmap`` it over checkpoints and runs: no loop, one batched computation.
    """
    f = lambda q: loss_fn(_freeze(q, params, kind), xb, yb, kind, None, choices)
    pr = probe(f, params, lr * jnp.asarray(etas_mult))
    out = {"probe_loss": pr["loss"], "probe_dgrad": pr["grad_change"], "beta": pr["beta"],
           "grad_norm": pr["grad_norm"]}
    if with_ics:
        out["ics_l2"], out["ics_cos"] = ics(f, params, lr, key="W")
    return out


def measure_run(hist, x, y, kind, lr, **kw):
    """:func:`measure_mlp` at every checkpoint of one :func:`train_mlp` history (one ``vmap``)."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    return jax.vmap(lambda p, i: measure_mlp(p, x[i], y[i], kind, lr, **kw))(
        hist["ckpt"], hist["ckpt_idx"])


def _freeze(q, p, kind):
    """For the standard network (kind 0) hold gamma at its value in ``p``: no gradient flows to it."""
    on = (jnp.asarray(kind) != 0)
    return [dict(lq, gamma=jnp.where(on, lq["gamma"], jax.lax.stop_gradient(lp["gamma"])))
            if "gamma" in lq else lq for lq, lp in zip(q, p)]


# ------------------------------------------------------------------------------------------------
# The deep linear network (25 layers of 10 x 10)
# ------------------------------------------------------------------------------------------------
DLN_DEPTH, DLN_WIDTH, DLN_N = 25, 10, 256


def dln_init(key, depth: int = DLN_DEPTH, d: int = DLN_WIDTH):
    r"""``{"W": (depth, d, d), "gamma", "beta": (depth-1, d)}``; Glorot init, std :math:`1/\sqrt d`."""
    W = jax.random.normal(key, (depth, d, d)) * (2.0 / (d + d)) ** 0.5
    return {"W": W, "gamma": jnp.ones((depth - 1, d)), "beta": jnp.zeros((depth - 1, d))}


def dln_forward(params, x, bn, eps: float = 1e-5):
    r""":math:`f(x) = x W_1 \cdots W_{k}` (row vectors), with BN (``bn`` = 1, may be traced) after
    every layer but the last: :math:`h \leftarrow \gamma_i \mathrm{BN}(h W_i) + \beta_i`."""
    bn = jnp.asarray(bn, x.dtype)

    def layer(h, p):
        W, g, b = p
        z = h @ W
        zn = g * (z - jnp.mean(z, 0)) / jnp.sqrt(jnp.var(z, 0) + eps) + b
        return bn * zn + (1 - bn) * z, None

    h, _ = jax.lax.scan(layer, x, (params["W"][:-1], params["gamma"], params["beta"]))
    return h @ params["W"][-1]


def dln_loss(params, x, y, bn):
    r"""Mean squared error :math:`\frac1n\sum_b \|f(x_b) - A x_b\|^2`. For the standard network
    (``bn`` = 0) gamma and beta are unused, so their gradients are zero."""
    return jnp.mean(jnp.sum((dln_forward(params, x, bn) - y) ** 2, axis=1))


def dln_ics(params, x, y, bn, lr):
    r"""Definition 2.1 for every layer of the deep linear network at one gradient step.

    Returns ``(l2, cos)``, each (depth,), measured on :math:`W_i`; layer *i*'s :math:`G'` is taken
    after :math:`W_j, \gamma_j, \beta_j` for :math:`j < i` have stepped (one ``vmap`` over *i*).
    """
    g = jax.grad(dln_loss)(params, x, y, bn)
    new = _sub(params, g, lr)
    depth = params["W"].shape[0]

    def shifted(i):
        mixed = {"W": jnp.where((jnp.arange(depth) < i)[:, None, None], new["W"], params["W"]),
                 "gamma": jnp.where((jnp.arange(depth - 1) < i)[:, None], new["gamma"], params["gamma"]),
                 "beta": jnp.where((jnp.arange(depth - 1) < i)[:, None], new["beta"], params["beta"])}
        return jax.grad(dln_loss)(mixed, x, y, bn)["W"][i]

    G = g["W"].reshape(depth, -1)
    Gp = jax.vmap(shifted)(jnp.arange(depth)).reshape(depth, -1)
    l2 = jnp.linalg.norm(G - Gp, axis=1)
    cos = jnp.sum(G * Gp, 1) / (jnp.linalg.norm(G, axis=1) * jnp.linalg.norm(Gp, axis=1) + 1e-30)
    return l2, cos


def train_dln(params, x, y, bn, lr, *, steps: int, every: int = 10):
    r"""Full-batch gradient descent on the deep linear network; ``bn`` and ``lr`` may be traced.

    Returns ``loss`` (T,) and, every ``every`` steps, ``ics_l2``, ``ics_cos`` (T/every, depth).
    """
    def step(p, _):
        l, g = jax.value_and_grad(dln_loss)(p, x, y, bn)
        return _sub(p, g, lr), l

    def block(p, _):
        l2, cos = dln_ics(p, x, y, bn, lr)
        p, losses = jax.lax.scan(step, p, None, length=every)
        return p, {"loss": losses, "ics_l2": l2, "ics_cos": cos}

    _, h = jax.lax.scan(block, params, None, length=steps // every)
    h["loss"] = h["loss"].reshape(-1)
    return h


# ------------------------------------------------------------------------------------------------
# The theory (Section 4): one BN layer, epsilon = 0, biased batch variance, float64
# ------------------------------------------------------------------------------------------------
def standardize(y):
    r""":math:`\hat y = (y - \mu)/\sigma` per column of ``y`` (m, C), biased :math:`\sigma`,
    :math:`\epsilon = 0`. Returns ``(yhat, sigma)``."""
    mu = jnp.mean(y, axis=0)
    sigma = jnp.sqrt(jnp.mean((y - mu) ** 2, axis=0))
    return (y - mu) / sigma, sigma


def thm41_rhs(g, yhat, gamma, sigma):
    r"""Theorem 4.1's right-hand side for one unit (vectors of length m):
    :math:`\frac{\gamma^2}{\sigma^2}\big(\|g\|^2 - \frac1m\langle\mathbf 1, g\rangle^2
    - \frac1m\langle g, \hat y\rangle^2\big)`, with :math:`g = \partial\mathcal L/\partial z`."""
    m = g.shape[0]
    return gamma**2 / sigma**2 * (jnp.sum(g * g) - jnp.sum(g) ** 2 / m - jnp.dot(g, yhat) ** 2 / m)


def _coupled_loss(z, U, V, a, b):
    return jnp.sum(jnp.tanh(z @ U) * a) + 0.5 * jnp.sum((z @ V) ** 2) + jnp.sum(z**3 * b) / 6


def random_instance(seed: int = 0, m: int = 7, c: int = 3):
    r"""A random BN layer and a smooth, non-convex downstream loss :math:`\mathcal L(z)` coupling
    all units: :math:`\mathcal L(z) = \sum \tanh(zU)\odot a + \frac12\|zV\|^2 + \sum z^3 \odot b / 6`.
    Returns ``(y, gamma, beta, loss_z)`` in float64 (call inside :func:`normlab.float64`)."""
    y, gamma, beta, coeffs = _instance_arrays(seed, m, c)
    return y, gamma, beta, functools.partial(_loss_from, coeffs=coeffs)


def _loss_from(z, coeffs):
    return _coupled_loss(z, *coeffs)


def _instance_arrays(seed, m, c):
    rng = np.random.default_rng(seed)
    y = jnp.asarray(rng.normal(rng.normal(size=c), rng.uniform(0.5, 3.0, size=c), size=(m, c)))
    gamma = jnp.asarray(rng.uniform(0.5, 2.0, size=c))
    beta = jnp.asarray(rng.normal(size=c))
    coeffs = (jnp.asarray(rng.normal(size=(c, 4))), jnp.asarray(rng.normal(size=(c, c))),
              jnp.asarray(rng.normal(size=(m, 4))), jnp.asarray(rng.normal(size=(m, c))))
    return y, gamma, beta, coeffs


def bn_loss(y, gamma, beta, loss_z):
    r""":math:`\hat{\mathcal L}(y) = \mathcal L(\gamma\hat y + \beta)`: the loss seen through a BN layer."""
    return loss_z(gamma * standardize(y)[0] + beta)


@functools.partial(jax.jit, static_argnums=4)
def _thm41_core(y, gamma, beta, coeffs, j):
    loss_z = functools.partial(_loss_from, coeffs=coeffs)
    yhat, sigma = standardize(y)
    g = jax.grad(loss_z)(gamma * yhat + beta)[:, j]
    lhs = jnp.sum(jax.grad(bn_loss)(y, gamma, beta, loss_z)[:, j] ** 2)
    return lhs, thm41_rhs(g, yhat[:, j], gamma[j], sigma[j]), jnp.sum(g * g)


def thm41(seed: int = 0, j: int = 0, m: int = 7):
    """Theorem 4.1 on a random instance: ``{"lhs": ||grad_y_j L_hat||^2 (autodiff), "rhs", "rel"}``."""
    from normlab.checks import rel_error

    lhs, rhs, plain = _thm41_core(*_instance_arrays(seed, m, 3), j)
    return {"lhs": float(lhs), "rhs": float(rhs), "rel": rel_error(lhs, rhs), "plain": float(plain)}


@functools.partial(jax.jit, static_argnums=4)
def _thm42_core(y, gamma, beta, coeffs, j):
    loss_z = functools.partial(_loss_from, coeffs=coeffs)
    m = y.shape[0]
    yhat, sigma = standardize(y)
    z = gamma * yhat + beta
    g = jax.grad(loss_z)(z)[:, j]
    v = jax.grad(bn_loss)(y, gamma, beta, loss_z)[:, j]
    E = jnp.zeros_like(y).at[:, j].set(v)  # the direction v in column j only

    def second(f, x0):
        return jax.jvp(lambda t: jnp.vdot(jax.grad(f)(x0 + t * E), E), (0.0,), (1.0,))[1]

    lhs = second(lambda yy: bn_loss(yy, gamma, beta, loss_z), y)
    vHv = second(loss_z, z)
    s2 = sigma[j] ** 2
    rhs = gamma[j] ** 2 / s2 * vHv - gamma[j] / (m * s2) * jnp.dot(g, yhat[:, j]) * jnp.sum(v * v)
    return lhs, rhs


def thm42(seed: int = 0, j: int = 0, m: int = 7):
    r"""Theorem 4.2 (first form, an equality here) on a random instance.

    With :math:`v = \nabla_{y_j}\hat{\mathcal L}`, :math:`g = \partial\mathcal L/\partial z_j` and
    :math:`H_{jj} = \partial^2\mathcal L/\partial z_j^2`:
    :math:`v^\top \frac{\partial^2\hat{\mathcal L}}{\partial y_j^2} v = \frac{\gamma^2}{\sigma^2}
    v^\top H_{jj} v - \frac{\gamma}{m\sigma^2}\langle g, \hat y_j\rangle \|v\|^2`.
    Both quadratic forms are second directional derivatives (``jax.jvp`` of ``jax.grad``).
    """
    from normlab.checks import rel_error

    lhs, rhs = _thm42_core(*_instance_arrays(seed, m, 3), j)
    return {"lhs": float(lhs), "rhs": float(rhs), "rel": rel_error(lhs, rhs)}


def lemma45(seed: int = 0, shape=(6, 4)):
    r"""Lemma 4.5 on a random instance with :math:`\langle W_0, W^*\rangle > 0`.

    BN is invariant to :math:`W \to kW` (k > 0, :math:`\epsilon = 0`), so the whole ray
    :math:`\{kW^*\}` is optimal for the BN network; its closest point to :math:`W_0` is at
    :math:`k^* = \langle W_0, W^*\rangle/\|W^*\|^2`. Returns the distance found by minimizing over k
    with JAX (``lhs``), the lemma's right-hand side (``rhs``), the standard distance
    :math:`\|W_0 - W^*\|^2`, and the relative change of a BN layer's output between :math:`W^*` and
    :math:`k^*W^*` (``invariance``).
    """
    from normlab.checks import rel_error

    rng = np.random.default_rng(seed)
    W0 = jnp.asarray(rng.normal(size=shape))
    Ws = jnp.asarray(rng.normal(size=shape))
    Ws = jnp.where(jnp.vdot(W0, Ws) > 0, Ws, -Ws)
    d = lambda k: jnp.sum((W0 - k * Ws) ** 2)
    k = 1.0 - jax.grad(d)(1.0) / jax.grad(jax.grad(d))(1.0)  # one Newton step: exact for a quadratic
    n2, ip = jnp.sum(Ws**2), jnp.vdot(W0, Ws)
    rhs = jnp.sum((W0 - Ws) ** 2) - (n2 - ip) ** 2 / n2
    x = jnp.asarray(rng.normal(size=(16, shape[0])))
    inv = rel_error(standardize(x @ (k * Ws))[0], standardize(x @ Ws)[0])
    return {"lhs": float(d(k)), "rhs": float(rhs), "rel": rel_error(d(k), rhs), "k": float(k),
            "standard": float(jnp.sum((W0 - Ws) ** 2)), "invariance": inv}


def obs43(seed: int = 0):
    r"""Observation 4.3: with :math:`\gamma = \sigma_j`, :math:`\beta = \mu_j` a BN layer returns
    :math:`y = xW` unchanged. Returns the relative error."""
    from normlab.checks import rel_error

    rng = np.random.default_rng(seed)
    y = jnp.asarray(rng.normal(rng.normal(size=5), 2.0, size=(9, 5)))
    yhat, sigma = standardize(y)
    return rel_error(sigma * yhat + jnp.mean(y, 0), y)


# ------------------------------------------------------------------------------------------------
# The experiments (memoised: the notebook, the claims table and the tests share one run)
# ------------------------------------------------------------------------------------------------
# The MLP runs of the main experiment: (name, kind, noise level), all at MAIN_LR.
RUNS = (("standard", 0, 0.0), ("bn", 1, 0.0), ("bn+noise", 1, 1.0), ("standard+noise", 0, 1.0),
        ("l1", 2, 0.0), ("l2", 3, 0.0), ("linf", 4, 0.0))
MEASURED = ("standard", "bn", "l1", "l2", "linf")  # runs that get the landscape and ICS probes
MAIN_LR, STEPS, EVERY = 0.1, 200, 10
EXPLORE_LRS = (0.03, 0.1, 0.3, 1.0)
EXPLORE_LEVELS = (0.0, 1.0, 2.0)


def _np(tree):
    return jax.tree_util.tree_map(np.asarray, tree)


def _specs():
    """Every MLP run of the chapter, once: (kind, lr, noise level). The main experiment and the
    explorables' website grids are slices of this one list, so they share two compilations."""
    specs = [(k, MAIN_LR, lv) for _, k, lv in RUNS]
    for lr in EXPLORE_LRS:
        for lv in EXPLORE_LEVELS:
            for k in (0, 1):
                specs.append((k, lr, lv))
    return list(dict.fromkeys(specs))


@functools.lru_cache(maxsize=1)
def _setup():
    with jax.ensure_compile_time_eval():
        d = _data.digits()
        return (np.asarray(d["x_train"]), np.asarray(d["y_train"]),
                _np(init(jax.random.PRNGKey(0))))


def _train_runs(kinds, lrs, levels):
    x, y, p0 = _setup()
    return jax.vmap(lambda k, lr, lv: train_mlp(p0, x, y, jax.random.PRNGKey(1), k, lr, lv,
                                                steps=STEPS, every=EVERY))(kinds, lrs, levels)


def _measure_runs(ckpt, ckpt_idx, kinds, lrs, with_ics: bool = True):
    x, y, _ = _setup()
    return jax.vmap(lambda c, i, k, lr: measure_run({"ckpt": c, "ckpt_idx": i}, x, y, k, lr,
                                                    with_ics=with_ics))(ckpt, ckpt_idx, kinds, lrs)


@functools.lru_cache(maxsize=1)
def all_runs():
    """Train every run of :func:`_specs` in one ``jit(vmap)`` and probe the noise-free ones at every
    ``EVERY``-th step in a second. Returns ``(specs, hist, measured_specs, meas)`` (NumPy)."""
    from concurrent.futures import ThreadPoolExecutor

    specs = _specs()
    kinds, lrs, levels = (jnp.array(v) for v in zip(*specs))
    sel = jnp.array([i for i, (k, lr, lv) in enumerate(specs) if lv == 0.0])
    pick = lambda h: (jax.tree_util.tree_map(lambda a: a[sel], h["ckpt"]), h["ckpt_idx"][sel],
                      kinds[sel], lrs[sel])
    shapes = jax.eval_shape(lambda k, lr, lv: pick(_train_runs(k, lr, lv)), kinds, lrs, levels)
    # XLA compiles on one core; compiling the two programs side by side uses both.
    with ThreadPoolExecutor(2) as ex:
        ft = ex.submit(lambda: jax.jit(_train_runs).lower(kinds, lrs, levels).compile())
        fm = ex.submit(lambda: jax.jit(_measure_runs).lower(*shapes).compile())
        train_c, meas_c = ft.result(), fm.result()
    hist = train_c(kinds, lrs, levels)
    meas = meas_c(*pick(hist))
    hist = _np({k: v for k, v in hist.items() if k not in ("ckpt", "ckpt_idx")})
    return specs, hist, [specs[i] for i in np.asarray(sel)], _np(meas)


def get_run(kind: int, lr: float, level: float = 0.0) -> dict:
    """One run's history from :func:`all_runs` (with its probe records if it was measured)."""
    specs, hist, mspecs, meas = all_runs()
    key = (kind, lr, level)
    out = {k: v[specs.index(key)] for k, v in hist.items()}
    if key in mspecs:
        out.update({k: v[mspecs.index(key)] for k, v in meas.items()})
    return out


def mlp_experiment() -> dict:
    """The main MLP experiment at ``MAIN_LR``: ``{name: history}`` for the seven :data:`RUNS`
    (same initialization and batches), with ``loss`` (T,), ``act_*``, and for :data:`MEASURED`
    the landscape records ``probe_loss``, ``probe_dgrad`` (T/EVERY, K), ``beta``, ``grad_norm``
    and the ICS records ``ics_l2``, ``ics_cos`` (T/EVERY, layers)."""
    out = {"steps": np.arange(STEPS), "probe_steps": np.arange(0, STEPS, EVERY), "lr": MAIN_LR}
    for name, k, lv in RUNS:
        out[name] = get_run(k, MAIN_LR, lv)
    return out


@functools.lru_cache(maxsize=4)
def dln_experiment(lr: float = 1e-3, steps: int = 100, every: int = 10, n: int = DLN_N,
                   seed: int = 0) -> dict:
    """The 25-layer deep linear network on Gaussian-teacher data, full-batch GD, standard and BN
    (one ``vmap``); ICS of every layer every ``every`` steps. Returns ``{"standard": h, "bn": h}``."""
    d = _data.gaussian_teacher(jax.random.PRNGKey(seed), n=n)
    p0 = dln_init(jax.random.PRNGKey(seed + 1))
    h = jax.jit(jax.vmap(lambda bn: train_dln(p0, d["x"], d["y"], bn, lr, steps=steps,
                                              every=every)))(jnp.array([0.0, 1.0]))
    h = _np(h)
    return {"standard": {k: v[0] for k, v in h.items()}, "bn": {k: v[1] for k, v in h.items()},
            "steps": np.arange(steps), "probe_steps": np.arange(0, steps, every), "lr": lr}


def run_all():
    """``(mlp_experiment(), dln_experiment())``, the DLN compiled and run in a second thread
    while the MLP programs compile (XLA compiles on one core; this uses two)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as ex:
        fd = ex.submit(dln_experiment)
        E = mlp_experiment()
        return E, fd.result()


def smooth(curve, window: int = 10):
    """Running mean over ``window`` steps (NaN-safe enough for plotting: NaN propagates)."""
    c = np.asarray(curve, dtype=float)
    if len(c) < window:
        return c
    k = np.ones(window) / window
    return np.concatenate([np.cumsum(c[:window - 1]) / np.arange(1, window), np.convolve(c, k, "valid")])


def instability(h) -> float:
    """Mean step-to-step change of a layer's per-unit mean and std over the training batches,
    :math:`\\frac1{TC}\\sum_{t,j} |\\mu_{t+1,j}-\\mu_{t,j}| + |s_{t+1,j}-s_{t,j}|`."""
    return float(np.mean(np.abs(np.diff(h["act_mean"], axis=0)) + np.abs(np.diff(h["act_std"], axis=0))))


def landscape_summary(h) -> dict:
    """Averages over the probed steps: loss variation (max - min of the loss along the gradient),
    gradient predictiveness (max of the gradient change) and effective beta-smoothness."""
    return {"loss_var": float(np.mean(np.ptp(h["probe_loss"], axis=1))),
            "grad_change": float(np.mean(np.max(h["probe_dgrad"], axis=1))),
            "beta": float(np.mean(h["beta"]))}


def final_loss(h, last: int = 50) -> float:
    return float(np.mean(h["loss"][-last:]))


def mean_loss(h) -> float:
    """The training loss averaged over the whole run (the area under the curve / T)."""
    return float(np.mean(h["loss"]))


# ------------------------------------------------------------------------------------------------
# Figures (NumPy in, Figure out)
# ------------------------------------------------------------------------------------------------
def _band(ax, x, lo, hi, color, label):
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    ok = np.isfinite(lo) & np.isfinite(hi)
    ax.fill_between(np.asarray(x)[ok], lo[ok], hi[ok], color=color, alpha=0.35, lw=0)
    return style.plot_curve(ax, x, hi, color=color, label=label, lw=1.0)


def plot_landscape(E: dict, names=("standard", "bn"), title=None):
    """Three panels over training: the loss along the gradient (min-max band over the probe step
    sizes), the gradient change (band) and the effective beta-smoothness."""
    fig, ax = style.figure(3, 1, width=3.6, height=2.8, title=title)
    t = E["probe_steps"]
    for n in names:
        h, c = E[n], KIND_COLORS[n]
        _band(ax[0, 0], t, h["probe_loss"].min(1), h["probe_loss"].max(1), c, LABELS[n])
        _band(ax[0, 1], t, h["probe_dgrad"].min(1), h["probe_dgrad"].max(1), c, LABELS[n])
        style.plot_curve(ax[0, 2], t, h["beta"], color=c, label=LABELS[n], lw=1.2)
    ax[0, 0].set(xlabel="training step", ylabel="loss along gradient (nats)", title="loss landscape")
    ax[0, 1].set(xlabel="training step", ylabel=r"$\|\nabla L(\theta-\eta g)-g\|_2$",
                 title="gradient predictiveness")
    ax[0, 2].set(xlabel="training step", ylabel=r"max $\|\Delta\nabla L\|/\|\Delta\theta\|$",
                 title=r"effective $\beta$-smoothness")
    for a in ax[0, 1:]:
        style.log_y(a)
    ax[0, 0].legend(loc="upper right")
    return fig


def plot_noisy(E: dict):
    """Training loss of the four noisy-BN runs (running mean over 10 steps) and the 15-50-85th
    percentiles of one unit's pre-activation in layer 3 over training, on each step's batch."""
    fig, ax = style.figure(2, 1, width=4.2, height=3.0)
    t = E["steps"]
    for n in ("standard", "bn", "bn+noise", "standard+noise"):
        style.plot_curve(ax[0, 0], t, smooth(E[n]["loss"]), color=KIND_COLORS[n], label=LABELS[n])
    ax[0, 0].set(xlabel="training step", ylabel="training loss (nats)", title="training")
    ax[0, 0].legend()
    for n in ("standard", "bn", "bn+noise"):
        p = E[n]["act_pct"]
        ax[0, 1].fill_between(t, p[:, 0], p[:, 2], color=KIND_COLORS[n], alpha=0.25, lw=0)
        ax[0, 1].plot(t, p[:, 1], color=KIND_COLORS[n], lw=1.0, label=LABELS[n])
    ax[0, 1].set(xlabel="training step", ylabel="pre-activation (a.u.)",
                 title="one unit of layer 3: 15-50-85th pct")
    ax[0, 1].legend(fontsize=8)
    return fig


def plot_ics(E: dict, D: dict, mlp_layer: int = 3, dln_layer: int = 12):
    """ICS (Definition 2.1) over training: l2 difference and cosine of G and G' for one layer of
    the MLP and of the deep linear network, standard vs BN."""
    fig, ax = style.figure(4, 1, width=2.9, height=2.7)
    for col, (R, layer, name) in enumerate([(E, mlp_layer, "MLP"), (D, dln_layer, "DLN")]):
        t = R["probe_steps"]
        for n in ("standard", "bn"):
            style.plot_curve(ax[0, 2 * col], t, R[n]["ics_l2"][:, layer], color=KIND_COLORS[n],
                             label=LABELS[n])
            style.plot_curve(ax[0, 2 * col + 1], t, R[n]["ics_cos"][:, layer],
                             color=KIND_COLORS[n], label=LABELS[n])
        ax[0, 2 * col].set(xlabel="training step", ylabel=r"$\|G-G'\|_2$",
                           title=f"{name}, layer {layer + 1}: l2")
        ax[0, 2 * col + 1].set(xlabel="training step", ylabel=r"$\cos\angle(G, G')$",
                               title=f"{name}, layer {layer + 1}: cosine", ylim=(-1.05, 1.05))
    ax[0, 0].legend(fontsize=8)
    return fig


def plot_lp(E: dict):
    """Training loss (running mean) of the standard, BN and l_p-normalized MLPs."""
    fig, ax = style.figure(1, 1, width=4.5, height=3.0)
    for n in ("standard",) + KINDS[1:]:
        style.plot_curve(ax[0, 0], E["steps"], smooth(E[n]["loss"]), color=KIND_COLORS[n],
                         label=LABELS[n])
    ax[0, 0].set(xlabel="training step", ylabel="training loss (nats)",
                 title=r"BN and $\ell_p$ normalizations")
    ax[0, 0].legend()
    return fig


def plot_dln_loss(D: dict):
    """Training loss of the deep linear network, standard vs BN."""
    fig, ax = style.figure(1, 1, width=4.0, height=2.8)
    for n in ("standard", "bn"):
        style.plot_curve(ax[0, 0], D["steps"], D[n]["loss"], color=KIND_COLORS[n], label=LABELS[n])
    ax[0, 0].set(xlabel="gradient step (full batch)", ylabel="mean squared error",
                 title="25-layer deep linear network")
    ax[0, 0].legend()
    return fig


# ------------------------------------------------------------------------------------------------
# Explorables
# ------------------------------------------------------------------------------------------------
from normlab import explore  # noqa: E402


def explore_compute(lr, noise):
    """Four runs at one (lr, noise level): standard, BN, standard + noise, BN + noise, and the
    landscape probe of the two noise-free runs. Pure JAX, vmap-able (the live view); the website
    grid is assembled from :func:`all_runs`, which trains the same runs."""
    x, y, _ = _setup()
    kinds = jnp.array([0, 1, 0, 1])
    z = 0.0 * noise
    h = _train_runs(kinds, jnp.stack([lr, lr, lr, lr]), jnp.stack([z, z, noise, noise]))
    m = _measure_runs(jax.tree_util.tree_map(lambda a: a[:2], h["ckpt"]), h["ckpt_idx"][:2],
                      kinds[:2], jnp.stack([lr, lr]), with_ics=False)
    return {"loss": h["loss"], "pct": h["act_pct"], "probe_loss": m["probe_loss"],
            "probe_dgrad": m["probe_dgrad"], "beta": m["beta"]}


@functools.lru_cache(maxsize=1)
def explore_grid():
    """The website grid of both explorables, (lr, noise level, run, ...), from :func:`all_runs`."""
    def point(lr, lv):
        runs = [get_run(0, lr, 0.0), get_run(1, lr, 0.0), get_run(0, lr, lv), get_run(1, lr, lv)]
        return {"loss": np.stack([r["loss"] for r in runs]),
                "pct": np.stack([r["act_pct"] for r in runs]),
                **{k: np.stack([r[k] for r in runs[:2]]) for k in ("probe_loss", "probe_dgrad", "beta")}}

    pts = [[point(lr, lv) for lv in EXPLORE_LEVELS] for lr in EXPLORE_LRS]
    return {k: np.stack([np.stack([p[k] for p in row]) for row in pts]) for k in pts[0][0]}


def _explore_as_runs(r):
    names = ("standard", "bn", "standard+noise", "bn+noise")
    out = {"steps": np.arange(STEPS), "probe_steps": np.arange(0, STEPS, EVERY)}
    for i, n in enumerate(names):
        out[n] = {"loss": r["loss"][i], "act_pct": r["pct"][i]}
    for i, n in enumerate(names[:2]):
        out[n].update(probe_loss=r["probe_loss"][i], probe_dgrad=r["probe_dgrad"][i], beta=r["beta"][i])
    return out


def _plot_noisy_explore(r, lr, noise):
    fig = plot_noisy(_explore_as_runs(r))
    fig.suptitle(f"learning rate {lr:.3g}, noise level {noise:.2g} x the paper's", fontsize=10)
    return fig


def _plot_landscape_explore(r, lr):
    return plot_landscape(_explore_as_runs(r), title=f"learning rate {lr:.3g}; probe steps "
                          f"eta in [0.5, 4] x lr")


def noisy_explorable() -> explore.Explorable:
    """Sliders: learning rate and noise level (x the paper's constants)."""
    return explore.Explorable(
        compute=explore_compute,
        sliders=[explore.Slider("lr", "learning rate", EXPLORE_LRS, default=0.1, log=True),
                 explore.Slider("noise", "noise level (x paper)", EXPLORE_LEVELS, default=1.0)],
        plot=_plot_noisy_explore, title="Noisy BatchNorm: training with injected covariate shift",
        caption="Training loss of a 6-layer MLP on the digits: standard, BatchNorm, and both with "
                "time-varying noise after every (normalization) layer; right: one unit's "
                "pre-activation percentiles over training.",
        grid_fn=explore_grid)


def landscape_explorable() -> explore.Explorable:
    """Slider: learning rate. The landscape bands of the standard and BN MLPs."""
    return explore.Explorable(
        compute=lambda lr: explore_compute(lr, 0.0 * lr),
        sliders=[explore.Slider("lr", "learning rate", EXPLORE_LRS, default=0.1, log=True)],
        plot=_plot_landscape_explore, title="The loss landscape along the gradient, standard vs BN",
        caption="At every 5th training step, the loss, the gradient change and the effective "
                "beta-smoothness when moving eta in [0.5, 4] x lr along the gradient; shaded: "
                "min-max over eta.",
        grid_fn=lambda: jax.tree_util.tree_map(lambda a: a[:, 0], explore_grid()))


# ------------------------------------------------------------------------------------------------
# Claims (the chapter's table, ``python -m normlab claims --chapter 5`` and the tests)
# ------------------------------------------------------------------------------------------------
def _identities():
    import normlab

    with normlab.float64():
        return ([thm41(s)["rel"] for s in range(3)], [thm42(s)["rel"] for s in range(3)],
                [lemma45(s)["rel"] for s in range(3)])


def _claim_thm41():
    r = max(_identities()[0])
    return f"max rel. error {r:.1e} on 3 random instances (float64, eps = 0, biased variance)", r < 1e-10


def _claim_thm42():
    r = max(_identities()[1])
    return f"max rel. error {r:.1e} on 3 random instances (float64)", r < 1e-10


def _claim_lemma45():
    r = max(_identities()[2])
    import normlab

    with normlab.float64():
        inv = lemma45(0)["invariance"]
    return (f"identity max rel. error {r:.1e}; BN output at k*W* vs W*: rel. change {inv:.0e}",
            r < 1e-10 and inv < 1e-10)


def _claim_noisy_bn():
    E = mlp_experiment()
    s, b, bn_n = (mean_loss(E[n]) for n in ("standard", "bn", "bn+noise"))
    return (f"mean training loss over {STEPS} steps: BN + noise {bn_n:.3f}, BN {b:.3f}, "
            f"standard {s:.3f}", bn_n < s and bn_n < 1.5 * b)


def _claim_noisy_unstable():
    E = mlp_experiment()
    i = {n: instability(E[n]) for n in ("standard", "bn", "bn+noise")}
    return (f"layer-3 distribution change per step: BN + noise {i['bn+noise']:.3f}, standard "
            f"{i['standard']:.3f}, BN {i['bn']:.3f}", i["bn+noise"] > 3 * i["standard"])


def _claim_standard_noise():
    E = mlp_experiment()
    s, sn = final_loss(E["standard"]), final_loss(E["standard+noise"])
    return (f"final training loss (last 50 steps): standard + noise {sn:.3f} vs standard {s:.3f}",
            sn > 2 * s)


def _ics_means(R):
    return {n: (float(np.nanmean(R[n]["ics_l2"])), float(np.nanmean(R[n]["ics_cos"])))
            for n in ("standard", "bn")}


def _claim_ics_mlp():
    m = _ics_means(mlp_experiment())
    (sl, sc), (bl, bc) = m["standard"], m["bn"]
    return (f"MLP, mean over layers and steps: l2 standard {sl:.3f} vs BN {bl:.3f}; cosine "
            f"standard {sc:.2f} vs BN {bc:.2f}", bl > 0.5 * sl and abs(bc - sc) < 0.2)


def _claim_ics_dln():
    m = _ics_means(dln_experiment())
    (sl, sc), (bl, bc) = m["standard"], m["bn"]
    return (f"DLN, mean over layers and steps: cosine standard {sc:.2f} vs BN {bc:.2f}; l2 "
            f"standard {sl:.1f} vs BN {bl:.1f}", bc < sc)


def _claim_landscape():
    E = mlp_experiment()
    s, b = landscape_summary(E["standard"]), landscape_summary(E["bn"])
    r1, r2 = s["loss_var"] / b["loss_var"], s["grad_change"] / b["grad_change"]
    return (f"standard / BN: loss variation x{r1:.1f}, gradient change x{r2:.1f}", r1 >= 10 and r2 > 1)


def _claim_beta():
    E = mlp_experiment()
    s, b = landscape_summary(E["standard"]), landscape_summary(E["bn"])
    r = s["beta"] / b["beta"]
    return (f"effective beta: standard {s['beta']:.1f}, BN {b['beta']:.1f} (ratio {r:.2f})",
            0.5 < r < 2.0)


def _claim_lp():
    E = mlp_experiment()
    s = landscape_summary(E["standard"])
    parts, ok = [], True
    for n in ("l1", "l2", "linf"):
        m = landscape_summary(E[n])
        parts.append(f"{n}: loss var. x{s['loss_var'] / m['loss_var']:.0f} smaller, mean loss "
                     f"{mean_loss(E[n]):.2f}")
        ok &= s["loss_var"] / m["loss_var"] >= 5 and mean_loss(E[n]) < mean_loss(E["standard"])
    return "; ".join(parts) + f" (standard mean loss {mean_loss(E['standard']):.2f})", ok


CLAIMS = [
    Claim(5, "Thm 4.1: through BN, ||grad_y L||^2 = (gamma/sigma)^2 (||g||^2 - <1,g>^2/m - <g,yhat>^2/m) "
             "(an equality with eps = 0)",
          "Thm 4.1: the BN gradient norm is at most this bound", _claim_thm41),
    Claim(5, "Thm 4.2: the Hessian quadratic form along the gradient equals (gamma/sigma)^2 v'Hv "
             "- gamma/(m sigma^2) <g,yhat> ||v||^2",
          "Thm 4.2: the quadratic form is at most this bound", _claim_thm42),
    Claim(5, "Lemma 4.5: the BN optimum on the ray k W* is closer to W0 by "
             "(||W*||^2 - <W*,W0>)^2 / ||W*||^2",
          "Lemma 4.5: ||W0 - W*_BN||^2 <= ||W0 - W*||^2 - (||W*||^2 - <W*,W0>)^2/||W*||^2",
          _claim_lemma45),
    Claim(5, "MLP, lr 0.1: BN + noise trains nearly as well as BN and better than standard",
          "noisy BN nearly matches BN and beats the standard network", _claim_noisy_bn),
    Claim(5, "MLP: with noise, BN's layer distributions change far more per step than the "
             "standard network's", "noisy BN's distributions are less stable than the standard "
             "network's", _claim_noisy_unstable),
    Claim(5, "MLP: the same noise in the standard network leaves its loss > 2x higher "
             "(it trains badly, not 'not at all')",
          "the same noise prevents the standard network from training entirely",
          _claim_standard_noise),
    Claim(5, "MLP: BN leaves ICS of the same order as standard (l2 within 2x, cosine within "
             "0.2); here it even lowers it slightly",
          "BN does not reduce ICS (VGG)", _claim_ics_mlp),
    Claim(5, "DLN: BN lowers the cosine between G and G' (more ICS in direction)",
          "in the DLN, BN increases ICS; the standard network has almost none", _claim_ics_dln),
    Claim(5, "MLP: BN shrinks the loss variation along the gradient >= 10x; gradient change "
             "smaller", "BN: loss and gradient change far less along the gradient (up to ~2 "
             "orders of magnitude)", _claim_landscape),
    Claim(5, "MLP: effective beta-smoothness is about the same with and without BN (not "
             "reproduced)", "BN improves the effective beta-smoothness", _claim_beta),
    Claim(5, "MLP: l1, l2, l-inf normalization also flatten the loss (>= 5x) and train better "
             "than standard", "all l_p normalizations smooth the landscape and train like BN",
          _claim_lp),
]

# The chapter's explorables, by name (the benchmark times each one's live slider).
EXPLORABLES = {"noisy_bn": noisy_explorable, "landscape": landscape_explorable}
