"""The course grader: it scores what a submission's code does, never what the notebook printed.

For each submission:

1. the notebook is executed cell by cell in a fresh Jupyter kernel, with a time limit per cell and
   for the whole notebook, and a cap on its output (which is counted and thrown away: nothing it
   prints is read). A cell that does not finish is interrupted; a kernel that dies is restarted and
   the cells that ran before are replayed, without the one that killed it;
2. then, for every exercise of the chapter as the *instructor's* copy of normlab lists it
   (``normlab.chN.exercises.EXERCISES``), the grader runs that exercise's check *in its own
   process*, on random cases it draws now (a fresh seed per run), and calls the student's function
   by name in the kernel for each case (:class:`RemoteFunction`). Arguments go to the kernel as a
   pickle; results come back as JSON with arrays in NumPy's ``.npy`` format read with
   ``allow_pickle=False``, so nothing the submission defines, prints or patches in its kernel can
   run in the grader or change a check; at worst it makes its own function's answers wrong.

``tools/course.py grade`` is the command; this module is its engine.
"""

from __future__ import annotations

import base64
import importlib
import inspect
import io
import json
import pickle
import random
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np

from normlab.checks import Result, StudentError

# ---- what runs in the student's kernel after the notebook (defines one function) ------------------
KERNEL_HELPER = r'''
def __normlab_grader_call(name, args_path, out_path):
    import base64 as _b64, io as _io, json as _json, pickle as _pickle, traceback as _tb
    import numpy as _np

    def enc(v, depth=0):
        if depth > 20:
            return {"__object__": "nested too deeply"}
        if hasattr(v, "__array__") and not isinstance(v, (str, bytes)):
            try:
                a = _np.asarray(v)
                if a.dtype != object:
                    buf = _io.BytesIO()
                    _np.save(buf, a, allow_pickle=False)
                    return {"__ndarray__": _b64.b64encode(buf.getvalue()).decode("ascii")}
            except Exception:
                pass
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return v
        if isinstance(v, (int, float)):
            return {"__float__": repr(float(v))} if isinstance(v, float) else v
        if isinstance(v, tuple):
            return {"__tuple__": [enc(x, depth + 1) for x in v]}
        if isinstance(v, list):
            return [enc(x, depth + 1) for x in v]
        if isinstance(v, dict):
            return {"__dict__": [[str(k), enc(x, depth + 1)] for k, x in v.items()]}
        return {"__object__": type(v).__name__}

    try:
        fn = get_ipython().user_ns[name]
    except KeyError:
        out = {"ok": False, "kind": "missing", "message": name}
    else:
        try:
            with open(args_path, "rb") as f:
                args = _pickle.load(f)
            out = {"ok": True, "value": enc(fn(*args))}
        except BaseException as e:  # noqa: B036 - report everything, SystemExit included
            frames = [fr for fr in _tb.extract_tb(e.__traceback__) if fr.name != "__normlab_grader_call"]
            where = f" (line {frames[-1].lineno}: `{(frames[-1].line or '').strip()}`)" if frames else ""
            out = {"ok": False, "kind": type(e).__name__, "message": str(e)[:300], "where": where}
    with open(out_path, "w") as f:
        _json.dump(out, f)
'''


def decode(v):
    """The JSON a kernel wrote back into Python values (arrays read without pickle)."""
    if isinstance(v, list):
        return [decode(x) for x in v]
    if not isinstance(v, dict):
        return v
    if "__ndarray__" in v:
        return np.load(io.BytesIO(base64.b64decode(v["__ndarray__"])), allow_pickle=False)
    if "__float__" in v:
        return float(v["__float__"])
    if "__tuple__" in v:
        return tuple(decode(x) for x in v["__tuple__"])
    if "__dict__" in v:
        return {k: decode(x) for k, x in v["__dict__"]}
    if "__object__" in v:
        return type(str(v["__object__"]), (), {})()  # an opaque object of that type's name
    return v


# ---- running a submission -------------------------------------------------------------------------
@dataclass
class Limits:
    cell_s: float = 120.0          # one cell
    notebook_s: float = 900.0      # the whole notebook
    call_s: float = 60.0           # one call of a student's function by a check
    output_bytes: int = 5_000_000  # what the notebook may print before it is stopped


