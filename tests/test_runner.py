"""How the suite runs (tasks.py test, tests/conftest.py): on pytest-xdist workers unless told
otherwise, with what is shared between the workers done once."""

from __future__ import annotations

import tempfile
import threading

import pytest

import conftest
import tasks


def _pytest_args(monkeypatch, args):
    seen = {}
    monkeypatch.setattr(tasks, "ensure_env", lambda req: None)
    monkeypatch.setattr(tasks.subprocess, "run",
                        lambda cmd, **kw: seen.setdefault("cmd", cmd) and tasks.subprocess.CompletedProcess(cmd, 0))
    assert tasks.test(args) == 0
    return [str(c) for c in seen["cmd"]][3:]  # after python -m pytest


def test_tasks_test_runs_on_workers_grouped(monkeypatch):
    got = _pytest_args(monkeypatch, ["-q", "--durations=25"])
    assert got == ["-n", str(tasks.WORKERS), "--dist", "loadfile", "--no-loadscope-reorder", "-q", "--durations=25"]
    assert tasks.WORKERS >= 2
    for own in (["-n", "0"], ["-n0"], ["--numprocesses=3"], ["-p", "no:xdist"]):
        assert _pytest_args(monkeypatch, own + ["-x"]) == own + ["-x"], own


@pytest.fixture
def as_a_worker(monkeypatch, tmp_path):
    monkeypatch.setenv("PYTEST_XDIST_TESTRUNUID", "runner-test")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw7")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path / "normlab-tests-runner-test"


def test_once_does_it_once_for_all_workers(as_a_worker):
    calls = []

    def make():
        calls.append(1)
        threading.Event().wait(0.3)  # long enough for the others to queue on the lock

    threads = [threading.Thread(target=conftest._once, args=("thing", make)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    conftest._once("thing", make)
    assert len(calls) == 1 and (as_a_worker / "thing.done").exists()
    conftest._once("other", make)
    assert len(calls) == 2


def test_outside_xdist_once_just_does_it(monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    calls = []
    conftest._once("thing", lambda: calls.append(1))
    conftest._once("thing", lambda: calls.append(1))
    assert calls == [1, 1] and conftest._run_dir() is None


def test_a_worker_waits_for_the_build_another_started(as_a_worker):
    d = conftest._run_dir()
    started_here = list(conftest._BUILDS)  # this worker may run the suite's real build: not ours
    (d / "book.started").touch()  # another worker started it: this one must not start a second
    threading.Timer(0.5, lambda: (d / "book.rc").write_text("0")).start()
    assert conftest._wait_for_book_build(d) == 0
    assert conftest._BUILDS == started_here
    (d / "book.rc").write_text("1")
    assert conftest._wait_for_book_build(d) == 1


def test_an_edition_filled_with_the_build_s_outputs_can_be_written(tmp_path):
    """tools/executed.py --fill (the student website reuses the build's outputs): the outputs are
    copied by cell id into notebook nodes that nbformat writes (plain dicts made it fail, and the
    student edition then executed every chapter again)."""
    import nbformat

    from tools.executed import with_outputs

    run = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)", id="a"),
                                          nbformat.v4.new_code_cell("2", id="b")])
    run.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    run.cells[1].outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "2"},
                                                   execution_count=2)]
    run.cells[0].execution_count, run.cells[1].execution_count = 1, 2
    edition = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("student_id = ''", id="s"),
                                              nbformat.v4.new_code_cell("2", id="b")])
    nbformat.write(with_outputs(edition, run), tmp_path / "e.ipynb")
    back = nbformat.read(tmp_path / "e.ipynb", as_version=4)
    assert back.cells[0].outputs == [] and back.cells[0].execution_count is None
    assert back.cells[1].execution_count == 2 and back.cells[1].outputs[0]["data"] == {"text/plain": "2"}
