r"""7.3 and 7.5: the digits network trained with and without weight decay (float32): the norm of
the scale-invariant weights, their angular update per step, the equilibrium it settles at (angle
and norm, against Wan et al.'s :math:`w^*`; AdamW's beside it), and the common reading that
training "early-stops" by itself as the norm grows.

One vmapped grid (:func:`runs`: learning rate x weight decay x seed, momentum 0.9) serves the
chapter's figures, both readings and the first explorable.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from normlab import cache, data, nets, scale, train
from normlab.ch7 import dynamics

LRS = (0.03, 0.1, 0.3, 1.0)
WDS = (0.0, 1e-3, 3e-3, 1e-2)
SEEDS = (0, 1, 2)
MOM = 0.9
STEPS = 600
B1 = 0.9                                            # AdamW's beta1 (beta2 0.999, eps 1e-8)
ADAMW = ((1e-2, 1.0), (1e-2, 2.0), (3e-3, 3.0))     # (lr, lambda): eta lambda 9e-3 to 2e-2
BLANK = (0.05, 0.95)    # a pixel is near-blank if |x| < 0.05 (centred) in more than 95% of images
SIZES = dynamics.SIZES
BATCH = dynamics.BATCH


def _stacked(seeds, steps, normalized=True):
    lay = dynamics.layer() if normalized else nets.Dense()
    ps = [nets.init_mlp(s, SIZES, lay) for s in seeds]
    n = data.digits()["x_train"].shape[0]
    idx = np.stack([np.asarray(train.batches(s, steps, BATCH, n)["idx"]) for s in seeds])
    return jax.tree_util.tree_map(lambda *a: jnp.stack(a), *ps), jnp.asarray(idx), lay


def train_one(lr, wd, seed, *, mom=MOM, seeds=SEEDS, steps=STEPS, normalized=True, stack=None,
              adamw=False, l2=False, mask=None):
    r"""One run (pure JAX; ``lr``, ``wd``, ``seed`` (an index into ``seeds``) may be traced):
    per step the batch loss, each hidden layer's RMS angle over its units (``angle`` (T, 2)) and
    mean unit norm (``norm`` (T+1, 2)); at the end the test loss and accuracy. For Wan et al.'s
    :math:`w^*` (:func:`wstar`), per unit (``(2, units)``, both hidden layers), means over the
    second half of the run (steps :math:`t \ge T/2`) of :math:`\|w_t\|^2` (``n2_tail``), of
    :math:`h_t\|w_t\|^2` (``L_tail``, :func:`h_term`) and of :math:`\|g_t\|^2\|w_t\|^2`
    (``Lg_tail``); the same three over each quarter of the second half (``*_q3``: steps
    :math:`T/2 \le t < 3T/4`, ``*_q4``: :math:`t \ge 3T/4`). ``adamw``: the one loop's AdamW
    (:data:`B1`, decoupled decay ``wd``) instead of SGD with momentum ``mom``; with ``l2`` Adam
    with the decay as an L2 term :math:`\lambda\|W\|^2/2` in the loss instead (Adam+L2).
    ``mask`` (64 pixels): multiplies the inputs (train and test), e.g. to zero blank pixels."""
    P, IDX, lay = stack if stack is not None else _stacked(seeds, steps, normalized)
    p0 = jax.tree_util.tree_map(lambda a: a[seed], P)
    idx = IDX[seed]
    d = data.digits()
    x, y, xt = d["x_train"], d["y_train"], d["x_test"]
    if mask is not None:
        x, xt = x * mask, xt * mask
    use_l2 = bool(adamw and l2)

    def full(ws):
        return [dict(p, W=w) for p, w in zip(p0[:-1], ws)] + [p0[-1]]

    def loss(ws, rows, _s):
        reg = 0.5 * wd * sum(jnp.sum(w * w) for w in ws) if use_l2 else 0.0
        return train.cross_entropy(nets.apply_mlp(full(ws), x[rows], lay)[0], y[rows]) + reg, {}

    def record(s):
        ang = jnp.stack([jnp.sqrt(jnp.mean(scale.angle(a, b) ** 2)) for a, b in zip(s.params, s.new_params)])
        nrm = jnp.stack([jnp.mean(jnp.linalg.norm(b, axis=0)) for b in s.new_params])
        n2 = jnp.stack([jnp.sum(w * w, axis=0) for w in s.params])             # ||w_t||^2 per unit
        hh = jnp.stack([h_term(w, b, g, lr, wd) for w, b, g in zip(s.params, s.new_params, s.grads)])
        g2 = jnp.stack([jnp.sum(g * g, axis=0) for g in s.grads])
        return {"loss": s.loss, "angle": ang, "norm": nrm, "n2": n2, "hw2": hh * n2, "gw2": g2 * n2}

    w0 = [p["W"] for p in p0[:-1]]
    opt = train.adamw(B1, weight_decay=0.0 if l2 else wd) if adamw else train.momentum(mom, wd)
    ws, _, h = train.run(loss, w0, idx, lr=lr, optimizer=opt, record=record)
    n0 = jnp.stack([jnp.mean(jnp.linalg.norm(w, axis=0)) for w in w0])
    logits, aux = nets.apply_mlp(full(ws), xt, lay)
    half = h["n2"].shape[0] // 2
    q = 3 * h["n2"].shape[0] // 4
    win = {f"{a}_{b}": h[k][lo:hi].mean(0) for a, k in (("n2", "n2"), ("L", "hw2"), ("Lg", "gw2"))
           for b, lo, hi in (("tail", half, None), ("q3", half, q), ("q4", q, None))}
    return {"loss": h["loss"], "angle": h["angle"], "norm": jnp.concatenate([n0[None], h["norm"]]),
            **win,
            "test_loss": train.cross_entropy(logits, d["y_test"]),
            "test_acc": train.accuracy(logits, d["y_test"]), "dead": train.dead_fraction(aux["pre"])}


def h_term(w, w_next, g, lr, wd):
    r"""Wan et al.'s :math:`h_t = \|g_t\|^2 + 2\alpha\langle v_{t-1}, g_t\rangle` per unit
    (column) for SGD with momentum :math:`\alpha` and the decay in the buffer, from one step of
    the one loop (:func:`normlab.train.momentum`): :math:`v_t = (w_t - w_{t+1})/\eta` and
    :math:`\alpha v_{t-1} = v_t - g_t - \lambda w_t`, so
    :math:`h_t = 2\langle v_t, g_t\rangle - \|g_t\|^2 - 2\lambda\langle w_t, g_t\rangle`
    (no need to know :math:`\alpha`; for plain SGD it is :math:`\|g_t\|^2`)."""
    v = (w - w_next) / lr
    return 2 * jnp.sum(v * g, axis=0) - jnp.sum(g * g, axis=0) - 2 * wd * jnp.sum(w * g, axis=0)


@cache.cached
@functools.lru_cache(maxsize=None)
def runs(normalized: bool = True) -> dict:
    """The grid: every entry with leading axes (lr, wd, seed) = (LRS, WDS, SEEDS), as NumPy."""
    stack = _stacked(SEEDS, STEPS, normalized)
    out = train.grid(lambda lr, wd, seed: train_one(lr, wd, seed, stack=stack),
                     lr=np.asarray(LRS, np.float32), wd=np.asarray(WDS, np.float32),
                     seed=np.arange(len(SEEDS)))
    return jax.tree_util.tree_map(np.asarray, out)


def statuses(r=None) -> np.ndarray:
    """``train.status`` of every run of the grid (lr, wd, seed)."""
    r = runs() if r is None else r
    out = np.empty(r["test_acc"].shape, dtype=object)
    for i in np.ndindex(out.shape):
        out[i] = train.status(r["loss"][i], dead=r["dead"][i], test_acc=r["test_acc"][i], chance=0.1)
    return out


def equilibrium_table(r=None, tail: float = 0.5) -> dict:
    r"""Per (lr, wd) with wd > 0: the predicted :math:`\sqrt{2\eta\lambda/(1+\gamma)}`, the RMS
    angle over the last ``tail`` of the run (units, steps, both layers) per seed (``rms``), the
    mean angle (``mean``), and the relaxation time :math:`(1-\gamma)/(2\eta\lambda)` (``tau``)."""
    r = runs() if r is None else r
    T = r["angle"].shape[3]
    a = r["angle"][:, :, :, int((1 - tail) * T):, :]
    rms = np.sqrt(np.mean(a ** 2, axis=(3, 4)))
    mean = np.mean(a, axis=(3, 4))
    lr = np.asarray(LRS)[:, None]
    wd = np.asarray(WDS)[None, :]
    pred = np.sqrt(2 * lr * wd / (1 + MOM))
    with np.errstate(divide="ignore"):
        tau = np.where(wd > 0, (1 - MOM) / (2 * lr * wd), np.inf)
    return {"rms": rms, "mean": mean, "pred": pred, "tau": tau}


def equilibrated(max_tau_fraction: float = 0.1) -> list[tuple[int, int]]:
    """The (lr, wd) grid points whose relaxation time is at most this fraction of the run."""
    t = equilibrium_table()["tau"]
    return [(i, j) for i in range(len(LRS)) for j in range(len(WDS))
            if WDS[j] > 0 and t[i, j] <= max_tau_fraction * STEPS]


def relaxation(i: int, j: int, r=None, floor: float = 0.05) -> np.ndarray:
    r"""Per seed, the fitted relaxation time of the first layer's mean norm squared at grid point
    (i, j). :math:`\|w_t\|^2` first overshoots (it rises while the gradient is large), then falls
    towards its final level :math:`\|w\|^2_{eq}` (the mean of the last quarter of the run, which
    is not Wan et al.'s :math:`w^*`): from the peak on, until the excess falls below ``floor`` of
    its value at the peak, a straight line is fitted to :math:`\log(\|w_t\|^2 - \|w\|^2_{eq})`;
    the time is minus the inverse of its slope."""
    r = runs() if r is None else r
    n2 = r["norm"][i, j, :, :, 0] ** 2
    T = n2.shape[1]
    out = []
    for s in range(n2.shape[0]):
        d = n2[s, int(np.argmax(n2[s])):] - n2[s, 3 * T // 4:].mean()
        low = np.flatnonzero(d <= floor * d[0])
        stop = int(low[0]) if low.size else len(d)
        if stop < 3:
            out.append(np.inf)
            continue
        out.append(float(-1 / np.polyfit(np.arange(stop), np.log(d[:stop]), 1)[0]))
    return np.asarray(out)


def relaxation_slope(pts=None) -> float:
    r"""The log-log slope of the fitted relaxation time (mean over seeds) against
    :math:`\tau = (1-\gamma)/(2\eta\lambda)` over the equilibrated points: 1 if the time scales
    as :math:`1/(\eta\lambda)`, 0 if it does not depend on it."""
    pts = equilibrated() if pts is None else pts
    tau = equilibrium_table()["tau"]
    x = np.log([tau[i, j] for i, j in pts])
    y = np.log([relaxation(i, j).mean() for i, j in pts])
    return float(np.polyfit(x, y, 1)[0])


@cache.cached
@functools.lru_cache(maxsize=None)
def lr_bracket(lr: float = 0.01, wd: float = 1e-2) -> dict:
    """Final test loss and accuracy per seed one step below the grid's smallest learning rate,
    for the decay whose best rate is the grid's edge: is the edge the optimum?"""
    stack = _stacked(SEEDS, STEPS)
    o = jax.jit(jax.vmap(lambda s: train_one(lr, wd, s, stack=stack)))(np.arange(len(SEEDS)))
    return {"lr": lr, "wd": wd, "test_loss": np.asarray(o["test_loss"]),
            "test_acc": np.asarray(o["test_acc"])}


@cache.cached
@functools.lru_cache(maxsize=None)
def no_momentum(lr: float = 1.0, wd: float = 1e-2, tail: float = 0.5) -> dict:
    r"""The same network with plain SGD (momentum 0) at (``lr``, ``wd``), relaxation time
    :math:`1/(2\eta\lambda)` = 50 steps, 3 seeds: the RMS and the mean angle over the last
    ``tail`` of the run (both layers) per seed, over the prediction :math:`\sqrt{2\eta\lambda}`;
    ``wstar``: per seed, layer and unit, the RMS norm over the second half over Theorem 1's
    :math:`w^* = (L\eta/(2\lambda))^{1/4}`, :math:`L = \mathbb{E}\|g_t\|^2\|w_t\|^2`
    (``wstar_h``: the same from :func:`h_term`, which equals it without momentum)."""
    stack = _stacked(SEEDS, STEPS)
    o = jax.jit(jax.vmap(lambda s: train_one(lr, wd, s, mom=0.0, stack=stack)))(np.arange(len(SEEDS)))
    a = np.asarray(o["angle"])[:, int((1 - tail) * STEPS):]
    pred = float(np.sqrt(2 * lr * wd))
    n = np.sqrt(np.asarray(o["n2_tail"]))
    return {"rms": np.sqrt(np.mean(a ** 2, axis=(1, 2))) / pred, "mean": np.mean(a, axis=(1, 2)) / pred,
            "pred": pred, "wstar": n / wstar(np.asarray(o["Lg_tail"]), lr, wd, mom=0.0),
            "wstar_h": n / wstar(np.asarray(o["L_tail"]), lr, wd, mom=0.0)}


def early_stopping(r=None) -> dict:
    r"""The "early stopping" reading, each setting at its own best learning rate (lowest mean final
    test loss over seeds, among rates where every seed trained; :func:`normlab.compare.compare`):
    per weight decay, the best lr, the test accuracy there per seed, and the first layer's RMS
    angle at the end relative to its first 10% (``slowdown``, per seed), the part of it the norm
    explains, the same ratio of the mean of :math:`1/\|w_t\|^2` over the same steps
    (``norm_factor``), and the rest, ``grad_factor`` = slowdown / norm_factor (the fall of
    :math:`\|\nabla L(\hat w)\|` over the layer's units, by the exact angle formula, up to
    averaging); ``cmp``, the comparison."""
    from normlab import compare

    r = runs() if r is None else r
    st = statuses(r)
    metric = np.moveaxis(r["test_loss"], 1, 0)        # (wd, lr, seed)
    cmp = compare.compare(metric, methods=[f"wd {w:g}" for w in WDS], lrs=LRS, seeds=SEEDS,
                          criterion="final test loss", status=np.moveaxis(st, 1, 0))
    out = {"cmp": cmp, "best_lr": [], "acc": [], "slowdown": [], "norm_growth": [], "norm_factor": []}
    T = r["angle"].shape[3]
    for j, w in enumerate(WDS):
        lr = cmp.best_lr[f"wd {w:g}"]
        i = LRS.index(lr)
        a = r["angle"][i, j, :, :, 0]
        out["best_lr"].append(lr)
        out["acc"].append(r["test_acc"][i, j])
        out["slowdown"].append(a[:, -T // 10:].mean(1) / a[:, :T // 10].mean(1))
        inv = 1 / r["norm"][i, j, :, :T, 0] ** 2          # 1/||w_t||^2 before step t
        out["norm_factor"].append(inv[:, -T // 10:].mean(1) / inv[:, :T // 10].mean(1))
        out["norm_growth"].append(r["norm"][i, j, :, -1, 0] / r["norm"][i, j, :, 0, 0])
    out["grad_factor"] = [s / n for s, n in zip(out["slowdown"], out["norm_factor"])]
    return out


def predict_answer(lr: float = 0.3, r=None) -> dict:
    """The answer to the equilibrium explorable's predict question at ``lr`` (seed 0, first layer,
    as the figure shows): the weight decay with the smallest final norm, that norm and the one
    without decay, and for lambda = 1e-3 the RMS angle of the last quarter over the prediction
    and the relaxation time; ``ratio_first_half``: the same from 10% to 50% of the run."""
    r = runs() if r is None else r
    i = LRS.index(lr)
    final = r["norm"][i, :, 0, -1, 0]
    j = int(np.argmin(final))
    k = WDS.index(1e-3)
    a = r["angle"][i, k, 0, :, 0]
    T = len(a)
    pred = float(np.sqrt(2 * lr * 1e-3 / (1 + MOM)))
    return {"smallest_norm_wd": WDS[j], "norm_small": float(final[j]), "norm_none": float(final[0]),
            "ratio_1e3": float(np.sqrt(np.mean(a[3 * T // 4:] ** 2)) / pred),
            "ratio_first_half": float(np.sqrt(np.mean(a[T // 10:T // 2] ** 2)) / pred),
            "tau_1e3": (1 - MOM) / (2 * lr * 1e-3)}


def wstar(L, lr, wd, mom=MOM):
    r"""Wan et al.'s equilibrium norm per unit from :math:`L_t`: Theorem 2 (SGD with momentum
    :math:`\alpha`, decay in the buffer, :math:`L_t = \mathbb{E}[h_t\|w_t\|^2]`)
    :math:`w^* = [L\eta/(\lambda(1-\alpha)(2-\lambda\eta/(1+\alpha)))]^{1/4}`; with ``mom = 0``
    Theorem 1's :math:`(L\eta/(2\lambda))^{1/4}` (:math:`L_t = \mathbb{E}\|g_t\|^2\|w_t\|^2`)."""
    L, lr, wd = (np.asarray(a, float) for a in (L, lr, wd))
    if np.any(wd <= 0) or np.any(lr <= 0):
        raise ValueError("w* needs a positive learning rate and weight decay (without decay the "
                         "norm has no equilibrium)")
    if mom == 0:
        return (L * lr / (2 * wd)) ** 0.25
    return (L * lr / (wd * (1 - mom) * (2 - wd * lr / (1 + mom)))) ** 0.25


def wstar_table(r=None, pts=None, formula: str = "thm2", window: str = "tail") -> np.ndarray:
    r"""Per grid point (default: the equilibrated ones), seed, hidden layer and unit: the
    root-mean-square norm over a window of the run over Wan et al.'s :math:`w^*` from the same
    steps, shape (points, seeds, 2, units). ``window``: ``"tail"`` (the second half), ``"q3"``,
    ``"q4"`` (its two quarters). ``formula``: ``"thm2"``, Theorem 2 with
    :math:`L = \mathbb{E}[h_t\|w_t\|^2]`; ``"cross"`` (a control), the same formula with the
    cross-term :math:`2\alpha\langle v_{t-1}, g_t\rangle` dropped,
    :math:`L = \mathbb{E}\|g_t\|^2\|w_t\|^2`; ``"sgd"``, Theorem 1's plain-SGD :math:`w^*`
    with that :math:`L` (momentum left out altogether)."""
    if formula not in ("thm2", "cross", "sgd") or window not in ("tail", "q3", "q4"):
        raise ValueError(f"formula must be thm2, cross or sgd and window tail, q3 or q4; got "
                         f"{formula!r}, {window!r}")
    r = runs() if r is None else r
    pts = equilibrated() if pts is None else pts
    out = []
    for i, j in pts:
        L = r[f"L_{window}" if formula == "thm2" else f"Lg_{window}"][i, j]
        ws = wstar(L, LRS[i], WDS[j], mom=0.0 if formula == "sgd" else MOM)
        out.append(np.sqrt(r[f"n2_{window}"][i, j]) / ws)
    return np.asarray(out)


def unsettled() -> list[tuple[int, int]]:
    """The grid points with weight decay that :func:`equilibrated` leaves out (relaxation time
    above a tenth of the run)."""
    eq = equilibrated()
    return [(i, j) for i in range(len(LRS)) for j in range(len(WDS)) if WDS[j] > 0 and (i, j) not in eq]


def h_term_check(seed: int = 0) -> float:
    r"""float64: the largest relative error of :func:`h_term` against Wan et al.'s definition
    :math:`\|g_t\|^2 + 2\alpha\langle v_{t-1}, g_t\rangle`, on a random step written out by hand
    (:math:`v_t = \alpha v_{t-1} + g_t + \lambda w_t`, :math:`w_{t+1} = w_t - \eta v_t`) and on the
    same step through :func:`normlab.train.momentum`."""
    from normlab import float64
    rng = np.random.default_rng(seed)
    lr, wd, mom = 0.3, 1e-2, 0.9
    w, v_prev, g = (rng.normal(size=(5, 3)) for _ in range(3))
    want = np.sum(g * g, 0) + 2 * mom * np.sum(v_prev * g, 0)
    with float64():
        by_hand = np.asarray(h_term(w, w - lr * (mom * v_prev + g + wd * w), g, lr, wd))
        p, _ = train.momentum(mom, wd).update(jnp.asarray(g), jnp.asarray(v_prev), jnp.asarray(w), lr)
        loop = np.asarray(h_term(jnp.asarray(w), p, jnp.asarray(g), lr, wd))
    return float(max(np.max(np.abs(x - want) / np.abs(want)) for x in (by_hand, loop)))


def blank_pixels(blank=BLANK) -> np.ndarray:
    """The near-blank pixels of the (centred) training digits: ``|x| < blank[0]`` in more than a
    fraction ``blank[1]`` of the training images (boolean, 64)."""
    x = np.asarray(data.digits()["x_train"])
    return (np.abs(x) < blank[0]).mean(0) > blank[1]


VARIANTS = ("adamw", "masked", "adam_l2")


def adamw_runs(settings=ADAMW, tail: float = 0.5, variant: str = "adamw") -> dict:
    r"""The same network trained by the one loop's AdamW (:data:`B1`, decoupled decay) at each
    (lr, lambda) of ``settings``, 3 seeds, :data:`STEPS` steps (the norm's time scale
    :math:`1/(2\eta\lambda)` is 25-56 steps for :data:`ADAMW`): per setting and seed the RMS angle
    over the last ``tail`` of the run (units, steps, both layers) over Kosson et al.'s
    :math:`\sqrt{2\eta\lambda(1-\beta_1)/(1+\beta_1)}` (``ratio``), the same over the
    SGD-momentum formula :math:`\sqrt{2\eta\lambda/(1+\beta_1)}` (``wrong``, the control),
    ``ratio`` per hidden layer (``layer``, (settings, seeds, 2)), the predictions (``pred``),
    whether each run trained (``ok``) and its test accuracy. ``variant``: ``"adamw"``;
    ``"masked"``, the same with the near-blank pixels (:func:`blank_pixels`) set to zero in every
    image; ``"adam_l2"``, Adam with the decay as an L2 term in the loss (not decoupled)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}; got {variant!r}")
    try:
        settings = tuple((float(a), float(b)) for a, b in settings)
    except (TypeError, ValueError):
        settings = ()
    if not settings or min(min(x) for x in settings) <= 0:
        raise ValueError("settings must be (lr, weight decay) pairs of positive numbers")
    return _adamw_runs(settings, float(tail), variant)


@cache.cached
@functools.lru_cache(maxsize=None)
def _adamw_runs(settings, tail, variant="adamw"):
    stack = _stacked(SEEDS, STEPS)
    mask = jnp.asarray(~blank_pixels(), jnp.float32) if variant == "masked" else None
    kw = {"stack": stack, "adamw": True, "l2": variant == "adam_l2", "mask": mask}
    lr = np.repeat(np.asarray([s[0] for s in settings], np.float32), len(SEEDS))
    wd = np.repeat(np.asarray([s[1] for s in settings], np.float32), len(SEEDS))
    sd = np.tile(np.arange(len(SEEDS)), len(settings))
    o = jax.jit(jax.vmap(lambda a, b, c: train_one(a, b, c, **kw)))(lr, wd, sd)
    o = jax.tree_util.tree_map(np.asarray, o)
    shape = (len(settings), len(SEEDS))
    a = o["angle"].reshape(shape + o["angle"].shape[1:])[:, :, int((1 - tail) * STEPS):]
    rms = np.sqrt(np.mean(a ** 2, axis=(2, 3)))
    rms_layer = np.sqrt(np.mean(a ** 2, axis=2))                        # (settings, seeds, 2)
    e, l = np.asarray(settings, float).T
    pred = np.sqrt(2 * e * l * (1 - B1) / (1 + B1))
    st = [train.status(o["loss"][k], dead=o["dead"][k], test_acc=o["test_acc"][k], chance=0.1)
          for k in range(len(lr))]
    return {"ratio": rms / pred[:, None], "wrong": rms / np.sqrt(2 * e * l / (1 + B1))[:, None],
            "pred": pred, "rms": rms, "layer": rms_layer / pred[:, None, None],
            "ok": np.asarray([s.ok for s in st]).reshape(shape),
            "test_acc": o["test_acc"].reshape(shape)}


FIXED_LRS = (0.1, 1.0, 10.0, 100.0)
FIXED_STEPS = 400


def fixed_lr(lrs=FIXED_LRS, steps: int = FIXED_STEPS, normalized: bool = True) -> dict:
    r"""Going further (Arora, Li & Lyu's fixed learning rate): full-batch gradient descent, no
    weight decay, no momentum, on the digits network (seed 0; the hidden weights are all that is
    trained) at each fixed learning rate of ``lrs``. Per rate and step: the loss, the first layer's
    mean unit norm (``norm``) and the squared gradient on the sphere summed over the units of both
    layers, :math:`G_t = \sum_u \|w_u\|^2\|g_u\|^2 = \sum_u\|\nabla L(\hat w_u)\|^2` (``G``; by the
    second identity); ``G_min``, its running minimum; at the end the test accuracy and
    ``train.status`` of each run. ``normalized=False``: the same network without BN."""
    lrs = tuple(float(v) for v in np.atleast_1d(lrs))
    if not lrs or min(lrs) <= 0 or int(steps) < 10:
        raise ValueError(f"need positive learning rates and at least 10 steps; got {lrs!r}, {steps}")
    return _fixed_lr(lrs, int(steps), bool(normalized))


@functools.lru_cache(maxsize=None)
def _fixed_lr(lrs, steps, normalized):
    lay = dynamics.layer() if normalized else nets.Dense()
    p0 = nets.init_mlp(0, SIZES, lay)
    d = data.digits()
    x, y = d["x_train"], d["y_train"]

    def full(ws):
        return [dict(p, W=w) for p, w in zip(p0[:-1], ws)] + [p0[-1]]

    def loss(ws, _x, _s):
        return train.cross_entropy(nets.apply_mlp(full(ws), x, lay)[0], y), {}

    def record(s):
        G = sum(jnp.sum(jnp.sum(w * w, 0) * jnp.sum(g * g, 0)) for w, g in zip(s.params, s.grads))
        return {"loss": s.loss, "G": G, "norm": jnp.mean(jnp.linalg.norm(s.params[0], axis=0))}

    def one(lr):
        ws, _, h = train.run(loss, [p["W"] for p in p0[:-1]], None, steps=steps, lr=lr, record=record)
        logits = nets.apply_mlp(full(ws), d["x_test"], lay)[0]
        return {**h, "test_acc": train.accuracy(logits, d["y_test"])}

    o = jax.tree_util.tree_map(np.asarray, jax.jit(jax.vmap(one))(jnp.asarray(lrs, jnp.float32)))
    o["G_min"] = np.minimum.accumulate(np.where(np.isfinite(o["G"]), o["G"], np.inf), axis=1)
    o["status"] = [train.status(o["loss"][k], test_acc=o["test_acc"][k], chance=0.1) for k in range(len(lrs))]
    o["lrs"] = tuple(lrs)
    return o
