"""A book that teaches (issue 17): the rules every chapter page follows.

- a "Key ideas" box (an admonition titled exactly "Key ideas") is the first thing under the
  chapter's title;
- every figure (every image in the page's text, static figure or explorable frame, except icons)
  sits in a ``<figure class="normlab-figure">`` whose caption starts "Figure N.k" (N the chapter,
  k increasing down the page), and its alt text says what it shows (not a file path);
- no output area on the page is a bare number or a bare Python list, tuple or array (bookkeeping
  such as ``48.06640625`` under a table does not reach the reader);
- the glossary defines at least 25 terms;
- the main line of each chapter is at most 4,000 words (see :func:`main_line_words`).

The pages are read in the Chromium of tests/test_browser.py; the word count reads the notebooks.
"""

from __future__ import annotations

import json
import re

import pytest

from conftest import NOTEBOOKS
from test_browser import CHAPTERS, browser, open_page, site  # noqa: F401 (fixtures)

MAX_MAIN_LINE_WORDS = 4000
MIN_GLOSSARY_TERMS = 25

# Sections off the main line: a heading whose title (after its number, "3.7 ") starts so.
OFF_MAIN_LINE = re.compile(r"^(going further|exercises?\b|solutions?\b|hints?\b|claims checked)", re.I)
# Directives whose content is off the main line: exercises, solutions, hints.
OFF_MAIN_DIRECTIVES = {"exercise", "solution", "hint"}
FENCE = re.compile(r"^(\s*)(`{3,}|:{3,})\s*(?:\{([\w:-]+)\})?\s*(.*)$")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
WORD = re.compile(r"[A-Za-z0-9]+(?:['\u2019-][A-Za-z0-9]+)*")


def _visible_text(md: str) -> str:
    """Markdown as a reader sees it, minus math and code: math ($...$, $$...$$,
    \\begin...\\end), code spans, HTML tags, directive option lines (":label: x") and link
    targets are dropped; a role's or a link's text is kept."""
    md = re.sub(r"\$\$.*?\$\$", " ", md, flags=re.S)
    md = re.sub(r"\\begin\{(\w+\*?)\}.*?\\end\{\1\}", " ", md, flags=re.S)
    md = re.sub(r"(?<!\\)\$[^$\n]+?(?<!\\)\$", " ", md)
    md = re.sub(r"\{[\w:-]+\}`([^`<\n]*?)(?:\s*<[^>\n]*>)?`", r"\1", md)   # {term}`text <target>`
    md = re.sub(r"`[^`\n]*`", " ", md)
    md = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", md)                      # [text](target)
    md = re.sub(r"<[^>]+>", " ", md)
    md = re.sub(r"^\s*:[\w-]+:.*$", " ", md, flags=re.M)
    return md


def main_line_markdown(nb_path) -> str:
    """The markdown of the chapter's main line.

    Definition (what :func:`main_line_words` counts): the text of the notebook's markdown cells,
    in order, except

    1. every section whose heading's title, after its section number, starts with "Going
       further", "Exercise(s)", "Solution(s)", "Hint(s)" or "Claims checked" (the claims table's
       section), from that heading to the next heading of the same or a higher level;
    2. the content of ``exercise``, ``solution``, ``hint`` directives and of any admonition whose
       title starts with "Hint" (hint dropdowns), and everything from a ``solution-start``
       directive to its ``solution-end`` (also across cells);
    3. code cells and all outputs (the claims table is an output).

    The chapter's title, its "Key ideas" box, learning goals, prose, proofs, figure captions
    written in markdown and summary all count.
    """
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    kept: list[str] = []
    skip_level = None       # inside an off-main-line section of this heading level
    in_solution = False     # between solution-start and solution-end
    stack: list[tuple[str, bool]] = []   # open fences: (closing marker, content skipped)
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        for line in "".join(cell["source"]).splitlines():
            f = FENCE.match(line)
            if f:
                marker, name, arg = f.group(2), (f.group(3) or "").lower(), f.group(4)
                if stack and not name and marker[0] == stack[-1][0][0] and len(marker) >= len(stack[-1][0]) \
                        and not arg:
                    stack.pop()
                    continue
                if name:
                    if name == "solution-start":
                        in_solution = True
                    if name == "solution-end":
                        in_solution = False
                    base = name.split(":")[-1]
                    off = base in OFF_MAIN_DIRECTIVES or name.startswith("solution") or \
                        (base == "admonition" and arg.lower().startswith("hint"))
                    stack.append((marker, off))
                    if not off and arg and not any(s for _, s in stack[:-1]) and skip_level is None \
                            and not in_solution:
                        kept.append(arg)       # an admonition's or a proof's title is prose
                    continue
                stack.append((marker, True))   # a plain code block: not prose
                continue
            h = None if stack else HEADING.match(line)
            if h:
                level, title = len(h.group(1)), re.sub(r"^[\d.]+\s+", "", h.group(2))
                if skip_level is not None and level <= skip_level:
                    skip_level = None
                if skip_level is None and OFF_MAIN_LINE.match(title):
                    skip_level = level
                    continue
            if skip_level is not None or in_solution or any(s for _, s in stack):
                continue
            kept.append(line)
        stack.clear()   # a fence never spans cells
    return "\n".join(kept)


