"""Keep the book's build log readable: one line per fact, no configuration dumps.

Loaded by Jupyter Book as a *local extension* (``sphinx.local_extensions`` in ``_config.yml``).

myst-parser and myst-nb log their whole parsed configuration at every build start, as one
``MdParserConfig(...)`` and one ``NbParserConfig(...)`` line of several thousand characters each
(``myst v3.0.1: MdParserConfig(commonmark_only=False, ...)``). The settings are those of
``_config.yml``, which the reader has; the log keeps the version and says where the settings
come from. Only those two records are shortened (matched by the type of their argument); every
other message, warnings included, passes unchanged.
"""

from __future__ import annotations

import logging
from typing import Any

from sphinx.application import Sphinx

__version__ = "1.0"

#: The loggers (``sphinx.`` + module name, as ``sphinx.util.logging.getLogger`` names them) that
#: print the configuration dumps.
LOGGERS = ("sphinx.myst_parser.sphinx_ext.main", "sphinx.myst_nb.sphinx_ext")
DUMPS = ("MdParserConfig", "NbParserConfig")


class ShortConfig(logging.Filter):
    """Replace a parser-configuration dump by ``<its class>: as set in _config.yml``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if record.levelno == logging.INFO and args and type(args[-1]).__name__ in DUMPS:
            record.args = (*args[:-1], f"{type(args[-1]).__name__}, as set in _config.yml")
        return True


def setup(app: Sphinx) -> dict[str, Any]:
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ShortConfig) for f in logger.filters):
            logger.addFilter(ShortConfig())
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}
