"""Numbers in the prose, computed: ``glue(name, value)`` in a code cell, ``{glue:text}`name:.2f```
in the markdown that follows (myst-nb's glue; the book build fills it in).

Outside the book build (Colab, a plain Jupyter) myst-nb is usually not installed: then ``glue``
only returns the value, and the notebook still runs. Glue numbers are also printed in the cell's
output by the chapters, so a reader in Jupyter sees them next to the prose.
"""

from __future__ import annotations

try:  # the book build (and the test suite) have myst-nb; Colab does not need it
    from myst_nb import glue as _glue
except ImportError:  # pragma: no cover - exercised by the fresh-runtime test
    _glue = None


def glue(name: str, value, display: bool = False):
    """Record ``value`` under ``name`` for the prose (``{glue:text}`name```) and return it.
    NumPy and JAX scalars are glued as Python numbers (myst-nb formats ``{glue:text}`x:.2f```
    from the value's plain-text form)."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()
    if _glue is not None:
        _glue(name, value, display=display)
    return value
