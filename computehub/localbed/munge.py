"""munged, the authentication daemon every Slurm component of the bed shares."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from computehub.localbed.proc import (
    find_binary,
    make_dir,
    owner_ids,
    pid_alive,
    pid_of,
    run,
    stop_pid,
    wait_for,
)


@dataclass
class Munge:
    """A munged with its own key and socket under ``base``; runs as the ``munge`` user."""

    base: Path

    @property
    def socket(self) -> Path:
        return self.base / "run" / "munge.socket"

    @property
    def pidfile(self) -> Path:
        return self.base / "run" / "munged.pid"

    @property
    def log(self) -> Path:
        return self.base / "log" / "munged.log"

    def start(self) -> None:
        """Create a key on first use and start munged; reuse a running one."""
        munged = find_binary("munged", "munge")
        make_dir(self.base, "root", 0o755)
        etc = make_dir(self.base / "etc", "munge", 0o700)
        # munged insists that its socket directory be traversable by every client.
        make_dir(self.base / "run", "munge", 0o755)
        make_dir(self.base / "log", "munge", 0o700)
        lib = make_dir(self.base / "lib", "munge", 0o700)
        key = etc / "munge.key"
        if not key.exists():
            key.write_bytes(os.urandom(1024))
            uid, gid = owner_ids("munge")
            os.chown(key, uid, gid)
            key.chmod(0o400)
        if pid_alive(pid_of(self.pidfile, "munged") or 0) and self.socket.exists():
            return
        run(
            [
                munged,
                f"--key-file={key}",
                f"--socket={self.socket}",
                f"--pid-file={self.pidfile}",
                f"--log-file={self.log}",
                f"--seed-file={lib / 'munged.seed'}",
                "--num-threads=4",
            ],
            user="munge",
        )
        wait_for(self.socket.exists, 20, "munged", self.log)

    def check(self) -> None:
        """Encode and decode one credential: proves the daemon answers."""
        munge = find_binary("munge", "munge")
        unmunge = find_binary("unmunge", "munge")
        cred = run([munge, f"--socket={self.socket}", "-n"])
        run([unmunge, f"--socket={self.socket}"], input_text=cred)

    def stop(self) -> None:
        """Stop munged by its pid."""
        stop_pid(pid_of(self.pidfile, "munged"))
