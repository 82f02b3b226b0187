"""The course grader: it scores what a submission's code does, never what the notebook printed.

For each submission:

1. the notebook is executed cell by cell in a fresh Jupyter kernel **inside a sandbox**
   (:mod:`tools.sandbox`: bubblewrap, no network, an unprivileged user, a read-only copy of the
   instructor's normlab, memory/CPU/file-size limits, nothing left behind), with a time limit per
   cell and for the whole notebook, and a cap on its output (counted and thrown away). Install
   commands and cells that only display an explorable or the claims table are not run
   (:func:`tools.kernel_side.prepare`). Every cell that raised is listed in the notes with its
   exception. A cell that does not finish is interrupted; a kernel that dies is restarted and the
   cells that ran before are replayed, without the one that killed it;
2. then, for every exercise of the chapter as the *instructor's* copy of normlab lists it
   (``normlab.chN.exercises.EXERCISES``), the grader runs that exercise's check *in its own
   process*, on random cases it draws now (a fresh seed per run), and calls the student's function
   by name in the kernel for each case (:class:`RemoteFunction`), inside ``normlab.float64()`` as
   the notebook's own check does. Arguments go to the kernel as a pickle; results come back as
   JSON with arrays in NumPy's ``.npy`` format read with ``allow_pickle=False``, so nothing the
   submission defines, prints or patches in its kernel can run in the grader or change a check;
3. integrity: during each call the kernel records whether the student's function called autodiff
   (exercises that ask for a hand derivation) or normlab's own reference implementation of the
   answer; the source is checked for the same. A use is a flag (a note and a gradebook column);
   with ``strict=True`` the exercise is refused (0 points, with the reason).

``tools/course.py grade`` is the command; this module is its engine.
"""

from __future__ import annotations

import base64
import importlib
import inspect
import io
import json
import os
import pickle
import random
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np

from normlab.checks import AUTODIFF, Result, StudentError
from tools import kernel_side, sandbox
from tools.kernel_side import KERNEL_HELPER  # noqa: F401  (re-exported for the tests)

ROOT = Path(__file__).resolve().parents[1]


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
    memory_gb: float = 4.0         # the kernel's address space
    sandbox: bool = True           # False: no bubblewrap (only for trusted notebooks)
    run_all: bool = False          # True: also the chapter's own unchanged cells (its figures)


@dataclass
class Run:
    """A submission's kernel after its notebook ran, and what happened on the way."""

    notes: list = field(default_factory=list)
    km: object = None
    kc: object = None
    exchange: Path | None = None
    limits: Limits | None = None
    skipped: int = 0
    cells: list = field(default_factory=list)  # the code that ran (for the static checks)
    seconds: list = field(default_factory=list)  # (code cell number, seconds it took)


