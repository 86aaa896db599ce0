"""``computehub check-config FILE``: validate a site file offline; ``capacity-plan FILE``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from computehub.sitefile.capacity import deployment_lines
from computehub.sitefile.load import SiteFileError, load_site


def check_config(args: argparse.Namespace) -> int:
    """Print every problem of the site file, one line each; exit 1 if there are any."""
    try:
        site = load_site(args.file)
    except SiteFileError as err:
        for line in err.lines():
            print(line, file=sys.stderr)
        return 1
    gpus = sum(g.count for hub in site.hubs.values() for g in hub.gpus.values())
    print(
        f"site file {args.file}: OK ({len(site.hubs)} hubs: {', '.join(site.hubs)}; "
        f"{gpus} GPUs; {len(site.environments)} environments; login: {site.auth.method})"
    )
    return 0


def capacity_plan(args: argparse.Namespace) -> int:
    """Print what each hub's cluster must have for its reserved GPUs (docs/capacity.md)."""
    try:
        site = load_site(args.file)
    except SiteFileError as err:
        for line in err.lines():
            print(line, file=sys.stderr)
        return 1
    lines = [line for name, hub in site.hubs.items() for line in deployment_lines(name, hub)]
    print("\n".join(lines) if lines else f"site file {args.file}: no hub reserves GPUs")
    return 0


def register(sub: Any) -> None:
    """Add ``check-config`` and ``capacity-plan`` to the top-level parser."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "check-config", help="validate a site file offline"
    )
    parser.add_argument("file", type=Path, help="the site file (YAML)")
    parser.set_defaults(handler=check_config)
    plan = sub.add_parser(
        "capacity-plan",
        help="print the Slurm settings each hub's reserved GPUs need (docs/capacity.md)",
    )
    plan.add_argument("file", type=Path, help="the site file (YAML)")
    plan.set_defaults(handler=capacity_plan)
