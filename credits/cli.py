"""``computehub credits ...``: the operators' ledger commands.

Every command works on ``--db URL`` (or ``$COMPUTEHUB_DB_URL``, default the embedded
SQLite file) and prints JSON with ``--json``. A refused operation prints one line on
stderr, exits 1 and changes nothing.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import getpass
import io
import json
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from computehub.credits import historyview
from computehub.credits.applications import QUEUED
from computehub.credits.db import current_revision, head_revision
from computehub.credits.energy import GROUPS as ENERGY_GROUPS
from computehub.credits.errors import LedgerError
from computehub.credits.keys import ClientKey
from computehub.credits.ledger import Ledger
from computehub.credits.models import AccountKind, ApplicationStatus, Role
from computehub.credits.names import DEFAULT_SOURCE
from computehub.credits.roster import (
    RosterError,
    parse_roster,
    plan_source_roster,
    source_roster_lines,
)
from computehub.sitefile import SiteFileError, load_site

_PROG = "computehub credits"


def register(sub: Any) -> None:
    """Add the ``credits`` command group to the top-level parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        metavar="URL",
        help="ledger database (default: $COMPUTEHUB_DB_URL or embedded SQLite)",
    )
    common.add_argument("--json", action="store_true", help="print JSON")
    common.add_argument(
        "--actor", default=None, help="who is acting, for the history (default: your login name)"
    )

    parser: argparse.ArgumentParser = sub.add_parser("credits", help="operate the credit ledger")
    commands = parser.add_subparsers(dest="credits_command", metavar="COMMAND", required=True)

    accounts = commands.add_parser("accounts", help="create and list accounts, manage members")
    account_commands = accounts.add_subparsers(
        dest="accounts_command", metavar="ACTION", required=True
    )
    create = account_commands.add_parser("create", parents=[common], help="create an account")
    create.add_argument("name")
    create.add_argument("--kind", required=True, choices=[k.value for k in _user_kinds()])
    create.add_argument("--owner", help="user who owns it (personal accounts: default the name)")
    create.set_defaults(handler=_wrap(_accounts_create))
    member = account_commands.add_parser(
        "add-member", parents=[common], help="give a user a role in an account"
    )
    member.add_argument("account")
    member.add_argument("user")
    member.add_argument("--role", required=True, choices=[role.value for role in Role])
    member.set_defaults(handler=_wrap(_accounts_add_member))
    listing = account_commands.add_parser("list", parents=[common], help="list accounts of a user")
    listing.add_argument("user")
    listing.set_defaults(handler=_wrap(_accounts_list))

    grant = commands.add_parser("grant", parents=[common], help="issue credits into an account")
    grant.add_argument("account")
    grant.add_argument("amount")
    grant.add_argument(
        "--expires", type=_day, metavar="YYYY-MM-DD", help="last day the credit can be spent (UTC)"
    )
    grant.add_argument("--note", default="")
    grant.add_argument(
        "--source", default=DEFAULT_SOURCE, help=f"funding source (default: {DEFAULT_SOURCE})"
    )
    grant.add_argument("--idempotency-key", help="a repeat with the same key does nothing")
    grant.set_defaults(handler=_wrap(_grant))

    transfer = commands.add_parser("transfer", parents=[common], help="move credits")
    transfer.add_argument("from_account", metavar="FROM")
    transfer.add_argument("to_account", metavar="TO")
    transfer.add_argument("amount")
    transfer.add_argument("--reason", default="")
    transfer.add_argument("--idempotency-key", help="a repeat with the same key does nothing")
    transfer.set_defaults(handler=_wrap(_transfer))

    balance = commands.add_parser("balance", parents=[common], help="balance, held, available")
    balance.add_argument("account")
    balance.set_defaults(handler=_wrap(_balance))

    history = commands.add_parser("history", parents=[common], help="an account's journal entries")
    history.add_argument("account")
    history.add_argument("--limit", type=_whole, default=50)
    history.set_defaults(handler=_wrap(_history))

    rates = commands.add_parser("rates", parents=[common], help="current rates and their history")
    rates.add_argument(
        "--site", type=Path, metavar="FILE", help="first record the site file's rates"
    )
    rates.set_defaults(handler=_wrap(_rates))

    report = commands.add_parser("report", parents=[common], help="charges over a period (CSV)")
    report.add_argument("--since", type=_day, metavar="YYYY-MM-DD", help="from this day (UTC)")
    report.add_argument("--until", type=_day, metavar="YYYY-MM-DD", help="before this day (UTC)")
    report.add_argument("--by", choices=["account", "hub", "resource"], default="account")
    report.set_defaults(handler=_wrap(_report))

    energy = commands.add_parser(
        "energy", parents=[common], help="GPU energy and credits per kWh over a period (CSV)"
    )
    energy.add_argument(
        "--from", dest="since", type=_day, metavar="YYYY-MM-DD", help="from this day (UTC)"
    )
    energy.add_argument(
        "--to", dest="until", type=_day, metavar="YYYY-MM-DD", help="before this day (UTC)"
    )
    energy.add_argument("--by", choices=list(ENERGY_GROUPS), default="hub")
    energy.set_defaults(handler=_wrap(_energy))

    check = commands.add_parser("check", parents=[common], help="recompute and compare")
    # An audit changes nothing, not even the schema: a ledger at another revision is refused.
    check.set_defaults(handler=_wrap(_check, migrate=False))

    expire = commands.add_parser("expire", parents=[common], help="give back expired credit")
    expire.set_defaults(handler=_wrap(_expire))

    _register_courses(commands, common)
    _register_applications(commands, common)


