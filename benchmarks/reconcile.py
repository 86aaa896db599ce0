"""One reconciliation pass over 10,000 sessions, half of them ended while the hub was down.

The ledger is real (SQLite, a temporary file, the ledger's own code placing every hold
with its job id). Slurm is *replayed*: ``squeue`` and ``sacct`` are small stand-ins put
in the client's ``slurm_bin_dir`` that print generated lines in the exact formats the
client asks for (``squeue -O`` of the live jobs; ``sacct -P`` of the asked ids, every
run), so the pass runs the real :class:`~computehub.spawners.slurmclient.SlurmClient`
(subprocesses, argv, timeouts) and the same parsers as on a cluster. Each stand-in
counts its calls. Half the sessions are still running (listed by squeue); the other
half ended while nobody watched (gone from the queue, COMPLETED in accounting), so the
pass settles them.

Prints the time, the CPU seconds (the pass's own and the stand-ins': unlike the time,
not stretched by other work on a shared machine), and memory (peak RSS growth, and the
Python heap's peak with ``--trace-memory``, which slows the pass) of the first pass
(5,000 settled), then of a second pass (nothing to do), the Slurm calls of each, and
``ledger check``. Target: a pass <= 2 s. ``--compare REF`` first runs the same
benchmark on the code of the git revision ``REF`` (extracted with ``git archive`` into
a temporary folder and put first on ``PYTHONPATH``), so that before and after are
measured in one run on one machine.

    .venv/bin/python benchmarks/reconcile.py [--sessions 10000] [--trace-memory] [--compare REF]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from computehub.credits.ledger import Ledger
from computehub.sitefile import load_site
from computehub.spawners.accounting import SACCT_FIELDS
from computehub.spawners.batch import job_name
from computehub.spawners.reconcile import PassReport, Reconciler, Settle
from computehub.spawners.registry import HubRegistry
from computehub.spawners.slurmclient import SlurmClient

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "hub_config" / "site.example.yaml"
HUB = "lahore"
RESOURCES = {"cpu": 1}

#: The stand-in Slurm commands: print the generated lines the argv asks for, count calls.
STAND_IN = """#!{python}
import os, sys
data = os.environ["RECONCILE_BENCH_DATA"]
name = os.path.basename(sys.argv[0])
with open(os.path.join(data, "calls.log"), "a") as log:
    log.write(name + "\\n")
if name == "squeue":
    sys.stdout.write(open(os.path.join(data, "squeue.txt")).read())
    sys.exit(0)
args = sys.argv[1:]
ids = set(args[args.index("-j") + 1].split(",")) if "-j" in args else set()
fields = args[args.index("-o") + 1]
out = []
with open(os.path.join(data, "sacct.txt")) as lines:
    for line in lines:
        job_id = line.split("|", 1)[0]
        if job_id not in ids:
            continue
        if fields == "{sacct_fields}":
            out.append(line)
        else:  # the energy fields: JobID,User,Submit,AdminComment (no energy recorded)
            parts = line.rstrip("\\n").split("|")
            out.append(f"{{parts[0]}}|{{parts[5]}}|{{parts[6]}}|\\n")
