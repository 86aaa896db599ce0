"""Local POSIX users: notebook jobs run as the person, never as root."""

from __future__ import annotations

import pwd

from computehub.localbed.proc import find_binary, run


def ensure_user(name: str) -> pwd.struct_passwd:
    """Create ``name`` with a home directory unless it exists; return its passwd entry."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    useradd = find_binary("useradd", "passwd")
    run(
        [
            useradd,
            "--create-home",
            "--shell",
            "/bin/bash",
            "--comment",
            "computehub local user",
            name,
        ]
    )
    return pwd.getpwnam(name)
