"""A booted Debian 12 machine for the deployment tests: a systemd-nspawn container.

The root comes from the tarball that ``scripts/deploy-bed.sh`` caches (debootstrap
with the Debian packages the roles install). The container has a network of its
own (loopback only): its ports can't clash with anything on the host, and nothing
it does can download. Ansible reaches it with the ``community.docker.nsenter``
connection through the pid of its init (../shared/TESTBED.md).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from computehub.localbed.proc import BedError, MissingComponentError

#: Where scripts/deploy-bed.sh keeps the root tarball, the wheelhouse and the proxy.
CACHE = Path(os.environ.get("COMPUTEHUB_DEPLOY_CACHE", "/var/cache/computehub-deploy"))


def require_bed() -> None:
    """Raise :class:`MissingComponentError` unless the deployment bed is installed."""
    for tool, package in (
        ("systemd-nspawn", "systemd-container"),
        ("nsenter", "util-linux"),
        ("zstd", "zstd"),
    ):
        if shutil.which(tool) is None:
            raise MissingComponentError(f"{tool} not found: install the Debian package {package}")
    for name in ("bookworm.tar.zst", "wheels-hub.tar", "configurable-http-proxy.tar.gz"):
        if not (CACHE / name).is_file():
            raise MissingComponentError(f"{CACHE / name} is missing: run scripts/install-deploy.sh")


class Machine:
    """One booted container; :meth:`stop` powers it off and removes its root."""

    def __init__(self, workdir: Path, name: str = "computehub-portal") -> None:
        """Unpack a fresh root under ``workdir`` (not booted yet: :meth:`boot`)."""
        self.root = workdir / "root"
        self.root.mkdir(parents=True)
        self.name = name
        self._log = (workdir / "nspawn.log").open("wb")
        subprocess.run(
            [
                "tar",
                "-C",
                str(self.root),
                "-I",
                "zstd -d -T0",
                "-xf",
                str(CACHE / "bookworm.tar.zst"),
            ],
            check=True,
            timeout=300,
        )
        self._nspawn: subprocess.Popen[bytes] | None = None
        self.pid = 0

    def boot(self, timeout: float = 120) -> None:
        """Boot the container and wait until systemd reports it running (or degraded)."""
        self._nspawn = subprocess.Popen(
            [
                "systemd-nspawn",
                "--quiet",
                # Without a system bus on the host, registering with machined fails.
                "--register=no",
                "--keep-unit",
                "--private-network",
                f"--machine={self.name}",
                "-D",
                str(self.root),
                "--boot",
                "--console=pipe",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._nspawn.poll() is not None:
                raise BedError(f"systemd-nspawn exited ({self._log.name})")
            self.pid = self._init_pid()
            if self.pid:
                state = self.run(["systemctl", "is-system-running"], check=False).stdout.strip()
                if state in {"running", "degraded"}:
                    return
            time.sleep(0.5)
        raise BedError(f"the container did not boot in {timeout:.0f} s ({self._log.name})")

    def _init_pid(self) -> int:
        assert self._nspawn is not None
        children = Path(f"/proc/{self._nspawn.pid}/task/{self._nspawn.pid}/children")
        try:
            pids = children.read_text().split()
        except OSError:
            return 0
        return int(pids[0]) if pids else 0

    def run(
        self, argv: Sequence[str], *, check: bool = True, timeout: float = 120, stdin: str = ""
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the container, as root, with a clean environment."""
        result = subprocess.run(
            [
                "nsenter",
                f"--target={self.pid}",
                "--mount",
                "--uts",
                "--ipc",
                "--net",
                "--pid",
                "--",
                "/usr/bin/env",
                "-i",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG=C.UTF-8",
                *argv,
            ],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise BedError(
                f"{' '.join(argv)} exited {result.returncode} in the container: "
                f"{result.stderr.strip()[-2000:]}"
            )
        return result

    def unit_property(self, unit: str, prop: str) -> str:
        """One property of a systemd unit in the container (``systemctl show``)."""
        return self.run(["systemctl", "show", "--value", f"--property={prop}", unit]).stdout.strip()

    def stop(self, timeout: float = 60) -> None:
        """Power the container off (SIGTERM to nspawn is an orderly shutdown), then kill."""
        if self._nspawn is not None and self._nspawn.poll() is None:
            self._nspawn.send_signal(signal.SIGTERM)
            try:
                self._nspawn.wait(timeout)
            except subprocess.TimeoutExpired:
                # Killing the container's init ends its whole pid namespace.
                if self.pid:
                    os.kill(self.pid, signal.SIGKILL)
                os.killpg(self._nspawn.pid, signal.SIGKILL)
                self._nspawn.wait(10)
        self._log.close()
        shutil.rmtree(self.root, ignore_errors=True)