def all_markdown(nb_path) -> str:
    """Every markdown cell's text, a directive's fence line reduced to its title."""
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    lines = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                f = FENCE.match(line)
                lines.append(f.group(4) if f else line)
    return "\n".join(lines)


def main_line_words(nb_path) -> int:
    """The number of words (runs of letters and digits, with inner apostrophes or hyphens) in
    the visible text of :func:`main_line_markdown`."""
    return len(WORD.findall(_visible_text(main_line_markdown(nb_path))))


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_main_line_is_at_most_4000_words(nb):
    n = main_line_words(nb)
    total = len(WORD.findall(_visible_text(all_markdown(nb))))
    print(f"{nb.stem}: main line {n} words of {total}")
    assert 0 < n < total, "the main line is empty or is everything: the sections were not found"
    assert n <= MAX_MAIN_LINE_WORDS, (
        f"{nb.stem}: the main line has {n} words (at most {MAX_MAIN_LINE_WORDS}); move material "
        "off the line of the argument into a 'Going further' section")


def test_word_count_leaves_out_what_is_off_the_main_line(tmp_path):
    """The control: a notebook whose off-line parts are long counts only its main line."""
    cells = [
        "# Chapter 9: A title\n\n```{admonition} Key ideas\nOne two three.\n```",
        "## 9.1 Main\n\nfour five $x^2 + y$ six `code here`",
        "```{exercise} Ex\n:label: ex-1\n" + "ex " * 500 + "\n```",
        "```{admonition} Hint 1\n:class: dropdown\n" + "hint " * 500 + "\n```",
        "```{solution-start} ex-1\n:class: dropdown\n```\n" + "sol " * 500,
        "```{solution-end}\n```",
        "## 9.2 Going further: more\n\n" + "extra " * 500 + "\n\n### 9.2.1 Deeper\n\nmore words",
        "## Claims checked\n\n" + "claim " * 500,
        "## Summary\n\nseven eight",
    ]
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": c} for c in cells],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    p = tmp_path / "09_x.ipynb"
    p.write_text(json.dumps(nb))
    words = WORD.findall(_visible_text(main_line_markdown(p)))
    assert words == ["Chapter", "9", "A", "title", "Key", "ideas", "One", "two", "three", "9", "1",
                     "Main", "four", "five", "six", "Summary", "seven", "eight"], words


def test_glossary_has_at_least_25_terms(built_book):
    html = (built_book / "book" / "glossary.html").read_text()
    n = html[html.index('class="simple glossary"'):].split("</dl>")[0].count("<dd>")
    assert n >= MIN_GLOSSARY_TERMS, f"the glossary defines {n} terms"


# ---- the chapter pages, as a reader sees them -------------------------------------------------

FIRST_UNDER_TITLE = """() => {
  const h1 = document.querySelector('.bd-article h1');
  let el = h1 && h1.nextElementSibling;
  while (el && (el.getBoundingClientRect().height === 0 || getComputedStyle(el).display === 'none'))
    el = el.nextElementSibling;
  if (!el) return null;
  const t = el.querySelector(':scope > .admonition-title');
  return {tag: el.tagName.toLowerCase(), cls: el.className, title: t ? t.textContent.trim() : null,
          text: el.textContent.trim().replace(/\\s+/g, ' ').slice(0, 80)};
}"""

