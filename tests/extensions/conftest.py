"""Fixtures for the widget tests: the fake device layer and a real tiny credits server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from computehub.extensions.fake import FakeGpuBackend
from tests.support.widget_testkit import CreditsHub, FakeClock, serve_credits, two_gpus_and_a_mig


@pytest.fixture
def credits_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[CreditsHub]:
    """A real HTTP server on 127.0.0.1 speaking the credits and extension contract."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with serve_credits() as hub:
        yield hub


@pytest.fixture
def backend() -> FakeGpuBackend:
    """The fake device layer with two whole GPUs and a MIG-enabled one."""
    return two_gpus_and_a_mig()


@pytest.fixture
def clock() -> FakeClock:
    """A clock starting at the contract session's start time."""
    return FakeClock()