def _register_courses(commands: Any, common: argparse.ArgumentParser) -> None:
    """``computehub credits course create|update|show|list|archive|roster|share|allowance``."""
    course = commands.add_parser("course", help="create, show, archive courses; their rosters")
    actions = course.add_subparsers(dest="course_command", metavar="ACTION", required=True)
    create = actions.add_parser("create", parents=[common], help="make a course")
    create.add_argument("course", metavar="ID", help="its id: its course account's name")
    create.add_argument("--title", required=True)
    create.add_argument("--start", type=_day, required=True, metavar="YYYY-MM-DD")
    create.add_argument("--end", type=_day, required=True, metavar="YYYY-MM-DD")
    create.add_argument("--owner", help="a user who owns (runs) it")
    create.set_defaults(handler=_wrap(_course_create))
    update = actions.add_parser(
        "update", parents=[common], help="change title, term or materials repository"
    )
    update.add_argument("course", metavar="ID")
    update.add_argument("--title")
    update.add_argument("--start", type=_day, metavar="YYYY-MM-DD")
    update.add_argument("--end", type=_day, metavar="YYYY-MM-DD")
    update.add_argument(
        "--repository",
        metavar="URL",
        help="the git repository students pull with nbgitpuller links ('' removes it)",
    )
    update.add_argument("--branch", help="its branch (default: the repository's default)")
    update.set_defaults(handler=_wrap(_course_update))
    show = actions.add_parser("show", parents=[common], help="one course with its roster")
    show.add_argument("course", metavar="ID")
    show.add_argument("--site", type=Path, metavar="FILE", help="show the resources it keeps")
    show.set_defaults(handler=_wrap(_course_show))
    listing = actions.add_parser("list", parents=[common], help="every course (or a user's)")
    listing.add_argument("--user", help="only this person's courses")
    listing.add_argument("--current", action="store_true", help="leave archived courses out")
    listing.set_defaults(handler=_wrap(_course_list))
    archive = actions.add_parser(
        "archive", parents=[common], help="archive a course (or every one whose term ended)"
    )
    which = archive.add_mutually_exclusive_group(required=True)
    which.add_argument("course", metavar="ID", nargs="?")
    which.add_argument(
        "--ended", action="store_true", help="every course whose term ended (daily cron job)"
    )
    archive.set_defaults(handler=_wrap(_course_archive))
    roster = actions.add_parser(
        "roster", parents=[common], help="load a roster file (username,role): a dry run first"
    )
    roster.add_argument("course", metavar="ID")
    roster.add_argument("file", type=Path, metavar="FILE.csv", help="'-' reads stdin")
    roster.add_argument("--apply", action="store_true", help="apply it (default: a dry run)")
    roster.set_defaults(handler=_wrap(_course_roster))
    sync = actions.add_parser(
        "sync",
        parents=[common],
        help="make the roster what the course's LDAP groups say (auth.courses): a dry run first",
    )
    sync.add_argument("course", metavar="ID")
    sync.add_argument("--site", type=Path, metavar="FILE", required=True, help="the site file")
    sync.add_argument("--apply", action="store_true", help="apply it (default: a dry run)")
    sync.set_defaults(handler=_wrap(_course_sync))
    share = actions.add_parser(
        "share",
        parents=[common],
        help="how the pool is shared among its students (the whole policy; credits)",
    )
    share.add_argument("course", metavar="ID")
    term = share.add_mutually_exclusive_group()
    term.add_argument(
        "--equal", action="store_true", help="the pool shared equally among its students"
    )
    term.add_argument(
        "--allowance", metavar="CREDITS", help="a fixed allowance per student for the term"
    )
    share.add_argument(
        "--weekly-cap", metavar="CREDITS", help="the most a student spends a week (Monday, UTC)"
    )
    share.set_defaults(handler=_wrap(_course_share))
    allowance = actions.add_parser(
        "allowance", parents=[common], help="one student's own allowance for the term"
    )
    allowance.add_argument("course", metavar="ID")
    allowance.add_argument("user", metavar="USER")
    allowance.add_argument(
        "credits", metavar="CREDITS", help="their allowance; 'course' for the course's share"
    )
    allowance.set_defaults(handler=_wrap(_course_allowance))


