r"""Chapter 4, section 4.2: the invariances of Table 1 of Ba et al., recomputed.

Each of the 18 cells applies one transformation to a random layer and batch (float64,
:math:`\epsilon = 0`) and measures how much the normalized summed inputs of eq. 5 change
(:func:`normlab.ch4.definitions.common_form`; the nonlinearity :math:`f` applied afterwards
changes nothing). A cell is "Invariant" when the relative change is below ``TOL``.

The transformations, in normlab's ``h @ W`` layout (unit :math:`i`'s weights are column ``i``):

==================================  ==============================================================
weight matrix re-scaling            :math:`W \to \delta W`
weight matrix re-centering          :math:`w_i \to w_i + \gamma` for every unit (:math:`W + \mathbf 1\gamma^\top` in the paper's layout)
weight vector re-scaling            one unit's :math:`w_i \to \delta w_i`
dataset re-scaling                  every :math:`x \to \delta x`
dataset re-centering                every :math:`x \to x + c`
single training case re-scaling     one example :math:`x \to \delta x`
==================================  ==============================================================
"""

from __future__ import annotations

import functools
import html

import jax.numpy as jnp
import numpy as np

import normlab
from normlab.ch4.definitions import KINDS, NAMES, common_form, random_layer
from normlab import cache

TRANSFORMS = ("weight matrix re-scaling", "weight matrix re-centering", "weight vector re-scaling",
              "dataset re-scaling", "dataset re-centering", "single training case re-scaling")
INV, NO = "Invariant", "No"
#: Table 1 of Ba et al. (2016), as printed.
PAPER = {"bn": (INV, NO, INV, INV, INV, NO),
         "wn": (INV, NO, INV, NO, NO, NO),
         "ln": (INV, INV, NO, INV, NO, INV)}
TOL = 1e-10

#: One line per cell: why it is (or is not) invariant.
WHY = {
    ("bn", 0): "a scales by delta per unit over the batch; mu and sigma scale with it.",
    ("bn", 1): "adds gamma.x to every unit: it varies between examples, so mu_i does not absorb it and sigma_i changes.",
    ("bn", 2): "each unit is normalized by its own statistics, which scale with its own weights.",
    ("bn", 3): "every a_i scales by delta across the batch: cancelled by sigma_i.",
    ("bn", 4): "every a_i shifts by w_i.c, the same for all examples: removed by mu_i.",
    ("bn", 5): "one example's a_i changes alone, which moves mu_i and sigma_i for everyone.",
    ("wn", 0): "w_i/||w_i|| does not depend on the length of w_i.",
    ("wn", 1): "(w_i + gamma)/||w_i + gamma|| is another direction: the output changes.",
    ("wn", 2): "the same as re-scaling the matrix, one unit at a time.",
    ("wn", 3): "WN ignores the data: a_i/||w_i|| scales by delta.",
    ("wn", 4): "nothing subtracts the mean of the data: a_i shifts by w_i.c/||w_i||.",
    ("wn", 5): "that example's output scales by delta.",
    ("ln", 0): "all units of an example scale by delta: cancelled by the shared sigma.",
    ("ln", 1): "adds gamma.x to every unit of an example: removed by that example's mean mu.",
    ("ln", 2): "one unit scales, the others do not: mu and sigma mix them differently.",
    ("ln", 3): "every example's units scale together: cancelled by its own sigma.",
    ("ln", 4): "the shift W c differs from unit to unit: not a common shift of the example's units.",
    ("ln", 5): "statistics are per example: that example's mu and sigma scale with it.",
}


def transform(k: int, W, x, delta, gamma, c, unit: int = 1, case: int = 3):
    r"""Apply transformation ``TRANSFORMS[k]`` to the weights ``W`` (D, H) and the batch ``x``
    (n, D); returns ``(W', x')``. ``delta``: a scale, ``gamma`` (D,): the re-centering vector of
    the weights, ``c`` (D,): the shift of the data; ``unit`` / ``case``: the unit or example that
    a single re-scaling acts on."""
    if k == 0:
        return delta * W, x
    if k == 1:
        return W + gamma[:, None], x
    if k == 2:
        return W.at[:, unit].multiply(delta), x
    if k == 3:
        return W, delta * x
    if k == 4:
        return W, x + c
    if k == 5:
        return W, x.at[case].multiply(delta)
    raise ValueError(f"k must be 0..{len(TRANSFORMS) - 1}; got {k}")


