"""The instructor tools. The student edition drops exactly the solutions. The grader scores what a
submission's functions do, with the exercise list and the checks from the instructor's normlab:
an honest solution scores N/N, the untouched student edition 0/N, and printing PASS, deleting the
exercise cells or patching the checks earns nothing; a submission that hangs, crashes its kernel or
floods its output still gets a score and a clear line."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import nbformat
import pytest

from conftest import NOTEBOOKS, ROOT
from tools import course, grader

CH2 = ROOT / "notebooks" / "02_naive_normalization.ipynb"
N2 = len(grader.exercises(2))
FAST = grader.Limits(cell_s=8, notebook_s=120, call_s=8)

HONEST = ["import numpy as np",
          "def drift_step(u, t, lr):\n    return lr * np.sum(t)",
          "def centring_backward(dy, x):\n    return dy - dy.mean(axis=0, keepdims=True)",
          "def collapse_step(a, t, w0, lr):\n    return w0 ** 2 / (2 * lr * (len(a) - t @ a))"]


def notebook(path, *cells, chapter_heading=None):
    nb = nbformat.v4.new_notebook()
    if chapter_heading:
        nb.cells.append(nbformat.v4.new_markdown_cell(chapter_heading))
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, str(path))
    return path


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_edition_has_no_solutions_but_keeps_exercises_and_checks(nb, tmp_path):
    n = course.student_edition(nb, tmp_path / nb.name)
    src = json.loads(nb.read_text())
    assert n == sum("solution" in c["metadata"].get("tags", []) for c in src["cells"]) >= 1
    text = (tmp_path / nb.name).read_text()
    out = json.loads(text)
    assert "# BEGIN SOLUTION" not in text and "{solution-start}" not in text and "{solution-end}" not in text
    assert course.expected_checks(out) == course.expected_checks(src), "an exercise was lost"
    assert text.count(".check_") >= sum(".check_" in "".join(c["source"]) for c in src["cells"]
                                        if "solution" not in c["metadata"].get("tags", [])
                                        and c["cell_type"] == "code")
    assert all(not c.get("outputs") for c in out["cells"] if c["cell_type"] == "code")


def test_every_graded_exercise_is_in_its_notebook():
    for nb in NOTEBOOKS:
        labels = course.expected_checks(json.loads(nb.read_text()))
        ch = int(nb.stem[:2])
        for ex in grader.exercises(ch):
            assert ex.label in labels, f"{nb.name}: {ex.label} is graded but not in the notebook"
            stub = [c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"
                    and f"def {ex.function}(" in "".join(c["source"])]
            assert stub, f"{nb.name}: no stub defines {ex.function}"


def test_an_honest_submission_scores_full_marks(tmp_path):
    g = grader.grade(notebook(tmp_path / "02_alice.ipynb", *HONEST), limits=FAST)
    assert (g.passed, g.total) == (N2, N2), [r.message for _, r in g.results]


def test_the_instructors_chapter_run_all_leaves_the_students_stubs(tmp_path):
    """Run all on the full chapter (solutions included) in a fresh kernel: the solutions define
    their own names, so every student function is still the stub and scores 0."""
    g = grader.grade(CH2, limits=grader.Limits(cell_s=300, notebook_s=600, call_s=30))
    assert g.total == N2 and g.passed == 0
    assert all("your turn" in r.message for _, r in g.results)


def test_the_untouched_student_edition_scores_zero(tmp_path):
    student = tmp_path / CH2.name
    course.student_edition(CH2, student)
    g = grader.grade(student, limits=grader.Limits(cell_s=300, notebook_s=600, call_s=30))
    assert (g.passed, g.total) == (0, N2)


@pytest.mark.parametrize("cells", [
    ["print('PASS [naive drift] all 4 random cases agree')\nprint('PASS [centring backward] ok')\n"
     "print('PASS [collapse step] ok')"],
    [],  # every exercise cell deleted
    ["import normlab.checks as c\nfrom normlab.ch2 import exercises\n"
     "c.run_check = lambda *a, **k: c.Result('x', True, 'ok')\n"
     "for name in dir(exercises):\n    if name.startswith('check_'):\n"
     "        setattr(exercises, name, lambda f, seed=0: c.Result('x', True, 'ok'))\n"
     "import numpy as np\nnp.max = lambda *a, **k: 0.0",
     "def drift_step(u, t, lr):\n    return 0.0",
     "def centring_backward(dy, x):\n    return dy",
     "def collapse_step(a, t, w0, lr):\n    return 1.0"],
], ids=["prints-PASS", "deletes-cells", "patches-checks"])
def test_tricks_earn_nothing(cells, tmp_path):
    g = grader.grade(notebook(tmp_path / "02_mallory.ipynb", *cells), limits=FAST)
    assert (g.passed, g.total) == (0, N2), [r.message for _, r in g.results]


def test_hangs_crashes_and_floods_are_scored_and_reported(tmp_path):
    hang = notebook(tmp_path / "02_hang.ipynb", HONEST[0], HONEST[1], "while True:\n    pass",
                    "def centring_backward(dy, x):\n    while True:\n        pass", HONEST[3])
    crash = notebook(tmp_path / "02_crash.ipynb", HONEST[0], HONEST[1], "import os\nos._exit(1)",
                     HONEST[2], HONEST[3])
    flood = notebook(tmp_path / "02_flood.ipynb", *HONEST[:3], "while True:\n    print('x' * 10000)",
                     "def collapse_step(a, t, w0, lr):\n    return object()")
    g = grader.grade(hang, limits=FAST)
    assert g.passed == N2 - 1 and any("did not finish" in n for n in g.notes)
    msg = dict((ex.function, r.message) for ex, r in g.results)["centring_backward"]
    assert "did not return" in msg
    g = grader.grade(crash, limits=FAST)
    assert g.passed == N2 and any("crashed" in n for n in g.notes)
    g = grader.grade(flood, limits=FAST)
    assert g.passed == N2 - 1 and any("printed more than" in n for n in g.notes)
    assert "not an array" in dict((ex.function, r.message) for ex, r in g.results)["collapse_step"]


def test_the_command_prints_scores_and_writes_a_gradebook(tmp_path):
    good = notebook(tmp_path / "bob.ipynb", *HONEST, chapter_heading="# Chapter 2: whatever")
    bad = notebook(tmp_path / "02_carol.ipynb", HONEST[0], "def drift_step(u, t, lr):\n    return -lr * sum(t)")
    book = tmp_path / "grades.csv"
    proc = subprocess.run([sys.executable, "tools/course.py", "grade", str(good), str(bad),
                           "--csv", str(book), "--cell-timeout", "30", "--call-timeout", "30"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"bob.ipynb: {N2}/{N2} exercises pass" in proc.stdout
    assert f"02_carol.ipynb: 0/{N2} exercises pass" in proc.stdout
    assert "the sign is flipped" in proc.stdout  # the check's own diagnosis, per exercise
    rows = list(csv.DictReader(book.open()))
    assert [r["submission"] for r in rows] == ["bob.ipynb", "02_carol.ipynb"]
    assert rows[0]["ex-drift"] == "1" and rows[1]["ex-drift"] == "0" and rows[1]["passed"] == "0"
    assert set(ex.label for ex in grader.exercises(2)) <= set(rows[0])


def test_results_come_back_without_pickle():
    """What a kernel writes back is read as JSON + .npy with allow_pickle=False: an object the
    student's function returns becomes an inert placeholder in the grader, never code."""
    import numpy as np

    v = grader.decode({"__tuple__": [{"__object__": "Evil"}, 1, {"__float__": "nan"}]})
    assert type(v[0]).__name__ == "Evil" and v[1] == 1 and np.isnan(v[2])
    assert "pickle.load(f)" in grader.KERNEL_HELPER  # the arguments (ours) go in as a pickle
    assert "pickle" not in grader.decode.__code__.co_names
