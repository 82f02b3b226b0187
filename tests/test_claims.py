"""Every claim of the book is re-measured and must hold; the CLI prints the same table."""

import subprocess
import sys

import pytest

from conftest import ROOT
from normlab import claims

ALL = claims.all_claims()


def test_every_chapter_module_has_claims():
    for name in claims.MODULES:
        mod = __import__(name, fromlist=["CLAIMS"])
        assert len(mod.CLAIMS) >= 3, f"{name} states fewer than three claims"


@pytest.mark.parametrize("claim", ALL, ids=lambda c: f"ch{c.chapter}-{c.claim[:40]}")
def test_claim_holds_and_its_control_fails(claim):
    """The row's check passes; its control (the same measurement where the claim should not
    hold) fails the same check; rows without a control are exactly identities and corrected
    formulas; partly / not-reproduced rows say what differs from the paper's setting."""
    row = claims.check(claim, controls=True)
    assert row.passed, f"{row.claim}: measured {row.measured}; expected {row.expected}"
    if row.verdict in claims.NO_CONTROL:
        assert claim.control is None, f"{row.id}: an identity row has no control to run"
    else:
        assert row.control_passed is False, (
            f"{row.id}: the control passes the claim's own check: {row.control}")


def test_cli_prints_the_table_and_exits_0():
    chapter = ALL[0].chapter
    proc = subprocess.run([sys.executable, "-m", "normlab", "claims", "--chapter", str(chapter)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    head = proc.stdout.splitlines()[0]
    for col in ["row", "claim", "our measurement", "the paper's statement", "check", "paper verdict"]:
        assert col in head
    n = sum(1 for c in ALL if c.chapter == chapter)
    assert f"check: {n} passed, 0 failed" in proc.stdout
    assert "paper verdicts:" in proc.stdout
    assert f"{chapter}.1 " in proc.stdout


def test_every_claim_has_a_paper_verdict():
    for c in ALL:
        assert c.verdict in claims.VERDICTS or c.verdict is None, c.claim
    rows = [claims.check(c) for c in ALL if c.verdict == claims.IDENTITY][:3]
    assert all(r.verdict == claims.IDENTITY for r in rows)


def test_a_claim_without_a_verdict_fails(monkeypatch):
    c = claims.Claim(9, "no verdict", "n/a", lambda: ("fine", True))
    monkeypatch.setattr(claims, "all_claims", lambda chapter=None: [c])
    row = claims.check(c)
    assert not row.passed and "no valid paper verdict" in row.measured
    ok = claims.Claim(9, "verdict from the measurement", "n/a",
                      lambda: ("fine", True, claims.NOT_REPRODUCED),
                      control=lambda: ("other", False), differs="our networks are small")
    row = claims.check(ok)
    assert row.passed and row.verdict == claims.NOT_REPRODUCED


def test_cli_exits_1_when_a_claim_fails(monkeypatch):
    bad = claims.Claim(9, "a false claim", "never", lambda: ("measured nothing", False),
                       verdict=claims.REPRODUCED)
    monkeypatch.setattr(claims, "all_claims", lambda chapter=None: [bad])
    assert claims.main([]) == 1
    broken = claims.Claim(9, "a broken measurement", "n/a", lambda: 1 / 0, verdict=claims.IDENTITY)
    row = claims.check(broken)
    assert not row.passed and "ZeroDivisionError" in row.measured


def test_controls_and_their_cli(monkeypatch, capsys):
    good = claims.Claim(9, "A beats B", "A beats B", lambda: ("A 1 < B 2", True),
                        verdict=claims.REPRODUCED, control=lambda: ("B vs B: 2 = 2", False))
    leaky = claims.Claim(9, "A beats B", "A beats B", lambda: ("A 1 < B 2", True),
                         verdict=claims.REPRODUCED, control=lambda: ("B vs B", True))
    naked = claims.Claim(9, "no control", "x", lambda: ("1 < 2", True), verdict=claims.REPRODUCED)
    vague = claims.Claim(9, "partly", "x", lambda: ("1 < 2", True), verdict=claims.PARTLY,
                         control=lambda: ("2 < 1", False))
    fixed = claims.Claim(9, "eq. 32 corrected", "x", lambda: ("2e-16", True),
                         verdict=claims.FORMULA_CORRECTED)
    assert claims.check(good, controls=True).control_passed is False
    assert claims.check(leaky, controls=True).control_passed is True
    r = claims.check(naked)
    assert not r.passed and "needs a control" in r.measured
    r = claims.check(vague)
    assert not r.passed and "what differs" in r.measured
    assert claims.check(fixed).passed
    for rows, code in (([good, fixed], 0), ([good, leaky], 1)):
        monkeypatch.setattr(claims, "all_claims", lambda chapter=None, rows=rows: rows)
        assert claims.main(["--controls"]) == code
    out = capsys.readouterr().out
    assert "controls: 1 of 1 fail their check as they should" in out
    assert "passing (the check cannot tell): 9." in out
    html = claims.Table([claims.check(good, True)])._repr_html_()
    assert "data-chapter='9'" in html and "FAILS, as it should" in html


def test_unknown_chapter_is_an_error():
    proc = subprocess.run([sys.executable, "-m", "normlab", "claims", "--chapter", "99"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "no chapter 99" in proc.stderr


def test_text_table_fits_the_terminal():
    rows = [claims.Row(1, "a claim " * 20, "measured " * 20, "paper " * 20, True, 0.1,
                       claims.REPRODUCED, "1.1")]
    text = claims.Table(rows).text(width=100)
    assert max(len(line) for line in text.splitlines()) <= 100 and "measured" in text


def test_minmax_prints_the_spread_over_seeds():
    assert claims.minmax([0.5, 0.25, 1.0]) == "0.25-1.00"
    assert claims.minmax([3.0, 71.0], "d") == "3-71"
    assert claims.minmax([0.811, 0.813]) == "0.81"  # both ends print the same: one number
    assert claims.minmax([12.41, 13.71], ".1f") == "12.4-13.7"


def test_summary_counts_the_rows_and_keeps_the_verdicts_order():
    rows = [claims.Row(1, "a", "m", "p", True, 0.1, claims.REPRODUCED, "1.1"),
            claims.Row(2, "b", "m", "p", False, 0.1, claims.PARTLY, "2.1"),
            claims.Row(2, "c", "m", "p", True, 0.1, claims.REPRODUCED, "2.2")]
    t = claims.Table(rows)
    assert t.summary().startswith("3 claims: check 2 PASS, 1 FAIL; paper verdicts: "
                                  f"2 {claims.REPRODUCED}, 1 {claims.PARTLY}, 0 {claims.NOT_REPRODUCED}")
    html = t.summary_html()
    # the website's filter rewrites this paragraph for the rows it shows (normlab-book.js)
    assert "class='nl-claims-summary'" in html and "|".join(claims.VERDICTS).split("|")[0] in html


def test_a_control_cell_is_not_a_badge():
    """The control's sentence wraps in its cell: it does not take the check's PASS/FAIL badge
    classes, which keep a badge on one line (a control's sentence ran off the table's edge)."""
    row = claims.Row(1, "a", "m", "p", True, 0.1, claims.REPRODUCED, "1.1",
                     control="without the normalization: a long sentence " * 5, control_passed=False)
    html = claims.Table([row])._repr_html_()
    assert "<td class='nl-control'>without the normalization" in html
    assert html.count("nl-pass") == 1  # the check's badge only


def test_the_website_shows_a_claim_s_maths_as_symbols():
    """The claims tables on the website (and so in the Colab editions) write the ASCII maths of
    the claim modules as symbols; whole words only become Greek letters."""
    from test_teaching import ASCII_MATHS

    assert claims.symbols("y = gamma/sqrt(Var[x]+eps) x") == "y = \u03b3/\u221a(Var[x]+\u03b5) x"
    assert claims.symbols("||M^2 - M||, E[h||w||^2], J J^T") == "\u2016M\u00b2 - M\u2016, E[h\u2016w\u2016\u00b2], J J\u1d40"
    assert claims.symbols("eta_eff/eta, theta, sigma_B^2, x^-1") == "\u03b7_eff/\u03b7, \u03b8, \u03c3_B\u00b2, x\u207b\u00b9"
    assert claims.symbols("the 1e-5 metadata of a betamax") == "the 1e-5 metadata of a betamax"
    row = claims.Row(1, "lr^2 ||g||^2", "sqrt(2) * eta", "mu_B", True, 0.1, claims.IDENTITY, "1.1")
    page = claims.Table([row])._repr_html_()
    assert "\u2016g\u2016\u00b2" in page and "\u221a(2) * \u03b7" in page and "\u03bc_B" in page
    assert "Row 1.1 is chapter 1's claim number 1, not a section number" in page  # the reader's mix-up
    assert claims.symbols("At eps = 0, <w, grad> = 0 and grad(kw) = grad(w)/k; -> <= >=") == (
        "At \u03b5 = 0, \u27e8w, \u2207L\u27e9 = 0 and \u2207L(kw) = \u2207L(w)/k; \u2192 \u2264 \u2265")
    assert claims.symbols("||w_t+1||^2, <1,g>^2, a_hat^2, x1.62, jax.grad") == (
        "\u2016w\u209c\u208a\u2081\u2016\u00b2, \u27e81, g\u27e9\u00b2, a\u0302\u00b2, \u00d71.62, jax.grad")
    assert claims.symbols("x < 1, y > 2") == "x < 1, y > 2"  # comparisons are not brackets
    left = [(c.chapter, m.group()) for c in claims.all_claims()
             for text in (c.claim, c.expected, c.differs) if (m := ASCII_MATHS.search(claims.symbols(text)))]
    assert not left, f"ASCII maths the website would still show: {left}"
