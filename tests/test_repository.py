"""What is committed: notebooks without outputs, setup cells and links in step with the one place
each fact is set, exercises with checks and hidden solutions, and the README's contract."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from conftest import NOTEBOOKS, ROOT

MIN_EXERCISES = {"01": 3, "02": 2, "05": 3}


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
def test_exercises_have_checks_and_hidden_solutions(nb):
    cs = cells(nb)
    text = lambda c: "".join(c["source"])
    labels = re.findall(r"```\{exercise\}[^\n]*\n:label:\s*(\S+)", "\n".join(
        text(c) for c in cs if c["cell_type"] == "markdown"))
    assert len(labels) >= MIN_EXERCISES.get(nb.stem[:2], 1), f"{nb.name}: too few exercises"
    solutions = [c for c in cs if "solution" in c.get("metadata", {}).get("tags", [])]
    assert len(solutions) >= len(labels)
    for c in solutions:
        src = text(c)
        assert "# BEGIN SOLUTION" in src and "# END SOLUTION" in src
        assert ".check_" in src, "a solution cell should end with its check"
    md = "\n".join(text(c) for c in cs if c["cell_type"] == "markdown")
    for label in labels:
        assert re.search(rf"```\{{solution-start\}}\s*{re.escape(label)}\s*\n:class: dropdown", md), \
            f"{nb.name}: solution of {label} is not a dropdown"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_ends_with_a_claims_table(nb):
    src = "\n".join("".join(c["source"]) for c in cells(nb) if c["cell_type"] == "code")
    chapter = int(nb.stem[:2])
    assert f"claims.table(chapter={chapter})" in src


def test_readme_states_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "python3 tasks.py build" in readme and "python3 tasks.py test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 tasks.py test" in ci
