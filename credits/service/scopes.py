"""The service's name and the JupyterHub custom scopes it understands."""

from __future__ import annotations

from typing import Final

#: The managed service's name: it is served at ``/services/credits/``.
SERVICE_NAME: Final = "credits"
#: Read one's own accounts, their transactions and sessions.
READ: Final = "custom:credits:read"
#: Act on the courses one teaches (which ones, and how: the ledger's roles): read the
#: students' use, and for instructors transfer to them and change the roster. Every
#: user holds it; a server's token does not.
INSTRUCT: Final = "custom:credits:instruct"
#: Reviewers of applications for credits: read every application, comment, recommend.
#: Deciding (approving, rejecting) is the operators'
#: (:data:`~computehub.credits.service.scopes.ADMIN`).
REVIEW: Final = "custom:credits:review"
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
        "display_name": "Manage your courses",
        "description": "Act on the courses you teach, as your role in each allows: read "
        "the students' use of course credits; instructors also give the course's credits "
        "to its students and change its roster.",
    },
    REVIEW: {
        "display_name": "Review applications for credits",
        "description": "Read every application for credits, comment on it and recommend "
        "a decision; approving and rejecting is for operators.",
    },
    ADMIN: {
        "display_name": "Administer credits",
        "description": "Grant credits, read and move credits of any account, read reports.",
    },
}
