"""A hub's state for people (up, degraded, down, maintenance), the form and "any hub".

Plain tables on the example site file: no Slurm, no hub.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from computehub.maintenance import Maintenance
from computehub.sitefile import load_site
from computehub.spawners.access import Entitlements
from computehub.spawners.availability import GpuAvailability, parse_sinfo
from computehub.spawners.form import render_form
from computehub.spawners.hubstatus import (
    DEGRADED,
    DOWN,
    MAINTENANCE,
    UP,
    HubStatus,
    decide,
    maintenance_message,
    read_statuses,
)
from computehub.spawners.options import ANY_HUB, OptionsError, validate
from computehub.spawners.registry import HubRegistry
from computehub.spawners.slurmclient import SlurmClient, SlurmUnavailableError

EXAMPLE = Path(__file__).resolve().parents[2] / "hub_config" / "site.example.yaml"
NOW = datetime(2026, 12, 4, 21, 0, tzinfo=UTC)
RESEARCHER = Entitlements(roles=frozenset({"researcher"}))
#: Everything Karachi's site entry describes (16 A100s, 28 1g.10gb slices), all idle.
KARACHI_ALL = {"a100": GpuAvailability(16, 16), "1g.10gb": GpuAvailability(28, 28)}
LAHORE_ALL = {
    "h100": GpuAvailability(32, 32),
    "l40s": GpuAvailability(16, 16),
    "1g.10gb": GpuAvailability(28, 28),
    "3g.40gb": GpuAvailability(8, 8),
}
NOTICE = Maintenance("karachi", "Cooling work until 14:00 UTC", "zara", NOW)


@pytest.fixture(scope="module")
def registry() -> HubRegistry:
    return HubRegistry(load_site(EXAMPLE))


STATES = [
    ("all there", KARACHI_ALL, None, UP, "Taking new sessions."),
    ("no answer", None, None, DOWN, "scheduler is not answering"),
    (
        "a drained node",
        {**KARACHI_ALL, "a100": GpuAvailability(16, 12, out_of_service=4)},
        None,
        DEGRADED,
        "out of service (4 of 16 A100)",
    ),
    (
        "fewer GPUs in Slurm than in the site file",
        {**KARACHI_ALL, "a100": GpuAvailability(8, 8)},
        None,
        DEGRADED,
        "8 of 16 A100",
    ),
    ("maintenance wins over up", KARACHI_ALL, NOTICE, MAINTENANCE, "Cooling work"),
    ("maintenance wins over down", None, NOTICE, MAINTENANCE, "Cooling work"),
]


@pytest.mark.parametrize(
    ("free", "notice", "state", "words"), [pytest.param(*row[1:], id=row[0]) for row in STATES]
)
def test_a_hubs_state(
    registry: HubRegistry,
    free: dict[str, GpuAvailability] | None,
    notice: Maintenance | None,
    state: str,
    words: str,
) -> None:
    status = decide(registry["karachi"], free, 3, notice, NOW)
    assert status.state == state
    assert words in status.message
    assert status.closed == (state in (DOWN, MAINTENANCE))
    answer = status.as_json()
    assert answer["accepts_sessions"] == (not status.closed)
    assert answer["queue"] == 3
    a100 = next(g for g in answer["gpus"] if g["gres"] == "a100")
    assert a100["expected"] == 16
    assert a100["free"] == (None if free is None else free["a100"].free)


def test_a_hub_its_start_check_refused_is_down_for_people(registry: HubRegistry) -> None:
    status = decide(registry["karachi"], KARACHI_ALL, 0, None, NOW, unsafe=True)
    assert (status.state, status.closed) == (DOWN, True)
    assert "not set up to run sessions safely" in status.message
    notice = decide(registry["karachi"], KARACHI_ALL, 0, NOTICE, NOW, unsafe=True)
    assert notice.state == MAINTENANCE  # the operator's own words come first


def test_sinfo_counts_gpus_on_nodes_that_take_no_work() -> None:
    seen = parse_sinfo("n1|drain|gpu:a100:4|gpu:a100:0|\nn2|idle|gpu:a100:4|gpu:a100:0|\n")
    assert seen == {"a100": GpuAvailability(8, 4, out_of_service=4)}


def test_the_maintenance_sentence_carries_the_operators_words() -> None:
    assert maintenance_message("Karachi AI Hub", "Cooling work") == (
        "Karachi AI Hub is in maintenance: Cooling work. No new sessions start there until it ends."
    )
    assert "work!" in maintenance_message("Karachi AI Hub", "work!")


def statuses(registry: HubRegistry, **states: str) -> dict[str, HubStatus]:
    free = {"lahore": LAHORE_ALL, "karachi": KARACHI_ALL}
    found = {}
    for hub in registry.names():
        notice = NOTICE if states.get(hub) == MAINTENANCE else None
        seen = None if states.get(hub) == DOWN else free[hub]
        found[hub] = decide(registry[hub], seen, 0, notice, NOW)
    return found


def test_any_hub_skips_a_closed_hub(registry: HubRegistry) -> None:
    """CPU only costs the same on both: Karachi goes first by name, Lahore when it is closed."""
    raw = {"hub": ANY_HUB, "gpu_type": "none"}
    assert validate(raw, registry, {}, who=RESEARCHER).hub == "karachi"
    assert validate(raw, registry, {}, who=RESEARCHER, closed={"karachi"}).hub == "lahore"
    with pytest.raises(OptionsError) as caught:
        validate(raw, registry, {}, who=RESEARCHER, closed={"lahore", "karachi"})
    assert caught.value.field == "hub"
    assert "no hub that offers this is taking new sessions" in caught.value.reason


def test_any_hub_gpus_skip_a_hub_in_maintenance(registry: HubRegistry) -> None:
    raw = {"hub": ANY_HUB, "gpu_type": "a100", "gpus": 1}
    free = {"karachi": KARACHI_ALL}
    assert validate(raw, registry, free, who=RESEARCHER).hub == "karachi"
    with pytest.raises(OptionsError):
        validate(raw, registry, free, who=RESEARCHER, closed={"karachi"})


def test_the_form_marks_a_down_hub_and_a_hub_in_maintenance(registry: HubRegistry) -> None:
    page = render_form(
        registry,
        None,
        {},
        RESEARCHER,
        statuses=statuses(registry, lahore=DOWN, karachi=MAINTENANCE),
    )
    assert '<option value="lahore" data-state="down" disabled>' in page
    assert "Lahore AI Hub (Punjab) · down: its scheduler is not answering" in page
    assert '<option value="karachi" data-state="maintenance" disabled>' in page
    assert 'id="ch-hub-status"' in page
    assert "Karachi AI Hub is in maintenance: Cooling work until 14:00 UTC." in page
    assert "The Lahore AI Hub scheduler is not answering" in page
    # The default hub (Lahore) is closed: "any hub" is chosen instead, and its price
    # leaves the closed hubs out.
    assert '<option value="any" selected>' in page
    assert 'data-closed="[&quot;lahore&quot;, &quot;karachi&quot;]"' in page


def test_the_form_of_hubs_that_are_up_has_no_notice(registry: HubRegistry) -> None:
    page = render_form(registry, None, {}, RESEARCHER, statuses=statuses(registry))
    assert "ch-hub-status" not in page
    assert "disabled" not in page.split("ch-hub")[1].split("</select>")[0]
    assert '<option value="lahore" data-state="down"' not in page


def test_the_operators_message_is_escaped(registry: HubRegistry) -> None:
    notice = Maintenance("karachi", "<b>Cooling</b> & more", "zara", NOW)
    found = statuses(registry)
    found["karachi"] = decide(registry["karachi"], KARACHI_ALL, 0, notice, NOW)
    page = render_form(registry, None, {}, RESEARCHER, statuses=found)
    assert "<b>Cooling</b>" not in page
    assert "&lt;b&gt;Cooling&lt;/b&gt; &amp; more" in page


# --- what the hub reads from Slurm, with stand-in commands ------------------------------


def fake_slurm(tmp_path: Path, answers: dict[str, str]) -> Path:
    """A folder of ``sinfo``/``squeue`` stand-ins: each logs its call, then answers.

    ``answers[name]`` is the shell text after the log line (``down`` in a flag file
    makes every one fail as Slurm does when the controller does not answer).
    """
    folder = tmp_path / "bin"
    folder.mkdir()
    for name, answer in answers.items():
        script = folder / name
        script.write_text(
            "#!/bin/sh\n"
            f'echo {name} >> "{tmp_path}/calls"\n'
            f'if [ -e "{tmp_path}/down" ]; then\n'
            f'  echo "{name}: error: Unable to contact slurm controller (connect failure)" >&2\n'
            "  exit 1\nfi\n"
            f"{answer}\n"
        )
        script.chmod(0o755)
    return folder


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls"
    return log.read_text().split() if log.exists() else []


async def test_the_hub_reads_each_controller_once_per_period_and_afresh_before_a_start(
    tmp_path: Path, registry: HubRegistry
) -> None:
    folder = fake_slurm(
        tmp_path,
        {
            "sinfo": "echo 'k-n1|idle|gpu:a100:16,gpu:1g.10gb:28|gpu:a100:2(IDX:0-1)|'",
            "squeue": "printf '101\\n102\\n103\\n'",
        },
    )
    now = [0.0]
    client = SlurmClient(registry, str(folder), availability_ttl_s=10, clock=lambda: now[0])
    (status,), errors = await read_statuses(registry, client, {}, NOW, ["karachi"])
    assert (status.state, status.queue, errors) == (UP, 3, {})
    assert next(g for g in status.gpus if g.gres == "a100").free == 14
    (tmp_path / "down").touch()
    await read_statuses(registry, client, {}, NOW, ["karachi"])  # within the period: cached
    # (sinfo and squeue run side by side: their order in the log is not fixed)
    assert sorted(calls(tmp_path)) == ["sinfo", "squeue"]
    with pytest.raises(SlurmUnavailableError):  # a start asks afresh
        await client.gpu_availability("karachi", fresh=True)
    (status,), errors = await read_statuses(registry, client, {}, NOW, ["karachi"])
    assert status.state == DOWN  # the fresh answer is what the page shows next
    assert "Unable to contact" in errors["karachi"]
    now[0] = 11  # a period later: asked again; no answer is remembered as long
    (status,), _ = await read_statuses(registry, client, {}, NOW, ["karachi"])
    (status,), _ = await read_statuses(registry, client, {}, NOW, ["karachi"])
    assert (status.state, status.queue) == (DOWN, None)
    assert sorted(calls(tmp_path)[:2]) == ["sinfo", "squeue"]
    assert calls(tmp_path)[2] == "sinfo"  # the start's fresh read
    assert sorted(calls(tmp_path)[3:]) == ["sinfo", "squeue"]
    (tmp_path / "down").unlink()
    now[0] = 22
    (status,), errors = await read_statuses(registry, client, {"karachi": NOTICE}, NOW, ["karachi"])
    assert (status.state, status.message, errors) == (MAINTENANCE, NOTICE.message, {})
    assert (status.maintenance_by, status.maintenance_since) == ("zara", NOW)
