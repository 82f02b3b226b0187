"""Instructor tools: a student edition of the chapters and a sandboxed grader whose gradebook
imports into Canvas, Moodle and Gradescope.

    python3 tools/course.py student-edition [OUT_DIR]          # default: _build/student
    python3 tools/course.py grade SUBMISSION.ipynb|FOLDER [...] [--chapter N] [--course FILE]
        [--csv FILE] [--canvas FILE] [--moodle FILE] [--feedback DIR] [--answers FILE]
        [--gradescope FILE] [--jobs N] [--strict] [--memory GB] [--run-all] [--no-sandbox]
        [--cell-timeout S] [--timeout S] [--call-timeout S]

The student edition is each chapter without its reference solutions (the cells tagged
``solution`` and the ``{solution-start}`` ... ``{solution-end}`` blocks around them) and without
outputs, with a first cell that asks for the student's id, a note on how the notebook is graded
(the package contains reference answers; what the grader does when a solution calls them) and an
answer cell under each "predict, run, explain" question. Exercises, hints and the checks stay.

The grader executes each submission in its own sandboxed kernel, then scores it on the exercises
of its chapter as normlab lists them (``normlab.chN.exercises``): each check runs in the grader's
own process on freshly drawn random cases and calls the student's function in the kernel (see
tools/grader.py and tools/sandbox.py). It prints one line per file, ``K/N exercises pass``, then a
line per exercise with the check's diagnosis and the notes. Points, due date and late policy come
from ``--course`` (TOML or YAML, see tools/gradebook.py); the exports are listed above. It runs
offline.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.gradebook import PLACEHOLDER  # noqa: E402

START = re.compile(r"```\{solution-start\}")
END = re.compile(r"```\{solution-end\}[^\n]*\n```[^\n]*\n?")


def _strip_solutions(cells: list) -> tuple[list, int]:
    """The cells without the solution blocks; the number of solution code cells removed."""
    out, inside, removed = [], False, 0
    for c in cells:
        if c["cell_type"] == "code":
            if "solution" in c.get("metadata", {}).get("tags", []):
                removed += 1
                continue
            if inside:
                continue
            c["outputs"], c["execution_count"] = [], None
            out.append(c)
            continue
        text, kept = "".join(c["source"]), ""
        while text:
            if not inside:
                m = START.search(text)
                if not m:
                    kept += text
                    break
                kept, text, inside = kept + text[:m.start()], text[m.start():], True
            else:
                m = END.search(text)
                if not m:
                    break
                text, inside = text[m.end():], False
        if kept.strip():
            c["source"] = kept.rstrip("\n").splitlines(keepends=True)
            out.append(c)
    return out, removed


ID_CELL = ("# Your student id, exactly as your course's gradebook knows it. Fill it in before you\n"
           "# hand in this notebook: the grader reads it to put your score in the right row.\n"
           "STUDENT_ID = \"\"\n"
           "if not STUDENT_ID.strip():\n"
           "    print(\"Fill in STUDENT_ID in this cell before you hand in the notebook.\")")
HEADER = """## Student edition: how this notebook is graded

