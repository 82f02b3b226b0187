#!/usr/bin/env python3
"""The book's commands. Each needs nothing but Python 3.11+ on the machine.

    python3 tasks.py build    # the website, into _build/html (executes every notebook)
    python3 tasks.py build --student   # the student edition (no solutions), into _build/student/html
    python3 tasks.py test     # the whole test suite (pytest; extra arguments go to pytest)
    python3 tasks.py bench    # the performance budget table (bench/bench.py)
    python3 tasks.py pdf      # the PDF edition, into _build/pdf/book.pdf (tools/book_pdf.py)

Each command creates the virtual environment ``.venv`` if it is missing (or reuses it), installs
the pinned requirements when they changed since the last run, installs ``normlab`` from this
checkout, then runs. ``build --clean`` starts from an empty ``_build`` (no execution cache).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"


def say(msg: str) -> None:
    print(f"[tasks] {msg}", flush=True)


def run(cmd: list, doing: str) -> None:
    say(" ".join(str(c) for c in cmd))
    rc = follow(cmd, ROOT, doing=doing).returncode
    if rc:
        raise subprocess.CalledProcessError(rc, [str(c) for c in cmd])


def requirement_files(req: Path) -> list[Path]:
    files = [req]
    for line in req.read_text().splitlines():
        if line.startswith("-r "):
            files += requirement_files(req.parent / line[3:].strip())
    return files


def ensure_env(requirements: str) -> None:
    """Create or reuse .venv; (re)install the pinned requirements and normlab when they changed."""
    if not PY.exists():
        say(f"creating the virtual environment {VENV.relative_to(ROOT)}")
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    req = ROOT / requirements
    digest = hashlib.sha256()
    for f in requirement_files(req) + [ROOT / "pyproject.toml"]:
        digest.update(f.read_bytes())
    stamp = VENV / f".installed-{requirements}"
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        say(f"{requirements}: already installed")
        return
    run([PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", req],
        f"installing the pinned packages of {requirements} with pip (minutes on a fresh machine)")
    run([PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--no-build-isolation", "-e", "."], "installing normlab from this checkout")
    stamp.write_text(digest.hexdigest())


# -W: any Sphinx warning (a broken reference, a notebook that failed to execute) fails the build.
# The test suite builds with exactly these arguments.
BUILD_ARGS = ["build", ".", "--builder", "html", "--warningiserror", "--keep-going"]


#: Results kept between the build and the tests (normlab.cache): under _build, so --clean clears it.
CACHE = ROOT / "_build" / "cache"


def environment() -> dict:
    """The environment of the build and the tests: normlab's result cache on (see normlab/cache.py)."""
    env = dict(os.environ)
    env.setdefault("NORMLAB_CACHE", str(CACHE))
    return env


def forget_stale_outputs(root: Path = ROOT) -> bool:
    """Drop the execution cache and Sphinx's saved doctrees when ``normlab``'s code changed since
    the last build: jupyter-cache keys a notebook's outputs on the notebook's own source only, so
    a change to the library would otherwise keep showing the old figures and numbers. Returns
    whether it dropped them."""
    digest = hashlib.sha256()
    for f in sorted((root / "normlab").rglob("*.py")):
        digest.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    stamp = root / "_build" / ".normlab-stamp"
    stale = stamp.exists() and stamp.read_text() != digest.hexdigest()
    if stale:
        say("normlab changed since the last build: the notebooks run again")
        for d in (".jupyter_cache", ".doctrees", "cache"):
            shutil.rmtree(root / "_build" / d, ignore_errors=True)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(digest.hexdigest())
    return stale


def build_book(bindir: Path) -> subprocess.CompletedProcess:
    """Run Jupyter Book from ``bindir`` (a venv's bin folder) on this checkout. The pages that
    the execution cache lacks run first, a few at a time (tools/executed.py --execute-all, one
    kernel per core: NORMLAB_BUILD_JOBS); Sphinx then finds every run in the cache and only
    renders (a page that failed there runs again in Sphinx, which reports its error)."""
    forget_stale_outputs()
    follow([str(bindir / "python"), str(ROOT / "tools" / "executed.py"), "--execute-all"], ROOT,
           build_environment(ROOT), doing="executing the notebooks, a few at a time")
    return run_jupyter_book(bindir, ROOT)


