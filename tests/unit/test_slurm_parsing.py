"""Parsing what Slurm prints: free GPUs (sinfo), usage (sacct), job ids (sbatch). Tables."""

from __future__ import annotations

from decimal import Decimal

import pytest

from computehub.spawners.accounting import JobUsage, parse_sacct
from computehub.spawners.availability import (
    GpuAvailability,
    HubOffer,
    choose_hub,
    parse_sinfo,
)
from computehub.spawners.slurmclient import SlurmError, parse_job_id

SINFO = [
    ("idle node", "n1|idle|gpu:h100:4|gpu:h100:0(IDX:N/A)|\n", {"h100": GpuAvailability(4, 4)}),
    (
        "mixed node",
        "n1|mix|gpu:h100:4,gpu:a100:2|gpu:h100:3(IDX:0-2),gpu:a100:0(IDX:N/A)|\n",
        {"h100": GpuAvailability(4, 1), "a100": GpuAvailability(2, 2)},
    ),
    (
        "drained node counts none free",
        "n1|drain|gpu:h100:4|gpu:h100:0(IDX:N/A)|\n",
        {"h100": GpuAvailability(4, 0)},
    ),
    (
        "down with flag",
        "n1|down*|gpu:h100:4|gpu:h100:0(IDX:N/A)|\n",
        {"h100": GpuAvailability(4, 0)},
    ),
    (
        "two nodes",
        "n1|alloc|gpu:h100:4|gpu:h100:4(IDX:0-3)|\nn2|idle|gpu:h100:4|gpu:h100:0|\n",
        {"h100": GpuAvailability(8, 4)},
    ),
    (
        "node listed per partition once",
        "n1|idle|gpu:h100:2|gpu:h100:0|\nn1|idle|gpu:h100:2|gpu:h100:0|\n",
        {"h100": GpuAvailability(2, 2)},
    ),
    ("no gpus", "n1|idle|(null)|gpu:0|\n", {}),
    ("garbage", "sinfo: error: something\n", {}),
]


@pytest.mark.parametrize(("text", "expected"), [pytest.param(t, e, id=i) for i, t, e in SINFO])
def test_parse_sinfo(text: str, expected: dict[str, GpuAvailability]) -> None:
    assert parse_sinfo(text) == expected


OFFERS = [HubOffer("lahore", Decimal(8), 2), HubOffer("karachi", Decimal(7), 1)]


@pytest.mark.parametrize(
    ("count", "hub"), [(1, "karachi"), (2, "lahore"), (3, None)], ids=["cheapest", "free", "none"]
)
def test_choose_hub(count: int, hub: str | None) -> None:
    chosen = choose_hub(OFFERS, count)
    assert (chosen.hub if chosen else None) == hub


def test_choose_hub_tie_prefers_most_free() -> None:
    offers = [HubOffer("a", Decimal(7), 1), HubOffer("b", Decimal(7), 3)]
    assert choose_hub(offers, 1) == offers[1]


SACCT = [
    (
        "completed",
        "COMPLETED|3600|billing=1,cpu=1,gres/gpu:h100=2,gres/gpu=2,node=1|1001|2026-11-23T01:00:00",
        JobUsage("COMPLETED", 3600, {"h100": 2}, complete=True),
    ),
    (
        "cancelled by root",
        "CANCELLED by 0|125|cpu=1,gres/gpu:a100=1,gres/gpu=1|1002|2026-11-23T01:00:00",
        JobUsage("CANCELLED", 125, {"a100": 1}, complete=True),
    ),
    (
        "timeout",
        "TIMEOUT|60|cpu=1,gres/gpu:h100=1|1001|2026-11-23T01:00:00",
        JobUsage("TIMEOUT", 60, {"h100": 1}, complete=True),
    ),
    (
        "start record not in yet",
        "COMPLETED|0||0|2026-11-23T01:00:00",
        JobUsage("COMPLETED", 0, {}, complete=False),
    ),
    (
        "still running",
        "RUNNING|30|cpu=1,gres/gpu:h100=1|1001|Unknown",
        JobUsage("RUNNING", 30, {"h100": 1}, complete=False),
    ),
    (
        "cancelled while pending",
        "CANCELLED by 1001|0||1001|2026-11-23T01:00:00",
        JobUsage("CANCELLED", 0, {}, complete=True),
    ),
]


@pytest.mark.parametrize(("line", "expected"), [pytest.param(t, e, id=i) for i, t, e in SACCT])
def test_parse_sacct(line: str, expected: JobUsage) -> None:
    assert parse_sacct(line + "\n") == expected


@pytest.mark.parametrize("text", ["", "\n", "a|b", "X|notanumber|||"])
def test_parse_sacct_nothing_yet(text: str) -> None:
    assert parse_sacct(text) is None


@pytest.mark.parametrize(
    ("usage", "resource", "hours"),
    [
        (JobUsage("COMPLETED", 3600, {"h100": 2}, True), "gpu:h100", Decimal(2)),
        (JobUsage("COMPLETED", 6, {"h100": 2}, True), "gpu:h100", Decimal("0.0033")),
        (JobUsage("COMPLETED", 9, {"h100": 1}, True), "gpu:h100", Decimal("0.0025")),
        (JobUsage("COMPLETED", 900, {}, True), "gpu:h100", Decimal(0)),
        (JobUsage("COMPLETED", 1800, {}, True), "cpu", Decimal("0.5")),
    ],
)
def test_resource_hours(usage: JobUsage, resource: str, hours: Decimal) -> None:
    assert usage.resource_hours(resource) == {resource: hours}


def test_resource_hours_of_mig_slices_count_their_gres_type() -> None:
    usage = JobUsage("COMPLETED", 1800, {"1g.10gb": 3, "a100": 1}, True)
    assert usage.resource_hours("mig:a100:1g.10gb", "1g.10gb") == {
        "mig:a100:1g.10gb": Decimal("1.5")
    }
    assert usage.resource_hours("mig:a100:2g.20gb", "2g.20gb") == {"mig:a100:2g.20gb": Decimal(0)}
    assert usage.resource_hours("gpu:a100", "a100") == {"gpu:a100": Decimal("0.5")}


@pytest.mark.parametrize(
    ("out", "job"), [("12\n", "12"), ("12;lahore\n", "12"), ("warning\n345\n", "345")]
)
def test_parse_job_id(out: str, job: str) -> None:
    assert parse_job_id(out) == job


@pytest.mark.parametrize("out", ["", "Submitted batch job 12", "12; rm -rf /", "abc"])
def test_parse_job_id_refuses_anything_else(out: str) -> None:
    with pytest.raises(SlurmError):
        parse_job_id(out)
