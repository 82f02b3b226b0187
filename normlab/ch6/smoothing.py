r"""Chapter 6, section 6.7: does WS smooth the landscape? Chapter 5's probes
(:func:`normlab.landscape.probe`: the loss and the gradient along the gradient direction, at step
sizes :data:`normlab.ch5.experiments.PROBE_MULTIPLES` times the run's learning rate, summarised by
:func:`normlab.ch5.summaries.landscape_summary`) for GN against GN+WS and BN against BN+WS.

The runs are the batch-16 sweep's own (:func:`normlab.ch6.smallbatch.sweep`, which keeps each run's
parameters every ``CHECK_EVERY`` steps): each method at its own best learning rate, over the
sweep's seeds. At each checkpoint the probe uses the batch of 16 the run had just trained on, in
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
#: the probed methods: the two pairs, and "none" for the control
PROBED = ("none", "BN", "BN+WS", "GN", "GN+WS")
PAIRS = (("GN+WS", "GN"), ("BN+WS", "BN"))
KEYS = ("loss_var", "grad_change")
#: the control's extra probe: GN at the lowest rate of the grid, a run that has trained less far
#: than GN at its best rate; the probes must tell the two apart (a difference that is there)
CONTROL = ("GN", "low")


def specs(batch: int = BATCH, methods: tuple = PROBED) -> list:
    """``(method, lr)`` of every probed run: each of ``methods`` at its own best rate, then
    :data:`CONTROL`'s method at the lowest rate of the grid."""
    c = sb.comparison(batch, methods)
    for m in methods:
        if c.best_lr[m] is None:
            raise ValueError(f"{m} has no run that trained at batch {batch}: nothing to probe")
    return [(m, c.best_lr[m]) for m in methods] + [(CONTROL[0], sb.LRS[batch][0])]


def probes(batch: int = BATCH, methods: tuple = PROBED) -> dict:
    """:func:`_probes` (memoised; the same key however the arguments are spelled)."""
    return _probes(int(batch), tuple(methods))


@functools.lru_cache(maxsize=None)
@cache.cached
def _probes(batch: int, methods: tuple) -> dict:
    """The landscape probe of every ``methods`` x seed x checkpoint of the ``batch`` sweep, each
    method at its own best learning rate (:func:`normlab.ch6.smallbatch.comparison`), and the
    control's run (:func:`specs`). NumPy ``loss``, ``dgrad`` (specs, seeds, checkpoints, K),
    ``beta``, ``grad_norm`` (specs, seeds, checkpoints); ``specs`` ((method, lr), ...); ``steps``
    (the checkpoints' step counts); ``seeds``."""
    res, seeds, todo = sb.sweep(batch), sb.seeds_for(batch), specs(batch, methods)
    ck = res["ckpt"]
    n_ck = jax.tree_util.tree_leaves(ck)[0].shape[3]
    every = sb.STEPS // n_ck
    d = data.digits(images=True)
    x, y = jnp.asarray(d["x_train"]), jnp.asarray(d["y_train"])
    pick, kinds, lrs, rows = [], [], [], []
    for m, lr in todo:
        ki, j = res["kinds"].index(m), sb.LRS[batch].index(lr)
        for si, s in enumerate(seeds):
            r = sb.rows_for(s, batch)
            for t in range(n_ck):
                pick.append((ki, j, si, t))
                kinds.append(sb.KINDS.index(m))
                lrs.append(lr)
                rows.append(r[(t + 1) * every - 1])   # the batch of the step just taken
    idx = tuple(np.asarray(a) for a in zip(*pick))
    P = jax.tree_util.tree_map(lambda a: jnp.asarray(a[idx]), ck)
    etas = jnp.asarray(PROBE_MULTIPLES, jnp.float32)

    def one(p, kind, lr, row):
        layer = sb.Switch(kind=kind)
        loss = lambda q: train.cross_entropy(nets.apply_mlp(q, x[row], layer)[0], y[row])
        return landscape.probe(loss, p, lr * etas)

    out = jax.jit(jax.vmap(one))(P, jnp.asarray(kinds), jnp.asarray(lrs, jnp.float32),
                                 jnp.asarray(np.asarray(rows)))
    shape = (len(todo), len(seeds), n_ck)
    return {"loss": np.asarray(out["loss"]).reshape(shape + (-1,)),
            "dgrad": np.asarray(out["grad_change"]).reshape(shape + (-1,)),
            "beta": np.asarray(out["beta"]).reshape(shape), "grad_norm": np.asarray(out["grad_norm"]).reshape(shape),
            "specs": tuple(todo), "steps": tuple(every * (t + 1) for t in range(n_ck)),
            "seeds": tuple(seeds)}


def best_lr(method: str, batch: int = BATCH) -> float:
    """The rate ``method`` was probed at: its best at ``batch``."""
    return dict(probes(batch)["specs"][:len(PROBED)])[method]


def summaries(method: str, lr: float | None = None, batch: int = BATCH) -> dict:
    """Chapter 5's :func:`~normlab.ch5.summaries.landscape_summary` of the probes of ``method`` at
    ``lr`` (its best rate by default), per seed: ``loss_var`` (the loss range along the gradient)
    and ``grad_change`` (the largest change of the gradient), each averaged over the checkpoints;
    NumPy (seeds,)."""
    pr = probes(batch)
    i = pr["specs"].index((method, best_lr(method, batch) if lr is None else lr))
    per = [landscape_summary({"probe_loss": pr["loss"][i, s], "probe_dgrad": pr["dgrad"][i, s],
                              "beta": pr["beta"][i, s], "grad_norm": pr["grad_norm"][i, s]})
           for s in range(len(pr["seeds"]))]
    return {k: np.asarray([p[k] for p in per]) for k in KEYS}


def ratios(a, b, batch: int = BATCH) -> dict:
    """``a`` / ``b`` per seed for each of :data:`KEYS` (below 1: ``a`` is smoother); ``a`` and
    ``b`` are method names (at their best rates) or ``(method, lr)`` pairs."""
    s = lambda m: summaries(*((m,) if isinstance(m, str) else m), batch=batch)
    sa, sb_ = s(a), s(b)
    return {k: sa[k] / sb_[k] for k in KEYS}


def smoother_everywhere(r: dict) -> bool:
    """Both the loss range and the gradient change lower (ratio below 1) in every seed."""
    return bool(all(np.all(r[k] < 1) for k in KEYS))
