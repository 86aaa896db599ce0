"""A class pressing Start at once: computehub vs plain batchspawner on the same Slurm bed.

Brings up one local Slurm hub (its node declaring enough CPUs and memory for every
session) and two JupyterHubs on it, as ``benchmarks/spawn.py`` does: one with
ComputeHubSpawner, one with batchspawner's stock ``SlurmSpawner``. ``--people`` people
(POSIX accounts ``cbenchNNN``, made idempotently; students of one course that pays)
each press Start through the REST API at a random moment within ``--window`` seconds,
for a CPU-only session. The job runs a stand-in notebook server (stdlib Python): it
reports its port to the hub as ``batchspawner-singleuser`` does (POST
``/hub/api/batchspawner``) and answers the hub's readiness check, so what is measured
is the platform, not JupyterLab's start-up. Then everyone presses Stop at once.

For each spawner and storm it prints the seconds from each person's POST to ready (or
gone) as p50/p95/max, the requests refused and why, the hub process's CPU seconds and
RSS, slurmctld's RPC counts by type (``sdiag``, reset before each storm) and, for
computehub, the ledger's journal entries written and ``ledger check``. Then the ratio
of the time until everyone was ready (computehub / plain). It asserts nothing (exit
status 1 when someone was never ready or the ledger check is not clean).

    .venv/bin/python benchmarks/class_start.py [--people 300] [--window 60] [--first plain]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from spawn import api, driver_config

from computehub.credits.ledger import Ledger
from computehub.localbed.bed import SlurmBed
from computehub.localbed.hub import HubProcess
from computehub.localbed.proc import free_port
from computehub.localbed.sitegen import bed_site, write_site
from computehub.localbed.users import ensure_user

COURSE = "class-bench"
#: The stand-in for ``batchspawner-singleuser jupyterhub-singleuser``: report a port, serve.
STAND_IN = """#!/usr/bin/python3
import http.server, json, os, socket, urllib.request
sock = socket.socket()
sock.bind(("0.0.0.0", 0))
port = sock.getsockname()[1]
request = urllib.request.Request(
    os.environ["JUPYTERHUB_API_URL"].rstrip("/") + "/batchspawner",
    data=json.dumps({"port": port}).encode(),
    headers={"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"],
             "Content-Type": "application/json"},
    method="POST",
)
urllib.request.urlopen(request, timeout=60).read()
class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"stand_in": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
sock.close()
server = http.server.ThreadingHTTPServer(("0.0.0.0", port), Answer)
server.serve_forever()
"""


def plain_config(env: Path, conf: Path) -> str:
    """batchspawner's stock SlurmSpawner, CPU-only, running the stand-in."""
    return f"""
c.JupyterHub.spawner_class = "batchspawner.MultiSlurmSpawner"
c.MultiSlurmSpawner.daemon_resolver = {{"lahore-n1": "127.0.0.1"}}
c.SlurmSpawner.exec_prefix = "sudo -E -u {{username}}"
c.SlurmSpawner.batchspawner_singleuser_cmd = "{env}/bin/batchspawner-singleuser"
c.SlurmSpawner.cmd = ["{env}/bin/jupyterhub-singleuser"]
c.SlurmSpawner.req_srun = ""
c.SlurmSpawner.req_partition = "batch"
c.SlurmSpawner.req_runtime = "1:00:00"
c.SlurmSpawner.req_nprocs = "1"
c.SlurmSpawner.req_memory = "1G"
c.SlurmSpawner.options_form = ""
c.SlurmSpawner.environment = {{"SLURM_CONF": {str(conf)!r}}}
c.JupyterHub.concurrent_spawn_limit = 0
"""


OURS = "c.JupyterHub.concurrent_spawn_limit = 0\n"


@dataclass
class Storm:
    """One storm's figures."""

    seconds: dict[str, float] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    cpu_s: float = 0.0
    rss_mb: float = 0.0
    rpcs: dict[str, int] = field(default_factory=dict)
    ledger_writes: int | None = None
    wall_s: float = 0.0


def proc_cpu_rss(pid: int) -> tuple[float, float]:
    """CPU seconds (user+system) and RSS (MiB) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return cpu, rss


def sdiag(conf: Path, reset: bool = False) -> dict[str, int]:
    """slurmctld's RPC counts by message type (``sdiag``); ``reset`` zeroes them first."""
    env = {**os.environ, "SLURM_CONF": str(conf)}
    if reset:
        subprocess.run(["sdiag", "-r"], env=env, capture_output=True, check=False, timeout=30)
        return {}
    out = subprocess.run(
        ["sdiag"], env=env, capture_output=True, text=True, check=False, timeout=30
    ).stdout
    counts: dict[str, int] = {}
    section = out.split("Remote Procedure Call statistics by message type", 1)[-1]
    section = section.split("Remote Procedure Call statistics by user", 1)[0]
    for match in re.finditer(r"^\s*(\w+)\s+\(\s*\d+\)\s+count:(\d+)", section, re.M):
        counts[match.group(1)] = int(match.group(2))
    return counts


