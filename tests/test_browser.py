"""The built website in headless Chromium (Debian's, driven by Playwright), read as a reader reads
it: every page loads with no console error and no request leaving the machine; after MathJax has
typeset it, no TeX source is left in the text and MathJax reports no error; the setup cell is not
on the page; axe-core finds no serious or critical accessibility violation, in light and in dark
mode; at a phone's width (390 px) nothing scrolls the page sideways or is cut off, and the
explorables' sliders are touch targets that respond to a tap; in dark mode figures and explorables
sit on a light card; and every explorable moves with the keyboard and changes its figure.

One browser serves the module; pages come from a local http.server, and every request that is not
local is aborted (and fails the test that made it)."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

import pytest

from conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def pages() -> list[str]:
    import re

    files = re.findall(r"file:\s*(\S+)", (ROOT / "_toc.yml").read_text())
    root = re.search(r"root:\s*(\S+)", (ROOT / "_toc.yml").read_text()).group(1)
    return [f"{root}.html"] + [f"{f}.html" for f in files]


#: Pages Sphinx writes besides the book's own: the general index, the search page and
#: sphinx-proof's index of theorems. ``index.html`` only redirects to the root page.
GENERATED = ["genindex.html", "search.html", "prf-prf.html"]
REDIRECTS = ["index.html"]


def site_pages() -> list[str]:
    """Every page of the website (``test_every_page_of_the_site_is_read`` keeps this complete)."""
    return pages() + GENERATED


CHAPTERS = [p for p in pages() if p.startswith("notebooks/")]
PHONE = {"width": 390, "height": 844}


def is_local(url: str) -> bool:
    p = urlparse(url)
    return p.scheme in ("data", "blob", "about") or p.hostname in ("127.0.0.1", "localhost")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def site(built_book):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                          functools.partial(_Quiet, directory=str(built_book)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/"
    srv.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists() or shutil.which("chromium"), (
        "Debian's chromium is needed for the browser tests: apt-get install -y chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def open_page(browser, url, mode=None, **context_options):
    """Load ``url`` in a fresh context; ``mode`` ("light"/"dark") is the theme's stored choice,
    set before any script of the page runs, as a returning reader's would be."""
    ctx = browser.new_context(**context_options)
    if mode:
        ctx.add_init_script(f"localStorage.setItem('mode', {json.dumps(mode)});")
    log = {"console": [], "external": [], "failed": []}
    # anything non-local is aborted (and recorded), so the test never touches the network
    ctx.route(lambda u: not is_local(u), lambda r: (log["external"].append(r.request.url), r.abort()))
    page = ctx.new_page()
    page.on("console", lambda m: log["console"].append((m.type, m.text)))
    page.on("pageerror", lambda e: log["console"].append(("pageerror", str(e))))
    page.on("requestfailed", lambda r: log["failed"].append(r.url) if is_local(r.url) else None)
    page.goto(url, wait_until="networkidle")
    return ctx, page, log


@pytest.mark.parametrize("path", pages())
def test_page_loads_clean_and_offline(browser, site, path):
    ctx, page, log = open_page(browser, site + path)
    try:
        page.wait_for_timeout(500)
        errors = [(t, m) for t, m in log["console"] if t in ("error", "warning", "pageerror")]
        assert not errors, f"{path}: console errors {errors}"
        assert not log["external"], f"{path}: requests leaving the machine {log['external']}"
        assert not log["failed"], f"{path}: failed local requests {log['failed']}"
        if path.startswith("notebooks/") or path == "book/notation.html":
            page.wait_for_selector("mjx-container", state="attached", timeout=15000)  # the first may sit in a folded box
            assert page.locator("mjx-container").count() > 0, "math was not typeset"
    finally:
        ctx.close()


