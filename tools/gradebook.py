"""The gradebook side of the grader: who a submission is from, when it was handed in, how many
points it earns, and the files an instructor uploads (Canvas, Moodle, Gradescope) or hands back.

- :func:`identity`: the student id from the student edition's first cell (``STUDENT_ID = "..."``),
  else the name Colab saved with each executed cell (``executionInfo.user.displayName``), else the
  file name;
- :func:`submitted`: the latest ``executionInfo.timestamp`` Colab saved, else the file's mtime;
- :class:`Course`: a small TOML or YAML file, exercise label -> points, with an optional due date
  and late policy (``load_course``);
- :func:`rows` turns grades into one row per file (unreadable ones included, score 0 and the
  reason); ``write_*`` export them.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

UTC = dt.timezone.utc
STUDENT_ID = re.compile(r"^\s*STUDENT_ID\s*=\s*(['\"])(.*?)\1", re.M)


# ---- who and when ----------------------------------------------------------------------------------
def _cells(nb) -> list:
    return list(nb.get("cells", [])) if nb is not None else []


def identity(path: Path, nb) -> tuple[str, str, str]:
    """(student id, name, where the id came from)."""
    name = ""
    for c in _cells(nb):
        user = c.get("metadata", {}).get("executionInfo", {}).get("user", {})
        if isinstance(user, dict) and user.get("displayName"):
            name = str(user["displayName"]).strip()
            break
    for c in _cells(nb):
        if c.get("cell_type") == "code":
            m = STUDENT_ID.search("".join(c.get("source", "")))
            if m and m.group(2).strip():
                return m.group(2).strip(), name or m.group(2).strip(), "the STUDENT_ID cell"
    if name:
        return name, name, "Colab's saved displayName (the STUDENT_ID cell is empty)"
    return Path(path).stem, Path(path).stem, "the file name (no STUDENT_ID, no Colab name)"


def submitted(path: Path, nb) -> tuple[dt.datetime | None, str]:
    """When the work was done: Colab's latest saved execution time, else the file's mtime."""
    stamps = []
    for c in _cells(nb):
        t = c.get("metadata", {}).get("executionInfo", {}).get("timestamp")
        if isinstance(t, (int, float)) and t > 0:
            stamps.append(t)
    if stamps:
        return dt.datetime.fromtimestamp(max(stamps) / 1000, UTC), "Colab's executionInfo"
    try:
        return dt.datetime.fromtimestamp(Path(path).stat().st_mtime, UTC), "the file's mtime"
    except OSError:
        return None, "unknown"


# ---- the course configuration ---------------------------------------------------------------------
@dataclass
class Course:
    """Points per exercise, and an optional due date and late policy.

    ``late_penalty_per_day``: the fraction of the score lost per started day late;
    ``late_max_days``: later than this, the score is 0 (None: no cut-off)."""

    name: str = "Notebook"
    points: dict = field(default_factory=dict)
    due: dt.datetime | None = None
    late_penalty_per_day: float = 0.0
    late_max_days: int | None = None
    canvas_assignment_id: str = ""

    def points_for(self, label: str) -> float:
        return float(self.points.get(label, 1.0))


def _datetime(v, where: str) -> dt.datetime:
    if isinstance(v, dt.datetime):
        d = v
    elif isinstance(v, dt.date):
        d = dt.datetime(v.year, v.month, v.day, 23, 59, 59)
    else:
        try:
            d = dt.datetime.fromisoformat(str(v).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{where}: due = {v!r} is not a date; write e.g. 2026-12-10T23:59:00Z")
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def load_course(path: Path, labels: list[str] | None = None) -> Course:
    """Read a course file (``.toml``, ``.yaml`` or ``.yml``), with a clear message on any mistake:

        name = "Chapter 1: batch normalization"
        due = 2026-12-10T23:59:00Z          # optional
        late_penalty_per_day = 0.1          # optional: 10% per started day late
        late_max_days = 5                   # optional: 0 points after that
        canvas_assignment_id = "12345"      # optional: the Canvas column "name (12345)"
        [points]
        ex-bn-backward = 4
        ex-running = 3
        ex-conv-stats = 3
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ValueError(f"{path}: cannot read the course file ({e.strerror})")
    try:
        if path.suffix == ".toml":
            import tomllib
            data = tomllib.loads(text)
        elif path.suffix in {".yaml", ".yml"}:
            import yaml
            data = yaml.safe_load(text) or {}
        else:
            raise ValueError(f"{path}: a course file is .toml, .yaml or .yml")
    except ValueError:
        raise
    except Exception as e:
        raise ValueError(f"{path}: not valid {path.suffix[1:].upper()}: {e}")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected keys such as name, due and a [points] table")
    known = {"name", "points", "due", "late_penalty_per_day", "late_max_days", "canvas_assignment_id"}
    extra = set(data) - known
    if extra:
        raise ValueError(f"{path}: unknown key(s) {sorted(extra)}; known: {sorted(known)}")
    points = data.get("points", {}) or {}
    if not isinstance(points, dict):
        raise ValueError(f"{path}: points must be a table: exercise label = points")
    for k, v in points.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
            raise ValueError(f"{path}: points for {k!r} must be a number >= 0, not {v!r}")
        if labels is not None and k not in labels:
            raise ValueError(f"{path}: {k!r} is not a graded exercise; the exercises are "
                             f"{', '.join(labels)}")
    pen = data.get("late_penalty_per_day", 0.0)
    if not isinstance(pen, (int, float)) or not 0 <= pen <= 1:
        raise ValueError(f"{path}: late_penalty_per_day is a fraction between 0 and 1, not {pen!r}")
    cut = data.get("late_max_days")
    if cut is not None and (not isinstance(cut, int) or cut < 0):
        raise ValueError(f"{path}: late_max_days is a whole number of days, not {cut!r}")
    return Course(name=str(data.get("name", "Notebook")), points=dict(points),
                  due=_datetime(data["due"], str(path)) if data.get("due") else None,
                  late_penalty_per_day=float(pen), late_max_days=cut,
                  canvas_assignment_id=str(data.get("canvas_assignment_id", "")))


