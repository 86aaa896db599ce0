"""Parsing what Slurm prints: free GPUs (sinfo), usage (sacct), job ids (sbatch). Tables."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from computehub.credits.records import Charge, Hold
from computehub.sitefile import SiteFileError, load_site
from computehub.spawners.accounting import (
    JobUsage,
    clock_skew,
    funded_end,
    parse_sacct,
    session_usage,
)
from computehub.spawners.availability import (
    GpuAvailability,
    HubOffer,
    choose_hub,
    parse_sinfo,
)
from computehub.spawners.billing import overrun, usage_charge
from computehub.spawners.jobcheck import Expected, allocation_problem
from computehub.spawners.reasons import GENERIC, waiting_reason
from computehub.spawners.registry import HubEntry, HubRegistry
from computehub.spawners.slurmclient import (
    JobInfo,
    QueuedJob,
    SlurmConfig,
    SlurmError,
    parse_config,
    parse_job,
    parse_job_id,
    parse_minutes,
    parse_queue,
)
from computehub.spawners.tres import (
    config_problems,
    missing_tres,
    tres_problem,
    unguarded_problem,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "hub_config" / "site.example.yaml"

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
        {"h100": GpuAvailability(4, 0, out_of_service=4)},
    ),
    (
        "down with flag",
        "n1|down*|gpu:h100:4|gpu:h100:0(IDX:N/A)|\n",
        {"h100": GpuAvailability(4, 0, out_of_service=4)},
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


T0 = 1796393480  # a submit time, epoch seconds (SLURM_TIME_FORMAT=%s)


def line(
    job: str = "7",
    state: str = "COMPLETED",
    elapsed: int = 3600,
    tres: str = "billing=1,cpu=1,gres/gpu:h100=2,gres/gpu=2,node=1",
    uid: int = 1001,
    submitted: int | str = T0,
    ended: int | str = T0 + 3700,
    name: str = "jupyterhub-lahore-12",
    user: str = "alice",
    started: int | str = T0 + 100,
) -> str:
    """One line of ``sacct -o`` SACCT_FIELDS (the name last)."""
    return f"{job}|{state}|{elapsed}|{tres}|{uid}|{user}|{submitted}|{started}|{ended}|{name}"


SACCT = [
    ("typed and untyped", line(), {"h100": 2}, 2, "h100", 2),
    ("untyped only", line(tres="cpu=1,gres/gpu=2,node=1"), {}, 2, "h100", 2),
    ("type in upper case", line(tres="cpu=1,gres/gpu:H100=2"), {"h100": 2}, None, "h100", 2),
    (
        "MIG slices typed",
        line(tres="gres/gpu:1g.10gb=3,gres/gpu=3"),
        {"1g.10gb": 3},
        3,
        "1g.10gb",
        3,
    ),
    (
        "another type only: no count of this one",
        line(tres="cpu=1,gres/gpu:a100=1,gres/gpu=1"),
        {"a100": 1},
        1,
        "h100",
        None,
    ),
    ("no GPU TRES at all", line(tres="billing=1,cpu=1,node=1"), {}, None, "h100", None),
]


@pytest.mark.parametrize(
    ("text", "typed", "untyped", "gres", "units"),
    [pytest.param(t, ty, un, g, u, id=i) for i, t, ty, un, g, u in SACCT],
)
def test_gpu_counts_typed_and_untyped(
    text: str, typed: dict[str, int], untyped: int | None, gres: str, units: int | None
) -> None:
    (parsed,) = parse_sacct(text + "\n")
    assert (parsed.gpus, parsed.gpus_any) == (typed, untyped)
    assert parsed.units(gres) == units


FINALITY = [
    ("completed", line(), True),
    ("cancelled by root", line(state="CANCELLED by 0"), True),
    ("start record not in yet", line(uid=0, tres=""), False),
    ("still running", line(state="RUNNING", ended="Unknown"), False),
    ("a run that was requeued", line(state="REQUEUED"), True),
    ("pending again", line(state="PENDING", ended="Unknown", elapsed=0), False),
]


@pytest.mark.parametrize(("text", "final"), [pytest.param(t, f, id=i) for i, t, f in FINALITY])
def test_a_run_is_final_once_over_and_complete(text: str, final: bool) -> None:
    (parsed,) = parse_sacct(text)
    assert parsed.final is final


@pytest.mark.parametrize("text", ["", "\n", "a|b", "7|X|notanumber|||||||n"])
def test_parse_sacct_skips_what_is_not_a_record(text: str) -> None:
    assert parse_sacct(text) == []


def test_parse_sacct_keeps_a_name_with_bars_whole() -> None:
    (run,) = parse_sacct(line(name="a|b|c"))
    assert (run.name, run.user, run.started) == ("a|b|c", "alice", T0 + 100)


def usage_of(
    *lines: str, job_id: str | None = "7", since: int = T0 - 60, user: str = "alice"
) -> JobUsage | None:
    return session_usage(
        parse_sacct("\n".join(lines)),
        job_id=job_id,
        name="jupyterhub-lahore-12",
        user=user,
        since=since,
    )


def test_every_run_of_a_requeued_job_is_charged() -> None:
    first = line(state="REQUEUED", elapsed=600, ended=T0 + 610)
    second = line(elapsed=1200, submitted=T0 + 610, ended=T0 + 1900)
    usage = usage_of(first, second)
    assert usage is not None
    assert usage.complete
    assert usage.elapsed_s == 1800
    assert usage.resource_hours("gpu:h100") == {"gpu:h100": Decimal(1)}  # 2 GPUs x 0.5 h


def test_a_requeued_job_waiting_to_run_again_is_not_complete() -> None:
    first = line(state="REQUEUED", elapsed=600, ended=T0 + 610)
    assert usage_of(first).complete is False  # type: ignore[union-attr]
    # Its runs are final, though: cancelled while its run completed, the job gets no
    # record of the cancel, and only the queue says it ended (the spawner asks it).
    assert usage_of(first).final is True  # type: ignore[union-attr]
    again = line(state="PENDING", elapsed=0, submitted=T0 + 610, ended="Unknown")
    assert usage_of(first, again).complete is False  # type: ignore[union-attr]


def test_a_reused_job_id_is_read_from_the_holds_own_runs() -> None:
    """Job id 7 again after a controller reset: the old job (another hold's) is not it."""
    old = line(elapsed=36000, submitted=T0 - 86400, ended=T0 - 50000, name="jupyterhub-lahore-3")
    new = line(elapsed=60, submitted=T0, ended=T0 + 61)
    usage = usage_of(old, new, since=T0 - 30)
    assert usage is not None
    assert [run.submitted for run in usage.runs] == [T0]
    assert usage.resource_hours("gpu:h100") == {"gpu:h100": Decimal("0.0333")}
    other_name = line(name="jupyterhub-lahore-13", submitted=T0)
    assert usage_of(other_name, since=T0 - 30) is None


def test_the_sessions_own_job_is_read_whatever_the_clocks_say() -> None:
    """The controller's clock is 10 minutes behind the hub's (finding 5): its id, name and
    user are the session's, so its submit time is not compared with the hold's."""
    behind = line(submitted=T0 - 600, ended=T0 + 3000)
    usage = usage_of(behind, since=T0)
    assert usage is not None
    assert usage.complete
    # Found by name alone, the submit time still tells an earlier job from this one.
    assert usage_of(behind, job_id=None, since=T0) is None


@pytest.mark.parametrize("job_id", ["7", None], ids=["by id", "by name"])
def test_another_users_job_is_never_the_sessions(job_id: str | None) -> None:
    """mallory's job named for alice's hold (a cluster without the guard; finding 4)."""
    mallory = line(user="mallory", uid=1066)
    assert usage_of(mallory, job_id=job_id) is None
    # A record slurmdbd has not filled in yet (uid 0) keeps the usage incomplete.
    filling = usage_of(line(user="", uid=0, tres="", ended="Unknown"), job_id=job_id)
    assert filling is not None
    assert not filling.complete


def test_a_job_found_by_name_is_its_first_job() -> None:
    a = line(job="7", submitted=T0)
    b = line(job="9", submitted=T0 + 30)
    usage = usage_of(b, a, job_id=None)
    assert usage is not None
    assert usage.job_id == "7"


@pytest.mark.parametrize(
    ("tres", "resource", "gres", "hours", "unaccounted"),
    [
        ("gres/gpu:h100=2,gres/gpu=2", "gpu:h100", None, Decimal(2), 0),
        ("gres/gpu=2", "gpu:h100", None, Decimal(2), 0),
        ("gres/gpu:H100=2", "gpu:h100", None, Decimal(2), 0),
        ("cpu=1", "gpu:h100", None, Decimal(3), 1),  # never 0: the 3 requested
        ("gres/gpu:a100=1,gres/gpu=1", "gpu:h100", None, Decimal(3), 1),
        ("gres/gpu:1g.10gb=2,gres/gpu=2", "mig:a100:1g.10gb", "1g.10gb", Decimal(2), 0),
        ("cpu=1", "cpu", None, Decimal(1), 0),
    ],
)
def test_resource_hours(
    tres: str, resource: str, gres: str | None, hours: Decimal, unaccounted: int
) -> None:
    usage = usage_of(line(tres=tres))
    assert usage is not None
    assert usage.resource_hours(resource, gres, requested=3) == {resource: hours}
    assert len(usage.unaccounted(resource, gres)) == unaccounted


def test_a_job_cancelled_while_pending_costs_nothing() -> None:
    usage = usage_of(line(state="CANCELLED by 1001", elapsed=0, tres=""))
    assert usage is not None
    assert usage.complete
    assert usage.resource_hours("gpu:h100", requested=2) == {"gpu:h100": Decimal(0)}
    assert usage.unaccounted("gpu:h100", None) == []


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("7:00", 7),
        ("1:00:00", 60),
        ("2-00:00:00", 2880),
        ("1:30", 2),
        ("90", 90),
        ("UNLIMITED", None),
    ],
)
def test_parse_minutes(text: str, minutes: int | None) -> None:
    assert parse_minutes(text) == minutes


