r"""Chapter 6, section 6.6: does WS smooth the landscape? Chapter 5's probes
(:func:`normlab.landscape.probe`: the loss and the gradient along the gradient direction),
summarised by :func:`normlab.ch5.summaries.landscape_summary` (loss range, gradient change and the
effective beta), for GN against GN+WS, BN against BN+WS, and GN against no normalization (the
control: Santurkar et al.'s contrast, normalization against none).

Every method is probed with the SAME absolute step sizes, :data:`normlab.ch5.experiments.
PROBE_MULTIPLES` times :func:`step_lr` (the batch-16 grid's middle rate): a probe at steps
proportional to each method's own best rate measures mostly that rate times the squared gradient
norm, not the landscape.

The runs are the batch-16 sweep's own (:func:`normlab.ch6.smallbatch.sweep`, which keeps each run's
parameters every ``CHECK_EVERY`` steps): each method at its own best learning rate, over the
sweep's seeds; a seed whose run did not train (:func:`normlab.ch6.smallbatch.statuses`) is dropped
and counted. At each checkpoint the probe uses the batch of 16 the run had just trained on, in
training mode (BN with that batch's statistics), as chapter 5 does. One compiled call probes every
method, seed and checkpoint.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from normlab import cache, data, landscape, nets, train
from normlab.ch5.experiments import PROBE_MULTIPLES
from normlab.ch5.summaries import landscape_summary
from normlab.ch6 import smallbatch as sb

BATCH = 16
#: the probed methods: the two pairs and the control's
PROBED = ("none", "BN", "BN+WS", "GN", "GN+WS")
PAIRS = (("GN+WS", "GN"), ("BN+WS", "BN"))
#: the control: GN against no normalization, at the same steps (a difference that is there)
CONTROL = ("GN", "none")
KEYS = ("loss_var", "grad_change", "beta")


def step_lr(batch: int = BATCH) -> float:
    """The base of the shared probe steps: the middle rate of ``batch``'s grid (steps
    ``step_lr * PROBE_MULTIPLES`` for every method)."""
    grid = sb.LRS[batch]
    return float(grid[len(grid) // 2])


def specs(batch: int = BATCH, methods: tuple = PROBED, shared: bool = False) -> list:
    """``(method, lr)`` of every probed run: each of ``methods`` at its own best rate, or (``shared``)
    every one at the one shared rate :func:`step_lr` (the learning-rate confound's control)."""
    if shared:
        return [(m, step_lr(batch)) for m in methods]
    c = sb.comparison(batch, methods)
    for m in methods:
        if c.best_lr[m] is None:
            raise ValueError(f"{m} has no run that trained at batch {batch}: nothing to probe")
    return [(m, c.best_lr[m]) for m in methods]


def probes(batch: int = BATCH, methods: tuple = PROBED, shared: bool = False) -> dict:
    """The probes of :func:`specs` (``shared``: every method at the shared rate), sliced from
    :func:`_probes` of both sets (one compiled call; memoised)."""
    own, same = specs(batch, methods), specs(batch, methods, shared=True)
    todo = tuple(dict.fromkeys(own + same))
    pr = _probes(int(batch), todo)
    idx = [todo.index(s) for s in (same if shared else own)]
    out = {k: pr[k][idx] for k in ("loss", "dgrad", "beta", "grad_norm", "ok")}
    out.update({k: pr[k] for k in ("etas", "steps", "seeds")}, specs=tuple(todo[i] for i in idx))
    return out


@functools.lru_cache(maxsize=None)
@cache.cached
def _probes(batch: int, todo: tuple) -> dict:
    """The landscape probe of every run of ``todo`` ((method, lr), ...) x seed x checkpoint of the
    ``batch`` sweep, every probe at the steps ``step_lr(batch) * PROBE_MULTIPLES``. NumPy ``loss``,
    ``dgrad`` (specs, seeds, checkpoints, K), ``beta``, ``grad_norm`` (specs, seeds, checkpoints);
    ``ok`` (specs, seeds): the run trained; ``specs``; ``etas`` (the K steps); ``steps`` (the
    checkpoints' step counts); ``seeds``."""
    res, seeds = sb.sweep(batch), sb.seeds_for(batch)
    st = sb.statuses(res)
    ck = res["ckpt"]
    n_ck = jax.tree_util.tree_leaves(ck)[0].shape[3]
    every = sb.STEPS // n_ck
    d = data.digits(images=True)
    x, y = jnp.asarray(d["x_train"]), jnp.asarray(d["y_train"])
    pick, kinds, rows, ok = [], [], [], []
    for m, lr in todo:
        ki, j = res["kinds"].index(m), sb.LRS[batch].index(lr)
        ok.append([bool(st[ki, j, si].ok) for si in range(len(seeds))])
        for si, s in enumerate(seeds):
            r = sb.rows_for(s, batch)
            for t in range(n_ck):
                pick.append((ki, j, si, t))
                kinds.append(sb.KINDS.index(m))
                rows.append(r[(t + 1) * every - 1])   # the batch of the step just taken
    idx = tuple(np.asarray(a) for a in zip(*pick))
    P = jax.tree_util.tree_map(lambda a: jnp.asarray(a[idx]), ck)
    etas = step_lr(batch) * np.asarray(PROBE_MULTIPLES, np.float32)

    def one(p, kind, row):
        layer = sb.Switch(kind=kind)
        loss = lambda q: train.cross_entropy(nets.apply_mlp(q, x[row], layer)[0], y[row])
        return landscape.probe(loss, p, jnp.asarray(etas))

    out = jax.jit(jax.vmap(one))(P, jnp.asarray(kinds), jnp.asarray(np.asarray(rows)))
    shape = (len(todo), len(seeds), n_ck)
    return {"loss": np.asarray(out["loss"]).reshape(shape + (-1,)),
            "dgrad": np.asarray(out["grad_change"]).reshape(shape + (-1,)),
            "beta": np.asarray(out["beta"]).reshape(shape), "grad_norm": np.asarray(out["grad_norm"]).reshape(shape),
            "ok": np.asarray(ok, bool), "specs": tuple(todo), "etas": tuple(float(e) for e in etas),
            "steps": tuple(every * (t + 1) for t in range(n_ck)), "seeds": tuple(seeds)}


def best_lr(method: str, batch: int = BATCH, shared: bool = False) -> float:
    """The rate ``method``'s probed run trained at: its best at ``batch`` (``shared``: the shared one)."""
    return dict(probes(batch, shared=shared)["specs"])[method]


def summaries(method: str, batch: int = BATCH, shared: bool = False) -> dict:
    """Chapter 5's :func:`~normlab.ch5.summaries.landscape_summary` of the probes of ``method``'s
    run, per seed: ``loss_var`` (the loss range along the gradient), ``grad_change`` (the largest
    change of the gradient) and ``beta`` (the effective beta-smoothness), each averaged over the
    checkpoints; NumPy (seeds,), NaN for a seed whose run did not train. ``shared``: the run at
    the shared rate."""
    pr = probes(batch, shared=shared)
    i = [m for m, _ in pr["specs"]].index(method)
    per = [landscape_summary({"probe_loss": pr["loss"][i, s], "probe_dgrad": pr["dgrad"][i, s],
                              "beta": pr["beta"][i, s], "grad_norm": pr["grad_norm"][i, s]})
           for s in range(len(pr["seeds"]))]
    return {k: np.where(pr["ok"][i], [p[k] for p in per], np.nan) for k in KEYS}


def ratios(a: str, b: str, batch: int = BATCH, shared: bool = False) -> dict:
    """``a`` / ``b`` per seed for each of :data:`KEYS` (below 1: ``a`` is smoother), over the seeds
    where both runs trained; ``dropped``: how many seeds were not. ``shared``: both runs at the
    shared rate :func:`step_lr`, not each at its own best."""
    sa, sb_ = summaries(a, batch, shared), summaries(b, batch, shared)
    keep = ~(np.isnan(sa["loss_var"]) | np.isnan(sb_["loss_var"]))
    out = {k: sa[k][keep] / sb_[k][keep] for k in KEYS}
    out["dropped"] = int(np.sum(~keep))
    return out


#: every statistic of the rule below: the loss range, the gradient change, the effective beta and
#: the gradient's norm (the "Lipschitz constant of the loss" along the probe)
STATS = ("loss_var", "grad_change", "beta", "grad_norm")
NAMES = {"loss_var": "loss range", "grad_change": "gradient change", "beta": "effective beta",
         "grad_norm": "gradient norm"}
#: THE RULE, fixed before the numbers were computed (re-referee 6C). Per pair, per statistic and
#: per view: the ratio a/b in every (seed, checkpoint) cell; each seed's geometric mean over the
#: checkpoints; the pair's geometric mean over the seeds with a 95% t interval on the logs of the
#: seeds' geometric means (n - 1 degrees of freedom: the seeds are the independent units, the
#: checkpoints of one run are not). "a smoother than b" is DETECTED when the whole interval lies
#: below 1 for some statistic in some view; "rougher" when it lies above 1; otherwise no
#: difference is detected. At least 2 seeds are needed for an interval.
MIN_SEEDS = 2


def cell_ratios(a: str, b: str, batch: int = BATCH, shared: bool = False) -> dict:
    """``a`` / ``b`` per (seed, checkpoint) for each of :data:`STATS` (the statistic of ONE probe,
    as :func:`~normlab.ch5.summaries.landscape_summary` defines it: loss max - min, largest
    gradient change, beta, gradient norm), NumPy (seeds kept, checkpoints), over the seeds where
    both runs trained; ``dropped``: how many seeds were not; ``steps``: the checkpoints."""
    pr = probes(batch, shared=shared)
    names = [m for m, _ in pr["specs"]]
    i, j = names.index(a), names.index(b)
    keep = pr["ok"][i] & pr["ok"][j]

    def stat(k):
        return {"loss_var": np.ptp(pr["loss"][k], axis=-1), "grad_change": np.max(pr["dgrad"][k], axis=-1),
                "beta": pr["beta"][k], "grad_norm": pr["grad_norm"][k]}

    sa, sb_ = stat(i), stat(j)
    out = {k: np.asarray(sa[k] / sb_[k], float)[keep] for k in STATS}
    # not in the rule: the batch loss at the smallest probe step (how well each run fits its batch)
    out["fit"] = np.asarray(pr["loss"][i][..., 0] / pr["loss"][j][..., 0], float)[keep]
    out["dropped"], out["steps"] = int(np.sum(~keep)), tuple(pr["steps"])
    return out


def aggregate(r: dict, stats: tuple = STATS) -> dict:
    """The rule's numbers for each of :data:`STATS` from :func:`cell_ratios`: ``gm`` (geometric
    mean), ``lo``, ``hi`` (its 95% interval; NaN with fewer than :data:`MIN_SEEDS` seeds), ``n``
    (seeds), ``seeds`` (each seed's geometric mean over the checkpoints), and per checkpoint
    ``ck_gm`` (geometric mean over the seeds) and ``ck_below`` (seeds below 1)."""
    out = {}
    for k in stats:
        c = np.asarray(r[k], float)
        n = c.shape[0]
        per = np.exp(np.log(c).mean(axis=1)) if n else np.zeros(0)
        gm, lo, hi = log_ci(per) if n >= MIN_SEEDS else (float(np.exp(np.log(per).mean())) if n else np.nan,
                                                          np.nan, np.nan)
        out[k] = {"gm": gm, "lo": lo, "hi": hi, "n": n, "seeds": per,
                  "ck_gm": np.exp(np.log(c).mean(axis=0)) if n else np.full(c.shape[1:], np.nan),
                  "ck_below": (c < 1).sum(axis=0)}
    return out


def detected(agg: dict, smoother: bool = True) -> tuple:
    """The statistics whose 95% interval lies wholly below 1 (``smoother``) or above 1; none with
    fewer than :data:`MIN_SEEDS` seeds (no interval: nothing is detected)."""
    return tuple(k for k, v in agg.items()
                 if np.isfinite(v["hi"]) and (v["hi"] < 1 if smoother else v["lo"] > 1))


def verdict_word(v: dict) -> str:
    """'smoother', 'rougher' or 'no difference detected' from one statistic's interval."""
    if not np.isfinite(v["hi"]):
        return "too few seeds"
    return "smoother" if v["hi"] < 1 else "rougher" if v["lo"] > 1 else "no difference detected"


def gm_text(v: dict) -> str:
    """One statistic's geometric mean and interval, e.g. 'x1.21 [0.80, 1.83]'; three decimals
    where a bound would print as 1.00, so that which side of 1 it lies on can be read."""
    nd = 3 if any(f"{v[k]:.2f}" == "1.00" for k in ("lo", "hi")) else 2
    return f"×{v['gm']:.{nd}f} [{v['lo']:.{nd}f}, {v['hi']:.{nd}f}]"


def smoother_everywhere(r: dict) -> bool:
    """Both the loss range and the gradient change lower (ratio below 1) in every seed."""
    return bool(len(r["loss_var"]) and all(np.all(r[k] < 1) for k in KEYS[:2]))


def rougher_everywhere(r: dict) -> bool:
    """Both the loss range and the gradient change higher (ratio above 1) in every seed."""
    return bool(len(r["loss_var"]) and all(np.all(r[k] > 1) for k in KEYS[:2]))


def count(r: dict, smoother: bool = True) -> int:
    """The seeds (or cells) in which both measures are lower (``smoother``) or both higher; a
    clear error for no seeds at all (a count of 0 of 0 would read as 'never smoother')."""
    lv, gc = np.asarray(r["loss_var"]), np.asarray(r["grad_change"])
    if lv.size == 0:
        raise ValueError("no seed in which both runs trained: nothing to count")
    return int(np.sum((lv < 1) & (gc < 1))) if smoother else int(np.sum((lv > 1) & (gc > 1)))


def log_ci(v) -> tuple:
    """The geometric mean of the ratios ``v`` and its 95% t interval (on log ratios)."""
    lg = np.log(np.asarray(v, float))
    n = len(lg)
    if n < MIN_SEEDS:
        raise ValueError(f"an interval needs at least {MIN_SEEDS} values, got {n}")
    half = sb._T975[n - 1] * lg.std(ddof=1) / np.sqrt(n)
    return float(np.exp(lg.mean())), float(np.exp(lg.mean() - half)), float(np.exp(lg.mean() + half))


def final_loss(method: str, batch: int = BATCH, last: int = 10, shared: bool = False) -> np.ndarray:
    """The training loss of ``method``'s probed run averaged over its last ``last`` steps, per
    seed (how far the run has trained; batch losses, so noisy)."""
    res = sb.sweep(batch)
    i, j = res["kinds"].index(method), sb.LRS[batch].index(best_lr(method, batch, shared))
    return np.asarray(res["loss"][i, j], float)[..., -last:].mean(-1)
