"""Local Sphinx extension of the book.

* Keys the notebook execution cache by the active profile (``DIGITLIB_PROFILE``), so outputs made
  in ``quick`` are never shown in a ``full`` build or the other way round. ``make book`` fills
  that cache first with :func:`digitlib.execution.execute_book` (each chapter under a watchdog
  that ends and retries a stalled kernel), so the build itself only renders.
* Provides MyST substitutions for the profile banner on the first page: ``{{ profile_name }}`` and
  ``{{ profile_description }}``, and ``{{ repository_url }}`` (``repository.url`` of _config.yml).
* Serves MathJax from the build itself instead of a CDN, so the equations render without
  internet (a classroom, a train, a downloaded copy of ``_build/html``). The files are MathJax
  3.2.2 as shipped by the PyPI package ``sphinx-mathjax-offline`` (pinned in requirements.txt);
  this extension copies the component Sphinx would load from the CDN (``tex-mml-chtml.js``) and
  the parts it loads on demand (fonts, TeX extensions, the accessibility menu) into
  ``_build/html/_static/mathjax/``. A ``mathjax_path`` set in ``_config.yml`` wins over this.

Run as a script, it also keeps the notebooks' Colab install cells in step with ``_config.yml``
(a fork changes ``repository.url`` there, then runs this once)::

    python book/_ext/digitlib_book.py sync-colab-cells
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

#: the MathJax 3 component Sphinx's mathjax extension loads from its CDN by default
MATHJAX_COMPONENT = "tex-mml-chtml.js"
#: folders of MathJax the component loads from on demand (relative to the component's folder)
MATHJAX_PARTS = ("a11y", "adaptors", "input", "output", "sre", "ui")
#: where the pages load MathJax from, relative to ``_static``
MATHJAX_STATIC = "mathjax"


def mathjax_source() -> Path:
    """The folder of MathJax's files inside the installed ``sphinx-mathjax-offline`` package."""
    from importlib import metadata

    from sphinx.errors import ExtensionError

    fix = ("install the book's pinned environment (`make setup`, or "
           "`pip install -r requirements.txt -c constraints.txt`)")
    try:
        dist = metadata.distribution("sphinx-mathjax-offline")
    except metadata.PackageNotFoundError:
        raise ExtensionError("the book serves MathJax itself (no CDN) from the PyPI package "
                             f"sphinx-mathjax-offline, which is not installed: {fix}") from None
    folder = Path(dist.locate_file("sphinx-mathjax-offline/static/mathjax"))
    missing = [name for name in (MATHJAX_COMPONENT, *MATHJAX_PARTS) if not (folder / name).exists()]
    if missing:
        raise ExtensionError(f"sphinx-mathjax-offline {dist.version} lacks {', '.join(missing)} in "
                             f"{folder}: {fix}")
    return folder


def _configure(app, config):
    from digitlib.config import active_profile
    from digitlib.execution import book_cache_path

    profile = active_profile()
    config.nb_execution_cache_path = str(book_cache_path(Path(app.srcdir), profile.name))
    subs = dict(config.myst_substitutions or {})
    subs.update(profile_name=profile.name, profile_description=profile.description)
    # the repository's address for prose, e.g. `git clone {{ repository_url }}`: _config.yml's
    # repository.url is the one place it is written
    theme = config.html_theme_options or {}
    subs["repository_url"] = theme.get("repository_url") or repository(Path(app.srcdir))[0]
    config.myst_substitutions = subs
    _serve_mathjax_locally(app, config)


def _serve_mathjax_locally(app, config):
    from sphinx.ext.mathjax import MATHJAX_URL

    app.digitlib_mathjax = None
    if getattr(config, "mathjax_path", None) != MATHJAX_URL:
        return  # the book's configuration chose its own MathJax
    app.digitlib_mathjax = mathjax_source()
    config.mathjax_path = f"{MATHJAX_STATIC}/{MATHJAX_COMPONENT}"


def _copy_mathjax(app, exc):
    source = getattr(app, "digitlib_mathjax", None)
    if exc is not None or source is None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / MATHJAX_STATIC
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / MATHJAX_COMPONENT, target / MATHJAX_COMPONENT)
    for part in MATHJAX_PARTS:
        shutil.copytree(source / part, target / part, dirs_exist_ok=True)


def setup(app):
    app.connect("config-inited", _configure)
    app.connect("build-finished", _copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


# ------------------------------------------------------------------------ the Colab install cell

#: the first code cell of every chapter; Colab opens a notebook straight from GitHub, so the cell
#: names the repository and branch of ``_config.yml`` itself, and installs with that branch's lock
COLAB_CELL = """\
# On Colab or a bare kernel: install digitlib when it is missing (does nothing in the book's environment).
# It installs the tested versions: the lock constraints.txt, which `make` and Binder install too.
try:
    import digitlib
except ImportError:
    %pip install --quiet -c {url}/raw/{branch}/constraints.txt "digitlib[tensorflow,widgets] @ git+{url}@{branch}"
    import digitlib"""


def repository(root: Path) -> tuple[str, str]:
    """``(repository.url, repository.branch)`` of the book's ``_config.yml``."""
    import yaml

    repo = yaml.safe_load((Path(root) / "_config.yml").read_text())["repository"]
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def colab_cell(root: Path) -> str:
    """The source the install cell must have for the repository of ``_config.yml``."""
    url, branch = repository(root)
    return COLAB_CELL.format(url=url, branch=branch)


def sync_colab_cells(root: Path) -> list[Path]:
    """Rewrite each chapter's install cell (its first code cell) to :func:`colab_cell`. Returns
    the notebooks it changed; they keep nbformat's layout, so the diff shows only that cell."""
    import json

    source = colab_cell(root).splitlines(keepends=True)
    changed = []
    for path in sorted((Path(root) / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        cell = next((c for c in nb["cells"] if c["cell_type"] == "code"), None)
        text = "".join(cell["source"]) if cell else ""
        if "except ImportError" not in text or "pip install" not in text:
            raise SystemExit(f"{path}: its first code cell is not the install cell")
        if cell["source"] != source:
            cell["source"] = source
            path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
            changed.append(path)
    return changed


if __name__ == "__main__":
    if sys.argv[1:] != ["sync-colab-cells"]:
        sys.exit("usage: python book/_ext/digitlib_book.py sync-colab-cells\n"
                 "rewrites the notebooks' Colab install cells for _config.yml's repository.url and branch")
    book_root = Path(__file__).resolve().parents[2]
    for notebook in sync_colab_cells(book_root):
        print(f"updated {notebook.relative_to(book_root)}")
