"""Results kept between processes, so that one build-and-test run computes each expensive thing
once: the book build measures every claim (the claims page) and the test suite, the chapters'
tables and the figure tests read what it stored.

Off unless the environment variable ``NORMLAB_CACHE`` names a folder (``tasks.py`` sets it to
``_build/cache`` for ``build`` and ``test``, so ``build --clean`` clears it). Colab, a reader's
Jupyter and the fresh-runtime test never set it: there everything is computed. Entries live in a
sub-folder named after a digest of every ``.py`` file of the package, so changing any of
normlab's code makes the stored results unreachable (joblib's ``Memory`` adds its own check of the
cached function's code).
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

ENV = "NORMLAB_CACHE"
PACKAGE = Path(__file__).resolve().parent


def code_digest(package: Path = PACKAGE) -> str:
    """sha256 over the path and bytes of every ``.py`` file under ``package`` (12 hex digits)."""
    h = hashlib.sha256()
    for f in sorted(Path(package).rglob("*.py")):
        h.update(str(f.relative_to(package)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:12]


@functools.lru_cache(maxsize=None)
def _own_digest() -> str:  # this process's code does not change under it
    return code_digest(PACKAGE)


def location() -> Path | None:
    """The folder of this code version's entries, or None when the cache is off."""
    root = os.environ.get(ENV)
    return Path(root) / _own_digest() if root else None


def cached(fn):
    """``fn`` memoised on disk (joblib ``Memory``, keyed by its arguments and code) when the cache
    is on, and in this process too (hashable arguments), so a result is read from disk once; plain
    ``fn`` otherwise. The choice is made at each call, from the environment."""
    seen: dict = {}

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        where = location()
        if where is None:
            return fn(*args, **kwargs)
        try:
            key = (str(where), args, tuple(sorted(kwargs.items())))
            hash(key)
        except TypeError:
            key = None
        if key is not None and key in seen:
            return seen[key]
        from joblib import Memory

        out = Memory(str(where), verbose=0).cache(fn)(*args, **kwargs)
        if key is not None:
            seen[key] = out
        return out

    wrapper.uncached = fn
    return wrapper
