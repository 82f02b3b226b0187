"""tools/executed.py --execute-all: the build executes the pages a few at a time before Sphinx
renders them; these check what it runs and that the cache it fills is the one myst-nb reads."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools import executed  # noqa: E402


def test_pages_are_the_toc_s_notebooks_and_markdown_notebooks():
    pages = executed.pages(ROOT)
    names = [p.relative_to(ROOT).as_posix() for p in pages]
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"notebooks/{nb.name}" in names
    assert "book/claims.md" in names                # a MyST notebook (it has a kernelspec)
    assert "book/intro.md" not in names             # plain Markdown: nothing to execute


def test_a_page_is_matched_as_myst_nb_reads_it(tmp_path):
    """A run stored under the notebook as read_page reads it is found by the cache's own match
    (what myst-nb does), and editing a code cell makes it miss while a prose edit does not."""
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    page = ROOT / "book" / "claims.md"
    cache = tmp_path / "cache"
    assert executed.needs_run(page, cache)
    nb, _ = executed.read_page(page)
    get_cache(str(cache)).cache_notebook_bundle(CacheBundleIn(nb, str(page)), check_validity=False)
    assert not executed.needs_run(page, cache)
    code = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")],
                                    metadata=nb.metadata)
    prose = tmp_path / "a.ipynb"
    nbformat.write(code, str(prose))
    read, _ = executed.read_page(prose)
    get_cache(str(cache)).cache_notebook_bundle(CacheBundleIn(read, str(prose)), check_validity=False)
    code.cells.insert(0, nbformat.v4.new_markdown_cell("A sentence."))
    nbformat.write(code, str(prose))
    assert not executed.needs_run(prose, cache)      # prose only: the stored run still serves
    code.cells[-1].source = "x = 2"
    nbformat.write(code, str(prose))
    assert executed.needs_run(prose, cache)          # code changed: it runs again


def test_jobs_follow_the_environment(monkeypatch):
    monkeypatch.setenv("NORMLAB_BUILD_JOBS", "3")
    assert executed.jobs() == 3
    monkeypatch.setenv("NORMLAB_BUILD_JOBS", "not a number")
    assert 1 <= executed.jobs() <= 4
