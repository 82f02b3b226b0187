r"""7.2-7.4 and 7.6: what a step does to a scale-invariant weight, exactly (float64).

The network: the digits MLP of :data:`SIZES` with BN hidden layers whose :math:`\gamma, \beta`
are frozen at 1, 0 and a fixed random readout, so that the trained parameters (the hidden
weights) are all scale-invariant at :math:`\epsilon = 0`. The update rules are the one loop's
(:mod:`normlab.train`): SGD :math:`w \leftarrow (1-\eta\lambda)w - \eta g`, and momentum with the
decay inside the buffer, :math:`v \leftarrow \gamma v + g + \lambda w`, :math:`w \leftarrow w - \eta v`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

import normlab
from normlab import cache, data, nets, scale, train

SIZES = (64, 32, 32, 10)
BATCH = 128
LR, WD, MOM = 0.1, 5e-4, 0.9   # Li & Arora's blog experiment's rates
STEPS = 400


def layer(eps=0.0):
    """BN with frozen gamma, beta (their gradient is zero) at normalizer epsilon ``eps`` (may be
    traced)."""
    return nets.BatchNorm(eps=eps, learn_gamma=0, learn_beta=0, choices=(0, 1))


def problem(seed: int = 0, eps=0.0, steps: int = STEPS, normalized: bool = True, dtype=jnp.float64):
    """``(loss, w0, inputs, full)``: the loss of the hidden weights (a list of matrices) for
    :func:`normlab.train.run`, their initial values, each step's batch rows, and
    ``full(ws) -> params`` (the whole network). ``normalized=False``: the same network with plain
    (Dense) hidden layers, the control."""
    lay = layer(eps) if normalized else nets.Dense()
    p0 = nets.init_mlp(seed, SIZES, lay, dtype=dtype)
    d = data.digits(dtype=dtype)
    x, y = d["x_train"], d["y_train"]
    idx = train.batches(seed, steps, BATCH, x.shape[0])["idx"]

    def full(ws):
        return [dict(p, W=w) for p, w in zip(p0[:-1], ws)] + [p0[-1]]

    def loss(ws, rows, _state):
        return train.cross_entropy(nets.apply_mlp(full(ws), x[rows], lay)[0], y[rows]), {}

    return loss, [p["W"] for p in p0[:-1]], idx, full


def _record_w(s):
    return {"w": s.new_params}


# ------------------------------------------------------------------------------------------------
# 7.2 Pythagoras and the angular step
# ------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def pythagoras(lr: float = 0.5, wd: float = 5e-3, steps: int = 200, seed: int = 0,
               normalized: bool = True) -> dict:
    r"""SGD with weight decay (``wd`` may be 0), float64: per step and unit, the measured
    :math:`\|w_{t+1}\|^2` against :math:`(1-\eta\lambda)^2\|w_t\|^2 + \eta^2\|g_t\|^2` (``pyth``:
    largest relative error), the measured angle (:func:`normlab.scale.angle`) against
    :math:`\arctan(\eta\|\nabla L(\hat w_t)\|/((1-\eta\lambda)\|w_t\|^2))` with the gradient taken
    at the unit-norm weights (``tan``: largest relative error), :math:`|\cos(w_t, g_t)|` (``cos``),
    and the first layer's norms (``norm`` (T+1, units)) and angles (``angle`` (T, units)).
    ``normalized=False``: the plain network, the control."""
    with normlab.float64():
        loss, w0, idx, _ = problem(seed, steps=steps, normalized=normalized)

        def record(s):
            w, g, new = s.params[0], s.grads[0], s.new_params[0]
            unit = [a / jnp.linalg.norm(a, axis=0) for a in s.params]
            g_hat = jax.grad(lambda u: loss(u, s.inputs, None)[0])(unit)[0]
            nw, ng = jnp.sum(w * w, 0), jnp.sum(g * g, 0)
            return {"n2": nw, "n2_next": jnp.sum(new * new, 0),
                    "pred": (1 - lr * wd) ** 2 * nw + lr ** 2 * ng,
                    "angle": scale.angle(w, new),
                    "pred_angle": jnp.arctan(lr * jnp.linalg.norm(g_hat, axis=0) / ((1 - lr * wd) * nw)),
                    "cos": jnp.abs(jnp.sum(w * g, 0)) / jnp.sqrt(nw * ng)}

        _, _, h = train.run(loss, w0, idx, lr=lr, optimizer=train.sgd(wd), record=record)
        h = jax.tree_util.tree_map(np.asarray, h)
    rel = lambda a, b: float(np.max(np.abs(a - b) / np.abs(b)))
    norm = np.sqrt(np.concatenate([h["n2"][:1], h["n2_next"]]))
    return {"pyth": rel(h["n2_next"], h["pred"]), "tan": rel(h["angle"], h["pred_angle"]),
            "cos": float(np.max(h["cos"])), "norm": norm, "angle": h["angle"], "lr": lr, "wd": wd}


# ------------------------------------------------------------------------------------------------
# 7.4 Weight decay only rescales: (w0, eta, lambda) ~ (c w0, c^2 eta, lambda / c^2)
# ------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def rescaling(c: float = 3.0, lr: float = LR, wd: float = 5e-3, mom: float = MOM, steps: int = 200,
              normalized: bool = True, seed: int = 0) -> dict:
    r"""Momentum SGD with decay from :math:`(w_0, \eta, \lambda)` and from
    :math:`(c\,w_0, c^2\eta, \lambda/c^2)`: ``weights`` the largest relative difference of
    :math:`w'_t/c` and :math:`w_t` over steps, ``logits`` of the test-set outputs at the end,
    ``norm`` the final mean column norm of the first run's first layer (against
    ``norm0``). ``normalized=False``: the plain network (not scale-invariant), the control."""
    with normlab.float64():
        loss, w0, idx, full = problem(seed, steps=steps, normalized=normalized)
        run = lambda w, e, l: train.run(loss, w, idx, lr=e, optimizer=train.momentum(mom, l),
                                        record=_record_w)
        wa, _, ha = run(w0, lr, wd)
        wb, _, hb = run([c * w for w in w0], c * c * lr, wd / c ** 2)
        err = max(float(jnp.max(jnp.abs(b / c - a)) / jnp.max(jnp.abs(a))) for a, b in zip(ha["w"], hb["w"]))
        d = data.digits(dtype=jnp.float64)
        lay = layer() if normalized else nets.Dense()
        la = nets.apply_mlp(full(wa), d["x_test"], lay)[0]
        lb = nets.apply_mlp(full(wb), d["x_test"], lay)[0]
        lerr = float(jnp.max(jnp.abs(la - lb)) / jnp.max(jnp.abs(la)))
        n = lambda w: float(jnp.mean(jnp.linalg.norm(w[0], axis=0)))
        norm0, norm = n(w0), n(wa)
    return {"weights": err, "logits": lerr, "c": c, "norm0": norm0, "norm": norm}


# ------------------------------------------------------------------------------------------------
# 7.6 Li & Arora: weight decay = an exponentially growing learning rate
# ------------------------------------------------------------------------------------------------
def alpha(lr: float, wd: float, mom: float, root: str = "+") -> float:
    r"""A root of :math:`x^2 - (1+\gamma-\lambda\eta)x + \gamma = 0` (``"+"`` the larger, near
    :math:`1 - \eta\lambda/(1-\gamma)`; ``"-"`` the smaller, near :math:`\gamma`); for
    :math:`\gamma = 0` the non-zero root :math:`1 - \eta\lambda`."""
    b = 1 + mom - wd * lr
    disc = b * b - 4 * mom
    if disc < 0:
        raise ValueError(f"no real root for lr {lr}, weight decay {wd}, momentum {mom}")
    if mom == 0:
        return float(b)
    r = np.sqrt(disc)
    return float((b + r) / 2 if root == "+" else (b - r) / 2)


def initial_buffer(w0, lr: float, a: float):
    r"""The exponential-LR run's initial momentum buffer that makes the equivalence exact:
    :math:`\tilde v_0 = -(1-\alpha)\,w_0/(\alpha\eta)` (zero for :math:`\gamma = 0`, where
    :math:`\alpha = 1 - \eta\lambda`... and the buffer is not used)."""
    return [-(1 - a) * w / (a * lr) for w in w0]


def exp_lr_pair(eps=0.0, lr: float = LR, wd: float = WD, mom: float = MOM, steps: int = STEPS,
                buffer: str = "matched", root: str = "+", seed: int = 0, dtype=jnp.float64):
    r"""Both runs, their hidden weights per step (pure JAX; ``eps`` may be traced): momentum SGD
    with decay ``wd``, and momentum SGD without decay at :math:`\tilde\eta_t = \eta\alpha^{-2t-1}`
    starting from the same :math:`w_0` with the buffer of :func:`initial_buffer` (``"matched"``)
    or zero (``"zero"``). Returns ``(wd_run, exp_run, alpha)``, lists of (T, ...) arrays."""
    loss, w0, idx, _ = problem(seed, eps=eps, steps=steps, dtype=dtype)
    a = alpha(lr, wd, mom, root)
    _, _, h1 = train.run(loss, w0, idx, lr=lr, optimizer=train.momentum(mom, wd), record=_record_w)
    v0 = initial_buffer(w0, lr, a) if buffer == "matched" else [jnp.zeros_like(w) for w in w0]
    opt = train.Optimizer(lambda p: v0, train.momentum(mom).update)
    _, _, h2 = train.run(loss, w0, idx, lr=lambda t: lr * a ** (-2.0 * t - 1), optimizer=opt,
                         record=_record_w)
    return h1["w"], h2["w"], a


def discrepancy(w_wd, w_exp, a):
    r"""Per step, the largest difference between the two runs' unit weight vectors (what the
    network computes depends on nothing else), and the largest relative difference of
    :math:`\alpha^{-t}w_t` and :math:`\tilde w_t`; also the norm ratio of the first layer."""
    T = w_wd[0].shape[0]
    grow = a ** -(jnp.arange(1, T + 1, dtype=w_wd[0].dtype))
    unit = lambda w: w / jnp.linalg.norm(w, axis=1, keepdims=True)
    du = jnp.max(jnp.stack([jnp.max(jnp.abs(unit(p) - unit(q)), axis=(1, 2)) for p, q in zip(w_wd, w_exp)]), 0)
    dw = jnp.max(jnp.stack([jnp.max(jnp.abs(grow[:, None, None] * p - q), axis=(1, 2)) / jnp.max(jnp.abs(q), axis=(1, 2))
                            for p, q in zip(w_wd, w_exp)]), 0)
    ratio = jnp.linalg.norm(w_exp[0], axis=(1, 2)) / jnp.linalg.norm(w_wd[0], axis=(1, 2))
    return {"unit": du, "rel": dw, "ratio": ratio}


@functools.lru_cache(maxsize=None)
def li_arora(eps: float = 0.0, buffer: str = "matched", root: str = "+", mom: float = MOM,
             lr: float = LR, wd: float = WD, steps: int = STEPS) -> dict:
    """:func:`exp_lr_pair` and :func:`discrepancy` in float64, as NumPy, with the test-set logits'
    largest difference at the end (``logits``) and the final learning-rate growth."""
    with normlab.float64():
        w1, w2, a = exp_lr_pair(eps, lr, wd, mom, steps, buffer, root)
        d = {k: np.asarray(v) for k, v in discrepancy(w1, w2, a).items()}
        _, _, _, full = problem(0, eps=eps, steps=steps)
        x = data.digits(dtype=jnp.float64)["x_test"]
        la = nets.apply_mlp(full([w[-1] for w in w1]), x, layer(eps))[0]
        lb = nets.apply_mlp(full([w[-1] for w in w2]), x, layer(eps))[0]
        d["logits"] = float(jnp.max(jnp.abs(la - lb)))
    d.update(alpha=a, lr_growth=a ** -2, lr_final=lr * a ** (-2 * steps + 1), eps=eps, buffer=buffer)
    return d


#: the explorable's and the chapter's values of the normalizer's epsilon (0 first)
EPS_GRID = (0.0, 1e-12, 1e-10, 1e-8, 1e-6, 1e-5, 1e-4, 1e-3)


def exp_lr_compute(eps, zero, steps: int = STEPS):
    """Pure JAX (``eps`` and ``zero``, 1 for zero buffers, may be traced): the two runs of
    :func:`exp_lr_pair` at :data:`LR`, :data:`WD`, :data:`MOM` and their :func:`discrepancy`, with
    the largest difference of the test-set logits at the end (``logits``)."""
    loss, w0, idx, full = problem(0, eps=eps, steps=steps)
    a = alpha(LR, WD, MOM)
    _, _, h1 = train.run(loss, w0, idx, lr=LR, optimizer=train.momentum(MOM, WD), record=_record_w)
    v0 = [(1 - zero) * v for v in initial_buffer(w0, LR, a)]
    opt = train.Optimizer(lambda p: v0, train.momentum(MOM).update)
    _, _, h2 = train.run(loss, w0, idx, lr=lambda t: LR * a ** (-2.0 * t - 1), optimizer=opt,
                         record=_record_w)
    d = discrepancy(h1["w"], h2["w"], a)
    x = data.digits(dtype=w0[0].dtype)["x_test"]
    la = nets.apply_mlp(full([w[-1] for w in h1["w"]]), x, layer(eps))[0]
    lb = nets.apply_mlp(full([w[-1] for w in h2["w"]]), x, layer(eps))[0]
    return {**d, "logits": jnp.max(jnp.abs(la - lb))}


@cache.cached
@functools.lru_cache(maxsize=None)
def exp_lr_grid() -> dict:
    """:func:`exp_lr_compute` over :data:`EPS_GRID` x (matched, zero buffers), float64, one
    compiled call; entries with leading axes (eps, buffer)."""
    with normlab.float64():
        out = train.grid(exp_lr_compute, eps=np.asarray(EPS_GRID), zero=np.asarray([0.0, 1.0]))
        return jax.tree_util.tree_map(np.asarray, out)
