# JupyterHub configuration of computehub.
#
# Everything a deployment varies is in the site file ($COMPUTEHUB_SITE, see
# site.example.yaml and `computehub check-config FILE`) or in COMPUTEHUB_*
# environment variables; this file only loads it. JupyterHub's own settings
# reference: https://jupyterhub.readthedocs.io/en/stable/reference/api/app.html
# ruff: noqa: F821  (`c` and `load_subconfig` are given by JupyterHub)
import os
import sys

from computehub.hubconfig import AuthConfigError, ConfigError, check_slurm, configure
from computehub.sitefile import SiteFileError, load_site

_site_path = os.environ.get("COMPUTEHUB_SITE", "/etc/computehub/site.yaml")
# configure() names the spawner "computehub" and the login "computehub-ldap",
# "computehub-oidc" or "computehub-dummy" (entry points, pyproject.toml), and
# registers the hub API handlers (port report, extend, estimate, GPU activity).
try:
    _site = load_site(_site_path)
    configure(c, _site, _site_path)
except (SiteFileError, ConfigError, AuthConfigError) as _err:
    # One line naming the file and the key, not a traceback.
    print(f"computehub: {_err}", file=sys.stderr)
    sys.exit(1)

# Local additions (the demo's and the tests' service tokens, the spawner's Slurm
# settings) come from a file outside the repository.
if os.environ.get("COMPUTEHUB_EXTRA_CONFIG"):
    load_subconfig(os.environ["COMPUTEHUB_EXTRA_CONFIG"])

# Last, with every setting known (the Slurm commands are the spawner's): each hub's
# Slurm must account what it charges for and run the guard it relies on.
try:
    check_slurm(c, _site)
except ConfigError as _err:
    print(f"computehub: {_err}", file=sys.stderr)
    sys.exit(1)