sys.stdout.write("".join(out))
"""


def _queue_line(job_id: str, user: str, submitted: int, name: str) -> str:
    return f"{job_id}|RUNNING|{user}|{submitted}|0|{name}|"


def _sacct_line(job_id: str, user: str, uid: int, submitted: int, name: str) -> str:
    start, end = submitted + 5, submitted + 5 + 1800
    alloc = "billing=1,cpu=1,mem=1G,node=1"
    return f"{job_id}|COMPLETED|1800|{alloc}|{uid}|{user}|{submitted}|{start}|{end}|{name}"


def prepare(work: Path, sessions: int) -> tuple[Ledger, HubRegistry, SlurmClient, set[int]]:
    """A ledger with ``sessions`` open holds on one hub, and the replayed Slurm."""
    ledger = Ledger(f"sqlite:///{work / 'ledger.db'}")
    registry = HubRegistry(load_site(SITE))
    rates = {(hub, res): rate for hub in registry.names() for res, rate in _rates(registry, hub)}
    ledger.sync_rates(rates, actor="bench")
    ledger.create_account("bench-course", "project", actor="bench")
    ledger.grant("bench-course", Decimal(sessions * 10), actor="bench")
    queue: list[str] = []
    sacct: list[str] = []
    ended: set[int] = set()
    now = int(time.time())
    started = time.perf_counter()
    for n in range(sessions):
        user = f"student{n % 300:03d}"
        job_id = str(1000 + n)
        hold = ledger.place_hold("bench-course", HUB, RESOURCES, "1", actor=user, job_id=job_id)
        name = job_name(HUB, hold.id)
        if n % 2:
            queue.append(_queue_line(job_id, user, now - 600, name))
        else:
            sacct.append(_sacct_line(job_id, user, 20000 + n % 300, now - 3600, name))
            ended.add(hold.id)
    print(f"setup: {sessions} holds placed in {time.perf_counter() - started:.1f} s")
    data = work / "slurm"
    data.mkdir()
    (data / "squeue.txt").write_text("\n".join(queue) + "\n")
    (data / "sacct.txt").write_text("\n".join(sacct) + "\n")
    (data / "calls.log").write_text("")
    for command in ("squeue", "sacct"):
        path = data / command
        path.write_text(STAND_IN.format(python=sys.executable, sacct_fields=SACCT_FIELDS))
        path.chmod(0o755)
    os.environ["RECONCILE_BENCH_DATA"] = str(data)
    return ledger, registry, SlurmClient(registry, str(data)), ended


def _rates(registry: HubRegistry, hub: str) -> list[tuple[str, Decimal]]:
    return list(registry.site.hubs[hub].rates.items())


def calls(work: Path) -> dict[str, int]:
    """The stand-ins' calls so far, by command; the log is emptied."""
    log = work / "slurm" / "calls.log"
    names = log.read_text().split()
    log.write_text("")
    return {name: names.count(name) for name in sorted(set(names))}


def cpu_s() -> tuple[float, float]:
    """CPU seconds (user + system) of this process (all threads) and of its children.

    Unlike the wall time, not stretched by other work on a shared machine.
    """
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def one_pass(reconciler: Reconciler, trace: bool) -> tuple[PassReport, float, float | None]:
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    report = await reconciler.pass_once()
    elapsed = time.perf_counter() - started
    peak = None
    if trace:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return report, elapsed, peak


def baseline(ref: str, sessions: int, trace: bool) -> None:
    """Run this benchmark file on the code of git revision ``ref`` (before), in a child."""
    with tempfile.TemporaryDirectory(prefix="reconcile-baseline-") as src:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True, timeout=120
        ).stdout
        subprocess.run(["tar", "-x", "-C", src], input=archive, check=True, timeout=120)
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", ref],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
        print(f"== baseline: {ref} ({commit}) ==", flush=True)
        argv = [sys.executable, __file__, "--sessions", str(sessions)]
        if trace:
            argv.append("--trace-memory")
        subprocess.run(argv, env={**os.environ, "PYTHONPATH": src}, check=False, timeout=3600)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--trace-memory", action="store_true", help="Python heap peak (slower)")
    parser.add_argument(
        "--compare", metavar="REF", help="first run this benchmark on git revision REF's code"
    )
    args = parser.parse_args()
    if args.compare:
        baseline(args.compare, args.sessions, args.trace_memory)
        print("== this checkout ==", flush=True)
    with tempfile.TemporaryDirectory(prefix="reconcile-bench-") as tmp:
        work = Path(tmp)
        ledger, registry, slurm, ended = prepare(work, args.sessions)
        reconciler = Reconciler(registry, ledger, slurm, grace=timedelta(minutes=10))
        for label in ("first pass (half ended while the hub was down)", "second pass"):
            rss_before = max_rss_mb()
            cpu_before = cpu_s()
            report, elapsed, peak = asyncio.run(one_pass(reconciler, args.trace_memory))
            cpu_after = cpu_s()
            own, stand_ins = cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1]
            settled = {a.hold.id for a in report.actions if isinstance(a, Settle)}
            print(f"{label}: {elapsed:.2f} s")
            print(f"  CPU: the pass {own:.2f} s, the Slurm stand-ins {stand_ins:.2f} s")
            print(
                f"  settled {len(settled)} (expected {len(ended)}), "
                f"other actions {len(report.actions) - len(settled)}, failed {len(report.failed)}"
            )
            print(f"  Slurm calls: {calls(work)}")
            heap = f", Python heap peak {peak:.0f} MiB" if peak is not None else ""
            print(f"  max RSS {max_rss_mb():.0f} MiB (grew {max_rss_mb() - rss_before:.0f}){heap}")
            if label.startswith("first") and settled != ended:
                print("  ERROR: the settled holds are not the ended ones")
                return 1
            ended = set()
        check = ledger.check()
        print(f"ledger check: {'clean' if check.ok else check}")
        ledger.close()
        return 0 if check.ok else 1


if __name__ == "__main__":
    sys.exit(main())
