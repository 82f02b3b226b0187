"""Execute notebooks top to bottom in a fresh kernel and report the wall time of each.

``python tools/run_notebook.py notebooks/01_batch_norm.ipynb [...]`` exits 1 if one fails, naming
the cell. Used by the benchmark and handy while writing a chapter; the book build executes the
notebooks itself (with its cache) and the test suite relies on that.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def run(path: str | Path, timeout: int = 600, cwd: str | Path | None = None):
    """Execute one notebook in a fresh kernel; return ``(seconds, executed notebook)``."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd or Path(path).parent)}})
    t0 = time.perf_counter()
    client.execute()
    return time.perf_counter() - t0, nb


if __name__ == "__main__":
    failed = False
    for p in sys.argv[1:]:
        try:
            seconds, _ = run(p)
            print(f"{p}: OK in {seconds:.1f} s")
        except Exception as e:  # report and go on with the next notebook
            failed = True
            print(f"{p}: FAILED: {type(e).__name__}: {str(e)[-2000:]}")
    sys.exit(1 if failed else 0)
