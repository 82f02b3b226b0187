r"""Fair comparisons: every method at its own best learning rate, over seeds, with runs that did
not train set aside.

A sentence that ranks methods ("A trains faster", "no advantage", "more robust", "comparable")
compares each method at the learning rate that suits it, not at one rate that may over- or
under-step one of them. :func:`compare` takes a metric measured on a grid (method x learning
rate x seed) with a criterion fixed before looking (e.g. "mean training loss of the last 20
steps", lower is better), and each run's :func:`normlab.train.status`; it picks each method's best
learning rate among those where every seed trained, and returns a :class:`Comparison`: the best
rate, the metric there for every seed (its spread), the runs it excluded and why, and the whole
table. :func:`evaluate` does the same from a function that trains one run.

Typical use, with a grid the chapter has already trained::

    cmp = compare(final_loss, methods=["none", "BN"], lrs=lrs, seeds=[0, 1, 2],
                  criterion="mean training loss, last 20 of 200 steps", status=kinds)
    cmp.best_lr["BN"], cmp.summary("BN"), cmp.ratio("BN", "none"), cmp.excluded_text()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np


def final(curve, k: int = 20, axis: int = -1):
    """Mean of the last ``k`` values along ``axis``: the usual fixed-before-looking criterion."""
    c = np.asarray(curve, float)
    return np.take(c, np.arange(c.shape[axis] - k, c.shape[axis]), axis=axis).mean(axis=axis)


def _kind(s) -> str:
    if s is None:
        return "ok"
    return getattr(s, "kind", str(s))


def _why(s) -> str:
    return getattr(s, "why", _kind(s))


@dataclass
class Comparison:
    """The result of :func:`compare` (see the module docstring)."""

    methods: list
    lrs: np.ndarray
    seeds: list
    metric: np.ndarray                  # (methods, lrs, seeds)
    kinds: np.ndarray                   # (methods, lrs, seeds): "ok", "diverged", "died", "stalled"
    whys: np.ndarray                    # the same, one line each
    criterion: str
    higher_is_better: bool = False
    best_lr: dict = field(default_factory=dict)   # method -> float, or None if no rate trained
    at_best: dict = field(default_factory=dict)   # method -> (seeds,) metric at its best rate

    def _i(self, method) -> int:
        return self.methods.index(method)

    def usable(self, method) -> np.ndarray:
        """(lrs,) bool: every seed trained at that rate."""
        return np.all(self.kinds[self._i(method)] == "ok", axis=-1)

    def mean(self, method) -> np.ndarray:
        """(lrs,) mean over seeds of the metric (NaN where a seed did not train)."""
        return np.where(self.usable(method), self.metric[self._i(method)].mean(axis=-1), np.nan)

    def summary(self, method, fmt: str = ".3g") -> str:
        """"0.051 (0.048-0.055 over 3 seeds) at lr 0.3", or why there is no best rate."""
        lr = self.best_lr[method]
        if lr is None:
            return "no learning rate where every seed trained"
        v = self.at_best[method]
        return (f"{format(v.mean(), fmt)} ({format(v.min(), fmt)}-{format(v.max(), fmt)} over "
                f"{len(v)} seeds) at lr {lr:g}")

    def ratio(self, a, b) -> np.ndarray:
        """Per seed: ``a``'s metric at its best rate over ``b``'s at its own."""
        return self.at_best[a] / self.at_best[b]

    def ranking(self) -> list:
        """Methods with a usable rate, best first (by the mean over seeds at the best rate)."""
        ok = [m for m in self.methods if self.best_lr[m] is not None]
        key = lambda m: self.at_best[m].mean()
        return sorted(ok, key=key, reverse=self.higher_is_better)

    def wins(self, a, b) -> int:
        """In how many seeds ``a`` (at its best rate) beats ``b`` (at its own)."""
        x, y = self.at_best[a], self.at_best[b]
        return int(np.sum(x > y if self.higher_is_better else x < y))

    def excluded(self, method=None) -> list[tuple]:
        """``(method, lr, seed, why)`` for every run that did not train."""
        out = []
        for i, m in enumerate(self.methods):
            if method is not None and m != method:
                continue
            for j, lr in enumerate(self.lrs):
                for k, s in enumerate(self.seeds):
                    if self.kinds[i, j, k] != "ok":
                        out.append((m, float(lr), s, str(self.whys[i, j, k])))
        return out

    def excluded_text(self) -> str:
        """"4 of 45 runs excluded (3 diverged, 1 died)", or "no run excluded"."""
        ex = self.excluded()
        if not ex:
            return "no run excluded"
        counts = {k: int(np.sum(self.kinds == k)) for k in ("diverged", "died", "stalled")}
        parts = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        return f"{len(ex)} of {self.kinds.size} runs excluded ({parts})"

    def table(self, fmt: str = ".3g") -> str:
        """Mean metric over seeds per method (rows) and learning rate (columns); '*' marks each
        method's best rate, 'x' a rate where some seed did not train."""
        head = ["method"] + [f"lr {lr:g}" for lr in self.lrs]
        rows = []
        for m in self.methods:
            i = self._i(m)
            cells = [str(m)]
            for j, lr in enumerate(self.lrs):
                if not self.usable(m)[j]:
                    bad = int(np.sum(self.kinds[i, j] != "ok"))
                    cells.append(f"x ({bad}/{len(self.seeds)} not trained)")
                else:
                    star = "*" if self.best_lr[m] == float(lr) else ""
                    cells.append(format(float(self.metric[i, j].mean()), fmt) + star)
            rows.append(cells)
        w = [max(len(r[c]) for r in [head] + rows) for c in range(len(head))]
        line = lambda r: "  ".join(x.ljust(n) for x, n in zip(r, w))
        return "\n".join([f"{self.criterion} ({'higher' if self.higher_is_better else 'lower'} is "
                          f"better; mean over {len(self.seeds)} seeds; * best rate)", line(head)]
                         + [line(r) for r in rows])

    __str__ = table


