"""The shared sampler: scheduling through the clock seam, history, and its thread's lifecycle."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import pytest

from computehub.extensions.fake import FakeGpuBackend
from computehub.extensions.gpus import GpuReader
from computehub.extensions.sampler import Sampler, Snapshot
from tests.support.widget_testkit import SESSION_PATH, CreditsHub, FakeClock


def sampler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "computehub-sampler"]


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.005)


@pytest.fixture
def sampler(backend: FakeGpuBackend, credits_hub: CreditsHub, clock: FakeClock) -> Sampler:
    return Sampler(
        GpuReader(backend, "0"),
        credits_hub.client(),
        interval=1.0,
        credits_interval=15.0,
        history_seconds=10.0,
        history_points=5,
        clock=clock.monotonic,
        now=clock.now,
    )


def test_credits_are_polled_less_often_than_gpus(
    sampler: Sampler, credits_hub: CreditsHub, clock: FakeClock
) -> None:
    for _ in range(31):
        sampler.tick()
        clock.advance(1.0)
    # At t = 0, 15 and 30 s.
    assert len(credits_hub.calls(SESSION_PATH)) == 3


def test_refresh_credits_polls_at_the_next_tick(
    sampler: Sampler, credits_hub: CreditsHub, clock: FakeClock
) -> None:
    sampler.tick()
    clock.advance(1.0)
    credits_hub.session["available"] = "1.00"
    assert sampler.tick().credits.session is not None
    sampler.refresh_credits()
    snapshot = sampler.tick()
    assert snapshot.credits.session is not None
    assert str(snapshot.credits.session.available) == "1.00"
    assert len(credits_hub.calls(SESSION_PATH)) == 2


def test_failed_poll_keeps_the_last_figures_and_says_why(
    sampler: Sampler, credits_hub: CreditsHub, clock: FakeClock
) -> None:
    good = sampler.tick().credits
    credits_hub.failures[SESSION_PATH] = (503, b"")
    clock.advance(15.0)
    failed = sampler.tick().credits
    assert failed.session == good.session
    assert failed.fetched_at == good.fetched_at
    assert failed.error == "the credits service failed (HTTP 503)"
    # The GPU part keeps working.
    assert sampler.tick().gpus.gpus[0].utilization == 37


def test_history_is_thinned_and_bounded(
    sampler: Sampler, backend: FakeGpuBackend, clock: FakeClock
) -> None:
    for second in range(30):
        backend.gpus[0].utilization = second
        snapshot = sampler.tick()
        clock.advance(1.0)
    points = snapshot.history[backend.gpus[0].uuid]
    assert [p.utilization for p in points] == [20, 22, 24, 26, 28]
    assert snapshot.at - points[0].at <= 10.0


def test_thread_runs_on_the_clock_seam_and_stops_with_the_last_subscriber(
    backend: FakeGpuBackend, credits_hub: CreditsHub, clock: FakeClock
) -> None:
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)
        time.sleep(0.001)

    sampler = Sampler(
        GpuReader(backend, "0"),
        credits_hub.client(),
        interval=2.0,
        clock=clock.monotonic,
        now=clock.now,
        wait=wait,
    )
    seen: list[Snapshot] = []
    sampler.subscribe(seen.append)
    wait_for(lambda: len(seen) >= 10)
    sampler.unsubscribe(seen.append)
    assert not sampler.running
    assert sampler_threads() == []
    assert backend.initialized is False  # NVML was shut down by the sampler's thread
    assert set(waits) == {2.0}
    steps = {round(b.at - a.at, 6) for a, b in itertools.pairwise(seen)}
    assert steps == {2.0}
    # Credits every 15 s of sampler time, so at 0 and 16 s, whatever the wall clock did.
    fetched = sorted({s.credits.fetched_at for s in seen if s.credits.fetched_at is not None})
    assert [(f - clock.start).total_seconds() for f in fetched[:2]] == [0.0, 16.0]


def test_a_failing_subscriber_does_not_stop_the_others(
    backend: FakeGpuBackend, clock: FakeClock
) -> None:
    sampler = Sampler(GpuReader(backend, "0"), None, interval=0.05)

    def broken(_snapshot: Snapshot) -> None:
        raise RuntimeError("render failed")

    seen: list[Snapshot] = []
    sampler.subscribe(broken)
    sampler.subscribe(seen.append)
    wait_for(lambda: len(seen) >= 3)
    sampler.unsubscribe(broken)
    assert sampler.running
    sampler.unsubscribe(seen.append)
    assert sampler_threads() == []


def test_restarts_after_stop(backend: FakeGpuBackend) -> None:
    sampler = Sampler(GpuReader(backend, "0"), None, interval=0.05)
    for _ in range(2):
        seen: list[Snapshot] = []
        sampler.subscribe(seen.append)
        wait_for(lambda: len(seen) >= 2)  # noqa: B023 - called within this iteration only
        sampler.unsubscribe(seen.append)
        assert sampler_threads() == []
    assert backend.init_calls == 2
    assert backend.shutdown_calls == 2


@pytest.mark.parametrize(
    "kwargs",
    [{"interval": 0.0}, {"interval": 7200.0}, {"credits_interval": 0.5}, {"history_points": 1}],
)
def test_bad_intervals_are_refused(backend: FakeGpuBackend, kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"interval|history"):
        Sampler(GpuReader(backend, "0"), None, **kwargs)  # type: ignore[arg-type]
