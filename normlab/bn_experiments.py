r"""Chapter 1: Batch Normalization, derived and measured.

The experiments behind every number of the chapter, and its ``CLAIMS``:

- :func:`forward_staged`, :func:`backward_staged`, :func:`backward_check`: Algorithm 1 step by
  step, the backward pass as the paper writes it (before simplification) and in compact form, each
  intermediate derivative compared with ``jax.grad`` and central finite differences (float64);
- :func:`scale_invariance`, :func:`weight_growth`: :math:`\mathrm{BN}(aWu) = \mathrm{BN}(Wu)`, the
  :math:`1/a` weight gradient, the identity :math:`\mathrm{BN}_\epsilon(aWu) =
  \mathrm{BN}_{\epsilon/a^2}(Wu)`, and why SGD can only grow a normalized weight vector;
- :func:`jacobian_spectra`: singular values of layer-to-layer Jacobians with and without BN
  (section 3.3 of Ioffe & Szegedy), and how far their assumptions hold;
- :func:`std_bias`, :func:`running_trajectories`, :func:`folded_check`: statistics for inference;
- :func:`training_explorable`, :func:`drift_explorable`: the chapter's two explorables.

Heavy functions are memoised (``functools.lru_cache``) so the notebook and the claims table share
their results. Everything takes explicit seeds; nothing keeps state besides those caches.
"""

from __future__ import annotations

from functools import lru_cache
from math import lgamma

import jax
import jax.numpy as jnp
import numpy as np

import normlab
from normlab import batchnorm, nets, style, train
from normlab.checks import rel_error
from normlab.claims import Claim
from normlab.explore import Explorable, Slider