Fill in `STUDENT_ID` in the notebook's first code cell. Each graded exercise has a stub, `raise
NotImplementedError`, and a check that prints PASS or FAIL as often as you like. To grade, your
instructor runs the whole notebook from the top in a fresh, offline sandbox (no network, no Google
Drive: `google.colab` does nothing there, and `!pip install` lines are skipped), then calls your
functions on new random cases, in float64 as your check does. So the notebook must run from top to
bottom, and your functions must keep their names.

**The reference answers ship with the package.** `normlab` contains the book's own
implementations (`batchnorm.backward`, `batchnorm.update_running`, `weightnorm.backward`,
`weightnorm.data_init`, ...) and each check's reference, and JAX's autodiff (`jax.grad`,
`jax.vjp`, `jax.jvp`, `jax.jacfwd`, ...) computes any gradient. Where an exercise asks you to derive
something by hand, write the formula yourself: while your function runs, the grader records every
call to autodiff and to normlab's reference implementations, flags it to your instructor, and may
give that exercise no credit.

Under each "predict, run, explain" question there is an answer cell: write your prediction and
your explanation there; your instructor reads them."""
ANSWER_CELL = "**Your answer [{label}]** (your prediction, then what you saw and why)\n\n" + PLACEHOLDER


def _md(text: str, cid: str) -> dict:
    """A markdown cell with the id ``cid`` (nbformat 4.5 cells carry ids; these are stable, so two
    student editions of one chapter agree)."""
    return {"cell_type": "markdown", "id": cid, "metadata": {}, "source": text.splitlines(keepends=True)}


def _student_cells(cells: list, chapter: str) -> list:
    """The student edition's additions: the id cell (the first code cell) and the grading note
    under the title, an answer cell under each predict-run-explain question, and no sentence about
    collapsed solutions."""
    out, k = [], 0
    for c in cells:
        if c["cell_type"] == "markdown":
            text = "".join(c["source"])
            parts = re.split(r"((?<=[.!?])\s+(?=[A-Z*]))", text)  # sentence, gap, sentence, ...
            kept = "".join(s + gap for s, gap in zip(parts[0::2], parts[1::2] + [""])
                           if not ("collapsed cell" in s and "solution" in s))
            if kept != text:
                c = {**c, "source": kept.rstrip().splitlines(keepends=True)}
        out.append(c)
        if c["cell_type"] == "markdown" and "Predict, run, explain" in "".join(c["source"]):
            k += 1
            m = re.search(r":label:\s*(\S+)", "".join(c["source"]))
            out.append(_md(ANSWER_CELL.format(label=m.group(1) if m else f"{chapter}-predict-{k}"),
                           f"student-answer-{k}"))
    first = {"cell_type": "code", "execution_count": None, "id": "student-id",
             "metadata": {"tags": ["student-id", "remove-cell"]},  # not on the website
             "outputs": [], "source": ID_CELL.splitlines(keepends=True)}
    title = 1 if out and out[0]["cell_type"] == "markdown" and "".join(out[0]["source"]).startswith("# ") else 0
    return [*out[:title], first, _md(HEADER, "student-grading-note"), *out[title:]]


def student_edition(src: Path, dst: Path, *, student_cells: bool = True) -> int:
    """Write ``src`` without its solutions (and without outputs) to ``dst``; return the number of
    solution cells removed. With ``student_cells`` (the default) it also adds the id cell, the
    grading note and the answer cells (:func:`_student_cells`)."""
    nb = json.loads(Path(src).read_text())
    nb["cells"], removed = _strip_solutions(nb["cells"])
    if student_cells:
        nb["cells"] = _student_cells(nb["cells"], f"ch{Path(src).name[:2]}")
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return removed


def expected_checks(nb: dict) -> list[str]:
    """The exercise labels of a notebook, in order."""
    md = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    return re.findall(r"```\{exercise\}[^\n]*\n:label:\s*(\S+)", md)