def test_parse_queue_keeps_names_whole_and_skips_cut_lines() -> None:
    out = (
        "7|RUNNING|alice|1796393480|0|jupyterhub-lahore-12|\n"
        "123_[0-1]|PENDING|bob|1796393481|0|jupyterhub-x|\n"
        "8|PENDING|bob|1796393482|1|a|b|\n"
        "9|PENDING|bob|1796393483|0|jupyterhub-lahore-5\n"
        "x|\n"
    )
    assert parse_queue(out) == [
        QueuedJob("7", "jupyterhub-lahore-12", "alice", "RUNNING", 1796393480),
        QueuedJob("123_[0-1]", "jupyterhub-x", "bob", "PENDING", 1796393481),
        QueuedJob("8", "a|b", "bob", "PENDING", 1796393482, restarts=1),
    ]
    assert [job.requeued for job in parse_queue(out)] == [False, False, True]


def test_parse_job_reads_allocation_and_limits() -> None:
    out = (
        "3|RUNNING|lahore-n1|None|gpu|7:00|bob|1796393562|"
        "cpu=1,node=1,billing=1,gres/gpu=2|gres:gpu:h100:2|1|1G|OK|0|1796393570|"
        "jupyterhub-lahore-7|\n"
    )
    info = parse_job(out, "3")
    assert info == JobInfo(
        state="RUNNING",
        node="lahore-n1",
        reason="None",
        name="jupyterhub-lahore-7",
        user="bob",
        partition="gpu",
        minutes=7,
        submitted=1796393562,
        gpus={},
        gpus_any=2,
        gres="gpu:h100:2",
        cpus=1,
        memory_mb=1024,
        exclusive=False,
        restarts=0,
        start=1796393570,
    )
    assert not info.requeued
    assert parse_job(out, "30") is None


