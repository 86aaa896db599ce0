"""Start-to-ready of computehub's spawner vs plain batchspawner SlurmSpawner, side by side.

Brings up one local Slurm hub and two JupyterHubs from hub_config/ on it: one with
ComputeHubSpawner, one with batchspawner's stock SlurmSpawner configured the way
its docs suggest. Runs interleaved start/stop cycles through the REST API and
prints median and p90 POST → ready for each, their ratio, and a bare
``jupyterhub-singleuser`` start on the same machine for reference.

    .venv/bin/python benchmarks/spawn.py --rounds 8
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from computehub.credits.ledger import Ledger
from computehub.localbed.bed import SlurmBed
from computehub.localbed.hub import HubProcess
from computehub.localbed.proc import free_port, port_open
from computehub.localbed.sitegen import bed_site, write_site
from computehub.localbed.users import ensure_user

NOTEBOOK_ENV = Path(os.environ.get("COMPUTEHUB_NOTEBOOK_ENV", "/opt/computehub/envs/notebook"))


def driver_config(path: Path, token: str, extra: str = "") -> Path:
    path.write_text(
        f"c.JupyterHub.services.append({{'name': 'bench', 'api_token': {token!r}}})\n"
        "c.JupyterHub.load_roles.append({'name': 'bench', 'services': ['bench'],\n"
        "    'scopes': ['admin:users', 'admin:servers', 'tokens']})\n" + extra
    )
    return path


PLAIN = f"""
c.JupyterHub.spawner_class = "batchspawner.MultiSlurmSpawner"
# the node name does not resolve here: batchspawner's own mapping for that
c.MultiSlurmSpawner.daemon_resolver = {{"lahore-n1": "127.0.0.1"}}
c.SlurmSpawner.exec_prefix = "sudo -E -u {{username}}"
c.SlurmSpawner.batchspawner_singleuser_cmd = "{NOTEBOOK_ENV}/bin/batchspawner-singleuser"
c.SlurmSpawner.cmd = ["{NOTEBOOK_ENV}/bin/jupyterhub-singleuser"]
c.SlurmSpawner.req_srun = ""
c.SlurmSpawner.req_partition = "gpu"
c.SlurmSpawner.req_runtime = "1:00:00"
c.SlurmSpawner.req_gres = "gpu:h100:1"
c.SlurmSpawner.req_nprocs = "1"
c.SlurmSpawner.req_memory = "1G"
c.SlurmSpawner.options_form = ""
"""


def api(url: str, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    req = urllib.request.Request(  # noqa: S310 (loopback)
        f"{url}/hub/api{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"token {token}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:  # noqa: S310
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def cycle(url: str, token: str, user: str, body: Any) -> float:
    """POST a server, wait until the hub says ready, stop it; seconds to ready."""
    started = time.perf_counter()
    status, detail = api(url, token, "POST", f"/users/{user}/server", body)
    if status not in (201, 202):
        raise RuntimeError(f"start failed: {status} {detail}")
    while True:
        _, model = api(url, token, "GET", f"/users/{user}")
        server = model["servers"].get("")
        if server and server["ready"]:
            elapsed = time.perf_counter() - started
            break
        if not server and not model.get("pending"):
            raise RuntimeError(f"{user}'s server failed to start (see the hub's log)")
        time.sleep(0.02)
    api(url, token, "DELETE", f"/users/{user}/server")
    while True:
        _, model = api(url, token, "GET", f"/users/{user}")
        if not model["servers"]:
            return elapsed
        time.sleep(0.05)


def bare_start(hub_url: str, token: str, user: str) -> float:
    """``jupyterhub-singleuser`` started directly as the user until its API answers."""
    status, made = api(
        hub_url, token, "POST", f"/users/{user}/tokens", {"note": "bench", "expires_in": 600}
    )
    if status != 201:
        raise RuntimeError(f"token: {status} {made}")
    port = free_port()
    env = {
        "PATH": f"{NOTEBOOK_ENV}/bin:/usr/bin:/bin",
        "HOME": f"/home/{user}",
        "JUPYTERHUB_API_TOKEN": made["token"],
        "JUPYTERHUB_API_URL": f"{hub_url}/hub/api",
        "JUPYTERHUB_USER": user,
        "JUPYTERHUB_SERVICE_PREFIX": f"/user/{user}/",
        "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{port}/user/{user}/",
    }
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            "sudo",
            "-n",
            "-u",
            user,
            f"--preserve-env={','.join(env)}",
            f"{NOTEBOOK_ENV}/bin/jupyterhub-singleuser",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/tmp",
    )
    try:
        while True:
            if port_open(port):
                try:
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/user/{user}/api", timeout=2
                    ) as r:
                        if r.status == 200:
                            return time.perf_counter() - started
                except OSError:
                    pass
            if proc.poll() is not None:
                raise RuntimeError("jupyterhub-singleuser exited")
            time.sleep(0.02)
    finally:
        subprocess.run(["pkill", "-u", user, "-f", "jupyterhub-singleuser"], check=False)
        proc.wait()


def summary(name: str, values: list[float]) -> str:
    values = sorted(values)
    p90 = values[max(0, round(0.9 * len(values)) - 1)]
    return (
        f"{name:<34} median {statistics.median(values):5.2f} s   p90 {p90:5.2f} s   n={len(values)}"
    )


def main() -> None:
    # SIGTERM (timeout, kill) still runs the cleanup below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8, help="start/stop cycles per spawner")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="computehub-bench-"))
    base.chmod(0o755)
    for user in ("alice", "bob"):
        ensure_user(user)
    bed = SlurmBed(base / "slurm", hubs={"lahore": {"h100": 4}})
    bed.start()
    data = bed_site(bed, NOTEBOOK_ENV, {"alice": "researcher", "bob": "researcher"})
    # The drivers create the users over REST (no login, so no platform roles): the
    # H100s are opened to all here; this measures starts, not allow-lists.
    data["hubs"]["lahore"]["limits"]["access"] = {}
    site = write_site(base / "site.yaml", data)
    token = secrets.token_hex(20)
    # Each hub its own credits port; no reconciliation passes during the runs (the
    # other hub's jobs are not in this hub's ledger).
    quiet = {"COMPUTEHUB_RECONCILE_INTERVAL": "3600"}
    ours = HubProcess(
        base / "ours",
        site,
        extra_config=driver_config(base / "ours.py", token),
        extra_env={**quiet, "COMPUTEHUB_CREDITS_PORT": str(free_port())},
    )
    conf = bed.clusters["lahore"].conf
    # SLURM_CONF must reach sbatch (Spawner.environment) and squeue/scancel (the hub's env).
    plain_extra = PLAIN + f"c.SlurmSpawner.environment = {{'SLURM_CONF': {str(conf)!r}}}\n"
    plain = HubProcess(
        base / "plain",
        site,
        extra_config=driver_config(base / "plain.py", token, plain_extra),
        extra_env={**quiet, "SLURM_CONF": str(conf), "COMPUTEHUB_CREDITS_PORT": str(free_port())},
    )
    timings: dict[str, list[float]] = {
        "ComputeHubSpawner": [],
        "batchspawner SlurmSpawner": [],
        "bare jupyterhub-singleuser": [],
    }
    try:
        ours.start()
        plain.start()
        with Ledger(f"sqlite:///{base / 'ours' / 'ledger.sqlite'}") as ledger:
            ledger.ensure_personal_account("alice", actor="bench")
            ledger.grant("alice", "100000", actor="bench", idempotency_key="bench")
        body = {"hub": "lahore", "gpu_type": "h100", "gpus": 1, "hours": "1"}
        cycle(ours.url, token, "alice", body)  # warm both paths once, unmeasured
        cycle(plain.url, token, "bob", None)
        for n in range(args.rounds):
            order = [
                ("ComputeHubSpawner", ours, "alice", body),
                ("batchspawner SlurmSpawner", plain, "bob", None),
            ]
            for name, hub, user, payload in order if n % 2 == 0 else reversed(order):
                timings[name].append(cycle(hub.url, token, user, payload))
            timings["bare jupyterhub-singleuser"].append(bare_start(ours.url, token, "alice"))
            print(
                f"round {n + 1}/{args.rounds}: "
                + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in timings.items()),
                flush=True,
            )
    finally:
        ours.stop()
        plain.stop()
        bed.clusters["lahore"].cancel_all()
        bed.stop()
    print()
    for name, values in timings.items():
        print(summary(name, values))
    ours_m = statistics.median(timings["ComputeHubSpawner"])
    plain_m = statistics.median(timings["batchspawner SlurmSpawner"])
    bare_m = statistics.median(timings["bare jupyterhub-singleuser"])
    print(
        f"\nratio ComputeHubSpawner / SlurmSpawner (medians): {ours_m / plain_m:.2f}"
        "  (target <= 1.05)"
    )
    print(
        f"ComputeHubSpawner above a bare singleuser start: +{ours_m - bare_m:.2f} s "
        f"(x{ours_m / bare_m:.2f})"
    )


if __name__ == "__main__":
    main()
