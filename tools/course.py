"""Instructor tools: a student edition of the chapters and an autograder.

    python tools/course.py student-edition [OUT_DIR]       # default: _build/student
    python tools/course.py grade STUDENT.ipynb [...]       # executes, prints a score per notebook

The student edition is each chapter with the cells tagged ``solution`` removed (the reference
solutions live between ``# BEGIN SOLUTION`` / ``# END SOLUTION`` in those cells) and no outputs.
The grader executes a student's notebook in a fresh kernel and reads the result of every
``normlab.checks`` call it printed (``PASS [name] ...`` / ``FAIL [name] ...``): a check that
never ran counts as failed, and a notebook that stops with an error is graded up to that point.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = re.compile(r"^(PASS|FAIL) \[([^\]]+)\]", re.M)


def student_edition(src: Path, dst: Path) -> int:
    """Write ``src`` without its solution cells (and without outputs) to ``dst``; return #removed."""
    nb = json.loads(src.read_text())
    keep, removed = [], 0
    for c in nb["cells"]:
        if "solution" in c.get("metadata", {}).get("tags", []):
            removed += 1
            continue
        if c["cell_type"] == "code":
            c["outputs"], c["execution_count"] = [], None
        keep.append(c)
    nb["cells"] = keep
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return removed


def expected_checks(nb: dict) -> list[str]:
    """The exercise labels of a notebook, in order (one check is expected per exercise)."""
    md = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    return re.findall(r"```\{exercise\}[^\n]*\n:label:\s*(\S+)", md)


def grade(path: Path, timeout: int = 600) -> tuple[int, int, list[str]]:
    """Execute a student's notebook; return (passed, expected, lines of feedback)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(str(path), as_version=4)
    labels = expected_checks(nb)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    note = []
    try:
        client.execute()
    except CellExecutionError as e:
        note.append(f"the notebook stopped with an error: {str(e).strip().splitlines()[-1][:200]}")
    results = []
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        for o in c.get("outputs", []):
            text = o.get("text", "") if o.get("output_type") == "stream" else o.get("data", {}).get("text/plain", "")
            results += RESULT.findall(text if isinstance(text, str) else "".join(text))
    passed = sum(1 for verdict, _ in results if verdict == "PASS")
    lines = [f"{verdict} {name}" for verdict, name in results] + note
    return min(passed, len(labels)), len(labels), lines


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
    worst = 0
    for p in argv[1:]:
        passed, total, lines = grade(Path(p))
        print(f"{p}: {passed}/{total} exercises pass")
        for line in lines:
            print("   ", line)
        worst = max(worst, total - passed)
    return 0 if worst == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
