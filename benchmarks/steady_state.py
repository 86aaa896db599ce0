"""Many running sessions: hub CPU per running session and Slurm calls per poll interval.

Brings up one local Slurm hub (its node declaring a CPU and 1 GB per session) and a
JupyterHub with ComputeHubSpawner on it, as ``benchmarks/class_start.py`` does, with
the same stand-in notebook server in each job (stdlib Python: it reports its port as
``batchspawner-singleuser`` does and answers the hub's readiness check). Every Slurm
command the hub runs goes through a wrapper (the spawner's ``slurm_bin_dir``) that
logs it, so the hub's calls are counted exactly, beside slurmctld's own RPC counts
(``sdiag``, reset before each measurement), which also count the reconciler's (a
service of its own, one ``squeue`` a pass, every 60 s by default).

For each size in ``--sessions`` (ascending; e.g. ``100,300,1000``) it starts sessions
through the REST API until that many run (people ``cbenchNNN``, POSIX accounts made
idempotently, students of one course that pays), waits until every one is ready, then
leaves them running for ``--minutes`` (one figure for every size, or one per size,
comma-separated) while JupyterHub polls each every
``--poll-interval`` seconds, and prints: the hub process's CPU seconds, its CPU
milliseconds per running session per minute, its RSS, the Slurm commands it ran (the
shared queue listing's ``squeue`` apart), the listing's ``squeue`` calls per poll
interval (target: at most one per hub), and slurmctld's RPCs. Then it stops everyone
and prints ``ledger check``. Exit status 1 when a session was never ready, one stopped
running during a measurement, or the ledger check is not clean; the figures
themselves are not judged.

    .venv/bin/python benchmarks/steady_state.py [--sessions 100,300,1000] [--minutes 10] [--lean]
    .venv/bin/python benchmarks/steady_state.py --sessions 100,300,1000 --minutes 3,3,10 --lean
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from class_start import STAND_IN, drained, every_user, proc_cpu_rss, sdiag
from spawn import api, driver_config

from computehub.credits.ledger import Ledger
from computehub.localbed.bed import SlurmBed
from computehub.localbed.hub import HubProcess
from computehub.localbed.proc import free_port
from computehub.localbed.sitegen import bed_site, write_site
from computehub.localbed.users import ensure_user

COURSE = "steady-bench"
#: ``--lean``: the same stand-in on the socket module alone (Python without ``site``):
#: about a third of the memory of class_start's, for a thousand of them on one machine.
LEAN_STAND_IN = r"""#!/usr/bin/python3 -SI
import os, socket
sock = socket.socket()
sock.bind(("0.0.0.0", 0))
sock.listen(64)
port = sock.getsockname()[1]
url = os.environ["JUPYTERHUB_API_URL"].rstrip("/") + "/batchspawner"
where, path = url.split("://", 1)[1].split("/", 1)
host, _, hub_port = where.partition(":")
body = '{"port": %d}' % port
hub = socket.create_connection((host, int(hub_port or 80)), 60)
hub.sendall((
    "POST /%s HTTP/1.1\r\nHost: %s\r\nAuthorization: token %s\r\n"
    "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
    % (path, where, os.environ["JUPYTERHUB_API_TOKEN"], len(body), body)
).encode())
answer = b""
while chunk := hub.recv(65536):
    answer += chunk
hub.close()
if answer.split(b" ", 2)[1:2] not in ([b"200"], [b"201"], [b"204"]):
    raise SystemExit("the hub refused the port: " + answer[:200].decode(errors="replace"))
ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 18\r\n"
          b"Connection: close\r\n\r\n" + b'{"stand_in": true}')
while True:
    conn, _ = sock.accept()
    try:
        conn.settimeout(10)
        conn.recv(65536)
        conn.sendall(ANSWER)
    except OSError:
        pass
    conn.close()
"""
#: The Slurm commands the hub may run, each wrapped to log its calls.
COMMANDS = ("squeue", "sacct", "sbatch", "scancel", "scontrol", "sinfo", "sacctmgr")
#: The hub's shared queue listing (``SlurmClient.board``) is the squeue sorted by priority.
LISTING_MARK = "--sort=-p,i"


@dataclass
class Step:
    """One size's measurement."""

    sessions: int
    seconds: float = 0.0
    cpu_s: float = 0.0
    rss_mb: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)
    rpcs: dict[str, int] = field(default_factory=dict)
    running_after: int = 0

    @property
    def intervals(self) -> float:
        return self.seconds / POLL.interval_s

    def per_interval(self, kind: str) -> float:
        return self.calls[kind] / self.intervals if self.intervals else 0.0

    @property
    def cpu_ms_per_session_minute(self) -> float:
        return 1000 * self.cpu_s / self.sessions / (self.seconds / 60)


@dataclass
class Poll:
    interval_s: float = 30.0


POLL = Poll()


#: Memory one running session takes on the node (stand-in and slurmstepd), in MiB.
SESSION_MB = 28
SESSION_MB_LEAN = 17
#: Memory left free for everything else on the machine.
SPARE_MB = 3000