def _submissions(args: list[Path]) -> list[Path]:
    """The files to grade: the given ones, and every .ipynb under a given folder."""
    out = []
    for a in args:
        if a.is_dir():
            out += sorted(p for p in a.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        else:
            out.append(a)
    return out


def _print(g) -> None:
    if g.error:
        print(f"{g.path}: could not be graded ({g.error}); scored 0", flush=True)
    else:
        print(f"{g.path}: {g.passed}/{g.total} exercises pass", flush=True)
    for ex, r in g.results:
        flag = f" [flagged: {', '.join(g.flags[ex.label])}]" if ex.label in g.flags else ""
        print(f"    {'PASS' if r.passed else 'FAIL'} {ex.label} ({ex.function}): {r.message}{flag}")
    for note in g.notes:
        print(f"    note: {note}")


def grade_main(argv: list[str]) -> int:
    from tools import gradebook, grader, sandbox

    p = argparse.ArgumentParser(prog="python3 tools/course.py grade")
    p.add_argument("submissions", nargs="+", type=Path, help="notebooks, or folders of them")
    p.add_argument("--chapter", type=int, default=None, help="the chapter (default: from the file)")
    p.add_argument("--course", type=Path, default=None,
                   help="points per exercise, due date, late policy (TOML or YAML)")
    p.add_argument("--csv", type=Path, default=None, help="the full gradebook (one row per file)")
    p.add_argument("--canvas", type=Path, default=None, help="a CSV for Canvas's gradebook import")
    p.add_argument("--canvas-id-column", default="SIS User ID",
                   help="the Canvas column the student id goes in (ID, SIS User ID, SIS Login ID)")
    p.add_argument("--moodle", type=Path, default=None, help="a CSV for Moodle's grade import")
    p.add_argument("--feedback", type=Path, default=None,
                   help="a folder: one feedback .md and Gradescope .results.json per student")
    p.add_argument("--gradescope", type=Path, default=None,
                   help="results.json for one submission (inside Gradescope's run_autograder)")
    p.add_argument("--answers", type=Path, default=None,
                   help="the written answers per question, for manual grading (.csv or .md)")
    p.add_argument("--jobs", type=int, default=1, help="submissions graded at the same time")
    p.add_argument("--strict", action="store_true",
                   help="refuse (0 points) an exercise whose solution calls autodiff or normlab's "
                        "reference answers where it should not; without it they are only flagged")
    p.add_argument("--memory", type=float, default=grader.Limits.memory_gb, help="GB per kernel")
    p.add_argument("--run-all", action="store_true",
                   help="also run the chapter's own cells (figures, tables) that grading skips")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run kernels without bubblewrap (only for notebooks you trust)")
    p.add_argument("--cell-timeout", type=float, default=grader.Limits.cell_s)
    p.add_argument("--timeout", type=float, default=grader.Limits.notebook_s,
                   help="seconds for a whole notebook")
    p.add_argument("--call-timeout", type=float, default=grader.Limits.call_s)
    a = p.parse_args(argv)
    files = _submissions(a.submissions)
    if not files:
        print("no .ipynb files to grade", file=sys.stderr)
        return 2
    if a.gradescope and len(files) != 1:
        print("--gradescope writes one submission's results.json: give exactly one notebook",
              file=sys.stderr)
        return 2
    try:
        labels = None
        if a.chapter is not None:
            labels = [ex.label for ex in grader.exercises(a.chapter)]
        course = gradebook.load_course(a.course, labels) if a.course else gradebook.Course()
    except (ValueError, ModuleNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    limits = grader.Limits(cell_s=a.cell_timeout, notebook_s=a.timeout, call_s=a.call_timeout,
                           memory_gb=a.memory, sandbox=not a.no_sandbox, run_all=a.run_all)
    try:
        grades = grader.grade_all(files, a.chapter, limits, a.strict, max(1, a.jobs), on_done=_print)
    except sandbox.SandboxUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rows = [gradebook.row(g, course) for g in grades]
    outputs = [(a.csv, lambda f: gradebook.write_csv(rows, f)),
               (a.canvas, lambda f: gradebook.write_canvas(rows, course, f, a.canvas_id_column)),
               (a.moodle, lambda f: gradebook.write_moodle(rows, course, f)),
               (a.answers, lambda f: gradebook.write_answers(grades, f)),
               (a.feedback, lambda f: gradebook.write_feedback(rows, f, course)),
               (a.gradescope, lambda f: f.write_text(json.dumps(
                   gradebook.gradescope({**rows[0], "_course": course}), indent=1)))]
    for where, write in outputs:
        if where is not None:
            try:
                write(where)
            except (OSError, ValueError) as e:
                print(f"error: could not write {where}: {e}", file=sys.stderr)
                return 2
            print(f"wrote {where}")
    return 0 if all(g.passed == g.total and not g.error for g in grades) else 1


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"student-edition", "grade"}:
        print(__doc__)
        return 2
    if argv[0] == "student-edition":
        out = Path(argv[1]) if len(argv) > 1 else ROOT / "_build" / "student"
        for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
            n = student_edition(nb, out / nb.name)
            print(f"{out / nb.name}: {n} solution cells removed")
        return 0
    return grade_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
