"""nbgrader on the hub: one formgrader service per course, and the exchange for sessions.

Each course of the site file's ``nbgrader.courses`` becomes a managed JupyterHub
service named after the course, run as the course's grader account (JupyterHub
switches to it when the hub runs as root; otherwise through ``sudo -n -E -H -u``, which
``hub_config/sudoers.d/computehub`` allows for that command only). Its staff reach it
because their course role carries ``access:services!service=COURSE``
(``computehub.auth.courses.staff_role``); nobody else can. Sessions learn the exchange
from ``COMPUTEHUB_NBGRADER_EXCHANGE``; who takes which course, nbgrader reads from the
hub's course groups with the session's own token (``read:users:groups!user``).
"""

from __future__ import annotations

import os
import pwd
import secrets
import socket
from pathlib import Path
from typing import Any

from computehub.sitefile import Site
from computehub.sitefile.schema import GradedCourse

#: The variables sessions and formgraders read (images/notebook/jupyter/nbgrader_config.py).
EXCHANGE_VAR = "COMPUTEHUB_NBGRADER_EXCHANGE"
COURSE_VAR = "COMPUTEHUB_NBGRADER_COURSE"
#: What runs as the grader: checks the folders, then becomes jupyterhub-singleuser.
FORMGRADER_MODULE = "computehub.extensions.formgrader"
#: The token-only service that reads a course's formgrader for the instructor's page.
STATUS_PREFIX = "formgrader-status-"


class NbgraderConfigError(RuntimeError):
    """The site file's nbgrader part can't be honoured here; the message says why."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def formgrader_service(
    course: str,
    spec: GradedCourse,
    *,
    python: Path,
    exchange_root: Path,
    as_root: bool,
    sudo: str = "/usr/bin/sudo",
) -> dict[str, Any]:
    """The ``c.JupyterHub.services`` entry of one course's formgrader."""
    command = [str(python), "-m", FORMGRADER_MODULE]
    service: dict[str, Any] = {
        "name": course,
        "display": True,
        "info": {"computehub": "formgrader", "course": course},
        "url": f"http://127.0.0.1:{spec.port or _free_port()}",
        "oauth_no_confirm": True,
        "environment": {
            COURSE_VAR: course,
            EXCHANGE_VAR: str(exchange_root),
            "JUPYTERHUB_DEFAULT_URL": "/formgrader",
            # Its environment's commands first (nbgrader runs its alembic), and none of
            # the hub's own (a hub's venv may be where the grader can't read).
            "PATH": f"{python.parent}:/usr/local/bin:/usr/bin:/bin",
        },
    }
    if as_root:
        service["user"] = spec.grader
        service["command"] = command
    else:
        service["command"] = [sudo, "-n", "-E", "-H", "-u", spec.grader, *command]
    return service


def status_reader(course: str, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A token-only service that may read one course's formgrader, and its role.

    The credits service shows each course's assignments on its instructor's page with
    this token. It opens that course's formgrader and nothing else, so the formgrader
    (code the course's staff control) learns no credential that reaches further than
    what its staff already have.
    """
    name = f"{STATUS_PREFIX}{course}"
    service = {"name": name, "api_token": token}
    role = {
        "name": name,
        "description": f"computehub: reads the assignments of {course} for the instructor's page",
        "scopes": [f"access:services!service={course}"],
        "services": [name],
    }
    return service, role


def configure_nbgrader(
    c: Any, site: Site, *, sudo: str = "/usr/bin/sudo"
) -> dict[str, dict[str, str]]:
    """Add each graded course's formgrader service and tell sessions the exchange.

    Returns:
        Per course, where its formgrader's API is (``url``, on loopback) and the
        ``token`` that reads it (:func:`status_reader`), for the credits service.

    Raises:
        NbgraderConfigError: a grader account does not exist, or the exchange root is
            missing and this hub can't make it.
    """
    settings = site.nbgrader
    environment = dict(c.Spawner.environment) if "environment" in c.Spawner else {}
    environment[EXCHANGE_VAR] = str(settings.exchange_root)
    c.Spawner.environment = environment
    if not settings.courses:
        return {}
    as_root = os.geteuid() == 0
    _ensure_exchange_root(settings.exchange_root, as_root)
    python = site.nbgrader_environment().prefix / "bin" / "python"
    services = list(c.JupyterHub.services) if "services" in c.JupyterHub else []
    ours = set(settings.courses)
    ours |= {f"{STATUS_PREFIX}{course}" for course in settings.courses}
    services = [s for s in services if s.get("name") not in ours]
    roles = list(c.JupyterHub.load_roles) if "load_roles" in c.JupyterHub else []
    roles = [r for r in roles if r.get("name") not in ours]
    readers: dict[str, dict[str, str]] = {}
    for course, spec in settings.courses.items():
        try:
            pwd.getpwnam(spec.grader)
        except KeyError:
            raise NbgraderConfigError(
                f"nbgrader.courses.{course}.grader: there is no account {spec.grader!r} "
                "on this machine (create it; it must not be a person's login)"
            ) from None
        formgrader = formgrader_service(
            course,
            spec,
            python=python,
            exchange_root=settings.exchange_root,
            as_root=as_root,
            sudo=sudo,
        )
        token = secrets.token_hex(32)
        reader, role = status_reader(course, token)
        services += [formgrader, reader]
        roles.append(role)
        readers[course] = {"url": f"{formgrader['url']}/services/{course}/", "token": token}
    c.JupyterHub.services = services
    c.JupyterHub.load_roles = roles
    return readers


def _ensure_exchange_root(root: Path, as_root: bool) -> None:
    if root.is_dir():
        return
    if not as_root:
        raise NbgraderConfigError(
            f"nbgrader.exchange_root: {root} does not exist; make it (mode 1777) on the "
            "file system every session sees"
        )
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o1777)
