"""The Colab editions (tools/colab.py): every markdown cell of the rendered and the student edition,
rendered by a plain CommonMark renderer (what Colab and JupyterLab without extensions do), shows no
raw MyST and every number the website shows there; hints and solutions are folded; code cells are
the notebook's own; links go to the website. Also: the setup cell's fallback when the release tag
is missing, and where the Colab buttons and the README's links point."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from markdown_it import MarkdownIt

from conftest import NOTEBOOKS, ROOT
from tools import colab, course, sync
from tools.colab_site import website

COMMONMARK = MarkdownIt("commonmark")
ROLE = re.compile(r"\{[A-Za-z0-9_:+-]+\}$")   # a `{role}` left before a code span
TARGET = re.compile(r"^\(\S+\)=\s*$")           # a `(label)=` target


@pytest.fixture(scope="session")
def editions(colab_editions):
    return {"colab": colab_editions["full"], "colab-student": colab_editions["student"]}


def cells(path):
    return json.loads(path.read_text())["cells"]


def text(cell):
    return "".join(cell["source"])


def website_numbers(nb):
    """The glued values as the website shows them, in the page's order."""
    from bs4 import BeautifulSoup

    page = (ROOT / "_build" / "html" / "notebooks" / f"{nb.stem}.html").read_text()
    return [s.get_text() for s in BeautifulSoup(page, "html.parser").find_all(class_="pasted-text")]


def glue_roles(md):
    """The glue roles of a MyST markdown text, in order (myst-parser's own parse)."""
    found = []
    for tok in colab.MD.parse(md):
        found += [c.content for c in tok.children or []
                  if c.type == "myst_role" and c.meta["name"].startswith("glue")]
        if colab._is_directive(tok):
            found += glue_roles(colab._directive_parts(tok)[3])
    return found


def raw_myst(md):
    """What a CommonMark renderer would show as raw MyST in this text."""
    found = []
    for tok in COMMONMARK.parse(md):
        if tok.type == "fence" and tok.info.strip().startswith("{"):
            found.append(f"directive fence {tok.info.strip()}")
        if tok.type == "inline":
            kids = tok.children or []
            for a, b in zip(kids, kids[1:]):
                if a.type == "text" and b.type == "code_inline" and ROLE.search(a.content):
                    found.append(f"role {a.content.split()[-1]}`{b.content}`")
            if TARGET.match(tok.content):
                found.append(f"target {tok.content}")
            if re.match(r"^:(label|class):", tok.content):
                found.append(f"directive option {tok.content.splitlines()[0]}")
    return found


@pytest.mark.parametrize("edition", ["colab", "colab-student"])
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_markdown_shows_no_myst_and_the_websites_numbers(editions, edition, nb, tmp_path):
    """Each glue role of the chapter, in order, is paired with the number the website shows in its
    place; each rendered cell must contain the numbers of the roles its source cell has (for the
    student edition: its source is the student edition of the chapter)."""
    numbers, pos, value = website_numbers(nb), 0, {}
    for c in cells(nb):
        if c["cell_type"] == "markdown":
            roles = glue_roles(text(c))
            value[c["id"]] = dict(zip(roles, numbers[pos:pos + len(roles)]))
            pos += len(roles)
    assert pos == len(numbers), f"{nb.name}: {pos} glue roles, the website shows {len(numbers)} numbers"
    source = nb
    if edition == "colab-student":
        source = tmp_path / nb.name
        course.student_edition(nb, source)
    src = {c["id"]: c for c in cells(source)}
    shown = 0
    for c in cells(editions[edition] / nb.name):
        if c["cell_type"] != "markdown":
            continue
        md = text(c)
        assert not raw_myst(md), f"{edition}/{nb.name} cell {c['id']}: {raw_myst(md)}"
        assert c["id"] in src, f"{edition}/{nb.name}: cell {c['id']} is not the notebook's"
        html = COMMONMARK.render(md)
        for role in glue_roles(text(src[c["id"]])):
            want = value[c["id"]][role]
            assert want in html, f"{edition}/{nb.name} cell {c['id']}: the website's {want!r} ({role}) is missing"
            shown += 1
    if edition == "colab":
        assert shown == len(numbers)
    assert shown > 0


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_cells_are_unchanged(editions, nb, tmp_path):
    code = lambda cs: [text(c) for c in cs if c["cell_type"] == "code"]
    assert code(cells(editions["colab"] / nb.name)) == code(cells(nb))
    course.student_edition(nb, tmp_path / nb.name)
    student = code(cells(editions["colab-student"] / nb.name))
    assert student == code(cells(tmp_path / nb.name))
    # the student edition starts with the student-id cell (tools/course.py), then the setup cell
    assert sync.setup_source(sync.facts()) in student[:2]
    assert not any("# BEGIN SOLUTION" in c for c in student)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_are_numbered_and_hints_folded(editions, nb):
    """Every exercise is "Exercise N" as on the website; every hint, and every solution in the
    prose, sits in a closed <details>; the student edition has no solution."""
    from bs4 import BeautifulSoup

    page = BeautifulSoup((ROOT / "_build" / "html" / "notebooks" / f"{nb.stem}.html").read_text(),
                         "html.parser")
    captions = [d.find(class_="caption-number").get_text(" ", strip=True)
                for d in page.find_all("div", class_="exercise")]
    assert captions, f"{nb.name}: no exercise on the website"
    for edition in ("colab", "colab-student"):
        md = "\n\n".join(text(c) for c in cells(editions[edition] / nb.name) if c["cell_type"] == "markdown")
        for cap in captions:
            assert f"**{cap}**" in md, f"{edition}/{nb.name}: {cap} is not shown as on the website"
        soup = BeautifulSoup(COMMONMARK.render(md), "html.parser")
        hints = [s for s in soup.find_all(["b", "strong"]) if re.fullmatch(r"Hint \d+", s.get_text())]
        assert hints and all(h.find_parent("summary") and not h.find_parent("details").has_attr("open")
                             for h in hints), f"{edition}/{nb.name}: a hint is not folded"
        solutions = [s for s in soup.find_all("b") if s.get_text().startswith("Solution to")]
        assert all(not s.find_parent("details").has_attr("open") for s in solutions)
        if edition == "colab-student":
            assert not solutions and "Solution to" not in md


