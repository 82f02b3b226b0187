"""Readable bibliography labels: "Santurkar et al. 2018", not pybtex's alpha label "STIMkadry18".

Loaded by Jupyter Book as a *local extension* (``sphinx.local_extensions`` in ``_config.yml``).
It registers two pybtex plugins, which sphinxcontrib-bibtex looks up by name:

- the label style ``normlab_author_year``: the first author's last name, "and" the second's when
  there are two, "et al." when there are more, then the year; a letter (2016a, 2016b) tells apart
  two entries that would otherwise share a label;
- the formatting style ``normlab``: pybtex's ``unsrt`` entries (which print an entry's ``url`` and
  ``doi`` fields as links), sorted by author, year and title, with those labels.

It also registers the referencing style ``normlab_author_year`` with sphinxcontrib-bibtex:
its ``author_year`` style with round brackets, so that ``{cite}`` reads "(Santurkar et al., 2018)"
and ``{cite:t}`` reads "Santurkar et al. (2018)" (the default's square brackets look like labels).

``_config.yml`` selects them with ``bibtex_default_style: normlab`` and
``bibtex_reference_style: normlab_author_year``. Nothing is fetched: the links are the
``url``/``doi`` fields of ``book/references.bib``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from string import ascii_lowercase
from typing import Any

import pybtex.plugin
from pybtex.richtext import Text
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from sphinx.application import Sphinx
from sphinxcontrib.bibtex import plugin as bibtex_plugin
from sphinxcontrib.bibtex.style.referencing import BracketStyle
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle

__version__ = "0.1.0"


def _last_name(person) -> str:
    """A person's last name as plain text (``M{\\k{a}}dry`` -> ``Mądry``)."""
    return Text.from_latex(" ".join(person.prelast_names + person.last_names)).render_as("text")


def author_year_label(entry) -> str:
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    year = entry.fields.get("year", "n.d.")
    if not people:
        return f"{entry.key} {year}"
    names = [_last_name(p) for p in people]
    if len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return f"{who} {year}"


class AuthorYearLabelStyle(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        labels = [author_year_label(e) for e in entries]
        count, seen = Counter(labels), Counter()
        for label in labels:
            if count[label] > 1:
                yield label + ascii_lowercase[seen[label]]
                seen[label] += 1
            else:
                yield label


class NormlabStyle(UnsrtStyle):
    default_label_style = "normlab_author_year"
    default_sorting_style = "author_year_title"


def _round() -> BracketStyle:
    return BracketStyle(left="(", right=")", sep="; ")


@dataclass
class RoundAuthorYearReferenceStyle(AuthorYearReferenceStyle):
    bracket_parenthetical: BracketStyle = field(default_factory=_round)
    bracket_textual: BracketStyle = field(default_factory=_round)
    bracket_author: BracketStyle = field(default_factory=_round)
    bracket_label: BracketStyle = field(default_factory=_round)
    bracket_year: BracketStyle = field(default_factory=_round)


def setup(app: Sphinx) -> dict[str, Any]:
    bibtex_plugin.register_plugin("sphinxcontrib.bibtex.style.referencing", "normlab_author_year",
                                  RoundAuthorYearReferenceStyle)
    pybtex.plugin.register_plugin("pybtex.style.labels", "normlab_author_year", AuthorYearLabelStyle)
    pybtex.plugin.register_plugin("pybtex.style.formatting", "normlab", NormlabStyle)
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}
