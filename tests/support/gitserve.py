"""A git repository served on loopback by ``git daemon`` (git://), as a course's host would."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_repository(root: Path, name: str, files: Mapping[str, str]) -> Path:
    """A bare repository ``root/name.git`` whose ``main`` branch holds ``files``."""
    work = root / f"{name}-work"
    work.mkdir(parents=True)
    git = ["git", "-C", str(work), "-c", "user.name=Prof", "-c", "user.email=prof@example.org"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True, timeout=30)
    for path, text in files.items():
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    subprocess.run([*git, "add", "-A"], check=True, timeout=30)
    subprocess.run([*git, "commit", "-q", "-m", "course materials"], check=True, timeout=30)
    bare = root / f"{name}.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True, timeout=30)
    return bare


@contextmanager
def git_daemon(base: Path, timeout: float = 15) -> Iterator[str]:
    """Serve every repository under ``base`` read-only; yields ``git://127.0.0.1:PORT``."""
    port = _free_port()
    process = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            f"--base-path={base}",
            "--listen=127.0.0.1",
            f"--port={port}",
            str(base),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("git daemon did not start") from None
                time.sleep(0.1)
        yield f"git://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
