"""The clusters' job_submit.lua guard, run by the Lua 5.1 library Slurm itself links.

Debian 12's ``job_submit_lua.so`` is built on ``liblua5.1.so.0`` (a dependency of
slurm-wlm); these tables load ``hub_config/slurm/job_submit.lua`` into that library
through ctypes, with a ``slurm`` table standing in for slurmctld's, and check its
decisions and its HMAC against Python's (``spawners/jobticket.py`` signs tickets).
The bed test (tests/spawners/test_slurm_guard.py) runs it inside real slurmctlds.
"""

from __future__ import annotations

import ctypes
import hashlib
import hmac
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from computehub.localbed.proc import MissingComponentError
from computehub.spawners.jobticket import JobClaim, sign, verify
from tests.support.bedtools import component_missing

GUARD = Path(__file__).resolve().parents[2] / "hub_config" / "slurm" / "job_submit.lua"
KEY = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
BOB = 1002
SUCCESS, ERROR = 0, -1


def _lua_library() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL("liblua5.1.so.0")
    except OSError:
        component_missing(MissingComponentError("liblua5.1.so.0 (Debian liblua5.1-0, with Slurm)"))
        raise
    lib.luaL_newstate.restype = ctypes.c_void_p
    lib.luaL_openlibs.argtypes = [ctypes.c_void_p]
    lib.luaL_loadfile.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.luaL_loadstring.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.lua_pcall.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.lua_tolstring.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    lib.lua_tolstring.restype = ctypes.c_char_p
    lib.lua_settop.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.lua_close.argtypes = [ctypes.c_void_p]
    return lib