def test_citations_and_references_link_to_the_website(editions):
    web = website(sync.facts())
    md = "\n".join(text(c) for c in cells(editions["colab"] / "03_weight_norm.ipynb")
                   if c["cell_type"] == "markdown")
    # {cite}`key` -> "(Authors, year)", {cite:t}`key` -> "Authors (year)", linking the bibliography
    # ... at the entry's own anchor, the one the website's citations link to (reader R5)
    assert re.search(rf"\[\(?Salimans and Kingma,? \(?2016\)\]\({re.escape(web)}book/bibliography\.html#[\w-]+\)", md)
    anchors = set(re.findall(rf"{re.escape(web)}book/bibliography\.html(#[\w-]+)?\)", md))
    assert "" not in anchors, "a citation links the bibliography page without its entry's anchor"
    # {prf:ref}`thm-wn-grad`: the website's link text and address
    assert re.search(rf"\]\({re.escape(web)}notebooks/03_weight_norm\.html#thm-wn-grad\)", md)
    assert re.search(r"\[Theorem 3\.\d+\]\(", md)  # the website's link text, numbered within the chapter
    assert re.search(r"<blockquote>\n\n<a id=\"thm-wn-grad\"></a>\*\*Theorem 3\.\d+\*\* \(The gradients", md)


def test_colab_buttons_and_readme_open_the_rendered_edition(built_book):
    f = sync.facts()
    for nb in NOTEBOOKS:
        want = sync.colab_url(f, nb)
        assert "/blob/colab/notebooks/" in want
        assert want in (ROOT / "README.md").read_text()
        assert sync.colab_url(f, nb, "student") in (ROOT / "README.md").read_text()
        assert want in (built_book / "notebooks" / f"{nb.stem}.html").read_text()
    claims = (built_book / "book" / "claims.html").read_text()
    assert "colab.research.google.com/github" not in claims  # no Colab button on a Markdown page


def _run_setup(monkeypatch, capsys, fails):
    """Run the setup cell's source with pip replaced: specs containing any of ``fails`` fail."""
    calls = []

    def fake_run(cmd, **kw):
        calls.append(cmd[-1])
        bad = any(f in cmd[-1] for f in fails)
        return subprocess.CompletedProcess(cmd, 1 if bad else 0, "", "ERROR: no such ref" if bad else "")

    import importlib.util

    real_find = importlib.util.find_spec
    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "normlab" else real_find(n, *a))
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    try:
        exec(sync.setup_source(sync.facts()), {})  # noqa: S102 - our own generated cell
        return calls, capsys.readouterr().out, None
    except SystemExit as exc:
        return calls, capsys.readouterr().out, str(exc)


def test_setup_cell_falls_back_to_the_default_branch(monkeypatch, capsys):
    f = sync.facts()
    calls, out, exit_msg = _run_setup(monkeypatch, capsys, fails=[f"@v{f['version']}"])
    assert exit_msg is None
    assert calls == [f"normlab @ git+{f['repo']}@v{f['version']}", f"normlab @ git+{f['repo']}@{f['branch']}"]
    notes = [ln for ln in out.splitlines() if ln.startswith("Note:")]
    assert len(notes) == 1 and f"v{f['version']} not found" in notes[0] and f["branch"] in notes[0]


def test_setup_cell_says_what_to_do_when_nothing_installs(monkeypatch, capsys):
    calls, out, exit_msg = _run_setup(monkeypatch, capsys, fails=["normlab"])
    assert len(calls) == 2 and exit_msg is not None
    assert "What to do" in exit_msg and "pip install" in exit_msg and "no such ref" in exit_msg
    assert "Traceback" not in out


def test_the_cli_says_what_to_do_without_a_build(tmp_path):
    proc = subprocess.run([sys.executable, "tools/colab.py", "--build", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "tasks.py build" in proc.stdout and "Traceback" not in proc.stderr


@pytest.mark.parametrize("edition", ["full", "student"])
def test_the_colab_button_follows_the_edition_being_built(monkeypatch, edition):
    """book/_ext/colab_launch.py: the student website (`tasks.py build --student`, which sets
    NORMLAB_EDITION=student) opens the student edition; a Markdown page has no Colab button."""
    import types

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import colab_launch

    monkeypatch.setenv("NORMLAB_EDITION", edition)
    app = types.SimpleNamespace(srcdir=ROOT)

    def page(name):
        buttons = [{"text": "Binder", "url": "b"}, {"text": "Colab", "url": "old"}]
        ctx = {"header_buttons": [{"label": "launch-buttons", "buttons": buttons}]}
        colab_launch._retarget(app, name, "page.html", ctx, None)
        return ctx["header_buttons"]

    nb = NOTEBOOKS[0]
    [group] = page(f"notebooks/{nb.stem}")
    assert group["buttons"][1]["url"] == sync.colab_url(sync.facts(), nb, edition)
    assert f"/blob/colab/{'student/' if edition == 'student' else ''}notebooks/{nb.name}" in group["buttons"][1]["url"]
    [group] = page("book/claims")
    assert [b["text"] for b in group["buttons"]] == ["Binder"]
