"""Make a Jupyter Book 1.x HTML build work fully offline and load without console errors.

Loaded by Jupyter Book as a *local extension*::

    sphinx:
      local_extensions:
        offline_assets: _ext

Tested with jupyter-book 1.0.4.post1, Sphinx 7.4.7, sphinx-book-theme 1.3.0,
pydata-sphinx-theme 0.17.1, myst-nb 1.4.0, sphinx-thebe 0.3.1 and the ``mathjax``
package shipped by ``django-static-mathjax`` (MathJax 3.2.2).

What it fixes, and why
======================

1. **MathJax from a CDN.**  ``sphinx.ext.mathjax`` defaults ``mathjax_path`` to
   ``https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js``; offline the
   request fails (``net::ERR_FAILED`` in the console) and no math is typeset.
   On ``config-inited`` we point ``mathjax_path`` at the local copy and on
   ``builder-inited`` we copy MathJax's ``es5`` tree from the *installed*
   ``mathjax`` Python package into ``<outdir>/_static/mathjax/`` (nothing is
   committed to the repository) and point ``mathjax_path`` at
   ``mathjax/<component>`` (a path relative to ``_static``, which Sphinx turns
   into ``_static/mathjax/tex-chtml.js?v=<checksum>`` on every page).  MathJax
   finds its fonts (``output/chtml/fonts/woff-v2``) and any autoloaded TeX
   extensions (``input/tex/extensions``) relative to that script, so they are
   copied too.  Unneeded bundles (SVG output, other combined components,
   ``node-main.js``) are skipped to keep ``_static`` small (~9 MB instead of 24).
   An explicitly configured *local* ``mathjax_path`` is left alone; only a remote
   one (containing ``://``) is replaced.  Copying happens at ``builder-inited``
   (before any page is written) so Sphinx can compute the ``?v=`` checksum.

2. **Duplicated sphinx-thebe configuration script.**  sphinx-thebe adds an
   inline ``<script>const THEBE_JS_URL = ...</script>`` with
   ``app.add_js_file(None, body=...)`` during ``env-before-read-docs``, i.e.
   *after* the HTML builder was initialised.  Sphinx 7.4 then stores the asset
   twice: once in the builder as ``_JavaScript(None, ...)`` and once more in
   ``prepare_writing()`` from the registry as ``_JavaScript('', ...)``.  The
   ``None`` vs ``''`` filename defeats Sphinx's de-duplication, so every page
   declares ``const THEBE_JS_URL`` twice -> ``SyntaxError: Identifier
   'THEBE_JS_URL' has already been declared``.  On ``html-page-context`` we
   de-duplicate ``script_files`` treating ``None`` and ``''`` as equal (this
   fixes the generic Sphinx bug for any inline script added late).
   In addition, when thebe is not used (``launch_buttons.thebe`` false and
   ``thebe_config.always_load`` not true) the thebe assets (inline config with
   its ``https://unpkg.com/thebe...`` URL, ``sphinx-thebe.js``,
   ``sphinx-thebe.css``) are dropped from the page altogether: nothing on the
   page can start thebe, so they are dead weight that only mention a CDN.
   Set ``offline_assets_drop_unused_thebe = False`` to keep them.

3. **"Got invalid theme mode: . Resetting to auto."**  pydata-sphinx-theme 0.17
   renders ``localStorage.getItem("mode") || "{{ default_mode }}"`` and
   ``<body data-default-mode="{{ default_mode }}">``; ``default_mode`` comes from
   ``html_context`` and sphinx-book-theme 1.3.0 never sets it, so on a first
   visit (empty localStorage) the mode is ``""`` and PST logs a
   ``console.error``.  This is *configuration*: set
   ``html_context: {default_mode: auto}`` in ``_config.yml`` (preferred; see
   NOTES).  As a safety net, on ``config-inited`` this extension does
   ``html_context.setdefault("default_mode", offline_assets_default_mode)``
   (default ``"auto"``), so an explicit value in ``_config.yml`` always wins.

4. **An edited stylesheet never reaches an incremental build.**  Sphinx copies
   ``html_static_path`` only when it writes at least one page; after an edit to
   ``book/_static/normlab.css`` alone it reports "no targets are out of date" and
   ``_build/html`` keeps the old file, so the browser tests would read stale CSS.
   On ``env-get-outdated`` this extension compares every file under
   ``html_static_path`` with its copy in ``<outdir>/_static`` and, when one differs or
   is missing, marks the root page outdated: the build rewrites it and copies the
   static files (a second or two; no notebook runs again).

5. **The redirect page's favicon.ico 404.**  The site's root ``index.html`` (written by
   sphinx-external-toc) is a bare refresh line with no ``<link rel="icon">``, so the browser
   requests ``/favicon.ico``: a 404 and a console error. On ``build-finished`` this extension
   writes a complete redirect page first, with the book's favicon (see
   ``_write_redirect_page``).

Not handled here (configuration in ``_config.yml`` instead): myst-nb's
ipywidgets JS from cdnjs/jsdelivr (``nb_ipywidgets_js: {}``), launch buttons
(Colab only is a plain link; Binder/JupyterHub/thebe off), analytics (leave
``html.analytics`` empty).  Fonts are already vendored by the themes
(Font Awesome under ``_static/vendor``); no web fonts are requested.

Config values added: ``offline_assets_mathjax_component`` (default
``"tex-chtml.js"``), ``offline_assets_drop_unused_thebe`` (default ``True``),
``offline_assets_default_mode`` (default ``"auto"``).
"""

