"""The PDF edition of the book, printed from the built website by Chromium (no LaTeX).

    python3 tasks.py pdf          # builds the website if needed, then runs this
    .venv/bin/python tools/book_pdf.py [--html _build/html] [--out _build/pdf/book.pdf]

Every page of the table of contents (``_toc.yml``), in its order, is opened from a local web
server in the Chromium the browser tests use (``/usr/bin/chromium``, driven by Playwright) and
printed with ``page.pdf`` after MathJax has typeset it. The print styles
(``book/_static/normlab-book.css``, ``@media print``) hide the navigation, the sliders and the
"scroll sideways" hints; an explorable prints at its default frame with its caption and the values
it shows. Anything still wider than the printed column (a display equation, an output table, a
figure) is shrunk until it fits, so nothing is cut off; code lines wrap. Links to other pages of
the book lose their (local server) address; links to the web stay.

The pages are then merged with ``pypdf`` behind a generated contents page that lists every page
with the number it starts on, page numbers are stamped at the foot of every page (a second, tiny
Chromium print of the numbers alone, laid over the pages), and the PDF gets bookmarks (an outline)
for every page. Nothing leaves the machine: any request that is not local is aborted.

The PDF shows what the website shows, solutions included (folded solutions print unfolded). For a
student handout, print the student edition instead:
``python3 tasks.py build --student`` then
``.venv/bin/python tools/book_pdf.py --html _build/student/html --out _build/pdf/student.pdf``.
"""

from __future__ import annotations