def _register_applications(commands: Any, common: argparse.ArgumentParser) -> None:
    """``computehub credits applications list|show|approve|reject``."""
    applications = commands.add_parser(
        "applications", help="applications for credits: the queue, decisions"
    )
    actions = applications.add_subparsers(
        dest="applications_command", metavar="ACTION", required=True
    )
    listing = actions.add_parser(
        "list", parents=[common], help="applications, priority categories first, then oldest"
    )
    listing.add_argument(
        "--status",
        action="append",
        choices=[str(s) for s in ApplicationStatus],
        help="only these statuses (repeat it); default every one",
    )
    listing.add_argument("--open", action="store_true", help="only those awaiting a decision")
    listing.add_argument("--applicant", metavar="USER", help="only this person's")
    listing.set_defaults(handler=_wrap(_applications_list))
    show = actions.add_parser("show", parents=[common], help="one application with its history")
    show.add_argument("application", type=_whole, metavar="ID")
    show.set_defaults(handler=_wrap(_applications_show))
    approve = actions.add_parser(
        "approve", parents=[common], help="approve: grant its GPU-hours at today's rate, once"
    )
    approve.add_argument("application", type=_whole, metavar="ID")
    approve.add_argument("--hours", help="GPU-hours approved (default: what was asked for)")
    approve.add_argument(
        "--expires",
        type=_day,
        metavar="YYYY-MM-DD",
        help="last day the credit can be spent (default: the period's end)",
    )
    approve.add_argument("--note", default="", help="a note for the applicant")
    approve.add_argument("--source", default=DEFAULT_SOURCE, help="funding source")
    approve.set_defaults(handler=_wrap(_applications_approve))
    reject = actions.add_parser("reject", parents=[common], help="reject, with the reason")
    reject.add_argument("application", type=_whole, metavar="ID")
    reject.add_argument("--reason", required=True, help="why, for the applicant")
    reject.set_defaults(handler=_wrap(_applications_reject))


def _applications_list(ledger: Ledger, args: argparse.Namespace) -> Any:
    statuses = args.status
    if args.open:
        statuses = list(QUEUED)
    return ledger.applications(applicant=args.applicant, statuses=statuses)


def _applications_show(ledger: Ledger, args: argparse.Namespace) -> Any:
    return ledger.application(args.application)


def _applications_approve(ledger: Ledger, args: argparse.Namespace) -> Any:
    return ledger.approve_application(
        args.application,
        actor=args.actor,
        hours=args.hours,
        expires_on=args.expires,
        message=args.note,
        source=args.source,
    )


