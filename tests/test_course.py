"""The instructor tools: the student edition drops exactly the solutions; the grader scores a
student's notebook from the checks it ran, and survives a student's error."""

import json
import subprocess
import sys

import nbformat
import pytest

from conftest import NOTEBOOKS, ROOT
from tools import course


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_edition_has_no_solutions_but_keeps_the_checks(nb, tmp_path):
    n = course.student_edition(nb, tmp_path / nb.name)
    assert n >= 1
    text = (tmp_path / nb.name).read_text()
    assert "# BEGIN SOLUTION" not in text
    cells = json.loads(text)["cells"]
    assert text.count(".check_") >= len(course.expected_checks(json.loads(nb.read_text())))
    assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code")


def make_notebook(path, body):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("```{exercise} Running statistics\n:label: ex-run\nDo it.\n```"),
        nbformat.v4.new_markdown_cell("```{exercise} Channels\n:label: ex-conv\nDo it.\n```"),
        nbformat.v4.new_code_cell("from normlab import batchnorm\nfrom normlab.ch1 import exercises as checks\nimport numpy as np"),
        nbformat.v4.new_code_cell(body),
        nbformat.v4.new_code_cell(
            "def stats(x):\n    return x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))\n"
            "print(checks.check_conv_stats(stats))"),
    ]
    nbformat.write(nb, str(path))


def test_grader_scores_right_and_wrong_answers(tmp_path):
    right = tmp_path / "right.ipynb"
    make_notebook(right, "print(checks.check_running_update(batchnorm.update_running))")
    wrong = tmp_path / "wrong.ipynb"
    make_notebook(wrong, "def upd(r, x, m):\n    return r\nprint(checks.check_running_update(upd))")
    broken = tmp_path / "broken.ipynb"
    make_notebook(broken, "raise RuntimeError('student typo')")
    assert course.grade(right)[:2] == (2, 2)
    assert course.grade(wrong)[:2] == (1, 2)
    passed, total, lines = course.grade(broken)
    assert (passed, total) == (0, 2) and any("student typo" in l for l in lines)
    proc = subprocess.run([sys.executable, "tools/course.py", "grade", str(wrong)], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "1/2 exercises pass" in proc.stdout
