"""The site file: one YAML file that describes a whole deployment."""

from computehub.sitefile.load import Problem, SiteFileError, load_site, parse_site
from computehub.sitefile.schema import Site

__all__ = ["Problem", "Site", "SiteFileError", "load_site", "parse_site"]
