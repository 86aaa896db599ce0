"""``computehub hubs maintenance``: put a hub in maintenance, take it out, list them.

The notices live in ``$COMPUTEHUB_STATE_DIR/hub-maintenance.json``
(:mod:`computehub.maintenance`); run the command on the hub's host with the hub's
state directory. The hub is checked against the site file (``--site`` or
``$COMPUTEHUB_SITE``), so a misspelt name is refused instead of closing nothing.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from computehub import maintenance
from computehub.paths import SITE_FILE_ENV
from computehub.sitefile import SiteFileError, load_site


def _hubs(site_path: str) -> list[str]:
    return list(load_site(site_path).hubs)


def run_maintenance(args: argparse.Namespace) -> int:
    """List the hubs in maintenance, or put ``args.hub`` in or out of it."""
    path = maintenance.maintenance_file(Path(args.state_dir) if args.state_dir else None)
    try:
        if args.hub is None:
            if args.message is not None or args.off:
                print("name the hub: computehub hubs maintenance HUB ...", file=sys.stderr)
                return 1
            notices = maintenance.read(path)
            for notice in notices.values():
                print(
                    f"{notice.hub}: in maintenance since {notice.since:%Y-%m-%d %H:%M} UTC "
                    f"(set by {notice.by}): {notice.message}"
                )
            if not notices:
                print("no hub is in maintenance")
            return 0
        try:
            known = _hubs(args.site)
        except SiteFileError as err:
            print(err.one_line(), file=sys.stderr)
            return 1
        if args.hub not in known:
            print(
                f"no hub {args.hub!r} in the site file {args.site} (hubs: {', '.join(known)})",
                file=sys.stderr,
            )
            return 1
        if args.off:
            ended = maintenance.end(args.hub, path)
            print(f"{args.hub}: {'out of maintenance' if ended else 'was not in maintenance'}")
            return 0
        if args.message is None:
            print("give --message TEXT (what people read) or --off", file=sys.stderr)
            return 1
        notice = maintenance.start(args.hub, args.message, args.actor or getpass.getuser(), path)
        print(f"{notice.hub}: in maintenance, no new sessions start there: {notice.message}")
        return 0
    except (maintenance.MaintenanceError, OSError) as err:
        print(f"computehub hubs maintenance: {err}", file=sys.stderr)
        return 1


def register(sub: Any) -> None:
    """Add the ``hubs`` command group to the top-level parser."""
    parser: argparse.ArgumentParser = sub.add_parser("hubs", help="operate the AI hubs")
    commands = parser.add_subparsers(dest="hubs_command", metavar="COMMAND", required=True)
    maint = commands.add_parser(
        "maintenance",
        help="put a hub in maintenance (no new sessions, a message for people), "
        "take it out, or list the hubs in maintenance (no HUB)",
    )
    maint.add_argument("hub", nargs="?", help="the hub's name in the site file")
    action = maint.add_mutually_exclusive_group()
    action.add_argument("--message", help="what people read on the form and the status page")
    action.add_argument("--off", action="store_true", help="end the maintenance")
    maint.add_argument(
        "--site",
        default=os.environ.get(SITE_FILE_ENV, "/etc/computehub/site.yaml"),
        help="the site file (default: $COMPUTEHUB_SITE)",
    )
    maint.add_argument(
        "--state-dir",
        default=None,
        help="the hub's state directory (default: $COMPUTEHUB_STATE_DIR)",
    )
    maint.add_argument("--actor", default=None, help="who sets it (default: your login name)")
    maint.set_defaults(handler=run_maintenance)
