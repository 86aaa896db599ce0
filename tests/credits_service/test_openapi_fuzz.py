"""The OpenAPI description declares every constraint the service enforces: a fuzzer agrees.

Schemathesis (the ``st`` command, as an operator would run it) generates requests from
the description the running service serves, valid ones and invalid ones, sends them
to the real service behind a real JupyterHub, and checks every answer with all its
checks: no 5xx, every schema-valid request accepted, every invalid one refused, each
answer as described, undeclared methods refused with a 405 and an ``Allow`` header.
It runs as an operator (every operation, writes included) and as a student (most of
them refused with a 403).

The run is bounded and repeatable: a fixed number of examples per operation and
deterministic generation (the same requests every run, no example database). It
writes only under the test's temporary directory (its home and working directory)
and talks only to the hub on 127.0.0.1 (no proxy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from computehub.credits.service.app import API_ROUTES
from tests.support.credits_hub import CreditsHub

pytestmark = pytest.mark.integration

#: Examples per operation and phase: about 800 requests per persona, ~10 s.
MAX_EXAMPLES = 40
#: At least this many requests must have been checked (a run that tested nothing passes).
MIN_CASES = 500
#: Wall time one run may take (it takes a fraction of this).
RUN_TIMEOUT_S = 600
ST = Path(sys.executable).with_name("st")
#: What a schema-valid request may be answered (schemathesis' default, 402: a valid
#: transfer the account cannot fund, and 422: a course's term that ends before it starts
#: or a roster file with a bad line, both as the description says).
ACCEPTED = ["2xx", "3xx", "401", "402", "403", "404", "409", "422", "429", "5xx"]
_PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


def fuzz(hub: CreditsHub, persona: str, folder: Path) -> tuple[dict[str, Any], str]:
    """Run schemathesis against the service as ``persona``.

    Returns:
        Its JSON run report (``{}`` if it wrote none) and its output.
    """
    config = folder / "schemathesis.toml"
    config.write_text(
        f"[checks.positive_data_acceptance]\nexpected-statuses = {json.dumps(ACCEPTED)}\n"
    )
    report = folder / "report.json"
    command = [
        str(ST),
        "--config-file",
        str(config),
        "run",
        f"{hub.api}/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--header",
        f"Authorization: token {hub.tokens[persona]}",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--no-color",
    ]
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARIABLES}
    env.update(HOME=str(folder), XDG_CACHE_HOME=str(folder / "cache"), NO_COLOR="1")
    done = subprocess.run(
        command,
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    output = done.stdout + done.stderr
    (folder / "output.txt").write_text(output)
    found: dict[str, Any] = json.loads(report.read_text()) if report.exists() else {}
    return found, output


@pytest.mark.parametrize("persona", ["operator", "student"])
def test_the_description_declares_what_the_service_enforces(
    credits_hub: CreditsHub, accounts: dict[str, str], persona: str, tmp_path: Path
) -> None:
    report, output = fuzz(credits_hub, persona, tmp_path)
    shown = output[-8000:]
    assert report.get("complete"), shown
    assert report["failures"] == [], shown
    assert report["errors"] == [], shown
    assert report["exit_code"] == 0, shown
    # Every operation was fuzzed but the description itself (schemathesis reads it).
    operations = sum(len(handler.allowed_methods()) for _path, handler in API_ROUTES)
    assert report["operations"]["tested"] == operations - 1, shown
    assert report["test_cases"]["generated"] >= MIN_CASES, shown
