"""Results kept between processes (normlab.cache): off without NORMLAB_CACHE, computed once with
it, and never served after the code that made them changed."""

import importlib
import shutil
import sys

from normlab import cache


def _module(tmp_path, body: str):
    (tmp_path / "cachedmod.py").write_text(
        "from normlab import cache\nCALLS = []\n@cache.cached\ndef f(x):\n    CALLS.append(x)\n"
        f"    return {body}\n")
    sys.path.insert(0, str(tmp_path))
    try:
        sys.modules.pop("cachedmod", None)
        return importlib.import_module("cachedmod")
    finally:
        sys.path.remove(str(tmp_path))


def test_off_without_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(cache.ENV, raising=False)
    m = _module(tmp_path, "x + 1")
    assert m.f(1) == 2 and m.f(1) == 2 and m.CALLS == [1, 1]
    assert cache.location() is None


def test_computed_once_and_invalidated_by_a_code_change(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.ENV, str(tmp_path / "store"))
    (tmp_path / "a").mkdir()
    m = _module(tmp_path / "a", "x + 1")
    assert m.f(1) == 2 and m.f(1) == 2 and m.CALLS == [1]       # the second call read the store
    assert m.f(2) == 3 and m.CALLS == [1, 2]                     # other arguments: computed
    m2 = _module(tmp_path / "a", "x + 100")                      # the same function, new code
    assert m2.f(1) == 101 and m2.CALLS == [1]
    assert str(cache.location()).startswith(str(tmp_path / "store"))


def test_the_store_is_per_version_of_the_package(tmp_path):
    """Any edit to a normlab source file moves the store to a new folder."""
    pkg = tmp_path / "normlab"
    shutil.copytree(cache.PACKAGE, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    before = cache.code_digest(pkg)
    f = pkg / "measure.py"
    f.write_text(f.read_text() + "\n# an edit\n")
    assert cache.code_digest(pkg) != before and cache.code_digest(cache.PACKAGE) != cache.code_digest(pkg)
