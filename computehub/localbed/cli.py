"""``computehub demo``: run the platform locally (see :mod:`computehub.localbed.demo`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _demo(args: argparse.Namespace) -> int:
    from computehub.localbed.demo import run_demo

    return run_demo(args.state_dir, args.port)


def register(sub: Any) -> None:
    """Add ``demo`` to the top-level parser."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "demo", help="run the whole platform on this machine (two local Slurm hubs)"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path("/var/lib/computehub/demo"),
        help="where the demo keeps its state between runs (default: %(default)s)",
    )
    parser.add_argument("--port", type=int, default=8000, help="JupyterHub's port")
    parser.set_defaults(handler=_demo)