def journal_rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM transactions").fetchone()[0])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def every_user(hub: HubProcess, token: str) -> list[dict[str, Any]]:
    """Every user's model, a page (JupyterHub's most: 200) at a time."""
    found: list[dict[str, Any]] = []
    while True:
        _, page = api(hub.url, token, "GET", f"/users?offset={len(found)}&limit=200")
        if not isinstance(page, list) or not page:
            return found
        found += page


def storm(
    hub: HubProcess, token: str, people: list[str], body: Any, window: float, stop: bool
) -> Storm:
    """Everyone presses Start (or Stop) within ``window``; wait until all are ready (gone)."""
    figures = Storm()
    pressed: dict[str, float] = {}
    answered: set[str] = set()
    lock = threading.Lock()
    assert hub.proc is not None
    cpu0, _ = proc_cpu_rss(hub.proc.pid)
    start = time.perf_counter()

    def press(user: str, at: float) -> None:
        time.sleep(at)
        with lock:
            pressed[user] = time.perf_counter()
        if stop:
            status, detail = api(hub.url, token, "DELETE", f"/users/{user}/server")
            ok = status in (202, 204)
        else:
            status, detail = api(hub.url, token, "POST", f"/users/{user}/server", body)
            ok = status in (201, 202)
        with lock:
            answered.add(user)
            if not ok:
                message = str(detail.get("message") if isinstance(detail, dict) else detail)
                figures.refused.append(f"{user}: {status} {message[:200]}")

    threads = [
        threading.Thread(target=press, args=(u, random.uniform(0, window)), daemon=True)
        for u in people
    ]
    for thread in threads:
        thread.start()
    waiting = set(people)
    deadline = start + window + 900
    while waiting and time.perf_counter() < deadline:
        time.sleep(0.5)
        users = every_user(hub, token)
        now = time.perf_counter()
        for model in users:
            name = model["name"]
            if name not in waiting or name not in pressed:
                continue
            server = model.get("servers", {}).get("")
            done = (
                (not server and not model.get("pending"))
                if stop
                else bool(server and server["ready"])
            )
            with lock:
                failed = not stop and name in answered and not server and not model["pending"]
                refused = any(r.startswith(f"{name}:") for r in figures.refused)
                if failed and not refused:  # accepted (202), then failed: see the hub's log
                    figures.refused.append(f"{name}: accepted, then the start failed")
            if done:
                figures.seconds[name] = now - pressed[name]
                waiting.discard(name)
            elif failed:
                waiting.discard(name)
    for thread in threads:
        thread.join()
    figures.wall_s = time.perf_counter() - start
    cpu1, rss = proc_cpu_rss(hub.proc.pid)
    figures.cpu_s, figures.rss_mb = cpu1 - cpu0, rss
    return figures


def report(label: str, figures: Storm, people: int) -> None:
    values = list(figures.seconds.values())
    print(f"  {label}: {len(values)}/{people} done in {figures.wall_s:.1f} s", end="")
    if values:
        print(
            f"; per person p50 {pct(values, 0.5):.1f} s, p95 {pct(values, 0.95):.1f} s, "
            f"max {max(values):.1f} s"
        )
    else:
        print()
    print(f"    refused: {len(figures.refused)}")
    for line in figures.refused[:10]:
        print(f"      {line}")
    print(f"    hub CPU {figures.cpu_s:.1f} s, hub RSS {figures.rss_mb:.0f} MiB")
    rpcs = {k: v for k, v in sorted(figures.rpcs.items(), key=lambda kv: -kv[1]) if v}
    print(f"    slurmctld RPCs: {json.dumps(rpcs)}")
    if figures.ledger_writes is not None:
        print(f"    ledger journal entries written: {figures.ledger_writes}")


def run_storms(
    name: str,
    hub: HubProcess,
    token: str,
    people: list[str],
    body: Any,
    window: float,
    conf: Path,
    ledger_file: Path | None,
) -> tuple[Storm, Storm]:
    print(f"{name}:", flush=True)
    results = []
    for stop in (False, True):
        sdiag(conf, reset=True)
        before = journal_rows(ledger_file) if ledger_file else None
        figures = storm(hub, token, people, body, window if not stop else 1.0, stop)
        figures.rpcs = sdiag(conf)
        if ledger_file and before is not None:
            figures.ledger_writes = journal_rows(ledger_file) - before
        report("stop storm" if stop else "start storm", figures, len(people))
        results.append(figures)
    return results[0], results[1]