FIGURES = r"""() => Array.from(document.querySelectorAll('.bd-article img'))
  .filter(im => !im.closest('.btn, button, .headerlink, .bd-header-article')
                && Math.max(im.naturalWidth, im.getBoundingClientRect().width) >= 64)
  .map(im => {
    const f = im.closest('figure.normlab-figure');
    const cap = f && f.querySelector('figcaption');
    return {alt: im.getAttribute('alt') || '', src: (im.getAttribute('src') || '').slice(0, 60),
            figure: f ? Array.from(document.querySelectorAll('figure.normlab-figure')).indexOf(f) : -1,
            caption: cap ? cap.textContent.trim().replace(/\s+/g, ' ') : null};
  })"""

OUTPUTS = """() => Array.from(document.querySelectorAll(
    '.bd-article .cell_output .output.stream, .bd-article .cell_output .output.text_plain'))
  .map(o => (o.querySelector('pre') || o).textContent.trim())"""   # the text, not the copy button's

NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
BARE = re.compile(rf"^(?:{NUMBER}|\[.*\]|\(.*\)|array\(.*\)|np\.float\d*\(.*\))$", re.S)
PATHLIKE = re.compile(r"\.(png|jpe?g|svg|gif|webp)\b|^[\w./\\-]+$", re.I)


def _chapter_number(path: str) -> int:
    return int(re.search(r"notebooks/(\d+)_", path).group(1))


@pytest.fixture(scope="module")
def chapter_pages(browser, site):  # noqa: F811
    got = {}

    def read(path):
        if path not in got:
            ctx, page, log = open_page(browser, site + path)
            try:
                got[path] = {"first": page.evaluate(FIRST_UNDER_TITLE),
                             "figures": page.evaluate(FIGURES), "outputs": page.evaluate(OUTPUTS)}
            finally:
                ctx.close()
        return got[path]

    return read


@pytest.mark.parametrize("path", CHAPTERS)
def test_key_ideas_box_first_under_the_title(chapter_pages, path):
    first = chapter_pages(path)["first"]
    assert first is not None, f"{path}: nothing under the title"
    assert "admonition" in first["cls"].split() and first["title"] == "Key ideas", (
        f"{path}: the first thing under the title is <{first['tag']} class='{first['cls']}'> "
        f"({first['title'] or first['text']!r}), not a 'Key ideas' box")


@pytest.mark.parametrize("path", CHAPTERS)
def test_every_figure_is_numbered_captioned_and_described(chapter_pages, path):
    figures = chapter_pages(path)["figures"]
    n = _chapter_number(path)
    assert figures, f"{path}: no figures"
    bad, numbers = [], []
    for f in figures:
        where = f"figure with src {f['src']!r}"
        if f["figure"] < 0:
            bad.append(f"{where}: not inside a <figure class='normlab-figure'>")
            continue
        m = re.match(rf"Figure {n}\.(\d+)\b", f["caption"] or "")
        if not m:
            bad.append(f"{where}: caption {str(f['caption'])[:50]!r} does not start 'Figure {n}.k'")
        else:
            numbers.append((f["figure"], int(m.group(1))))
        alt = f["alt"].strip()
        if not alt or PATHLIKE.search(alt) or len(alt.split()) < 3:
            bad.append(f"{where}: alt text {alt[:60]!r} does not describe the figure")
    assert not bad, f"{path}: {len(bad)} problems:\n" + "\n".join(bad[:15])
    ks = [k for _, k in sorted(set(numbers))]
    assert ks == sorted(set(ks)), f"{path}: figure numbers not increasing down the page: {ks}"


@pytest.mark.parametrize("path", CHAPTERS)
def test_no_bare_number_or_list_output(chapter_pages, path):
    outputs = chapter_pages(path)["outputs"]
    bare = [o[:80] for o in outputs if BARE.match(o)]
    assert not bare, f"{path}: bare outputs on the page: {bare}"


def test_bare_output_rule_catches_the_known_cases():
    for text in ("48.06640625", "45.12534737586975", "[0.1, 0.31622776601683794, 1.0]", "(3, 4)",
                 "array([1., 2.])", "-1e-05"):
        assert BARE.match(text), text
    for text in ("usable learning rates: [0.1, 0.3]", "relative error 3.2e-16", "PASS"):
        assert not BARE.match(text), text


# ---- the notebooks' sources: what a reader must not see twice, or see at all -------------------
# (reader findings R1, R3, R4). The rules hold book-wide, and every chapter is checked.

