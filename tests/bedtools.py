"""Helpers every test folder shares (imported by name: pytest puts tests/ on the path)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def component_missing(err: Exception) -> None:
    """Skip locally, fail in CI: a test whose real component is missing never passes silently."""
    if IN_CI:
        pytest.fail(f"CI=true and a real component is missing: {err}", pytrace=False)
    pytest.skip(str(err))


def hub_api(
    hub_url: str, token: str, method: str, path: str, body: object = None, timeout: float = 120
) -> tuple[int, Any]:
    """Call a hub's REST API (``/hub/api`` + path) with a token; returns (status, JSON or None)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(  # noqa: S310 (loopback URL built by the test)
        f"{hub_url}/hub/api{path}",
        method=method,
        data=data,
        headers={"Authorization": f"token {token}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, json.loads(raw) if raw else None