def late_days(course: Course, when: dt.datetime | None) -> int:
    """Started days after the due date (0 when on time, or when there is no due date)."""
    if course.due is None or when is None or when <= course.due:
        return 0
    return math.ceil((when - course.due).total_seconds() / 86400)


# ---- rows -------------------------------------------------------------------------------------------
def row(g, course: Course) -> dict:
    """Everything the exports need about one graded file."""
    sid, name, id_from = identity(g.path, g.nb)
    when, when_from = submitted(g.path, g.nb)
    per = {ex.label: (course.points_for(ex.label) if r.passed else 0.0) for ex, r in g.results}
    possible = sum(course.points_for(ex.label) for ex, _ in g.results)
    late = late_days(course, when) if not g.error else 0
    factor = 1.0
    if late:
        cut = course.late_max_days is not None and late > course.late_max_days
        factor = 0.0 if cut else max(0.0, 1.0 - course.late_penalty_per_day * late)
    earned = sum(per.values())
    return {"student_id": sid, "name": name, "id_from": id_from, "path": str(Path(g.path).resolve()),
            "chapter": g.chapter if g.chapter is not None else "", "per": per,
            "passed": g.passed, "total": g.total, "points": earned, "possible": possible,
            "submitted": when.isoformat(timespec="seconds") if when else "", "submitted_from": when_from,
            "late_days": late, "score": round(earned * factor, 2),
            "flags": "; ".join(f"{k}: {', '.join(v)}" for k, v in g.flags.items()),
            "status": f"not graded: {g.error}" if g.error else "graded", "notes": list(g.notes),
            "results": [(ex.label, ex.function, r.passed, r.message) for ex, r in g.results]}


def _labels(rows_) -> list[str]:
    out = []
    for r in rows_:
        for k in r["per"]:
            if k not in out:
                out.append(k)
    return out


def write_csv(rows_, path: Path) -> None:
    """The grader's own gradebook: one row per file, points per exercise, flags and notes."""
    labels = _labels(rows_)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student_id", "id_from", "name", "submission", "chapter", *labels, "passed", "total",
                    "points", "possible", "submitted", "late_days", "score", "integrity_flags",
                    "status", "notes"])
        for r in rows_:
            w.writerow([r["student_id"], r["id_from"], r["name"], r["path"], r["chapter"],
                        *[r["per"].get(k, "") for k in labels], r["passed"], r["total"],
                        r["points"], r["possible"], r["submitted"], r["late_days"], r["score"],
                        r["flags"], r["status"], " | ".join(r["notes"])])


CANVAS_HEAD = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def write_canvas(rows_, course: Course, path: Path, id_column: str = "SIS User ID") -> None:
    """Canvas's gradebook import format: Student, ID, SIS User ID, SIS Login ID, Section, then one
    column per assignment named ``Name (assignment id)`` (a new column without an id creates the
    assignment), and the "Points Possible" row Canvas itself exports."""
    if id_column not in CANVAS_HEAD[1:4]:
        raise ValueError(f"the student id goes into one of {CANVAS_HEAD[1:4]}, not {id_column!r}")
    col = f"{course.name} ({course.canvas_assignment_id})" if course.canvas_assignment_id else course.name
    possible = max((r["possible"] for r in rows_), default=0)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*CANVAS_HEAD, col])
        w.writerow(["    Points Possible", "", "", "", "", possible])
        for r in rows_:
            ids = {c: (r["student_id"] if c == id_column else "") for c in CANVAS_HEAD[1:4]}
            w.writerow([r["name"], ids["ID"], ids["SIS User ID"], ids["SIS Login ID"], "", r["score"]])


