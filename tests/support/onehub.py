"""A hub of its own on a cluster of its own, for tests that crash, stop or reconfigure it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from computehub.localbed.hub import HubProcess
from computehub.localbed.slurm import SlurmCluster
from tests.support.bedtools import hub_api

USERS = ("alice", "bob", "carol")


def site_data(cluster: SlurmCluster, notebook_env: Path, gpus: dict[str, int]) -> dict[str, Any]:
    """A site file with one hub on ``cluster``, priced 10 credits per GPU-hour."""
    return {
        "platform": {"name": "computehub (recovery tests)", "support": "the test operators"},
        "hubs": {
            cluster.name: {
                "display_name": f"{cluster.name.title()} AI Hub",
                "region": "test",
                "slurm": {
                    "conf": str(cluster.conf),
                    "timeout_s": 5,
                    "job_ticket_key_file": str(cluster.ticket_key),
                },
                "partitions": {cluster.partition: {"default": True, "max_hours": 24}},
                "gpus": {gpu: {"count": count} for gpu, count in gpus.items()},
                "rates": {"cpu": "0.5", **{f"gpu:{gpu}": "10" for gpu in gpus}},
                "limits": {
                    "max_gpus": 2,
                    "max_hours": 12,
                    "cpus_per_session": 1,
                    "memory_gb_per_session": 1,
                },
            }
        },
        "environments": {
            "notebook": {"display_name": "Python 3", "prefix": str(notebook_env)},
        },
        "defaults": {"hub": cluster.name, "environment": "notebook", "hours": 1},
        "auth": {"method": "dummy", "dummy": {"users": dict.fromkeys(USERS, "researcher")}},
    }


@dataclass
class Hub:
    process: HubProcess
    token: str

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def ledger_url(self) -> str:
        return f"sqlite:///{self.process.base / 'ledger.sqlite'}"

    def api(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        return hub_api(self.url, self.token, method, path, body, timeout=60)
