"""The widget's state after updates, its warnings, the Extend flow and closing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal

import pytest

from computehub.extensions.creditsreader import CreditsSource, HttpCreditsClient
from computehub.extensions.fake import FakeGpuBackend
from computehub.extensions.gpus import MIG_UTILIZATION_NOTE, GpuReader
from computehub.extensions.nvml import GpuErrorKind
from computehub.extensions.sampler import Sampler
from computehub.extensions.widget import ComputeHubWidget, run_in_thread
from tests.support.widget_testkit import EXTEND_PATH, SESSION_PATH, CreditsHub, FakeClock

MIG_A = "MIG-aaaaaaaa-aaaa-5aaa-aaaa-aaaaaaaaaaaa"


def run_now(job: Callable[[], None]) -> None:
    job()


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.005)


def sampler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "computehub-sampler"]


class Bench:
    """A widget on a sampler whose thread took its first sample and then sleeps an hour.

    The test then drives `tick()` itself with the fake clock, deterministically.
    """

    def __init__(
        self,
        backend: FakeGpuBackend,
        credits: CreditsSource | None,
        clock: FakeClock,
        visible: str = "0",
        runner: Callable[[Callable[[], None]], None] = run_now,
    ) -> None:
        self.clock = clock
        self.sampler = Sampler(
            GpuReader(backend, visible),
            credits,
            interval=3600.0,
            clock=clock.monotonic,
            now=clock.now,
        )
        self.widget = ComputeHubWidget(
            self.sampler, low_credits=Decimal("5"), runner=runner, max_extend_hours=24
        )
        wait_for(lambda: self.sampler.latest is not None)
        # Render once more from this thread: the widget then shows this snapshot, whenever
        # the sampler's thread delivers its own (identical: same clock, credits not due).
        self.sampler.tick()

    def tick(self, advance: float = 1.0) -> None:
        self.clock.advance(advance)
        self.sampler.tick()


@pytest.fixture
def bench(backend: FakeGpuBackend, credits_hub: CreditsHub, clock: FakeClock) -> Iterator[Bench]:
    made = Bench(backend, credits_hub.client(), clock)
    yield made
    made.widget.close()


def test_gpu_rows_follow_the_counters(bench: Bench, backend: FakeGpuBackend) -> None:
    (row,) = bench.widget.rows.values()
    assert row.utilization.value == 37
    assert row.memory.value == pytest.approx(25.0)
    assert "NVIDIA H100 80GB HBM3" in row.title.value
    # The fake layer is labelled as what it is (test_widget_simulated.py: NVML's rows are not).
    assert "simulated GPU" in row.title.value
    expected = "37 % · 20.0 GiB / 80.0 GiB · 250 / 700 W · 51 °C · 0.00 Wh used (simulated, since"
    assert expected in row.details.value
    backend.gpus[0].utilization = 88
    backend.gpus[0].memory_used = 78 * 2**30
    backend.gpus[0].energy_mj += 7_200_000
    bench.tick(2.0)  # the default history keeps a point every 2 s
    assert row.utilization.value == 88
    assert row.memory.value == pytest.approx(97.5)
    assert row.memory.bar_style == "warning"
    assert "2.00 Wh used (simulated, since this kernel started)" in row.details.value
    assert "<polyline" in row.sparkline.value


def test_mig_row_hides_the_utilisation_bar_and_says_why(
    backend: FakeGpuBackend, credits_hub: CreditsHub, clock: FakeClock
) -> None:
    made = Bench(backend, credits_hub.client(), clock, visible=f"0,{MIG_A}")
    try:
        gpu_row, mig_row = made.widget.rows.values()
        assert gpu_row.utilization.layout.display is None
        assert mig_row.utilization.layout.display == "none"
        assert MIG_UTILIZATION_NOTE in mig_row.details.value
        assert "<b>MIG 1</b>" in mig_row.title.value
    finally:
        made.widget.close()


def test_credits_panel_shows_the_contract_figures(bench: Bench) -> None:
    html = bench.widget.credits.value
    for text in ("ayesha · lahore · job 12", "37.50 credits (hold 10.00)", "1.25 so far"):
        assert text in html
    assert "10.00 credits/h" in html
    assert "1 h 00 min · funded until 02:00 UTC" in html
    assert bench.widget.alerts.value == ""


def test_warnings_at_15_and_5_minutes(bench: Bench) -> None:
    bench.tick(44 * 60)
    assert bench.widget.alerts.value == ""
    bench.tick(60)
    assert 'data-level="warning"' in bench.widget.alerts.value
    assert "stops in 15 min" in bench.widget.alerts.value
    bench.tick(10 * 60)
    assert 'data-level="critical"' in bench.widget.alerts.value
    assert "stops in 5 min" in bench.widget.alerts.value
    bench.tick(5 * 60)
    assert "Funded time ended at 02:00 UTC" in bench.widget.alerts.value


def test_low_credits_warning(bench: Bench, credits_hub: CreditsHub) -> None:
    credits_hub.session["available"] = "4.99"
    bench.sampler.refresh_credits()
    bench.tick()
    assert "Credits are low: 4.99 left on account ayesha." in bench.widget.alerts.value


def test_no_driver_is_a_line_and_credits_still_work(
    backend: FakeGpuBackend, credits_hub: CreditsHub, clock: FakeClock
) -> None:
    backend.init_error = GpuErrorKind.DRIVER_NOT_LOADED
    made = Bench(backend, credits_hub.client(), clock)
    try:
        assert made.widget.rows == {}
        assert "NVIDIA driver not loaded" in made.widget.gpu_status.value
        assert "37.50 credits" in made.widget.credits.value
    finally:
        made.widget.close()


def test_credits_down_is_a_line_and_gpus_still_work(
    backend: FakeGpuBackend, clock: FakeClock
) -> None:
    client = HttpCreditsClient.from_env({})
    made = Bench(backend, client, clock)
    try:
        assert "JUPYTERHUB_API_URL is not set" in made.widget.credits.value
        assert next(iter(made.widget.rows.values())).utilization.value == 37
    finally:
        made.widget.close()


def test_nvml_error_mid_session_shows_paused(bench: Bench, backend: FakeGpuBackend) -> None:
    backend.inject_error("utilization", GpuErrorKind.GPU_IS_LOST, "GPU is lost")
    bench.tick()
    assert "GPU 0: NVML error: GPU is lost (readings paused)" in bench.widget.gpu_status.value
    backend.clear_errors()
    bench.tick()
    assert bench.widget.gpu_status.value == ""


def test_extend_shows_the_cost_then_confirms(bench: Bench, credits_hub: CreditsHub) -> None:
    panel = bench.widget.extend
    assert panel is not None
    panel.hours_input.value = 2.0
    panel.extend_button.click()
    assert panel.phase == "quoted"
    assert panel.confirm_button.layout.display is None
    assert "2 h more costs 20.00 credits (37.50 available)" in panel.message.value
    assert "until 04:00 UTC" in panel.message.value
    assert credits_hub.session["funded_until"] == "2026-11-23T02:00:00+00:00"
    panel.confirm_button.click()
    assert panel.phase == "done"
    assert "funded until 04:00 UTC, 17.50 credits left" in panel.message.value
    bodies = [c.body for c in credits_hub.calls(EXTEND_PATH)]
    assert bodies == [{"hours": "2", "dry_run": True}, {"hours": "2", "dry_run": False}]
    # The credits are refreshed at once, not after the 15 s poll interval.
    bench.tick()
    assert "funded until 04:00 UTC" in bench.widget.credits.value
    assert "17.50 credits" in bench.widget.credits.value


def test_changing_hours_drops_the_quote(bench: Bench, credits_hub: CreditsHub) -> None:
    panel = bench.widget.extend
    assert panel is not None
    panel.extend_button.click()
    assert panel.phase == "quoted"
    panel.hours_input.value = 3.0
    assert panel.phase == "idle"
    assert panel.quote is None
    panel.confirm()
    assert [c.body for c in credits_hub.calls(EXTEND_PATH)] == [{"hours": "1", "dry_run": True}]


def test_cancel_drops_the_quote(bench: Bench) -> None:
    panel = bench.widget.extend
    assert panel is not None
    panel.extend_button.click()
    panel.cancel_button.click()
    assert (panel.phase, panel.message.value) == ("idle", "")


@pytest.mark.parametrize(
    ("typed", "kept"), [(100.0, 24.0), (0.0, 0.5), (-3.0, 0.5), (1.3, 1.5), (2.0, 2.0)]
)
def test_hours_are_clamped(bench: Bench, typed: float, kept: float) -> None:
    panel = bench.widget.extend
    assert panel is not None
    panel.hours = typed
    assert panel.hours == kept
    assert panel.hours_input.value == kept


def test_refused_extension_reports_the_reason(bench: Bench, credits_hub: CreditsHub) -> None:
    panel = bench.widget.extend
    assert panel is not None
    panel.hours = 10.0
    panel.extend_button.click()
    assert panel.phase == "error"
    assert "not enough credits: 100.00 needed (HTTP 402)" in panel.message.value
    assert credits_hub.session["available"] == "37.50"


def test_extension_runs_off_the_kernel_thread(
    backend: FakeGpuBackend, credits_hub: CreditsHub, clock: FakeClock
) -> None:
    made = Bench(backend, credits_hub.client(), clock, runner=run_in_thread)
    try:
        panel = made.widget.extend
        assert panel is not None
        panel.request_quote()
        wait_for(lambda: panel.phase == "quoted")
        assert "10.00 credits" in panel.message.value
    finally:
        made.widget.close()


def test_last_close_stops_the_shared_sampler(
    backend: FakeGpuBackend, credits_hub: CreditsHub, clock: FakeClock
) -> None:
    made = Bench(backend, credits_hub.client(), clock)
    second = ComputeHubWidget(made.sampler, runner=run_now)
    assert second.rows.keys() == made.widget.rows.keys()  # the latest snapshot, at once
    assert len(sampler_threads()) == 1
    made.widget.close()
    assert made.sampler.running
    second.close_button.click()
    assert second.is_closed
    assert made.sampler.thread is None
    assert sampler_threads() == []
    assert backend.initialized is False
    polls = len(credits_hub.calls(SESSION_PATH))
    second.close()  # twice is harmless
    made.sampler.tick()
    assert second.credits.value != ""  # a closed widget keeps its last state
    assert len(credits_hub.calls(SESSION_PATH)) == polls


def test_alert_deadline_uses_the_sampler_clock(bench: Bench) -> None:
    latest = bench.sampler.latest
    assert latest is not None
    assert latest.now == bench.clock.now()
    assert latest.credits.session is not None
    assert latest.credits.session.time_left(latest.now) == timedelta(hours=1)


def test_the_accounts_notices_are_one_line_above_the_figures(
    bench: Bench, credits_hub: CreditsHub
) -> None:
    assert "data-notices" not in bench.widget.credits.value
    # As the credits service sends them (docs/notices.md): each with its sentence.
    credits_hub.session["notices"] = [  # type: ignore[assignment]
        {
            "kind": "expiring",
            "account": "ayesha",
            "text": "12.50 credits in account ayesha expire at the end of 2026-11-25 (UTC), "
            "in 2 days: after that they can no longer be spent.",
            "amount": "12.50",
        },
        {
            "kind": "low_balance",
            "account": "ayesha",
            "text": "Account ayesha has 3.00 credits available, less than one typical "
            "session costs (8.00 credits): ask for more credits before your next session.",
            "amount": "3.00",
        },
    ]
    bench.sampler.refresh_credits()
    bench.tick()
    html = bench.widget.credits.value
    assert html.count('data-notices="1"') == 1
    line = html[html.index("data-notices") : html.index("<table>")]
    assert "12.50 credits in account ayesha expire at the end of 2026-11-25 (UTC)" in line
    assert "less than one typical session costs (8.00 credits)" in line
