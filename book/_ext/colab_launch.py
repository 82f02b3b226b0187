"""Point the website's "Launch -> Colab" button at the rendered edition of the page's chapter.

Loaded by Jupyter Book as a *local extension* (``sphinx.local_extensions`` in ``_config.yml``).
sphinx-book-theme builds the Colab link from ``repository.branch`` and the page's source path,
``colab.research.google.com/github/<repo>/blob/<branch>/<path>``: the MyST source notebook, which
Colab shows as raw markup. The publish workflow pushes the rendered editions (tools/colab.py) to
their own branch, and this extension rewrites the link to the copy there (tools/sync.py's
``colab_url``, the same link as the README's table): the full edition, or the student edition
when the build is the student website's (``NORMLAB_EDITION=student``, set by
``tasks.py build --student``). Pages without a rendered edition (the claims page, the instructors'
notes: Markdown files Colab cannot open) lose the Colab button.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx

__version__ = "0.1.0"


def _retarget(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    groups = [b for b in context.get("header_buttons", []) if b.get("label") == "launch-buttons"]
    if not groups:
        return
    if str(app.srcdir) not in sys.path:
        sys.path.insert(0, str(app.srcdir))
    from tools import sync

    nb = Path(app.srcdir) / f"{pagename}.ipynb"
    edition = os.environ.get("NORMLAB_EDITION", "full")
    for group in groups:
        for button in list(group["buttons"]):
            if button.get("text") != "Colab":
                continue
            if nb.parent.name == "notebooks" and nb.exists():
                button["url"] = sync.colab_url(sync.facts(), nb, edition)
            else:
                group["buttons"].remove(button)
        if not group["buttons"]:
            context["header_buttons"].remove(group)


def setup(app: Sphinx) -> dict[str, Any]:
    # after sphinx-book-theme's add_launch_buttons (priority 501)
    app.connect("html-page-context", _retarget, priority=510)
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}
