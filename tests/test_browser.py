"""The built website in headless Chromium (Debian's, driven by Playwright): every page loads with
no console error and no request leaving the machine, math is typeset, and every explorable moves
with the keyboard and changes its figure."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
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


def open_page(browser, url):
    ctx = browser.new_context()
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
            page.wait_for_selector("mjx-container", timeout=15000)
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