@pytest.mark.parametrize("path", [p for p in pages() if p.startswith("notebooks/")])
def test_explorables_respond_to_the_keyboard(browser, site, path):
    ctx, page, log = open_page(browser, site + path)
    try:
        boxes = page.locator(".normlab-explorable")
        n = boxes.count()
        assert n >= 1
        for i in range(n):
            box = boxes.nth(i)
            assert box.get_attribute("data-ready") == "1", "the explorable's script did not run"
            img = box.locator("img")
            assert img.get_attribute("alt"), "the figure has no alt text"
            sliders = box.locator("input[type=range]")
            assert sliders.count() >= 1
            for j in range(sliders.count()):
                s = sliders.nth(j)
                label = box.locator(f"label[for='{s.get_attribute('id')}']")
                assert label.count() == 1 and label.inner_text().strip(), "slider without a label"
                before_src, before_frame = img.get_attribute("src"), box.get_attribute("data-frame")
                before_text = s.get_attribute("aria-valuetext")
                s.focus()
                key = "ArrowLeft" if s.input_value() == s.get_attribute("max") else "ArrowRight"
                page.keyboard.press(key)
                assert box.get_attribute("data-frame") != before_frame, "keyboard did not move the slider"
                assert img.get_attribute("src") != before_src, "the figure did not change"
                assert s.get_attribute("aria-valuetext") != before_text
        errors = [(t, m) for t, m in log["console"] if t in ("error", "warning", "pageerror")]
        assert not errors, errors
    finally:
        ctx.close()


# ----- reading a page as a reader does ---------------------------------------------------------
#
# Each page is read once per view (light, dark, phone): loaded, given time for MathJax to finish,
# its solutions unfolded, measured, and closed at once (a chapter page holds hundreds of MB in the
# browser); the tests below judge what was measured.

# Resolves once MathJax has typeset the page (pages without math load no MathJax: false).
MATHJAX_DONE = """() => (window.MathJax && MathJax.startup && MathJax.startup.promise)
    ? MathJax.startup.promise.then(() => true) : false"""

# A reader opens the folded solutions: click every toggle button (sphinx-togglebutton) and open
# every <details>, so that what they show is read and checked too.
OPEN_ALL = """() => {
  document.querySelectorAll("button.toggle-button.toggle-button-hidden").forEach(b => b.click());
  document.querySelectorAll("details").forEach(d => { d.open = true; });
  return document.querySelectorAll(".toggle-hidden").length;
}"""

# TeX source left in the text: every text node outside code, scripts and typeset math.
TEX_LEFT = r"""() => {
  const skip = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "PRE", "CODE", "KBD", "SAMP",
                        "TEXTAREA", "MJX-CONTAINER"]);
  const tex = /\$|\\[A-Za-z]+|\\[{}|()\[\],;!]|[_^]\{/g;
  const found = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    let e = n.parentElement, inside = false;
    for (; e; e = e.parentElement) if (skip.has(e.tagName)) { inside = true; break; }
    if (inside) continue;
    const t = n.textContent;
    for (const m of t.matchAll(tex)) {
      const where = n.parentElement.closest("[id]:not(#proof-content)");
      found.push(`${JSON.stringify(m[0])} in "...${t.slice(Math.max(0, m.index - 60), m.index + 60)
        .replace(/\s+/g, " ")}..." (under #${where ? where.id : "?"})`);
    }
  }
  return found;
}"""

# MathJax's own verdict: error nodes, undefined macros (drawn in red), math left untypeset.
MATH_ERRORS = r"""() => {
  const bad = [];
  document.querySelectorAll("mjx-merror, [data-mjx-error]").forEach(
    e => bad.push("MathJax error: " + (e.getAttribute("data-mjx-error") || e.textContent)));
  if (window.MathJax && MathJax.startup && MathJax.startup.document) {
    for (const item of MathJax.startup.document.math) {
      const mml = MathJax.startup.toMML(item.root);
      if (/<merror|mathcolor="red"/.test(mml)) bad.push("TeX error or unknown macro in: " + item.math);
    }
  }
  document.querySelectorAll("span.math, div.math").forEach(e => {
    if (!e.querySelector("mjx-container")) bad.push("not typeset: " + e.textContent.slice(0, 120));
  });
  return bad;
}"""