@pytest.mark.parametrize(
    ("fields", "exclusive", "restarts", "requeued"),
    [
        ("gres:gpu:h100:1|1|0|NO|0|N/A|", True, 0, False),  # --exclusive --mem=0
        ("N/A|1|16000M|USER|0|0|", True, 0, False),
        ("gres:gpu:h100:1|1|1G|OK|2|1796393600|", False, 2, True),  # requeued twice, running again
    ],
)
def test_parse_job_reads_exclusivity_and_restarts(
    fields: str, exclusive: bool, restarts: int, requeued: bool
) -> None:
    out = f"4|PENDING|(null)|BeginTime|gpu|1:00:00|bob|1796393562||{fields}jupyterhub-lahore-8|\n"
    info = parse_job(out, "4")
    assert info is not None
    assert (info.exclusive, info.restarts, info.requeued) == (exclusive, restarts, requeued)


def test_parse_job_says_requeued_for_the_requeued_states() -> None:
    out = "5|REQUEUE_HOLD|(null)|JobHeldUser|gpu|1:00|bob|1||N/A|1|1G|OK|0|N/A|jupyterhub-x-1|\n"
    info = parse_job(out, "5")
    assert info is not None
    assert info.requeued


def test_config_from_scontrol_show_config() -> None:
    config = (
        "AccountingStorageHost   = 127.0.0.1\n"
        "AccountingStorageTRES   = cpu,mem,energy,node,billing,fs/disk,vmem,pages,gres/gpu,"
        "gres/gpu:H100\n"
        "JobSubmitPlugins        = job_submit/lua,all_partitions\n"
    )
    parsed = parse_config(config)
    assert {"gres/gpu", "gres/gpu:h100", "cpu"} <= parsed.accounting_tres
    assert parsed.job_submit_plugins == {"lua", "all_partitions"}
    assert parse_config("JobSubmitPlugins = (null)\n") == SlurmConfig(frozenset(), frozenset())
    assert parse_config("nothing") == SlurmConfig(frozenset(), frozenset())


