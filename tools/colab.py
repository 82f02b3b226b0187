"""The rendered edition of the chapters: what Colab and a plain Jupyter show as the website does.

    python3 tools/colab.py [--build _build]      # after `jupyter-book build` (tasks.py build runs it)

writes ``_build/colab/NN_name.ipynb`` (every chapter, solutions folded) and
``_build/colab-student/NN_name.ipynb`` (the student edition: tools/course.py's ``student_edition``
of each chapter, then rendered the same way).

The chapters are MyST, which Jupyter Book renders and Colab does not. Each markdown cell is parsed
with myst-parser's own markdown-it stack and written back as CommonMark + HTML + ``$`` math:

- ``{glue:text}`name:fmt``` becomes the text the website shows: the value the build glued (read
  from the executed notebook in the build's jupyter-cache), formatted by myst-nb's own formatter;
- theorem-like blocks (``prf:*``) and admonitions become a quoted block with a bold title, numbered
  as on the website; exercises become "Exercise N (title)" blocks; dropdown admonitions (the hints)
  and solutions are folded in ``<details>``, so no hint shows before it is opened;
- ``{cite}`` becomes "(Author, year)" linked to the website's bibliography page; ``{prf:ref}``,
  ``{ref}``, ``{numref}``, ``{doc}``, ``{term}`` become links to the website; ``(label)=`` targets
  and ``%`` comments are dropped.

Code cells (the setup cell included) are copied unchanged. The numbers of the numbered
blocks, and the text of cross-references, are read from the built HTML, so they are the website's.
The website's address is GitHub Pages' for the repository in ``_config.yml`` (tools/sync.py).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools import sync  # noqa: E402
from tools.colab_site import Site, cite_text  # noqa: E402
from tools.executed import executed  # noqa: E402

THEOREM_LIKE = {"theorem", "lemma", "definition", "proposition", "corollary", "observation",
                "remark", "conjecture", "example", "property", "axiom", "criterion", "algorithm",
                "assumption", "notation"}
#: admonitions without a title argument: the title the website shows
NAMED = {"note": "Note", "tip": "Tip", "hint": "Hint", "important": "Important",
         "warning": "Warning", "caution": "Caution", "attention": "Attention", "danger": "Danger",
         "error": "Error", "seealso": "See also"}


class ColabError(Exception):
    """A chapter that cannot be rendered (a role or directive this module does not know, a glue
    name the build did not record): the message says which and where."""


def _parser():
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    exts = {"amsmath", "dollarmath", "colon_fence", "deflist", "substitution"}
    return create_md_parser(MdParserConfig(enable_extensions=exts), RendererHTML)


MD = _parser()


def _directive_parts(tok) -> tuple[str, str, dict, str]:
    """(name, argument, options, body) of a directive fence, parsed by myst-parser."""
    from docutils.parsers.rst import Directive
    from myst_parser.parsers.directives import parse_directive_text

    class Any(Directive):  # every option accepted, unvalidated (as YAML)
        has_content, optional_arguments, final_argument_whitespace = True, 1, True
        option_spec = {"class": str}

    name, _, first = tok.info.strip()[1:].partition("}")
    res = parse_directive_text(Any, first.strip(), tok.content, validate_options=False)
    return name, (res.arguments[0] if res.arguments else ""), res.options, "\n".join(res.body)


def _name(tok) -> str:
    return tok.info.strip()[1:].partition("}")[0]


def _is_directive(tok) -> bool:
    return tok.type in ("fence", "colon_fence") and tok.info.strip().startswith("{")


def _quote(md: str) -> str:
    """``md`` in a block quote: an HTML ``<blockquote>`` around markdown (blank lines keep the
    inside markdown, in CommonMark as in Colab and JupyterLab). Not ``>`` prefixes: a renderer
    that cuts out the math before it parses the markdown (JupyterLab, Colab) would keep the ``>``
    of every line a formula spans."""
    return f"<blockquote>\n\n{md.strip()}\n\n</blockquote>"


class Chapter:
    """Renders the markdown of one chapter (``page``: its path in the site, e.g.
    ``notebooks/03_weight_norm``) with its glue values and the site's numbers and links."""

    def __init__(self, page: str, glue: dict, site: Site):
        self.page, self.glue, self.site = page, glue, site
        self.numbered = site.numbered(page)   # label -> (caption, title) in the page's order
        self.order = iter(self.numbered.order)
        self.cell = 0

    # -- inline -----------------------------------------------------------------------------
    def role(self, name: str, content: str) -> str:
        if name in ("glue:text", "glue"):
            from myst_nb.core.variables import format_plain_text

            key, fmt = content.rsplit(":", 1) if ":" in content else (content, "s")
            if "::" in key:
                raise ColabError(f"{self.page}: glue from another page ({content!r}) is not supported")
            if key not in self.glue:
                raise ColabError(f"{self.page}: the build recorded no glue value {key!r}; rebuild the book")
            return format_plain_text(self.glue[key], fmt)
        if name == "math":
            return f"${content}$"
        if name in ("cite", "cite:p", "cite:t", "cite:ps", "cite:ts"):
            keys = [k.strip() for k in content.split(",")]
            if unknown := [k for k in keys if k not in self.site.bib]:
                raise ColabError(f"{self.page}, cell {self.cell}: no bibliography entry {unknown}")
            return "; ".join(f"[{cite_text(self.site.bib, k, name)}]"
                             f"({self.site.url('book/bibliography', self.site.bib_anchor(k))})" for k in keys)
        if name in ("ref", "numref", "prf:ref", "doc", "term", "eq"):
            text, target = self._explicit(content)
            try:
                url, shown = self.site.resolve(name, target, self.page)
            except KeyError as exc:
                raise ColabError(f"{self.page}, cell {self.cell}: {exc.args[0]}") from None
            return f"[{text or shown}]({url})"
        raise ColabError(f"{self.page}, cell {self.cell}: unknown role {{{name}}} ({content!r})")

    @staticmethod
    def _explicit(content: str) -> tuple[str, str]:
        """``text <target>`` -> (text, target); ``target`` -> ("", target)."""
        if content.endswith(">") and "<" in content:
            text, target = content[:-1].rsplit("<", 1)
            return text.strip(), target.strip()
        return "", content.strip()

    def inline(self, src: str, roles: list) -> str:
        """``src`` with each role (myst_role tokens, in order) replaced by its rendering."""
        out, pos = [], 0
        for tok in roles:
            name = tok.meta["name"]
            for ticks in ("`", "``", "```"):
                raw = f"{{{name}}}{ticks}{tok.content}{ticks}"
                at = src.find(raw, pos)
                if at >= 0:
                    break
            else:
                raise ColabError(f"{self.page}: cannot find the role {{{name}}}`{tok.content}` in its source")
            out += [src[pos:at], self.role(name, tok.content)]
            pos = at + len(raw)
        return "".join(out) + src[pos:]

    # -- blocks -----------------------------------------------------------------------------
    def markdown(self, text: str) -> str:
        """One markdown text (a cell, or a directive's body) rendered."""
        tokens = MD.parse(text)
        lines = text.splitlines(keepends=True)
        names = [_name(t) for t in tokens if _is_directive(t)]
        edits, roles, seen, opened = {}, {}, 0, []
        for tok in tokens:
            if tok.map is None:
                continue
            span = tuple(tok.map)
            if _is_directive(tok):
                seen += 1
                closes = _name(tok) == "solution-start" and "solution-end" in names[seen:]
                first = lines[span[0]]
                indent = first[:len(first) - len(first.lstrip())]
                new = self.directive(tok, closes, opened)
                if new.strip() and not new.endswith("\n\n"):  # a blank line ends an HTML block
                    new = new.rstrip("\n") + "\n\n"
                edits[span] = "".join(indent + ln if ln.strip() else ln
                                      for ln in new.splitlines(keepends=True))
            elif tok.type in ("myst_target", "myst_line_comment", "myst_block_break"):
                edits[span] = ""
            elif tok.type == "inline":  # table cells of a row share the row's span
                roles.setdefault(span, []).extend(c for c in tok.children or [] if c.type == "myst_role")
        for span, rs in roles.items():
            if rs and span not in edits:
                edits[span] = self.inline("".join(lines[span[0]:span[1]]), rs)
        out, pos = [], 0
        for (s, e) in sorted(edits):
            if s < pos:
                raise ColabError(f"{self.page}, cell {self.cell}: overlapping blocks at line {s + 1}")
            new = edits[(s, e)]
            out += lines[pos:s] + [new if not new or new.endswith("\n") else new + "\n"]
            pos = e
        return "".join(out + lines[pos:])

    def directive(self, tok, closes_here: bool, opened: list) -> str:
        name, arg, options, body = _directive_parts(tok)
        classes = str(options.get("class", "")).split()
        kind = name.split(":", 1)[1] if name.startswith("prf:") else name
        if name == "prf:proof":
            return _quote("*Proof.* " + self.markdown(body).strip() + " $\\square$") + "\n"
        if name.startswith("prf:") and kind in THEOREM_LIKE or name == "exercise":
            label = options.get("label")
            caption, _ = self.next_numbered(name, label)
            anchor = f'<a id="{label}"></a>' if label else ""
            head = f"{anchor}**{caption}**" + (f" ({self.inline_only(arg)})" if arg else "")
            return _quote(head + "\n\n" + self.markdown(body).strip()) + "\n"
        if name == "solution-start":
            label = arg.strip()
            caption = self.numbered.caption(label)
            if closes_here:
                opened.append(label)
                return f"<details>\n<summary><b>Solution to {caption}</b></summary>\n\n"
            return f"**Solution to {caption}** (the code cell below).\n"
        if name == "solution-end":
            if opened:
                opened.pop()
                return "\n</details>\n"
            return ""
        if name in ("admonition", *NAMED):
            title = self.inline_only(arg) if name == "admonition" else NAMED[name]
            inner = self.markdown(body).strip()
            if "dropdown" in classes:
                return f"<details>\n<summary><b>{title}</b></summary>\n\n{inner}\n\n</details>\n"
            return _quote(f"**{title}**\n\n{inner}") + "\n"
        if name in ("math", "prf:equation"):
            return f"$$\n{body.strip()}\n$$\n"
        if name in ("code-cell", "code", "code-block"):
            return f"```{arg.split()[0] if arg else 'python'}\n{body}\n```\n"
        if name in ("bibliography",):
            return f"[The bibliography]({self.site.url('book/bibliography')}) is on the website.\n"
        raise ColabError(f"{self.page}, cell {self.cell}: unknown directive {{{name}}}")

    def inline_only(self, text: str) -> str:
        """A one-line text (a title) with its roles rendered."""
        return self.markdown(text).strip()

    def next_numbered(self, name: str, label: str | None) -> tuple[str, str]:
        try:
            want = next(self.order)
        except StopIteration:
            raise ColabError(f"{self.page}: more numbered blocks than the website shows; rebuild the book") from None
        if label and want != label:
            raise ColabError(f"{self.page}: block {label!r} is {want!r} on the website; rebuild the book")
        return self.numbered.get(want)