def _applications_reject(ledger: Ledger, args: argparse.Namespace) -> Any:
    return ledger.reject_application(args.application, args.reason, actor=args.actor)


def _user_kinds() -> list[AccountKind]:
    return [AccountKind.PERSONAL, AccountKind.PROJECT, AccountKind.COURSE]


def _whole(text: str) -> int:
    # ASCII digits only: int() also reads "١٢" as 12.
    if not text.isascii() or not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number like 50")
    return int(text)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-12-31") from None


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


Command = Callable[[Ledger, argparse.Namespace], Any]


def _wrap(command: Command, *, migrate: bool = True) -> Callable[[argparse.Namespace], int]:
    """Open the ledger, run ``command``, print its result; refusals become one stderr line.

    Args:
        migrate: bring the schema to this code's revision first (else refuse another one).
    """

    def handler(args: argparse.Namespace) -> int:
        args.actor = args.actor or _login()
        try:
            with Ledger(args.db, migrate=migrate) as ledger:
                if not migrate:
                    _require_head(ledger)
                result = command(ledger, args)
        except (LedgerError, ValueError) as error:
            print(f"{_PROG}: error: {error}", file=sys.stderr)
            return 1
        except SiteFileError as error:
            print(f"{_PROG}: error: {error.one_line()}", file=sys.stderr)
            return 1
        except SQLAlchemyError as error:
            print(f"{_PROG}: database error: {str(error).splitlines()[0]}", file=sys.stderr)
            return 1
        if isinstance(result, _Failed):
            print(f"{_PROG}: {result.message}", file=sys.stderr)
            _print(result.payload, args)
            return 1
        _print(result, args)
        return 0

    return handler


def _require_head(ledger: Ledger) -> None:
    found, head = current_revision(ledger.engine), head_revision()
    if found != head:
        raise ValueError(
            f"the database is at schema revision {found or 'none (not a ledger)'}, "
            f"this code's is {head}: upgrade it first (any other credits command does)"
        )


@dataclasses.dataclass
class _Failed:
    """A command that ran but found a problem (``check``)."""

    message: str
    payload: Any


def _login() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _accounts_create(ledger: Ledger, args: argparse.Namespace) -> Any:
    owner = args.owner or (args.name if args.kind == AccountKind.PERSONAL else None)
    return ledger.create_account(args.name, args.kind, actor=args.actor, owner=owner)


def _accounts_add_member(ledger: Ledger, args: argparse.Namespace) -> Any:
    ledger.add_member(args.account, args.user, args.role, actor=args.actor)
    return {"account": args.account, "members": ledger.members(args.account)}


def _accounts_list(ledger: Ledger, args: argparse.Namespace) -> Any:
    return ledger.accounts_for_user(args.user)


def _grant(ledger: Ledger, args: argparse.Namespace) -> Any:
    expires = None if args.expires is None else _midnight(args.expires + timedelta(days=1))
    return ledger.grant(
        args.account,
        args.amount,
        actor=args.actor,
        source=args.source,
        expires_at=expires,
        note=args.note,
        idempotency_key=_key(args),
    )


def _transfer(ledger: Ledger, args: argparse.Namespace) -> Any:
    return ledger.transfer(
        args.from_account,
        args.to_account,
        args.amount,
        actor=args.actor,
        reason=args.reason,
        idempotency_key=_key(args),
    )


def _key(args: argparse.Namespace) -> ClientKey | None:
    """An operator's key lives in the operator's namespace, apart from the platform's."""
    return None if args.idempotency_key is None else ClientKey(args.actor, args.idempotency_key)


def _balance(ledger: Ledger, args: argparse.Namespace) -> Any:
    return ledger.balance(args.account)


def _history(ledger: Ledger, args: argparse.Namespace) -> Any:
    if args.limit < 1:
        raise ValueError("--limit must be at least 1")
    entries = ledger.history(args.account, limit=args.limit)
    if args.json:
        return [historyview.as_json(entry) for entry in entries]
    return _Text(historyview.as_text(args.account, entries))


