"""Every claim the book makes, re-measured.

Each chapter's ``normlab.chN.claims`` defines ``CLAIMS``, a list of :class:`Claim`. A claim pairs
the sentence the book states with a function that measures it now. Every row carries two
verdicts:

- the **check**: does our measurement support the sentence *the book* states (PASS/FAIL)? The
  tests assert it, and ``python -m normlab claims`` exits 1 when one fails;
- the **paper verdict**: did *the paper's* statement hold at our scale? One of
  :data:`REPRODUCED`, :data:`PARTLY`, :data:`NOT_REPRODUCED`, or :data:`IDENTITY` (a derivation or a
  by-construction fact: a numerical identity, not an empirical claim about training).

A book sentence may well be "the paper's claim does not hold here": its check PASSes while the
paper verdict says *not reproduced at our scale*. The chapter's "Claims checked" table,
``python -m normlab claims``, the book's claims page and the test suite all run the same
functions, so they cannot disagree. Rows are named ``chapter.k`` in the order they are listed.
"""

from __future__ import annotations

import argparse
import html
import importlib
import os
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

# Modules that define CLAIMS, in chapter order.
MODULES = ["normlab.ch1.claims", "normlab.ch2.claims", "normlab.ch3.claims", "normlab.ch4.claims",
           "normlab.ch5.claims"]

REPRODUCED = "reproduced"
PARTLY = "partly reproduced"
NOT_REPRODUCED = "not reproduced at our scale"
IDENTITY = "identity"
VERDICTS = (REPRODUCED, PARTLY, NOT_REPRODUCED, IDENTITY)


def minmax(vals, fmt: str = ".2f") -> str:
    """``"lo-hi"``: the spread of ``vals`` (e.g. one value per seed) in the format ``fmt``, or a
    single number when both ends print the same; ``fmt`` ending in ``d`` rounds to integers."""
    v = np.asarray(vals, float)
    lo, hi = (int(round(v.min())), int(round(v.max()))) if fmt.endswith("d") else (v.min(), v.max())
    lo, hi = format(lo, fmt), format(hi, fmt)
    return lo if lo == hi else f"{lo}-{hi}"


@dataclass
class Claim:
    """One claim. ``measure() -> (measured, passed)`` or ``(measured, passed, verdict)``: the text
    of our measurement, whether it supports the book's sentence ``claim``, and, when it depends
    on the measurement, the paper verdict; otherwise ``verdict`` gives it. ``expected`` is the
    paper's own statement."""

    chapter: int
    claim: str
    expected: str
    measure: Callable[[], tuple]
    verdict: str | None = None


@dataclass
class Row:
    chapter: int
    claim: str
    measured: str
    expected: str
    passed: bool
    seconds: float
    verdict: str = ""
    id: str = ""


def all_claims(chapter: int | None = None) -> list[Claim]:
    out = []
    for name in MODULES:
        out.extend(importlib.import_module(name).CLAIMS)
    return [c for c in out if chapter is None or c.chapter == chapter]


def row_id(c: Claim) -> str:
    """``chapter.k``: the claim's place among its chapter's claims (from 1)."""
    same = [x for x in all_claims(c.chapter)]
    k = next((i for i, x in enumerate(same) if x is c), None)
    return f"{c.chapter}.{k + 1}" if k is not None else f"{c.chapter}.?"


def check(c: Claim) -> Row:
    """Measure one claim. A measurement that raises is a FAIL with the error as its text; a claim
    without a valid paper verdict fails too (every row must say what it says about the paper)."""
    t0 = time.perf_counter()
    verdict = c.verdict
    try:
        out = c.measure()
        measured, passed = out[0], bool(out[1])
        if len(out) > 2:
            verdict = out[2]
    except Exception as e:  # a broken measurement is a failed claim, not a crash
        measured, passed = f"error: {type(e).__name__}: {e}", False
    if verdict not in VERDICTS:
        measured += f" [no valid paper verdict: {verdict!r}]"
        passed, verdict = False, str(verdict)
    return Row(c.chapter, c.claim, measured, c.expected, passed, time.perf_counter() - t0,
               verdict, row_id(c))


def run(chapter: int | None = None) -> list[Row]:
    return [check(c) for c in all_claims(chapter)]


class Table:
    """The rows as a table: HTML in a notebook (and on the claims page), aligned text in a terminal."""

    HEAD = ("row", "claim", "our measurement", "the paper's statement", "check", "paper verdict")

    def __init__(self, rows: list[Row], chapters: bool = False):
        self.rows = rows
        self.chapters = chapters

    @property
    def all_passed(self) -> bool:
        return all(r.passed for r in self.rows)

    def _cells(self, r: Row):
        return (r.id, r.claim, r.measured, r.expected, "PASS" if r.passed else "FAIL", r.verdict)

    def __str__(self) -> str:
        body = [self._cells(r) for r in self.rows]
        widths = [min(60, max(len(x[i]) for x in [self.HEAD] + body)) for i in range(len(self.HEAD))]
        line = lambda x: " | ".join(s.ljust(w) for s, w in zip(x, widths))
        return "\n".join([line(self.HEAD), "-+-".join("-" * w for w in widths)] + [line(b) for b in body])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        def row(r: Row) -> str:
            c = self._cells(r)
            check = f"<b class='nl-{'pass' if r.passed else 'fail'}'>{c[4]}</b>"
            verdict = f"<span class='nl-verdict nl-{r.verdict.split()[0]}'>{html.escape(r.verdict)}</span>"
            return ("<tr>" + "".join(f"<td>{html.escape(x)}</td>" for x in c[:4])
                    + f"<td>{check}</td><td>{verdict}</td></tr>")

        head = "".join(f"<th>{h}</th>" for h in self.HEAD)
        # The table scrolls sideways inside its own box on a narrow screen, never the page; the
        # website styles the check and verdict cells (book/_static/normlab.css).
        # tabindex: a keyboard reader can focus the box and scroll it with the arrow keys.
        return (f"<div class='normlab-claims-scroll' style='overflow-x:auto;max-width:100%' "
                f"tabindex='0' role='region' aria-label='Claims checked (the table scrolls sideways)'>"
                f"<table class='normlab-claims'><thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(row(r) for r in self.rows)}</tbody></table></div>")


def table(chapter: int | None = None) -> Table:
    """Measure the claims of ``chapter`` (all if None) and return them as a :class:`Table`
    (an empty one in the course grader's kernel, which never reads it)."""
    if os.environ.get("NORMLAB_GRADING"):
        return Table([])
    return Table(run(chapter))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m normlab claims",
                                description="Re-measure every claim of the book.")
    p.add_argument("--chapter", type=int, default=None, help="only this chapter")
    a = p.parse_args(argv)
    rows = []
    for c in all_claims(a.chapter):
        r = check(c)
        rows.append(r)
        print(f"[{'PASS' if r.passed else 'FAIL'}] {r.id} {r.claim} ({r.seconds:.1f} s)",
              file=sys.stderr, flush=True)
    t = Table(rows)
    print(t)
    counts = {v: sum(r.verdict == v for r in rows) for v in VERDICTS}
    print(f"\ncheck: {sum(r.passed for r in rows)} passed, {sum(not r.passed for r in rows)} failed")
    print("paper verdicts: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
    return 0 if t.all_passed else 1
