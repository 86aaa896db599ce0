"""The local test bed: munge, MariaDB + slurmdbd and two Slurm clusters (two AI hubs)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from computehub.localbed.mariadb import MariaDB
from computehub.localbed.munge import Munge
from computehub.localbed.proc import make_dir
from computehub.localbed.slurm import SlurmCluster, SlurmDbd

#: The two regional hubs of the bed and their fake GPUs.
DEFAULT_HUBS: Mapping[str, Mapping[str, int]] = {
    "lahore": {"h100": 4, "a100": 2},
    # Besides 4 whole A100s, Karachi has an A100 in MIG mode: 4 slices of 1g.10gb,
    # declared as GRES type 1g.10gb (as Slurm's NVML autodetection names them).
    "karachi": {"a100": 4, "1g.10gb": 4},
}


@dataclass
class SlurmBed:
    """Everything Slurm needs, under one directory; start() is idempotent across runs."""

    base: Path
    hubs: Mapping[str, Mapping[str, int]] = field(default_factory=lambda: dict(DEFAULT_HUBS))
    munge: Munge = field(init=False)
    db: MariaDB = field(init=False)
    dbd: SlurmDbd = field(init=False)
    clusters: dict[str, SlurmCluster] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.munge = Munge(self.base / "munge")
        self.db = MariaDB(self.base / "mariadb")
        self.dbd = SlurmDbd(self.base / "slurmdbd", self.munge, self.db)
        for name, gpus in self.hubs.items():
            self.clusters[name] = SlurmCluster(name, self.base / name, self.munge, self.dbd, gpus)

    def start(self) -> None:
        """Start every daemon in dependency order; stop what started if one fails."""
        make_dir(self.base, "root", 0o755)
        try:
            self.munge.start()
            self.db.start()
            self.dbd.start()
            for cluster in self.clusters.values():
                cluster.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every daemon, the reverse of start order."""
        for cluster in self.clusters.values():
            cluster.stop()
        self.dbd.stop()
        self.db.stop()
        self.munge.stop()