def _rates(ledger: Ledger, args: argparse.Namespace) -> Any:
    recorded = []
    if args.site is not None:
        site = load_site(args.site)
        recorded = ledger.sync_rates(
            {
                (hub, resource): rate
                for hub, spec in site.hubs.items()
                for resource, rate in spec.rates.items()
            },
            actor=args.actor,
        )
    current = [
        {"hub": hub, "resource": resource, "rate": rate}
        for (hub, resource), rate in sorted(ledger.rates().items())
    ]
    return {"current": current, "recorded": recorded, "history": ledger.rate_history()}


def _report(ledger: Ledger, args: argparse.Namespace) -> Any:
    rows = ledger.report(
        since=None if args.since is None else _midnight(args.since),
        until=None if args.until is None else _midnight(args.until),
        by=args.by,
    )
    if args.json:
        return rows
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([args.by, "credits", "resource_hours", "sessions"])
    for row in rows:
        writer.writerow([row.key, row.credits, row.resource_hours, row.sessions])
    return _Text(out.getvalue())


def _energy(ledger: Ledger, args: argparse.Namespace) -> Any:
    since = _midnight(args.since) if args.since is not None else datetime(1970, 1, 1, tzinfo=UTC)
    until = _midnight(args.until) if args.until is not None else datetime.now(UTC)
    rows = ledger.energy_report(since, until, args.by)
    if args.json:
        return rows
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            args.by,
            "sessions",
            "measured",
            "unknown",
            "pending",
            "wh",
            "credits",
            "credits_per_kwh",
            "simulated",
        ]
    )
    for row in rows:
        per_kwh = "" if row.credits_per_kwh is None else row.credits_per_kwh
        counts = [row.sessions, row.measured, row.unknown, row.pending]
        writer.writerow([row.key, *counts, row.wh, row.credits, per_kwh, row.simulated])
    return _Text(out.getvalue())


def _check(ledger: Ledger, args: argparse.Namespace) -> Any:
    report = ledger.check()
    if report.ok:
        return report
    return _Failed(f"check found {len(report.differences)} differences", report)


def _expire(ledger: Ledger, args: argparse.Namespace) -> Any:
    return {"accounts_expired": ledger.expire(actor=args.actor)}


def _course_view(course: Any, site: Path | None = None) -> dict[str, Any]:
    """A course as the CLI prints it: the record, and the site file's resources for it."""
    view: dict[str, Any] = _plain(course)
    if site is not None:
        from computehub.credits.service.courses import site_course_resources

        view["resources"] = site_course_resources(load_site(site))(course.id)
    return view


def _course_create(ledger: Ledger, args: argparse.Namespace) -> Any:
    return _course_view(
        ledger.create_course(
            args.course, args.title, args.start, args.end, actor=args.actor, owner=args.owner
        )
    )


def _course_update(ledger: Ledger, args: argparse.Namespace) -> Any:
    if args.branch is not None and args.repository is None:
        raise ValueError("--branch goes with --repository")
    changed = None
    if args.title is not None or args.start is not None or args.end is not None:
        changed = ledger.update_course(
            args.course,
            actor=args.actor,
            title=args.title,
            starts_on=args.start,
            ends_on=args.end,
        )
    if args.repository is not None:
        changed = ledger.set_course_repository(
            args.course, args.repository or None, actor=args.actor, branch=args.branch
        )
    return _course_view(changed or ledger.update_course(args.course, actor=args.actor))


def _course_show(ledger: Ledger, args: argparse.Namespace) -> Any:
    return _course_view(ledger.course(args.course), args.site)


def _course_list(ledger: Ledger, args: argparse.Namespace) -> Any:
    rows = ledger.courses(user=args.user, archived=not args.current)
    return [_course_view(row) for row in rows]


def _course_archive(ledger: Ledger, args: argparse.Namespace) -> Any:
    if args.ended:
        return {"archived": ledger.archive_ended_courses(actor=args.actor)}
    return _course_view(ledger.archive_course(args.course, actor=args.actor))


def _course_share(ledger: Ledger, args: argparse.Namespace) -> Any:
    share = "equal" if args.equal else "fixed" if args.allowance is not None else None
    return ledger.set_course_sharing(
        args.course,
        actor=args.actor,
        share=share,
        allowance=args.allowance,
        weekly_cap=args.weekly_cap,
    )