def available_mb() -> float:
    """The machine's available memory (``MemAvailable``), MiB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wrappers(folder: Path, log: Path) -> Path:
    """A folder of the real Slurm commands, each call logged (its name and arguments)."""
    folder.mkdir(parents=True)
    log.write_text("")
    log.chmod(0o666)  # sbatch runs as the user, through sudo
    for command in COMMANDS:
        real = shutil.which(command)
        if real is None:
            continue
        wrapper = folder / command
        wrapper.write_text(f'#!/bin/sh\necho "{command} $*" >> "{log}"\nexec "{real}" "$@"\n')
        wrapper.chmod(0o755)
    return folder


def read_calls(log: Path) -> Counter[str]:
    """The logged calls by kind (the listing's squeue apart); the log is emptied."""
    counts: Counter[str] = Counter()
    for line in log.read_text().splitlines():
        command, *argv = line.split()
        if command != "squeue":
            counts[command] += 1
        elif LISTING_MARK in argv:
            counts["squeue (shared listing)"] += 1
        else:
            counts["squeue (other)"] += 1
    log.write_text("")
    return counts


def running(hub: HubProcess, token: str, people: list[str]) -> set[str]:
    """Who among ``people`` has a ready server."""
    wanted = set(people)
    return {
        model["name"]
        for model in every_user(hub, token)
        if model["name"] in wanted and (model.get("servers", {}).get("") or {}).get("ready")
    }


def start(
    hub: HubProcess, token: str, people: list[str], window: float, body: Any
) -> tuple[float, list[str]]:
    """Everyone in ``people`` presses Start within ``window``; wait until all are ready."""
    began = time.perf_counter()
    refused: list[str] = []
    gap = window / max(1, len(people))
    for user in people:
        status, detail = api(hub.url, token, "POST", f"/users/{user}/server", body)
        if status not in (201, 202):
            refused.append(f"{user}: {status} {str(detail)[:200]}")
        time.sleep(gap)
    waiting = set(people) - {r.split(":", 1)[0] for r in refused}
    deadline = time.perf_counter() + 900 + window
    while waiting and time.perf_counter() < deadline:
        time.sleep(2)
        waiting -= running(hub, token, sorted(waiting))
        for model in every_user(hub, token):  # accepted, then failed: see the hub's log
            name = model["name"]
            if name in waiting and not model.get("servers", {}).get("") and not model["pending"]:
                refused.append(f"{name}: accepted, then the start failed")
                waiting.discard(name)
    refused += [f"{user}: not ready after {900 + window:.0f} s" for user in sorted(waiting)]
    return time.perf_counter() - began, refused


def measure(
    hub: HubProcess, token: str, people: list[str], minutes: float, log: Path, conf: Path
) -> Step:
    """Leave ``people``'s sessions running ``minutes``; the hub's CPU and Slurm calls."""
    step = Step(len(people))
    assert hub.proc is not None
    sdiag(conf, reset=True)
    read_calls(log)
    cpu0, _ = proc_cpu_rss(hub.proc.pid)
    began = time.perf_counter()
    time.sleep(minutes * 60)
    step.seconds = time.perf_counter() - began
    cpu1, step.rss_mb = proc_cpu_rss(hub.proc.pid)
    step.cpu_s = cpu1 - cpu0
    step.calls = read_calls(log)
    step.rpcs = sdiag(conf)
    step.running_after = len(running(hub, token, people))
    return step


def report(step: Step) -> None:
    print(f"{step.sessions} running sessions, {step.seconds / 60:.1f} min:", flush=True)
    print(
        f"  hub CPU {step.cpu_s:.1f} s ({100 * step.cpu_s / step.seconds:.1f} % of a core), "
        f"{step.cpu_ms_per_session_minute:.2f} ms per running session per minute; "
        f"hub RSS {step.rss_mb:.0f} MiB"
    )
    kinds = ", ".join(f"{kind}: {count}" for kind, count in sorted(step.calls.items()))
    print(f"  Slurm commands: {kinds or 'none'}")
    print(
        f"  per poll interval ({POLL.interval_s:g} s, {step.intervals:.1f} intervals): "
        f"squeue (shared listing) {step.per_interval('squeue (shared listing)'):.2f}, "
        f"squeue (other) {step.per_interval('squeue (other)'):.2f}, "
        f"sacct {step.per_interval('sacct'):.2f}, scontrol {step.per_interval('scontrol'):.2f}"
    )
    rpcs = {k: v for k, v in sorted(step.rpcs.items(), key=lambda kv: -kv[1]) if v}
    print(f"  slurmctld RPCs: {json.dumps(rpcs)}")
    print(f"  still running at the end: {step.running_after}/{step.sessions}")


def stop_all(hub: HubProcess, token: str, people: list[str]) -> None:
    for user in people:
        api(hub.url, token, "DELETE", f"/users/{user}/server")
    deadline = time.perf_counter() + 900
    while time.perf_counter() < deadline:
        gone = {
            m["name"]
            for m in every_user(hub, token)
            if not m.get("servers", {}).get("") and not m.get("pending")
        }
        if set(people) <= gone:
            return
        time.sleep(2)


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sessions", default="100,300,1000", help="running sessions, comma-separated sizes"
    )
    parser.add_argument(
        "--minutes",
        default="10",
        help="how long each size runs: one figure, or one per size (comma-separated)",
    )
    parser.add_argument("--poll-interval", type=float, default=30.0, help="JupyterHub's")
    parser.add_argument(
        "--start-rate", type=float, default=5.0, help="Starts a second while sessions are added"
    )
    parser.add_argument(
        "--lean", action="store_true", help="a stand-in server on sockets alone (less memory)"
    )
    args = parser.parse_args()
    POLL.interval_s = args.poll_interval
    sizes = sorted({int(size) for size in args.sessions.split(",")})
    given = [float(m) for m in args.minutes.split(",")]
    if len(given) not in (1, len(sizes)):
        parser.error(f"--minutes: one figure, or one for each of the {len(sizes)} sizes")
    minutes = dict(zip(sizes, given * len(sizes) if len(given) == 1 else given, strict=True))
    most = sizes[-1]
    people = [f"cbench{n:03d}" for n in range(most)]
    for user in people:
        ensure_user(user)
    base = Path(tempfile.mkdtemp(prefix="computehub-steady-"))
    base.chmod(0o755)
    env = base / "standin-env"
    (env / "bin").mkdir(parents=True)
    for command in ("batchspawner-singleuser", "jupyterhub-singleuser"):
        path = env / "bin" / command
        path.write_text(LEAN_STAND_IN if args.lean else STAND_IN)
        path.chmod(0o755)
    log = base / "slurm-calls.log"
    bin_dir = wrappers(base / "slurm-bin", log)
    bed = SlurmBed(base / "slurm", hubs={"lahore": {"h100": 4}})
    cluster = bed.clusters["lahore"]
    cluster.cpus = most + 16
    cluster.memory_mb = (most + 16) * 1024
    bed.start()
    data = bed_site(bed, env, dict.fromkeys(people, "student"))
    data["hubs"]["lahore"]["limits"]["access"] = {}
    data["hubs"]["lahore"]["slurm"]["timeout_s"] = 30  # a loaded 2-core machine
    site = write_site(base / "site.yaml", data)
    token = secrets.token_hex(20)
    extra = (
        "c.JupyterHub.concurrent_spawn_limit = 0\n"
        f"c.Spawner.poll_interval = {args.poll_interval!r}\n"
        f"c.ComputeHubSpawner.slurm_bin_dir = {str(bin_dir)!r}\n"
    )
    hub = HubProcess(
        base / "hub",
        site,
        extra_config=driver_config(base / "hub.py", token, extra),
        extra_env={"COMPUTEHUB_CREDITS_PORT": str(free_port())},
    )
    ledger_file = base / "hub" / "ledger.sqlite"
    status = 0
    steps: list[Step] = []
    try:
        hub.start()
        with Ledger(f"sqlite:///{ledger_file}") as ledger:
            ledger.create_account(COURSE, "course", actor="bench")
            for user in people:
                ledger.add_member(COURSE, user, "student", actor="bench")
            ledger.grant(COURSE, str(most * 100), actor="bench")
        for user in people:
            api(hub.url, token, "POST", f"/users/{user}")
        body = {"hub": "lahore", "gpu_type": "", "hours": "1", "account": COURSE}
        print(
            f"sizes {sizes}, minutes {[minutes[size] for size in sizes]}, JupyterHub poll interval "
            f"{args.poll_interval:g} s, CPU-only sessions",
            flush=True,
        )
        started = 0
        for size in sizes:
            new = people[started:size]
            need = len(new) * (SESSION_MB_LEAN if args.lean else SESSION_MB) + SPARE_MB
            if available_mb() < need:  # a shared machine: never push others' work out
                print(f"stopped before {size}: {available_mb():.0f} MiB free, {need} needed")
                status = 1
                break
            took, refused = start(hub, token, new, len(new) / args.start_rate, body)
            started = size
            print(f"started {len(new)} more ({size} in all) in {took:.0f} s", flush=True)
            if refused:
                print(f"ERROR: {len(refused)} never ready: {refused[:5]}")
                status = 1
                break
            step = measure(hub, token, people[:size], minutes[size], log, cluster.conf)
            report(step)
            steps.append(step)
            if step.running_after != size:
                status = 1
        if steps:
            print("growth:")
            for step in steps:
                listing = step.per_interval("squeue (shared listing)")
                print(
                    f"  {step.sessions:>5} sessions: {step.cpu_ms_per_session_minute:.2f} ms hub "
                    f"CPU per session per minute, {100 * step.cpu_s / step.seconds:.1f} % of a "
                    f"core; the hub's squeue per poll interval {listing:.2f}"
                )
        stop_all(hub, token, people[:started])
        with Ledger(f"sqlite:///{ledger_file}") as ledger:
            check = ledger.check()
        print(f"ledger check: {'clean' if check.ok else check.differences[:5]}")
        if not check.ok:
            status = 1
    finally:
        hub.stop()
        cluster.cancel_all()
        drained(cluster.env)  # slurmd ends the jobs' processes only while it runs
        bed.stop()
    return status


if __name__ == "__main__":
    sys.exit(main())
