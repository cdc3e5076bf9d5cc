"""Local Sphinx extension of the book.

* Keys the notebook execution cache by the active profile (``DIGITLIB_PROFILE``), so outputs made
  in ``quick`` are never shown in a ``full`` build or the other way round. ``make book`` fills
  that cache first with :func:`digitlib.execution.execute_book` (each chapter under a watchdog
  that ends and retries a stalled kernel), so the build itself only renders.
* Provides MyST substitutions for the profile banner on the first page: ``{{ profile_name }}`` and
  ``{{ profile_description }}``.
"""
from pathlib import Path


def _configure(app, config):
    from digitlib.config import active_profile
    from digitlib.execution import book_cache_path

    profile = active_profile()
    config.nb_execution_cache_path = str(book_cache_path(Path(app.srcdir), profile.name))
    subs = dict(config.myst_substitutions or {})
    subs.update(profile_name=profile.name, profile_description=profile.description)
    config.myst_substitutions = subs


def setup(app):
    app.connect("config-inited", _configure)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
