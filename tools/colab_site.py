"""What the rendered edition (tools/colab.py) reads from the built website: the numbers and titles of
its numbered blocks (theorems, exercises), the text and address of its cross-references, page
titles, and the bibliography (the book's .bib files, read with pybtex as sphinxcontrib-bibtex
reads them). The HTML is parsed with BeautifulSoup (the theme's own dependency).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]


def website(facts: dict) -> str:
    """The book's website: GitHub Pages' address for the repository in _config.yml."""
    owner, name = facts["repo"].split("github.com/", 1)[1].strip("/").split("/")[:2]
    return f"https://{owner.lower()}.github.io/{name}/"


@dataclass
class Numbered:
    """The numbered blocks of one page, in the page's order: label -> (caption, title)."""
    order: list = field(default_factory=list)
    blocks: dict = field(default_factory=dict)

    def get(self, label: str) -> tuple[str, str]:
        return self.blocks[label]

    def caption(self, label: str) -> str:
        if label not in self.blocks:
            raise KeyError(f"no numbered block {label!r} on the website's page")
        return self.blocks[label][0]


def _text(node) -> str:
    return " ".join(node.get_text(" ", strip=True).split())


class Site:
    def __init__(self, html: Path, facts: dict, bibfiles: list[Path] | None = None):
        self.html, self.web = Path(html), website(facts)
        self._soups: dict = {}
        self._ids: dict | None = None
        self._links: dict | None = None
        self.bib = load_bib(bibfiles or [ROOT / "book" / "references.bib"])

    def soup(self, page: str):
        from bs4 import BeautifulSoup

        if page not in self._soups:
            f = self.html / f"{page}.html"
            if not f.exists():
                raise FileNotFoundError(f"{f} was not built; run `python3 tasks.py build` first")
            self._soups[page] = BeautifulSoup(f.read_text(), "html.parser")
        return self._soups[page]

    def pages(self) -> list[str]:
        skip = {"_static", "_sources", "_images", "genindex", "search"}
        return sorted(p.relative_to(self.html).with_suffix("").as_posix()
                      for p in self.html.rglob("*.html") if not skip & set(p.relative_to(self.html).parts)
                      and p.stem not in skip)

    def url(self, page: str, anchor: str | None = None) -> str:
        return f"{self.web}{page}.html" + (f"#{anchor}" if anchor else "")

    def numbered(self, page: str) -> Numbered:
        """Theorem-like blocks (sphinx-proof) and exercises (sphinx-exercise) as the page shows
        them: ``<div class="proof theorem admonition" id=...>`` / ``<div class="exercise
        admonition" id=...>`` whose title starts with the caption ("Theorem 3.1", "Exercise 3.2":
        numbered within the chapter, book/_ext/book_pages.py)."""
        out = Numbered()
        for div in self.soup(page).find_all("div", class_="admonition"):
            classes = div.get("class", [])
            # sphinx-proof: "proof <kind> admonition" (a bare "proof admonition" is a proof)
            if not (("proof" in classes and len(classes) > 2) or "exercise" in classes) \
                    or not div.get("id"):
                continue
            title = div.find(class_="admonition-title")
            num = title.find(class_="caption-number") if title else None
            if num is None:
                continue
            caption = _text(num)
            rest = _text(title)[len(caption):].strip()
            if rest.startswith("(") and rest.endswith(")"):
                rest = rest[1:-1].strip()
            out.order.append(div["id"])
            out.blocks[div["id"]] = (caption, rest)
        return out

    def ids(self) -> dict:
        """Every element id of the website -> its page."""
        if self._ids is None:
            self._ids = {}
            for page in self.pages():
                for el in self.soup(page).find_all(id=True):
                    self._ids.setdefault(el["id"], page)
        return self._ids

    def link_texts(self) -> dict:
        """(page, id) -> the text of the website's internal links to it."""
        if self._links is None:
            self._links = {}
            for target, anchor, text in self._internal_links():
                self._links.setdefault((target, anchor), text)
        return self._links

    def _internal_links(self):
        """(target page, anchor, link text) of every internal link with an anchor on the website."""
        for page in self.pages():
            base = PurePosixPath(page).parent
            for a in self.soup(page).find_all("a", class_="reference", href=True):
                href = a["href"]
                if "://" in href or "#" not in href:
                    continue
                path, anchor = href.split("#", 1)
                yield (page if not path else _join(base, path)), anchor, _text(a)

    def bib_anchor(self, key: str) -> str | None:
        """The anchor of a bibliography entry on the website: the one its citations link to.

        Found from any citation of the entry on the website whose link reads "Author, year"
        (a textual citation links "Author" and "year" apart, so the first link to an anchor is
        not enough), else from the entry itself on the bibliography page, whose label reads
        "Author year" (book/_ext/bib_style.py)."""
        who, year = self.bib[key]
        want = f"{who}, {year}"
        for (page, anchor), texts in self._bib_links().items():
            if any(t.replace(" ,", ",") == want for t in texts):
                return anchor
        for entry in self.soup("book/bibliography").find_all(True, id=True):
            label = entry.find(class_="label", recursive=False) if "citation" in entry.get("class", []) else None
            if label is not None and _text(label).strip("[] ").replace(" ,", ",") in (f"{who} {year}", want):
                return entry["id"]
        return None

    def _bib_links(self) -> dict:
        """(page, id) -> every text of the website's links to the bibliography page."""
        if getattr(self, "_bib", None) is None:
            self._bib = {}
            for target, anchor, text in self._internal_links():
                if target == "book/bibliography":
                    self._bib.setdefault((target, anchor), []).append(text)
        return self._bib

    def title(self, page: str) -> str:
        h1 = self.soup(page).find("h1")
        return _text(h1).rstrip("#").strip() if h1 else page

    def resolve(self, role: str, target: str, page: str) -> tuple[str, str]:
        """(url, text the website shows) of a cross-reference from ``page``."""
        if role == "doc":
            doc = target if target.startswith("/") else (PurePosixPath(page).parent / target).as_posix()
            doc = _join(PurePosixPath("."), doc.lstrip("/")).removesuffix(".md").removesuffix(".ipynb")
            return self.url(doc), self.title(doc)
        anchor = target.lower().replace("_", "-") if role in ("ref", "numref") else target
        if role == "eq":
            anchor = f"equation-{target}"
        if role == "term":
            anchor = "term-" + target.replace(" ", "-")
        where = self.ids().get(anchor)
        if where is None:
            raise KeyError(f"{page}: the website has no target {target!r} ({{{role}}})")
        text = self.link_texts().get((where, anchor)) or target
        return self.url(where, anchor), text


