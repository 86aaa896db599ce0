"""MariaDB, the storage behind slurmdbd (Slurm's accounting: ``sacct``)."""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from computehub.localbed.proc import (
    find_binary,
    free_port,
    make_dir,
    pid_alive,
    pid_of,
    port_open,
    run,
    spawn,
    stop_pid,
    wait_for,
)


@dataclass
class MariaDB:
    """A MariaDB server under ``base`` on 127.0.0.1, with one user for slurmdbd."""

    base: Path
    port: int = field(default_factory=free_port)
    user: str = "slurm"
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def socket(self) -> Path:
        return self.base / "run" / "mysqld.sock"

    @property
    def pidfile(self) -> Path:
        return self.base / "run" / "mysqld.pid"

    @property
    def log(self) -> Path:
        return self.base / "mariadb.log"

    @property
    def password_file(self) -> Path:
        return self.base / "slurm-db-password"

    @property
    def password(self) -> str:
        return self.password_file.read_text().strip()

    def start(self) -> None:
        """Initialise the data directory on first use and start the server."""
        install_db = find_binary("mariadb-install-db", "mariadb-server")
        mariadbd = find_binary("mariadbd", "mariadb-server")
        make_dir(self.base, "root", 0o755)
        make_dir(self.base / "run", "mysql", 0o755)
        fresh = not (self.datadir / "mysql").exists()
        if fresh:
            make_dir(self.datadir, "mysql", 0o750)
            run(
                [
                    install_db,
                    f"--datadir={self.datadir}",
                    "--user=mysql",
                    "--auth-root-authentication-method=socket",
                    "--skip-test-db",
                ],
                timeout=180,
            )
            self.password_file.write_text(secrets.token_urlsafe(18))
            self.password_file.chmod(0o600)
        if pid_alive(pid_of(self.pidfile, "mariadbd", "mysqld") or 0):
            self.port = self._running_port()
        else:
            self.proc = spawn(
                [
                    mariadbd,
                    "--no-defaults",
                    f"--datadir={self.datadir}",
                    f"--socket={self.socket}",
                    f"--port={self.port}",
                    "--bind-address=127.0.0.1",
                    f"--pid-file={self.pidfile}",
                    "--user=mysql",
                    "--skip-log-bin",
                    "--innodb-flush-log-at-trx-commit=0",
                    "--innodb-buffer-pool-size=64M",
                    "--innodb-log-file-size=48M",
                    "--innodb-lock-wait-timeout=900",
                    "--skip-name-resolve",
                ],
                log=self.log,
            )
            (self.base / "port").write_text(str(self.port))
            wait_for(lambda: port_open(self.port) and self.socket.exists(), 60, "MariaDB", self.log)
        if fresh:
            pw = self.password
            self.sql(
                f"CREATE USER IF NOT EXISTS '{self.user}'@'127.0.0.1' IDENTIFIED BY '{pw}';"
                f"GRANT ALL ON *.* TO '{self.user}'@'127.0.0.1'; FLUSH PRIVILEGES;"
            )

    def _running_port(self) -> int:
        return int((self.base / "port").read_text())

    def sql(self, statements: str) -> str:
        """Run SQL as the server's root (over the socket)."""
        client = find_binary("mariadb", "mariadb-client")
        return run(
            [client, "--no-defaults", f"--socket={self.socket}", "-u", "root", "-e", statements]
        )

    def stop(self) -> None:
        """Stop the server by its pid."""
        stop_pid(pid_of(self.pidfile, "mariadbd", "mysqld"), timeout=30)
