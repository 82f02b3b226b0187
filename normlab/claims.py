"""Every claim the book makes, re-measured.

Each chapter module defines ``CLAIMS``, a list of :class:`Claim`. A claim pairs the sentence the
book states with a function that measures it now and says whether the measurement supports it.
The chapter's "Claims checked" table, ``python -m normlab claims`` and the test suite all run the
same functions, so the three cannot disagree.
"""

from __future__ import annotations

import importlib
import sys
import time
from dataclasses import dataclass
from typing import Callable

# Modules that define CLAIMS, in chapter order.
MODULES = ["normlab.bn_experiments", "normlab.naive", "normlab.smoothing"]


@dataclass
class Claim:
    """``measure() -> (measured: str, passed: bool)``; ``expected`` is the paper's statement."""

    chapter: int
    claim: str
    expected: str
    measure: Callable[[], tuple[str, bool]]


@dataclass
class Row:
    chapter: int
    claim: str
    measured: str
    expected: str
    passed: bool
    seconds: float


def all_claims(chapter: int | None = None) -> list[Claim]:
    out = []
    for name in MODULES:
        out.extend(importlib.import_module(name).CLAIMS)
    return [c for c in out if chapter is None or c.chapter == chapter]


def check(c: Claim) -> Row:
    """Measure one claim. A measurement that raises is a FAIL with the error as its text."""
    t0 = time.perf_counter()
    try:
        measured, passed = c.measure()
    except Exception as e:  # a broken measurement is a failed claim, not a crash
        measured, passed = f"error: {type(e).__name__}: {e}", False
    return Row(c.chapter, c.claim, measured, c.expected, bool(passed), time.perf_counter() - t0)


def run(chapter: int | None = None) -> list[Row]:
    return [check(c) for c in all_claims(chapter)]


class Table:
    """The rows as a table: HTML in a notebook, aligned text in a terminal."""

    def __init__(self, rows: list[Row]):
        self.rows = rows

    @property
    def all_passed(self) -> bool:
        return all(r.passed for r in self.rows)

    def __str__(self) -> str:
        head = ("chapter", "claim", "measured", "expected", "verdict")
        body = [(str(r.chapter), r.claim, r.measured, r.expected, "PASS" if r.passed else "FAIL")
                for r in self.rows]
        widths = [min(60, max(len(x[i]) for x in [head] + body)) for i in range(5)]
        line = lambda x: " | ".join(s.ljust(w) for s, w in zip(x, widths))
        return "\n".join([line(head), "-+-".join("-" * w for w in widths)] + [line(b) for b in body])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        import html

        cells = "".join(
            f"<tr><td>{html.escape(r.claim)}</td><td>{html.escape(r.measured)}</td>"
            f"<td>{html.escape(r.expected)}</td><td><b style='color:"
            f"{'#009E73' if r.passed else '#D55E00'}'>{'PASS' if r.passed else 'FAIL'}</b></td></tr>"
            for r in self.rows)
        return ("<table class='normlab-claims'><thead><tr><th>claim</th><th>our measurement</th>"
                "<th>the paper's statement</th><th>verdict</th></tr></thead>"
                f"<tbody>{cells}</tbody></table>")


def table(chapter: int | None = None) -> Table:
    """Measure the claims of ``chapter`` (all if None) and return them as a :class:`Table`."""
    return Table(run(chapter))


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m normlab claims",
                                description="Re-measure every claim of the book.")
    p.add_argument("--chapter", type=int, default=None, help="only this chapter")
    a = p.parse_args(argv)
    rows = []
    for c in all_claims(a.chapter):
        r = check(c)
        rows.append(r)
        print(f"[{'PASS' if r.passed else 'FAIL'}] ch{r.chapter} {r.claim} ({r.seconds:.1f} s)",
              file=sys.stderr, flush=True)
    t = Table(rows)
    print(t)
    print(f"\n{sum(r.passed for r in rows)} passed, {sum(not r.passed for r in rows)} failed")
    return 0 if t.all_passed else 1
