"""Instructor tools: a student edition of the chapters and a grader that cannot be fooled.

    python3 tools/course.py student-edition [OUT_DIR]          # default: _build/student
    python3 tools/course.py grade SUBMISSION.ipynb [...] [--chapter N] [--csv FILE]
                                  [--cell-timeout S] [--timeout S] [--call-timeout S]

The student edition is each chapter without its reference solutions: the cells tagged
``solution`` and the ``{solution-start}`` ... ``{solution-end}`` blocks around them, and without
outputs. Exercises, hints and the checks stay.

The grader executes each submission in a fresh kernel (with time limits and an output cap), then
scores it on the exercises of its chapter as normlab lists them (``normlab.chN.exercises``):
each check runs in the grader's own process on freshly drawn random cases and calls the student's
function in the kernel (see tools/grader.py). It prints one line per submission, ``K/N exercises
pass``, then a line per exercise with the check's diagnosis; ``--csv`` writes a gradebook with
one row per submission and one column per exercise (1 = pass, 0 = fail). It runs offline.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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


def student_edition(src: Path, dst: Path) -> int:
    """Write ``src`` without its solutions (and without outputs) to ``dst``; return the number of
    solution cells removed."""
    nb = json.loads(Path(src).read_text())
    nb["cells"], removed = _strip_solutions(nb["cells"])
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return removed


def expected_checks(nb: dict) -> list[str]:
    """The exercise labels of a notebook, in order."""
    md = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    return re.findall(r"```\{exercise\}[^\n]*\n:label:\s*(\S+)", md)


def write_gradebook(grades, path: Path) -> None:
    labels = []
    for g in grades:
        for ex, _ in g.results:
            if ex.label not in labels:
                labels.append(ex.label)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["submission", "chapter", *labels, "passed", "total", "notes"])
        for g in grades:
            by = {ex.label: int(r.passed) for ex, r in g.results}
            w.writerow([g.path.name, g.chapter, *[by.get(l, "") for l in labels], g.passed, g.total,
                        " | ".join(g.notes)])


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
    from tools import grader

    p = argparse.ArgumentParser(prog="python3 tools/course.py grade")
    p.add_argument("submissions", nargs="+", type=Path)
    p.add_argument("--chapter", type=int, default=None, help="the chapter (default: from the name)")
    p.add_argument("--csv", type=Path, default=None, help="write a gradebook here")
    p.add_argument("--cell-timeout", type=float, default=grader.Limits.cell_s)
    p.add_argument("--timeout", type=float, default=grader.Limits.notebook_s,
                   help="seconds for a whole notebook")
    p.add_argument("--call-timeout", type=float, default=grader.Limits.call_s)
    a = p.parse_args(argv[1:])
    limits = grader.Limits(cell_s=a.cell_timeout, notebook_s=a.timeout, call_s=a.call_timeout)
    grades, worst = [], 0
    for path in a.submissions:
        try:
            g = grader.grade(path, a.chapter, limits)
        except Exception as e:  # one broken submission must not stop the others
            print(f"{path}: could not be graded: {type(e).__name__}: {e}", flush=True)
            worst = max(worst, 1)
            continue
        grades.append(g)
        print(f"{path}: {g.passed}/{g.total} exercises pass", flush=True)
        for ex, r in g.results:
            print(f"    {'PASS' if r.passed else 'FAIL'} {ex.label} ({ex.function}): {r.message}")
        for note in g.notes:
            print(f"    note: {note}")
        worst = max(worst, g.total - g.passed)
    if a.csv:
        write_gradebook(grades, a.csv)
        print(f"gradebook: {a.csv}")
    return 0 if worst == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
