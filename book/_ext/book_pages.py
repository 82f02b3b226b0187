"""Book-level fixes to the pages Jupyter Book writes (a *local extension*, ``_config.yml``).

1. **The book's page script and styles.** ``book/_static/normlab-book.js`` (the "scroll sideways"
   cue on wide content, the claims tables' phone layout and the claims page's filter) and
   ``normlab-book.css`` (those, the chapter map and the print layout of the PDF edition) are added
   to every page, after the theme's and ``normlab.css``.

2. **No launch button on a page that is not a notebook.** sphinx-book-theme treats any page with a
   ``kernelspec`` as a notebook, so a MyST Markdown page that runs code (the claims page) got a
   "Launch -> Colab" button that opens a ``.md`` file in Colab. The button group stays only on
   pages whose source is an ``.ipynb``.

3. **No duplicate HTML ids.** sphinx-proof gives every theorem's body ``id="proof-content"`` and
   every proof ``id="proof"``, sphinx-exercise every exercise's body ``id="exercise-content"`` and
   every solution's ``id="solution-content"``: one id, many elements on a page (invalid HTML;
   ``getElementById`` and fragment links find only the first). Those elements lose the id and get
   a class instead (nothing links to them; sphinx-proof's ``div#proof`` style is repeated for the
   class in ``normlab-book.css``). Any other id repeated on a page gets a suffix.

4. **The proof index shows titles.** sphinx-proof's index page (``prf-prf.html``) lists each
   theorem under its internal label ("def-bn", "lem-bn-init"), one heading per label. Here it
   lists them by chapter, in the order of the chapter, as "Definition 1.1 (Batch
   Normalization)" with a link to each, the label only as a fallback for an untitled one.

5. **Theorems and exercises are numbered within their chapter.** Sphinx numbers sphinx-proof's
   and sphinx-exercise's blocks through the whole book ("Theorem 11" in chapter 6, beside
   Santurkar et al.'s "Theorem 4.1"); a chapter's blocks become "Theorem 6.1", "Exercise 6.2"
   (the chapter's number from its file name, ``notebooks/06_...``), in the blocks' titles, the
   references to them and the proof index. Figures and tables keep Sphinx's numbering (the
   book's figures are numbered by ``normlab.show``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

__version__ = "0.1.0"

# The fixed ids sphinx-proof and sphinx-exercise give to every theorem body, proof, exercise and
# solution; each element keeps a class instead (the class that the extensions' CSS does not
# already give it: "prf-proof" for a proof, styled like sphinx-proof's div#proof in
# normlab-book.css).
REPEATED_IDS = {"proof-content": "proof-content", "exercise-content": "exercise-content",
                "solution-content": "solution-content", "proof": "prf-proof"}


# ---- 2. launch buttons ------------------------------------------------------------------------

def _drop_launch_buttons(app: Sphinx, pagename: str, templatename: str, context: dict,
                         doctree: Any) -> None:
    if context.get("page_source_suffix") == ".ipynb":
        return
    buttons = context.get("header_buttons")
    if isinstance(buttons, list):
        buttons[:] = [b for b in buttons if b.get("label") != "launch-buttons"]


# ---- 3. duplicate ids -------------------------------------------------------------------------

def _drop_repeated_ids(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """doctree-resolved: the fixed ids become classes; any other id that a page would still
    repeat gets a suffix (-2, -3, ...) on its later uses."""
    seen: set[str] = set()
    for node in doctree.findall(nodes.Element):
        ids = node.get("ids")
        if not ids:
            continue
        kept = []
        for i in ids:
            if i in REPEATED_IDS:
                if REPEATED_IDS[i] not in node["classes"]:
                    node["classes"].append(REPEATED_IDS[i])
                continue
            new, k = i, 2
            while new in seen:
                new, k = f"{i}-{k}", k + 1
            seen.add(new)
            kept.append(new)
        node["ids"] = kept


# ---- 4. the proof index -----------------------------------------------------------------------

def _proof_title(node: nodes.Element) -> str:
    """The title a reader sees, "Definition 1.1 (Batch Normalization)" or its parts."""
    title = node.next_node(nodes.title)
    text = title.astext().strip() if title is not None else ""
    return " ".join(text.split())


def _proof_entries(env) -> dict[str, list[tuple[str, str, str]]]:
    """For each document with proofs: (anchor, kind, title) in document order."""
    proofs = getattr(env, "proof_list", {}) or {}
    by_doc: dict[str, list] = defaultdict(list)
    for label, info in proofs.items():
        by_doc[info["docname"]].append(label)
    out: dict[str, list] = {}
    for docname in by_doc:
        try:
            tree = env.get_doctree(docname)
        except Exception:  # noqa: BLE001 - a missing doctree: fall back to the labels
            tree = None
        found = []
        wanted = set(by_doc[docname])
        if tree is not None:
            for node in tree.findall(nodes.Element):
                label = node.get("label") if "realtype" in node.attributes else None
                if label in wanted:
                    found.append((label, node["realtype"], node.get("title", "")))
                    wanted.discard(label)
        for label in sorted(wanted):
            found.append((label, proofs[label]["realtype"], ""))
        out[docname] = found
    return out


def _number(env, docname: str, anchor: str, realtype: str) -> str:
    """The number Sphinx gave the theorem (``toc_fignumbers``), e.g. "1.1", or ""."""
    figs = getattr(env, "toc_fignumbers", {}).get(docname, {})
    for kind, numbers in figs.items():
        if anchor in numbers:
            return ".".join(str(n) for n in numbers[anchor])
    return ""


def _index_generate(self, docnames=None):
    env = self.domain.env
    content = []
    order = {d: i for i, d in enumerate(_toc_order(env))}
    entries = _proof_entries(env)
    for docname in sorted(entries, key=lambda d: (order.get(d, 10**6), d)):
        chapter = env.titles[docname].astext() if docname in env.titles else docname
        rows = []
        for anchor, realtype, title in entries[docname]:
            number = _number(env, docname, anchor, realtype)
            kind = realtype.capitalize()
            name = " ".join(p for p in (kind, number) if p)
            subject = " ".join(title.split())
            if subject.startswith("(") and subject.endswith(")"):  # proof_title_format " (%t)"
                subject = subject[1:-1].strip()
            name = f"{name} ({subject})" if subject else f"{name} ({anchor})" if not number else name
            # (name, subtype, docname, anchor, extra, qualifier, description)
            rows.append((name, 0, docname, anchor, "", "", ""))
        content.append((chapter, rows))
    return content, False


def _toc_order(env) -> list[str]:
    """The documents in the order of the table of contents."""
    seen: list[str] = []

    def walk(doc: str) -> None:
        if doc in seen:
            return
        seen.append(doc)
        for child in env.toctree_includes.get(doc, []):
            walk(child)

    walk(env.config.root_doc)
    return seen + sorted(set(env.found_docs) - set(seen))


_SPHINX_OWN = {"figure", "table", "code-block", "section"}
_CHAPTER_FILE = re.compile(r"notebooks/0*(\d+)_")


def _number_within_chapters(app: Sphinx, env) -> list[str]:
    """env-get-updated, after Sphinx's own numbering (priority 900): each chapter's theorem-like
    blocks and exercises renumbered (chapter, k) in the order Sphinx numbered them. Returns the
    chapters renumbered, to be written again (Sphinx compares its new global numbers with the
    stored per-chapter ones and would rewrite them anyway; this also covers the first build after
    a cached one)."""
    renumbered = set()
    for docname, kinds in getattr(env, "toc_fignumbers", {}).items():
        m = _CHAPTER_FILE.match(docname)
        if not m:
            continue
        for kind, numbers in kinds.items():
            if kind in _SPHINX_OWN:
                continue
            for k, anchor in enumerate(sorted(numbers, key=numbers.get), 1):
                numbers[anchor] = (int(m.group(1)), k)
                renumbered.add(docname)
    return sorted(renumbered)


def _patch_proof_index(app: Sphinx) -> None:
    try:
        from sphinx_proof.domain import ProofIndex
    except ImportError:
        logger.warning("[book_pages] sphinx-proof is not installed: the proof index is left as is")
        return
    ProofIndex.generate = _index_generate


def _slug_index_captions(app: Sphinx, exc: Exception | None) -> None:
    """build-finished: the index's group headings become ids ("cap-Chapter 1: ..."), and an id
    must not contain spaces: use a slug in the ids and in the links to them."""
    page = Path(app.outdir) / "prf-prf.html"
    if exc is not None or app.builder.format != "html" or not page.is_file():
        return
    text = page.read_text(encoding="utf-8")
    fixed = re.sub(r'(id="|href="#)cap-([^"]*)"',
                   lambda m: m.group(1) + "cap-" + re.sub(r"[^A-Za-z0-9]+", "-", m.group(2)).strip("-") + '"',
                   text)
    if fixed != text:
        page.write_text(fixed, encoding="utf-8")


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_js_file("normlab-book.js", priority=900)
    app.add_css_file("normlab-book.css", priority=900)
    app.connect("html-page-context", _drop_launch_buttons, priority=600)  # after the theme's 501
    app.connect("doctree-resolved", _drop_repeated_ids)
    app.connect("builder-inited", _patch_proof_index)
    app.connect("env-get-updated", _number_within_chapters, priority=900)
    app.connect("build-finished", _slug_index_captions)
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}
