"""``python -m computehub.credits.schemaupgrade``: bring the ledger's schema to this code's.

Deployment runs it before the hub restarts (ansible/roles/computehub_ledger,
docs/operations.md "Upgrade"): it prints one line saying whether it changed the
schema, which is how Ansible tells ``changed`` from ``ok``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError

from computehub.credits.db import create_ledger_engine, current_revision, upgrade
from computehub.paths import default_ledger_url

#: The first word of the line printed when the schema was changed.
UPGRADED = "upgraded"


def main(argv: Sequence[str] | None = None) -> int:
    """Upgrade the ledger at ``--db`` (default ``$COMPUTEHUB_DB_URL``); print what was done."""
    parser = argparse.ArgumentParser(
        prog="python -m computehub.credits.schemaupgrade",
        description="Bring the credit ledger's schema to this code's revision.",
    )
    parser.add_argument("--db", help="the ledger's URL (default: $COMPUTEHUB_DB_URL)")
    args = parser.parse_args(argv)
    engine = create_ledger_engine(args.db or default_ledger_url())
    try:
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
    except SQLAlchemyError as error:
        print(f"ledger schema: database error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    if before == after:
        print(f"ledger schema: at {after} (this code's), nothing to do")
    else:
        print(f"ledger schema: {UPGRADED} from {before or 'empty'} to {after}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