def glue_values(nb_path: Path, cache_dir: Path) -> dict:
    """name -> text/plain of every value the build glued in this notebook (its executed copy in the
    build's jupyter-cache, :func:`tools.executed.executed`, read as myst-nb reads it)."""
    from myst_nb.ext.glue import extract_glue_data_cell

    nb = executed(nb_path, cache_dir)
    if nb is None:
        raise ColabError(f"{nb_path.name}: no executed copy of the current notebook in {cache_dir}; "
                         "run `python3 tasks.py build` first")
    values = {}
    for cell in nb.cells:
        if cell.cell_type == "code":
            for key, out in extract_glue_data_cell(copy.deepcopy(cell)):
                values[key] = out["data"].get("text/plain", "")
    return values


def render_notebook(nb: dict, chapter: Chapter) -> dict:
    """The rendered copy of a notebook (a dict in nbformat 4): markdown cells rendered, empty ones
    dropped, code cells unchanged."""
    out = copy.deepcopy(nb)
    cells = []
    for i, cell in enumerate(out["cells"]):
        chapter.cell = i
        if cell["cell_type"] == "markdown":
            text = chapter.markdown("".join(cell["source"])).strip("\n")
            if not text.strip():
                continue
            cell["source"] = text.splitlines(keepends=True)
        cells.append(cell)
    out["cells"] = cells
    return out


