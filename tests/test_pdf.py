"""The PDF edition (``python3 tasks.py pdf``, tools/book_pdf.py), printed from the built website by
Chromium and read back with pypdf: every page of the book in the order of the table of contents,
with a contents page and page numbers; every chapter's title; math typeset (no TeX source left in
the text); at least one figure (an image) in every chapter."""

from __future__ import annotations

import re
import unicodedata

import pytest

from conftest import ROOT

RAW_TEX = ("\\frac", "$$", "\\mathbf", "\\begin{", "\\hat", "\\sigma", "\\mathcal")


@pytest.fixture(scope="module")
def pdf(built_book, tmp_path_factory):
    """(reader, the pages' titles and start pages) of the PDF printed from the built site."""
    import sys

    sys.path.insert(0, str(ROOT))
    from pypdf import PdfReader

    from tools.book_pdf import build_pdf, page_title, toc_pages

    out = build_pdf(built_book, tmp_path_factory.mktemp("pdf") / "book.pdf", say=lambda m: None)
    reader = PdfReader(out)
    outline = [(o.title, reader.get_destination_page_number(o)) for o in reader.outline]
    titles = [page_title(built_book / p) for _, p in toc_pages()]
    return reader, outline, titles


def _text(reader, first, last) -> str:
    return " ".join(reader.pages[i].extract_text() or "" for i in range(first, last))


def _images(obj, seen=None) -> int:
    """Image XObjects on a page or in a form XObject, counted through nested forms."""
    seen = set() if seen is None else seen
    res = obj.get("/Resources")
    if res is None:
        return 0
    res = res.get_object()
    xobjects = res.get("/XObject")
    if xobjects is None:
        return 0
    n = 0
    for ref in xobjects.get_object().values():
        key = getattr(ref, "idnum", id(ref))
        if key in seen:
            continue
        seen.add(key)
        x = ref.get_object()
        if x.get("/Subtype") == "/Image":
            n += 1
        elif x.get("/Subtype") == "/Form":
            n += _images(x, seen)
    return n


def _spans(reader, outline):
    """(title, first page, end page) of every page of the book, from the PDF's bookmarks."""
    starts = [(t, p) for t, p in outline if t != "Contents"]
    ends = [p for _, p in starts[1:]] + [len(reader.pages)]
    return [(t, p, e) for (t, p), e in zip(starts, ends)]


def test_every_page_of_the_book_in_order(pdf):
    reader, outline, titles = pdf
    assert outline[0] == ("Contents", 0)
    assert [t for t, _ in outline[1:]] == titles, "the PDF's pages are not the book's, in order"
    starts = [p for _, p in outline[1:]]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    # the contents page lists every page with the page number it starts on
    contents = " ".join(reader.pages[0].extract_text().split())
    for (title, start) in outline[1:]:
        short = " ".join(title.split()[:4])
        assert short in contents, f"{title!r} is not on the contents page"
        assert re.search(rf"{re.escape(short)}.*?\b{start + 1}\b", contents), \
            f"{title!r}: page {start + 1} not on the contents page"


def test_every_chapter_title_is_in_the_pdf(pdf):
    reader, outline, titles = pdf
    chapters = [t for t in titles if t.startswith("Chapter ")]
    assert len(chapters) >= 5
    for title, first, end in _spans(reader, outline):
        if title in chapters:
            # a title broken over two lines at a hyphen comes back as "naive- normalization", and
            # the printed ligatures as single characters ("eﬀective"): NFKC spells them out
            text = unicodedata.normalize("NFKC", _text(reader, first, min(first + 2, end)))
            text = " ".join(text.split()).replace("- ", "-")
            assert title in text, f"{title!r} is not printed on its first pages"


def test_pages_are_numbered(pdf):
    reader, outline, titles = pdf
    n = len(reader.pages)
    for i in (1, n // 2, n - 1):
        words = (reader.pages[i].extract_text() or "").split()
        assert str(i + 1) in words, f"page {i + 1} does not show its number"


def test_no_tex_source_in_the_pdf(pdf):
    reader, outline, titles = pdf
    text = _text(reader, 0, len(reader.pages))
    assert len(text) > 100_000, "the PDF has almost no text"
    found = {t: text.count(t) for t in RAW_TEX if t in text}
    assert not found, f"TeX source in the PDF's text: {found}"


def test_every_chapter_has_a_figure(pdf):
    reader, outline, titles = pdf
    for title, first, end in _spans(reader, outline):
        if title.startswith("Chapter "):
            n = sum(_images(reader.pages[i]) for i in range(first, end))
            assert n >= 1, f"{title}: no figure in its {end - first} pages"