from __future__ import annotations

import html
import os
import shutil
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging

logger = logging.getLogger(__name__)

__version__ = "0.1.0"

# Files under mathjax/es5 that a browser page never loads.
_MATHJAX_SKIP = {
    "node-main.js",
    "latest.js",  # would try to fetch "the latest" MathJax from a CDN
}


def _mathjax_es5_dir() -> Path:
    """Locate MathJax's ``es5`` directory inside the installed ``mathjax`` package."""
    import mathjax  # provided by django-static-mathjax

    base = Path(mathjax.__file__).resolve().parent
    for cand in (base / "static" / "mathjax" / "es5", base / "es5"):
        if (cand / "core.js").is_file():
            return cand
    raise FileNotFoundError(f"no MathJax es5 directory found under {base}")


def _mathjax_ignore(src: Path, component: str):
    def ignore(directory: str, names: list[str]) -> set[str]:
        skip = {n for n in names if n in _MATHJAX_SKIP}
        if Path(directory) == src / "output":
            # Keep only the output jax the chosen component uses (chtml or svg).
            unused = "chtml" if "svg" in component else "svg"
            skip |= {unused, f"{unused}.js"}
        if Path(directory) == src:
            # Skip the *other* top-level combined components (tex-svg.js, mml-chtml.js, ...)
            skip |= {
                n for n in names
                if n.endswith(".js") and n != component
                and n not in {"core.js", "loader.js", "startup.js"}
            }
        return skip

    return ignore


def _use_local_mathjax(app: Sphinx, config: Config) -> None:
    """config-inited: point ``mathjax_path`` at the local copy (if it is remote).

    Done at config-inited (before the environment is loaded) so the value is
    stable from build to build and never looks like a config change.
    """
    app._offline_mathjax_src = None  # type: ignore[attr-defined]
    current = config.mathjax_path or ""
    if current and "://" not in current:
        logger.info("[offline_assets] mathjax_path already local (%s); leaving it", current)
        return
    component = config.offline_assets_mathjax_component
    try:
        src = _mathjax_es5_dir()
    except (ImportError, FileNotFoundError) as exc:
        logger.warning("[offline_assets] no local MathJax, math will use the CDN: %s", exc)
        return
    if not (src / component).is_file():
        logger.warning("[offline_assets] MathJax component %s not found in %s", component, src)
        return
    app._offline_mathjax_src = src  # type: ignore[attr-defined]
    # Relative to _static: Sphinx emits "_static/mathjax/<component>?v=<checksum>".
    config.mathjax_path = f"mathjax/{component}"


def _copy_mathjax(app: Sphinx) -> None:
    """builder-inited: copy MathJax es5 into <outdir>/_static/mathjax (before pages are written)."""
    src = getattr(app, "_offline_mathjax_src", None)
    if src is None or app.builder.format != "html":
        return
    component = app.config.offline_assets_mathjax_component
    dest = Path(app.outdir) / "_static" / "mathjax"
    stamp = dest / ".offline_assets_src"
    stamp_text = f"{src}\n{component}\n"
    if stamp.is_file() and stamp.read_text() == stamp_text and (dest / component).is_file():
        return  # up to date (incremental build)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest, ignore=_mathjax_ignore(src, component))
    stamp.write_text(stamp_text)
    logger.info("[offline_assets] copied MathJax from %s to %s", src, dest)