def output_change(kind: str, k: int, seed: int = 0, eps: float = 0.0, delta: float = 2.7) -> float:
    r"""Relative change :math:`\max|z' - z| / \max|z|` of eq. 5's output under transformation
    ``k`` for normalization ``kind`` (float64). Each unit keeps its gain and bias."""
    rng = np.random.default_rng(seed + 11)
    with normlab.float64():
        W, b, g, x = (jnp.asarray(v) for v in random_layer(seed))
        gamma, c = jnp.asarray(rng.normal(size=W.shape[0])), jnp.asarray(rng.normal(size=W.shape[0]))
        z = common_form(kind, W, b, g, x, eps)
        W2, x2 = transform(k, W, x, delta, gamma, c)
        z2 = common_form(kind, W2, b, g, x2, eps)
        return float(jnp.max(jnp.abs(z2 - z)) / jnp.max(jnp.abs(z)))


@cache.cached
@functools.lru_cache(maxsize=None)
def invariance_table(seeds=(0, 1, 2), eps: float = 0.0, deltas=(2.7, 0.3)) -> dict:
    r"""All 18 cells: ``change[kind]`` (6,), the largest relative output change over the
    ``seeds`` and the scales ``deltas``; ``measured[kind]``, "Invariant" where it is below
    ``TOL``; ``paper[kind]``, Table 1 as printed; ``agree``: all 18 cells as printed."""
    change = {kind: np.array([max(output_change(kind, k, s, eps, d) for s in seeds for d in deltas)
                              for k in range(len(TRANSFORMS))]) for kind in KINDS}
    measured = {kind: tuple(INV if v < TOL else NO for v in change[kind]) for kind in KINDS}
    agree = all(measured[kind] == PAPER[kind] for kind in KINDS)
    return {"change": change, "measured": measured, "paper": PAPER, "agree": agree,
            "n_agree": sum(m == p for kind in KINDS for m, p in zip(measured[kind], PAPER[kind]))}


class InvarianceTable:
    """Table 1 as computed: one row per normalization, one column per transformation; each cell
    shows our verdict, the measured relative output change and whether it matches the paper.
    HTML in a notebook, aligned text in a terminal."""

    def __init__(self, result: dict, why: bool = False):
        self.r = result
        self.why = why

    def _cell(self, kind, k):
        m, p = self.r["measured"][kind][k], self.r["paper"][kind][k]
        return m, p, self.r["change"][kind][k]

    def __str__(self) -> str:
        head = ["", *TRANSFORMS]
        rows = []
        for kind in KINDS:
            cells = []
            for k in range(len(TRANSFORMS)):
                m, p, v = self._cell(kind, k)
                cells.append(f"{m} ({v:.0e}){'' if m == p else ' [paper: ' + p + ']'}")
            rows.append([NAMES[kind], *cells])
        w = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
        fmt = lambda r: " | ".join(s.ljust(n) for s, n in zip(r, w))
        lines = [fmt(head), "-+-".join("-" * n for n in w)] + [fmt(r) for r in rows]
        lines.append(f"{self.r['n_agree']}/18 cells agree with Table 1 of Ba et al.")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        th = "".join(f"<th>{html.escape(t)}</th>" for t in TRANSFORMS)
        body = []
        for kind in KINDS:
            tds = []
            for k in range(len(TRANSFORMS)):
                m, p, v = self._cell(kind, k)
                ok = "&#10003; as in the paper" if m == p else f"&#10007; paper: {html.escape(p)}"
                why = f"<br><small>{html.escape(WHY[(kind, k)])}</small>" if self.why else ""
                tds.append(f"<td><b>{m}</b><br><small>change {v:.1e}</small><br>"
                           f"<small>{ok}</small>{why}</td>")
            body.append(f"<tr><th>{html.escape(NAMES[kind])}</th>{''.join(tds)}</tr>")
        return ("<div class='normlab-claims-scroll' style='overflow-x:auto;max-width:100%' tabindex='0' "
                "role='region' aria-label='Table 1, recomputed (scrolls sideways)'>"
                "<table class='normlab-invariances'><caption>Table 1 of Ba et al., recomputed: "
                f"relative change of the normalized summed inputs (float64, eps = 0); "
                f"{self.r['n_agree']}/18 cells as printed in the paper</caption>"
                f"<thead><tr><th></th>{th}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def why_lines() -> str:
    """The 18 one-line explanations, grouped by normalization."""
    out = []
    for kind in KINDS:
        out.append(f"{NAMES[kind]}:")
        for k, t in enumerate(TRANSFORMS):
            out.append(f"  {t:33s} {PAPER[kind][k]:9s} {WHY[(kind, k)]}")
    return "\n".join(out)
