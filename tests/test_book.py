"""The book builds with Sphinx warnings as errors, every notebook executes inside that build, and
the built pages hold what they should (explorables as static HTML, local MathJax, size budget)."""

from __future__ import annotations

import re

import pytest

from conftest import NOTEBOOKS, ROOT

PAGE_BUDGET_BYTES = 3 * 1024 * 1024


def toc_files() -> list[str]:
    return re.findall(r"file:\s*(\S+)", (ROOT / "_toc.yml").read_text())


def test_every_notebook_is_in_the_toc():
    listed = set(toc_files())
    for nb in NOTEBOOKS:
        assert f"notebooks/{nb.stem}" in listed, f"{nb.name} is not in _toc.yml"


def test_every_page_is_built(built_book):
    for f in toc_files():
        assert (built_book / f"{f}.html").exists(), f"{f}.html was not built"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executed_without_errors(built_book, nb):
    """The build's execution (kept in its jupyter-cache) ran every cell of the current notebook
    top to bottom in one fresh kernel, with no error output and no printed traceback."""
    from jupyter_cache import get_cache

    cache = get_cache(str(ROOT / "_build" / ".jupyter_cache"))
    record = cache.get_cached_project_nb(str(nb))
    assert record is not None, f"{nb.name}: no executed copy of the current notebook in the cache"
    code = [c for c in cache.get_cache_bundle(record.pk).nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "not run top to bottom"
    for c in code:
        for out in c.get("outputs", []):
            assert out["output_type"] != "error", f"{nb.name}: {out.get('ename')}: {out.get('evalue')}"
            text = "".join(out.get("text", "")) if out["output_type"] == "stream" else ""
            assert "Traceback" not in text, f"{nb.name}: a traceback was printed"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_page(built_book, nb):
    page = built_book / "notebooks" / f"{nb.stem}.html"
    html = page.read_text()
    # explorables: the kernel-free view, not an empty widget placeholder
    assert html.count('class="normlab-explorable"') >= 1, "no explorable on the page"
    assert "application/vnd.jupyter.widget-view+json" not in html
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html and "cdnjs" not in html
    # solutions are folded on the website
    assert "dropdown" in html and "solution" in html
    # the claims table was computed
    assert "normlab-claims" in html and ">PASS<" in html
    assert page.stat().st_size <= PAGE_BUDGET_BYTES, f"{page.name}: {page.stat().st_size} bytes"


def test_mathjax_is_served_locally(built_book):
    assert (built_book / "_static" / "mathjax" / "tex-chtml.js").exists()
    intro = (built_book / "book" / "intro.html").read_text()
    assert "_static/mathjax/tex-chtml.js" in intro


def test_bibliography_lists_the_papers(built_book):
    html = (built_book / "book" / "bibliography.html").read_text()
    for who in ["Ioffe", "Salimans", "Ba,", "Santurkar", "Qiao"]:
        assert who in html, f"{who} missing from the bibliography"


def test_claims_page_lists_every_claim(built_book):
    """book/claims.html: every claim of every chapter in one table, none failing, each with a
    paper verdict; the introduction links it."""
    from normlab import claims

    html = (built_book / "book" / "claims.html").read_text()
    table = html[html.index("normlab-claims"):]
    body = table[table.index("<tbody>"):table.index("</tbody>")]
    n = len(claims.all_claims())
    rows = len(re.findall(r"<tr[ >]", body))
    assert rows == n, f"{rows} rows on the claims page, {n} claims"
    assert body.count("FAILS, as it should") == sum(c.control is not None for c in claims.all_claims()), \
        "every control is shown beside its row, failing the row's check"
    assert ">FAIL<" not in body and body.count(">PASS<") == n
    import html as _html

    for v in claims.VERDICTS:
        assert _html.escape(v) in body, f"no claim with the verdict {v!r}?"
    intro = (built_book / "book" / "intro.html").read_text()
    assert 'href="claims.html"' in intro


def test_the_jax_primer_runs_as_written():
    """Every Python block of book/jax_primer.md, in order, in one namespace."""
    import re as _re

    code = _re.findall(r"```python\n(.*?)```", (ROOT / "book" / "jax_primer.md").read_text(), _re.S)
    assert len(code) >= 5
    ns = {}
    for block in code:
        exec(compile(block, "jax_primer.md", "exec"), ns)  # noqa: S102 - our own page
    assert ns["err"] < 1e-12 and ns["many"].shape == (3,)


def test_the_student_edition_of_the_website_has_no_solutions(built_book):
    """`python3 tasks.py build --student`: the same book, built from the student edition of every
    notebook, into _build/student/html; no reference solution reaches a page."""
    import sys
    from pathlib import Path

    import tasks

    assert tasks.build_student(Path(sys.executable).parent) == 0
    out = ROOT / "_build" / "student" / "html" / "notebooks"
    for nb in NOTEBOOKS:
        page = (out / f"{nb.stem}.html").read_text()
        assert "BEGIN SOLUTION" not in page and "_solution(" not in page, nb.name
        assert 'class="solution' not in page, f"{nb.name}: a solution block on the student page"
        assert "normlab-explorable" in page and "exercise" in page
        full = (built_book / "notebooks" / f"{nb.stem}.html").read_text()
        assert "BEGIN SOLUTION" in full  # the test would notice if the full edition lost them