# The notebook kernels of a build read this IPython profile (IPYTHONDIR): the same settings on
# every machine, whatever the user's own ~/.ipython holds. ipykernel >= 7 warns on every kernel
# start that its connection to jupyter-book (on this machine, 127.0.0.1) is TCP without
# encryption; jupyter-book cannot ask for another transport, so the kernels print errors only.
KERNEL_CONFIG = """\
# Written by tasks.py for the book's build; see tasks.py (KERNEL_CONFIG).
c.IPKernelApp.log_level = "ERROR"
"""
# Every this many seconds of silence, the build says what it is doing and for how long.
HEARTBEAT_S = 10


def build_environment(root: Path) -> dict:
    """The environment of a build: :func:`environment`, the kernels' profile, and
    NORMLAB_BUILD_LOG, which makes the notebooks' progress lines (normlab.explore.Progress) reach
    the build's log as well."""
    profile = root / "_build" / ".ipython" / "profile_default"
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "ipython_kernel_config.py").write_text(KERNEL_CONFIG)
    return {**environment(), "IPYTHONDIR": str(profile.parent), "NORMLAB_BUILD_LOG": "1",
            "PYTHONUNBUFFERED": "1"}


class Heartbeat:
    """Follows Jupyter Book's output line by line (passing it through) and knows what the build
    is doing: which page it reads and whether it is executing that page's notebook. While the
    output is silent it prints, every HEARTBEAT_S seconds, what it is doing and for how long."""

    PAGE = re.compile(r"(reading sources|writing output)\.\.\. \[\s*(\d+)%\] (\S+)")

    def __init__(self):
        self.doing, self.since, self.last = "starting Jupyter Book", time.monotonic(), time.monotonic()
        self.lock = threading.Lock()

    def line(self, text: str) -> None:
        plain = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text).strip()
        with self.lock:
            self.last = time.monotonic()
            m = self.PAGE.search(plain)
            if m:
                reading = m.group(1) == "reading sources"
                self.doing = (f"{'reading' if reading else 'writing'} {m.group(3)} ({m.group(2)}% of "
                              f"the pages {'read' if reading else 'written'})")
                self.since = self.last
            elif "Executing notebook" in plain:
                page = self.doing.split(" ")[1] if self.doing.startswith("reading ") else "a page"
                self.doing = f"executing {page} (its code runs top to bottom, as a notebook)"
                self.since = self.last

    def beat(self) -> None:
        with self.lock:
            now = time.monotonic()
            if now - self.last >= HEARTBEAT_S:
                say(f"{time.strftime('%H:%M:%S')} still {self.doing}: {now - self.since:.0f} s so far")
                self.last = now


def run_jupyter_book(bindir: Path, cwd: Path, extra: dict | None = None) -> subprocess.CompletedProcess:
    """``jupyter-book BUILD_ARGS`` in ``cwd`` (with the variables ``extra`` added to the build's
    environment), its output passed through with a heartbeat."""
    return follow([str(bindir / "jupyter-book"), *BUILD_ARGS], cwd, {**build_environment(cwd), **(extra or {})})


def follow(cmd: list, cwd: Path, env: dict | None = None, doing: str | None = None
           ) -> subprocess.CompletedProcess:
    """Run ``cmd``, passing its output through line by line, with a :class:`Heartbeat` that
    says what it is doing (``doing``, or what it reads in the output) while it is silent."""
    proc = subprocess.Popen([str(c) for c in cmd], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1, errors="replace")
    hb = Heartbeat()
    if doing:
        hb.doing = doing
    done = threading.Event()

    def pulse():
        while not done.wait(1.0):
            hb.beat()

    threading.Thread(target=pulse, daemon=True).start()
    try:
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            hb.line(line)
    finally:
        done.set()
    return subprocess.CompletedProcess(cmd, proc.wait())


def source_files() -> list[Path]:
    """The book's files: what git tracks (or, outside a git checkout, everything but builds)."""
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
        return [ROOT / f for f in out if (ROOT / f).is_file()]
    except (OSError, subprocess.CalledProcessError):
        skip = {"_build", ".venv", ".git"}
        return [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]