# What a reader cannot see: an element that sticks out of a box that clips (overflow hidden) or
# out of the page (past ``width``), unless a box that scrolls sideways holds it. Only the outermost
# such element is reported (not each glyph of a cut-off formula).
CUT_OFF = r"""(width) => {
  const bad = [], reported = new Set(), parent = new Map(), ovx = new Map();
  const ov = e => { if (!ovx.has(e)) ovx.set(e, getComputedStyle(e).overflowX); return ovx.get(e); };
  const box = e => {   // the nearest ancestor whose overflow-x is not visible, or null
    if (parent.has(e)) return parent.get(e);
    const p = e.parentElement;
    const b = (!p || p === document.body) ? null : (ov(p) !== "visible" ? p : box(p));
    parent.set(e, b);
    return b;
  };
  for (const el of document.querySelectorAll("body *")) {
    // MathJax's screen-reader copy is hidden on purpose; a glyph's box (mjx-c) is wider than its
    // ink for accents and italics (a bar over t overhangs by 3 px), so formulas count as a whole
    if (el.tagName === "MJX-C" || el.closest("mjx-assistive-mml")) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    let b = box(el);
    while (b) {   // out through the boxes that the element fits in
      const br = b.getBoundingClientRect();
      if (r.right <= br.right + 2 && r.left >= br.left - 2) b = box(b); else break;
    }
    if (b && (ov(b) === "auto" || ov(b) === "scroll")) continue;   // scrolls in its own box
    if (!b && r.right <= width + 1) continue;
    const cs = getComputedStyle(el);
    if (cs.visibility === "hidden" || cs.position === "fixed") continue;
    reported.add(el);
    if (reported.has(el.parentElement)) continue;
    bad.push(`<${el.tagName.toLowerCase()} class="${el.getAttribute("class") || ""}"> spans x=${
      Math.round(r.left)}..${Math.round(r.right)}, ${b ? "cut off by <" + b.tagName.toLowerCase() +
      ' class="' + (b.getAttribute("class") || "") + '">' : "past the page edge (" + width + " px)"}: ${
      (el.textContent || "").trim().replace(/\s+/g, " ").slice(0, 80)}`);
  }
  return bad;
}"""

SLIDER_LAYOUT = r"""() => Array.from(document.querySelectorAll(".normlab-explorable")).map(box => {
  const b = box.getBoundingClientRect();
  return Array.from(box.querySelectorAll(".nlx-row")).map(row => {
    const s = row.querySelector("input[type=range]"), o = row.querySelector("output"),
          l = row.querySelector("label");
    const rs = s.getBoundingClientRect(), ro = o.getBoundingClientRect(), rl = l.getBoundingClientRect();
    return {id: s.id, height: rs.height, width: rs.width,
            readout: o.textContent, readout_cut: o.scrollWidth > o.clientWidth,
            outside: [rs, ro, rl].some(r => r.left < b.left - 1 || r.right > b.right + 1)};
  });
}).flat()"""

# The colour behind an element: its own background, else the nearest ancestor's (as painted).
BACKGROUNDS = r"""() => {
  const rgb = s => (s.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = c => { c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const behind = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const contrast = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const imgs = Array.from(document.querySelectorAll(".bd-article img")).map(im => ({
    what: (im.closest(".normlab-explorable") ? "explorable " : "") + "img "
          + (im.alt || im.src.slice(0, 60)),
    luminance: lum(behind(im))}));
  const texts = Array.from(document.querySelectorAll(".normlab-explorable")).flatMap(box =>
    Array.from(box.querySelectorAll("strong, label, output, .nlx-note")).map(t => ({
      what: "explorable " + t.tagName.toLowerCase() + " " + JSON.stringify(t.textContent.slice(0, 40)),
      contrast: contrast(rgb(getComputedStyle(t).color), behind(t))})));
  return {imgs, texts};
}"""

INLINE_SCROLLERS = """() => Array.from(document.querySelectorAll("span.math"))
    .filter(e => ["auto", "scroll"].includes(getComputedStyle(e).overflowX))
    .map(e => e.textContent.slice(0, 60))"""

