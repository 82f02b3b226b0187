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
    for col in ["chapter", "claim", "measured", "expected", "verdict"]:
        assert col in head
    n = sum(1 for c in ALL if c.chapter == chapter)
    assert f"{n} passed, 0 failed" in proc.stdout


def test_cli_exits_1_when_a_claim_fails(monkeypatch):
    bad = claims.Claim(9, "a false claim", "never", lambda: ("measured nothing", False))
    monkeypatch.setattr(claims, "all_claims", lambda chapter=None: [bad])
    assert claims.main([]) == 1
    broken = claims.Claim(9, "a broken measurement", "n/a", lambda: 1 / 0)
    row = claims.check(broken)
    assert not row.passed and "ZeroDivisionError" in row.measured
