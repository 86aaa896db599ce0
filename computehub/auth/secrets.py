"""Secrets named by the site file: read from an environment variable or a file, never logged."""

from __future__ import annotations

import os
from pathlib import Path


class SecretError(RuntimeError):
    """A secret the site file names but that can't be read; the message names the key."""


def read_secret(key: str, env: str | None, file: str | Path | None) -> str:
    """The secret from the environment variable ``env`` or the file ``file``.

    Args:
        key: the site-file key that names the source, for messages (e.g. ``auth.oidc``).
        env: an environment variable's name, or None.
        file: a file's path, or None.

    Raises:
        SecretError: no source given, the variable is unset or empty, or the file
            can't be read or is empty. The message never contains the secret.
    """
    if file is not None:
        try:
            value = Path(file).read_text(encoding="utf-8").strip()
        except OSError as err:
            raise SecretError(f"{key}: can't read the secret file {file}: {err.strerror}") from None
        if not value:
            raise SecretError(f"{key}: the secret file {file} is empty")
        return value
    if env is not None:
        value = os.environ.get(env, "").strip()
        if not value:
            raise SecretError(f"{key}: the environment variable {env} is not set (or empty)")
        return value
    raise SecretError(f"{key}: no secret source (give an _env or a _file key)")
