"""Every claim the book makes, re-measured.

Each chapter's ``normlab.chN.claims`` defines ``CLAIMS``, a list of :class:`Claim`. A claim pairs
the sentence the book states with a function that measures it now. Every row carries two
verdicts:

- the **check**: does our measurement support the sentence *the book* states (PASS/FAIL)? The
  tests assert it, and ``python -m normlab claims`` exits 1 when one fails;
- the **paper verdict**: did *the paper's* statement hold at our scale? One of
  :data:`REPRODUCED`, :data:`PARTLY`, :data:`NOT_REPRODUCED` (experiments), :data:`IDENTITY` (a
  derivation or a by-construction fact: a numerical identity, not an empirical claim about
  training), or :data:`FORMULA_CORRECTED` (the paper printed a formula or constant that the book
  derives and checks in a corrected form).

Every empirical row (any verdict but identity and formula-corrected) carries a **control**: the
same measurement in a setting where the claim should not hold (the other method, the mechanism
removed, shuffled labels, ...). ``control() -> (measured, passed)`` applies the row's own check
to that measurement, and it must FAIL: a check that also passes on the control cannot tell the
claim from its absence. ``python -m normlab claims --controls`` runs them and exits 1 when a
control passes. A *partly* or *not reproduced* row says in ``differs`` what differs from the
paper's setting and what might change at scale.

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
import re
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from normlab import cache

# Modules that define CLAIMS, in chapter order.
MODULES = ["normlab.ch1.claims", "normlab.ch2.claims", "normlab.ch3.claims", "normlab.ch4.claims",
           "normlab.ch5.claims", "normlab.ch6.claims", "normlab.ch7.claims"]

REPRODUCED = "reproduced"
PARTLY = "partly reproduced"
NOT_REPRODUCED = "not reproduced at our scale"
IDENTITY = "identity"
FORMULA_CORRECTED = "the paper's formula corrected"
#: a measurement the book makes where no paper states a claim (it still needs a control)
BOOK_MEASUREMENT = "the book's measurement (no paper claim)"
VERDICTS = (REPRODUCED, PARTLY, NOT_REPRODUCED, IDENTITY, FORMULA_CORRECTED, BOOK_MEASUREMENT)
#: verdicts of rows that need no control (nothing empirical to contrast) ...
NO_CONTROL = (IDENTITY, FORMULA_CORRECTED)
#: ... and of rows that must say what differs from the paper's setting
NEEDS_DIFFERS = (PARTLY, NOT_REPRODUCED)


_GREEK = {"alpha": "\u03b1", "beta": "\u03b2", "gamma": "\u03b3", "delta": "\u03b4", "Delta": "\u0394",
          "eps": "\u03b5", "eta": "\u03b7", "theta": "\u03b8", "kappa": "\u03ba", "lambda": "\u03bb",
          "mu": "\u03bc", "sigma": "\u03c3", "tau": "\u03c4", "chi": "\u03c7"}
_GREEK_WORD = re.compile(r"(?<![A-Za-z])(" + "|".join(_GREEK) + r")(?![A-Za-z])")
_POWER = re.compile(r"(?<=[\w)\]\u2016\u27e9\u0302\u0303*])\^(-?[0-9]+|T)\b")
_SUPERSCRIPT = str.maketrans("0123456789-T", "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079\u207b\u1d40")
_SUBSCRIPT = {"t": "\u209c", "+": "\u208a", "-": "\u208b", "1": "\u2081"}
_REWRITES = (  # (pattern, replacement), in this order
    (re.compile(r"->"), "\u2192"), (re.compile(r"<="), "\u2264"), (re.compile(r">="), "\u2265"),
    (re.compile(r"(?<![.\w])grad L\b"), "\u2207L"),
    (re.compile(r"(?<![.\w])grad log\b"), "\u2207log"),
    (re.compile(r"(?<![.\w])grad(?=[(>),])"), "\u2207L"),
    (re.compile(r"<([^\s<>=][^<>=\n]{0,30}?), ?([^<>=\n]{0,30}?\S)>"), "\u27e8\\1, \\2\u27e9"),
    (re.compile(r"([A-Za-z])_hat(?![A-Za-z])"), "\\1\u0302"),
    (re.compile(r"([A-Za-z])~"), "\\1\u0303"),
    (re.compile(r"_\{?(t[+-]1|t)\}?(?![A-Za-z0-9])"), lambda m: "".join(_SUBSCRIPT[c] for c in m.group(1))),
    (re.compile(r"(?<![\w.])x(?= ?[0-9])"), "\u00d7"),
)


def symbols(text: str) -> str:
    """A claim's text as a reader sees it on the website: the ASCII maths the claim modules write
    (``||v||``, ``sqrt(``, ``x^2``, ``eta``, ``sigma_B``) as symbols (``\u2016v\u2016``, ``\u221a(``,
    ``x\u00b2``, ``\u03b7``, ``\u03c3_B``). The terminal table keeps the ASCII; only whole words become
    Greek letters (``theta`` is not ``th`` + eta, ``beta_eff`` is \u03b2_eff)."""
    text = text.replace("||", "\u2016").replace("sqrt(", "\u221a(")
    for pattern, new in _REWRITES:
        text = pattern.sub(new, text)
    text = _POWER.sub(lambda m: m.group(1).translate(_SUPERSCRIPT), text)
    return _GREEK_WORD.sub(lambda m: _GREEK[m.group(1)], text)


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
    paper's own statement.

    ``control() -> (measured, passed)``: the same measurement where the claim should not hold,
    judged by the same check (it must fail); required for every verdict but identity and
    formula-corrected. ``differs``: for partly / not reproduced rows, one line on what differs
    from the paper's setting and what might change at scale."""

    chapter: int
    claim: str
    expected: str
    measure: Callable[[], tuple]
    verdict: str | None = None
    control: Callable[[], tuple] | None = None
    differs: str = ""


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
    differs: str = ""
    control: str = ""           # the control's measurement ("" when not run or none)
    control_passed: bool | None = None   # None: not run, or no control


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


def _call(fn) -> tuple:
    try:
        out = fn()
        return out[0], bool(out[1]), (out[2] if len(out) > 2 else None)
    except Exception as e:  # a broken measurement is a failed claim, not a crash
        return f"error: {type(e).__name__}: {e}", False, None


def _registered(c: Claim) -> tuple[int, int] | None:
    """``(chapter, k)`` when ``c`` is the k-th claim of its chapter's CLAIMS (not a stand-in)."""
    same = all_claims(c.chapter)
    k = next((i for i, x in enumerate(same) if x is c), None)
    return None if k is None else (c.chapter, k + 1)


@cache.cached
def _outcome(chapter: int, k: int, what: str) -> tuple:
    """The measurement (``what="measure"``) or control of claim ``chapter.k``: kept on disk by
    :mod:`normlab.cache` when it is on, so one build-and-test run measures each claim once."""
    c = all_claims(chapter)[k - 1]
    return _call(c.measure if what == "measure" else c.control)


def _measured(c: Claim, what: str) -> tuple:
    where = _registered(c) if cache.location() is not None else None
    if where is None:
        return _call(c.measure if what == "measure" else c.control)
    return _outcome(*where, what)


def check(c: Claim, controls: bool = False) -> Row:
    """Measure one claim (and, with ``controls``, its control). A measurement that raises is a
    FAIL with the error as its text; so is a claim without a valid paper verdict, an empirical
    claim without a control, and a partly / not-reproduced claim that does not say what differs
    from the paper's setting. A control that raises counts as passing (it did not show that the
    check can fail)."""
    t0 = time.perf_counter()
    measured, passed, verdict = _measured(c, "measure")
    verdict = verdict or c.verdict
    if verdict not in VERDICTS:
        measured += f" [no valid paper verdict: {verdict!r}]"
        passed, verdict = False, str(verdict)
    elif verdict not in NO_CONTROL and c.control is None:
        measured += " [an empirical claim needs a control]"
        passed = False
    elif verdict in NEEDS_DIFFERS and not c.differs.strip():
        measured += " [say what differs from the paper's setting]"
        passed = False
    control, control_passed = "", None
    if controls and c.control is not None:
        control, control_passed, _ = _measured(c, "control")
        if control.startswith("error:"):
            control_passed = True
    return Row(c.chapter, c.claim, measured, c.expected, passed, time.perf_counter() - t0,
               verdict, row_id(c), c.differs, control, control_passed)


def run(chapter: int | None = None, controls: bool = False) -> list[Row]:
    return [check(c, controls) for c in all_claims(chapter)]


class Table:
    """The rows as a table: HTML in a notebook (and on the claims page), aligned text in a terminal.
    Rows measured with their controls get a "control" column."""

    HEAD = ("row", "claim", "our measurement", "the paper's statement", "check", "paper verdict")

    def __init__(self, rows: list[Row], chapters: bool = False):
        self.rows = rows
        self.chapters = chapters

    @property
    def all_passed(self) -> bool:
        return all(r.passed for r in self.rows)

    @property
    def controls_ok(self) -> bool:
        """Every control that ran failed its claim's check."""
        return not any(r.control_passed for r in self.rows)

    @property
    def _with_controls(self) -> bool:
        return any(r.control_passed is not None for r in self.rows)

    @staticmethod
    def control_text(r: Row) -> str:
        if r.control_passed is None:
            return {IDENTITY: "none (identity)", FORMULA_CORRECTED: "none (a corrected formula)"}.get(r.verdict, "")
        return f"{r.control} -> {'PASSES: the check cannot tell' if r.control_passed else 'FAILS, as it should'}"

    def head(self) -> tuple:
        return self.HEAD + (("control (must fail the check)",) if self._with_controls else ())

    def _cells(self, r: Row):
        verdict = r.verdict + (f" ({r.differs})" if r.differs else "")
        cells = (r.id, r.claim, r.measured, r.expected, "PASS" if r.passed else "FAIL", verdict)
        return cells + ((self.control_text(r),) if self._with_controls else ())

    def text(self, width: int | None = None) -> str:
        """Aligned text wrapped to ``width`` columns (the terminal's by default): short columns
        keep their width, the long ones share the rest and wrap inside their cells."""
        import shutil
        import textwrap

        width = width or shutil.get_terminal_size((120, 24)).columns
        head, body = self.head(), [self._cells(r) for r in self.rows]
        natural = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
        short = {0, 4}
        room = max(len(head) * 8, width - 3 * (len(head) - 1) - sum(natural[i] for i in short))
        long_ = [i for i in range(len(head)) if i not in short]
        share = max(8, room // len(long_))
        widths = [natural[i] if i in short else min(natural[i], max(share, len(head[i])))
                  for i in range(len(head))]  # a column is never narrower than its header
        lines = []
        for cells in [head] + body:
            wrapped = [textwrap.wrap(c, w) or [""] for c, w in zip(cells, widths)]
            for k in range(max(len(w) for w in wrapped)):
                lines.append(" | ".join((w[k] if k < len(w) else "").ljust(n)
                                        for w, n in zip(wrapped, widths)).rstrip())
            if cells is head:
                lines.append("-+-".join("-" * w for w in widths))
        return "\n".join(lines)

    def summary(self) -> str:
        """One line: how many rows, how many checks pass, how many rows have each paper verdict."""
        counts = {v: sum(r.verdict == v for r in self.rows) for v in VERDICTS}
        return (f"{len(self.rows)} claims: check {sum(r.passed for r in self.rows)} PASS, "
                f"{sum(not r.passed for r in self.rows)} FAIL; paper verdicts: "
                + ", ".join(f"{n} {v}" for v, n in counts.items()))

    def summary_html(self) -> str:
        """:meth:`summary` as a paragraph that the website's claims filter rewrites for the rows it
        shows (book/_static/normlab-book.js); ``data-verdicts`` keeps the verdicts' order."""
        order = html.escape("|".join(VERDICTS), quote=True)
        return f"<p class='nl-claims-summary' data-verdicts='{order}'>{html.escape(self.summary())}</p>"

    def __str__(self) -> str:
        return self.text()

    __repr__ = __str__

    def _repr_html_(self) -> str:
        def row(r: Row) -> str:
            c = self._cells(r)
            check = f"<b class='nl-{'pass' if r.passed else 'fail'}'>{c[4]}</b>"
            verdict = (f"<span class='nl-verdict nl-{r.verdict.split()[0].strip(chr(39))}'>"
                       f"{html.escape(r.verdict)}</span>")
            if r.differs:
                verdict += f"<br><small class='nl-differs'>{html.escape(symbols(r.differs))}</small>"
            ctrl = ""
            if self._with_controls:
                # not the check's PASS/FAIL badge classes: a badge does not wrap, and a control's
                # sentence is long (it ran off the table's right edge)
                cls = "" if r.control_passed is None else (
                    " class='nl-control nl-control-passes'" if r.control_passed else " class='nl-control'")
                ctrl = f"<td{cls}>{html.escape(symbols(c[6]))}</td>"
            return (f"<tr data-chapter='{r.chapter}' data-verdict='{html.escape(r.verdict, quote=True)}'>"
                    + "".join(f"<td>{html.escape(symbols(x))}</td>" for x in c[:4])
                    + f"<td>{check}</td><td>{verdict}</td>{ctrl}</tr>")

        head = "".join(f"<th>{h}</th>" for h in self.head())
        # The table scrolls sideways inside its own box on a narrow screen, never the page; the
        # website styles the check and verdict cells (book/_static/normlab.css).
        # tabindex: a keyboard reader can focus the box and scroll it with the arrow keys.
        first = self.rows[0].id if self.rows else "1.1"
        legend = (f"<p class='nl-claims-legend'><small>Row {html.escape(first)} is chapter "
                  f"{html.escape(first.split('.')[0])}'s claim number {html.escape(first.split('.')[-1])}, "
                  "not a section number. <b>check</b>: whether our measurement supports the book's "
                  "sentence; <b>paper verdict</b>: how the paper's own claim fares at our scale, so a "
                  "row can PASS and the paper's claim be only partly reproduced.</small></p>")
        return (legend + f"<div class='normlab-claims-scroll' style='overflow-x:auto;max-width:100%' "
                f"tabindex='0' role='region' aria-label='Claims checked (the table scrolls sideways)'>"
                f"<table class='normlab-claims'><thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(row(r) for r in self.rows)}</tbody></table></div>")


def table(chapter: int | None = None, controls: bool = False) -> Table:
    """Measure the claims of ``chapter`` (all if None; with ``controls``, their controls too) as a
    :class:`Table` (an empty one in the course grader's kernel, which never reads it)."""
    if os.environ.get("NORMLAB_GRADING"):
        return Table([])
    return Table(run(chapter, controls))


def chapters() -> list[int]:
    return sorted({c.chapter for c in all_claims()})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m normlab claims",
                                description="Re-measure every claim of the book. Exit status 1 "
                                            "if a check fails (or, with --controls, if a control "
                                            "passes).")
    p.add_argument("--chapter", type=int, default=None, help="only this chapter")
    p.add_argument("--controls", action="store_true",
                   help="also run every empirical claim's control, which must fail its check")
    a = p.parse_args(argv)
    known = chapters()
    if a.chapter is not None and a.chapter not in known:
        print(f"no chapter {a.chapter}: the chapters with claims are "
              f"{', '.join(map(str, known))}", file=sys.stderr)
        return 2
    rows = []
    todo = all_claims(a.chapter)
    for i, c in enumerate(todo, 1):
        r = check(c, a.controls)
        rows.append(r)
        ctrl = "" if r.control_passed is None else (
            "; control FAILS as it should" if not r.control_passed else "; CONTROL PASSES")
        print(f"[{i}/{len(todo)}] [{'PASS' if r.passed else 'FAIL'}] {r.id} {r.claim[:70]}"
              f"{ctrl} ({r.seconds:.1f} s)", file=sys.stderr, flush=True)
    t = Table(rows)
    print(t)
    counts = {v: sum(r.verdict == v for r in rows) for v in VERDICTS}
    print(f"\ncheck: {sum(r.passed for r in rows)} passed, {sum(not r.passed for r in rows)} failed")
    print("paper verdicts: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
    if a.controls:
        ran = [r for r in rows if r.control_passed is not None]
        bad = [r.id for r in ran if r.control_passed]
        print(f"controls: {len(ran) - len(bad)} of {len(ran)} fail their check as they should"
              + (f"; passing (the check cannot tell): {', '.join(bad)}" if bad else ""))
    return 0 if t.all_passed and (not a.controls or t.controls_ok) else 1