# Every figure's scale on the page (shown width / its own width): matplotlib draws tick labels at
# 10 pt, which is 10 * dpi / 72 px in the image (explorable frames: 80 dpi; static figures: 100).
SWIPE_HINTS = """() => Array.from(document.querySelectorAll('.normlab-explorable')).map(e => {
  const f = e.querySelector('.nlx-frame'), h = e.querySelector('.nlx-swipe');
  return {id: e.id, overflows: f.scrollWidth > f.clientWidth + 1,
          hint: !!h && getComputedStyle(h).display !== 'none'};
})"""

FIGURE_SCALES = r"""() => Array.from(document.querySelectorAll(".bd-article img")).filter(
    im => im.naturalWidth > 200 && !im.closest(".btn")).map(im => ({
  what: (im.closest(".normlab-explorable") ? "explorable frame " : "figure ") + (im.alt || "").slice(0, 50),
  dpi: im.closest(".normlab-explorable") ? 80 : 100,
  scale: im.getBoundingClientRect().width / im.naturalWidth}))"""

PAGE_WIDTHS = """[document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth,
                 document.documentElement.clientWidth]"""


def _axe(page):
    from axe_playwright_python.sync_playwright import Axe

    return Axe().run(page).response["violations"]


def _tap_each_explorable(page) -> list[dict]:
    """Tap the first slider of every explorable near the end it is not at, as a thumb would."""
    taps = []
    boxes = page.locator(".normlab-explorable")
    for i in range(boxes.count()):
        box = boxes.nth(i)
        s = box.locator("input[type=range]").first
        s.scroll_into_view_if_needed()
        bb = s.bounding_box()
        at_max = s.input_value() == s.get_attribute("max")
        before = box.get_attribute("data-frame"), box.locator("img").get_attribute("src")
        x = bb["x"] + bb["width"] * (0.08 if at_max else 0.92)
        page.touchscreen.tap(x, bb["y"] + bb["height"] / 2)
        page.wait_for_timeout(50)
        after = box.get_attribute("data-frame"), box.locator("img").get_attribute("src")
        taps.append({"id": s.get_attribute("id"), "moved": after[0] != before[0],
                     "figure_changed": after[1] != before[1]})
    return taps


VIEWS = {
    "light": dict(mode="light"),
    "dark": dict(mode="dark"),
    "phone": dict(mode="light", viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2),
}


def read_page(browser, url, view) -> dict:
    ctx, page, log = open_page(browser, url, **VIEWS[view])
    try:
        got = {"typeset": page.evaluate(MATHJAX_DONE), "still_folded": page.evaluate(OPEN_ALL)}
        page.wait_for_timeout(100)
        got["theme"] = page.evaluate("document.documentElement.dataset.theme")
        got["has_math"] = page.locator("span.math, div.math").count() > 0
        got["math_errors"] = page.evaluate(MATH_ERRORS)
        got["tex_left"] = page.evaluate(TEX_LEFT)
        got["inline_scrollers"] = page.evaluate(INLINE_SCROLLERS)
        got["widths"] = page.evaluate(PAGE_WIDTHS)
        got["cut_off"] = page.evaluate(CUT_OFF, got["widths"][3])
        got["text"] = page.evaluate("document.body.textContent")
        got["setup_cells"] = page.locator(".tag_setup").count()
        got["outputs"] = page.locator(".cell_output").count()
        got["body_background"] = page.evaluate("getComputedStyle(document.body).backgroundColor")
        got["backgrounds"] = page.evaluate(BACKGROUNDS)
        got["sliders"] = page.evaluate(SLIDER_LAYOUT)
        got["figure_scales"] = page.evaluate(FIGURE_SCALES)
        got["swipe"] = page.evaluate(SWIPE_HINTS)
        # what the page itself logged, before axe: axe fetches the stylesheets again for its CSS
        # rules and resolves the theme's `@import "../basic.css"` against the page (its own 404)
        errors = lambda: [(t, m) for t, m in log["console"] if t in ("error", "warning", "pageerror")]
        got["console"] = errors()
        if view == "phone":
            got["taps"] = _tap_each_explorable(page)
            got["console"] = errors()
        else:
            got["axe"] = _axe(page)
        got["external"] = list(log["external"])
        return got
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def reader(browser, site):
    """``reader(path, view)``: what reading ``path`` in ``view`` measured (each read once)."""
    done = {}

    def read(path, view="light"):
        if (path, view) not in done:
            done[(path, view)] = read_page(browser, site + path, view)
        got = done[(path, view)]
        assert got["theme"] == VIEWS[view]["mode"], f"{path}: the page is not in {view} mode"
        assert not got["external"], f"{path}: requests leaving the machine {got['external']}"
        return got

    return read


