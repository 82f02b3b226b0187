"""Each chapter runs alone in a Colab-like fresh runtime, as Colab users run it (its rendered
edition, tools/colab.py: what the website's Colab button opens), at the oldest versions normlab
declares. The student edition of the same rendering goes through the grader: an honest student's
answers score full marks.

A notebook is copied alone into an empty folder; a new virtual environment holds only what a
Colab runtime has (jax, numpy, matplotlib, ipywidgets, scikit-learn) plus the kernel machinery,
each at exactly the lower bound that ``pyproject.toml`` declares (jax 0.4.20, numpy 1.24, ...): the
book build runs every chapter at the pinned, newest versions, this test at the floors, so a floor
cannot go stale;
``normlab`` is NOT installed: the notebook's own setup cell must install it, here from the wheel
built from this checkout (``PIP_FIND_LINKS``, with the package index switched off so that nothing
else could satisfy it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import NOTEBOOKS, ROOT

RUNNER = ["ipykernel", "jupyter_client", "nbclient", "nbformat"]


def floors() -> list[str]:
    """``name==lower bound`` for every dependency in pyproject.toml (and jaxlib with jax)."""
    text = (ROOT / "pyproject.toml").read_text()
    deps = re.search(r"dependencies = \[(.*?)\]", text, re.S).group(1)
    out = []
    for name, version in re.findall(r'"([A-Za-z0-9_.-]+)>=([0-9.]+)"', deps):
        out.append(f"{name}=={version}")
        if name == "jax":
            out.append(f"jaxlib=={version}")
    return out


def test_floors_are_read_from_pyproject():
    got = floors()
    assert "jax==0.4.20" in got and "jaxlib==0.4.20" in got and any(f.startswith("numpy==") for f in got)
    assert len(got) == 6, got


def pinned(names):
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return [f"{n}=={pins[n.lower()]}" for n in names]


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory):
    d = tmp_path_factory.mktemp("wheels")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(d), str(ROOT)], check=True)
    assert list(d.glob("normlab-*.whl")), "no wheel was built"
    return d


@pytest.fixture(scope="session")
def fresh_python(tmp_path_factory):
    env_dir = tmp_path_factory.mktemp("fresh") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(env_dir)], check=True)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    *floors(), *pinned(RUNNER)], check=True)
    # without the test run's PYTHONPATH (pytest-xdist's workers put the checkout on it)
    bare = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "NORMLAB"))}
    probe = subprocess.run([str(py), "-c", "import importlib.util as u; print(u.find_spec('normlab'))"],
                           capture_output=True, text=True, check=True, cwd=env_dir, env=bare)
    assert probe.stdout.strip() == "None", "the fresh runtime must not have normlab"
    return py


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_runs_alone_in_a_fresh_runtime(nb, wheelhouse, fresh_python, tmp_path, colab_editions):
    # each chapter starts without normlab, as on a new Colab runtime (the venv is shared for speed)
    subprocess.run([str(fresh_python), "-m", "pip", "uninstall", "--quiet", "--yes", "normlab"],
                   capture_output=True)
    work = tmp_path / "alone"
    work.mkdir()
    shutil.copy(colab_editions["full"] / nb.name, work / nb.name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "NORMLAB"))}
    env.update(PIP_FIND_LINKS=str(wheelhouse), PIP_NO_INDEX="1", MPLBACKEND="Agg",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    script = (
        "import sys, nbformat\n"
        "from nbclient import NotebookClient\n"
        f"nb = nbformat.read({str(work / nb.name)!r}, as_version=4)\n"
        f"NotebookClient(nb, timeout=600, kernel_name='python3', resources={{'metadata': {{'path': {str(work)!r}}}}}).execute()\n"
        f"nbformat.write(nb, {str(work / 'executed.ipynb')!r})\n"
    )
    proc = subprocess.run([str(fresh_python), "-c", script], cwd=work, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cells = json.loads((work / "executed.ipynb").read_text())["cells"]
    setup = next(c for c in cells if c["cell_type"] == "code")
    printed = "".join("".join(o.get("text", "")) for o in setup["outputs"] if o["output_type"] == "stream")
    assert "Installing normlab==" in printed, "the setup cell did not install normlab"
    where = subprocess.run([str(fresh_python), "-c", "import normlab; print(normlab.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=env)
    assert str(fresh_python.parent.parent) in where.stdout, "normlab did not come from the wheel"


def test_the_rendered_student_edition_grades_an_honest_student(colab_editions, tmp_path):
    """Chapter 2's rendered student edition with an honest student's answers added at its end:
    `tools/course.py grade` (the instructors' command) gives it full marks."""
    import nbformat

    from test_course import HONEST

    sub = tmp_path / "02_naive_normalization.ipynb"
    nb = nbformat.read(colab_editions["student"] / sub.name, as_version=4)
    nb.cells += [nbformat.v4.new_code_cell(src) for src in HONEST]
    nbformat.write(nb, sub)
    proc = subprocess.run([sys.executable, "tools/course.py", "grade", str(sub)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    from normlab.ch2.exercises import EXERCISES

    n = len(EXERCISES)
    assert proc.returncode == 0 and f"{n}/{n}" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
