"""Which hubs an operator put in maintenance, with their message: one small file.

The file is ``$COMPUTEHUB_STATE_DIR/hub-maintenance.json``. JupyterHub (the spawn form
and every start), the credits service (the status page, the widget's
``sessions/current``) and the operator's ``computehub hubs maintenance`` all run on the
hub's host with that state directory, so each reads the same file and none has to ask
another. It is not in the ledger: a maintenance window is not money, and the ledger
knows nothing of hubs' operations. A change is written to a temporary file and renamed
over the old one, so a reader sees the old notice or the new one, never half of one.

No dependencies beyond the standard library: the hub side and the credits service
both import it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from computehub.clock import Clock, utcnow
from computehub.paths import state_dir

FILE_NAME = "hub-maintenance.json"
#: The longest message an operator may set (it is shown on the form and the status page).
MAX_MESSAGE = 500


class MaintenanceError(ValueError):
    """A message that can't be shown, or a file that can't be read; the text says which."""


@dataclass(frozen=True)
class Maintenance:
    """One hub in maintenance.

    Attributes:
        hub: the hub's name in the site file.
        message: what the operator wants people to read (plain text).
        by: who set it.
        since: when it was set (UTC).
    """

    hub: str
    message: str
    by: str
    since: datetime


def maintenance_file(base: Path | None = None) -> Path:
    """Where the notices live (``$COMPUTEHUB_STATE_DIR/hub-maintenance.json``)."""
    return (base or state_dir()) / FILE_NAME


def check_message(message: str) -> str:
    """The message, stripped, if people can be shown it.

    Raises:
        MaintenanceError: empty, longer than :data:`MAX_MESSAGE`, or with control
            characters (a line break included: it is shown on one line).
    """
    text = message.strip()
    if not text:
        raise MaintenanceError("the maintenance message is empty: say what people should know")
    if len(text) > MAX_MESSAGE:
        raise MaintenanceError(
            f"the maintenance message has {len(text)} characters; at most {MAX_MESSAGE}"
        )
    if any(not ch.isprintable() for ch in text):
        raise MaintenanceError("the maintenance message must be one line of printable text")
    return text


def parse(text: str) -> dict[str, Maintenance]:
    """The notices in the file's text, by hub.

    Raises:
        MaintenanceError: not the file this module writes.
    """
    try:
        data = json.loads(text)
        hubs = data["hubs"]
        return {
            str(hub): Maintenance(
                str(hub),
                check_message(str(entry["message"])),
                str(entry["by"]),
                datetime.fromisoformat(str(entry["since"])),
            )
            for hub, entry in hubs.items()
        }
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise MaintenanceError(f"the maintenance file can't be read: {err}") from None


def dump(notices: Mapping[str, Maintenance]) -> str:
    """The file's text for ``notices``."""
    return json.dumps(
        {
            "hubs": {
                hub: {"message": n.message, "by": n.by, "since": n.since.isoformat()}
                for hub, n in sorted(notices.items())
            }
        },
        indent=2,
    )


def read(path: Path | None = None) -> dict[str, Maintenance]:
    """The hubs in maintenance now (none when the file does not exist).

    Raises:
        MaintenanceError: the file exists but is not one this module wrote.
    """
    try:
        text = (path or maintenance_file()).read_text()
    except FileNotFoundError:
        return {}
    return parse(text)


def _write(path: Path, notices: Mapping[str, Maintenance]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".hub-maintenance-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(dump(notices) + "\n")
        os.chmod(tmp, 0o644)  # the hub and its services read it, whoever wrote it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def start(
    hub: str, message: str, by: str, path: Path | None = None, clock: Clock = utcnow
) -> Maintenance:
    """Put ``hub`` in maintenance with ``message`` (replacing an earlier message).

    Raises:
        MaintenanceError: the message can't be shown, or the file can't be read.
    """
    target = path or maintenance_file()
    notices = read(target)
    notices[hub] = Maintenance(hub, check_message(message), by, clock())
    _write(target, notices)
    return notices[hub]


def end(hub: str, path: Path | None = None) -> bool:
    """Take ``hub`` out of maintenance; False if it was not in maintenance."""
    target = path or maintenance_file()
    notices = read(target)
    if notices.pop(hub, None) is None:
        return False
    _write(target, notices)
    return True
