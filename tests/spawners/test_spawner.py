"""The Slurm spawner on the real two-cluster bed, through JupyterHub's REST API."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.request
from typing import Any

import pytest

from computehub.credits.errors import ConflictError
from computehub.credits.ledger import Ledger
from computehub.localbed.bed import SlurmBed
from tests.support.sessions import stop, wait_ready

pytestmark = pytest.mark.integration


def slurm_out(bed: SlurmBed, hub: str, *argv: str) -> str:
    return subprocess.run(
        list(argv),
        env=bed.clusters[hub].env,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    ).stdout.strip()


@pytest.mark.parametrize(
    ("hub_name", "gpu", "count", "hours", "limit"),
    [
        ("lahore", "h100", 1, "1", "1:00:00"),
        ("lahore", "h100", 2, "0.5", "30:00"),
        ("karachi", "a100", 1, "2", "2:00:00"),
        ("karachi", "a100", 2, "1.25", "1:15:00"),
    ],
)
def test_start_on_each_hub_with_one_and_two_gpus(
    hub: Any,
    slurm_bed: SlurmBed,
    clean: None,
    hub_name: str,
    gpu: str,
    count: int,
    hours: str,
    limit: str,
) -> None:
    options = {"hub": hub_name, "gpu_type": gpu, "gpus": count, "hours": hours}
    status, body = hub.api("POST", "/users/alice/server", options)
    assert status in (201, 202), body
    server = wait_ready(hub, "alice")
    job_id = server["state"]["job_id"]
    assert server["state"]["hub"] == hub_name
    line = slurm_out(slurm_bed, hub_name, "squeue", "-h", "-j", job_id, "-o", "%u|%T|%b|%l|%P")
    assert line == f"alice|RUNNING|gres:gpu:{gpu}:{count}|{limit}|gpu"
    # The server answers through the proxy.
    req = urllib.request.Request(  # noqa: S310 (loopback)
        f"{hub.url}/user/alice/api/status", headers={"Authorization": f"token {hub.token}"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
        assert resp.status == 200
    stop(hub, "alice")
    state = slurm_out(slurm_bed, hub_name, "squeue", "-h", "-j", job_id, "-o", "%T")
    assert state in ("", "CANCELLED", "COMPLETING", "COMPLETED")


def hostile_payloads() -> list[tuple[str, Any]]:
    """Fifty user_options a hostile client might send; none may reach sbatch."""
    shell = [
        "$(id)",
        "`id`",
        "a;b",
        "a|b",
        "a&&b",
        "a\nb",
        "a b",
        "../etc",
        "a'b",
        'a"b',
        "${IFS}",
        "a>b",
        "*",
        "~root",
        "-x",
    ]
    slurm = [
        "gpu:h100:8",
        "--uid=0",
        "#SBATCH --uid=0",
        "--wrap=id",
        "h100,gpu:a100:4",
        "gpu --exclusive",
        "h100\n#SBATCH --time=99-0",
    ]
    payloads: list[tuple[str, Any]] = []
    payloads += [(f"shell in hub {s!r}", {"hub": s}) for s in shell[:8]]
    payloads += [(f"shell in gpu_type {s!r}", {"gpu_type": s}) for s in shell[8:]]
    payloads += [(f"slurm in gpu_type {s!r}", {"gpu_type": s}) for s in slurm]
    payloads += [
        ("mass assignment exec_prefix", {"exec_prefix": "bash -c id"}),
        ("mass assignment batch_script", {"batch_script": "#!/bin/sh\nid"}),
        ("req_ trait", {"req_options": "--uid=0"}),
        ("gres key", {"gres": "gpu:h100:4"}),
        ("partition key", {"partition": "debug"}),
        ("cmd key", {"cmd": ["/bin/sh"]}),
        ("env key", {"environment": "notebook", "env": {"LD_PRELOAD": "/tmp/x.so"}}),
        ("gpus too many", {"gpu_type": "h100", "gpus": 99}),
        ("gpus negative", {"gpu_type": "h100", "gpus": -1}),
        ("gpus bool", {"gpu_type": "h100", "gpus": True}),
        ("gpus float", {"gpu_type": "h100", "gpus": 1.5}),
        ("gpus string expr", {"gpu_type": "h100", "gpus": "1+1"}),
        ("gpus null", {"gpu_type": "h100", "gpus": None}),
        ("hours huge", {"hours": "100000"}),
        ("hours negative", {"hours": "-1"}),
        ("hours slurm time", {"hours": "1-00:00:00"}),
        ("hours infinity", {"hours": "Infinity"}),
        ("hours list", {"hours": ["1"]}),
        ("hub list", {"hub": ["lahore", "karachi"]}),
        ("hub object", {"hub": {"$ne": ""}}),
        ("hub number", {"hub": 7}),
        ("unknown environment", {"environment": "/bin"}),
        ("environment path", {"environment": "../../usr"}),
        ("gpu the hub lacks", {"hub": "karachi", "gpu_type": "h100"}),
        ("unicode lookalike", {"hub": "l\u0430hore"}),  # Cyrillic a
        ("empty key", {"": "x"}),
        ("cpu with gpus", {"gpu_type": "none", "gpus": 2}),
        ("nul byte", {"hub": "lahore\x00"}),
    ]
    assert len(payloads) == 50, len(payloads)
    return payloads


def jobs_of(bed: SlurmBed, user: str) -> str:
    return "\n".join(
        slurm_out(
            bed, hub, "sacct", "-n", "-X", "-P", "-u", user, "-S", "now-1hours", "-o", "JobID"
        )
        for hub in bed.clusters
    )


def test_hostile_user_options_are_refused_before_sbatch(
    hub: Any, slurm_bed: SlurmBed, clean: None
) -> None:
    before = jobs_of(slurm_bed, "bob")
    for name, payload in hostile_payloads():
        status, body = hub.api("POST", "/users/bob/server", payload)
        assert status == 400, (name, status, body)
        assert body["message"].startswith("Invalid spawn option"), (name, body)
        _, model = hub.api("GET", "/users/bob")
        assert not model["servers"], name
    assert jobs_of(slurm_bed, "bob") == before


def test_refusal_names_field_and_reason(hub: Any, clean: None) -> None:
    status, body = hub.api("POST", "/users/bob/server", {"hub": "karachi", "gpu_type": "h100"})
    assert status == 400
    assert body["message"] == (
        "Invalid spawn option gpu_type: Karachi AI Hub has no 'h100' GPUs (it has: a100)"
    )
    status, body = hub.api("POST", "/users/alice/server", {"gpu_type": "h100", "gpus": 3})
    assert status == 400
    assert body["message"] == "Invalid spawn option gpus: must be between 1 and 2 on Lahore AI Hub"


def test_resources_by_role_and_course(hub: Any, slurm_bed: SlurmBed, clean: None) -> None:
    """Lahore's H100s are for researchers, instructors, operators and the intro-ml course.

    bob logged in through the directory as a student: refused, with who may use them,
    and nothing reaches Slurm or the ledger; once he is a student of intro-ml he may.
    """
    h100 = {"hub": "lahore", "gpu_type": "h100", "gpus": 1, "hours": "0.25"}
    with Ledger(hub.ledger_url) as ledger:
        jobs_before = jobs_of(slurm_bed, "bob")
        holds_before = len(ledger.open_holds())
        status, body = hub.api("POST", "/users/bob/server", h100)
        assert status == 400, body
        assert body["message"] == (
            "Invalid spawn option gpu_type: H100 GPUs on Lahore AI Hub are for researchers, "
            "instructors, operators and members of the course intro-ml "
            "(your roles: student; your courses: none)"
        )
        assert jobs_of(slurm_bed, "bob") == jobs_before
        assert len(ledger.open_holds()) == holds_before
        # The A100s next door are open to everyone.
        status, body = hub.api(
            "POST", "/users/bob/server", {**h100, "gpu_type": "a100", "hours": "0.1"}
        )
        assert status in (201, 202), body
        wait_ready(hub, "bob")
        stop(hub, "bob")

        with contextlib.suppress(ConflictError):
            ledger.create_account("intro-ml", "course", actor="test")
        ledger.add_member("intro-ml", "bob", "student", actor="test")
        # A course's resource is paid from its pool by default: fund it.
        ledger.grant("intro-ml", "1000", actor="test", idempotency_key="intro-ml-pool")
        status, body = hub.api("POST", "/users/bob/server", h100)
        assert status in (201, 202), body
        server = wait_ready(hub, "bob")
        job = server["state"]["job_id"]
        gres = slurm_out(slurm_bed, "lahore", "squeue", "-h", "-j", job, "-o", "%b")
        assert "h100:1" in gres, gres
        stop(hub, "bob")


def block_gpus(bed: SlurmBed, hub_name: str, gres: str) -> str:
    """Occupy GPUs with another user's job; returns its id."""
    job = subprocess.run(
        [
            "sudo",
            "-n",
            "-u",
            "carol",
            "--preserve-env=SLURM_CONF",
            "sbatch",
            "--parsable",
            f"--gres={gres}",
            "--time=10",
            "--output=/dev/null",
            "--wrap",
            "sleep 600",
        ],
        env=bed.clusters[hub_name].env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    deadline = time.monotonic() + 30
    while slurm_out(bed, hub_name, "squeue", "-h", "-j", job, "-o", "%T") != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    return job


def test_any_hub_goes_where_the_gpu_is_free_and_cheapest(
    hub: Any, slurm_bed: SlurmBed, clean: None
) -> None:
    # An A100 costs 7 in Karachi and 8 in Lahore: Karachi first.
    hub.api("POST", "/users/alice/server", {"hub": "any", "gpu_type": "a100", "gpus": 2})
    assert wait_ready(hub, "alice")["state"]["hub"] == "karachi"
    stop(hub, "alice")
    # With Karachi's A100s busy, the same request goes to Lahore.
    blocker = block_gpus(slurm_bed, "karachi", "gpu:a100:3")
    time.sleep(1)  # let the cached view of free GPUs expire (0.5 s in the tests' config)
    hub.api("POST", "/users/alice/server", {"hub": "any", "gpu_type": "a100", "gpus": 2})
    assert wait_ready(hub, "alice")["state"]["hub"] == "lahore"
    stop(hub, "alice")
    # Nowhere free: a refusal that says what was seen.
    block_gpus(slurm_bed, "lahore", "gpu:a100:1")
    time.sleep(1)
    status, body = hub.api(
        "POST", "/users/alice/server", {"hub": "any", "gpu_type": "a100", "gpus": 2}
    )
    assert status == 400
    assert body["message"] == (
        "Invalid spawn option hub: no hub has 2 free A100 GPUs right now "
        "(lahore: 1 free, karachi: 1 free)"
    )
    slurm_out(slurm_bed, "karachi", "scancel", blocker)


def read_progress(hub: Any, user: str, until: str, timeout: float = 60) -> list[str]:
    req = urllib.request.Request(  # noqa: S310 (loopback)
        f"{hub.url}/hub/api/users/{user}/server/progress",
        headers={"Authorization": f"token {hub.token}", "Accept": "text/event-stream"},
    )
    messages: list[str] = []
    deadline = time.monotonic() + timeout
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
        for raw in resp:
            line = raw.decode().strip()
            if line.startswith("data:"):
                messages.append(json.loads(line[5:]).get("message", ""))
                if until in messages[-1]:
                    return messages
            assert time.monotonic() < deadline, messages
    return messages


def test_progress_tells_queue_position_and_reason(
    hub: Any, slurm_bed: SlurmBed, clean: None
) -> None:
    blocker = block_gpus(slurm_bed, "karachi", "gpu:a100:4")
    status, _ = hub.api("POST", "/users/bob/server", {"hub": "karachi", "gpu_type": "a100"})
    assert status in (201, 202)  # 201 after the hub's 10 s wait, still pending
    messages = read_progress(hub, "bob", "position 1 in the queue")
    # A fixed sentence per Slurm reason (Resources, or Priority), never Slurm's words.
    assert (
        "position 1 in the queue: the GPUs or memory it needs are in use" in messages[-1]
        or "position 1 in the queue: other jobs are ahead of it in the queue" in messages[-1]
    ), messages[-1]
    assert "Slurm says" not in messages[-1]
    assert "waiting costs nothing" in messages[-1]
    slurm_out(slurm_bed, "karachi", "scancel", blocker)
    assert wait_ready(hub, "bob")["state"]["hub"] == "karachi"


def test_controller_down_keeps_sessions_and_refuses_new_starts(
    hub: Any, slurm_bed: SlurmBed, clean: None
) -> None:
    hub.api("POST", "/users/alice/server", {"hub": "lahore", "gpu_type": "h100"})
    wait_ready(hub, "alice")
    lahore = slurm_bed.clusters["lahore"]
    lahore.stop_controller()
    try:
        time.sleep(8)  # two hub polls of alice's server find Slurm unreachable
        _, model = hub.api("GET", "/users/alice")
        assert model["servers"][""]["ready"]
        req = urllib.request.Request(  # noqa: S310 (loopback)
            f"{hub.url}/user/alice/api/status", headers={"Authorization": f"token {hub.token}"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            assert resp.status == 200
        # carol (an operator) may use Lahore's H100s whatever ran before this test.
        status, body = hub.api("POST", "/users/carol/server", {"hub": "lahore", "gpu_type": "h100"})
        assert status == 503, body
        assert "scheduler is not answering" in body["message"]
        # A fixed sentence for the person: Slurm's own words go to the hub's log.
        slurm_words = ("Unable to contact", "Socket timed out", "Connection refused", "slurm")
        assert not any(word in body["message"] for word in slurm_words), body
    finally:
        lahore.start_controller()
    _, model = hub.api("GET", "/users/alice")
    assert model["servers"][""]["ready"]


def test_sessions_survive_a_hub_crash(hub: Any, slurm_bed: SlurmBed, clean: None) -> None:
    for user, hub_name in (("alice", "lahore"), ("bob", "karachi"), ("carol", "karachi")):
        hub.api("POST", f"/users/{user}/server", {"hub": hub_name, "gpu_type": "none"})
    jobs = {user: wait_ready(hub, user)["state"] for user in ("alice", "bob", "carol")}
    hub.process.kill()  # SIGKILL: no cleanup of any kind
    # While the hub is down, carol's session ends.
    slurm_out(slurm_bed, "karachi", "scancel", jobs["carol"]["job_id"])
    hub.process.start()
    for user in ("alice", "bob"):
        server = wait_ready(hub, user, timeout=30)
        assert server["state"]["job_id"] == jobs[user]["job_id"]
        req = urllib.request.Request(  # noqa: S310 (loopback)
            f"{hub.url}/user/{user}/api/status", headers={"Authorization": f"token {hub.token}"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            assert resp.status == 200
    deadline = time.monotonic() + 30
    while True:
        _, model = hub.api("GET", "/users/carol")
        if not model["servers"]:
            break
        assert time.monotonic() < deadline, "carol's ended session is still listed"
        time.sleep(0.5)
    # Nothing lost: carol's session was settled exactly once; the others still hold.
    with Ledger(hub.ledger_url) as ledger:
        deadline = time.monotonic() + 30
        while ledger.hold(jobs["carol"]["hold_id"]).status == "open":
            assert time.monotonic() < deadline, "carol's ended session was never settled"
            time.sleep(0.5)
        charges = [
            e
            for e in ledger.history("carol", limit=1000)
            if e.kind == "charge" and e.hold_id == jobs["carol"]["hold_id"]
        ]
        assert len(charges) == 1
        for user in ("alice", "bob"):
            assert ledger.hold(jobs[user]["hold_id"]).status == "open"
        assert ledger.check().ok