def init_params(sizes, *, norm: bool, init="he", seed: int = 0, dtype=jnp.float32):
    """:func:`normlab.nets.init_mlp` drawn from an int seed (NumPy; no sampler to compile), so the
    same ``seed`` gives the plain and the BN network the same weights."""
    return nets.init_mlp(int(seed), sizes, norm=norm, init=init, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# 1. Algorithm 1 and its backward pass, step by step
# ---------------------------------------------------------------------------------------------


def forward_staged(x, gamma, beta, eps: float = 1e-5, xp=jnp) -> dict:
    r"""Every intermediate of Algorithm 1 over the batch axis (axis 0 of ``x`` (m, C)).

    :math:`\mu = \frac1m\sum_i x_i`, :math:`\sigma^2 = \frac1m\sum_i (x_i-\mu)^2`,
    :math:`\hat x_i = (x_i-\mu)/\sqrt{\sigma^2+\epsilon}`, :math:`y_i = \gamma\hat x_i+\beta`.
    ``xp``: the array module (``jax.numpy``, or ``numpy`` for finite differences).
    """
    mu = xp.mean(x, axis=0)
    var = xp.mean((x - mu) ** 2, axis=0)
    xhat = (x - mu) / xp.sqrt(var + eps)
    return {"mu": mu, "var": var, "xhat": xhat, "y": gamma * xhat + beta}


def backward_staged(dy, x, gamma, eps: float = 1e-5) -> dict:
    r"""The backward pass of Algorithm 1 by hand, one chain-rule step per entry.

    ``dxhat`` :math:`=\gamma\,\partial\ell/\partial y`; ``dvar`` and ``dmu`` are the paper's
    :math:`\partial\ell/\partial\sigma^2_B` and :math:`\partial\ell/\partial\mu_B`; ``dx_paper`` is
    :math:`\partial\ell/\partial x_i` assembled from them, ``dx`` the compact form
    :math:`\frac{1}{m\sqrt{\sigma^2+\epsilon}}(m g_i - \sum_j g_j - \hat x_i\sum_j g_j\hat x_j)`.
    """
    m = x.shape[0]
    f = forward_staged(x, gamma, 0.0, eps)
    mu, var, xhat = f["mu"], f["var"], f["xhat"]
    xc = x - mu
    inv = 1.0 / jnp.sqrt(var + eps)
    dxhat = dy * gamma
    dvar = jnp.sum(dxhat * xc, axis=0) * (-0.5) * inv**3
    dmu = jnp.sum(dxhat, axis=0) * (-inv) + dvar * jnp.sum(-2.0 * xc, axis=0) / m
    dx_paper = dxhat * inv + dvar * 2.0 * xc / m + dmu / m
    dx = (inv / m) * (m * dxhat - jnp.sum(dxhat, axis=0) - xhat * jnp.sum(dxhat * xhat, axis=0))
    return {"dxhat": dxhat, "dvar": dvar, "dmu": dmu, "dx_paper": dx_paper, "dx": dx,
            "dgamma": jnp.sum(dy * xhat, axis=0), "dbeta": jnp.sum(dy, axis=0)}


def _staged_losses(dy, x, gamma, beta, eps, xp=jnp):
    """For each quantity of :func:`backward_staged`, ``(f, at)``: the scalar function of one
    variable whose gradient at ``at`` it is. The loss is l = sum(dy * y), so dl/dy = dy is a random
    upstream gradient. Each partial derivative holds the node's other inputs fixed, as the
    paper's do."""
    f = forward_staged(x, gamma, beta, eps, xp)
    mu, var, xhat = f["mu"], f["var"], f["xhat"]
    loss_y = lambda y: xp.sum(dy * y)
    fwd = lambda x_, g_, b_: forward_staged(x_, g_, b_, eps, xp)["y"]
    return {
        "dxhat": (lambda xh: loss_y(gamma * xh + beta), xhat),
        "dvar": (lambda v: loss_y(gamma * (x - mu) / xp.sqrt(v + eps) + beta), var),
        # mu reaches x-hat directly and through sigma^2 (the paper's second term)
        "dmu": (lambda u: loss_y(gamma * (x - u) / xp.sqrt(xp.mean((x - u) ** 2, 0) + eps) + beta),
                mu),
        "dx_paper": (lambda z: loss_y(fwd(z, gamma, beta)), x),
        "dx": (lambda z: loss_y(fwd(z, gamma, beta)), x),
        "dgamma": (lambda g: loss_y(fwd(x, g, beta)), gamma),
        "dbeta": (lambda b: loss_y(fwd(x, gamma, b)), beta),
    }


def finite_difference_grad(f, x, h: float = 1e-5) -> np.ndarray:
    r"""Central differences :math:`(f(x+he_k)-f(x-he_k))/2h` for every entry ``k`` of ``x``
    (NumPy, float64)."""
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[k] = h
        g[k] = (float(f(x + e)) - float(f(x - e))) / (2 * h)
    return g


@lru_cache(maxsize=None)
def backward_check(m: int = 8, c: int = 3, eps: float = 1e-5, seed: int = 0) -> dict:
    """Compare every step of :func:`backward_staged` with ``jax.grad`` and finite differences.

    Float64. Returns ``{name: (rel_error_vs_autodiff, rel_error_vs_finite_differences)}``.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(1.0, 2.0, (m, c))
    gamma = rng.normal(1.0, 0.5, c)
    beta = rng.normal(0.0, 0.5, c)
    dy = rng.normal(size=(m, c))

    def hand_and_auto(dy, x, gamma, beta):
        auto = {k: jax.grad(f)(at) for k, (f, at) in _staged_losses(dy, x, gamma, beta, eps).items()}
        return backward_staged(dy, x, gamma, eps), auto

    with normlab.float64():
        hand, auto = jax.jit(hand_and_auto)(dy, x, gamma, beta)
    out = {}
    for name, (f, at) in _staged_losses(dy, x, gamma, beta, eps, np).items():
        fd = finite_difference_grad(f, at)
        out[name] = (rel_error(hand[name], auto[name]), rel_error(hand[name], fd))
    return out


@lru_cache(maxsize=None)
def backward_vs_vjp(seed: int = 0) -> float:
    """Max relative error of :func:`normlab.batchnorm.backward` against ``jax.vjp`` (float64) over
    (N, C) and (N, H, W, C) inputs of several scales and batch sizes, random upstream gradients."""
    rng = np.random.default_rng(seed)

    def both(x, gamma, beta, dy):
        hand = batchnorm.backward(dy, batchnorm.forward(x, gamma, beta)[1])
        _, vjp = jax.vjp(lambda a, g, b: batchnorm.forward(a, g, b)[0], x, gamma, beta)
        return hand, vjp(dy)

    worst = 0.0
    with normlab.float64():
        for shape, scale in [((8, 5), 100.0), ((3, 4, 5, 2), 1e-2)]:
            args = (rng.normal(0.5, scale, shape), rng.normal(1.0, 0.5, shape[-1]),
                    rng.normal(size=shape[-1]), rng.normal(size=shape))
            hand, auto = jax.jit(both)(*args)
            worst = max([worst] + [rel_error(h, a) for h, a in zip(hand, auto)])
    return worst


def draw_graph():
    """The computational graph of Algorithm 1 for one channel, each edge labelled with its local
    derivative (child with respect to parent); the backward pass walks it from right to left."""
    from matplotlib.patches import FancyArrowPatch

    fig, axes = style.figure(1, 1, width=8.0, height=3.4)
    ax = axes[0, 0]
    ax.set_axis_off()
    ax.set_xlim(-0.5, 8.6)
    ax.set_ylim(-1.0, 3.1)
    pos = {"x": (0, 1), "mu": (2.2, 2.5), "var": (4.4, 2.5), "xhat": (6.2, 1), "y": (8.1, 1),
           "gamma": (6.2, -0.25), "beta": (8.1, -0.25)}
    text = {"x": r"$x_i$", "mu": r"$\mu_\mathcal{B}$", "var": r"$\sigma^2_\mathcal{B}$",
            "xhat": r"$\hat x_i$", "y": r"$y_i$", "gamma": r"$\gamma$", "beta": r"$\beta$"}
    for k, (px, py) in pos.items():
        learned = k in ("gamma", "beta")
        ax.text(px, py, text[k], ha="center", va="center", fontsize=15, zorder=3,
                bbox=dict(boxstyle="circle,pad=0.3", fc="#FCE9D9" if learned else "#DCEBF7",
                          ec=style.COLORS["plain"] if learned else style.COLORS["bn"], lw=1.5))
    # (parent, child, label, where along the edge, label offset)
    edges = [("x", "mu", r"$\frac{1}{m}$", 0.45, (-0.25, 0.2)),
             ("x", "var", r"$\frac{2(x_i-\mu)}{m}$", 0.3, (0.05, 0.3)),
             ("mu", "var", r"$-\frac{2}{m}\sum_j (x_j-\mu) = 0$", 0.5, (0, 0.3)),
             ("x", "xhat", r"$\frac{1}{\sqrt{\sigma^2+\epsilon}}$", 0.5, (0, -0.3)),
             ("mu", "xhat", r"$\frac{-1}{\sqrt{\sigma^2+\epsilon}}$", 0.72, (-0.45, -0.2)),
             ("var", "xhat", r"$\frac{-(x_i-\mu)}{2(\sigma^2+\epsilon)^{3/2}}$", 0.45, (1.0, 0.12)),
             ("xhat", "y", r"$\gamma$", 0.5, (0, 0.22)),
             ("gamma", "y", r"$\hat x_i$", 0.5, (0.05, -0.3)),
             ("beta", "y", r"$1$", 0.5, (0.2, 0))]
    for a, b, lab, t, (dx, dy) in edges:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=14,
                                     shrinkA=17, shrinkB=17, lw=1.3, color="#444444"))
        ax.text(x0 + t * (x1 - x0) + dx, y0 + t * (y1 - y0) + dy, lab, fontsize=12,
                ha="center", va="center", color="#222222")
    ax.text(3.2, -0.85, r"forward: left to right.  backward: $\partial\ell/\partial(\mathrm{parent})"
            r" = \sum_{\mathrm{children}} \partial\ell/\partial(\mathrm{child}) \times$ (edge label)",
            ha="center", va="center", fontsize=10, color="#222222")
    return fig


# ---------------------------------------------------------------------------------------------
# 2. Scale invariance and what it does to the weights
# ---------------------------------------------------------------------------------------------

A_VALUES = tuple(float(a) for a in np.logspace(-3, 3, 25))
EPS_VALUES = (0.0, 1e-5, 1e-3, 1e-1)


def bn_linear(W, u, eps: float = 1e-5):
    r""":math:`\mathrm{BN}(uW)` with :math:`\gamma=1,\beta=0`: a linear layer followed by BN."""
    return batchnorm.forward(u @ W, jnp.ones(W.shape[1], W.dtype), jnp.zeros(W.shape[1], W.dtype),
                             eps)[0]


@lru_cache(maxsize=None)
def scale_invariance(a_values=A_VALUES, eps_values=EPS_VALUES, m: int = 32, seed: int = 0) -> dict:
    r"""Measure :math:`\mathrm{BN}(aWu)` against :math:`\mathrm{BN}(Wu)` and the weight gradient.

    For each ``eps`` and ``a`` (float64), with the loss :math:`\ell=\sum dy\odot\mathrm{BN}(uW)`
    and a random ``dy``:

    - ``out``: :math:`\max|\mathrm{BN}(aWu)-\mathrm{BN}(Wu)|/\max|\mathrm{BN}(Wu)|`;
    - ``grad``: relative error of :math:`a\,\nabla_W\ell|_{aW}` against :math:`\nabla_W\ell|_W`;
    - ``u_grad``: relative error of the input gradients :math:`\nabla_u\ell` at ``aW`` and ``W``;
    - ``eps_identity``: relative error of :math:`\mathrm{BN}_\epsilon(aWu)` against
      :math:`\mathrm{BN}_{\epsilon/a^2}(Wu)`, which holds for every ``a`` and ``eps``.

    ``sigma2`` is the per-unit batch variance of ``uW`` (the scale to compare ``eps`` with).
    """
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(m, 10))
    W = rng.normal(size=(10, 6)) / np.sqrt(10)
    dy = rng.normal(size=(m, 6))

    def point(a, e, W, u, dy):
        loss = lambda W_, u_: jnp.sum(dy * bn_linear(W_, u_, e))
        y0, ya = bn_linear(W, u, e), bn_linear(a * W, u, e)
        (gW0, gu0), (gWa, gua) = jax.grad(loss, (0, 1))(W, u), jax.grad(loss, (0, 1))(a * W, u)
        rel = lambda p, q: jnp.max(jnp.abs(p - q)) / jnp.maximum(1e-8, jnp.max(jnp.abs(p) + jnp.abs(q)))
        return {"out": jnp.max(jnp.abs(ya - y0)) / jnp.max(jnp.abs(y0)),
                "grad": rel(a * gWa, gW0), "u_grad": rel(gua, gu0),
                "eps_identity": rel(ya, bn_linear(W, u, e / a**2))}

    f = jax.jit(jax.vmap(jax.vmap(point, (0, None, None, None, None)), (None, 0, None, None, None)))
    with normlab.float64():
        out = {k: np.asarray(v) for k, v in
               f(np.asarray(a_values), np.asarray(eps_values, dtype=float), W, u, dy).items()}
    out["sigma2"] = (u @ W).var(axis=0)
    out["a"] = np.asarray(a_values)
    out["eps"] = np.asarray(eps_values)
    return out


def plot_scale_invariance(res):
    """Deviation from exact invariance against the weight scale ``a``, one line per ``eps``."""
    from matplotlib.ticker import NullLocator

    fig, axes = style.figure(2, 1, width=4.1, height=3.0)
    fig.subplots_adjust(left=0.11, wspace=0.38)
    colors = [style.COLORS["ref"], style.COLORS["bn"], style.COLORS["noisy"], style.COLORS["naive"]]
    floor = 1e-17  # plot exact zeros at the bottom of the log axis
    for i, e in enumerate(res["eps"]):
        lab = r"$\epsilon=0$" if e == 0 else rf"$\epsilon=10^{{{int(np.log10(e))}}}$"
        axes[0, 0].loglog(res["a"], np.maximum(res["out"][i], floor), color=colors[i], label=lab)
        axes[0, 1].loglog(res["a"], np.maximum(res["grad"][i], floor), color=colors[i], label=lab)
    axes[0, 0].set_ylabel("relative change (dimensionless)")
    axes[0, 1].set_ylabel("relative error (dimensionless)")
    for ax in axes[0]:
        ax.set_xlabel("weight scale $a$ (dimensionless)")
        ax.axvline(1.0, color="#999999", lw=0.8, ls=":")
        ax.yaxis.set_minor_locator(NullLocator())
    axes[0, 0].legend(loc="center right", fontsize=8)
    axes[0, 0].set_title(r"output: $BN(aWu)$ vs $BN(Wu)$", fontsize=10)
    axes[0, 1].set_title(r"gradient: $a\nabla_W\ell|_{aW}$ vs $\nabla_W\ell|_W$", fontsize=10)
    return fig


@lru_cache(maxsize=None)
def weight_growth(steps: int = 300, lr: float = 2.0, seed: int = 0) -> dict:
    r"""SGD on a one-hidden-layer BN net (digits, float64, :math:`\epsilon=0`): the hidden weight
    matrix's squared norm against the prediction :math:`\|W_0\|^2+\eta^2\sum_t\|g_t\|^2`.

    With :math:`\epsilon=0` each unit's output is invariant to the scale of its weight column
    :math:`w_k`, so :math:`w_k\cdot\nabla_{w_k}\ell=0` and
    :math:`\|w_k-\eta g_k\|^2=\|w_k\|^2+\eta^2\|g_k\|^2`: the norm can only grow. Also records
    the same norm for the network without BN (same initial weights), for contrast.
    """
    from normlab import data

    rng = np.random.default_rng(seed)
    loss = lambda p, xb, yb: train.cross_entropy(nets.apply_mlp(p, xb, eps=0.0)[0], yb)

    def run(p, x, y, idx):
        def step(p, i):
            g = jax.grad(loss)(p, x[i], y[i])
            W, gW = p[0]["W"], g[0]["W"]
            cos = jnp.abs(jnp.sum(W * gW, 0)) / (jnp.linalg.norm(W, axis=0) *
                                                jnp.linalg.norm(gW, axis=0))
            p = jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g)
            return p, (jnp.sum(W * W), jnp.sum(gW * gW), jnp.max(cos))

        p, rec = jax.lax.scan(step, p, idx)
        return rec, jnp.sum(p[0]["W"] ** 2)

    out = {}
    with normlab.float64():
        d = data.digits(dtype=jnp.float64)
        x, y = d["x_train"], d["y_train"]
        idx = rng.integers(0, x.shape[0], (steps, 64))
        params = {name: init_params([64, 64, 10], norm=norm, seed=seed, dtype=jnp.float64)
                  for name, norm in (("bn", True), ("plain", False))}
        res = jax.jit(lambda ps, x, y, idx: {k: run(p, x, y, idx) for k, p in ps.items()})(
            params, x, y, idx)
    for name, ((w2, g2, cos), w2_end) in res.items():
        out[name] = {"w2": np.append(np.asarray(w2), float(w2_end)), "g2": np.asarray(g2),
                     "cos": np.asarray(cos)}
    bn = out["bn"]
    bn["predicted"] = bn["w2"][0] + lr**2 * np.concatenate([[0.0], np.cumsum(bn["g2"])])
    bn["rel_error"] = float(np.max(np.abs(bn["w2"] - bn["predicted"]) / bn["predicted"]))
    out["lr"] = lr
    return out


def plot_weight_growth(res):
    fig, axes = style.figure(1, 1, width=5.0, height=3.0)
    ax = axes[0, 0]
    t = np.arange(len(res["bn"]["w2"]))
    ax.plot(t, np.sqrt(res["bn"]["w2"]), color=style.COLORS["bn"], label="with BN: measured")
    ax.plot(t[::15], np.sqrt(res["bn"]["predicted"][::15]), "o", mfc="none",
            color=style.COLORS["ref"], label=r"with BN: $\sqrt{\|W_0\|^2+\eta^2\sum_t\|g_t\|^2}$")
    ax.plot(t, np.sqrt(res["plain"]["w2"]), color=style.COLORS["plain"], label="without BN")
    ax.set_xlabel("SGD step")
    ax.set_ylabel(r"$\|W\|_F$ of the hidden layer")
    ax.set_title(f"hidden weight norm under SGD (learning rate {res['lr']:g}, $\\epsilon=0$)")
    top = max(np.sqrt(res["plain"]["w2"]).max(), np.sqrt(res["bn"]["w2"]).max())
    lo = np.sqrt(res["bn"]["w2"][0])
    ax.set_ylim(lo - 0.05 * (top - lo), top + 0.8 * (top - lo))
    ax.legend(loc="upper left", fontsize=8)
    return fig


# ---------------------------------------------------------------------------------------------
# 3. The layer Jacobian (section 3.3)
# ---------------------------------------------------------------------------------------------

_DPHI = {  # derivative of each activation, in NumPy
    "sigmoid": lambda z: (lambda s: s * (1 - s))(1 / (1 + np.exp(-z))),
    "tanh": lambda z: 1 - np.tanh(z) ** 2,
    "relu": lambda z: (z > 0).astype(z.dtype),
    "linear": np.ones_like,
}


def _forward_layers(params, x, act: str, norm: bool, eps: float = 1e-5):
    """NumPy forward pass in training mode. Returns per hidden layer ``(v, pre, inv_std)``: the
    layer's normalized input x-hat (BN) or pre-activation (plain), the input to the nonlinearity,
    and 1/sqrt(var + eps) of the batch (None without BN)."""
    phi = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh,
           "relu": lambda z: np.maximum(z, 0), "linear": lambda z: z}[act]
    p = [{k: np.asarray(v, dtype=np.float64) for k, v in layer.items()} for layer in params]
    h, out = np.asarray(x, dtype=np.float64), []
    for layer in p[:-1]:
        z = h @ layer["W"]
        if norm:
            inv = 1 / np.sqrt(z.var(0) + eps)
            v = (z - z.mean(0)) * inv
            pre = layer["gamma"] * v + layer["beta"]
        else:
            inv, v = None, z + layer["b"]
            pre = v
        out.append((v, pre, inv))
        h = phi(pre)
    return p, out


def layer_jacobians(params, x, act: str, norm: bool, n_examples: int = 16):
    r"""Per-example layer-to-layer Jacobians, shape (layers-1, n_examples, d, d), by the formula

    .. math::
        \frac{\partial \hat x_{l+1}}{\partial \hat x_l} = \mathrm{diag}(1/\sigma_{l+1})\,
        W_{l+1}^\top\,\mathrm{diag}\big(\gamma_l\,\phi'(\gamma_l\hat x_l+\beta_l)\big)

    with the batch statistics of layer l+1 held fixed (without BN: :math:`W_{l+1}^\top
    \mathrm{diag}(\phi'(z_l))` between pre-activations). :func:`jacobian_formula_check` compares
    it with ``jax.jacfwd``. Row convention: ``J[a, b] = d out_a / d in_b``.
    """
    p, layers = _forward_layers(params, x, act, norm)
    dphi = _DPHI[act]
    Js = []
    for i in range(len(layers) - 1):
        v, pre, _ = layers[i]
        inv_next = layers[i + 1][2]
        g = p[i]["gamma"] if norm else 1.0
        D = g * dphi(pre[:n_examples])  # (n, d_in)
        J = p[i + 1]["W"].T[None] * D[:, None, :]  # (n, d_out, d_in)
        if norm:
            J = J * inv_next[None, :, None]
        Js.append(J)
    return np.stack(Js)


@lru_cache(maxsize=None)
def jacobian_formula_check(act: str = "sigmoid", seed: int = 0) -> float:
    """Max relative error of :func:`layer_jacobians` against ``jax.jacfwd`` of the per-example map
    (batch statistics frozen) of a trained-looking BN net (random gamma, beta), float64."""
    rng = np.random.default_rng(seed)
    sizes = [64, 32, 32, 10]
    with normlab.float64():
        params = init_params(sizes, norm=True, seed=seed, dtype=jnp.float64)
        for layer in params[:-1]:
            layer["gamma"] = jnp.asarray(rng.normal(1, 0.3, layer["gamma"].shape))
            layer["beta"] = jnp.asarray(rng.normal(0, 0.3, layer["beta"].shape))
        x = np.asarray(_digits()["x_train"][:128], dtype=np.float64)
        _, layers = _forward_layers(params, x, act, True)
        phi = nets.ACTIVATIONS[act]
        l0, l1 = params[0], params[1]
        h = phi(l0["gamma"] * layers[0][0] + l0["beta"]) @ l1["W"]  # the whole batch
        mu, var = jnp.mean(h, 0), jnp.var(h, 0)  # frozen batch statistics of layer 2
        F = lambda v: (phi(l0["gamma"] * v + l0["beta"]) @ l1["W"] - mu) / jnp.sqrt(var + 1e-5)
        auto = jax.jit(jax.vmap(jax.jacfwd(F)))(layers[0][0][:8])
    return rel_error(layer_jacobians(params, x, act, True, 8)[0], auto)


@lru_cache(maxsize=None)
def jacobian_spectra(act: str = "sigmoid", init=0.1, depth: int = 6, width: int = 64,
                     n_batch: int = 256, n_examples: int = 16, seed: int = 0) -> dict:
    r"""Singular values of the layer-to-layer Jacobians of a deep MLP on the digits, at init.

    Our choice (the paper's :math:`\hat z = F(\hat x)`): per example, the Jacobian of the next
    layer's normalized input :math:`\hat x_{l+1}` with respect to this layer's :math:`\hat x_l`,
    with the batch statistics (of ``n_batch`` training images) held fixed
    (:func:`layer_jacobians`). Without BN, the same map between consecutive pre-activations.
    Returns ``{"plain"|"bn": s}`` with ``s`` of shape (depth-1, n_examples, width), and
    ``corr_eig``: the eigenvalues of the correlation matrix of each BN layer's normalized input.
    """
    x = np.asarray(_digits()["x_train"][:n_batch])
    sizes = [64] + [width] * depth + [10]
    out = {}
    for name, norm in (("plain", False), ("bn", True)):
        params = init_params(sizes, norm=norm, init=init, seed=seed)
        out[name] = np.linalg.svd(layer_jacobians(params, x, act, norm, n_examples),
                                  compute_uv=False)
        if norm:
            _, layers = _forward_layers(params, x, act, norm)
            out["corr_eig"] = np.stack([np.linalg.eigvalsh(np.corrcoef(v.T)) for v, _, _ in layers])
    return out


def spectrum_summary(s) -> dict:
    """How close singular values ``s`` are to 1: the fraction that are exactly zero (a ReLU's
    inactive units), and over the others the median of |log10 s|, the mean of s^2, the fraction in
    [1/2, 2] and the 10th and 90th percentiles."""
    s = np.asarray(s).ravel()
    zero = s <= 1e-10 * s.max()
    nz = s[~zero]
    return {"frac_zero": float(np.mean(zero)),
            "median_abs_log10": float(np.median(np.abs(np.log10(nz)))),
            "mean_s2": float(np.mean(nz**2)),
            "frac_half_to_two": float(np.mean((nz >= 0.5) & (nz <= 2.0))),
            "q10": float(np.quantile(nz, 0.1)), "q90": float(np.quantile(nz, 0.9))}


# A usual initial scale for each nonlinearity; the sigmoid net uses the paper's small Gaussian.
JACOBIAN_INITS = (("sigmoid", 0.1), ("tanh", "glorot"), ("relu", "he"), ("linear", "glorot"))


def jacobian_table(configs=JACOBIAN_INITS) -> str:
    """Text table of :func:`spectrum_summary` with and without BN, for several nonlinearities."""
    lines = [f"{'nonlinearity':<12} {'init':<10} {'net':<8} {'zero':>5} {'median|log10 s|':>15} "
             f"{'mean s^2':>9} {'in [1/2,2]':>10} {'10th pct':>9} {'90th pct':>9}"]
    for act, init in configs:
        r = jacobian_spectra(act, init)
        for name in ("plain", "bn"):
            q = spectrum_summary(r[name])
            init_s = f"N(0,{init}^2)" if not isinstance(init, str) else init
            lines.append(f"{act:<12} {init_s:<10} {'with BN' if name == 'bn' else 'without':<8} "
                         f"{100 * q['frac_zero']:>4.0f}% {q['median_abs_log10']:>15.2f} "
                         f"{q['mean_s2']:>9.2f} {100 * q['frac_half_to_two']:>9.0f}% "
                         f"{q['q10']:>9.3f} {q['q90']:>9.2f}")
    lines.append("(zero: share of singular values that are exactly 0; the other columns are over "
                 "the nonzero ones)")
    return "\n".join(lines)


def plot_jacobian(res, act: str = "sigmoid"):
    """Left: histogram of log10 singular values with and without BN. Right: the eigenvalues of
    the correlation matrix of a BN layer's normalized input (all 1 if it were uncorrelated)."""
    fig, axes = style.figure(2, 1, width=4.1, height=3.0)
    ax = axes[0, 0]
    bins = np.linspace(-3, 1, 41)
    for name, lab in (("plain", "without BN"), ("bn", "with BN")):
        ls = np.log10(np.maximum(res[name].ravel(), 1e-3))
        ax.hist(ls, bins=bins, color=style.COLORS[name], alpha=0.55, label=lab)
    ax.axvline(0.0, color=style.COLORS["ref"], lw=1, ls="--")
    ax.set_xlabel(r"$\log_{10}$ singular value of a layer Jacobian")
    ax.set_ylabel("count (all layers, 16 examples)")
    ax.set_title(f"layer Jacobians, {act} MLP at init")
    ax.legend(loc="upper left")
    ax = axes[0, 1]
    ev = res["corr_eig"]
    for i in range(1, ev.shape[0]):
        ax.plot(np.arange(1, ev.shape[1] + 1), np.sort(ev[i])[::-1], color=style.COLORS["bn"],
                alpha=0.35 + 0.6 * i / ev.shape[0], lw=1.2)
    ax.axhline(1.0, color=style.COLORS["ref"], lw=1, ls="--", label="uncorrelated (identity)")
    style.log_y(ax)
    ax.set_xlabel("eigenvalue rank")
    ax.set_ylabel(r"eigenvalue of $\mathrm{Corr}[\hat x_l]$")
    ax.set_title("normalized inputs are correlated")
    ax.legend(loc="upper right")
    return fig


@lru_cache(maxsize=None)
def linear_covariance_identity(m: int = 512, d: int = 16, seed: int = 0) -> dict:
    r"""The paper's argument, made exact: for a linear layer between two BN layers (batch
    statistics fixed, :math:`\epsilon=0`), :math:`\hat z = J\hat x + c`, so over the batch
    :math:`\mathrm{Cov}[\hat z] = J\,\mathrm{Cov}[\hat x]\,J^\top` (checked, float64). If both
    covariances were the identity, :math:`JJ^\top=I`. Inputs here are correlated, as a real
    layer's are; returns the identity's relative error, the singular values of ``J`` and the
    eigenvalues of both correlation matrices."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    x = rng.normal(size=(m, d)) @ mix
    xhat = (x - x.mean(0)) / x.std(0)
    W = rng.normal(size=(d, d)) / np.sqrt(d)
    z = xhat @ W
    J = (W / z.std(0)).T  # d zhat / d xhat, rows: outputs
    zhat = (z - z.mean(0)) / z.std(0)
    cov = lambda a: (a - a.mean(0)).T @ (a - a.mean(0)) / a.shape[0]
    return {"rel_error": rel_error(cov(zhat), J @ cov(xhat) @ J.T),
            "s": np.linalg.svd(J, compute_uv=False),
            "eig_x": np.linalg.eigvalsh(cov(xhat)), "eig_z": np.linalg.eigvalsh(cov(zhat))}


@lru_cache(maxsize=None)
def batch_jacobian_zeros(m: int = 16, d: int = 8, seed: int = 0) -> dict:
    """The Jacobian of the whole batch map X -> BN(X W) (an m*d by m*d matrix, jax.jacfwd) has
    2 zero singular values per channel: BN fixes each channel's mean and scale over the batch."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(m, d))
    W = rng.normal(size=(d, d)) / np.sqrt(d)
    with normlab.float64():
        J = jax.jit(jax.jacfwd(lambda a, W: bn_linear(W, a, 0.0)))(x, W)
    s = np.linalg.svd(np.asarray(J).reshape(m * d, m * d), compute_uv=False)
    return {"s": s, "n_zero": int(np.sum(s < 1e-10 * s.max())), "m": m, "d": d}


# ---------------------------------------------------------------------------------------------
# 4. Statistics for inference
# ---------------------------------------------------------------------------------------------

BATCH_SIZES = (2, 3, 4, 8, 16, 32, 64)


def expected_batch_std(m: int) -> float:
    r""":math:`\mathbb E[\sigma_B]/\sigma` for the biased batch std of ``m`` Gaussian samples:
    :math:`\sqrt{2/m}\,\Gamma(m/2)/\Gamma((m-1)/2)`."""
    return float(np.sqrt(2.0 / m) * np.exp(lgamma(m / 2) - lgamma((m - 1) / 2)))


@lru_cache(maxsize=None)
def std_bias(ms=BATCH_SIZES, n_batches: int = 40000, seed: int = 0) -> dict:
    r"""Monte Carlo over ``n_batches`` batches of ``m`` i.i.d. samples of :math:`N(3, 2^2)`.

    Returns per ``m``, all divided by the population :math:`\sigma^2 = 4` (or :math:`\sigma`):
    ``var_biased`` :math:`\mathbb E[\sigma_B^2]` (exact: ``(m-1)/m``), ``var_unbiased``
    :math:`\frac{m}{m-1}\mathbb E[\sigma_B^2]` (exact: 1), ``std_mean`` :math:`\mathbb E[\sigma_B]`
    (exact: :func:`expected_batch_std`), ``std_rms`` :math:`\sqrt{\mathbb E[\sigma_B^2]}`, with
    standard errors ``*_se``.
    """
    rng = np.random.default_rng(seed)
    mu, sigma = 3.0, 2.0
    keys = ("var_biased", "var_biased_se", "var_unbiased", "std_mean", "std_mean_se", "std_rms",
            "exact_var_biased", "exact_std_mean")
    out = {k: np.zeros(len(ms)) for k in keys}
    for i, m in enumerate(ms):
        x = rng.normal(mu, sigma, (n_batches, m))
        v = x.var(axis=1) / sigma**2  # biased, 1/m
        s = np.sqrt(v)
        out["var_biased"][i] = v.mean()
        out["var_biased_se"][i] = v.std(ddof=1) / np.sqrt(n_batches)
        out["var_unbiased"][i] = v.mean() * m / (m - 1)
        out["std_mean"][i] = s.mean()
        out["std_mean_se"][i] = s.std(ddof=1) / np.sqrt(n_batches)
        out["std_rms"][i] = np.sqrt(v.mean())
        out["exact_var_biased"][i] = (m - 1) / m
        out["exact_std_mean"][i] = expected_batch_std(m)
    out["m"] = np.asarray(ms)
    out["n_batches"] = n_batches
    return out


def plot_std_bias(res):
    fig, axes = style.figure(1, 1, width=5.4, height=3.2)
    ax = axes[0, 0]
    m = res["m"]
    mm = np.arange(2, m.max() + 1)
    ax.plot(mm, (mm - 1) / mm, color=style.COLORS["bn"], lw=1, label=r"exact $(m-1)/m$")
    ax.plot(m, res["var_biased"], "o", color=style.COLORS["bn"],
            label=r"$E[\sigma_B^2]/\sigma^2$ (uncorrected), measured")
    ax.plot(m, res["var_unbiased"], "s", color=style.COLORS["noisy"],
            label=r"$\frac{m}{m-1}E[\sigma_B^2]/\sigma^2$ (corrected), measured")
    ax.plot(mm, [expected_batch_std(k) ** 2 for k in mm], color=style.COLORS["plain"], lw=1,
            label=r"exact $(E[\sigma_B]/\sigma)^2$")
    ax.plot(m, res["std_mean"] ** 2, "^", color=style.COLORS["plain"],
            label=r"$(E[\sigma_B]/\sigma)^2$ (averaged stds), measured")
    ax.axhline(1.0, color=style.COLORS["ref"], lw=0.8, ls="--")
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(m))
    ax.set_xticklabels([str(k) for k in m])
    ax.set_xlabel("batch size $m$")
    ax.set_ylabel("estimate / true variance")
    ax.set_title(f"variance estimates from batches ({res['n_batches']} batches per $m$)")
    ax.legend(loc="lower right", fontsize=8)
    return fig


@lru_cache(maxsize=None)
def running_trajectories(m: int = 4, steps: int = 200, runs: int = 500, momentum: float = 0.1,
                         seed: int = 0) -> dict:
    """Running variance (PyTorch convention, starting at 1) tracked from batches of size ``m`` of
    N(0, 3^2), with the unbiased m/(m-1) batch variance (correct) and with the biased one.
    Mean and 10th/90th percentiles over ``runs`` independent runs; divided by the true 9."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 3.0, (steps, runs, m))
    out = {}
    for name, ddof in (("unbiased", 1), ("biased", 0)):
        bv = x.var(axis=2, ddof=ddof)
        r = np.empty((steps + 1, runs))
        r[0] = 1.0
        for t in range(steps):
            r[t + 1] = (1 - momentum) * r[t] + momentum * bv[t]
        r /= 9.0
        out[name] = {"mean": r.mean(1), "q10": np.quantile(r, 0.1, 1), "q90": np.quantile(r, 0.9, 1)}
    out.update(m=m, momentum=momentum, runs=runs)
    return out


def plot_running(res):
    fig, axes = style.figure(1, 1, width=5.4, height=3.0)
    ax = axes[0, 0]
    t = np.arange(len(res["unbiased"]["mean"]))
    for name, col, lab in (("unbiased", style.COLORS["noisy"], r"tracks $\frac{m}{m-1}\sigma_B^2$"),
                           ("biased", style.COLORS["plain"], r"tracks $\sigma_B^2$ (biased)")):
        r = res[name]
        ax.fill_between(t, r["q10"], r["q90"], color=col, alpha=0.18, lw=0)
        ax.plot(t, r["mean"], color=col, label=f"{lab}: mean of {res['runs']} runs")
    m = res["m"]
    ax.axhline(1.0, color=style.COLORS["ref"], lw=0.8, ls="--", label="true variance")
    ax.axhline((m - 1) / m, color=style.COLORS["plain"], lw=0.8, ls=":",
               label=f"(m-1)/m = {(m - 1) / m:.2f}")
    ax.set_xlabel("update (batches seen)")
    ax.set_ylabel("running variance / true variance")
    ax.set_title(f"running variance, batch size m = {m}, momentum {res['momentum']}")
    ax.legend(loc="lower right", fontsize=8)
    return fig


@lru_cache(maxsize=None)
def folded_check(n: int = 500, c: int = 6, eps: float = 1e-5, seed: int = 0) -> dict:
    r"""The folded affine map of Algorithm 2 against training-mode BN, float64.

    ``population``: ``inference`` with the mean and biased variance of a whole set of ``n``
    examples, against training-mode ``forward`` on that set. ``batch``: ``inference`` on a batch of
    16 with the population statistics, against normalizing the batch by those statistics by hand.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(rng.normal(0, 3, c), rng.uniform(0.1, 5, c), (n, c))
    gamma, beta = rng.normal(1, 0.5, c), rng.normal(0, 1, c)

    def compare(X, gamma, beta):
        mean, var, _ = batchnorm.batch_stats(X)
        train_mode = batchnorm.forward(X, gamma, beta, eps)[0]
        folded = batchnorm.inference(X, gamma, beta, mean, var, eps)
        xb = X[:16]
        by_hand = gamma * (xb - mean) / jnp.sqrt(var + eps) + beta
        return (train_mode, folded, by_hand, batchnorm.inference(xb, gamma, beta, mean, var, eps),
                batchnorm.forward(xb, gamma, beta, eps)[0])

    with normlab.float64():
        train_mode, folded, by_hand, inf_b, train_b = jax.jit(compare)(X, gamma, beta)
    return {"population": rel_error(folded, train_mode), "batch": rel_error(inf_b, by_hand),
            "batch_mode_differs": rel_error(train_b, by_hand)}


@lru_cache(maxsize=None)
def conv_check(shape=(4, 5, 6, 3), seed: int = 0) -> dict:
    """BN of an (N, H, W, C) input against BN of its reshape to (N*H*W, C), forward and backward."""
    rng = np.random.default_rng(seed)
    c = shape[-1]
    x = rng.normal(rng.normal(size=c), 2.0, shape)
    g, b, dy = rng.normal(1, 0.3, c), rng.normal(size=c), rng.normal(size=shape)

    def both(x, g, b, dy):
        y4, c4 = batchnorm.forward(x, g, b)
        y2, c2 = batchnorm.forward(x.reshape(-1, c), g, b)
        return (y4, batchnorm.backward(dy, c4), y2, batchnorm.backward(dy.reshape(-1, c), c2),
                batchnorm.batch_stats(x)[0])

    with normlab.float64():
        y4, d4, y2, d2, mean = jax.jit(both)(x, g, b, dy)
    return {"forward": rel_error(np.reshape(y4, (-1, c)), y2),
            "dx": rel_error(np.reshape(d4[0], (-1, c)), d2[0]),
            "dgamma": rel_error(d4[1], d2[1]), "dbeta": rel_error(d4[2], d2[2]),
            "m": int(np.prod(shape[:-1])), "mean_shape": tuple(mean.shape)}


# ---------------------------------------------------------------------------------------------
# 5. Explorable 1: training with and without BN, learning rate x batch size
# ---------------------------------------------------------------------------------------------

TRAIN_SIZES = (64, 64, 64, 10)
TRAIN_STEPS = 150
EVAL_EVERY = 10
TRAIN_LRS = tuple(float(v) for v in np.logspace(-2, 1, 7))
TRAIN_BATCHES = (2, 4, 16, 64)
LOSS_TOP = 20.0  # nats; the loss axis ends here


def _rbg_key(seed: int):
    # XLA's RngBitGenerator: its compile time on CPU is a fraction of threefry's, which matters
    # when the whole chapter has to run in a minute. (Streams differ from the default PRNG.)
    return jax.random.key(seed, impl="rbg")


@lru_cache(maxsize=None)
def _digits():
    from normlab import data

    with jax.ensure_compile_time_eval():  # concrete arrays even if first called inside a trace
        return data.digits()


@lru_cache(maxsize=None)
def _init_pair(sizes, init="he", seed: int = 0):
    """The same initial weights for the plain and the BN network (concrete, cached)."""
    with jax.ensure_compile_time_eval():
        return (init_params(sizes, norm=False, init=init, seed=seed),
                init_params(sizes, norm=True, init=init, seed=seed))


def compute_training(lr, batch_size):
    """Train the [64, 64, 64, 10] ReLU MLP with and without BN on the digits (plain SGD, 150 steps,
    batches padded to 64 and masked). Traced in ``lr`` and ``batch_size``."""
    d = _digits()
    out = {}
    for name, p in zip(("plain", "bn"), _init_pair(TRAIN_SIZES)):
        _, h = train.fit_classifier(p, d, _rbg_key(1), lr=lr, batch_size=batch_size,
                                    steps=TRAIN_STEPS, max_batch=64, eval_every=EVAL_EVERY)
        out[name] = {"loss": h["loss"], "acc": h["test_acc"]}
    return out


def _smooth(loss, k, width: int = 10):
    """Trailing mean over ``width`` steps, NaN from the divergence step ``k`` on."""
    loss = np.asarray(loss, dtype=float)
    n = len(loss) if k is None else k
    c = np.concatenate([[0.0], np.cumsum(loss[:n])])
    i = np.arange(1, n + 1)
    lo = np.maximum(0, i - width)
    sm = np.full(len(loss), np.nan)
    sm[:n] = (c[i] - c[lo]) / (i - lo)
    return sm


def plot_training(res, lr, batch_size):
    """Training loss (10-step trailing mean) and test accuracy, with and without BN."""
    fig, axes = style.figure(2, 1, width=4.0, height=2.9,
                             title=f"learning rate {float(lr):.3g}, batch size {int(batch_size)}")
    fig.subplots_adjust(left=0.09, wspace=0.3)
    steps = np.arange(1, TRAIN_STEPS + 1)
    evals = np.arange(1, TRAIN_STEPS // EVAL_EVERY + 1) * EVAL_EVERY
    for name, lab in (("plain", "without BN"), ("bn", "with BN")):
        loss = np.asarray(res[name]["loss"], dtype=float)
        k = train.diverged_at(loss)
        # drawn clipped to the axes, so a blow-up's last point and its mark stay in view
        style.plot_curve(axes[0, 0], steps, np.minimum(_smooth(loss, k), LOSS_TOP),
                         color=style.COLORS[name], label=lab)
        acc = 100 * np.asarray(res[name]["acc"], dtype=float)
        ok = evals <= (TRAIN_STEPS if k is None else k)  # stop at divergence
        if k is not None and not ok.any():
            ok = evals < 0
        axes[0, 1].plot(evals[ok], acc[ok], color=style.COLORS[name],
                        label=lab if k is None else f"{lab} (stopped: diverged)")
    style.log_y(axes[0, 0])
    axes[0, 0].set_ylim(1e-2, 1.5 * LOSS_TOP)
    axes[0, 0].set_xlim(0, TRAIN_STEPS + 2)
    axes[0, 0].set_xlabel("SGD step")
    axes[0, 0].set_ylabel("training loss (nats, 10-step mean)")
    axes[0, 0].legend(loc="lower left", fontsize=8)
    axes[0, 1].set_ylim(0, 100)
    axes[0, 1].set_xlim(0, TRAIN_STEPS + 2)
    axes[0, 1].set_xlabel("SGD step")
    axes[0, 1].set_ylabel("test accuracy (%)")
    axes[0, 1].axhline(10, color="#999999", lw=0.8, ls=":")
    axes[0, 1].legend(loc="best", fontsize=8)
    return fig


@lru_cache(maxsize=None)
def training_grid() -> dict:
    """:func:`compute_training` on the whole slider grid (one ``jit(vmap)``), as NumPy arrays;
    shape (len(TRAIN_LRS), len(TRAIN_BATCHES), ...)."""
    out = train.grid(compute_training, lr=TRAIN_LRS, batch_size=TRAIN_BATCHES)
    return jax.tree_util.tree_map(np.asarray, out)


def training_explorable() -> Explorable:
    sliders = [Slider("lr", "learning rate", TRAIN_LRS, default=TRAIN_LRS[3], log=True, fmt="{:.2g}"),
               Slider("batch_size", "batch size", TRAIN_BATCHES, default=16, integer=True,
                      fmt="{:d}")]
    ex = Explorable(
        compute_training, sliders,
        plot_training,
        title="Training a ReLU MLP on the digits with and without BN",
        caption="Training loss and test accuracy against SGD step for a 64-64-64-10 ReLU MLP on "
                "the 8x8 digits, with and without batch normalization, for the chosen learning "
                "rate and batch size; a diverged run is marked and its curves stop there.",
        grid_fn=training_grid)  # the website frames, the live view and the claims share one run
    return ex


def grid_summary(res=None) -> dict:
    """Per grid point: divergence step (or -1) and final test accuracy, for both networks."""
    res = training_grid() if res is None else res
    out = {}
    for name in ("plain", "bn"):
        loss = res[name]["loss"]
        div = np.array([[(lambda k: -1 if k is None else k)(train.diverged_at(loss[i, j]))
                         for j in range(loss.shape[1])] for i in range(loss.shape[0])])
        out[name] = {"diverged": div, "acc": res[name]["acc"][..., -1]}
    return out


def grid_table(res=None) -> str:
    """The final test accuracy (%) at every grid point, 'div' where the run diverged."""
    s = grid_summary(res)
    head = "lr \\ batch " + "".join(f"{b:>13d}" for b in TRAIN_BATCHES)
    lines = [head, " " * 11 + "".join(f"{'plain / BN':>13}" for _ in TRAIN_BATCHES)]
    for i, lr in enumerate(TRAIN_LRS):
        cells = []
        for j in range(len(TRAIN_BATCHES)):
            c = ["div" if s[n]["diverged"][i, j] >= 0 else f"{100 * s[n]['acc'][i, j]:.0f}"
                 for n in ("plain", "bn")]
            cells.append(f"{c[0] + ' / ' + c[1]:>13}")
        lines.append(f"{lr:<11.3g}" + "".join(cells))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# 6. Explorable 2: a sigmoid unit's input distribution over training (the paper's Figure 1)
# ---------------------------------------------------------------------------------------------

DRIFT_SIZES = (64, 100, 100, 100, 10)
DRIFT_STEPS = 500
DRIFT_EVERY = 10
DRIFT_LRS = (0.1, 0.3, 1.0, 3.0, 10.0)
PERCENTILES = (15.0, 50.0, 85.0)
DRIFT_LAYER, DRIFT_UNIT = 2, 0  # the last hidden layer, its first unit


def _probe(params, running, aux):
    return jnp.percentile(aux["pre"][DRIFT_LAYER][:, DRIFT_UNIT], jnp.asarray(PERCENTILES))


def compute_drift(lr):
    """Sigmoid MLP 64-100-100-100-10 (weights N(0, 0.1^2), the paper's "small random Gaussian"),
    batch 60, 500 SGD steps, with and without BN: every 10 steps the 15th/50th/85th percentiles
    over the test set of one last-hidden-layer unit's input to the sigmoid, and the test accuracy."""
    d = _digits()
    out = {}
    for name, p in zip(("plain", "bn"), _init_pair(DRIFT_SIZES, 0.1)):
        _, h = train.fit_classifier(p, d, _rbg_key(2), lr=lr, batch_size=60, steps=DRIFT_STEPS,
                                    max_batch=64, eval_every=DRIFT_EVERY, act="sigmoid",
                                    probe=_probe)
        out[name] = {"q": h["probe"], "acc": h["test_acc"]}
    return out


def plot_drift(res, lr):
    fig, axes = style.figure(2, 1, width=4.0, height=2.9, title=f"learning rate {float(lr):.3g}")
    fig.subplots_adjust(left=0.09, wspace=0.3)
    t = np.arange(1, DRIFT_STEPS // DRIFT_EVERY + 1) * DRIFT_EVERY
    for ax, name, lab in ((axes[0, 0], "plain", "without BN"), (axes[0, 1], "bn", "with BN")):
        q = np.asarray(res[name]["q"], dtype=float)
        col = style.COLORS[name]
        for j, (p, lw) in enumerate(zip(PERCENTILES, (1.0, 2.2, 1.0))):
            style.plot_curve(ax, t, q[:, j], color=col, label=f"{p:.0f}th percentile", lw=lw,
                             ls="-" if j == 1 else "--")
        acc = np.asarray(res[name]["acc"], dtype=float)
        fin = f"{100 * acc[-1]:.0f}%" if np.isfinite(acc[-1]) else "n/a"
        ax.set_title(f"{lab} (test accuracy {fin})")
        ax.set_xlabel("SGD step")
        ax.set_ylabel("input to the sigmoid")
    axes[0, 0].legend(loc="best", fontsize=8)
    return fig


@lru_cache(maxsize=None)
def drift_grid() -> dict:
    out = train.grid(compute_drift, lr=DRIFT_LRS)
    return jax.tree_util.tree_map(np.asarray, out)


def drift_explorable() -> Explorable:
    sliders = [Slider("lr", "learning rate", DRIFT_LRS, default=1.0, log=True)]
    ex = Explorable(
        compute_drift, sliders, plot_drift, title="A sigmoid unit's input over training (cf. Ioffe & Szegedy, Figure 1)",
        caption="The 15th, 50th and 85th percentiles, over the test set, of one last-hidden-layer "
                "unit's input to its sigmoid during training, without BN (left) and with BN "
                "(right), for the chosen learning rate.",
        grid_fn=drift_grid)
    return ex


def drift_measure(q) -> float:
    """How much the percentiles move after the first 10% of training: the mean over the three
    percentiles of the range (max - min) of each curve, divided by the final 15-85 spread."""
    q = np.asarray(q, dtype=float)
    late = q[len(q) // 10:]
    spread = max(abs(q[-1, 2] - q[-1, 0]), 1e-6)
    return float(np.mean(late.max(0) - late.min(0)) / spread)


# ---------------------------------------------------------------------------------------------
# Claims
# ---------------------------------------------------------------------------------------------


def _claim_backward():
    steps = backward_check()
    worst_auto = max(a for a, _ in steps.values())
    worst_fd = max(f for _, f in steps.values())
    vjp = backward_vs_vjp()
    ok = max(worst_auto, vjp) < 1e-10 and worst_fd < 1e-6
    return (f"every step vs jax.grad: max rel. error {worst_auto:.1e}; batchnorm.backward vs "
            f"jax.vjp on (N,C) and (N,H,W,C): {vjp:.1e}; vs finite differences: {worst_fd:.1e}",
            ok)


def _claim_scale():
    r = scale_invariance()
    i0 = list(r["eps"]).index(0.0)
    out0, grad0, u0 = r["out"][i0].max(), r["grad"][i0].max(), r["u_grad"][i0].max()
    ident = r["eps_identity"].max()
    j = int(np.argmin(np.abs(r["a"] - 1e-2)))
    k = list(r["eps"]).index(1e-5)
    ok = max(out0, grad0, u0, ident) < 1e-10 and r["out"][k, j] > 1e-3
    return (f"eps=0, a in [1e-3, 1e3]: output {out0:.0e}, a*grad_W vs grad_W {grad0:.0e}, input "
            f"gradient {u0:.0e}; with eps=1e-5 the output moves by {r['out'][k, j]:.1e} at a=0.01; "
            f"BN_eps(aWu)=BN_(eps/a^2)(Wu) to {ident:.0e}", ok)


def _claim_growth():
    r = weight_growth()
    w = np.sqrt(r["bn"]["w2"])
    mono = bool(np.all(np.diff(w) >= 0))
    g = np.sqrt(r["bn"]["g2"])
    ok = mono and r["bn"]["rel_error"] < 1e-10 and r["bn"]["cos"].max() < 1e-10
    return (f"||W|| grew monotonically {w[0]:.2f} -> {w[-1]:.2f} in {len(g)} steps, equal to "
            f"sqrt(||W0||^2 + lr^2 sum ||g||^2) to {r['bn']['rel_error']:.0e}; max |cos(w_k, g_k)| "
            f"{r['bn']['cos'].max():.0e}; gradient norm {g[:10].mean():.2f} (first 10 steps) -> "
            f"{g[-10:].mean():.2f} (last 10)", ok)


def _claim_jacobian():
    r = jacobian_spectra("sigmoid", 0.1)
    p, b = spectrum_summary(r["plain"]), spectrum_summary(r["bn"])
    closer = b["median_abs_log10"] < p["median_abs_log10"]
    spread = b["q90"] / b["q10"]
    ok = closer and spread > 3  # closer to 1, and not all equal to 1: that is what we claim
    return (f"sigmoid MLP at init, median |log10 s| {p['median_abs_log10']:.2f} without BN vs "
            f"{b['median_abs_log10']:.2f} with BN; mean s^2 {p['mean_s2']:.2f} vs {b['mean_s2']:.2f}; "
            f"with BN the 10th-90th percentiles are {b['q10']:.2f}-{b['q90']:.2f}, so not all "
            f"singular values are 1 (normalized inputs are correlated)", ok)


def _claim_folded():
    r = folded_check()
    return (f"rel. error {r['population']:.0e} (whole set) and {r['batch']:.0e} (a batch of 16 "
            f"with population statistics)", max(r["population"], r["batch"]) < 1e-12)


def _claim_variance_bias():
    r = std_bias()
    z = np.abs(r["var_biased"] - r["exact_var_biased"]) / r["var_biased_se"]
    ok = bool(np.all(z < 4))
    pairs = ", ".join(f"m={m}: {v:.3f} ({e:.3f})" for m, v, e in
                      zip(r["m"][:4], r["var_biased"][:4], r["exact_var_biased"][:4]))
    return (f"E[sigma_B^2]/sigma^2 measured (exact) {pairs}, ...; all {len(r['m'])} batch sizes "
            f"within {z.max():.1f} standard errors", ok)


def _claim_std_average():
    r = std_bias()
    z = np.abs(r["std_mean"] - r["exact_std_mean"]) / r["std_mean_se"]
    below = bool(np.all(r["std_mean"] < r["std_rms"]))
    i = list(r["m"]).index(4)
    under = 1 - r["std_mean"][i] ** 2 * 4 / 3
    return (f"E[sigma_B] < sqrt(E[sigma_B^2]) at every m; at m=4, averaging stds and then "
            f"correcting by m/(m-1) underestimates the variance by {100 * under:.0f}%; matches "
            f"sqrt(2/m)G(m/2)/G((m-1)/2) within {z.max():.1f} s.e.", below and bool(np.all(z < 4)))


def usable_lrs(res=None, threshold: float = 0.9) -> dict:
    """Per network, the learning rates of the grid at which some batch size reaches
    ``threshold`` test accuracy without diverging."""
    s = grid_summary(res)
    out = {}
    for name in ("plain", "bn"):
        good = (s[name]["diverged"] < 0) & (s[name]["acc"] >= threshold)
        out[name] = [TRAIN_LRS[i] for i in range(len(TRAIN_LRS)) if good[i].any()]
    return out


def _claim_training():
    s = grid_summary()
    n = s["plain"]["diverged"].size
    div_p = int((s["plain"]["diverged"] >= 0).sum())
    div_b = int((s["bn"]["diverged"] >= 0).sum())
    where = s["plain"]["diverged"] >= 0
    bn_there = 100 * float(np.max(np.where(s["bn"]["diverged"][where] < 0, s["bn"]["acc"][where], 0)))
    u = usable_lrs()
    lo = {k: min(v) if v else float("nan") for k, v in u.items()}
    hi = {k: max(v) if v else float("nan") for k, v in u.items()}
    ok = div_b < div_p and lo["bn"] < lo["plain"] and hi["bn"] <= hi["plain"]
    return (f"diverged: {div_p}/{n} runs without BN, {div_b}/{n} with; learning rates reaching "
            f">= 90% test accuracy (some batch size): {lo['plain']:.2g}..{hi['plain']:.2g} without, "
            f"{lo['bn']:.2g}..{hi['bn']:.2g} with BN; where the plain net diverged, BN's best "
            f"accuracy was {bn_there:.0f}%", ok)


def _claim_drift():
    g = drift_grid()
    i = DRIFT_LRS.index(1.0)
    d = {k: [drift_measure(q) for q in g[k]["q"]] for k in ("plain", "bn")}
    less = sum(b < p for p, b in zip(d["plain"], d["bn"]))
    ap, ab = 100 * g["plain"]["acc"][i, -1], 100 * g["bn"]["acc"][i, -1]
    return (f"drift of the 15/50/85th percentiles after the first 10% of training, relative to "
            f"their final 15-85 spread, at lr 1: {d['plain'][i]:.2f} without BN vs {d['bn'][i]:.2f} "
            f"with; smaller with BN at {less}/{len(DRIFT_LRS)} learning rates; test accuracy at "
            f"lr 1: {ap:.0f}% vs {ab:.0f}%", less == len(DRIFT_LRS) and ab > ap)


def weight_growth_summary() -> str:
    """One line on :func:`weight_growth` (the text of the corresponding claim)."""
    return _claim_growth()[0]


def training_summary() -> str:
    """One line on the training grid (the text of the corresponding claim)."""
    return _claim_training()[0]


CLAIMS = [
    Claim(1, "The hand-derived backward pass (each step and the compact form) equals autodiff",
          "Section 3: the chain-rule expressions for dl/dx_i, dl/dgamma, dl/dbeta",
          _claim_backward),
    Claim(1, "Scale invariance is exact with eps = 0, and the weight gradient scales as 1/a",
          "Section 3.3: BN((aW)u) = BN(Wu), d BN((aW)u)/d(aW) = (1/a) d BN(Wu)/dW",
          _claim_scale),
    Claim(1, "Under SGD a weight vector feeding BN can only grow, by exactly lr^2 ||g||^2 per step, "
             "while its gradient shrinks",
          "Section 3.3: larger weights lead to smaller gradients, and BN will stabilize the "
          "parameter growth", _claim_growth),
    Claim(1, "Sigmoid MLP: BN moves the layer Jacobian's singular values towards 1, but does not "
             "make them all 1",
          "Section 3.3 (conjecture): under Gaussian, uncorrelated, linear assumptions, J J^T = I, "
          "all singular values 1", _claim_jacobian),
    Claim(1, "The folded affine map equals BN with population statistics",
          "Algorithm 2, step 4: y = gamma/sqrt(Var[x]+eps) x + (beta - gamma E[x]/sqrt(Var[x]+eps))",
          _claim_folded),
    Claim(1, "The uncorrected batch variance underestimates by (m-1)/m",
          "Algorithm 2: Var[x] = m/(m-1) E_B[sigma_B^2], the unbiased estimate",
          _claim_variance_bias),
    Claim(1, "Averaging per-batch standard deviations underestimates the population std",
          "Algorithm 2 averages variances, not standard deviations", _claim_std_average),
    Claim(1, "Digits MLP: BN prevents most divergences and trains at smaller learning rates, but "
             "does not raise the largest usable learning rate",
          "Section 4.2: BN-Inception trained at 5x and 30x the learning rate; 5x drove the "
          "original Inception's parameters to machine infinity",
          _claim_training),
    Claim(1, "A sigmoid unit's input distribution drifts less during training with BN",
          "Figure 1(b, c): the 15th, 50th and 85th percentiles of a last-layer sigmoid input "
          "over training, without and with BN (shown as a picture of internal covariate shift)",
          _claim_drift),
]


# The chapter's explorables, by name (the benchmark times each one's live slider).
EXPLORABLES = {"training": training_explorable, "drift": drift_explorable}
