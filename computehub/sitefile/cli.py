"""``computehub check-config FILE``: validate a site file offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

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


def register(sub: Any) -> None:
    """Add ``check-config`` to the top-level parser."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "check-config", help="validate a site file offline"
    )
    parser.add_argument("file", type=Path, help="the site file (YAML)")
    parser.set_defaults(handler=check_config)