def build_student(bindir: Path) -> int:
    """The student edition of the website: a copy of the book whose notebooks have no solutions
    (tools/course.py student-edition), built into _build/student/html. When the website's build
    has run the current notebooks, their outputs are reused (tools/executed.py): the student
    edition's cells are the website's minus the solutions, so nothing is executed twice."""
    sys.path.insert(0, str(ROOT))
    from tools.course import student_edition

    src = ROOT / "_build" / "student-src"
    shutil.rmtree(src, ignore_errors=True)
    reused = []
    for f in source_files():
        dst = src / f.relative_to(ROOT)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if f.suffix == ".ipynb" and f.parent.name == "notebooks":
            student_edition(f, dst)
            fill = subprocess.run([str(bindir / "python"), str(ROOT / "tools" / "executed.py"),
                                   "--fill", str(f), str(dst)], cwd=ROOT, capture_output=True)
            reused.append(fill.returncode == 0)
        else:
            shutil.copy2(f, dst)
    if reused and all(reused):
        say("the student edition reuses the website build's outputs (no notebook runs again)")
        config = src / "_config.yml"  # the chapters keep their outputs; the claims page still runs
        config.write_text(re.sub(r"(\n  execute_notebooks: *\w+\n)", r"\1  exclude_patterns: [\"notebooks/*\"]\n",
                                 config.read_text(), count=1))
    say("jupyter-book " + " ".join(BUILD_ARGS) + "  (student edition)")
    # NORMLAB_EDITION: the Colab buttons open the student edition
    rc = run_jupyter_book(bindir, src, {"NORMLAB_EDITION": "student"}).returncode
    if rc == 0:
        out = ROOT / "_build" / "student" / "html"
        shutil.rmtree(out, ignore_errors=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src / "_build" / "html", out)
        say(f"the student edition is in {out} (open index.html)")
    return rc


def build(args: list[str]) -> int:
    ensure_env("requirements.txt")
    if "--clean" in args:
        shutil.rmtree(ROOT / "_build", ignore_errors=True)
    if "--student" in args:
        return build_student(VENV / "bin")
    say("jupyter-book " + " ".join(BUILD_ARGS))
    rc = build_book(VENV / "bin").returncode
    if rc == 0:  # the rendered editions for Colab, from the build's values (tools/colab.py)
        rc = subprocess.run([str(PY), "tools/colab.py"], cwd=ROOT).returncode
    if rc == 0:
        say(f"the website is in {ROOT / '_build' / 'html'} (open index.html); Colab editions in "
            f"{ROOT / '_build' / 'colab'} and {ROOT / '_build' / 'colab-student'}")
    return rc


def test(args: list[str]) -> int:
    """pytest on ``WORKERS`` processes (pytest-xdist; tests/conftest.py builds the book once, in
    the background, and runs first the tests that do not need it); ``-n 0`` runs in one process."""
    ensure_env("requirements-test.txt")
    if "no:xdist" not in args and not any(a == "--numprocesses" or a.startswith(("-n", "--numprocesses=")) for a in args):
        args = ["-n", str(WORKERS), "--dist", "loadfile", "--no-loadscope-reorder", *args]
    return subprocess.run([str(PY), "-m", "pytest", *args], cwd=ROOT,  # testpaths: tests
                          env=environment()).returncode


#: the test suite's processes: one per core, at least 2 (many tests wait on a subprocess, a
#: browser or a kernel), at most 4 (each JAX process already uses several threads)
WORKERS = max(2, min(os.cpu_count() or 2, 4))


def bench(args: list[str]) -> int:
    ensure_env("requirements-test.txt")
    return subprocess.run([str(PY), "bench/bench.py", *args], cwd=ROOT).returncode


def pdf(args: list[str]) -> int:
    """The PDF edition: build the website (cached), print it with Chromium into
    _build/pdf/book.pdf (tools/book_pdf.py) and copy it into the website (its intro links it)."""
    ensure_env("requirements-pdf.txt")    # the book's, playwright and pypdf
    rc = build_book(VENV / "bin").returncode
    if rc != 0:
        return rc
    out = ROOT / "_build" / "pdf" / "book.pdf"
    rc = subprocess.run([str(PY), "tools/book_pdf.py", "--out", str(out), *args], cwd=ROOT).returncode
    if rc == 0:
        shutil.copy2(out, ROOT / "_build" / "html" / "book.pdf")
        say(f"the PDF edition is {out} (and _build/html/book.pdf)")
    return rc


def main() -> int:
    if sys.version_info < (3, 11):
        print(f"tasks.py needs Python 3.11 or newer (the pinned JAX and NumPy do); this is "
              f"{sys.version.split()[0]}. Run it with python3.11 (or newer).", file=sys.stderr)
        return 2
    commands = {"build": build, "test": test, "bench": bench, "pdf": pdf}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
