"""A quiet, explained build: tasks.py's heartbeat says what Jupyter Book is doing while it is
silent, the parser-configuration dumps are one short line, the notebook kernels of a build get a
profile that silences ipykernel's TCP warning, and an explorable's progress is one line."""

from __future__ import annotations

import importlib.util
import logging
import time

import pytest

import tasks
from conftest import ROOT


def test_the_heartbeat_follows_the_pages_and_speaks_during_silence(capsys, monkeypatch):
    monkeypatch.setattr(tasks, "HEARTBEAT_S", 0.05)
    hb = tasks.Heartbeat()
    hb.line("\x1b[01mreading sources... \x1b[39;49;00m[ 17%] \x1b[35mbook/claims\x1b[39;49;00m\n")
    assert hb.doing == "reading book/claims (17% of the pages read)"
    hb.line("/x/book/claims.md: Executing notebook using local CWD [mystnb]\n")
    assert hb.doing.startswith("executing book/claims")
    hb.beat()
    assert capsys.readouterr().out == ""  # not silent yet
    time.sleep(0.06)
    hb.beat()
    out = capsys.readouterr().out
    assert out.startswith("[tasks] ") and "still executing book/claims" in out and "s so far" in out
    hb.line("writing output... [ 50%] notebooks/03_weight_norm\n")
    assert hb.doing == "writing notebooks/03_weight_norm (50% of the pages written)"


def test_the_build_environment_gives_the_kernels_a_quiet_profile(tmp_path):
    env = tasks.build_environment(tmp_path)
    config = tmp_path / "_build" / ".ipython" / "profile_default" / "ipython_kernel_config.py"
    assert env["IPYTHONDIR"] == str(config.parent.parent) and env["NORMLAB_BUILD_LOG"] == "1"
    assert 'c.IPKernelApp.log_level = "ERROR"' in config.read_text()


def _build_log_extension():
    spec = importlib.util.spec_from_file_location("build_log", ROOT / "book" / "_ext" / "build_log.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_parser_configuration_dumps_are_one_short_line():
    from myst_nb.core.config import NbParserConfig
    from myst_parser.config.main import MdParserConfig

    ext = _build_log_extension()
    f = ext.ShortConfig()
    for config in (MdParserConfig(), NbParserConfig()):
        rec = logging.LogRecord("sphinx.x", logging.INFO, "", 0, "myst v%s: %s", ("1.0", config), None)
        assert f.filter(rec)
        assert rec.getMessage() == f"myst v1.0: {type(config).__name__}, as set in _config.yml"
    other = logging.LogRecord("sphinx.x", logging.WARNING, "", 0, "a warning %s", ("kept",), None)
    assert f.filter(other) and other.getMessage() == "a warning kept"


def test_progress_outside_a_kernel_is_one_carriage_return_line(capsys):
    from normlab.explore import Progress

    p = Progress()
    assert not p.kernel
    for k in (1, 2, 3):
        p.show(f"drawing the website's frames, {k} of 3")
    p.close()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.count("\r") == 3 and err.endswith("3 of 3\n")


def test_a_silent_command_gets_a_heartbeat_that_says_what_it_does(capfd, monkeypatch):
    """pip install --quiet (minutes on a fresh machine) is followed as jupyter-book is."""
    import sys

    monkeypatch.setattr(tasks, "HEARTBEAT_S", 0.5)
    proc = tasks.follow([sys.executable, "-c", "import time; print('start', flush=True); time.sleep(2.6)"],
                        ROOT, doing="installing the pinned packages")
    out = capfd.readouterr().out
    assert proc.returncode == 0 and out.startswith("start\n")
    beats = [l for l in out.splitlines() if "still installing the pinned packages" in l]
    assert len(beats) >= 2, out
    with pytest.raises(tasks.subprocess.CalledProcessError):
        tasks.run([sys.executable, "-c", "raise SystemExit(3)"], "failing on purpose")
