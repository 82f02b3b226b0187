"""The executed copy of a chapter notebook, as the last book build ran it (from the build's
jupyter-cache, ``_build/.jupyter_cache``), so that other editions (the student website, the Colab
edition) reuse those outputs instead of executing the notebook again.

    python tools/executed.py NOTEBOOK OUT      # exit 1 when the cache has no run of NOTEBOOK as it is now
    python tools/executed.py --fill NOTEBOOK EDITION   # copy that run's outputs into EDITION
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "_build" / ".jupyter_cache"


def executed(notebook: Path, cache: Path = CACHE):
    """The executed notebook (nbformat node) whose source matches ``notebook`` today, or None."""
    import nbformat
    from jupyter_cache import get_cache

    if not Path(cache).exists():
        return None
    c = get_cache(str(cache))
    try:
        record = c.match_cache_notebook(nbformat.read(str(notebook), as_version=4))
    except KeyError:  # no cached run of this notebook's current cells
        return None
    return c.get_cache_bundle(record.pk).nb


def with_outputs(edition: dict, run) -> dict:
    """``edition`` (a notebook derived from the source, e.g. without solutions) with the outputs
    and execution counts of ``run`` copied into its code cells, matched by cell id (as notebook
    nodes: nbformat cannot write plain dicts)."""
    import nbformat

    by_id = {c.get("id"): c for c in run["cells"] if c["cell_type"] == "code"}
    for c in edition["cells"]:
        if c["cell_type"] == "code" and c.get("id") in by_id:
            c["outputs"] = [nbformat.from_dict(o) for o in by_id[c["id"]].get("outputs", [])]
            c["execution_count"] = by_id[c["id"]].get("execution_count")
    return edition


def main(argv: list[str]) -> int:
    import nbformat

    fill = argv[:1] == ["--fill"]
    argv = argv[1:] if fill else argv
    nb = executed(Path(argv[0]))
    if nb is None:
        print(f"no executed copy of {argv[0]} in {CACHE}: run `python3 tasks.py build` first",
              file=sys.stderr)
        return 1
    if fill:
        edition = nbformat.read(argv[1], as_version=4)
        nbformat.write(with_outputs(edition, nb), argv[1])
    else:
        nbformat.write(nb, argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