def lua_str(value: str) -> str:
    """A Lua string literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def lua_value(value: object) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"[{lua_value(k)}] = {lua_value(v)}" for k, v in value.items()) + "}"
    return lua_str(str(value))


class Guard:
    """One Lua state with the guard loaded, as slurmctld holds it."""

    def __init__(self, lib: ctypes.CDLL, directory: Path) -> None:
        self.lib = lib
        self.state = lib.luaL_newstate()
        lib.luaL_openlibs(self.state)
        self.run(
            "user_messages = {}\n"
            "slurm = {SUCCESS = 0, ERROR = -1,\n"
            "  log_info = function(...) end, log_error = function(...) end,\n"
            "  log_user = function(fmt, ...)\n"
            "    table.insert(user_messages, string.format(fmt, ...)) end}"
        )
        if lib.luaL_loadfile(self.state, str(directory / "job_submit.lua").encode()) != 0:
            raise AssertionError(self._error())
        if lib.lua_pcall(self.state, 0, 1, 0) != 0:
            raise AssertionError(self._error())
        lib.lua_settop(self.state, 0)

    def _error(self) -> str:
        message = self.lib.lua_tolstring(self.state, -1, None)
        self.lib.lua_settop(self.state, 0)
        return (message or b"?").decode()

    def run(self, code: str) -> str | None:
        """Run a chunk; its first result as a string (None for nil)."""
        if self.lib.luaL_loadstring(self.state, code.encode()) != 0:
            raise AssertionError(self._error())
        if self.lib.lua_pcall(self.state, 0, 1, 0) != 0:
            raise AssertionError(self._error())
        out = self.lib.lua_tolstring(self.state, -1, None)
        self.lib.lua_settop(self.state, 0)
        return None if out is None else out.decode()

    def submit(self, job: Mapping[str, object], uid: int = BOB) -> int:
        parts = {"gpu": {"name": "gpu", "flag_default": 0}, "batch": {"flag_default": 1}}
        return int(
            self.run(f"return slurm_job_submit({lua_value(job)}, {lua_value(parts)}, {uid})") or 0
        )

    def modify(self, change: Mapping[str, object], record: Mapping[str, object], uid: int) -> int:
        return int(
            self.run(
                f"return slurm_job_modify({lua_value(change)}, {lua_value(record)}, {{}}, {uid})"
            )
            or 0
        )

    def last_message(self) -> str:
        return self.run("return user_messages[#user_messages]") or ""

    def close(self) -> None:
        self.lib.lua_close(self.state)


def install(
    directory: Path,
    key: bytes | None = KEY,
    admin_uids: str = "0",
    cluster: str | None = "lahore",
    key_file: Path | None = None,
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "job_submit.lua").write_text(GUARD.read_text())
    lines = ["portal_partitions = gpu", f"admin_uids = {admin_uids}"]
    if cluster is not None:
        lines.append(f"cluster = {cluster}")
    if key is not None:
        (directory / "ticket.key").write_bytes(key + b"\n")
        lines.append(f"ticket_key_file = {directory / 'ticket.key'}")
    elif key_file is not None:
        lines.append(f"ticket_key_file = {key_file}")
    (directory / "computehub-guard.conf").write_text("\n".join(lines) + "\n")
    return directory


@pytest.fixture
def guard(tmp_path: Path) -> Iterator[Guard]:
    loaded = Guard(_lua_library(), install(tmp_path))
    yield loaded
    loaded.close()


CLAIM = JobClaim("lahore", BOB, "jupyterhub-lahore-12", "gpu", 60, "gpu:h100:1", 1, 1024)
NO_VAL16 = 65534


def portal_job(
    claim: JobClaim = CLAIM, ticket: str | None = None, **changes: object
) -> dict[str, object]:
    """A job as slurmctld gives it to job_submit for the portal's sbatch (as seen on the bed:
    ``--nodes=1 --ntasks=1 --cpus-per-task=1 --mem=1G --no-requeue --gres=...``)."""
    if ticket is None:
        now = int(time.time())
        ticket = sign(KEY, claim, now, now + 300, "00112233445566778899aabbccddeeff")
    job: dict[str, object] = {
        "user_id": claim.uid,
        "name": claim.name,
        "partition": claim.partition,
        "time_limit": claim.minutes,
        "tres_per_node": f"gres:{claim.gres}" if claim.gres else None,
        "comment": ticket,
        "requeue": 0,
        "min_nodes": 1,
        "max_nodes": 1,
        "num_tasks": 1,
        "cpus_per_task": claim.cpus,
        "pn_min_cpus": claim.cpus,
        "min_mem_per_node": claim.memory_mb,
        "shared": 0 if claim.exclusive else NO_VAL16,
    }
    job.update(changes)
    return job


@pytest.mark.parametrize(
    "message",
    [b"", b"abc", b"x" * 55, b"x" * 56, b"x" * 64, b"v1\n1002\njupyterhub-lahore-12\n" * 9],
    ids=["empty", "short", "55 bytes", "56 bytes", "one block", "several blocks"],
)
@pytest.mark.parametrize("key", [KEY, b"k" * 100], ids=["hex key", "key over a block"])
def test_lua_hmac_is_hmac_sha256(guard: Guard, key: bytes, message: bytes) -> None:
    got = guard.run(
        f"return computehub_guard.hmac_sha256_hex({lua_str(key.decode())}, "
        f"{lua_str(message.decode())})"
    )
    assert got == hmac.new(key, message, hashlib.sha256).hexdigest()


def test_lua_signs_what_the_hub_signs(guard: Guard) -> None:
    job = portal_job()
    assert verify(KEY, CLAIM, str(job["comment"]), int(time.time()))
    assert guard.submit(job) == SUCCESS


@pytest.mark.parametrize(
    ("case", "job", "uid", "expected"),
    [
        ("a user's job in their own partition", {"user_id": BOB, "partition": "batch"}, BOB, 0),
        ("a user's job in the default partition", {"user_id": BOB, "name": "train"}, BOB, 0),
        ("a user's job in the portal's partition", {"user_id": BOB, "partition": "gpu"}, BOB, -1),
        (
            "several partitions, one the portal's",
            {"user_id": BOB, "partition": "batch,gpu"},
            BOB,
            -1,
        ),
        (
            "a user's job named like a session",
            {"user_id": BOB, "name": "jupyterhub-x", "partition": "batch"},
            BOB,
            -1,
        ),
        (
            "a forged ticket elsewhere",
            {"user_id": BOB, "partition": "batch", "comment": "computehub-ticket:v1:1:00:00"},
            BOB,
            -1,
        ),
        ("root in the portal's partition", {"user_id": 0, "partition": "gpu"}, 0, 0),
    ],
)
def test_who_may_submit_without_a_ticket(
    guard: Guard, case: str, job: dict[str, object], uid: int, expected: int
) -> None:
    assert guard.submit(job, uid) == expected, case
    if expected == ERROR:
        assert guard.last_message().startswith("computehub: notebook sessions")


def ticket(claim: JobClaim = CLAIM, ttl: int = 300, nonce: str = "ab" * 8, age: int = 0) -> str:
    """A ticket issued ``age`` seconds ago, valid ``ttl`` seconds from now."""
    now = int(time.time())
    return sign(KEY, claim, now - age, now + ttl, nonce)


#: Jobs that differ from what the ticket signs; built when the test runs (tickets expire).
MISMATCHES: list[tuple[str, Callable[[], dict[str, object]], str]] = [
    (
        "more GPUs than signed",
        lambda: portal_job(tres_per_node="gres:gpu:h100:2"),
        "does not match",
    ),
    ("another GPU type", lambda: portal_job(tres_per_node="gres:gpu:a100:1"), "does not match"),
    ("a longer time limit", lambda: portal_job(time_limit=600), "does not match"),
    ("another partition", lambda: portal_job(partition="batch"), "does not match"),
    ("another user", lambda: portal_job(user_id=1003), "does not match"),
    ("another name", lambda: portal_job(name="jupyterhub-lahore-13"), "does not match"),
    (
        "signed for another cluster",
        lambda: portal_job(ticket=ticket(JobClaim(**{**CLAIM.__dict__, "cluster": "karachi"}))),
        "does not match",
    ),
    ("more CPUs per task", lambda: portal_job(cpus_per_task=8, pn_min_cpus=8), "does not match"),
    ("--mincpus", lambda: portal_job(pn_min_cpus=16), "CPUs in a way"),
    ("more memory", lambda: portal_job(min_mem_per_node=16000), "does not match"),
    ("all the node's memory (--mem=0)", lambda: portal_job(min_mem_per_node=0), "does not match"),
    ("memory per CPU", lambda: portal_job(min_mem_per_node=None), "does not match"),
    ("--exclusive", lambda: portal_job(shared=0), "does not match"),
    ("--exclusive=user", lambda: portal_job(shared=2), "does not match"),
    ("GPUs per job besides", lambda: portal_job(tres_per_job="gres:gpu:4"), "in a way"),
    ("CPUs per GPU", lambda: portal_job(cpus_per_tres="gres:gpu:8"), "GPUs in a way"),
    ("memory per GPU", lambda: portal_job(mem_per_tres="gres:gpu:65536"), "GPUs in a way"),
    ("requeueable", lambda: portal_job(requeue=1), "may be requeued"),
    ("an array", lambda: portal_job(array_inx="0-3"), "one job of one task on one node"),
    ("two nodes", lambda: portal_job(max_nodes=2), "one job of one task on one node"),
    ("two tasks", lambda: portal_job(num_tasks=2), "one job of one task on one node"),
    ("expired", lambda: portal_job(ticket=ticket(ttl=-5)), "expired"),
    ("valid for too long", lambda: portal_job(ticket=ticket(ttl=3600)), "too long"),
    ("issued too long before it expires", lambda: portal_job(ticket=ticket(age=400)), "too long"),
    ("no ticket", lambda: portal_job(comment=None), "no portal ticket"),
    (
        "an old ticket format",
        lambda: portal_job(comment=f"computehub-ticket:v1:{int(time.time()) + 60}:{'ab' * 8}:00"),
        "no portal ticket",
    ),
]


@pytest.mark.parametrize(("case", "make", "reason"), MISMATCHES, ids=[c for c, _, _ in MISMATCHES])
def test_a_ticket_admits_exactly_the_job_it_signs(
    guard: Guard, case: str, make: Callable[[], dict[str, object]], reason: str
) -> None:
    assert guard.submit(make()) == ERROR, case
    assert reason in guard.last_message(), guard.last_message()


def test_a_ticket_starts_one_job_only(guard: Guard) -> None:
    job = portal_job()
    assert guard.submit(job) == SUCCESS
    assert guard.submit(job) == ERROR
    assert "used already" in guard.last_message()
    assert guard.submit(portal_job(ticket=ticket(nonce="cd" * 8))) == SUCCESS


def test_a_ticket_can_t_be_replayed_after_the_guard_reloads(tmp_path: Path) -> None:
    """slurmctld restarts (or reloads the script): used nonces are forgotten, and every
    ticket issued before is refused instead."""
    used = portal_job()
    first = Guard(_lua_library(), install(tmp_path))
    try:
        assert first.submit(used) == SUCCESS
    finally:
        first.close()
    time.sleep(1.1)  # the next load is at least a second later
    reloaded = Guard(_lua_library(), install(tmp_path))
    try:
        assert reloaded.submit(used) == ERROR
        assert "issued before this cluster's guard was loaded" in reloaded.last_message()
        assert reloaded.submit(portal_job(ticket=ticket(nonce="ef" * 8))) == SUCCESS
    finally:
        reloaded.close()


def test_a_cpu_session_ticket(guard: Guard) -> None:
    cpu = JobClaim("lahore", BOB, "jupyterhub-lahore-14", "gpu", 15, "", 1, 1024)
    assert guard.submit(portal_job(cpu, ticket(cpu))) == SUCCESS


@pytest.mark.parametrize(
    ("case", "key", "cluster"),
    [("no key", None, "lahore"), ("a key but no cluster", KEY, None)],
)
def test_without_a_key_and_cluster_no_portal_job_is_admitted(
    tmp_path: Path, case: str, key: bytes | None, cluster: str | None
) -> None:
    loaded = Guard(_lua_library(), install(tmp_path, key=key, cluster=cluster))
    try:
        assert loaded.submit(portal_job()) == ERROR, case
        assert "tickets can't be checked on this cluster" in loaded.last_message()
        assert loaded.submit({"user_id": BOB, "partition": "batch"}) == SUCCESS
    finally:
        loaded.close()


def test_a_user_is_not_told_where_the_key_is(tmp_path: Path) -> None:
    """The key file can't be read: the user's sbatch says so without naming the file."""
    hidden = tmp_path / "secret-place" / "computehub-ticket.key"
    loaded = Guard(_lua_library(), install(tmp_path / "etc", key=None, key_file=hidden))
    try:
        assert loaded.run("return computehub_guard.problems[1]") is not None  # logged
        assert loaded.submit(portal_job()) == ERROR
        message = loaded.last_message()
        assert "can't be checked" in message
        assert "secret-place" not in message
        assert "ticket.key" not in message
    finally:
        loaded.close()


PORTAL_RECORD = {"job_id": 7, "name": "jupyterhub-lahore-12", "comment": "computehub-ticket:v2:"}
OWN_RECORD = {"job_id": 8, "name": "train", "comment": None}


@pytest.mark.parametrize(
    ("case", "change", "record", "uid", "expected"),
    [
        ("owner: time limit of a session", {"time_limit": 600}, PORTAL_RECORD, BOB, -1),
        ("owner: GPUs of a session", {"tres_per_node": "gres:gpu:h100:4"}, PORTAL_RECORD, BOB, -1),
        ("owner: partition of a session", {"partition": "batch"}, PORTAL_RECORD, BOB, -1),
        ("owner: requeue flag of a session", {"requeue": 1}, PORTAL_RECORD, BOB, -1),
        ("owner: name of a session", {"name": "mine"}, PORTAL_RECORD, BOB, -1),
        ("root: time limit of a session", {"time_limit": 600}, PORTAL_RECORD, 0, 0),
        ("hub service user", {"time_limit": 600}, PORTAL_RECORD, 990, 0),
        ("owner: time limit of their own job", {"time_limit": 5}, OWN_RECORD, BOB, 0),
        ("owner: own job named like a session", {"name": "jupyterhub-x"}, OWN_RECORD, BOB, -1),
        ("owner: own job into the portal's partition", {"partition": "gpu"}, OWN_RECORD, BOB, -1),
    ],
)
def test_who_may_change_a_job(
    tmp_path: Path,
    case: str,
    change: dict[str, object],
    record: dict[str, object],
    uid: int,
    expected: int,
) -> None:
    loaded = Guard(_lua_library(), install(tmp_path, admin_uids="0, 990"))
    try:
        assert loaded.modify(change, record, uid) == expected, case
    finally:
        loaded.close()