def _course_allowance(ledger: Ledger, args: argparse.Namespace) -> Any:
    own = None if args.credits == "course" else args.credits
    return ledger.set_student_allowance(args.course, args.user, own, actor=args.actor)


def _course_roster(ledger: Ledger, args: argparse.Namespace) -> Any:
    try:
        text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"can't read the roster file {args.file}: {error}") from None
    try:
        lines = parse_roster(text)
        if args.apply:
            return ledger.apply_course_roster(args.course, lines, actor=args.actor)
        return ledger.plan_course_roster(args.course, lines)
    except RosterError as error:
        return _Failed(
            "the roster file was refused, nothing changed",
            {"errors": [dataclasses.asdict(e) for e in error.errors]},
        )


def _course_sync(ledger: Ledger, args: argparse.Namespace) -> Any:
    """The course's roster from its LDAP groups (OIDC groups can't be listed on demand)."""
    from computehub.auth.ldapgroups import DirectoryError, group_members
    from computehub.auth.rostersync import GROUP_ROLES
    from computehub.credits.names import USER_PATTERN

    site = load_site(args.site)
    spec = site.auth.courses.get(args.course)
    if spec is None:
        raise ValueError(f"the site file names no groups for course {args.course} (auth.courses)")
    if not spec.ldap_groups:
        raise ValueError(
            f"course {args.course}'s roster comes from the identity provider's group claim "
            "(oidc_groups), which can't be listed on demand: it follows each person at their "
            "login and refresh"
        )
    ledger.course(args.course)  # an unknown course is refused before the directory is asked
    try:
        members = group_members(site, list(spec.ldap_groups.values()))
    except DirectoryError as error:
        raise ValueError(str(error)) from None
    wanted: dict[str, str] = {}
    skipped: list[str] = []
    for role in reversed(GROUP_ROLES):  # the most powerful role wins
        dn = spec.ldap_groups.get(role)  # type: ignore[call-overload]
        for name in sorted(members.get(dn, set()) if dn else ()):
            if re.fullmatch(USER_PATTERN, name):
                wanted[name] = role
            elif name not in skipped:
                skipped.append(name)
    managed = list(spec.ldap_groups)
    current = ledger.course(args.course).members
    if args.apply:
        lines = source_roster_lines(current, wanted, managed)
        plan = ledger.apply_course_roster(args.course, lines, actor=args.actor)
    else:
        plan = plan_source_roster(args.course, current, wanted, managed)
    return {"source": "ldap", "skipped": skipped, **dataclasses.asdict(plan)}


@dataclasses.dataclass
class _Text:
    text: str


def _print(result: Any, args: argparse.Namespace) -> None:
    if isinstance(result, _Text):
        sys.stdout.write(result.text)
        return
    plain = _plain(result)
    if args.json:
        print(json.dumps(plain, indent=2, sort_keys=True))
    else:
        print(_human(plain))


def _plain(value: Any) -> Any:
    """Dataclasses, Decimals and times as JSON values (amounts as exact strings)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        plain = {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for name in ("ok", "sufficient"):
            if hasattr(value, name):
                plain[name] = getattr(value, name)
        return plain
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):  # a datetime is a date too
        return value.isoformat()
    return value


def _human(plain: Any, indent: str = "") -> str:
    if isinstance(plain, dict):
        lines = []
        for key, value in plain.items():
            if isinstance(value, dict | list) and value:
                lines.append(f"{indent}{key}:")
                lines.append(_human(value, indent + "  "))
            else:
                lines.append(f"{indent}{key}: {'' if value is None else value}")
        return "\n".join(lines)
    if isinstance(plain, list):
        if not plain:
            return f"{indent}(none)"
        return "\n".join(
            _human(item, indent) + ("\n" if isinstance(item, dict) else "") for item in plain
        ).rstrip("\n")
    return f"{indent}{plain}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``computehub credits ...`` with only this command group (``python -m``, tests)."""
    parser = argparse.ArgumentParser(prog="computehub")
    register(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(["credits", *(sys.argv[1:] if argv is None else argv)])
    status: int = args.handler(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