@pytest.mark.parametrize(
    ("out", "job"), [("12\n", "12"), ("12;lahore\n", "12"), ("warning\n345\n", "345")]
)
def test_parse_job_id(out: str, job: str) -> None:
    assert parse_job_id(out) == job


@pytest.mark.parametrize("out", ["", "Submitted batch job 12", "12; rm -rf /", "abc"])
def test_parse_job_id_refuses_anything_else(out: str) -> None:
    with pytest.raises(SlurmError):
        parse_job_id(out)


EXPECTED = Expected("jupyterhub-lahore-7", "gpu", 60, "h100", 2, cpus=1, memory_mb=1024)
CPU_ONLY = Expected("jupyterhub-lahore-7", "gpu", 60, None, 0, cpus=1, memory_mb=1024)


def info(**changes: object) -> JobInfo:
    base: dict[str, object] = {
        "state": "RUNNING",
        "node": "n1",
        "reason": "None",
        "name": "jupyterhub-lahore-7",
        "partition": "gpu",
        "minutes": 60,
        "gpus": {"h100": 2},
        "gpus_any": 2,
        "gres": "gpu:h100:2",
        "cpus": 1,
        "memory_mb": 1024,
    }
    return JobInfo(**{**base, **changes})  # type: ignore[arg-type]


CPU_JOB: dict[str, object] = {"gpus": {}, "gpus_any": None, "gres": ""}


@pytest.mark.parametrize(
    ("case", "job", "expected", "problem"),
    [
        ("as paid", info(), EXPECTED, None),
        ("less time", info(minutes=30), EXPECTED, None),
        ("untyped accounting", info(gpus={}, gpus_any=2), EXPECTED, None),
        ("type in upper case", info(gres="gpu:H100:2"), EXPECTED, None),
        ("more GPUs asked", info(gres="gpu:h100:4", gpus={"h100": 4}), EXPECTED, "gpu:h100:4"),
        ("more GPUs given", info(gpus={"h100": 4}, gpus_any=4), EXPECTED, "4 h100 GPUs"),
        ("another type", info(gres="gpu:a100:2", gpus={"a100": 2}), EXPECTED, "gpu:a100:2"),
        (
            "another type where Slurm accounts only gres/gpu",
            info(gres="gpu:a100:2", gpus={}, gpus_any=2),
            EXPECTED,
            "asks for gpu:a100:2, not gpu:h100:2",
        ),
        ("other GPUs given", info(gpus={"a100": 2}), EXPECTED, "other GPUs"),
        ("more time", info(minutes=600), EXPECTED, "600 min"),
        ("no time limit", info(minutes=None), EXPECTED, "no time limit"),
        ("another partition", info(partition="batch"), EXPECTED, "partition 'batch'"),
        ("another job's name", info(name="x"), EXPECTED, "its name"),
        ("exclusive", info(exclusive=True), EXPECTED, "exclusive"),
        ("more CPUs", info(cpus=8), EXPECTED, "8 CPUs per task"),
        ("more memory", info(memory_mb=16000), EXPECTED, "16000 MB"),
        ("all the node's memory (--mem=0)", info(memory_mb=0), EXPECTED, "0 MB"),
        (
            "GPUs asked for a CPU session",
            info(**{**CPU_JOB, "gres": "gpu:h100:1", "gpus_any": 1}),
            CPU_ONLY,
            "CPU-only session asks for gpu:h100:1",
        ),
        ("GPUs given to a CPU session", info(**{**CPU_JOB, "gpus_any": 1}), CPU_ONLY, "CPU-only"),
        ("a CPU session", info(**CPU_JOB), CPU_ONLY, None),
    ],
)
def test_allocation_is_what_was_paid_for(
    case: str, job: JobInfo, expected: Expected, problem: str | None
) -> None:
    found = allocation_problem(job, expected)
    if problem is None:
        assert found is None, case
    else:
        assert found is not None, case
        assert problem in found, found


