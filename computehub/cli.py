"""The ``computehub`` command: one entry point, a subcommand per job.

Subcommand groups live next to the code they drive and register themselves
through :func:`register` functions, so this module stays a dispatcher.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

#: A subcommand handler gets the parsed arguments and returns the exit status.
Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand group registered."""
    from computehub import hubscli
    from computehub.credits import cli as credits_cli
    from computehub.localbed import cli as localbed_cli
    from computehub.sitefile import cli as sitefile_cli

    parser = argparse.ArgumentParser(
        prog="computehub",
        description="Jupyter notebooks on regional GPU hubs, paid from compute credits.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sitefile_cli.register(sub)
    localbed_cli.register(sub)
    credits_cli.register(sub)
    hubscli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``computehub`` command line and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
