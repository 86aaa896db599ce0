"""English and Urdu for computehub's pages and the widget (gettext catalogs, Babel).

- :mod:`~computehub.i18n.choice`: which language a request gets (pure).
- :mod:`~computehub.i18n.catalog`: the catalogs and ``_()``, per request (standard
  library only, so the widget can use it in the notebook environment).
- :mod:`~computehub.i18n.formats`: numbers and times in the chosen language (Babel).
- :mod:`~computehub.i18n.hub`: the wiring into JupyterHub's templates and the switch.

How to add a string, extract, translate and compile: docs/languages.md.
"""

from computehub.i18n.catalog import _, language, ngettext, use

__all__ = ["_", "language", "ngettext", "use"]