@dataclass
class Run:
    """A submission's kernel after its notebook ran, and what happened on the way."""

    notes: list = field(default_factory=list)
    km: object = None
    kc: object = None
    workdir: Path | None = None


def _start(workdir: Path):
    from jupyter_client import KernelManager

    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(workdir))
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return km, kc


def _execute(run: Run, code: str, timeout: float, limits: Limits) -> str:
    """Run ``code`` in the kernel, counting (and dropping) its output. Returns "ok", "error",
    "timeout", "flood" or "dead"."""
    printed = [0]

    def hook(msg):
        c = msg.get("content", {})
        printed[0] += len(c.get("text", "")) + sum(len(str(v)) for v in c.get("data", {}).values())
        if printed[0] > limits.output_bytes:
            raise _Flood()

    try:
        reply = run.kc.execute_interactive(code, timeout=timeout, output_hook=hook, allow_stdin=False,
                                           store_history=False)
    except _Flood:
        run.km.interrupt_kernel()
        return "flood" if _drain(run) else "dead"
    except TimeoutError:
        if not run.km.is_alive():
            return "dead"
        run.km.interrupt_kernel()
        return "timeout" if _drain(run) else "dead"  # a kernel that ignores interrupts is restarted
    except RuntimeError:  # the kernel died under the client
        return "dead"
    if not run.km.is_alive():
        return "dead"
    return "ok" if reply["content"].get("status") == "ok" else "error"


class _Flood(Exception):
    pass


