"""The ledger's invariants as CHECK constraints, and a charge at most its hold (triggers).

People's accounts: ``held >= 0`` and ``balance >= held`` (issuing and revenue accounts
may go negative, and hold nothing); lots: ``0 <= reserved <= remaining``; journal rows:
``amount >= 0``, two different accounts, pending exactly for holds, extensions and
releases; transfers: ``amount > 0`` between two accounts; holds: status in its set,
hours and amount not negative; kinds and roles in their sets. A charge at most its
hold crosses two tables: a trigger on each (``charges`` insert/update, ``holds``
amount update) refuses a row that breaks it, on SQLite and PostgreSQL alike.

A ledger whose rows already break an invariant is refused before anything changes,
with the rows named (``computehub credits check`` lists what is wrong with them).

SQLite cannot add a constraint to a table: each table is rebuilt (Alembic's batch mode),
which drops the triggers on a rebuilt table; so a later revision that rebuilds
``charges`` or ``holds`` must create
:data:`~computehub.credits.migrations.versions.0004_invariants_as_constraints.SQLITE_TRIGGERS`
again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SYSTEM = "kind IN ('issuing', 'revenue')"
_PENDING = "kind IN ('hold', 'extend', 'release')"
#: (table, constraint, condition); the same as the models declare (frozen here).
CHECKS: list[tuple[str, str, str]] = [
    (
        "accounts",
        "ck_accounts_kind",
        "kind IN ('personal', 'project', 'course', 'issuing', 'revenue')",
    ),
    ("accounts", "ck_accounts_person_figures", f"{_SYSTEM} OR (held >= 0 AND balance >= held)"),
    ("accounts", "ck_accounts_system_holds_nothing", f"NOT ({_SYSTEM}) OR held = 0"),
    ("members", "ck_members_role", "role IN ('owner', 'member', 'instructor', 'student')"),
    ("grants", "ck_grants_amount_positive", "amount > 0"),
    ("lots", "ck_lots_reserved_within_remaining", "reserved >= 0 AND reserved <= remaining"),
    ("rates", "ck_rates_rate_not_negative", "rate IS NULL OR rate >= 0"),
    ("holds", "ck_holds_status", "status IN ('open', 'settled', 'voided')"),
    ("holds", "ck_holds_figures_not_negative", "hours >= 0 AND amount >= 0"),
    ("hold_resources", "ck_hold_resources_count_and_rate", "count > 0 AND rate >= 0"),
    ("hold_allocations", "ck_hold_allocations_amount_not_negative", "amount >= 0"),
    (
        "transactions",
        "ck_transactions_kind",
        "kind IN ('grant', 'transfer', 'charge', 'expiry', 'hold', 'extend', 'release')",
    ),
    ("transactions", "ck_transactions_amount_not_negative", "amount >= 0"),
    ("transactions", "ck_transactions_two_accounts", "debit_account_id <> credit_account_id"),
    (
        "transactions",
        "ck_transactions_pending_kinds",
        f"(pending AND {_PENDING}) OR (NOT pending AND NOT ({_PENDING}))",
    ),
    ("transfers", "ck_transfers_amount_positive", "amount > 0"),
    ("transfers", "ck_transfers_two_accounts", "from_account_id <> to_account_id"),
    ("charges", "ck_charges_capped_cost", "amount >= 0 AND amount <= cost"),
    ("usage", "ck_usage_figures_not_negative", "hours >= 0 AND rate >= 0 AND cost >= 0"),
]
_CHARGE_OVER_HOLD = (
    "SELECT c.id FROM charges c JOIN holds h ON h.id = c.hold_id WHERE c.amount > h.amount"
)
SQLITE_TRIGGERS = [
    """CREATE TRIGGER ck_charges_within_hold_insert BEFORE INSERT ON charges
    WHEN NEW.amount > (SELECT amount FROM holds WHERE id = NEW.hold_id)
    BEGIN SELECT RAISE(ABORT, 'ck_charges_within_hold: a charge is at most its hold'); END""",
    """CREATE TRIGGER ck_charges_within_hold_update BEFORE UPDATE OF amount, hold_id ON charges
    WHEN NEW.amount > (SELECT amount FROM holds WHERE id = NEW.hold_id)
    BEGIN SELECT RAISE(ABORT, 'ck_charges_within_hold: a charge is at most its hold'); END""",
    """CREATE TRIGGER ck_holds_cover_their_charge BEFORE UPDATE OF amount ON holds
    WHEN NEW.amount < (SELECT amount FROM charges WHERE hold_id = NEW.id)
    BEGIN SELECT RAISE(ABORT, 'ck_charges_within_hold: a charge is at most its hold'); END""",
]
POSTGRESQL_TRIGGERS = [
    """CREATE FUNCTION ledger_charge_within_hold() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.amount > (SELECT amount FROM holds WHERE id = NEW.hold_id) THEN
            RAISE EXCEPTION 'ck_charges_within_hold: charge % is more than its hold', NEW.id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'ck_charges_within_hold';
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE FUNCTION ledger_hold_covers_its_charge() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.amount < (SELECT amount FROM charges WHERE hold_id = NEW.id) THEN
            RAISE EXCEPTION 'ck_charges_within_hold: hold % is less than its charge', NEW.id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'ck_charges_within_hold';
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER ck_charges_within_hold BEFORE INSERT OR UPDATE OF amount, hold_id
    ON charges FOR EACH ROW EXECUTE FUNCTION ledger_charge_within_hold()""",
    """CREATE TRIGGER ck_holds_cover_their_charge BEFORE UPDATE OF amount
    ON holds FOR EACH ROW EXECUTE FUNCTION ledger_hold_covers_its_charge()""",
]
#: Rows named in the refusal, at most, per broken invariant.
_SHOWN = 10


def upgrade() -> None:
    """Apply this revision."""
    _refuse_broken_rows()
    tables = list(dict.fromkeys(table for table, _name, _condition in CHECKS))
    for table in tables:
        # recreate="auto": PostgreSQL adds each constraint (and checks every row);
        # SQLite rebuilds the table with them and copies the rows in.
        with op.batch_alter_table(table) as batch_op:
            for on, name, condition in CHECKS:
                if on == table:
                    batch_op.create_check_constraint(op.f(name), sa.text(condition))
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_TRIGGERS if sqlite else POSTGRESQL_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    """Undo this revision."""
    if op.get_bind().dialect.name == "sqlite":
        for name in (
            "ck_charges_within_hold_insert",
            "ck_charges_within_hold_update",
            "ck_holds_cover_their_charge",
        ):
            op.execute(f"DROP TRIGGER {name}")
    else:
        op.execute("DROP TRIGGER ck_charges_within_hold ON charges")
        op.execute("DROP TRIGGER ck_holds_cover_their_charge ON holds")
        op.execute("DROP FUNCTION ledger_charge_within_hold()")
        op.execute("DROP FUNCTION ledger_hold_covers_its_charge()")
    for table in reversed(list(dict.fromkeys(table for table, _name, _condition in CHECKS))):
        with op.batch_alter_table(table) as batch_op:
            for on, name, _condition in CHECKS:
                if on == table:
                    batch_op.drop_constraint(op.f(name), type_="check")


def _refuse_broken_rows() -> None:
    """Name the rows that break an invariant, and change nothing, if any do."""
    bind = op.get_bind()
    broken: list[str] = []
    queries = [
        (name, f"SELECT * FROM {table} WHERE NOT ({condition})")  # noqa: S608 (literals)
        for table, name, condition in CHECKS
    ]
    queries.append(("ck_charges_within_hold", _CHARGE_OVER_HOLD))
    for name, query in queries:
        rows = bind.execute(sa.text(query)).all()
        if rows:
            shown = ", ".join(str(tuple(row)) for row in rows[:_SHOWN])
            more = f" and {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else ""
            broken.append(f"{name}: {shown}{more}")
    if broken:
        raise RuntimeError(
            "the ledger has rows that break its invariants, so revision 0004 (which makes "
            "them constraints) changed nothing; run `computehub credits check`, correct "
            "these rows, then start again. " + "; ".join(broken)
        )