import ast  # noqa: E402
import importlib  # noqa: E402

TAUGHT = NOTEBOOKS
HIDDEN_INPUT = {"remove-input", "remove-cell"}
# where-to-look verbs: a "What to notice" line points the eye, it does not say what happens
LOOK = ("Watch", "Compare", "Follow", "Keep", "Look", "Move", "Read", "Set")
ASCII_MATHS = re.compile(r"\|\||sqrt\(|\w\^\d|\beta\b|\bsigma_B\b|\bmu_B\b")


def _code_cells(nb_path):
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    for k, c in enumerate(nb["cells"]):
        if c["cell_type"] == "code":
            yield k, "".join(c["source"]), set(c["metadata"].get("tags", []))


def _figure_calls(src: str):
    """The ``show.figure(fig, number, caption, alt)`` calls of a cell's source: (number, caption),
    the caption's literal text (an f-string's fixed parts)."""
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "show.figure" and len(node.args) > 2:
            cap = node.args[2]
            parts = [cap] if isinstance(cap, ast.Constant) else getattr(cap, "values", [])
            text = "".join(p.value for p in parts if isinstance(p, ast.Constant) and isinstance(p.value, str))
            yield ast.unparse(node.args[1]), text


@pytest.mark.parametrize("nb", TAUGHT, ids=[n.stem for n in TAUGHT])
def test_a_cell_holding_a_caption_shows_no_input(nb):
    """R3: the caption is printed under the figure; the code that holds it would show it twice."""
    shown = [f"cell {k} (Figure {num})" for k, src, tags in _code_cells(nb)
             for num, cap in _figure_calls(src) if cap and not tags & HIDDEN_INPUT]
    assert not shown, f"{nb.stem}: caption text shown in a code cell's input: {shown}"


@pytest.mark.parametrize("nb", TAUGHT, ids=[n.stem for n in TAUGHT])
def test_no_visible_cell_shows_glue(nb):
    """R4: ``glue`` (the website's bookkeeping) is imported and called only in hidden cells."""
    shown = [k for k, src, tags in _code_cells(nb)
             if re.search(r"\bglue\b", src) and not tags & HIDDEN_INPUT and "setup" not in tags]
    assert not shown, f"{nb.stem}: cells {shown} show `glue` to the reader"


def test_the_source_rules_catch_the_known_cases():
    src = 'x = 1\nshow.figure(f, "3.1", f"Norm of v: ||v|| at {x}", "alt")'
    assert list(_figure_calls(src)) == [("'3.1'", "Norm of v: ||v|| at ")]
    assert ASCII_MATHS.search("the prediction sqrt(1 + c^2)") and ASCII_MATHS.search("eta g^2")
    assert not ASCII_MATHS.search("the prediction \u221a(1 + c\u00b2), a beta distribution")


def _explorables(chapter: int):
    mod = importlib.import_module(f"normlab.ch{chapter}.explorables")
    return {name: make() for name, make in mod.EXPLORABLES.items()}


@pytest.mark.parametrize("chapter", [int(n.stem[:2]) for n in TAUGHT])
def test_what_to_notice_says_where_to_look(chapter):
    """R1: the line sits under a predict question; it names where to look, not the answer."""
    for name, ex in _explorables(chapter).items():
        assert ex.notice.split()[0] in LOOK, (
            f"ch{chapter} {name}: 'What to notice' should start with where to look "
            f"({', '.join(LOOK)}), not say what happens: {ex.notice!r}")


@pytest.mark.parametrize("nb", TAUGHT, ids=[n.stem for n in TAUGHT])
def test_captions_write_maths_as_symbols_or_words(nb):
    """A caption is plain text on every edition: ``||v||``, ``sqrt(..)``, ``eta`` or ``x^2`` in it
    reads as code; ‖v‖, √, η, x² (or words) do not."""
    chapter = int(nb.stem[:2])
    caps = [(f"Figure {num}", cap) for _, src, _ in _code_cells(nb) for num, cap in _figure_calls(src)]
    caps += [(f"explorable {n}", ex.caption) for n, ex in _explorables(chapter).items()]
    bad = [(where, ASCII_MATHS.search(cap).group()) for where, cap in caps if ASCII_MATHS.search(cap)]
    assert not bad, f"{nb.stem}: ASCII maths in captions: {bad}"
