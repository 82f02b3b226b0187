"""Shared fixtures: the built website (built once per session, with the build command's own
arguments) and the list of chapter notebooks."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tasks  # noqa: E402  (the README's commands; the tests build the book exactly as they do)

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="session")
def built_book():
    """Build the website once with ``tasks.BUILD_ARGS`` (warnings are errors); return _build/html.

    The build executes every notebook (with the execution cache, so notebooks run once); a
    notebook that raises fails the build.
    """
    t0 = time.perf_counter()
    proc = tasks.build_book(Path(sys.executable).parent)
    assert proc.returncode == 0, "the book build failed (see the Sphinx output above)"
    print(f"book built in {time.perf_counter() - t0:.0f} s")
    return ROOT / "_build" / "html"


@pytest.fixture(scope="session")
def colab_editions(built_book):
    """The Colab editions written from the built book, as `tasks.py build` writes them
    (tools/colab.py): {"full": _build/colab, "student": _build/colab-student}."""
    from tools import colab

    colab.build(ROOT / "_build")
    return {"full": ROOT / "_build" / "colab", "student": ROOT / "_build" / "colab-student"}