def compare(metric, *, methods: Sequence, lrs: Sequence[float], seeds: Sequence,
            criterion: str, status=None, higher_is_better: bool = False) -> Comparison:
    """Each method at its own best learning rate.

    ``metric``: (methods, lrs, seeds), the criterion's value for each run, fixed before looking.
    ``status``: the same shape, each run's :func:`normlab.train.status` (or its kind as a string;
    None: every run trained). A rate counts only where every seed trained; among those, the
    best mean over seeds wins. A method with no such rate has ``best_lr`` None.
    """
    metric = np.asarray(metric, float)
    shape = (len(methods), len(lrs), len(seeds))
    if metric.shape != shape:
        raise ValueError(f"metric has shape {metric.shape}; expected (methods, lrs, seeds) = {shape}")
    if status is None:
        status = np.full(shape, "ok", dtype=object)
    status = np.asarray(status, dtype=object).reshape(shape)
    kinds = np.vectorize(_kind, otypes=[object])(status)
    whys = np.vectorize(_why, otypes=[object])(status)
    kinds = np.where(np.isfinite(metric), kinds, np.where(kinds == "ok", "diverged", kinds))
    c = Comparison(list(methods), np.asarray(lrs, float), list(seeds), metric, kinds, whys,
                   criterion, higher_is_better)
    for m in c.methods:
        mean = c.mean(m)
        if np.all(np.isnan(mean)):
            c.best_lr[m], c.at_best[m] = None, np.full(len(seeds), np.nan)
            continue
        j = int(np.nanargmax(mean) if higher_is_better else np.nanargmin(mean))
        c.best_lr[m] = float(c.lrs[j])
        c.at_best[m] = metric[c._i(m), j].copy()
    return c


def evaluate(run: Callable, *, methods: Sequence, lrs: Sequence[float], seeds: Sequence,
             criterion: str, higher_is_better: bool = False) -> Comparison:
    """:func:`compare` from ``run(method, lr, seed) -> (value, status)``, one run per call (use
    :func:`compare` directly when a vmapped grid has trained every run at once)."""
    metric = np.zeros((len(methods), len(lrs), len(seeds)))
    status = np.empty(metric.shape, dtype=object)
    for i, m in enumerate(methods):
        for j, lr in enumerate(lrs):
            for k, s in enumerate(seeds):
                metric[i, j, k], status[i, j, k] = run(m, lr, s)
    return compare(metric, methods=methods, lrs=lrs, seeds=seeds, criterion=criterion,
                   status=status, higher_is_better=higher_is_better)