def _join(base: PurePosixPath, rel: str) -> str:
    parts = []
    for p in (base / rel.removesuffix(".html")).parts:
        if p == "..":
            parts.pop()
        elif p != ".":
            parts.append(p)
    return "/".join(parts)


def load_bib(files: list[Path]) -> dict:
    """key -> (authors as cited, year), from the book's .bib files (pybtex)."""
    from pybtex.database import parse_file
    from pybtex.richtext import Text

    bib = {}
    for f in files:
        for key, entry in parse_file(str(f)).entries.items():
            last = [str(Text.from_latex(" ".join(p.last_names))) for p in entry.persons.get("author", [])]
            who = (last[0] if len(last) == 1 else " and ".join(last) if len(last) == 2
                   else f"{last[0]} et al." if last else key)
            bib[key] = (who, entry.fields.get("year", "n.d."))
    return bib


def cite_text(bib: dict, key: str, role: str = "cite") -> str:
    """A citation as the rendered edition writes it: "(Author, year)", or "Author (year)" for
    ``{cite:t}``."""
    if key not in bib:
        raise KeyError(f"{{cite}}`{key}`: no such entry in the book's bibliography")
    who, year = bib[key]
    return f"{who} ({year})" if role.startswith("cite:t") else f"({who}, {year})"
