"""What the grader does to a submission's code before and after it runs in the sandboxed kernel:

- :func:`prepare` a cell: lines that install packages (``!pip install``, ``%pip``, ``!apt-get``)
  become ``pass`` and a note (the sandbox has no network and a read-only Python anyway); cells that
  only display an explorable or the claims table are skipped (grading never reads them, and they
  are the slow part of a chapter);
- :data:`KERNEL_HELPER`, defined in the kernel after the notebook: it calls the student's function
  for the grader, inside ``normlab.float64()`` exactly as the notebook's own check does, and
  records which of the *banned* functions (autodiff, normlab's reference answers) ran during the
  call, with a profiler hook on their code objects (so an alias such as ``from jax import vjp as
  v`` is seen too);
- :func:`static_uses`: the same question answered from the source, by resolving the names a
  function uses through the notebook's imports.
"""

from __future__ import annotations

import ast
import re

INSTALL = re.compile(r"^(\s*)[!%]+\s*(?:pip3?|python3?\s+-m\s+pip|conda|mamba|uv|apt(?:-get)?|sudo)\b.*$",
                     re.M)
_MAGIC = re.compile(r"^(\s*)[!%].*$", re.M)


def prepare(src: str) -> tuple[str | None, list[str]]:
    """(the code to run, or None to skip the cell; the install commands taken out of it)."""
    removed = [m.group(0).strip() for m in INSTALL.finditer(src)]
    code = INSTALL.sub(lambda m: m.group(1) + "pass  # an install: not run by the grader", src)
    if _display_only(code):
        return None, removed
    return code, removed


def _display_only(code: str) -> bool:
    """True for a cell that is one call of ``*_explorable(...)`` or ``claims.table(...)``."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
        return False
    call = tree.body[0].value
    if not isinstance(call, ast.Call):
        return False
    f = call.func
    name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
    owner = getattr(f.value, "id", "") if isinstance(f, ast.Attribute) else ""
    return name.endswith("_explorable") or (name == "table" and owner == "claims")


def _norm(src: str) -> str:
    return "\n".join(line.rstrip() for line in src.strip().splitlines())


def _names(src: str) -> tuple[set, set, bool] | None:
    """(names the cell reads but does not set itself, names it sets, whether it imports)."""
    tree = _parse(src)
    if tree is None:
        return None
    loads, stores, imports = set(), set(), False
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loads if isinstance(node.ctx, ast.Load) else stores).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stores.add(node.name)
        elif isinstance(node, ast.arg):
            stores.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            imports = True
            stores.update((a.asname or a.name).split(".")[0] for a in node.names)
    return loads - stores, stores, imports


def needed(cells: list[str], chapter_cells: list[str], functions: list[str]) -> list[bool]:
    """Which cells grading must run. A cell the student wrote or changed always runs; a cell
    that is the chapter's own, unchanged, runs only if it imports, defines or checks an exercise
    function, or sets a name that a cell which runs reads (followed back to the first cell);
    the others compute the book's figures and tables, which grading never reads."""
    ref = {_norm(c) for c in chapter_cells}
    info = [_names(c) for c in cells]
    keep = [_norm(c) not in ref or i is None or i[2]
            or any(re.search(rf"\bdef {f}\(|check_\w+\({f}\b", c) for f in functions)
            for c, i in zip(cells, info)]
    need = set()
    for k, i in enumerate(info):
        if keep[k] and i is not None:
            need |= i[0]
    for k in reversed(range(len(cells))):
        if not keep[k] and info[k][1] & need:
            keep[k] = True
            need |= info[k][0]
    return keep


def _parse(src: str):
    try:
        return ast.parse(_MAGIC.sub(lambda m: m.group(1) + "pass", src))
    except SyntaxError:
        return None


def static_uses(cells: list[str], function: str, banned: set[str]) -> list[str]:
    """The banned dotted names that ``function`` (its last definition in ``cells``) refers to,
    resolving names through the notebook's imports (``import jax as J``, ``from jax import vjp``,
    ``from normlab import weightnorm``)."""
    alias, fdef = {}, None
    for src in cells:
        tree = _parse(src)
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    alias[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    alias[a.asname or a.name] = f"{node.module}.{a.name}"
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == function:
                fdef = node
    if fdef is None:
        return []

    def dotted(node):
        if isinstance(node, ast.Name):
            return alias.get(node.id)
        if isinstance(node, ast.Attribute):
            base = dotted(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    found = []
    for node in ast.walk(fdef):
        if isinstance(node, (ast.Name, ast.Attribute)):
            d = dotted(node)
            if d in banned and d not in found:
                found.append(d)
    return found


def tampering(cells: list[str]) -> list[str]:
    """Names in the notebook that could blind the grader's call-time monitoring."""
    text = "\n".join(cells)
    return [w for w in ("setprofile", "settrace", "__normlab_grader") if w in text]


# ---- what runs in the student's kernel after the notebook (defines one function) ------------------
KERNEL_HELPER = r'''
def __normlab_grader_call(name, args_path, out_path, banned=()):
    import base64 as _b64, importlib as _il, io as _io, json as _json, pickle as _pickle
    import sys as _sys, traceback as _tb
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

    codes, seen = {}, []
    for dotted in banned:
        mod, _, attr = dotted.rpartition(".")
        try:
            obj = getattr(_il.import_module(mod), attr)
        except Exception:
            continue
        for _ in range(10):  # the function and whatever it wraps (decorators, jit)
            code = getattr(obj, "__code__", None)
            if code is not None:
                codes[code] = dotted
            inner = getattr(obj, "__wrapped__", None)
            if inner is None or inner is obj:
                break
            obj = inner

    def watch(frame, event, arg):
        if event == "call":
            hit = codes.get(frame.f_code)
            if hit is not None and hit not in seen:
                seen.append(hit)

    try:
        fn = get_ipython().user_ns[name]
    except KeyError:
        out = {"ok": False, "kind": "missing", "message": name}
    else:
        try:
            with open(args_path, "rb") as f:
                args = _pickle.load(f)
            import normlab as _normlab
            old = _sys.getprofile()
            with _normlab.float64():  # as the notebook's own check calls it
                _sys.setprofile(watch if codes else old)
                try:
                    value = fn(*args)
                finally:
                    _sys.setprofile(old)
                out = {"ok": True, "value": enc(value)}
        except BaseException as e:  # noqa: B036 - report everything, SystemExit included
            frames = [fr for fr in _tb.extract_tb(e.__traceback__) if fr.name != "__normlab_grader_call"]
            where = f" (line {frames[-1].lineno}: `{(frames[-1].line or '').strip()}`)" if frames else ""
            out = {"ok": False, "kind": type(e).__name__, "message": str(e)[:300], "where": where}
    out["called"] = seen
    with open(out_path, "w") as f:
        _json.dump(out, f)
'''
