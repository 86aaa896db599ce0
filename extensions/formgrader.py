"""Start one course's formgrader: JupyterHub runs this as the course's grader account.

``python -m computehub.extensions.formgrader`` (the hub's service command, see
``computehub/nbgraderhub.py``) checks the course's folders, then becomes
``jupyterhub-singleuser`` in the course directory ``~/COURSE`` with nbgrader's
formgrader enabled (sessions have it disabled: students never get one).

- ``~/COURSE`` (mode 0700) holds the gradebook, sources, submissions and feedback;
- ``EXCHANGE/COURSE`` must be the grader's: made here (0755) on the first start, and a
  folder someone else made first is refused (they could otherwise hand out their own
  "assignments" or read submissions).

The environment names the course: ``COMPUTEHUB_NBGRADER_COURSE`` and
``COMPUTEHUB_NBGRADER_EXCHANGE``; ``nbgrader_config.py`` in the environment reads them.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

#: nbgrader's parts a course's staff use; sessions have them disabled.
SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.course_list",
)
LAB_PLUGINS = (
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:create-assignment",
)


class FormgraderSetupError(RuntimeError):
    """The course's folders are not as the formgrader needs them; the message says why."""


def prepare(course: str, exchange_root: Path, home: Path, uid: int) -> Path:
    """Check the exchange and make the course's folders; return the course directory.

    Raises:
        FormgraderSetupError: the exchange root is missing or not writable by all, or
            the course's exchange folder belongs to someone else.
    """
    try:
        root = exchange_root.stat()
    except FileNotFoundError:
        raise FormgraderSetupError(
            f"the nbgrader exchange {exchange_root} does not exist: an operator makes it "
            "(mode 1777) where every session sees it"
        ) from None
    if not stat.S_ISDIR(root.st_mode) or root.st_mode & 0o777 != 0o777:
        raise FormgraderSetupError(
            f"the nbgrader exchange {exchange_root} must be a folder with mode 1777 "
            f"(it is {oct(root.st_mode & 0o7777)})"
        )
    folder = exchange_root / course
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o755)
    own = folder.lstat()
    if not stat.S_ISDIR(own.st_mode) or own.st_uid != uid:
        raise FormgraderSetupError(
            f"{folder} belongs to uid {own.st_uid}, not to this course's grader (uid {uid}): "
            "an operator must remove it before the course's assignments can be released"
        )
    course_dir = home / course
    course_dir.mkdir(mode=0o700, exist_ok=True)
    return course_dir


def write_config(config_dir: Path) -> None:
    """Jupyter config enabling the formgrader (over the environment's, which disables it)."""
    (config_dir / "labconfig").mkdir(parents=True, exist_ok=True)
    server = {"ServerApp": {"jpserver_extensions": dict.fromkeys(SERVER_EXTENSIONS, True)}}
    lab = {
        "disabledExtensions": dict.fromkeys(LAB_PLUGINS, False),
        "lockedExtensions": dict.fromkeys(LAB_PLUGINS, False),
    }
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(server, indent=2))
    (config_dir / "labconfig" / "page_config.json").write_text(json.dumps(lab, indent=2))


def main(env: Mapping[str, str] | None = None) -> int:
    """Prepare, then become ``jupyterhub-singleuser``; 1 with a sentence on stderr if not."""
    env = dict(os.environ if env is None else env)
    course = env.get("COMPUTEHUB_NBGRADER_COURSE", "")
    exchange = env.get("COMPUTEHUB_NBGRADER_EXCHANGE", "")
    if not course or not exchange:
        print(
            "formgrader: COMPUTEHUB_NBGRADER_COURSE and COMPUTEHUB_NBGRADER_EXCHANGE must "
            "be set (the hub sets them for each course's service)",
            file=sys.stderr,
        )
        return 1
    home = Path(env.get("HOME") or Path.home())
    try:
        course_dir = prepare(course, Path(exchange), home, os.getuid())
    except (FormgraderSetupError, OSError) as err:
        print(f"formgrader for {course}: {err}", file=sys.stderr)
        return 1
    config_dir = home / ".computehub" / "formgrader" / course
    write_config(config_dir)
    env["COMPUTEHUB_NBGRADER_COURSE_DIR"] = str(course_dir)
    env["JUPYTER_CONFIG_DIR"] = str(config_dir)
    # In a virtual environment Jupyter reads the environment's config before the
    # user's; the formgrader's own must come first to turn the formgrader back on.
    env["JUPYTER_PREFER_ENV_PATH"] = "0"
    env.setdefault("JUPYTERHUB_DEFAULT_URL", "/formgrader")
    # Its environment's commands first: nbgrader runs its `alembic`, and sudo's
    # secure_path (a hub that is not root) drops the PATH the hub gave.
    bin_dir = Path(sys.executable).parent
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "") or os.defpath])
    os.chdir(course_dir)
    singleuser = bin_dir / "jupyterhub-singleuser"
    os.execve(singleuser, [str(singleuser)], env)  # noqa: S606 (a fixed program, no shell)


if __name__ == "__main__":
    raise SystemExit(main())