def drained(env: dict[str, str], limit_s: float = 180) -> None:
    """Wait until the cluster's queue is empty (its jobs' processes ended)."""
    deadline = time.perf_counter() + limit_s
    while time.perf_counter() < deadline:
        listed = subprocess.run(
            ["squeue", "-h", "-o", "%i"], env=env, capture_output=True, text=True, timeout=30
        )
        if listed.returncode == 0 and not listed.stdout.strip():
            return
        time.sleep(2)


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--window", type=float, default=60.0, help="seconds the Starts spread over")
    parser.add_argument(
        "--first",
        choices=("computehub", "plain"),
        default="computehub",
        help="which hub's storms run first (on a shared machine the load drifts: run "
        "both orders to see what the order gave either side)",
    )
    parser.add_argument(
        "--controller-check-s",
        type=float,
        default=None,
        help="ComputeHubSpawner.controller_check_s for computehub's hub (default: its own)",
    )
    args = parser.parse_args()
    ours_config = OURS
    if args.controller_check_s is not None:
        ours_config += f"c.ComputeHubSpawner.controller_check_s = {args.controller_check_s!r}\n"
    people = [f"cbench{n:03d}" for n in range(args.people)]
    for user in people:
        ensure_user(user)
    base = Path(tempfile.mkdtemp(prefix="computehub-class-"))
    base.chmod(0o755)
    env = base / "standin-env"
    (env / "bin").mkdir(parents=True)
    for command in ("batchspawner-singleuser", "jupyterhub-singleuser"):
        path = env / "bin" / command
        path.write_text(STAND_IN)
        path.chmod(0o755)
    bed = SlurmBed(base / "slurm", hubs={"lahore": {"h100": 4}})
    cluster = bed.clusters["lahore"]
    cluster.cpus = args.people + 16
    cluster.memory_mb = (args.people + 16) * 1024
    bed.start()
    data = bed_site(bed, env, dict.fromkeys(people, "student"))
    data["hubs"]["lahore"]["limits"]["access"] = {}
    # The tests' bed gives Slurm commands 5 s; a loaded 2-core machine needs more (the
    # example site's default is 20 s). batchspawner waits for its commands without limit.
    data["hubs"]["lahore"]["slurm"]["timeout_s"] = 30
    site = write_site(base / "site.yaml", data)
    token = secrets.token_hex(20)
    quiet = {"COMPUTEHUB_RECONCILE_INTERVAL": "3600"}
    conf = cluster.conf
    ours = HubProcess(
        base / "ours",
        site,
        extra_config=driver_config(base / "ours.py", token, ours_config),
        extra_env={**quiet, "COMPUTEHUB_CREDITS_PORT": str(free_port())},
    )
    plain = HubProcess(
        base / "plain",
        site,
        extra_config=driver_config(base / "plain.py", token, plain_config(env, conf)),
        extra_env={**quiet, "SLURM_CONF": str(conf), "COMPUTEHUB_CREDITS_PORT": str(free_port())},
    )
    ledger_file = base / "ours" / "ledger.sqlite"
    status = 0
    try:
        ours.start()
        plain.start()
        with Ledger(f"sqlite:///{ledger_file}") as ledger:
            ledger.create_account(COURSE, "course", actor="bench")
            for user in people:
                ledger.add_member(COURSE, user, "student", actor="bench")
            ledger.grant(COURSE, str(args.people * 100), actor="bench")
        for hub in (ours, plain):
            for user in people:
                api(hub.url, token, "POST", f"/users/{user}")
        body = {"hub": "lahore", "gpu_type": "", "hours": "1", "account": COURSE}
        print(f"{args.people} people, Starts within {args.window:.0f} s, CPU-only sessions")
        print(f"load average at the start: {os.getloadavg()[0]:.1f}")
        runs = {
            "computehub": lambda: run_storms(
                "ComputeHubSpawner", ours, token, people, body, args.window, conf, ledger_file
            ),
            "plain": lambda: run_storms(
                "batchspawner SlurmSpawner", plain, token, people, None, args.window, conf, None
            ),
        }
        order = [args.first, *(name for name in runs if name != args.first)]
        results = {name: runs[name]()[0] for name in order}
        ours_start, plain_start = results["computehub"], results["plain"]
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
        with Ledger(f"sqlite:///{ledger_file}") as ledger:
            check = ledger.check()
        print(f"ledger check: {'clean' if check.ok else check.differences[:5]}")
        for label, figures in (("ComputeHubSpawner", ours_start), ("plain", plain_start)):
            if len(figures.seconds) != args.people:
                print(f"ERROR: {label}: {args.people - len(figures.seconds)} never ready")
                status = 1
        if not check.ok:
            status = 1
        if ours_start.seconds and plain_start.seconds:
            ratio = max(ours_start.seconds.values()) / max(plain_start.seconds.values())
            p50 = statistics.median(ours_start.seconds.values()) / statistics.median(
                plain_start.seconds.values()
            )
            print(
                f"ratio computehub / plain: slowest person {ratio:.2f}, median {p50:.2f} "
                "(target <= 1.0)"
            )
    finally:
        ours.stop()
        plain.stop()
        cluster.cancel_all()
        drained(cluster.env)  # slurmd ends the jobs' processes only while it runs
        bed.stop()
    return status


if __name__ == "__main__":
    sys.exit(main())
