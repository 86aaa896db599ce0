"""The widget sends what it shows again, so a change the page undid comes back.

JupyterLab's widget manager, when a notebook connects to its kernel, asks for every widget's
state and applies the answer a moment later, over anything the sampler's thread sent in
between (ipywidgets 8.1's ``_loadFromKernel``). The full suite saw it as a widget with its
credits but no GPU row, for good. Here the widgets' real messages (ipywidgets through a
recording comm) feed a small model store standing for the page; the store then gets a stale
answer applied, as the page would, and the widget must repair it within `resync_seconds`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import comm
import pytest
from comm.base_comm import BaseComm

from computehub.extensions.fake import FakeGpuBackend
from computehub.extensions.gpus import GpuReader, GpuReading
from computehub.extensions.sampler import Sampler
from computehub.extensions.widget import ComputeHubWidget, parts_of
from tests.support.widget_testkit import CreditsHub, FakeClock


class Page:
    """What the page knows of each widget model: the state the kernel's messages gave it."""

    def __init__(self) -> None:
        self.models: dict[str, dict[str, Any]] = {}
        self.opened: dict[str, dict[str, Any]] = {}
        self.updates: list[tuple[str, dict[str, Any]]] = []
        self.closed: set[str] = set()

    def receive(self, comm_id: str, msg_type: str, data: dict[str, Any]) -> None:
        if msg_type == "comm_open":
            self.models[comm_id] = dict(data["state"])
            self.opened[comm_id] = dict(data["state"])
        elif msg_type == "comm_msg" and data.get("method") == "update":
            self.models.setdefault(comm_id, {}).update(data["state"])
            self.updates.append((comm_id, dict(data["state"])))
        elif msg_type == "comm_close":
            self.closed.add(comm_id)

    def restore_opening_states(self) -> None:
        """Apply every model's first state over it, as a restore answered before any update."""
        for comm_id, state in self.opened.items():
            self.models[comm_id].update(state)


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch) -> Page:
    seen = Page()

    class RecordingComm(BaseComm):
        def publish_msg(
            self,
            msg_type: str,
            data: Any = None,
            metadata: Any = None,
            buffers: Any = None,
            **keys: Any,
        ) -> None:
            seen.receive(self.comm_id, msg_type, data or {})

    monkeypatch.setattr(comm, "create_comm", RecordingComm)
    return seen


@pytest.fixture
def widget(
    page: Page, backend: FakeGpuBackend, credits_hub: CreditsHub, clock: FakeClock
) -> Iterator[tuple[ComputeHubWidget, Sampler]]:
    sampler = Sampler(
        GpuReader(backend, "0"),
        credits_hub.client(),
        interval=3600.0,
        clock=clock.monotonic,
        now=clock.now,
    )
    made = ComputeHubWidget(sampler, low_credits=Decimal("5"), resync_seconds=5.0)
    # The sampler's thread takes its first snapshot, then sleeps an hour: the test ticks.
    deadline = time.monotonic() + 5
    while sampler.latest is None:
        assert time.monotonic() < deadline, "no first snapshot"
        time.sleep(0.005)
    yield made, sampler
    made.close()


def children(page: Page, box: Any) -> list[str]:
    return list(page.models[box.model_id].get("children", []))


def test_gpu_rows_undone_in_the_page_come_back_at_the_next_resync(
    page: Page, widget: tuple[ComputeHubWidget, Sampler], clock: FakeClock
) -> None:
    made, sampler = widget
    sampler.tick()
    (row,) = made.rows.values()
    assert children(page, made.gpu_box) == [f"IPY_MODEL_{row.model_id}"]
    credits_shown = page.models[made.credits.model_id]["value"]
    assert "Account" in credits_shown
    # The page applies its answer from the kernel, taken before the sampler's first
    # snapshot, after it: no GPU row and "loading" credits again.
    page.restore_opening_states()
    assert children(page, made.gpu_box) == []
    assert "loading" in page.models[made.credits.model_id]["value"]
    # Nothing changed in the kernel, so ipywidgets alone would send nothing.
    clock.advance(1.0)
    sampler.tick()
    assert children(page, made.gpu_box) == []
    clock.advance(4.0)
    sampler.tick()
    assert children(page, made.gpu_box) == [f"IPY_MODEL_{row.model_id}"]
    assert page.models[made.credits.model_id]["value"] == made.credits.value
    assert page.models[row.title.model_id]["value"] == row.title.value
    assert page.models[made.gpu_status.model_id]["value"] == made.gpu_status.value


def test_between_resyncs_only_changes_are_sent(
    page: Page, widget: tuple[ComputeHubWidget, Sampler], clock: FakeClock
) -> None:
    made, sampler = widget
    sampler.tick()
    page.updates.clear()
    clock.advance(1.0)
    sampler.tick()
    sent = {comm_id for comm_id, _ in page.updates}
    assert made.gpu_box.model_id not in sent
    page.updates.clear()
    clock.advance(4.0)
    sampler.tick()
    sent = {comm_id for comm_id, _ in page.updates}
    assert {made.gpu_box.model_id, made.credits.model_id, made.gpu_status.model_id} <= sent
    page.updates.clear()
    clock.advance(1.0)
    sampler.tick()
    assert made.gpu_box.model_id not in {comm_id for comm_id, _ in page.updates}


def test_closing_the_widget_closes_every_part_in_the_kernel(
    page: Page, widget: tuple[ComputeHubWidget, Sampler]
) -> None:
    made, sampler = widget
    sampler.tick()
    parts = parts_of(made)
    (row,) = made.rows.values()
    # Rows, their bars, the Extend panel's buttons, and every layout and style.
    assert {row, row.utilization, row.utilization.style, made.gpu_box.layout} <= set(parts)
    assert made.extend is not None
    assert made.extend.confirm_button in parts
    ids = {part.model_id for part in parts} | {made.model_id}
    assert ids <= set(page.models)
    made.close()
    # Every model the page was sent is closed there, none left open in the kernel.
    assert page.closed == set(page.models)
    assert made.comm is None
    assert all(part.comm is None for part in parts)


def test_rows_replaced_when_the_gpus_change_are_closed(
    page: Page, widget: tuple[ComputeHubWidget, Sampler], clock: FakeClock
) -> None:
    made, sampler = widget
    latest = sampler.tick()
    (row,) = made.rows.values()
    row_parts = {part.model_id for part in parts_of(row)} | {row.model_id}
    clock.advance(1.0)
    made.update(replace(latest, at=clock.monotonic(), gpus=GpuReading((), ("no GPU now",))))
    assert made.rows == {}
    assert children(page, made.gpu_box) == []
    assert row_parts <= page.closed
    assert "no GPU now" in page.models[made.gpu_status.model_id]["value"]