def _set_default_mode(app: Sphinx, config: Config) -> None:
    ctx = dict(config.html_context or {})
    ctx.setdefault("default_mode", config.offline_assets_default_mode)
    config.html_context = ctx


def _thebe_in_use(app: Sphinx) -> bool:
    opts = app.config.html_theme_options or {}
    launch = opts.get("launch_buttons") or {}
    if launch.get("thebe") in (True, "true", "True"):
        return True
    thebe_config = getattr(app.config, "thebe_config", None) or {}
    return thebe_config.get("always_load") in (True, "true", "True")


def _is_thebe_asset(asset: Any) -> bool:
    filename = os.fspath(getattr(asset, "filename", None) or "")
    body = getattr(asset, "attributes", {}).get("body", "") or ""
    return filename.endswith(("sphinx-thebe.js", "sphinx-thebe.css")) or "THEBE_JS_URL" in body


def _clean_page_assets(app: Sphinx, pagename: str, templatename: str,
                       context: dict, doctree: Any) -> None:
    drop_thebe = app.config.offline_assets_drop_unused_thebe and not _thebe_in_use(app)
    for key in ("script_files", "css_files"):
        assets = context.get(key)
        if not isinstance(assets, list):
            continue
        seen: set = set()
        kept = []
        for asset in assets:
            if drop_thebe and _is_thebe_asset(asset):
                continue
            attrs = getattr(asset, "attributes", {}) or {}
            ident = (
                os.fspath(getattr(asset, "filename", None) or ""),  # None == ''
                getattr(asset, "priority", None),
                tuple(sorted((k, str(v)) for k, v in attrs.items())),
            )
            if ident in seen:
                continue
            seen.add(ident)
            kept.append(asset)
        # In place: for script_files this is the builder's per-page list, which
        # Sphinx restores from its pristine copy before the next page.
        assets[:] = kept


def _static_files_changed(app: Sphinx, env: Any, added: set, changed: set,
                          removed: set) -> list[str]:
    """env-get-outdated: the root page is outdated when a static file differs from its copy."""
    if app.builder.format != "html":
        return []
    out = Path(app.outdir) / "_static"
    for entry in app.config.html_static_path:
        src = Path(app.confdir) / entry
        files = [src] if src.is_file() else sorted(f for f in src.rglob("*") if f.is_file())
        for f in files:
            copy = out / (f.name if src.is_file() else f.relative_to(src))
            if not copy.is_file() or copy.read_bytes() != f.read_bytes():
                logger.info("[offline_assets] %s changed: rewriting %s to copy static files",
                            f.name, app.config.root_doc)
                return [app.config.root_doc]
    return []


_REDIRECT = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="icon" href="{icon}">
<meta http-equiv="Refresh" content="0; url={url}">
</head>
<body><p><a href="{url}">{title}</a></p></body>
</html>
"""


def _write_redirect_page(app: Sphinx, exception: Exception | None) -> None:
    """build-finished: the site's ``index.html``, which only redirects to the root page.

    sphinx-external-toc writes it as a bare ``<meta http-equiv="Refresh">`` line when it is
    missing; with no ``<link rel="icon">`` the browser then asks the server for
    ``/favicon.ico``, a 404 and a console error. This runs first (priority 400) and writes a
    complete page: the book's favicon (``html_favicon``, copied to ``_static``), a title, and a
    link for a browser that does not follow the refresh. It is rewritten on every build, so it
    follows a change of the root page too."""
    if exception is not None or app.builder.name != "html" or app.config.root_doc == "index":
        return
    icon = app.config.html_favicon
    icon = f"_static/{Path(icon).name}" if icon and "://" not in icon else (icon or "data:,")
    url = f"{app.config.root_doc}.html"
    title = html.escape(str(app.config.html_title or app.config.project))
    (Path(app.outdir) / "index.html").write_text(
        _REDIRECT.format(title=title, icon=html.escape(icon), url=html.escape(url)), encoding="utf8")


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("offline_assets_mathjax_component", "tex-chtml.js", "html")
    app.add_config_value("offline_assets_drop_unused_thebe", True, "html")
    app.add_config_value("offline_assets_default_mode", "auto", "html")
    app.connect("config-inited", _set_default_mode)
    app.connect("config-inited", _use_local_mathjax)
    app.connect("builder-inited", _copy_mathjax)
    app.connect("env-get-outdated", _static_files_changed)
    # Late priority: run after other extensions have added their page assets.
    app.connect("html-page-context", _clean_page_assets, priority=900)
    app.connect("build-finished", _write_redirect_page, priority=400)
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}
