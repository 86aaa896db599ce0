"""Where computehub keeps its state on a machine, overridable from the environment."""

from __future__ import annotations

import os
from pathlib import Path

#: Hub-side state (ledger database, JupyterHub database, cookie secret).
STATE_DIR_ENV = "COMPUTEHUB_STATE_DIR"
#: URL of the ledger database; the embedded default is a SQLite file in the state dir.
DB_URL_ENV = "COMPUTEHUB_DB_URL"
#: The site file describing the deployment.
SITE_FILE_ENV = "COMPUTEHUB_SITE"


def state_dir() -> Path:
    """The directory for hub-side state (``$COMPUTEHUB_STATE_DIR``, default /var/lib/computehub)."""
    return Path(os.environ.get(STATE_DIR_ENV, "/var/lib/computehub"))


def default_ledger_url() -> str:
    """The ledger's database URL: ``$COMPUTEHUB_DB_URL`` or the embedded SQLite file."""
    url = os.environ.get(DB_URL_ENV)
    if url:
        return url
    return f"sqlite:///{state_dir() / 'ledger.sqlite'}"


def repo_root() -> Path:
    """The source checkout this package was installed from (editable installs only)."""
    return Path(__file__).resolve().parent.parent
