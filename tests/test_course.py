"""The instructor tools. The student edition drops exactly the solutions and adds the id cell, the
grading note and the answer cells. The grader runs each submission in a sandbox and scores what
its functions do, with the instructor's exercise list and checks: every case of the instructor's
simulated class (``reviews/instructor.md``) scores as expected, each attack fails to gain credit or
change anything, and the gradebook imports into Canvas, Moodle and Gradescope."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import subprocess
import sys
import uuid

import nbformat
import pytest

from conftest import NOTEBOOKS, ROOT
from course_fixtures import colab, submission
from tools import course, gradebook, grader, sandbox

CH2 = ROOT / "notebooks" / "02_naive_normalization.ipynb"
N2 = len(grader.exercises(2))
FAST = grader.Limits(cell_s=40, notebook_s=300, call_s=20, memory_gb=3)
ALL1 = {"bn_backward": "solution", "update_running": "solution", "conv_stats": "solution"}
ALL3 = {"wn_backward": "solution", "wn_data_init": "solution", "predict_norms": "solution"}

HONEST = ["import numpy as np",
          "def drift_step(u, t, lr):\n    return lr * np.sum(t)",
          "def centring_backward(dy, x):\n    return dy - dy.mean(axis=0, keepdims=True)",
          "def collapse_step(a, t, w0, lr):\n    return w0 ** 2 / (2 * lr * (len(a) - t @ a))"]

CAROL = {  # unbiased variance, momentum swapped, batch-axis-only mean
    "bn_backward": "def bn_backward(dy, x, gamma, eps):\n    axes = tuple(range(x.ndim - 1))\n"
                   "    m = x.size // x.shape[-1]\n    inv = 1 / np.sqrt(x.var(axis=axes, ddof=1) + eps)\n"
                   "    xhat = (x - x.mean(axis=axes)) * inv\n    g = dy * gamma\n"
                   "    dx = inv / m * (m * g - g.sum(axis=axes) - xhat * (g * xhat).sum(axis=axes))\n"
                   "    return dx, (dy * xhat).sum(axis=axes), dy.sum(axis=axes)",
    "update_running": "def update_running(running, x, momentum):\n    mean, var = running\n"
                      "    axes = tuple(range(x.ndim - 1))\n"
                      "    return (momentum * mean + (1 - momentum) * x.mean(axis=axes),\n"
                      "            momentum * var + (1 - momentum) * x.var(axis=axes, ddof=1))",
    "conv_stats": "def conv_stats(x):\n    return x.mean(axis=0), x.var(axis=0)"}
GRACE = {  # the right formulas in jax.numpy: float32 would fail the 1e-8 tolerance
    "bn_backward": "def bn_backward(dy, x, gamma, eps):\n    axes = tuple(range(x.ndim - 1))\n"
                   "    m = x.size // x.shape[-1]\n    mu = jnp.mean(x, axis=axes)\n"
                   "    inv = 1 / jnp.sqrt(jnp.mean((x - mu) ** 2, axis=axes) + eps)\n"
                   "    xhat = (x - mu) * inv\n    g = dy * gamma\n"
                   "    dx = inv / m * (m * g - jnp.sum(g, axis=axes) - xhat * jnp.sum(g * xhat, axis=axes))\n"
                   "    return dx, jnp.sum(dy * xhat, axis=axes), jnp.sum(dy, axis=axes)",
    "update_running": "def update_running(running, x, momentum):\n    mean, var = running\n"
                      "    axes = tuple(range(x.ndim - 1))\n    m = x.size // x.shape[-1]\n"
                      "    bv = jnp.var(x, axis=axes) * m / (m - 1)\n"
                      "    return ((1 - momentum) * mean + momentum * jnp.mean(x, axis=axes),\n"
                      "            (1 - momentum) * var + momentum * bv)",
    "conv_stats": "def conv_stats(x):\n    return jnp.mean(x, axis=(0, 1, 2)), jnp.var(x, axis=(0, 1, 2))"}
FRANK = {  # cheats: autodiff and normlab's reference where a derivation is asked
    "bn_backward": "def bn_backward(dy, x, gamma, eps):\n"
                   "    f = lambda x_, g_, b_: batchnorm.forward(x_, g_, b_, eps)[0]\n"
                   "    _, back = jax.vjp(f, x, gamma, jnp.zeros_like(gamma))\n    return back(dy)",
    "update_running": "def update_running(running, x, momentum):\n"
                      "    return batchnorm.update_running(running, x, momentum)",
    "conv_stats": "def conv_stats(x):\n    return np.zeros(x.shape[-1]), np.zeros(x.shape[-1])"}
FRANK_TRICKS = [
    "print('PASS [BN backward] all 4 random cases agree')\nprint('PASS [running statistics] ok')",
    "from normlab import checks as c\nexercises.check_conv_stats = lambda f, seed=0: c.Result('x', True, 'ok')\n"
    "np.allclose = lambda *a, **k: True\nc.rel_error = lambda *a, **k: 0.0\n"
    "import normlab.measure\nnormlab.measure.rel_error = lambda *a, **k: 0.0"]
WRONG3 = {  # forgot the projection, n-1 std, added the step lengths
    "wn_backward": "def wn_backward(grad_w, v, g):\n    n = np.linalg.norm(v, axis=0)\n"
                   "    return (g / n) * grad_w, np.sum(grad_w * v, 0) / n",
    "wn_data_init": "def wn_data_init(v, x):\n    t = x @ (v / np.linalg.norm(v, axis=0))\n"
                    "    s = t.std(0, ddof=1)\n    return 1 / s, -t.mean(0) / s",
    "predict_norms": "def predict_norms(norm0, grad_norms, lr):\n"
                     "    return norm0 + lr * np.concatenate([[0.0], np.cumsum(grad_norms)])"}
NED = {
    "wn_backward": "def wn_backward(grad_w, v, g):\n    _, vjp = jax.vjp(weightnorm.weight, v, g)\n"
                   "    return vjp(grad_w)",
    "wn_data_init": "def wn_data_init(v, x):\n    return weightnorm.data_init(v, x)",
    "predict_norms": "from normlab.ch3.exercises import _norm_reference\n\n"
                     "def predict_norms(norm0, grad_norms, lr):\n    return _norm_reference(norm0, grad_norms, lr)"}
STUCK = "import time\nwhile True:\n    try:\n        time.sleep(0.2)\n    except KeyboardInterrupt:\n        pass"
MARK = f"i22mark{uuid.uuid4().hex[:10]}"

# name, expected score, what the notes or messages must say
TABLE = [("01_alice", 3, ["`!pip install einops` was not run"]),
         ("doebob_123456_7891011_01_batch_norm", 1, ["your turn"]),
         ("01_carol", 0, ["unbiased", "wrong way round", "batch axis only"]),
         ("01_dave", 3, ["did not finish within"]),
         ("01_erin", 3, ["raised ModuleNotFoundError", "raised SyntaxError"]),
         ("01_frank", 0, ["refused", "jax.vjp", "normlab.batchnorm.update_running"]),
         ("01_grace_jnp", 3, []),
         ("01_henry", 0, ["could not be graded"]),
         ("Copy of 03_weight_norm", 0, ["forgot the projection", "unbiased (n-1)", "added the step lengths"]),
         ("03_leo (1)", 2, ["did not return", "crashed (or hung) the kernel"]),
         ("Mia Wong_4242_56789_03_weight_norm", 3, []),
         ("03_ned", 0, ["jax.vjp", "normlab.weightnorm.data_init", "_norm_reference", "refused"]),
         ("ivan/03_weight_norm", 3, []),
         ("judy/03_weight_norm", 1, []),
         ("01_mallory", 0, [])]


def _hashes():
    return {p: hashlib.sha256(p.read_bytes()).hexdigest()
            for d in ("normlab", "tools") for p in sorted((ROOT / d).rglob("*.py"))}


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """The instructor's simulated class, graded in one run (strict, two at a time)."""
    sandbox.check()  # a missing or broken bubblewrap fails here, with the install instructions
    d = tmp_path_factory.mktemp("class")
    (d / "outside").mkdir()
    s = lambda file, ch, **kw: submission(d / f"{file}.ipynb", ch, **kw)
    ivan = s("ivan/03_weight_norm", 3, fill=ALL3, full=True, student_id="ivan-0042", name="Ivan Ivanov")
    files = [
        s("01_alice", 1, fill=ALL1, student_id="alice-1", first=["!pip install einops"],
          extra=["def helper(x):\n    return 2 * x", "print(helper(3))"]),
        s("doebob_123456_7891011_01_batch_norm", 1, fill={"update_running": "solution"},
          name="Bob Doe", extra=[course_fixtures_solution(1, "bn_backward", "bn_backward_v2")]),
        s("01_carol", 1, fill=CAROL, student_id="carol-3"),
        s("01_dave", 1, fill=ALL1, first=["import time\ntime.sleep(600)"]),
        s("01_erin", 1, fill=ALL1, first=["import einops_not_installed", "def broken(:\n    pass"]),
        s("01_frank", 1, fill=FRANK, first=FRANK_TRICKS),
        s("01_grace_jnp", 1, fill=GRACE),
        _truncated(s("01_henry", 1, fill=ALL1)),
        s("Copy of 03_weight_norm", 3, fill=WRONG3),
        s("03_leo (1)", 3, fill={**ALL3, "predict_norms": "def predict_norms(norm0, grad_norms, lr):\n"
                                                         "    while True:\n        pass"}, first=[STUCK]),
        s("Mia Wong_4242_56789_03_weight_norm", 3, fill=ALL3, name="Mia Wong",
          import_prefix="from google.colab import drive\ndrive.mount('/content/drive')"),
        s("03_ned", 3, fill=NED),
        ivan,
        s("judy/03_weight_norm", 3, fill={"wn_data_init": "solution"}, student_id="judy-7",
          answers={1: "The norm grows like the square root of the steps."}),
        s("01_mallory", 1, fill=CAROL, first=[
            "import normlab.checks as c\nwith open(c.__file__, 'a') as f:\n"
            "    f.write('\\ndef run_check(*a, **k):\\n    return Result(a[0], True, \"rigged\")\\n')",
            f"with open({str(ROOT / 'normlab' / 'checks.py')!r}, 'a') as f:\n    f.write('# rigged')",
            f"print(open({str(ivan)!r}).read()[:100])",
            f"import os\nprint(os.listdir({str(d)!r}))",
            f"open({str(d / 'outside' / 'pwned.txt')!r}, 'w').write('x')",
            "import subprocess, sys\nsubprocess.run([sys.executable, '-m', 'pip', 'install', 'einops'],"
            " check=True, capture_output=True)",
            "!pip install einops",
            "import socket\nsocket.create_connection(('pypi.org', 443), timeout=5)",
            f"open('/tmp/{MARK}', 'w').write('x')\nopen('{MARK}', 'w').write('x')",
            "hog = []\nwhile True:\n    hog.append(bytearray(10**8))"]),
    ]
    before = _hashes()
    einops = importlib.util.find_spec("einops")
    grades = grader.grade_all(files, limits=FAST, strict=True, jobs=2)
    return {"dir": d, "grades": dict(zip([n for n, _, _ in TABLE], grades)), "before": before,
            "after": _hashes(), "einops": (einops, importlib.util.find_spec("einops"))}


