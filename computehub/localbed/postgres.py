"""A private PostgreSQL server for tests and benchmarks (Debian's postgresql package)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from computehub.localbed.proc import (
    find_binary,
    free_port,
    make_dir,
    pid_of,
    port_open,
    run,
    stop_pid,
    wait_for,
)


@dataclass
class Postgres:
    """One PostgreSQL cluster under ``base``, listening on 127.0.0.1 only."""

    base: Path
    port: int = field(default_factory=free_port)
    #: Server settings after the bed's own (``name=value``, last wins): e.g. ``fsync=on``,
    #: ``synchronous_commit=on`` for a benchmark at production durability.
    settings: tuple[str, ...] = ()
    _counter: itertools.count[int] = field(default_factory=itertools.count, repr=False)

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def log(self) -> Path:
        return self.base / "postgres.log"

    def start(self) -> None:
        """initdb on first use, then start and wait until it accepts connections."""
        initdb = find_binary("initdb", "postgresql")
        pg_ctl = find_binary("pg_ctl", "postgresql")
        make_dir(self.base, "postgres", 0o755)
        sockets = make_dir(self.base / "run", "postgres", 0o755)
        if not (self.datadir / "PG_VERSION").exists():
            run(
                [
                    initdb,
                    "-D",
                    str(self.datadir),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "--no-sync",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ],
                user="postgres",
                timeout=120,
            )
        options = (
            f"-p {self.port} -k {sockets} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=300"
        )
        options += "".join(f" -c {setting}" for setting in self.settings)
        run(
            [
                pg_ctl,
                "-D",
                str(self.datadir),
                "-o",
                options,
                "-l",
                str(self.log),
                "-w",
                "-t",
                "60",
                "start",
            ],
            user="postgres",
            timeout=90,
        )
        wait_for(lambda: port_open(self.port), 30, "PostgreSQL", self.log)

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL (psycopg 3) for a database on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "test") -> str:
        """Create a new empty database and return its URL."""
        name = f"{prefix}_{next(self._counter)}"
        psql = find_binary("psql", "postgresql-client")
        run(
            [
                psql,
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                f'DROP DATABASE IF EXISTS "{name}"',
                "-c",
                f'CREATE DATABASE "{name}"',
            ],
            timeout=60,
        )
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (fast shutdown), by its pid."""
        stop_pid(pid_of(self.datadir / "postmaster.pid", "postgres"), timeout=20)