import argparse
import functools
import html
import http.server
import io
import os
import re
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
# The Chromium the browser tests use; NORMLAB_CHROMIUM names another Chromium or Chrome (a CI runner's).
CHROMIUM = os.environ.get("NORMLAB_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAPER = {"format": "A4", "margin": {"top": "16mm", "bottom": "18mm", "left": "15mm", "right": "15mm"}}
# The printed column of A4 (210 mm) without its margins, in CSS px (96 per inch).
COLUMN_PX = round((210 - 30) / 25.4 * 96)

MATHJAX_DONE = """() => (window.MathJax && MathJax.startup && MathJax.startup.promise)
    ? MathJax.startup.promise.then(() => true) : false"""

# Ready the page for paper: shrink what is wider than the column, wrap code, drop local links.
PREPARE = r"""(column) => {
  const shrunk = [];
  document.querySelectorAll("pre").forEach(p => { p.style.whiteSpace = "pre-wrap"; p.style.overflowWrap = "anywhere"; });
  const article = document.querySelector(".bd-article") || document.body;
  const width = Math.min(column, article.clientWidth || column);
  const sel = ["mjx-container[display='true']", ".cell_output .output", ".pst-scrollable-table-container",
               ".normlab-claims-scroll", "table", "img", ".normlab-explorable", "figure", "svg"].join(",");
  for (const el of article.querySelectorAll(sel)) {
    if (el.closest("[data-nl-shrunk]")) continue;
    const w = Math.max(el.scrollWidth, el.getBoundingClientRect().width);
    if (w > width + 1) {
      const z = Math.max(0.3, (width - 2) / w);
      el.style.zoom = z.toFixed(3);
      el.setAttribute("data-nl-shrunk", z.toFixed(2));
      shrunk.push(el.tagName.toLowerCase() + " x" + z.toFixed(2));
    }
  }
  for (const a of document.querySelectorAll("a[href]")) {
    const u = new URL(a.href, location.href);
    if (u.origin === location.origin && !(u.pathname === location.pathname && u.hash)) a.removeAttribute("href");
  }
  return shrunk;
}"""


def toc_pages(root: Path = ROOT) -> list[tuple[str, str]]:
    """(part caption, page path relative to the site) for every page, in the book's order."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    pages = [("", toc["root"] + ".html")]
    for part in toc.get("parts", []):
        for ch in part.get("chapters", []):
            pages.append((part.get("caption", ""), ch["file"] + ".html"))
    return pages


def page_title(html_file: Path) -> str:
    text = html_file.read_text(encoding="utf-8", errors="replace")
    m = re.search(r"<h1[^>]*>(.*?)</h1>", text, re.S)
    raw = m.group(1) if m else re.search(r"<title>(.*?)</title>", text, re.S).group(1)
    raw = re.sub(r"<a class=\"headerlink\".*?</a>", "", raw, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", raw)).replace("#", "").split())


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def _is_local(url: str) -> bool:
    p = urlparse(url)
    return p.scheme in ("data", "blob", "about") or p.hostname in ("127.0.0.1", "localhost")


def print_page(browser, url: str) -> tuple[bytes, list[str]]:
    ctx = browser.new_context(viewport={"width": COLUMN_PX + 2, "height": 1100})
    ctx.add_init_script("localStorage.setItem('mode', 'light');")
    ctx.route(lambda u: not _is_local(u), lambda r: r.abort())
    page = ctx.new_page()
    try:
        page.goto(url, wait_until="networkidle", timeout=180_000)
        page.emulate_media(media="print")
        page.evaluate(MATHJAX_DONE)
        page.wait_for_timeout(200)
        shrunk = page.evaluate(PREPARE, COLUMN_PX)
        pdf = page.pdf(print_background=True, **PAPER)
        return pdf, shrunk
    finally:
        ctx.close()


def _contents_html(title: str, entries: list[tuple[str, str, int]]) -> str:
    rows, part = [], None
    for caption, name, start in entries:
        if caption != part and caption:
            rows.append(f"<li class='part'>{html.escape(caption)}</li>")
        part = caption
        rows.append(f"<li><span class='t'>{html.escape(name)}</span><span class='d'></span>"
                    f"<span class='n'>{start}</span></li>")
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
body {{ font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #111; }}
h1 {{ font-size: 24pt; margin: 0 0 4mm; }} .sub {{ color: #444; margin: 0 0 10mm; }}
h2 {{ font-size: 15pt; margin: 0 0 4mm; }}
ul {{ list-style: none; padding: 0; margin: 0; font-size: 11pt; }}
li {{ display: flex; align-items: baseline; margin: 1.6mm 0; }}
li.part {{ font-weight: bold; margin-top: 5mm; }}
.t {{ flex: 0 1 auto; }} .d {{ flex: 1 1 auto; border-bottom: 1px dotted #777; margin: 0 2mm; }}
.n {{ flex: 0 0 auto; }}
</style></head><body><h1>{html.escape(title)}</h1>
<p class="sub">The PDF edition of the website, printed page by page; the explorables are shown at
their default setting (the website and the notebooks let the sliders move).</p>
<h2>Contents</h2><ul>{''.join(rows)}</ul></body></html>"""


def _numbers_html(first: int, count: int) -> str:
    pages = "".join(f"<div class='p'><span>{first + i}</span></div>" for i in range(count))
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
@page {{ size: A4; margin: 0; }} html, body {{ margin: 0; padding: 0; }}
.p {{ height: 297mm; position: relative; break-after: page; overflow: hidden; }}
.p span {{ position: absolute; bottom: 7mm; left: 0; right: 0; text-align: center;
  font: 9pt "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #333; }}
</style></head><body>{pages}</body></html>"""


def _render_html(browser, markup: str, **pdf_options) -> bytes:
    ctx = browser.new_context()
    ctx.route(lambda u: not _is_local(u), lambda r: r.abort())
    page = ctx.new_page()
    try:
        page.set_content(markup, wait_until="load")
        return page.pdf(print_background=True, **pdf_options)
    finally:
        ctx.close()


def build_pdf(html_dir: Path, out: Path, say=print) -> Path:
    from playwright.sync_api import sync_playwright
    from pypdf import PdfReader, PdfWriter

    if not any(html_dir.glob("**/*.html")):
        raise SystemExit(f"no built website in {html_dir}: run `python3 tasks.py build` first")
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"no Chromium at {CHROMIUM}: `apt-get install -y chromium`, or set "
                         "NORMLAB_CHROMIUM to a Chromium or Chrome executable")
    pages = [(cap, p) for cap, p in toc_pages() if (html_dir / p).exists()]
    missing = [p for _, p in toc_pages() if not (html_dir / p).exists()]
    if missing:
        raise SystemExit(f"pages of the table of contents missing from {html_dir}: {missing}")
    titles = [page_title(html_dir / p) for _, p in pages]
    book_title = titles[0]

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                          functools.partial(_Quiet, directory=str(html_dir)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    site = f"http://127.0.0.1:{srv.server_address[1]}/"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                printed = []
                for (cap, path), title in zip(pages, titles):
                    pdf, shrunk = print_page(browser, site + path)
                    n = len(PdfReader(io.BytesIO(pdf)).pages)
                    printed.append(pdf)
                    say(f"{path}: {n} pages" + (f" (shrunk to fit: {', '.join(shrunk)})" if shrunk else ""))
                counts = [len(PdfReader(io.BytesIO(p)).pages) for p in printed]
                # the contents page(s) come first: their own length moves every start page
                front = 1
                for _ in range(5):
                    starts, at = [], front + 1
                    for n in counts:
                        starts.append(at)
                        at += n
                    contents = _render_html(browser, _contents_html(
                        book_title, [(c, t, s) for (c, _), t, s in zip(pages, titles, starts)]), **PAPER)
                    pages_front = len(PdfReader(io.BytesIO(contents)).pages)
                    if pages_front == front:
                        break
                    front = pages_front
                total = front + sum(counts)
                numbers = _render_html(browser, _numbers_html(1, total), format="A4",
                                       margin={"top": "0", "bottom": "0", "left": "0", "right": "0"})
            finally:
                browser.close()
    finally:
        srv.shutdown()

    writer = PdfWriter()
    for part in [contents] + printed:
        writer.append(PdfReader(io.BytesIO(part)))
    stamps = PdfReader(io.BytesIO(numbers))
    assert len(stamps.pages) == total == len(writer.pages), (len(stamps.pages), total, len(writer.pages))
    for i, pg in enumerate(writer.pages):
        if i >= front:  # the contents page carries no number
            pg.merge_page(stamps.pages[i])
    writer.add_outline_item(title="Contents", page_number=0)
    for title, start in zip(titles, starts):
        writer.add_outline_item(title=title, page_number=start - 1)
    writer.add_metadata({"/Title": book_title, "/Creator": "tools/book_pdf.py (Chromium, pypdf)"})
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as f:
        writer.write(f)
    say(f"{out}: {total} pages")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    ap.add_argument("--out", type=Path, default=ROOT / "_build" / "pdf" / "book.pdf")
    a = ap.parse_args(argv)
    build_pdf(a.html, a.out, say=lambda m: print(f"[pdf] {m}", flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
