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
def test_claim_holds(claim):
    row = claims.check(claim)
    assert row.passed, f"{row.claim}: measured {row.measured}; expected {row.expected}"


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
                      lambda: ("fine", True, claims.NOT_REPRODUCED))
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


def test_minmax_prints_the_spread_over_seeds():
    assert claims.minmax([0.5, 0.25, 1.0]) == "0.25-1.00"
    assert claims.minmax([3.0, 71.0], "d") == "3-71"
    assert claims.minmax([0.811, 0.813]) == "0.81"  # both ends print the same: one number
    assert claims.minmax([12.41, 13.71], ".1f") == "12.4-13.7"
