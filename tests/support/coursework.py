"""nbgrader's side of the course tests: an assignment's source and HTTP as one person."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

#: The kernel every notebook here names (JupyterLab asks for one otherwise).
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def cell(kind: str, source: str, meta: dict[str, Any]) -> dict[str, Any]:
    """A notebook cell with nbgrader's metadata ``meta``."""
    made: dict[str, Any] = {"cell_type": kind, "metadata": {"nbgrader": meta}, "source": source}
    if kind == "code":
        made |= {"execution_count": None, "outputs": []}
    return made


def assignment_source(*intro: str) -> dict[str, Any]:
    """The instructor's source: ``intro`` cells, one answer cell and its test (1 point)."""
    told = [
        cell("markdown", text, {"grade": False, "solution": False, "locked": True,
                                "grade_id": f"task{n}", "schema_version": 3})
        for n, text in enumerate(intro)
    ]  # fmt: skip
    return {
        "cells": [
            *told,
            cell("code", "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"
                 "    ### END SOLUTION", {"grade": False, "solution": True, "locked": False,
                 "grade_id": "answer", "schema_version": 3}),
            cell("code", "assert double(21) == 42", {"grade": True, "solution": False,
                 "locked": True, "grade_id": "check", "points": 1, "schema_version": 3}),
        ],
        "metadata": {"kernelspec": KERNELSPEC},
        "nbformat": 4,
        "nbformat_minor": 5,
    }  # fmt: skip


def call(
    url: str, token: str, method: str = "GET", body: Any = None, timeout: float = 120
) -> tuple[int, Any]:
    """``method url`` with ``token``: the status and the JSON (or text) answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(  # noqa: S310 (loopback)
        url, data=data, method=method, headers={"Authorization": f"token {token}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            raw, status = resp.read(), resp.status
    except urllib.error.HTTPError as err:
        return err.code, err.read()[:500].decode(errors="replace")
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def succeeded(answer: tuple[int, Any]) -> Any:
    """An nbgrader API answer that succeeded (its log says why when not); its body."""
    status, body = answer
    assert status == 200, body
    assert body["success"], body
    return body


def driver_config(path: Path, token: str) -> Path:
    """A course hub's test additions: a test-driver service with ``token``, quick polls."""
    path.write_text(
        f"c.JupyterHub.services.append({{'name': 'test-driver', 'api_token': {token!r}}})\n"
        "c.JupyterHub.load_roles.append({'name': 'test-driver', 'services': ['test-driver'],\n"
        "    'scopes': ['admin:users', 'admin:servers', 'list:users', 'tokens']})\n"
        "c.JupyterHub.log_level = 'DEBUG'\n"
        "c.Spawner.poll_interval = 3\n"
    )
    path.chmod(0o600)
    return path
