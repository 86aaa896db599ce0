"""The notebook server's GPU report: what it measures, and that it goes to the hub only.

A real HTTP server on 127.0.0.1 stands in for the hub (``widget_testkit``); the GPUs
are the fake device layer.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from computehub.extensions.activity import GpuActivity, HubReporter, settings_from
from computehub.extensions.fake import FakeGpu, FakeGpuBackend
from computehub.extensions.gpus import GpuReader
from computehub.extensions.idle import IdleClock
from tests.support.widget_testkit import GPU_REPORT_PATH, TOKEN, CreditsHub

JOB_ENV = {"COMPUTEHUB_HUB": "karachi", "SLURM_JOB_ID": "42"}


def _activity(utilization: int, visible: str | None) -> GpuActivity:
    backend = FakeGpuBackend(
        [
            FakeGpu(uuid="GPU-11111111-1111-1111-1111-111111111111", utilization=utilization),
            FakeGpu(uuid="GPU-22222222-2222-2222-2222-222222222222", utilization=90),
        ]
    )
    return GpuActivity(GpuReader(backend, visible), IdleClock(0.0))


def test_the_report_of_an_idle_gpu() -> None:
    activity = _activity(0, "0")
    activity.sample()
    activity.sample()
    report = activity.report(5, JOB_ENV)
    assert {k: v for k, v in report.items() if k != "idle_s"} == {
        "gpus": 1,
        "busy_s": 0.0,  # never at 5 %
        "busy_percent": 5,
        "samples": 2,
        "hub": "karachi",
        "job_id": "42",
    }
    assert report["idle_s"] is not None
    assert report["idle_s"] >= 0


def test_a_busy_gpu_is_not_idle_and_no_gpu_is_unmeasured() -> None:
    busy = _activity(0, "1")  # the second GPU runs at 90 %
    busy.sample()
    busy.sample()
    report = busy.report(50, JOB_ENV)
    assert report["idle_s"] < 1  # busy at the last sample
    assert report["busy_s"] is not None
    assert 0 <= report["busy_s"] < 1  # busy from the first sample to the second
    none = _activity(0, None)
    none.sample()
    report = none.report(5, {})
    assert (report["gpus"], report["idle_s"], report["busy_s"]) == (0, None, None)


async def test_the_report_goes_to_the_hub_with_the_servers_own_token(
    credits_hub: CreditsHub,
) -> None:
    reporter = HubReporter(credits_hub.api_url, TOKEN, logging.getLogger("test"))
    report = {"gpus": 1, "idle_s": 3.0, "busy_percent": 5, "samples": 3}
    assert await reporter.push(report) is True
    [call] = credits_hub.requests
    assert (call.method, call.path, call.authorization, call.body) == (
        "POST",
        GPU_REPORT_PATH,
        f"token {TOKEN}",
        report,
    )


async def test_a_refused_report_is_logged_once(
    credits_hub: CreditsHub, caplog: pytest.LogCaptureFixture
) -> None:
    reporter = HubReporter(credits_hub.api_url, "not-the-token", logging.getLogger("test"))
    with caplog.at_level(logging.INFO):
        assert await reporter.push({"gpus": 0}) is False
        assert await reporter.push({"gpus": 0}) is False
    assert [r.message for r in caplog.records].count(
        "computehub: the hub refused the GPU report: HTTP 403: Forbidden"
    ) == 1


SETTINGS: list[tuple[str, dict[str, str], Any]] = [
    ("off by default", {}, (10.0, None, 5)),
    ("on", {"COMPUTEHUB_GPU_REPORT_S": "60", "COMPUTEHUB_GPU_BUSY_PERCENT": "10"}, (10, 60, 10)),
    ("fast sampling", {"COMPUTEHUB_GPU_SAMPLE_S": "1", "COMPUTEHUB_GPU_REPORT_S": "1"}, (1, 1, 5)),
    ("threshold 0", {"COMPUTEHUB_GPU_BUSY_PERCENT": "0"}, "whole number"),
    ("threshold in other digits", {"COMPUTEHUB_GPU_BUSY_PERCENT": "\u0665"}, "whole number"),
    ("negative interval", {"COMPUTEHUB_GPU_REPORT_S": "-1"}, "positive"),
    ("not a number", {"COMPUTEHUB_GPU_SAMPLE_S": "nan"}, "positive"),
]


@pytest.mark.parametrize(("env", "expected"), [pytest.param(e, x, id=i) for i, e, x in SETTINGS])
def test_settings(env: dict[str, str], expected: Any) -> None:
    if isinstance(expected, tuple):
        assert settings_from(env) == expected
    else:
        with pytest.raises(ValueError, match=expected):
            settings_from(env)
