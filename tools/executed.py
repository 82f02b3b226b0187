"""The executed copy of a chapter notebook, as the last book build ran it (from the build's
jupyter-cache, ``_build/.jupyter_cache``), so that other editions (the student website, the Colab
edition) reuse those outputs instead of executing the notebook again.

    python tools/executed.py NOTEBOOK OUT      # exit 1 when the cache has no run of NOTEBOOK as it is now
    python tools/executed.py --fill NOTEBOOK EDITION   # copy that run's outputs into EDITION
    python tools/executed.py --execute-all     # run every page the cache lacks, in parallel

The book build (``tasks.py build``) calls ``--execute-all`` before Jupyter Book: the pages execute
a few at a time, each in its own kernel, and Sphinx then finds every run in the cache.
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


# ------------------------------------------------------------------------------------------------
# Executing the book's pages ahead of Sphinx, several at once
# ------------------------------------------------------------------------------------------------
def pages(root: Path = ROOT) -> list[Path]:
    """The pages of ``_toc.yml`` that execute: the notebooks and the MyST Markdown notebooks (a
    ``.md`` page with a ``kernelspec`` top matter, e.g. the claims page), in the book's order."""
    import yaml

    def files(node):
        if isinstance(node, dict):
            if "file" in node or "root" in node:
                yield node.get("file") or node.get("root")
            for v in node.values():
                if isinstance(v, (list, dict)):
                    yield from files(v)
        elif isinstance(node, list):
            for v in node:
                yield from files(v)

    from myst_nb.core.read import is_myst_markdown_notebook

    out = []
    for f in files(yaml.safe_load((root / "_toc.yml").read_text())):
        for p in (root / f"{f}.ipynb", root / f"{f}.md", root / f):
            if p.is_file() and p.suffix in (".ipynb", ".md"):
                if p.suffix == ".ipynb" or is_myst_markdown_notebook(p.read_text()):
                    out.append(p)
                break
    return list(dict.fromkeys(out))


def read_page(path: Path):
    """``(notebook, read_data)`` as myst-nb reads the page (the cache matches on exactly that)."""
    import nbformat

    if path.suffix == ".ipynb":
        return nbformat.read(str(path), as_version=4), {"name": "nbformat", "type": "plugin"}
    from myst_nb.core.read import read_myst_markdown_notebook

    nb = read_myst_markdown_notebook(path.read_text("utf8"), add_source_map=True, path=str(path))
    return nb, {"name": "myst_nb_md", "type": "plugin"}


def execution_settings(root: Path = ROOT) -> tuple[Path, int]:
    """The execution cache's folder and the cell timeout, from ``_config.yml``'s ``execute``."""
    import yaml

    ex = (yaml.safe_load((root / "_config.yml").read_text()) or {}).get("execute", {})
    return root / ex.get("cache", "_build/.jupyter_cache"), int(ex.get("timeout", 600))


def needs_run(path: Path, cache_dir: Path) -> bool:
    """Whether the cache has no run of ``path`` as it is now (and list it in the cache's project,
    as myst-nb does, so that the tests find its record either way)."""
    from jupyter_cache import get_cache

    c = get_cache(str(cache_dir))
    nb, read_data = read_page(path)
    c.add_nb_to_project(str(path), read_data=read_data)
    try:
        c.match_cache_notebook(nb)
        return False
    except KeyError:
        return True


def execute_one(path: Path, root: Path = ROOT) -> int:
    """Execute one page top to bottom in a fresh kernel (in its own folder, as myst-nb does) and
    store the run in the execution cache; exit status 1 (with the error) when a cell fails."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.executors.utils import single_nb_execution

    cache_dir, timeout = execution_settings(root)
    nb, read_data = read_page(path)
    c = get_cache(str(cache_dir))
    record = c.add_nb_to_project(str(path), read_data=read_data)
    result = single_nb_execution(nb, cwd=str(path.parent.absolute()), timeout=timeout,
                                 allow_errors=False, meta_override=True)
    if result.err is not None:
        print(f"{path.relative_to(root)}: FAILED ({type(result.err).__name__}); Jupyter Book runs it "
              f"again and reports the error\n{result.exc_string[-3000:]}", flush=True)
        return 1
    c.cache_notebook_bundle(CacheBundleIn(nb, record.uri, data={"execution_seconds": result.time}),
                            check_validity=False, overwrite=True)
    return 0


def jobs() -> int:
    """How many pages execute at once: ``NORMLAB_BUILD_JOBS``, else one per core (at most 4)."""
    import os

    try:
        n = int(os.environ.get("NORMLAB_BUILD_JOBS", "0"))
    except ValueError:
        n = 0
    return n if n > 0 else max(1, min(os.cpu_count() or 1, 4))


def execute_all(root: Path = ROOT, n_jobs: int | None = None) -> int:
    """Execute, ``n_jobs`` at a time, every page whose current version the cache lacks, each in
    its own process and kernel, before Sphinx reads the book (Sphinx then only renders: it finds
    every run in the cache). Chapters run first, the longest first where an earlier run's time is
    known (else the later chapters first: they run longer); the other pages (the claims page,
    which re-measures every chapter's claims from what the chapters stored in normlab's result
    cache) start once every chapter is done. Returns the number of pages that failed."""
    import os
    import subprocess
    import time

    cache_dir, _ = execution_settings(root)
    todo = [p for p in pages(root) if needs_run(p, cache_dir)]
    if not todo:
        print("[execute] every page's run is in the execution cache", flush=True)
        return 0
    n_jobs = n_jobs or jobs()
    before = {}
    try:
        from jupyter_cache import get_cache

        for r in get_cache(str(cache_dir)).list_cache_records():
            before[r.uri] = max(before.get(r.uri, 0.0), float((r.data or {}).get("execution_seconds", 0)))
    except Exception:  # a cache of another version: no history
        pass
    chapters = [p for p in todo if p.parent.name == "notebooks"]
    order = {p: i for i, p in enumerate(chapters)}
    chapters.sort(key=lambda p: (-before.get(str(p.absolute()), 0.0), -order[p]))
    later = [p for p in todo if p not in chapters]
    print(f"[execute] {len(todo)} page(s) to run, {n_jobs} at a time: "
          + ", ".join(str(p.relative_to(root)) for p in chapters + later), flush=True)
    running: dict = {}
    failed, t_all = 0, time.monotonic()
    queue = list(chapters)
    while queue or running or later:
        if not queue and not running:
            queue, later = later, []
        while queue and len(running) < n_jobs:
            p = queue.pop(0)
            print(f"[execute] {time.strftime('%H:%M:%S')} start {p.relative_to(root)}", flush=True)
            running[p] = (subprocess.Popen([sys.executable, __file__, "--execute-one", str(p)],
                                           cwd=root, env=os.environ.copy()), time.monotonic())
        time.sleep(0.2)
        for p, (proc, t0) in list(running.items()):
            if proc.poll() is not None:
                del running[p]
                failed += proc.returncode != 0
                print(f"[execute] {time.strftime('%H:%M:%S')} {p.relative_to(root)}: "
                      f"{'done' if proc.returncode == 0 else 'FAILED'} in {time.monotonic() - t0:.0f} s",
                      flush=True)
    print(f"[execute] {len(todo)} page(s) in {time.monotonic() - t_all:.0f} s", flush=True)
    return failed


def main(argv: list[str]) -> int:
    import nbformat

    if argv[:1] == ["--execute-all"]:
        return 1 if execute_all() else 0
    if argv[:1] == ["--execute-one"]:
        return execute_one(Path(argv[1]))
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