def write_moodle(rows_, course: Course, path: Path) -> None:
    """Moodle's "Import grades from CSV": an identifier column (map it to "ID number" on import),
    the grade and a feedback text."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ID number", "Full name", course.name, "Feedback"])
        for r in rows_:
            w.writerow([r["student_id"], r["name"], r["score"], _summary(r)])


def _summary(r) -> str:
    return (f"{r['passed']}/{r['total']} exercises pass, {r['score']}/{r['possible']} points"
            + (f" ({r['late_days']} days late)" if r["late_days"] else "")
            + (f"; {r['status']}" if r["status"] != "graded" else ""))


def gradescope(r) -> dict:
    """Gradescope's autograder ``results.json`` for one submission."""
    tests = [{"name": f"{label} ({fn})", "score": r["per"].get(label, 0.0),
              "max_score": _max(r, label), "status": "passed" if ok else "failed",
              "output": msg} for label, fn, ok, msg in r["results"]]
    return {"score": r["score"], "output": _summary(r) + ("\n" + "\n".join(r["notes"]) if r["notes"] else ""),
            "tests": tests, "visibility": "visible", "stdout_visibility": "hidden"}


def _max(r, label):
    return r["_course"].points_for(label) if "_course" in r else 1.0


ANSWER = re.compile(r"^\*\*Your answer \[([^\]]+)\]\*\*[^\n]*\n?")
PLACEHOLDER = "_(write your answer here)_"


def answers(nb) -> dict:
    """The student's written answers, by question label (the student edition's answer cells)."""
    out = {}
    for c in _cells(nb):
        src = "".join(c.get("source", ""))
        m = ANSWER.match(src) if c.get("cell_type") == "markdown" else None
        if m:
            out[m.group(1)] = src[m.end():].replace(PLACEHOLDER, "").strip()
    return out


def write_answers(grades, path: Path) -> None:
    """The written answers for manual grading: a CSV (student, question, answer) or, for a .md
    path, one section per question with every student's answer under it."""
    items = []
    for g in grades:
        sid, name, _ = identity(g.path, g.nb)
        for label, text in answers(g.nb).items():
            items.append((label, sid, name, text))
    path = Path(path)
    if path.suffix == ".md":
        lines = ["# Written answers", ""]
        for label in dict.fromkeys(i[0] for i in items):
            lines += [f"## {label}", ""]
            for _, sid, name, text in (i for i in items if i[0] == label):
                lines += [f"### {name} ({sid})", "", text or "_(no answer)_", ""]
        path.write_text("\n".join(lines))
        return
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["question", "student_id", "name", "answer", "points"])
        for label, sid, name, text in sorted(items, key=lambda i: i[0]):
            w.writerow([label, sid, name, text, ""])


def safe_name(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_") or "student"


def write_feedback(rows_, folder: Path, course: Course) -> list[Path]:
    """One Markdown file per submission to hand back, and a Gradescope ``results.json`` beside it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out, used = [], set()
    for r in rows_:
        stem = safe_name(r["student_id"])
        while stem in used:
            stem += "_"
        used.add(stem)
        lines = [f"# {course.name}: feedback for {r['name']}", "",
                 f"- file: `{Path(r['path']).name}`", f"- score: **{r['score']} / {r['possible']}**"
                 + (f" ({r['late_days']} days late)" if r["late_days"] else ""), ""]
        if r["status"] != "graded":
            lines += [f"Your notebook could not be graded: {r['status'][12:]}.", ""]
        lines += ["| exercise | result | points | diagnosis |", "|---|---|---|---|"]
        for label, fn, ok, msg in r["results"]:
            lines.append(f"| {label} (`{fn}`) | {'PASS' if ok else 'FAIL'} | {r['per'].get(label, 0)}"
                         f" / {course.points_for(label)} | {msg.replace('|', '/')} |")
        if r["notes"]:
            lines += ["", "Notes from the grader:", ""] + [f"- {n}" for n in r["notes"]]
        p = folder / f"{stem}.md"
        p.write_text("\n".join(lines) + "\n")
        (folder / f"{stem}.results.json").write_text(json.dumps(gradescope({**r, "_course": course}),
                                                                indent=1))
        out.append(p)
    return out