def course_fixtures_solution(chapter, function, new_name):
    from course_fixtures import solutions
    return solutions(chapter)[function].replace(f"def {function}(", f"def {new_name}(")


def _truncated(path):
    text = path.read_text()
    path.write_text(text[: len(text) // 3])
    return path


def _text(g):
    return " ".join(g.notes + [r.message for _, r in g.results])


@pytest.mark.parametrize("name,expected,says", TABLE, ids=[t[0] for t in TABLE])
def test_every_case_of_the_instructors_class_scores_as_expected(klass, name, expected, says):
    g = klass["grades"][name]
    assert g.passed == expected, (name, [r.message for _, r in g.results], g.notes)
    for s in says:
        assert s in _text(g), (name, s, _text(g))
    assert g.total == 3  # a row with every exercise, the unreadable file included


def test_the_attacks_change_nothing_and_gain_nothing(klass):
    g = klass["grades"]["01_mallory"]
    assert klass["before"] == klass["after"], "a submission changed the instructor's files"
    raised = [n for n in g.notes if " raised " in n]
    for err in ["PermissionError", "FileNotFoundError", "CalledProcessError", "gaierror", "MemoryError"]:
        assert any(err in n for n in raised), (err, g.notes)
    assert sum("FileNotFoundError" in n for n in raised) >= 4  # checkout, other file, folder, outside
    assert not (klass["dir"] / "outside" / "pwned.txt").exists()
    assert klass["einops"][1] == klass["einops"][0]  # nothing installed into the machine's Python
    import tempfile
    from pathlib import Path
    leftovers = list(Path(tempfile.gettempdir()).glob(f"*{MARK}*"))
    leftovers += list(Path(tempfile.gettempdir()).glob(f"grade-*/**/*{MARK}*"))
    assert not leftovers, leftovers
    assert "rigged" not in _text(klass["grades"]["01_carol"])


def test_the_grader_agrees_with_the_notebooks_own_check(klass):
    """The same functions, checked as the notebook checks them (in this process) and by the
    grader in its sandboxed kernel: the same verdicts (grace's jax.numpy answer passes both)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from normlab.ch1 import exercises
    for name, code in [("01_grace_jnp", GRACE), ("01_carol", CAROL)]:
        ns = {"np": np, "jnp": jnp, "jax": jax}
        for src in code.values():
            exec(src, ns)
        local = [ex.check(ns[ex.function]).passed for ex in exercises.EXERCISES]
        remote = [r.passed for _, r in klass["grades"][name].results]
        assert local == remote, (name, local, remote)


def test_integrity_flags_are_columns_and_notes(klass):
    rows = [gradebook.row(g, gradebook.Course()) for g in klass["grades"].values()]
    frank = next(r for r in rows if r["path"].endswith("01_frank.ipynb"))
    assert "ex-bn-backward: jax.vjp" in frank["flags"]
    assert "ex-running: normlab.batchnorm.update_running" in frank["flags"]
    ned = klass["grades"]["03_ned"]
    assert set(ned.flags) == {"ex-wn-backward", "ex-data-init", "ex-norm-prediction"}
    assert not klass["grades"]["ivan/03_weight_norm"].flags


def test_the_gradebook_has_ids_paths_points_and_imports_into_canvas(klass, tmp_path):
    c = gradebook.Course(name="Chapter 3 homework", points={"ex-wn-backward": 4, "ex-data-init": 3,
                                                            "ex-norm-prediction": 3},
                         canvas_assignment_id="5511")
    grades = [klass["grades"][n] for n in ("ivan/03_weight_norm", "judy/03_weight_norm",
                                           "Mia Wong_4242_56789_03_weight_norm", "01_henry")]
    rows = [gradebook.row(g, c) for g in grades]
    assert [r["student_id"] for r in rows] == ["ivan-0042", "judy-7", "Mia Wong", "01_henry"]
    assert rows[0]["path"] != rows[1]["path"] and rows[0]["path"].endswith("ivan/03_weight_norm.ipynb")
    assert [r["score"] for r in rows[:3]] == [10, 3, 10] and rows[3]["score"] == 0
    assert rows[3]["status"].startswith("not graded")
    out = tmp_path / "canvas.csv"
    gradebook.write_canvas(rows, c, out)
    table = list(csv.reader(out.open()))
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                        "Chapter 3 homework (5511)"]
    assert table[1][0].strip() == "Points Possible" and float(table[1][5]) == 10
    assert len(table) == 2 + len(rows) and all(len(r) == 6 for r in table)
    assert table[2][:3] == ["Ivan Ivanov", "", "ivan-0042"] and float(table[2][5]) == 10
    answers = tmp_path / "answers.csv"
    gradebook.write_answers(grades, answers)
    got = {(r["question"], r["student_id"]): r["answer"] for r in csv.DictReader(answers.open())}
    # the question is named by its predict exercise's label (a fallback name when it has none)
    judy = {q: a for (q, who), a in got.items() if who == "judy-7"}
    assert "The norm grows like the square root of the steps." in judy.values(), judy
    first = next(q for q in judy if judy[q])
    assert got[(first, "ivan-0042")] == ""


# ---- the student edition ---------------------------------------------------------------------------
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
    assert "".join(out["cells"][0]["source"]).startswith("# Chapter")  # the title stays first
    first = "".join(out["cells"][1]["source"])
    assert out["cells"][1]["cell_type"] == "code" and 'STUDENT_ID = ""' in first
    note = "".join(out["cells"][2]["source"])
    assert "reference answers ship with the package" in note and "jax.vjp" in note
    prompts = sum("Predict, run, explain" in "".join(c["source"]) for c in src["cells"])
    answers = [c for c in out["cells"] if "".join(c["source"]).startswith("**Your answer [")]
    assert len(answers) == prompts >= 1
    assert "collapsed cell" not in text
    assert course.student_edition(nb, tmp_path / "plain.ipynb", student_cells=False) == n


def test_every_graded_exercise_is_in_its_notebook():
    for nb in NOTEBOOKS:
        labels = course.expected_checks(json.loads(nb.read_text()))
        ch = int(nb.stem[:2])
        for ex in grader.exercises(ch):
            assert ex.label in labels, f"{nb.name}: {ex.label} is graded but not in the notebook"
            stub = [c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"
                    and f"def {ex.function}(" in "".join(c["source"])]
            assert stub, f"{nb.name}: no stub defines {ex.function}"


# ---- the grader on small chapter-2 notebooks -------------------------------------------------------
def notebook(path, *cells, chapter_heading=None):
    nb = nbformat.v4.new_notebook()
    if chapter_heading:
        nb.cells.append(nbformat.v4.new_markdown_cell(chapter_heading))
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, str(path))
    return path


def test_the_instructors_chapter_and_the_untouched_student_edition_score_zero(tmp_path):
    """Run all on the full chapter (solutions included): the solutions define their own names, so
    every student function is still the stub; the student edition likewise."""
    student = tmp_path / CH2.name
    course.student_edition(CH2, student)
    for g in grader.grade_all([CH2, student], limits=FAST, jobs=2):
        assert g.total == N2 and g.passed == 0
        assert all("your turn" in r.message for _, r in g.results), g.results


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
    lim = grader.Limits(cell_s=20, notebook_s=300, call_s=20, memory_gb=3)
    hang = notebook(tmp_path / "02_hang.ipynb", HONEST[0], HONEST[1], "while True:\n    pass",
                    "def centring_backward(dy, x):\n    while True:\n        pass", HONEST[3])
    crash = notebook(tmp_path / "02_crash.ipynb", HONEST[0], HONEST[1], "import os\nos._exit(1)",
                     HONEST[2], HONEST[3])
    flood = notebook(tmp_path / "02_flood.ipynb", *HONEST[:3], "while True:\n    print('x' * 10000)",
                     "def collapse_step(a, t, w0, lr):\n    return object()")
    g, c, f = grader.grade_all([hang, crash, flood], limits=lim, jobs=2)
    assert g.passed == N2 - 1 and any("did not finish" in n for n in g.notes)
    assert "did not return" in dict((ex.function, r.message) for ex, r in g.results)["centring_backward"]
    assert c.passed == N2 and any("crashed" in n for n in c.notes)
    assert f.passed == N2 - 1 and any("printed more than" in n for n in f.notes)
    assert "not an array" in dict((ex.function, r.message) for ex, r in f.results)["collapse_step"]


def test_integrity_flags_without_strict_and_refuses_with_it(tmp_path):
    cheat = notebook(tmp_path / "02_eve.ipynb", HONEST[0], HONEST[1],
                     "from jax import vjp as v\ndef centring_backward(dy, x):\n"
                     "    return v(lambda x: x - x.mean(0), x)[1](dy)[0]", HONEST[3])
    lenient, strict = grader.grade(cheat, limits=FAST), grader.grade(cheat, limits=FAST, strict=True)
    assert lenient.passed == N2 and strict.passed == N2 - 1
    assert lenient.flags == strict.flags and "jax.vjp" in lenient.flags["ex-centring-backward"]
    assert any(n.startswith("integrity: `centring_backward` uses jax.vjp") for n in lenient.notes)


def test_the_command_writes_every_gradebook(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    good = notebook(subs / "bob.ipynb", 'STUDENT_ID = "bob-1"', *HONEST,
                    chapter_heading="# Chapter 2: whatever")
    nb = json.loads(good.read_text())
    good.write_text(json.dumps(colab(nb, "Bob B", t0_ms=1_767_225_600_000 + 36 * 3600 * 1000)))
    bad = notebook(subs / "02_carol.ipynb", HONEST[0], "def drift_step(u, t, lr):\n    return -lr * sum(t)")
    (subs / "02_zed.ipynb").write_text('{"cells": [')  # a truncated upload
    conf = tmp_path / "course.toml"
    conf.write_text('name = "Naive normalization"\ndue = 2026-01-01T00:00:00Z\nlate_penalty_per_day = 0.1\n'
                    '[points]\nex-drift = 2\nex-centring-backward = 3\nex-collapse = 5\n')
    out = {k: tmp_path / v for k, v in [("csv", "g.csv"), ("canvas", "c.csv"), ("moodle", "m.csv"),
                                        ("feedback", "fb"), ("answers", "a.md")]}
    args = [x for k, v in out.items() for x in (f"--{k}", str(v))]
    proc = subprocess.run([sys.executable, "tools/course.py", "grade", str(subs), "--chapter", "2",
                           "--course", str(conf), "--jobs", "2", "--cell-timeout", "60", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert f"bob.ipynb: {N2}/{N2} exercises pass" in proc.stdout
    assert "the sign is flipped" in proc.stdout  # the check's own diagnosis, per exercise
    assert "02_zed.ipynb: could not be graded" in proc.stdout
    rows = list(csv.DictReader(out["csv"].open()))
    assert [r["student_id"] for r in rows] == ["02_carol", "02_zed", "bob-1"]
    bob = rows[2]
    assert bob["name"] == "Bob B" and bob["late_days"] == "2" and float(bob["score"]) == 8.0
    assert bob["ex-drift"] == "2.0" and rows[0]["ex-drift"] == "0.0" and rows[1]["status"].startswith("not graded")
    canvas = list(csv.reader(out["canvas"].open()))
    assert canvas[0][:5] == gradebook.CANVAS_HEAD and canvas[0][5] == "Naive normalization"
    assert len(canvas) == 2 + 3
    moodle = list(csv.DictReader(out["moodle"].open()))
    assert moodle[2]["ID number"] == "bob-1" and float(moodle[2]["Naive normalization"]) == 8.0
    fb = out["feedback"] / "bob-1.md"
    assert "8.0 / 10.0" in fb.read_text() and "2 days late" in fb.read_text()
    assert "# Written answers" in out["answers"].read_text()
    gs = json.loads((out["feedback"] / "bob-1.results.json").read_text())
    assert gs["score"] == 8.0 and [t["max_score"] for t in gs["tests"]] == [2.0, 3.0, 5.0]
    assert all(set(t) >= {"name", "score", "max_score", "output"} for t in gs["tests"])


def test_a_bad_course_file_gets_a_clear_message(tmp_path):
    conf = tmp_path / "course.toml"
    conf.write_text("[points]\nex-nope = 3\n")
    nbp = notebook(tmp_path / "02_a.ipynb", *HONEST)
    proc = subprocess.run([sys.executable, "tools/course.py", "grade", str(nbp), "--chapter", "2",
                           "--course", str(conf)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "'ex-nope' is not a graded exercise" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_results_come_back_without_pickle():
    """What a kernel writes back is read as JSON + .npy with allow_pickle=False: an object the
    student's function returns becomes an inert placeholder in the grader, never code."""
    import numpy as np

    v = grader.decode({"__tuple__": [{"__object__": "Evil"}, 1, {"__float__": "nan"}]})
    assert type(v[0]).__name__ == "Evil" and v[1] == 1 and np.isnan(v[2])
    assert "pickle.load(f)" in grader.KERNEL_HELPER  # the arguments (ours) go in as a pickle
    assert "pickle" not in grader.decode.__code__.co_names


def test_grading_runs_only_the_cells_it_needs(monkeypatch):
    """The chapter's own unchanged cells run only when they import, hold an exercise, or set a
    name that a cell which runs reads; in the grading kernel explorables and the claims table are
    cheap placeholders."""
    from tools import kernel_side

    chapter = ["import numpy as np", "grid = np.ones(3)  # slow", "scale = 2.0", "figure(grid)",
               "def f(x):\n    raise NotImplementedError\n\nexercises.check_f(f)", "claims.table(chapter=9)"]
    student = chapter[:4] + ["def f(x):\n    return scale * x\n\nexercises.check_f(f)", chapter[5],
                             "def helper():\n    return grid"]
    assert kernel_side.needed(student, chapter, ["f"]) == [True, True, True, False, True, False, True]
    assert kernel_side.needed(chapter, chapter, ["f"]) == [True, False, False, False, True, False]
    assert kernel_side.prepare("claims.table(chapter=1)")[0] is None
    assert kernel_side.prepare("explorables.drift_explorable();")[0] is None
    code, removed = kernel_side.prepare("x = 1\n!pip install einops\n%pip install x")
    assert removed == ["!pip install einops", "%pip install x"] and "pip" not in code.replace("# an install", "")
    from normlab import claims
    monkeypatch.setenv("NORMLAB_GRADING", "1")
    assert claims.table(chapter=1).rows == []
