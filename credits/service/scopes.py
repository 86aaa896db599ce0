"""The service's name and the JupyterHub custom scopes it understands."""

from __future__ import annotations

from typing import Final

#: The managed service's name: it is served at ``/services/credits/``.
SERVICE_NAME: Final = "credits"
#: Read one's own accounts, their transactions and sessions.
READ: Final = "custom:credits:read"
#: Manage course accounts one instructs: read members' use, transfer to its students.
INSTRUCT: Final = "custom:credits:instruct"
#: Operators: grants, any account, reports.
ADMIN: Final = "custom:credits:admin"
#: JupyterHub's own scope for Prometheus scrapers; also allowed to read the metrics.
READ_METRICS: Final = "read:metrics"
#: What a token needs to reach the service at all (JupyterHub checks it in HubAuth).
ACCESS: Final = f"access:services!service={SERVICE_NAME}"

#: ``c.JupyterHub.custom_scopes`` entries.
CUSTOM_SCOPES: Final[dict[str, dict[str, str]]] = {
    READ: {
        "display_name": "Read your credits",
        "description": "Read your own credit accounts, their transactions and sessions.",
    },
    INSTRUCT: {
        "display_name": "Manage course credits",
        "description": "Read the use of course accounts you instruct and give their "
        "credits to the course's students.",
    },
    ADMIN: {
        "display_name": "Administer credits",
        "description": "Grant credits, read and move credits of any account, read reports.",
    },
}