@pytest.mark.parametrize(
    ("tracked", "missing"),
    [
        ({"gres/gpu", "gres/gpu:h100", "gres/gpu:1g.10gb"}, []),
        ({"gres/gpu"}, []),  # untyped counts every type
        ({"gres/gpu:h100", "gres/gpu:1g.10gb"}, []),
        ({"gres/gpu:h100"}, [("mig:h100:1g.10gb", "gres/gpu:1g.10gb")]),
        ({"cpu", "mem"}, [("gpu:h100", "gres/gpu:h100"), ("mig:h100:1g.10gb", "gres/gpu:1g.10gb")]),
    ],
)
def test_the_tres_each_gpu_rate_needs(tracked: set[str], missing: list[tuple[str, str]]) -> None:
    site = load_site(EXAMPLE)
    lahore = HubRegistry(site)["lahore"]
    rated = {r: v for r, v in lahore.rates.items() if r in ("cpu", "gpu:h100", "mig:h100:1g.10gb")}
    hub = HubEntry(**{**lahore.__dict__, "rates": rated})
    assert missing_tres(hub, tracked) == missing
    problem = tres_problem(hub, tracked)
    if missing:
        assert problem is not None
        assert problem.startswith(f"hub lahore: Slurm does not account {missing[0][1]}, ")
        assert "to AccountingStorageTRES in /etc/slurm/lahore/slurm.conf" in problem
    else:
        assert problem is None


PLACED = datetime.fromtimestamp(T0 - 3 * 3600, UTC)  # a hold placed 3 h before T0


@pytest.mark.parametrize(
    ("case", "lines", "end"),
    [
        # The review's case: a 1 h session waited 3 h in the queue, then ran.
        ("running since T0", [line(state="RUNNING", started=T0, ended="Unknown")], T0 + 3600),
        ("never started, no record", [], T0 - 2 * 3600),
        ("pending: never ended", [line(state="PENDING", started="Unknown", ended="Unknown")], None),
        (
            "requeued, waiting to run again",
            [
                line(state="REQUEUED", started=T0, ended=T0 + 60),
                line(state="PENDING", submitted=T0 + 60, started="Unknown", ended="Unknown"),
            ],
            None,
        ),
        (
            "requeued and running again: from the latest start",
            [
                line(state="REQUEUED", started=T0, ended=T0 + 60),
                line(state="RUNNING", submitted=T0 + 60, started=T0 + 200, ended="Unknown"),
            ],
            T0 + 200 + 3600,
        ),
        ("incomplete record", [line(uid=0, tres="", user="", started=T0)], T0 + 3600),
    ],
)
def test_a_jobs_funded_end_counts_from_its_runs_start(
    case: str, lines: list[str], end: int | None
) -> None:
    usage = usage_of(*lines) if lines else None
    found = funded_end(usage, PLACED, Decimal(1))
    assert (found.timestamp() if found else None) == end, case


@pytest.mark.parametrize(
    ("submitted", "skew"),
    [(T0, 0), (T0 + 2, 0), (T0 - 1, 0), (T0 + 300, 298), (T0 - 600, -600)],
    ids=["in sync", "within sbatch", "a second early", "ahead", "behind"],
)
def test_clock_skew_from_a_jobs_submit_time(submitted: int, skew: int) -> None:
    assert clock_skew(submitted, before=T0, after=T0 + 2) == skew


@pytest.mark.parametrize(
    ("reason", "sentence"),
    [
        ("None", None),
        ("", None),
        ("Priority", "other jobs are ahead of it in the queue"),
        ("Resources", "the GPUs or memory it needs are in use; it starts when they are free"),
        ("QOSMaxGRESPerUser", "you (or your group) are at a usage limit"),
        ("AssocGrpGRES", "your account is at a usage limit"),
        (
            "ReqNodeNotAvail, UnavailableNodes:gpu[01-04]",
            "the nodes it needs are not available now (maintenance or reserved)",
        ),
        ("Dependency", "it waits for another job to finish"),
        ("PartitionDown", "the hub's session partition is closed for now"),
        ("PartitionTimeLimit", "it is beyond a limit of the hub's session partition"),
        ("SomethingNew gpu[01]", GENERIC),
    ],
)
def test_a_waiting_reason_is_a_fixed_sentence(reason: str, sentence: str | None) -> None:
    said = waiting_reason(reason)
    if sentence is None:
        assert said is None
    else:
        assert said is not None
        assert said.startswith(sentence)
        assert "gpu[" not in said  # never Slurm's own details