def test_every_page_of_the_site_is_read(built_book):
    built = {p.relative_to(built_book).as_posix() for p in built_book.rglob("*.html")
             if not p.relative_to(built_book).parts[0].startswith("_")}
    missing = sorted(built - set(site_pages()) - set(REDIRECTS))
    assert not missing, f"pages the browser tests do not read: {missing} (add them to GENERATED)"
    gone = sorted(set(site_pages()) - built)
    assert not gone, f"pages the browser tests expect but the build did not write: {gone}"


@pytest.mark.parametrize("path", site_pages())
def test_math_is_typeset_and_no_tex_is_left(reader, path):
    got = reader(path)
    assert got["typeset"] or not got["has_math"], f"{path}: the page has math but MathJax did not load"
    assert got["still_folded"] == 0, f"{path}: {got['still_folded']} solutions could not be unfolded"
    assert not got["math_errors"], f"{path}: " + "\n".join(got["math_errors"])
    assert not got["tex_left"], (f"{path}: TeX source in the text the reader sees:\n"
                                 + "\n".join(got["tex_left"]))
    # on a desktop no inline formula is a scroll box (MathJax's glyphs overhang their box by a
    # few pixels: a scrolling span.math would draw a scrollbar under most formulas) ...
    assert not got["inline_scrollers"], \
        f"{path}: inline math that scrolls on a desktop: {got['inline_scrollers'][:5]}"
    # ... and none is cut off by the theme's clipping span.math (too wide: make it display math)
    assert not got["cut_off"], (f"{path}: text or math cut off on a desktop:\n"
                                + "\n".join(got["cut_off"]))


@pytest.mark.parametrize("path", CHAPTERS)
def test_setup_cell_is_not_on_the_page(reader, path):
    got = reader(path)
    text = got["text"]
    for words in ("NORMLAB_VERSION", "pip install"):
        i = text.find(words)
        assert i < 0, f"{path}: the page shows {words!r}: ...{text[max(0, i - 80):i + 80]}..."
    assert got["setup_cells"] == 0, f"{path}: the setup cell is on the page"
    assert got["outputs"] > 5, f"{path}: only {got['outputs']} cell outputs on the page"


def _axe_report(violations) -> str:
    lines = []
    for v in violations:
        for n in v["nodes"][:8]:
            lines.append(f"  {v['id']} ({v['impact']}) at {' '.join(map(str, n['target']))}: "
                         f"{n['html'][:140]!r}\n    {(n.get('failureSummary') or '').splitlines()[-1:]}")
        if len(v["nodes"]) > 8:
            lines.append(f"  ... and {len(v['nodes']) - 8} more {v['id']}")
    return "\n".join(lines)


