"""Fix the one accessibility error in the HTML that Sphinx and docutils write for this book.

Loaded by Jupyter Book as a *local extension* (``sphinx.local_extensions`` in ``_config.yml``).
The theme's colour problems are CSS and are overridden in ``book/_static/normlab.css``; this one
is markup, so it is fixed here, in the page body, before the page is written.

**The bibliography's list has no list items.** docutils 0.21 writes a citation list as
``<div role="list" class="citation-list">`` holding ``<div class="citation"
role="doc-biblioentry">`` entries. ARIA 1.2 deprecated ``doc-biblioentry`` and a ``list`` must
own ``listitem`` children, so axe-core reports ``aria-required-children`` (critical) and
``aria-allowed-role`` / ``aria-deprecated-role`` (minor) on the bibliography page, and a screen
reader announces a list of nothing. Each entry inside a citation list becomes a ``listitem``,
which is what the container already says it holds. The browser tests run axe-core on every page.
"""

from __future__ import annotations

import re
from typing import Any

from sphinx.application import Sphinx

__version__ = "0.1.0"

_BIBLIOENTRY = re.compile(r'(<div class="citation" id="[^"]*" )role="doc-biblioentry"')


def _fix_body(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    body = context.get("body")
    if isinstance(body, str) and 'role="doc-biblioentry"' in body:
        context["body"] = _BIBLIOENTRY.sub(r'\1role="listitem"', body)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("html-page-context", _fix_body)
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}
