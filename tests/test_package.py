"""The shape of normlab: no import cycle (imports inside functions count), no upward import from the
core into the chapters or the book machinery, no module past ~500 lines, one network and one loop."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import ROOT

PKG = ROOT / "normlab"
# The core: what every chapter stands on. It must not import the book machinery or a chapter.
CORE = {"normlab.batchnorm", "normlab.weightnorm", "normlab.layernorm", "normlab.fisher",
        "normlab.nets", "normlab.train", "normlab.data", "normlab.measure", "normlab.landscape"}
MACHINERY = {"normlab.explore", "normlab.checks", "normlab.claims", "normlab.style"}


def modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        name = ".".join(p.relative_to(ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = p
    return out


def imports(path: Path, mods) -> set[str]:
    """Every normlab module that ``path`` imports, at any depth (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n in mods and n != "normlab"}
    return found


def graph():
    mods = modules()
    return {m: {t for t in imports(p, mods) if t != m and not m.startswith(t + ".")}
            for m, p in mods.items()}


def test_no_import_cycle():
    g = graph()
    state, cycles = {}, []

    def visit(u, stack):
        state[u] = 1
        stack.append(u)
        for v in sorted(g[u]):
            if state.get(v) == 1:
                cycles.append(" -> ".join(stack[stack.index(v):] + [v]))
            elif v not in state:
                visit(v, stack)
        stack.pop()
        state[u] = 2

    for m in sorted(g):
        if m not in state:
            visit(m, [])
    assert not cycles, f"import cycles in normlab: {cycles}"


def test_the_cycle_finder_finds_a_cycle(tmp_path):
    """The test above can fail: two modules that import each other are a cycle to ast.walk."""
    a = tmp_path / "a.py"
    a.write_text("def f():\n    from normlab import b\n")
    assert imports(a, {"normlab.b", "normlab.a"}) == {"normlab.b"}


def test_no_upward_import():
    g = graph()
    for m in CORE:
        bad = {t for t in g[m] if t in MACHINERY or t.startswith("normlab.ch")}
        assert not bad, f"{m} (core) imports {bad}"
    assert not {t for t in g["normlab.style"] if t in {"normlab.train", "normlab.nets"}}, \
        "the figure style must not import training"
    for m in MACHINERY:
        assert not {t for t in g[m] if t.startswith("normlab.ch")}, f"{m} imports a chapter"


def test_no_module_is_over_500_lines():
    for m, p in modules().items():
        n = len(p.read_text().splitlines())
        assert n <= 500, f"{p.relative_to(ROOT)} has {n} lines: split it along the book's sections"


def test_one_network_and_one_training_loop():
    """Only normlab.train runs lax.scan over training steps with value_and_grad; only normlab.nets
    applies a stack of layers. A chapter calls them."""
    for m, p in modules().items():
        src = p.read_text()
        if m in ("normlab.train",):
            continue
        assert not re.search(r"value_and_grad[\s\S]{0,400}lax\.scan|lax\.scan[\s\S]{0,400}value_and_grad",
                             src), f"{m} has a training loop of its own: call normlab.train.run"
        if m != "normlab.nets":
            assert "def apply_mlp" not in src and "def forward(params" not in src, \
                f"{m} defines a network forward pass: use normlab.nets"


def test_no_invalid_escape_in_the_sources():
    """A backslash in a docstring of maths must be in a raw string (a SyntaxWarning today, an
    error in a future Python)."""
    import warnings

    for m, p in modules().items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            compile(p.read_text(), str(p), "exec")


def test_figures_take_their_text_sizes_from_style():
    """normlab.style is the one place that decides text sizes: no chapter passes a number."""
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
             for p in sorted(PKG.glob("ch*/*.py"))
             for n, line in enumerate(p.read_text().splitlines(), 1)
             if re.search(r"fontsize\s*=\s*['\"0-9]", line)]
    assert not found, "use style.SMALL, PANEL, TITLE, SYMBOL or BIG:\n" + "\n".join(found)
