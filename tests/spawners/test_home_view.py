"""The home page's cards read the hub's shared queue listing, never a squeue per card.

The real :class:`~computehub.spawners.slurmclient.SlurmClient` and parsers run against
a stand-in ``squeue`` (in the client's ``slurm_bin_dir``) that prints a listing in the
exact format the client asks for and counts its calls.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from computehub.sitefile import load_site
from computehub.spawners import homecards as hc
from computehub.spawners.homeapi import slurm_view, view_of
from computehub.spawners.registry import HubRegistry
from computehub.spawners.slurmclient import SlurmClient, parse_snapshot

SITE = Path(__file__).resolve().parents[2] / "hub_config" / "site.example.yaml"


def _line(
    job_id: str,
    state: str,
    user: str = "alice",
    name: str = "jupyterhub-lahore-7",
    start: str = "1796393570",
    reason: str = "None",
) -> str:
    fields = [job_id, state, "n1", reason, "gpu", "1:00:00", user, "1796393480"]
    fields += ["cpu=1,gres/gpu:h100=1", "gres/gpu:h100:1", "1", "1G", "OK", "0", start, name]
    return "|".join(fields) + "|"


LISTING = (
    "\n".join(
        [
            _line("40", "PENDING", user="bob", name="jupyterhub-lahore-3", reason="Priority"),
            _line("41", "RUNNING"),
            _line(
                "42", "PENDING", name="jupyterhub-lahore-8", start="1796400000", reason="Resources"
            ),
            _line("43", "PENDING", name="jupyterhub-lahore-9", start="N/A", reason="Priority"),
            _line("44", "RUNNING", user="mallory", name="jupyterhub-lahore-10"),
        ]
    )
    + "\n"
)


def server(job_id: str, hold_id: int) -> hc.Server:
    return hc.Server("", "/user/alice/", False, "spawn", "lahore", job_id, hold_id)


def test_a_running_job_has_its_start_and_limit() -> None:
    view = view_of(parse_snapshot(LISTING), server("41", 7), "alice")
    assert view == hc.SlurmView(
        answered=True,
        state="RUNNING",
        start=datetime.fromtimestamp(1796393570, UTC),
        limit_minutes=60,
    )


def test_a_waiting_job_has_its_estimate_reason_and_place() -> None:
    snapshot = parse_snapshot(LISTING)
    view = view_of(snapshot, server("42", 8), "alice")
    assert view == hc.SlurmView(
        answered=True,
        state="PENDING",
        start=datetime.fromtimestamp(1796400000, UTC),
        limit_minutes=60,
        reason="Resources",
        position=2,  # bob's job 40 waits before it in the partition
    )
    unknown = view_of(snapshot, server("43", 9), "alice")
    assert (unknown.start, unknown.position) == (None, 3)


def test_a_job_not_listed_is_gone_and_another_ones_says_nothing() -> None:
    snapshot = parse_snapshot(LISTING)
    assert view_of(snapshot, server("99", 5), "alice") == hc.SlurmView(True, "GONE")
    # Slurm reused the id: another user's job, or one not named for the hold.
    assert view_of(snapshot, server("44", 10), "alice") == hc.SlurmView(answered=False)
    assert view_of(snapshot, server("41", 12), "alice") == hc.SlurmView(answered=False)


STAND_IN = """#!{python}
import os, sys
with open(os.path.join(os.path.dirname(sys.argv[0]), "calls.log"), "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
sys.stdout.write({listing!r})
"""


async def test_every_card_of_every_page_shares_one_squeue(tmp_path: Path) -> None:
    squeue = tmp_path / "squeue"
    squeue.write_text(STAND_IN.format(python=sys.executable, listing=LISTING))
    squeue.chmod(0o755)
    (tmp_path / "calls.log").write_text("")
    client = SlurmClient(HubRegistry(load_site(SITE)), str(tmp_path), queue_interval_s=60)
    cards = [server("41", 7), server("42", 8), server("43", 9)] * 10  # ten pages at once
    views = await asyncio.gather(*(slurm_view(client, card, "alice") for card in cards))
    assert [view.state for view in views if view is not None] == [
        "RUNNING",
        "PENDING",
        "PENDING",
    ] * 10
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert len(calls) == 1, calls
    assert "--start" not in calls[0].split()
    # A card with no job yet asks nothing.
    assert await slurm_view(client, hc.Server("", "/u", False, "spawn"), "alice") is None
