"""JupyterHub from hub_config/, as a real process (with its configurable-http-proxy)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from computehub.localbed.proc import (
    BedError,
    free_port,
    make_dir,
    pid_of,
    spawn,
    stop_pid,
    tail_hint,
    wait_for,
)
from computehub.paths import repo_root


@dataclass
class HubProcess:
    """``jupyterhub -f hub_config/jupyterhub_config.py`` with its state under ``base``."""

    base: Path
    site_file: Path
    port: int = field(default_factory=free_port)
    hub_port: int = field(default_factory=free_port)
    proxy_api_port: int = field(default_factory=free_port)
    extra_config: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.base / "jupyterhub.log"

    def env(self) -> dict[str, str]:
        """The hub's environment: where its site file and state are, which ports."""
        env = {
            **os.environ,
            "COMPUTEHUB_SITE": str(self.site_file),
            "COMPUTEHUB_STATE_DIR": str(self.base),
            "COMPUTEHUB_BIND_URL": f"http://127.0.0.1:{self.port}",
            "COMPUTEHUB_HUB_BIND_URL": f"http://127.0.0.1:{self.hub_port}",
            "COMPUTEHUB_PROXY_API_URL": f"http://127.0.0.1:{self.proxy_api_port}",
            **self.extra_env,
        }
        if self.extra_config is not None:
            env["COMPUTEHUB_EXTRA_CONFIG"] = str(self.extra_config)
        return env

    def healthy(self) -> bool:
        """Whether the hub answers through the proxy."""
        try:
            with urllib.request.urlopen(f"{self.url}/hub/health", timeout=2) as r:  # noqa: S310
                return bool(r.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def start(self, timeout: float = 60) -> None:
        """Start JupyterHub and wait until it answers on its public URL."""
        make_dir(self.base, "root", 0o755)
        jupyterhub = Path(sys.executable).parent / "jupyterhub"
        config = repo_root() / "hub_config" / "jupyterhub_config.py"
        self.proc = spawn(
            [str(jupyterhub), "-f", str(config)], log=self.log, env=self.env(), cwd=self.base
        )
        wait_for(
            lambda: self.healthy() or self.proc is None or self.proc.poll() is not None,
            timeout,
            "JupyterHub",
            self.log,
        )
        if not self.healthy():
            raise BedError("JupyterHub exited at start" + tail_hint(self.log, 25))

    def kill(self) -> None:
        """SIGKILL the hub process only (restart tests); the proxy and jobs stay."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        """Stop the hub, then its proxy (which outlives hub restarts by design).

        Managed services run in sessions of their own; those of a hub that was
        killed (a crash test) outlive it, so every process started with this hub's
        state directory in its environment is stopped too.
        """
        if self.proc is not None:
            stop_pid(self.proc.pid, timeout=20)
            self.proc.wait()
        stop_pid(pid_of(self.base / "jupyterhub-proxy.pid", "configurable-http-proxy"))
        for pid in self._leftovers():
            stop_pid(pid)

    def _leftovers(self) -> list[int]:
        marker = f"COMPUTEHUB_STATE_DIR={self.base}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if marker in environ and int(entry.name) != os.getpid():
                found.append(int(entry.name))
        return found