def write(nb: dict, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def build(build_dir: Path = ROOT / "_build", notebooks: list[Path] | None = None) -> list[Path]:
    """Write both editions of every chapter; return the files written."""
    from tools.course import student_edition

    if not (build_dir / "html" / "index.html").exists():
        raise ColabError(f"no built website in {build_dir / 'html'}; run `python3 tasks.py build` first")
    site = Site(build_dir / "html", sync.facts())
    written = []
    for src in notebooks or sync.notebooks():
        glue = glue_values(src, build_dir / ".jupyter_cache")
        page = src.relative_to(ROOT).with_suffix("").as_posix()
        full = json.loads(src.read_text())
        dst = build_dir / "colab" / src.name
        write(render_notebook(full, Chapter(page, glue, site)), dst)
        with tempfile.TemporaryDirectory() as tmp:
            student_edition(src, Path(tmp) / src.name)
            student = json.loads((Path(tmp) / src.name).read_text())
        sdst = build_dir / "colab-student" / src.name
        write(render_notebook(student, Chapter(page, glue, site)), sdst)
        written += [dst, sdst]
    return written


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python3 tools/colab.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--build", type=Path, default=ROOT / "_build", help="the build folder (default _build)")
    a = p.parse_args(argv)
    try:
        files = build(a.build)
    except (ColabError, FileNotFoundError) as exc:
        print(f"colab: {exc}")
        return 1
    for f in files:
        print(f"colab: wrote {f.relative_to(a.build.parent) if f.is_relative_to(a.build.parent) else f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
