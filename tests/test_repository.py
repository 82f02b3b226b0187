"""What is committed: notebooks without outputs, setup cells and links in step with the one place
each fact is set, exercises with checks and hidden solutions, and the README's contract."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from conftest import NOTEBOOKS, ROOT

def cells(nb):
    return json.loads(nb.read_text())["cells"]


def test_there_are_chapters():
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_has_no_outputs(nb):
    for c in cells(nb):
        if c["cell_type"] == "code":
            assert not c.get("outputs"), f"{nb.name} has outputs"
            assert c.get("execution_count") is None, f"{nb.name} has execution counts"


def test_setup_cells_and_readme_links_are_in_sync():
    proc = subprocess.run([sys.executable, "tools/sync.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, "run `python tools/sync.py`:\n" + proc.stdout


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_setup_cell_is_first_and_hidden_on_the_website(nb):
    """The first code cell is the setup cell: it runs first in Jupyter/Colab and in the build, and
    its ``remove-cell`` tag keeps its source and output off the website (myst-nb still runs it)."""
    code = [c for c in cells(nb) if c["cell_type"] == "code"]
    tags = code[0]["metadata"].get("tags", [])
    assert "setup" in tags, f"{nb.name}: the first code cell is not tagged 'setup' (tags {tags})"
    assert "remove-cell" in tags, f"{nb.name}: the setup cell is not tagged 'remove-cell' (tags {tags})"
    assert "NORMLAB_VERSION" in "".join(code[0]["source"]), f"{nb.name}: the first code cell is not the setup"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_setup_cell_never_installs_colab_packages(nb):
    setup = next(c for c in cells(nb) if c["cell_type"] == "code")
    src = "".join(setup["source"])
    assert "setup" in setup["metadata"].get("tags", [])
    for pkg in ["jax", "numpy", "matplotlib", "ipywidgets"]:
        assert not re.search(rf"pip install[^\n]*\b{pkg}\b", src), f"setup installs {pkg}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_teach_and_solutions_stay_out_of_the_way(nb):
    """At least three graded exercises per chapter (the chapter's EXERCISES), each with staged
    hints, a stub that its check is called on, and a reference solution in a hidden cell that
    defines and checks its OWN name (so "Run all" never replaces the student's function); one
    "predict, run, explain" question per explorable; every exercise's solution in a dropdown."""
    import importlib

    cs = cells(nb)
    text = lambda c: "".join(c["source"])
    md = "\n".join(text(c) for c in cs if c["cell_type"] == "markdown")
    labels = re.findall(r"```\{exercise\}[^\n]*\n:label:\s*(\S+)", md)
    ch = int(nb.stem[:2])
    graded = importlib.import_module(f"normlab.ch{ch}.exercises").EXERCISES
    assert len(graded) >= 3, f"{nb.name}: fewer than three graded exercises"
    for ex in graded:
        i = next(i for i, c in enumerate(cs) if c["cell_type"] == "markdown"
                 and re.search(rf":label:\s*{re.escape(ex.label)}\s", text(c) + "\n"))
        stub = next(k for k in range(i, len(cs)) if cs[k]["cell_type"] == "code")
        assert f"def {ex.function}(" in text(cs[stub]) and f"({ex.function})" in text(cs[stub])
        assert "Hint 1" in "".join(text(c) for c in cs[i:stub]), f"{ex.label}: no hints"
        sol = next(c for c in cs[stub + 1:] if "solution" in c["metadata"].get("tags", []))
        src = text(sol)
        assert "# BEGIN SOLUTION" in src and "# END SOLUTION" in src
        assert f"def {ex.function}_solution(" in src and f"({ex.function}_solution)" in src, \
            f"{ex.label}: the solution must define and check {ex.function}_solution"
        assert not re.search(rf"def {ex.function}\(", src), f"{ex.label}: the solution redefines the stub"
        assert sol["metadata"].get("jupyter", {}).get("source_hidden"), f"{ex.label}: solution not collapsed"
    n_explorables = len(importlib.import_module(f"normlab.ch{ch}.explorables").EXPLORABLES)
    assert md.count("Predict, run, explain") >= n_explorables, f"{nb.name}: a predict question per explorable"
    for label in labels:
        assert re.search(rf"```\{{solution-start\}}\s*{re.escape(label)}\s*\n:class: dropdown", md), \
            f"{nb.name}: solution of {label} is not a dropdown"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_ends_with_a_claims_table(nb):
    src = "\n".join("".join(c["source"]) for c in cells(nb) if c["cell_type"] == "code")
    chapter = int(nb.stem[:2])
    assert re.search(rf"claims\.table\(chapter={chapter}[,)]", src)  # controls=True allowed


def test_readme_states_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "python3 tasks.py build" in readme and "python3 tasks.py test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 tasks.py test" in ci


def test_a_change_to_normlab_drops_the_execution_cache(tmp_path):
    """jupyter-cache keys outputs on the notebook alone: the build forgets them when normlab changes."""
    import tasks

    (tmp_path / "normlab").mkdir()
    code = tmp_path / "normlab" / "a.py"
    code.write_text("x = 1\n")
    cache, doctrees = tmp_path / "_build" / ".jupyter_cache", tmp_path / "_build" / ".doctrees"
    for d in (cache, doctrees):
        d.mkdir(parents=True)
    assert not tasks.forget_stale_outputs(tmp_path)  # first build: nothing to compare with
    assert not tasks.forget_stale_outputs(tmp_path) and cache.exists() and doctrees.exists()
    code.write_text("x = 2\n")
    assert tasks.forget_stale_outputs(tmp_path)
    assert not cache.exists() and not doctrees.exists()
    assert not tasks.forget_stale_outputs(tmp_path)