def lahore(**changes: object) -> HubEntry:
    hub = HubRegistry(load_site(EXAMPLE))["lahore"]
    return HubEntry(**{**hub.__dict__, **changes})


GUARDED = SlurmConfig(frozenset({"gres/gpu"}), frozenset({"lua"}))


@pytest.mark.parametrize(
    ("case", "hub", "config", "problem"),
    [
        ("guarded", lahore(), GUARDED, None),
        (
            "a key, but no lua plugin",
            lahore(),
            SlurmConfig(frozenset({"gres/gpu"}), frozenset()),
            "set JobSubmitPlugins=lua in /etc/slurm/lahore/slurm.conf",
        ),
        (
            "no key, GPUs sold",
            lahore(ticket_key_file=None),
            GUARDED,
            "hubs.lahore.slurm: a hub that sells GPUs needs its cluster's job_submit.lua guard",
        ),
        (
            "no key, knowingly unguarded",
            lahore(ticket_key_file=None, unguarded=True),
            GUARDED,
            None,
        ),
        (
            "no key, CPUs only",
            lahore(ticket_key_file=None, rates={"cpu": Decimal(1)}),
            SlurmConfig(frozenset(), frozenset()),
            None,
        ),
    ],
)
def test_a_hub_that_sells_gpus_needs_the_guard(
    case: str, hub: HubEntry, config: SlurmConfig, problem: str | None
) -> None:
    found = [p for p in (unguarded_problem(hub), *config_problems(hub, config)) if p]
    if problem is None:
        assert found == [], case
    else:
        assert len(found) == 1, found
        assert problem in found[0], found


HOLD = Hold(
    id=12,
    account="alice",
    hub="lahore",
    job_id="7",
    status="open",
    hours=Decimal(1),
    amount=Decimal(20),
    per_hour=Decimal(20),
    resources={"gpu:h100": 2},
    rates={"gpu:h100": Decimal(10)},
    created_at=PLACED,
)


def test_every_run_of_a_requeued_job_is_named_in_the_alerts() -> None:
    usage = usage_of(
        line(state="REQUEUED", elapsed=600, ended=T0 + 610),
        line(elapsed=3600, submitted=T0 + 610, started=T0 + 700, ended=T0 + 4300),
    )
    assert usage is not None
    used, problems = usage_charge(HOLD, usage, lambda _: "h100")
    assert used == {"gpu:h100": Decimal("2.3333")}
    assert problems == ["job 7 was requeued: its 2 runs (4200 s in all) are charged"]
    assert usage_charge(HOLD, usage_of(line()) or usage, lambda _: "h100")[1] == []


@pytest.mark.parametrize(
    ("cost", "alert"),
    [(Decimal(20), False), (Decimal("20.0001"), True), (Decimal(5), False)],
    ids=["the hold", "more than the hold", "less"],
)
def test_a_cost_beyond_the_hold_is_an_alert(cost: Decimal, alert: bool) -> None:
    charge = Charge(
        id=1,
        hold_id=12,
        account="alice",
        hub="lahore",
        amount=min(cost, HOLD.amount),
        cost=cost,
        released=HOLD.amount - min(cost, HOLD.amount),
        usage={"gpu:h100": cost / 10},
        created_at=PLACED,
    )
    said = overrun(HOLD, charge)
    assert (said is not None) == alert
    if said is not None:
        assert said.startswith("ALERT: hold 12 (lahore/7): the session cost 20.0001")


def test_a_hub_with_a_key_can_not_also_say_unguarded(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        "job_ticket_key_file: /etc/computehub/lahore-ticket.key",
        "job_ticket_key_file: /etc/computehub/lahore-ticket.key\n      unguarded: true",
    )
    (tmp_path / "site.yaml").write_text(text)
    with pytest.raises(SiteFileError) as caught:
        load_site(tmp_path / "site.yaml")
    assert "a hub with a job_ticket_key_file is guarded: drop 'unguarded'" in str(
        caught.value.lines()
    )
