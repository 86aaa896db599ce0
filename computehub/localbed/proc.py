"""Process plumbing for the local test bed: find binaries, run as users, wait, stop by pid."""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

#: Where Debian puts daemons that are not on a normal user's PATH.
_SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/lib/postgresql/15/bin")


class MissingComponentError(RuntimeError):
    """A real component of the test bed is not installed on this machine."""


class BedError(RuntimeError):
    """A component was installed but did not come up; the message says where to look."""


def find_binary(name: str, package: str) -> str:
    """Absolute path of ``name``, or :class:`MissingComponentError` naming the Debian package."""
    found = shutil.which(name)
    if found is None:
        for directory in _SBIN_DIRS:
            candidate = Path(directory) / name
            if candidate.exists():
                return str(candidate)
        raise MissingComponentError(
            f"{name} not found: install the Debian package {package} (scripts/install.sh does)"
        )
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_for(check: Callable[[], bool], timeout: float, what: str, log: Path | None = None) -> None:
    """Poll ``check`` until it is true; on timeout raise :class:`BedError` with the log's tail."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    raise BedError(f"{what} did not come up within {timeout:.0f} s{tail_hint(log)}")


def tail_hint(log: Path | None, lines: int = 15) -> str:
    """The last lines of a log file, formatted to append to an error message."""
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return f"; last lines of {log}:\n" + "\n".join(text)


def owner_ids(user: str) -> tuple[int, int]:
    """(uid, gid) of a local user."""
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def make_dir(path: Path, user: str = "root", mode: int = 0o755) -> Path:
    """Create ``path`` (and parents) owned by ``user`` with ``mode``."""
    path.mkdir(parents=True, exist_ok=True)
    uid, gid = owner_ids(user)
    os.chown(path, uid, gid)
    path.chmod(mode)
    return path


def run(
    argv: Sequence[str],
    *,
    user: str | None = None,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
    timeout: float = 60,
    cwd: Path | None = None,
) -> str:
    """Run a command (never through a shell) and return stdout; fail with its stderr."""
    kwargs: dict[str, object] = {}
    if user is not None and user != "root":
        uid, gid = owner_ids(user)
        kwargs.update(user=uid, group=gid, extra_groups=[])
    proc: subprocess.CompletedProcess[str] = subprocess.run(  # noqa: S603 (argv lists built by the bed, no shell)
        list(argv),
        input=input_text,
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else None,
        timeout=timeout,
        cwd=cwd,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )
    if proc.returncode != 0:
        raise BedError(
            f"{' '.join(argv)} failed (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[:2000]}"
        )
    return proc.stdout


def spawn(
    argv: Sequence[str],
    *,
    log: Path,
    user: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running process in its own session, output appended to ``log``."""
    kwargs: dict[str, object] = {}
    if user is not None and user != "root":
        uid, gid = owner_ids(user)
        kwargs.update(user=uid, group=gid, extra_groups=[])
    with log.open("ab") as out:
        popen: subprocess.Popen[bytes] = subprocess.Popen(  # noqa: S603
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            **kwargs,  # type: ignore[call-overload]
        )
        return popen


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (and is not a zombie of ours)."""
    if pid <= 1:
        return False
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        if stat.read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True


def read_pid(pidfile: Path) -> int | None:
    """The pid in a pid file, or None when there is none."""
    try:
        return int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def pid_of(pidfile: Path, *programs: str) -> int | None:
    """The pid in a pid file, if that process is still one of ``programs``.

    A pid file outlives its process (a crash, a reboot of the machine), and the kernel
    reuses pids: the bed signals a pid only when ``/proc/PID/cmdline`` names one of
    the programs that wrote the file, and otherwise treats the file as stale.
    """
    pid = read_pid(pidfile)
    if pid is None or pid <= 1:
        return None
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    names = {os.path.basename(arg.decode(errors="replace")) for arg in args if arg}
    if names & set(programs):
        return pid
    log.warning("%s names pid %s, which is not %s now: stale", pidfile, pid, "/".join(programs))
    return None


def stop_pid(pid: int | None, timeout: float = 10, sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` to ``pid`` and wait for it to go; SIGKILL after ``timeout``."""
    if pid is None or pid <= 1 or not pid_alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.05)
