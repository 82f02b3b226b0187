"""Shared fixtures: the built website (built once per session, with the build command's own
arguments) and the list of chapter notebooks.

Under pytest-xdist (``python3 tasks.py test`` runs ``-n 2``), every expensive thing is still done
once per run: the book is built once, by the first worker that collects a test needing it, in a
background process that starts at collection time, so both workers run the tests that do not need
the book while it builds (those run first); the Colab editions are written once, under a file
lock; and a module's tests run on one worker (``--dist loadfile``), so its module- and
session-scoped fixtures (the grader's class, the fresh-runtime venv, the PDF) are made once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tasks  # noqa: E402  (the README's commands; the tests build the book exactly as they do)

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

#: the book build of an xdist run, in a background process: run by this script, which writes the
#: build's return code into a file when it ends (whatever ends it)
_BUILD_SCRIPT = """\
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
import tasks
rc = 1
try:
    rc = tasks.build_book(Path(sys.executable).parent).returncode
finally:
    Path({rc_file!r} + ".tmp").write_text(str(rc))
    Path({rc_file!r} + ".tmp").rename({rc_file!r})
"""

#: session fixtures that xdist's workers share through _once/the background build, and cheap
#: per-worker fixtures (a browser, a local http server): these do not group a module's tests
_SHARED_OR_CHEAP = {"built_book", "colab_editions", "browser", "site", "tmp_path_factory",
                    "worker_id", "testrun_uid"}


def _run_dir() -> Path | None:
    """A folder shared by the xdist workers of this test run (None outside xdist)."""
    uid = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not uid or not os.environ.get("PYTEST_XDIST_WORKER"):
        return None
    d = Path(tempfile.gettempdir()) / f"normlab-tests-{uid}"
    d.mkdir(exist_ok=True)
    return d


def _start_book_build(d: Path) -> None:
    """Start the build in the background unless another worker of this run already did."""
    try:
        fd = os.open(d / "book.started", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.close(fd)
    log = open(d / "book.log", "w")
    script = _BUILD_SCRIPT.format(root=str(ROOT), rc_file=str(d / "book.rc"))
    _BUILDS.append(subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=log,
                                    stderr=subprocess.STDOUT, env=tasks.environment()))
    log.close()


_BUILDS: list[subprocess.Popen] = []  # the background build this worker started, if any


_RUN_UIDS: set[str] = set()  # (in xdist's controller) this run's id, to remove its folder at the end


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    _RUN_UIDS.add(node.workerinput["testrunuid"])


def pytest_sessionfinish(session):
    for proc in _BUILDS:  # a worker whose tests are done still waits for the build it started
        proc.wait()
    import shutil

    for uid in _RUN_UIDS:
        shutil.rmtree(Path(tempfile.gettempdir()) / f"normlab-tests-{uid}", ignore_errors=True)


def _wait_for_book_build(d: Path, timeout_s: float = 3600) -> int:
    _start_book_build(d)  # (when no collected test asked for it before)
    rc_file, t0 = d / "book.rc", time.monotonic()
    while not rc_file.exists():
        assert time.monotonic() - t0 < timeout_s, f"the book build did not end in {timeout_s:.0f} s"
        time.sleep(1)
    return int(rc_file.read_text())


def _once(name: str, make) -> None:
    """``make()`` once per test run, however many xdist workers ask: the first does it under a
    file lock, the others wait for it and reuse what it wrote."""
    d = _run_dir()
    if d is None:
        make()
        return
    from filelock import FileLock

    with FileLock(str(d / f"{name}.lock")):
        done = d / f"{name}.done"
        if not done.exists():
            make()
            done.touch()


#: test modules that read what the build computed (normlab.cache: the chapters' experiments, the
#: claims): under xdist they run after the build, as in a serial run, instead of computing it again
READS_THE_BUILD = ("test_ch[0-9]*", "test_claims", "test_figures", "test_explore", "test_teaching",
                   "test_book*", "test_colab", "test_browser", "test_pdf", "test_fresh_runtime")


def pytest_itemcollected(item):
    """Under xdist: mark the tests that run after the book build (they need it or read its
    results) and those that share a module- or session-scoped fixture (see the sort below)."""
    import fnmatch

    if _run_dir() is None:
        return
    if "built_book" in getattr(item, "fixturenames", ()) or any(
            fnmatch.fnmatch(item.path.stem, p) for p in READS_THE_BUILD):
        item.after_the_build = True
    info = getattr(item, "_fixtureinfo", None)
    defs = getattr(info, "name2fixturedefs", {}) if info else {}
    item.shares_a_fixture = any(n not in _SHARED_OR_CHEAP and fd and fd[-1].scope != "function"
                                for n, fd in defs.items())


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under xdist (``--dist loadfile --no-loadscope-reorder``: a module's tests run on one worker,
    so its module fixtures are made once, in the order of the sorted items): start the book
    build; run first the modules that neither need the built book nor read its results (while it
    builds), then the others; in each part first the modules with a shared fixture (the longest
    units of work: started early, they do not leave one worker busy at the end), then the
    modules with more tests. (pytest-xdist 3.8's ``loadgroup`` does not group under pytest 9.)"""
    d = _run_dir()
    if d is None:
        return
    if any("built_book" in getattr(i, "fixturenames", ()) for i in items) and not config.option.collectonly:
        _start_book_build(d)
    after = {i.path for i in items if getattr(i, "after_the_build", False)}
    shares = {i.path for i in items if getattr(i, "shares_a_fixture", False)}
    count: dict = {}
    for i in items:
        count[i.path] = count.get(i.path, 0) + 1
    items.sort(key=lambda i: (i.path in after, i.path not in shares, -count[i.path], str(i.path)))


@pytest.fixture(autouse=True)
def _after_the_build(request):
    """Under xdist, a test that reads the build's results waits for the build (see above)."""
    d = _run_dir()
    if d is not None and getattr(request.node, "after_the_build", False) and (d / "book.started").exists():
        _wait_for_book_build(d)


@pytest.fixture(scope="session")
def built_book():
    """Build the website once with ``tasks.BUILD_ARGS`` (warnings are errors); return _build/html.

    The build executes every notebook (with the execution cache, so notebooks run once); a
    notebook that raises fails the build.
    """
    t0 = time.perf_counter()
    d = _run_dir()
    if d is None:
        rc = tasks.build_book(Path(sys.executable).parent).returncode
        assert rc == 0, "the book build failed (see the Sphinx output above)"
    else:
        rc = _wait_for_book_build(d)
        log = (d / "book.log").read_text(errors="replace")
        assert rc == 0, f"the book build failed; the end of its output ({d / 'book.log'}):\n{log[-6000:]}"
    print(f"book built (or waited for) in {time.perf_counter() - t0:.0f} s")
    return ROOT / "_build" / "html"


@pytest.fixture(scope="session")
def colab_editions(built_book):
    """The Colab editions written from the built book, as `tasks.py build` writes them
    (tools/colab.py): {"full": _build/colab, "student": _build/colab-student}."""
    from tools import colab

    _once("colab", lambda: colab.build(ROOT / "_build"))
    return {"full": ROOT / "_build" / "colab", "student": ROOT / "_build" / "colab-student"}
