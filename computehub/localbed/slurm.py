"""Local Slurm: one slurmdbd for accounting and any number of one-node clusters.

GPUs are declared as GRES without hardware: each device file is a symlink to
/dev/null, which slurmd accepts as a character device. Jobs then get
``CUDA_VISIBLE_DEVICES`` exactly as on a real GPU node. The node's Prolog and Epilog
run computehub's energy hook on fake GPUs whose counters advance at a known power
(``computehub.localbed.energy``).

Each cluster has two partitions on its node: ``gpu``, the portal's (notebook
sessions), and ``batch`` (the default), for the users' own jobs. The portal's
partition is guarded as a deployment should guard it: ``JobSubmitPlugins=lua``
with computehub's ``job_submit.lua`` (hub_config/slurm/) beside slurm.conf, which
admits there only jobs carrying the portal's ticket (signed with the cluster's
``computehub-ticket.key``) and refuses owners' changes to portal jobs.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from computehub.localbed.energy import write_hook
from computehub.localbed.mariadb import MariaDB
from computehub.localbed.munge import Munge
from computehub.localbed.proc import (
    BedError,
    find_binary,
    free_port,
    make_dir,
    pid_alive,
    pid_of,
    port_open,
    run,
    spawn,
    stop_pid,
    tail_hint,
    wait_for,
)
from computehub.sitefile.capacity import ENFORCE, SlurmCapacity


def _render(settings: Mapping[str, object]) -> str:
    return "".join(f"{key}={value}\n" for key, value in settings.items())


#: computehub's job_submit.lua guard, as shipped for deployments.
GUARD_SCRIPT = Path(__file__).resolve().parents[2] / "hub_config" / "slurm" / "job_submit.lua"


@dataclass
class SlurmDbd:
    """slurmdbd on MariaDB; serves every cluster of the bed."""

    base: Path
    munge: Munge
    db: MariaDB
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def conf_dir(self) -> Path:
        return self.base / "etc"

    @property
    def pidfile(self) -> Path:
        return self.base / "slurmdbd.pid"

    @property
    def log(self) -> Path:
        return self.base / "slurmdbd.log"

    def start(self) -> None:
        """Write slurmdbd.conf (mode 600, as slurmdbd demands) and start it."""
        slurmdbd = find_binary("slurmdbd", "slurmdbd")
        make_dir(self.conf_dir, "root", 0o755)
        port_file = self.base / "port"
        if pid_alive(pid_of(self.pidfile, "slurmdbd") or 0) and port_file.exists():
            self.port = int(port_file.read_text())
            return
        conf = self.conf_dir / "slurmdbd.conf"
        conf.write_text(
            "# slurmdbd of the computehub local test bed (generated)\n"
            + _render(
                {
                    "AuthType": "auth/munge",
                    "AuthInfo": f"socket={self.munge.socket}",
                    "DbdHost": "localhost",
                    "DbdAddr": "127.0.0.1",
                    "DbdPort": self.port,
                    "SlurmUser": "root",
                    "PidFile": self.pidfile,
                    "LogFile": self.log,
                    "DebugLevel": "info",
                    "StorageType": "accounting_storage/mysql",
                    "StorageHost": "127.0.0.1",
                    "StoragePort": self.db.port,
                    "StorageUser": self.db.user,
                    "StoragePass": self.db.password,
                    "StorageLoc": "slurm_acct_db",
                }
            )
        )
        conf.chmod(0o600)
        port_file.write_text(str(self.port))
        env = {**os.environ, "SLURM_CONF": str(self.conf_dir / "slurm.conf")}
        self.proc = spawn([slurmdbd, "-D"], log=self.base / "slurmdbd.out", env=env)
        wait_for(
            lambda: port_open(self.port) or self.proc is None or self.proc.poll() is not None,
            60,
            "slurmdbd",
            self.log,
        )
        if not port_open(self.port):
            raise BedError("slurmdbd exited at start" + tail_hint(self.log))

    def stop(self) -> None:
        """Stop slurmdbd by its pid."""
        stop_pid(pid_of(self.pidfile, "slurmdbd") or (self.proc.pid if self.proc else None))


@dataclass
class SlurmCluster:
    """One Slurm cluster (a regional hub) with one node and fake GPUs."""

    name: str
    base: Path
    munge: Munge
    dbd: SlurmDbd
    gpus: Mapping[str, int]
    cpus: int = 16
    memory_mb: int = 16000
    #: The portal's partition (notebook sessions), guarded by job_submit.lua.
    partition: str = "gpu"
    #: The users' own partition, the default: their sbatch lands here.
    user_partition: str = "batch"
    #: Install the job_submit.lua guard (JobSubmitPlugins=lua).
    guard: bool = True
    #: Run computehub's energy hook as Prolog and Epilog (fake GPUs at known power).
    energy_hook: bool = True
    #: AccountingStorageTRES entries (default: gres/gpu and gres/gpu:TYPE for each type).
    accounting_tres: Sequence[str] | None = None
    #: Reserved capacity (docs/capacity.md): the capped QOS on both partitions, the
    #: reserved partitions (guarded as portal partitions) and AccountingStorageEnforce.
    capacity: SlurmCapacity | None = None
    #: With ``capacity``: the users given an association (enforcement needs one each).
    slurm_users: Sequence[str] = ()
    ctld_port: int = field(default_factory=free_port)
    slurmd_port: int = field(default_factory=free_port)

    @property
    def node(self) -> str:
        return f"{self.name}-n1"

    @property
    def conf(self) -> Path:
        return self.base / "etc" / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """The environment that points Slurm client commands at this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    @property
    def ticket_key(self) -> Path:
        """The key the hub signs job tickets with and the guard checks them with."""
        return self.base / "etc" / "computehub-ticket.key"

    def _write_guard(self, etc: Path) -> None:
        """job_submit.lua beside slurm.conf, its settings, and a fresh key (mode 600)."""
        if not self.ticket_key.exists():
            self.ticket_key.write_text(secrets.token_hex(32) + "\n")
        self.ticket_key.chmod(0o600)
        shutil.copyfile(GUARD_SCRIPT, etc / "job_submit.lua")
        (etc / "computehub-guard.conf").write_text(
            "# computehub's job_submit.lua guard (generated by the local bed)\n"
            + _render(
                {
                    "cluster": self.name,
                    "portal_partitions": ",".join(
                        [
                            self.partition,
                            *(self.capacity.partitions.values() if self.capacity else ()),
                        ]
                    ),
                    "admin_uids": 0,
                    "ticket_key_file": self.ticket_key,
                    "max_ticket_ttl_s": 600,
                }
            )
        )

    def _write_conf(self) -> None:
        etc = make_dir(self.base / "etc", "root", 0o755)
        dev = make_dir(self.base / "dev", "root", 0o755)
        for sub in ("state", "spool", "log", "run"):
            make_dir(self.base / sub, "root", 0o755)
        gres_lines = ["# fake GPUs of the computehub local test bed (generated)", "AutoDetect=off"]
        gres_node: list[str] = []
        index = 0
        for gpu_type, count in self.gpus.items():
            first = index
            for _ in range(count):
                link = dev / f"nvidia{index}"
                if not link.is_symlink():
                    link.symlink_to("/dev/null")
                index += 1
            files = f"{dev}/nvidia[{first}-{index - 1}]" if count > 1 else f"{dev}/nvidia{first}"
            gres_lines.append(f"NodeName={self.node} Name=gpu Type={gpu_type} File={files}")
            gres_node.append(f"gpu:{gpu_type}:{count}")
        (etc / "gres.conf").write_text("\n".join(gres_lines) + "\n")
        tres = list(self.accounting_tres or ["gres/gpu"] + [f"gres/gpu:{t}" for t in self.gpus])
        settings: dict[str, object] = {
            "ClusterName": self.name,
            "SlurmctldHost": f"{socket.gethostname()}(127.0.0.1)",
            "SlurmctldPort": self.ctld_port,
            "SlurmdPort": self.slurmd_port,
            "SlurmUser": "root",
            "SlurmdUser": "root",
            "AuthType": "auth/munge",
            # cred_expire also delays a requeued job's restart (default 120 s).
            "AuthInfo": f"socket={self.munge.socket},cred_expire=30",
            "CredType": "cred/munge",
            "StateSaveLocation": self.base / "state",
            "SlurmdSpoolDir": self.base / "spool",
            "SlurmctldPidFile": self.base / "run" / "slurmctld.pid",
            "SlurmdPidFile": self.base / "run" / "slurmd.pid",
            "SlurmctldLogFile": self.base / "log" / "slurmctld.log",
            "SlurmdLogFile": self.base / "log" / "slurmd.log",
            "ProctrackType": "proctrack/linuxproc",
            "TaskPlugin": "task/none",
            "SelectType": "select/cons_tres",
            "SelectTypeParameters": "CR_Core",
            "SlurmdParameters": "config_overrides",
            "SchedulerParameters": "batch_sched_delay=0",
            "GresTypes": "gpu",
            "MpiDefault": "none",
            "ReturnToService": 2,
            "KillWait": 3,
            "MinJobAge": 600,
            "InactiveLimit": 0,
            "JobAcctGatherType": "jobacct_gather/none",
            "AccountingStorageType": "accounting_storage/slurmdbd",
            "AccountingStorageHost": "127.0.0.1",
            "AccountingStoragePort": self.dbd.port,
            "AccountingStoragePass": self.munge.socket,
            "AccountingStorageTRES": ",".join(tres),
            "JobCompType": "jobcomp/none",
        }
        if self.energy_hook:
            prolog, epilog = write_hook(
                etc, self.base, self.name, self.gpus, find_binary("sacctmgr", "slurm-client")
            )
            # Alloc: the Prolog runs when the job is allocated, before anything of it runs.
            settings.update({"Prolog": prolog, "Epilog": epilog, "PrologFlags": "Alloc"})
        if self.guard:
            settings["JobSubmitPlugins"] = "lua"
            self._write_guard(etc)
        qos = ""
        if self.capacity is not None:
            settings["AccountingStorageEnforce"] = ENFORCE
            qos = f" QOS={self.capacity.qos}"
        node = (
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} "
            f"RealMemory={self.memory_mb} Gres={','.join(gres_node)} State=UNKNOWN"
        )
        part = (
            f"PartitionName={self.partition} Nodes={self.node} Default=NO "
            f"MaxTime=INFINITE State=UP{qos}\n"
            f"PartitionName={self.user_partition} Nodes={self.node} Default=YES "
            f"MaxTime=INFINITE State=UP{qos}"
        )
        for reserved in self.capacity.partitions.values() if self.capacity else ():
            part += (
                f"\nPartitionName={reserved} Nodes={self.node} Default=NO MaxTime=INFINITE State=UP"
            )
        self.conf.write_text(
            f"# Slurm cluster {self.name} of the computehub local test bed (generated)\n"
            + _render(settings)
            + node
            + "\n"
            + part
            + "\n"
        )
        self.conf.chmod(0o644)

    def _add_capacity(self, sacctmgr: str) -> None:
        """The capped QOS (before slurmctld reads the partitions naming it) and associations."""
        assert self.capacity is not None
        known = run([sacctmgr, "-n", "-P", "list", "qos", "format=name"], env=self.env)
        if self.capacity.qos in known.split():
            run([sacctmgr, *self.capacity.sacctmgr_modify()], env=self.env)
        else:
            run([sacctmgr, *self.capacity.sacctmgr_qos()], env=self.env)
        account = f"{self.name}-users"
        listed = run(
            [sacctmgr, "-n", "-P", "list", "assoc", f"cluster={self.name}", "format=account,user"],
            env=self.env,
        )
        have = {tuple(line.split("|")[:2]) for line in listed.splitlines() if "|" in line}
        if (account, "") not in have:
            run([sacctmgr, "-i", "add", "account", account, f"cluster={self.name}"], env=self.env)
        missing = [user for user in self.slurm_users if (account, user) not in have]
        if missing:
            add = ["-i", "add", "user", ",".join(missing), f"account={account}"]
            run([sacctmgr, *add, f"cluster={self.name}"], env=self.env)

    def _pid(self, daemon: str) -> int | None:
        return pid_of(self.base / "run" / f"{daemon}.pid", daemon)

    def start(self) -> None:
        """Register the cluster with slurmdbd, start slurmctld and slurmd, wait for idle."""
        slurmctld = find_binary("slurmctld", "slurmctld")
        slurmd = find_binary("slurmd", "slurmd")
        sacctmgr = find_binary("sacctmgr", "slurm-client")
        ports = self.base / "ports"
        if ports.exists():  # a bed started before keeps its ports: its daemons may still run
            self.ctld_port, self.slurmd_port = map(int, ports.read_text().split())
        self._write_conf()
        ports.write_text(f"{self.ctld_port} {self.slurmd_port}\n")
        clusters = run([sacctmgr, "-n", "-P", "list", "cluster", "format=cluster"], env=self.env)
        if self.name not in clusters.split():
            run([sacctmgr, "-i", "add", "cluster", self.name], env=self.env)
        if self.capacity is not None:
            self._add_capacity(sacctmgr)
        if not pid_alive(self._pid("slurmctld") or 0):
            run([slurmctld, "-f", str(self.conf)], env=self.env)
        wait_for(
            lambda: port_open(self.ctld_port),
            30,
            f"slurmctld of {self.name}",
            self.base / "log" / "slurmctld.log",
        )
        if not pid_alive(self._pid("slurmd") or 0):
            run([slurmd, "-f", str(self.conf), "-N", self.node], env=self.env)
        wait_for(self._idle, 60, f"node {self.node} idle", self.base / "log" / "slurmd.log")

    def _idle(self) -> bool:
        try:
            state = self.sinfo_state()
        except BedError:
            return False
        return state.startswith("idle") or state.startswith("mix")

    def sinfo_state(self) -> str:
        """The node's state as sinfo prints it (``idle``, ``alloc``, ``drain``...)."""
        sinfo = find_binary("sinfo", "slurm-client")
        return run(
            [sinfo, "-h", "-N", "-p", self.partition, "-o", "%t"], env=self.env, timeout=15
        ).strip()

    def stop_controller(self) -> None:
        """Stop slurmctld only (failure tests)."""
        stop_pid(self._pid("slurmctld"))

    def start_controller(self) -> None:
        """Start slurmctld again after :meth:`stop_controller`."""
        run([find_binary("slurmctld", "slurmctld"), "-f", str(self.conf)], env=self.env)
        wait_for(lambda: port_open(self.ctld_port), 30, f"slurmctld of {self.name}")

    def restart_controller(self) -> None:
        """Restart slurmctld with the configuration written now (e.g. other TRES)."""
        self._write_conf()
        self.stop_controller()
        self.start_controller()
        wait_for(self._idle, 60, f"node {self.node} idle", self.base / "log" / "slurmd.log")

    def restart_fresh(self) -> None:
        """Restart the cluster with an empty state directory: job ids start again at 1.

        As after a controller whose state was lost; slurmdbd keeps the old jobs' records.
        """
        self.stop()
        shutil.rmtree(self.base / "state", ignore_errors=True)
        self.start()

    def cancel_all(self) -> None:
        """Cancel every job of this cluster (cleanup between tests)."""
        scancel = find_binary("scancel", "slurm-client")
        reserved = tuple(self.capacity.partitions.values()) if self.capacity else ()
        for partition in (self.partition, self.user_partition, *reserved):
            with contextlib.suppress(BedError):
                run([scancel, "--quiet", "--partition", partition], env=self.env, timeout=15)

    def stop(self) -> None:
        """Stop slurmd, then slurmctld, by pid."""
        stop_pid(self._pid("slurmd"))
        stop_pid(self._pid("slurmctld"))
