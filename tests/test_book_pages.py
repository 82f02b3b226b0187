"""The book-level pages and fixes of issue 17, on the built website (book/_ext/book_pages.py,
book/_ext/bib_style.py, book/_static/normlab-book.js and .css, book/glossary.md, book/intro.md,
book/claims.md): the glossary, the bibliography's labels and links, the launch buttons, HTML ids,
the proof index, the chapter map, the claims filter and its phone layout, and the "scroll
sideways" cue on wide content. The static checks read the HTML files; the others open the pages
in the Chromium of tests/test_browser.py."""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser

import pytest

from conftest import ROOT
from test_browser import PHONE, browser, open_page, pages, site  # noqa: F401 (fixtures)

PROOF_KINDS = ("Definition", "Theorem", "Lemma", "Proposition", "Corollary", "Conjecture",
               "Axiom", "Example", "Remark", "Algorithm", "Criterion", "Property",
               "Observation", "Assumption", "Notation")


class _Collect(HTMLParser):
    """Every id, and the tags and attributes asked for, of one HTML file."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(a["id"])
        self.tags.append((tag, a))


def parse(path):
    c = _Collect()
    c.feed(path.read_text(encoding="utf-8"))
    return c


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def site_html_files(built_book):
    return sorted(p for p in built_book.rglob("*.html")
                  if not p.relative_to(built_book).parts[0].startswith("_"))


# ---- static checks ------------------------------------------------------------------------------

def test_glossary_defines_at_least_25_terms(built_book):
    html = (built_book / "book" / "glossary.html").read_text()
    gloss = html[html.index('class="simple glossary"'):]
    gloss = gloss[:gloss.index("</dl>")]
    definitions = gloss.count("<dd>")
    terms = re.findall(r'<dt id="term-([^"]+)"', gloss)
    assert definitions >= 25, f"the glossary defines {definitions} terms (at least 25)"
    assert len(terms) >= definitions, "a glossary entry without a linkable term"
    for needed in ("internal-covariate-shift", "deep-linear-network", "Fisher-information",
                   "natural-gradient", "effective-learning-rate", "scale-invariance"):
        assert needed in terms, f"the glossary has no term {needed!r}: {terms}"
    # the introduction links a first use into it
    intro = (built_book / "book" / "intro.html").read_text()
    assert 'href="glossary.html#term-internal-covariate-shift"' in intro


def test_no_page_repeats_an_html_id(built_book):
    found = {}
    for page in site_html_files(built_book):
        twice = {i: n for i, n in Counter(parse(page).ids).items() if n > 1}
        if twice:
            found[page.relative_to(built_book).as_posix()] = twice
    assert not found, f"ids used more than once on a page: {found}"
    # the control: sphinx-proof and sphinx-exercise would repeat these on every chapter page
    ch1 = (built_book / "notebooks" / "01_batch_norm.html").read_text()
    assert ch1.count("proof-content") > 1 and 'id="proof-content"' not in ch1


def test_launch_button_only_on_notebook_pages(built_book):
    for path in pages():
        html = (built_book / path).read_text()
        is_notebook = (ROOT / path).with_suffix(".ipynb").exists()
        has_launch = "launch-buttons" in html or "colab.research.google.com" in html
        assert has_launch == is_notebook, (
            f"{path}: {'no' if is_notebook else 'a'} launch button on a "
            f"{'notebook' if is_notebook else 'page that is not a notebook'}")


def test_bibliography_labels_are_author_year_and_link_the_papers(built_book):
    html = (built_book / "book" / "bibliography.html").read_text()
    entries = re.findall(r'<div class="citation"[^>]*>(.*?)</div>', html, re.S)
    assert len(entries) >= 7, f"{len(entries)} bibliography entries"
    for e in entries:
        label = text_of(re.search(r'<span class="label">(.*?)</span></span>', e, re.S).group(1))
        label = label.strip("[] ")
        assert re.fullmatch(r"((van|von|de|der|le) )*[A-Z][^\d\[\]]+ (et al\. )?\d{4}[a-z]?", label.replace("et al. ", "et al. ")), \
            f"bibliography label {label!r} is not 'Author(s) year'"
        assert not re.fullmatch(r"[A-Z]{2,}[a-z]*\d{2}", label), f"an alpha label: {label}"
        assert re.search(r'<a class="reference external" href="https?://', e), \
            f"{label}: the entry has no link to the paper"
    labels = [text_of(m) for m in re.findall(r'<span class="label">(.*?)</span></span>', html, re.S)]
    assert any("Santurkar et al. 2018" in x for x in labels), labels
    # in the chapters a citation reads (Author, year)
    ch5 = text_of((built_book / "notebooks" / "05_smoothing.html").read_text())
    assert "(Santurkar et al., 2018)" in ch5 or "Santurkar et al. (2018)" in ch5
    assert not re.search(r"\[[A-Z]{3,}\w*\d{2}\]", ch5), "an alpha citation label in chapter 5"


def test_proof_index_lists_titles(built_book):
    html = (built_book / "prf-prf.html").read_text()
    links = re.findall(r'<a href="([^"#]+)#([^"]+)"><code class="xref">(.*?)</code></a>', html, re.S)
    assert len(links) >= 10, f"only {len(links)} entries in the proof index"
    for page, anchor, name in links:
        name = text_of(name)
        assert name != anchor and not re.fullmatch(r"[a-z]+(-[a-z0-9]+)+", name), \
            f"the proof index shows the label {name!r}"
        assert re.match(rf"({'|'.join(PROOF_KINDS)}) \d+(\.\d+)? \(.+\)$", name), \
            f"proof index entry {name!r} is not 'Kind N (title)'"
        target = (built_book / page).read_text()
        assert f'id="{anchor}"' in target, f"{name}: no #{anchor} on {page}"
    # grouped by chapter, in the book's order
    heads = [text_of(h) for h in re.findall(r'<tr class="cap" id="cap-[^" ]+"><td></td><td>(.*?)</td>', html, re.S)]
    assert heads and heads == sorted(heads, key=lambda h: int(re.search(r"\d+", h).group())), heads


def test_introduction_has_the_chapter_map_and_no_repeated_phrase(built_book):
    html = (built_book / "book" / "intro.html").read_text()
    text = text_of(html)
    assert "reproducibility report, the book's reproducibility report" not in text.replace("’", "'")
    fig = html[html.index('<figure class="normlab-chapter-map"'):]
    fig = fig[:fig.index("</figure>")]
    assert 'role="img"' in fig and "<title" in fig and "<figcaption" in fig
    # the map in words: every chapter page is linked, and chapter 4 says it needs chapter 3
    for path in pages():
        if path.startswith("notebooks/"):
            assert f'href="../{path}"' in html, f"the chapter list does not link {path}"
    assert re.search(r"Chapter 4.{0,200}needs Chapter 1 and Chapter 3", text)
    assert 'href="../book.pdf"' in html, "the introduction does not link the PDF edition"


# ---- in the browser -------------------------------------------------------------------------

ROWS = """() => Array.from(document.querySelectorAll('table.normlab-claims tbody tr')).map(tr => ({
  id: tr.cells[0].textContent.trim(), shown: !tr.hidden && tr.offsetParent !== null,
  verdict: (tr.dataset.verdict || tr.querySelector('.nl-verdict').textContent).trim()}))"""


def test_claims_filter_by_chapter_and_verdict(browser, site):  # noqa: F811
    ctx, page, log = open_page(browser, site + "book/claims.html")
    try:
        rows = page.evaluate(ROWS)
        assert len(rows) > 20 and all(r["shown"] for r in rows), "the table does not start whole"
        page.select_option("#nl-filter-chapter", "2")
        got = page.evaluate(ROWS)
        shown = [r["id"] for r in got if r["shown"]]
        assert shown and all(i.startswith("2.") for i in shown), f"chapter 2 shows {shown}"
        assert len(shown) == sum(r["id"].startswith("2.") for r in rows)
        assert f"Showing {len(shown)} of {len(rows)}" in page.inner_text(".nl-filter-status")
        # the summary line above the table counts the rows shown, not the whole table
        summary = page.inner_text(".nl-claims-summary")
        assert summary.startswith(f"{len(shown)} of {len(rows)} claims (chapter 2): check "), summary
        verdicts = Counter(r["verdict"] for r in got if r["shown"])
        assert all(f"{n} {v}" in summary for v, n in verdicts.items()), (summary, verdicts)
        # the verdict filter, by keyboard: focus the select, arrow down to the first verdict
        page.select_option("#nl-filter-chapter", "")
        page.focus("#nl-filter-verdict")
        page.keyboard.press("ArrowDown")
        verdict = page.eval_on_selector("#nl-filter-verdict", "s => s.value")
        assert verdict, "the arrow key did not choose a verdict"
        got = page.evaluate(ROWS)
        assert all(r["verdict"] == verdict for r in got if r["shown"])
        assert sum(r["shown"] for r in got) == sum(r["verdict"] == verdict for r in rows) > 0
        page.select_option("#nl-filter-verdict", "")
        assert all(r["shown"] for r in page.evaluate(ROWS))
        assert page.inner_text(".nl-claims-summary").startswith(f"{len(rows)} claims: check "), \
            "the summary does not return to the whole table"
        errors = [(t, m) for t, m in log["console"] if t in ("error", "warning", "pageerror")]
        assert not errors, errors
    finally:
        ctx.close()


CARD = """() => {
  const tr = document.querySelector('table.normlab-claims tbody tr');
  const r = e => e.getBoundingClientRect();
  const claim = tr.cells[1], verdict = tr.querySelector('.nl-verdict'), check = tr.querySelector('.nl-pass, .nl-fail');
  return {claim_top: r(claim).top, verdict_top: r(verdict).top, check_top: r(check).top,
          verdict_right: r(verdict).right, width: document.documentElement.clientWidth,
          label: getComputedStyle(claim, '::before').content};
}"""


def test_claims_table_on_a_phone_shows_the_verdict_first(browser, site):  # noqa: F811
    ctx, page, log = open_page(browser, site + "book/claims.html", viewport=PHONE,
                               is_mobile=True, has_touch=True)
    try:
        got = page.evaluate(CARD)
        assert got["verdict_top"] < got["claim_top"] and got["check_top"] < got["claim_top"], got
        assert got["verdict_right"] <= got["width"], f"the verdict is off-screen: {got}"
        assert "claim" in got["label"], f"the claim has no label on a phone: {got['label']}"
    finally:
        ctx.close()


HINTS = """() => Array.from(document.querySelectorAll(
    ".bd-article mjx-container[display='true'], .bd-article .cell_output .output.text_html, " +
    ".bd-article .pst-scrollable-table-container, .bd-article div.highlight > pre, .bd-article .cell_output pre, " +
    ".bd-article .normlab-figure-img"))
  .filter(b => !b.closest('.normlab-explorable, .normlab-claims-scroll') && b.clientWidth > 0)
  .map(b => [b, (b.tagName === 'MJX-CONTAINER' && b.parentElement.matches('div.math')) ? b.parentElement : b])
  .map(([b, a]) => ({wide: b.scrollWidth > b.clientWidth + 1,
              hint: !!(a.nextElementSibling && a.nextElementSibling.classList.contains('nl-scroll-hint')),
              what: b.tagName + ' ' + (b.textContent || '').trim().slice(0, 40)}))"""

WIDEN = """() => {
  const pre = document.querySelector('.bd-article div.highlight > pre');
  pre.textContent = 'x = ' + '1 + '.repeat(200) + '1';
  window.dispatchEvent(new Event('resize'));
}"""


@pytest.mark.parametrize("path", ["notebooks/01_batch_norm.html", "book/notation.html"])
def test_wide_content_says_that_it_scrolls(browser, site, path):  # noqa: F811
    ctx, page, log = open_page(browser, site + path, viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
        page.wait_for_timeout(300)
        boxes = page.evaluate(HINTS)
        wrong = [b for b in boxes if b["wide"] != b["hint"]]
        assert boxes and not wrong, f"{path}: boxes whose hint does not match their width: {wrong}"
        if page.locator(".bd-article div.highlight > pre").count():
            page.evaluate(WIDEN)  # the control: a code line made too long gets its hint
            page.wait_for_timeout(400)
            assert any(b["wide"] and b["hint"] and b["what"].startswith("PRE x = 1 +")
                       for b in page.evaluate(HINTS)), "a long code line got no hint"
    finally:
        ctx.close()


FITS = """() => Array.from(document.querySelectorAll('.normlab-claims-scroll')).map(box => {
  const art = document.querySelector('.bd-article').getBoundingClientRect();
  const rows = Array.from(box.querySelectorAll('tbody tr')).filter(tr => !tr.hidden).slice(0, 8);
  const cells = rows.flatMap(tr => Array.from(tr.cells));
  return {overflow: box.scrollWidth - box.clientWidth,
          outside: cells.filter(td => td.getBoundingClientRect().right > art.right + 1).length,
          tallest: Math.max(...rows.map(tr => tr.getBoundingClientRect().height)),
          screen: window.innerHeight};
})"""


@pytest.mark.parametrize("path", ["notebooks/01_batch_norm.html", "book/claims.html"])
def test_claims_table_fits_the_text_column_on_a_desktop(browser, site, path):  # noqa: F811
    """Reader R2: as a seven-column table the claims were cut off at the right edge of the text
    column (a control's sentence did not wrap) and a row could be taller than the screen; as
    cards every cell lies inside the column and each claim fits on one screen."""
    ctx, page, log = open_page(browser, site + path, viewport={"width": 1280, "height": 900})
    try:
        boxes = page.evaluate(FITS)
        assert boxes, f"{path}: no claims table"
        for b in boxes:
            assert b["overflow"] <= 1 and b["outside"] == 0, f"{path}: the claims table is cut off: {b}"
            assert b["tallest"] < b["screen"], f"{path}: a claim is taller than the screen: {b}"
    finally:
        ctx.close()
