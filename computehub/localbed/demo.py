"""``computehub demo``: the whole platform on one machine, on embedded defaults.

Two local Slurm hubs with fake GPUs, the ledger on SQLite, JupyterHub on
http://127.0.0.1:8000 with demo users. State is kept under ``--state-dir`` so
that a second run starts in seconds; Ctrl-C stops everything it started.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from computehub.clock import utcnow
from computehub.credits.ledger import Ledger
from computehub.localbed.bed import SlurmBed
from computehub.localbed.hub import HubProcess
from computehub.localbed.proc import BedError, MissingComponentError, port_open
from computehub.localbed.sitegen import bed_site, write_site
from computehub.localbed.users import ensure_user

#: Demo logins (POSIX users on this machine) and their platform roles.
DEMO_USERS = {"ayesha": "researcher", "bilal": "student", "zara": "operator"}
#: Credits granted once to each demo person (idempotent across runs).
DEMO_GRANTS = {"ayesha": "50", "bilal": "10", "zara": "5"}
#: A course pool that ayesha teaches and bilal takes.
DEMO_COURSE = "intro-ml"
DEFAULT_NOTEBOOK_ENV = Path("/opt/computehub/envs/notebook")


@dataclass
class Demo:
    """The running demo: the Slurm bed and the hub."""

    state: Path
    port: int
    notebook_env: Path = DEFAULT_NOTEBOOK_ENV
    bed: SlurmBed | None = None
    hub: HubProcess | None = None

    def start(self, say: Callable[[str], None]) -> None:
        """Bring everything up (idempotent over runs: state is reused)."""
        if port_open(self.port):
            raise BedError(f"port {self.port} is already in use: is another demo running?")
        if not (self.notebook_env / "bin" / "batchspawner-singleuser").exists():
            raise MissingComponentError(
                f"no notebook environment at {self.notebook_env}: run scripts/install.sh"
            )
        self.state.mkdir(parents=True, exist_ok=True)
        self.state.chmod(0o755)
        for user in DEMO_USERS:
            ensure_user(user)
        started = time.monotonic()
        say("starting munge, MariaDB, slurmdbd and two Slurm hubs (lahore, karachi)")
        self.bed = SlurmBed(self.state / "slurm")
        self.bed.start()
        site = write_site(self.state / "site.yaml", demo_site(self.bed, self.notebook_env))
        say(f"site file: {site}")
        say("starting JupyterHub and configurable-http-proxy")
        self.hub = HubProcess(self.state / "hub", site, port=self.port)
        self.hub.start()
        grant_demo_credits(f"sqlite:///{self.state / 'hub' / 'ledger.sqlite'}")
        say(f"up in {time.monotonic() - started:.1f} s")

    def stop(self) -> None:
        """Stop the hub, cancel sessions, stop Slurm and its helpers."""
        if self.hub is not None:
            self.hub.stop()
        if self.bed is not None:
            for cluster in self.bed.clusters.values():
                cluster.cancel_all()
            self.bed.stop()


def demo_site(bed: SlurmBed, notebook_env: Path) -> dict[str, Any]:
    """The demo's site file: the bed's hubs, the demo logins, and simulated GPUs.

    This machine has no GPU, so the sessions' widgets show simulated ones, labelled so
    (``demo.simulated_gpus``, docs/widget.md); only the demo sets it.
    """
    data = bed_site(bed, notebook_env, DEMO_USERS)
    data["demo"] = {"simulated_gpus": True}
    return data


def grant_demo_credits(ledger_url: str) -> dict[str, str]:
    """Personal accounts with credits, and a course pool (granted once, kept across runs)."""
    with Ledger(ledger_url) as ledger:
        for user, amount in DEMO_GRANTS.items():
            ledger.ensure_personal_account(user, actor="demo")
            ledger.grant(
                user,
                amount,
                actor="demo",
                note="demo credits",
                idempotency_key=f"demo-grant:{user}",
            )
        if DEMO_COURSE not in {b.account for b in ledger.accounts_for_user("ayesha")}:
            ledger.create_account(DEMO_COURSE, "course", actor="demo")
            ledger.add_member(DEMO_COURSE, "ayesha", "instructor", actor="demo")
            ledger.add_member(DEMO_COURSE, "bilal", "student", actor="demo")
        if not ledger.courses(user="ayesha"):
            # The pool becomes a course, with a term around today.
            today = utcnow().date()
            ledger.create_course(
                DEMO_COURSE,
                "Introduction to machine learning",
                today - timedelta(days=30),
                today + timedelta(days=120),
                actor="demo",
            )
        ledger.grant(
            DEMO_COURSE,
            "100",
            actor="demo",
            note="course pool",
            idempotency_key="demo-grant:course",
        )
        return {user: f"{ledger.balance(user).available:.2f}" for user in DEMO_GRANTS}


def run_demo(state: Path, port: int) -> int:
    """Start the demo, print how to use it, and wait for Ctrl-C."""
    demo = Demo(state, port)

    def say(text: str) -> None:
        print(f"[computehub] {text}", flush=True)

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        demo.start(say)
    except (BedError, MissingComponentError) as err:
        print(f"[computehub] could not start: {err}", file=sys.stderr)
        demo.stop()
        return 1
    assert demo.bed is not None
    assert demo.hub is not None
    hubs = ", ".join(
        f"{name} ({', '.join(f'{n}x {t}' for t, n in c.gpus.items())}: {c.sinfo_state()})"
        for name, c in demo.bed.clusters.items()
    )
    credits = grant_demo_credits(f"sqlite:///{state / 'hub' / 'ledger.sqlite'}")
    logins = ", ".join(
        f"{user} ({role}, {credits[user]} credits)" for user, role in DEMO_USERS.items()
    )
    print(
        f"\ncomputehub is running at {demo.hub.url}/\n"
        f"  AI hubs: {hubs}\n"
        f"  log in as: {logins}, with any password\n"
        f"  state: {state} (kept for the next run)\n"
        "Press Ctrl-C to stop.\n",
        flush=True,
    )
    while not stop.wait(1):
        if demo.hub.proc is not None and demo.hub.proc.poll() is not None:
            print(f"[computehub] JupyterHub exited; see {demo.hub.log}", file=sys.stderr)
            break
    say("stopping")
    demo.stop()
    say("stopped")
    return 0