def _drain(run: Run, wait: float = 10.0) -> bool:
    """After an interrupt: True once the kernel answers again, False if it is dead or still stuck
    after ``wait`` seconds (then it is restarted)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and run.km.is_alive():
        try:
            run.kc.execute_interactive("pass", timeout=1.0, output_hook=lambda m: None,
                                       store_history=False)
            return True  # it answered ("ok", or "aborted": requests queued before the interrupt)
        except TimeoutError:
            continue
        except RuntimeError:
            return False
    return False


def execute_submission(path: Path, limits: Limits) -> Run:
    """Execute every code cell of the notebook at ``path`` in a fresh kernel, within ``limits``."""
    nb = nbformat.read(str(path), as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code"]
    run = Run(workdir=Path(tempfile.mkdtemp(prefix="grade-")))
    run.km, run.kc = _start(run.workdir)
    t0, done = time.monotonic(), []
    for k, src in enumerate(cells):
        left = limits.notebook_s - (time.monotonic() - t0)
        if left <= 0:
            run.notes.append(f"the notebook ran out of time ({limits.notebook_s:.0f} s) before cell "
                             f"{k + 1} of {len(cells)}")
            break
        status = _execute(run, src, min(limits.cell_s, left), limits)
        if status == "timeout":
            run.notes.append(f"code cell {k + 1} did not finish within {min(limits.cell_s, left):.0f} s "
                             "and was interrupted")
        elif status == "flood":
            run.notes.append(f"code cell {k + 1} printed more than {limits.output_bytes} characters "
                             "and was stopped")
        elif status == "dead":
            run.notes.append(f"code cell {k + 1} crashed (or hung) the kernel; the cells before it "
                             "were run again in a new kernel, without it")
            _restart(run, done, limits)
            continue
        done.append(src)
    run.kc.execute_interactive(KERNEL_HELPER, timeout=30, output_hook=lambda m: None,
                               store_history=False)
    return run


def _restart(run: Run, cells: list, limits: Limits) -> None:
    try:
        run.kc.stop_channels()
        run.km.shutdown_kernel(now=True)
    except Exception:
        pass
    run.km, run.kc = _start(run.workdir)
    for src in cells:
        if _execute(run, src, limits.cell_s, limits) == "dead":  # pragma: no cover - it ran before
            run.km, run.kc = _start(run.workdir)


def shutdown(run: Run) -> None:
    try:
        run.kc.stop_channels()
        run.km.shutdown_kernel(now=True)
    except Exception:
        pass


class RemoteFunction:
    """The student's function ``name``, called in the submission's kernel: arguments in, results
    back as JSON + ``.npy`` (never a pickle from the kernel)."""

    def __init__(self, run: Run, name: str, limits: Limits):
        self.run, self.name, self.limits = run, name, limits
        self.__name__ = name

    def __call__(self, *args):
        args_path = self.run.workdir / "args.pkl"
        out_path = self.run.workdir / "result.json"
        out_path.unlink(missing_ok=True)
        with open(args_path, "wb") as f:
            pickle.dump(args, f)
        status = _execute(self.run, f"__normlab_grader_call({self.name!r}, {str(args_path)!r}, "
                                    f"{str(out_path)!r})", self.limits.call_s, self.limits)
        if status == "dead":
            self.run.notes.append(f"calling `{self.name}` crashed the kernel; a new one was started "
                                  "(the functions defined before are gone)")
            _restart(self.run, [], self.limits)
            raise StudentError(f"`{self.name}` crashed the kernel when the check called it.")
        if status == "timeout":
            raise StudentError(f"`{self.name}` did not return within {self.limits.call_s:.0f} s "
                               "(an endless loop?), so it was interrupted.")
        if status == "flood":
            raise StudentError(f"`{self.name}` printed more than {self.limits.output_bytes} "
                               "characters when the check called it.")
        try:
            out = json.loads(out_path.read_text())
        except Exception:
            raise StudentError(f"the grader could not read what `{self.name}` returned.")
        if not out.get("ok"):
            kind = str(out.get("kind", "an error"))
            if kind == "NotImplementedError":
                raise NotImplementedError
            if kind == "missing":
                raise StudentError(f"no function named `{self.name}` is defined in the notebook (was "
                                   "its exercise cell deleted, renamed, or did it fail to run?).")
            raise StudentError(f"your function raised {kind}: {out.get('message', '')}"
                               f"{out.get('where', '')}.")
        return decode(out["value"])


# ---- scoring ---------------------------------------------------------------------------------------
def chapter_of(path: Path, chapter: int | None = None) -> int:
    """The chapter a submission answers: given, or the NN of its file name (NN_*.ipynb), or its
    "# Chapter N" heading."""
    if chapter is not None:
        return chapter
    m = re.match(r"(\d\d)_", path.name)
    if m:
        return int(m.group(1))
    nb = nbformat.read(str(path), as_version=4)
    for c in nb.cells:
        m = re.search(r"^#\s*Chapter\s+(\d+)", c.source, re.M) if c.cell_type == "markdown" else None
        if m:
            return int(m.group(1))
    raise ValueError(f"{path.name}: cannot tell which chapter it answers; pass --chapter N")


def exercises(chapter: int):
    """The instructor's list of graded exercises of a chapter."""
    return importlib.import_module(f"normlab.ch{chapter}.exercises").EXERCISES


@dataclass
class Grade:
    path: Path
    chapter: int
    results: list  # (Exercise, Result)
    notes: list

    @property
    def passed(self) -> int:
        return sum(r.passed for _, r in self.results)

    @property
    def total(self) -> int:
        return len(self.results)


def grade(path: Path, chapter: int | None = None, limits: Limits | None = None,
          seed: int | None = None) -> Grade:
    """Execute one submission and score it on its chapter's exercises (see the module docstring)."""
    limits = limits or Limits()
    path = Path(path)
    ch = chapter_of(path, chapter)
    todo = exercises(ch)
    seed = random.SystemRandom().randrange(1, 2**31) if seed is None else seed
    run = execute_submission(path, limits)
    results = []
    try:
        for k, ex in enumerate(todo):
            fn = RemoteFunction(run, ex.function, limits)
            kw = {"seed": seed + k} if "seed" in inspect.signature(ex.check).parameters else {}
            try:
                r = ex.check(fn, **kw)
            except Exception as e:  # a check must not stop the grading of the others
                r = Result(ex.label, False, f"the check could not run: {type(e).__name__}: {e}")
            results.append((ex, r))
    finally:
        shutdown(run)
    return Grade(path, ch, results, run.notes)