@pytest.mark.parametrize("mode", ["light", "dark"])
@pytest.mark.parametrize("path", site_pages())
def test_axe_finds_no_serious_or_critical_violation(reader, path, mode):
    got = reader(path, mode)
    counts = Counter()
    for v in got["axe"]:
        counts[v["impact"]] += len(v["nodes"])
    print(f"axe {mode:5s} {path}: " + (", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
                                       or "no violations"))
    bad = [v for v in got["axe"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{path} ({mode} mode): axe-core violations\n" + _axe_report(bad)
    assert not got["console"], f"{path} ({mode} mode): console errors {got['console']}"


@pytest.mark.parametrize("path", site_pages())
def test_phone_width_has_no_sideways_scroll(reader, path):
    got = reader(path, "phone")
    scroll_html, scroll_body, inner, _ = got["widths"]
    assert inner == PHONE["width"], f"{path}: the page widened the phone's viewport to {inner} px"
    assert max(scroll_html, scroll_body) <= PHONE["width"], (
        f"{path}: the page scrolls sideways at {PHONE['width']} px "
        f"(scrollWidth {scroll_html}, body {scroll_body})")
    assert not got["cut_off"], (f"{path}: content cut off or past the edge at {PHONE['width']} px:\n"
                                + "\n".join(got["cut_off"]))


@pytest.mark.parametrize("path", CHAPTERS)
def test_figures_stay_legible_on_a_phone(reader, path):
    """At 390 px no figure is shrunk until its tick labels are under 8 CSS px: it keeps a
    legible size and scrolls sideways inside its own box (checked for cut-off above)."""
    got = reader(path, "phone")
    assert got["figure_scales"], f"{path}: no figures"
    small = [f"{f['what']}: tick labels {10 * f['dpi'] / 72 * f['scale']:.1f} px"
             for f in got["figure_scales"] if 10 * f["dpi"] / 72 * f["scale"] < 7.9]
    assert not small, f"{path}: unreadable figure text at {PHONE['width']} px: {small}"
    # a frame wider than the screen says so (phones hide scrollbars); one that fits does not
    wrong = [f"{e['id']}: {'no hint' if e['overflows'] else 'a needless hint'}"
             for e in got["swipe"] if e["overflows"] != e["hint"]]
    assert got["swipe"] and not wrong, f"{path}: swipe hints at {PHONE['width']} px: {wrong}"
    desktop = [e["id"] for e in reader(path, "light")["swipe"] if e["hint"] or e["overflows"]]
    assert not desktop, f"{path}: explorables that overflow or show a swipe hint on a desktop: {desktop}"


@pytest.mark.parametrize("path", CHAPTERS)
def test_explorables_work_by_touch_on_a_phone(reader, path):
    got = reader(path, "phone")
    assert got["sliders"], f"{path}: no explorable sliders"
    for r in got["sliders"]:
        assert r["height"] >= 24, f"{path}: slider {r['id']} is {r['height']:.0f} px tall (< 24)"
        assert r["width"] >= 120, f"{path}: slider {r['id']} is only {r['width']:.0f} px wide"
        assert not r["readout_cut"], f"{path}: the readout {r['readout']!r} of {r['id']} is clipped"
        assert not r["outside"], f"{path}: the row of {r['id']} spills out of its explorable"
    assert got["taps"], f"{path}: no explorable to tap"
    for t in got["taps"]:
        assert t["moved"], f"{path}: a tap on slider {t['id']} did not move it"
        assert t["figure_changed"], f"{path}: the figure did not change after a tap on {t['id']}"
    assert not got["console"], f"{path}: console errors {got['console']}"


@pytest.mark.parametrize("path", CHAPTERS)
def test_dark_mode_keeps_figures_and_explorables_readable(reader, path):
    got = reader(path, "dark")
    body = got["body_background"]
    assert body not in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"), f"{path}: dark mode has a {body} page"
    found = got["backgrounds"]
    assert any(i["what"].startswith("explorable") for i in found["imgs"]), \
        f"{path}: no explorable figure"
    dark = [f"{i['what']} (luminance {i['luminance']:.2f})" for i in found["imgs"]
            if i["luminance"] < 0.6]
    assert not dark, f"{path}: figures on a dark background in dark mode: {dark}"
    faint = [f"{t['what']} ({t['contrast']:.1f}:1)" for t in found["texts"] if t["contrast"] < 4.5]
    assert not faint, f"{path}: explorable text below 4.5:1 in dark mode: {faint}"