def _start(run: Run):
    from jupyter_client import KernelManager

    lim = run.limits
    wrapper = (sandbox.command(run.exchange, int(lim.memory_gb * 2**30), int(4 * lim.notebook_s) + 120)
               if lim.sandbox else [])

    class Sandboxed(KernelManager):
        def format_kernel_cmd(self, extra_arguments=None):
            return wrapper + super().format_kernel_cmd(extra_arguments)

    n = len(list(run.exchange.glob("kernel*.json")))
    km = Sandboxed(kernel_name="python3", transport="ipc", ip=str(run.exchange / f"k{n}"),
                   connection_file=str(run.exchange / f"kernel{n}.json"))
    km.kernel_spec.interrupt_mode = "message"  # the kernel interrupts itself (inside its namespace)
    env = dict(os.environ)  # bwrap --clearenv: the sandboxed kernel sees none of it
    if not lim.sandbox:
        env = {**os.environ, "NORMLAB_GRADING": "1", "MPLBACKEND": "agg",
               "PYTHONPATH": str(sandbox.site())}
        (run.exchange / "work").mkdir(exist_ok=True)
    km.start_kernel(cwd=str(run.exchange / "work") if not lim.sandbox else str(run.exchange), env=env,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    return km, kc


class _Flood(Exception):
    pass


def _execute(run: Run, code: str, timeout: float) -> tuple[str, str]:
    """Run ``code`` in the kernel, counting (and dropping) its output. Returns (status, detail):
    status "ok", "error" (detail: "Name: message"), "timeout", "flood" or "dead"."""
    printed, limits = [0], run.limits

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
        return ("flood" if _drain(run) else "dead"), ""
    except TimeoutError:
        if not run.km.is_alive():
            return "dead", ""
        run.km.interrupt_kernel()
        return ("timeout" if _drain(run) else "dead"), ""  # one that ignores interrupts: restarted
    except RuntimeError:  # the kernel died under the client
        return "dead", ""
    if not run.km.is_alive():
        return "dead", ""
    c = reply["content"]
    if c.get("status") == "ok":
        return "ok", ""
    return "error", f"{c.get('ename', 'an error')}: {str(c.get('evalue', ''))[:200]}"


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


def chapter_cells(chapter: int | None) -> list[str]:
    """The code cells of the instructor's copy of the chapter (none if it is not at hand)."""
    if chapter is None:
        return []
    found = sorted((ROOT / "notebooks").glob(f"{chapter:02d}_*.ipynb"))
    if not found:
        return []
    nb = nbformat.read(str(found[0]), as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def execute_submission(path: Path, limits: Limits, nb=None, chapter: int | None = None) -> Run:
    """Execute the code cells of the notebook at ``path`` that grading needs (all of them with
    ``limits.run_all``; see :func:`tools.kernel_side.needed`) in a fresh sandboxed kernel."""
    if limits.sandbox:
        sandbox.check()
    nb = nb if nb is not None else nbformat.read(str(path), as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code"]
    keep = [True] * len(cells)
    if not limits.run_all and chapter is not None:
        keep = kernel_side.needed(cells, chapter_cells(chapter),
                                  [ex.function for ex in exercises(chapter)])
    run = Run(exchange=Path(tempfile.mkdtemp(prefix="normlab-grade-")), limits=limits)
    try:
        run.km, run.kc = _start(run)
    except Exception:
        shutil.rmtree(run.exchange, ignore_errors=True)
        raise
    t0, done = time.monotonic(), []
    for k, src in enumerate(cells):
        code, installs = kernel_side.prepare(src)
        for cmd in installs:
            run.notes.append(f"code cell {k + 1}: `{cmd[:80]}` was not run: the grader installs "
                             "nothing and has no network")
        if code is None or not keep[k]:
            run.skipped += 1
            continue
        run.cells.append(code)
        left = limits.notebook_s - (time.monotonic() - t0)
        if left <= 0:
            run.notes.append(f"the notebook ran out of time ({limits.notebook_s:.0f} s) before cell "
                             f"{k + 1} of {len(cells)}")
            break
        t1 = time.monotonic()
        status, detail = _execute(run, code, min(limits.cell_s, left))
        run.seconds.append((k + 1, time.monotonic() - t1))
        if status == "error":
            run.notes.append(f"code cell {k + 1} raised {detail}")
        elif status == "timeout":
            run.notes.append(f"code cell {k + 1} did not finish within {min(limits.cell_s, left):.0f} s "
                             "and was interrupted")
        elif status == "flood":
            run.notes.append(f"code cell {k + 1} printed more than {limits.output_bytes} characters "
                             "and was stopped")
        elif status == "dead":
            run.notes.append(f"code cell {k + 1} crashed (or hung) the kernel; the cells before it "
                             "were run again in a new kernel, without it")
            _restart(run, done)
            continue
        done.append(code)
    if run.skipped:
        run.notes.append(f"{run.skipped} cells were not run: the chapter's own cells that compute "
                         "its figures and tables, and the explorable and claims-table displays "
                         "(grading does not read them)")
    run.kc.execute_interactive(KERNEL_HELPER, timeout=30, output_hook=lambda m: None,
                               store_history=False)
    return run


def _stop(run: Run) -> None:
    try:
        run.kc.stop_channels()
        run.km.shutdown_kernel(now=True)
    except Exception:
        pass


def _restart(run: Run, cells: list) -> None:
    _stop(run)
    run.km, run.kc = _start(run)
    for src in cells:
        if _execute(run, src, run.limits.cell_s)[0] == "dead":  # pragma: no cover - it ran before
            _stop(run)
            run.km, run.kc = _start(run)


def shutdown(run: Run) -> None:
    """Stop the kernel (its whole sandbox dies with it) and delete the exchange folder."""
    _stop(run)
    if run.exchange is not None:
        shutil.rmtree(run.exchange, ignore_errors=True)


class RemoteFunction:
    """The student's function ``name``, called in the submission's kernel: arguments in, results
    back as JSON + ``.npy`` (never a pickle from the kernel). ``called`` collects the banned
    functions seen during the calls."""

    def __init__(self, run: Run, name: str, limits: Limits, banned=()):
        self.run, self.name, self.limits, self.banned = run, name, limits, tuple(banned)
        self.__name__ = name
        self.called: list[str] = []

    def __call__(self, *args):
        args_path = self.run.exchange / "args.pkl"
        out_path = self.run.exchange / "result.json"
        out_path.unlink(missing_ok=True)
        with open(args_path, "wb") as f:
            pickle.dump(args, f)
        status, _ = _execute(self.run, f"__normlab_grader_call({self.name!r}, {str(args_path)!r}, "
                                       f"{str(out_path)!r}, {self.banned!r})", self.limits.call_s)
        if status == "dead":
            self.run.notes.append(f"calling `{self.name}` crashed the kernel; a new one was started "
                                  "(the functions defined before are gone)")
            _restart(self.run, [])
            self.run.kc.execute_interactive(KERNEL_HELPER, timeout=30, output_hook=lambda m: None,
                                            store_history=False)
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
        for c in out.get("called", []) if isinstance(out.get("called"), list) else []:
            if c in self.banned and c not in self.called:
                self.called.append(c)
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
def chapter_of(path: Path, chapter: int | None = None, nb=None) -> int:
    """The chapter a submission answers: given, or the NN_ in its file name (also inside a name
    that Canvas or Colab rewrote: ``doe_123_456_01_batch_norm.ipynb``), or its "# Chapter N"
    heading."""
    if chapter is not None:
        return chapter
    nb = nb if nb is not None else nbformat.read(str(path), as_version=4)
    for c in nb.cells:
        m = re.search(r"^#\s*Chapter\s+(\d+)", c.source, re.M) if c.cell_type == "markdown" else None
        if m:
            return int(m.group(1))
    m = re.search(r"(?:^|[_\s])0?(\d)_[a-z]", path.name)
    if m:
        return int(m.group(1))
    raise ValueError(f"{path.name}: cannot tell which chapter it answers; pass --chapter N")


def exercises(chapter: int):
    """The instructor's list of graded exercises of a chapter."""
    return importlib.import_module(f"normlab.ch{chapter}.exercises").EXERCISES


def banned(chapter: int, ex) -> tuple[str, ...]:
    """What a solution of ``ex`` must not call: autodiff where a hand derivation is asked, the
    exercise's reference implementations in normlab, and the chapter's private ``_*reference*``
    functions."""
    mod = importlib.import_module(f"normlab.ch{chapter}.exercises")
    private = [f"{mod.__name__}.{n}" for n, v in vars(mod).items()
               if n.startswith("_") and "reference" in n and callable(v)]
    return tuple(dict.fromkeys([*(AUTODIFF if ex.derivation else ()), *ex.references, *private]))


@dataclass
class Grade:
    path: Path
    chapter: int | None
    results: list  # (Exercise, Result)
    notes: list
    flags: dict = field(default_factory=dict)  # exercise label -> the banned functions it used
    error: str = ""                            # set when the file could not be graded at all
    nb: object = None                          # the notebook as read (for the gradebook)

    @property
    def passed(self) -> int:
        return sum(r.passed for _, r in self.results)

    @property
    def total(self) -> int:
        return len(self.results)


def unreadable(path: Path, reason: str, chapter: int | None = None) -> Grade:
    """A grade of 0 for a file that could not be graded, with the reason."""
    todo = exercises(chapter) if chapter is not None else []
    return Grade(Path(path), chapter, [(ex, Result(ex.label, False, reason)) for ex in todo],
                 [f"could not be graded: {reason}"], error=reason)


def grade(path: Path, chapter: int | None = None, limits: Limits | None = None,
          seed: int | None = None, strict: bool = False) -> Grade:
    """Execute one submission and score it on its chapter's exercises (see the module docstring)."""
    limits = limits or Limits()
    path = Path(path)
    nb = nbformat.read(str(path), as_version=4)
    ch = chapter_of(path, chapter, nb)
    todo = exercises(ch)
    seed = random.SystemRandom().randrange(1, 2**31) if seed is None else seed
    run = execute_submission(path, limits, nb, ch)
    results, flags = [], {}
    tamper = kernel_side.tampering(run.cells)
    if tamper:
        run.notes.append("integrity: the notebook uses " + ", ".join(f"`{t}`" for t in tamper)
                         + ", which can hide calls from the grader")
    try:
        for k, ex in enumerate(todo):
            bad = banned(ch, ex)
            fn = RemoteFunction(run, ex.function, limits, bad)
            kw = {"seed": seed + k} if "seed" in inspect.signature(ex.check).parameters else {}
            try:
                r = ex.check(fn, **kw)
            except Exception as e:  # a check must not stop the grading of the others
                r = Result(ex.label, False, f"the check could not run: {type(e).__name__}: {e}")
            seen = set(fn.called) | set(kernel_side.static_uses(run.cells, ex.function, set(bad)))
            used = [b for b in bad if b in seen]  # in the order of `banned`: autodiff first
            if used:
                flags[ex.label] = used
                why = ("autodiff or normlab's reference answers, where the exercise asks for your own "
                       "derivation" if ex.derivation else "normlab's reference answer")
                note = f"integrity: `{ex.function}` uses {', '.join(used)} ({why})"
                if strict and r.passed:
                    r = Result(r.name, False, f"refused: {note[11:]}.")
                    note += "; refused (--strict)"
                run.notes.append(note)
            results.append((ex, r))
    finally:
        shutdown(run)
    return Grade(path, ch, results, run.notes, flags, nb=nb)


def _grade_one(job):
    path, chapter, limits, strict = job
    try:
        return grade(path, chapter, limits, strict=strict)
    except sandbox.SandboxUnavailable:
        raise
    except Exception as e:  # one broken submission must not stop the others
        ch = chapter
        if ch is None:
            try:
                ch = chapter_of(Path(path))
            except Exception:
                m = re.search(r"(?:^|[_\s])0?(\d)_[a-z]", Path(path).name)
                ch = int(m.group(1)) if m else None
        reason = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
        try:
            return unreadable(Path(path), reason, ch)
        except Exception:
            return unreadable(Path(path), reason)


def grade_all(paths, chapter=None, limits=None, strict=False, jobs=1, on_done=None) -> list[Grade]:
    """Grade every file (a row for each, the unreadable ones included), ``jobs`` at a time, in
    separate processes; ``on_done(grade)`` is called as each finishes. Returns them in order."""
    limits = limits or Limits()
    if limits.sandbox:
        sandbox.check()
    work = [(Path(p), chapter, limits, strict) for p in paths]
    out = [None] * len(work)
    if jobs <= 1:
        for i, w in enumerate(work):
            out[i] = _grade_one(w)
            if on_done:
                on_done(out[i])
        return out
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_grade_one, w): i for i, w in enumerate(work)}
        for f in as_completed(futures):
            out[futures[f]] = f.result()
            if on_done:
                on_done(out[futures[f]])
    return out
