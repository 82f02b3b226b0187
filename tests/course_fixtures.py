"""Submissions for the grader's tests, generated from the chapters (never committed copies): the
student edition with its stubs replaced by the reference solutions or by other code, saved the way
Colab saves a notebook (``nbformat_minor`` 0, a ``colab`` block, ``executionInfo`` per cell)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import ROOT
from tools import course

CHAPTERS = {1: ROOT / "notebooks" / "01_batch_norm.ipynb", 3: ROOT / "notebooks" / "03_weight_norm.ipynb",
            2: ROOT / "notebooks" / "02_naive_normalization.ipynb"}


def solutions(chapter: int) -> dict:
    """function name -> the reference solution's code, defining that name."""
    nb = json.loads(CHAPTERS[chapter].read_text())
    out = {}
    for c in nb["cells"]:
        src = "".join(c["source"])
        if "solution" in c["metadata"].get("tags", []):
            m = re.search(r"def (\w+)_solution\(", src)
            code = re.sub(r"(\w+)_solution\b", r"\1", src)
            code = "\n".join(l for l in code.splitlines() if "exercises.check_" not in l)
            out[m.group(1)] = code
    return out


def setup_cells(chapter: int) -> list[str]:
    """The chapter's import cell(s) (everything before the first section's code, minus setup)."""
    nb = json.loads(CHAPTERS[chapter].read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"
            and "setup" not in c["metadata"].get("tags", [])]
    return ["".join(code[0]["source"])]


def colab(nb: dict, name: str = "", t0_ms: int = 1_765_000_000_000) -> dict:
    """``nb`` as Colab saves it: its metadata, a cell id and executionInfo on each code cell."""
    nb = json.loads(json.dumps(nb))
    nb["nbformat_minor"] = 0
    nb["metadata"] = {"colab": {"provenance": [], "name": "submission.ipynb"},
                      "kernelspec": {"name": "python3", "display_name": "Python 3"},
                      "language_info": {"name": "python"}, "widgets": {"application/vnd.jupyter.widget-state+json": {}}}
    for k, c in enumerate(nb["cells"]):
        c.pop("id", None)
        c["metadata"] = {**c.get("metadata", {}), "id": f"cell{k:04d}"}
        if c["cell_type"] == "code" and name:
            c["metadata"]["executionInfo"] = {"status": "ok", "timestamp": t0_ms + 1000 * k, "elapsed": 12,
                                              "user_tz": -60, "user": {"displayName": name, "userId": "0"}}
    return nb


def submission(path: Path, chapter: int, *, fill: dict | None = None, full: bool = False,
               extra: list[str] = (), first: list[str] = (), student_id: str = "",
               name: str = "", before: dict | None = None, import_prefix: str = "",
               answers: dict | None = None) -> Path:
    """A submission of ``chapter`` at ``path``.

    full: the whole student edition (every section), else just its id and import cells, the
    exercise stubs and checks (fast to run); fill: function name -> code replacing its stub
    (``"solution"`` for the reference); extra: cells appended; first: cells added after the
    import cell; before: function name -> cells inserted just before its stub; import_prefix: code
    put at the top of the import cell; answers: question label, or its position (1 = the first
    predict question), -> text for its answer cell."""
    tmp = path.with_suffix(".student.ipynb")
    course.student_edition(CHAPTERS[chapter], tmp)
    nb = json.loads(tmp.read_text())
    tmp.unlink()
    sols, fill, before = solutions(chapter), dict(fill or {}), dict(before or {})
    cells, k = [], 0
    for c in nb["cells"]:
        src = "".join(c["source"])
        if c["cell_type"] == "code" and "STUDENT_ID =" in src:
            src = src.replace('STUDENT_ID = ""', f'STUDENT_ID = "{student_id}"')
            c = {**c, "source": src.splitlines(keepends=True)}
        if c["cell_type"] == "code" and "from normlab" in src and import_prefix:
            c = {**c, "source": (import_prefix + "\n" + src).splitlines(keepends=True)}
        if c["cell_type"] == "markdown" and src.startswith("**Your answer [") and answers:
            label, k = src[len("**Your answer ["):src.index("]")], k + 1
            text = answers.get(label, answers.get(k))
            if text is not None:
                c = {**c, "source": (src.replace(course.PLACEHOLDER, text)).splitlines(keepends=True)}
        m = re.search(r"^def (\w+)\(", src, re.M) if c["cell_type"] == "code" else None
        stub = m and "raise NotImplementedError" in src and m.group(1) in sols
        if stub:
            for b in before.get(m.group(1), []):
                cells.append(_code(b))
            if m.group(1) in fill:
                code = sols[m.group(1)] if fill[m.group(1)] == "solution" else fill[m.group(1)]
                check = [l for l in src.splitlines() if "exercises.check_" in l]
                c = _code(code + "\n\n" + "\n".join(check))
        if full or stub or c["cell_type"] == "code" and ("STUDENT_ID" in src or "import normlab" in src
                                                          or "from normlab" in src):
            if "setup" in c["metadata"].get("tags", []):
                continue
            cells.append(c)
            if c["cell_type"] == "code" and "from normlab" in src and not full:
                cells += [_code(x) for x in first]
        elif c["cell_type"] == "markdown" and c["source"] and "".join(c["source"]).startswith("**Your answer"):
            cells.append(c)
    if full:
        imp = next(i for i, c in enumerate(cells) if "from normlab" in "".join(c["source"]))
        cells[imp + 1:imp + 1] = [_code(x) for x in first]
    cells += [_code(x) for x in extra]
    nb["cells"] = cells
    nb = colab(nb, name) if name else nb
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1))
    return path


def _code(src: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": src.splitlines(keepends=True)}
