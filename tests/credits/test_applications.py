"""Applications for credits in the ledger: priced, reviewed, approved into exactly one grant."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from computehub.credits import creditwrites
from computehub.credits import models as m
from computehub.credits.applications import grant_key, proposal
from computehub.credits.errors import (
    ConflictError,
    UnknownApplicationError,
    UnpricedResourceError,
)
from computehub.credits.ledger import Ledger
from tests.support.ledgers import FakeClock, proposal_for

#: The tests' A100 rate (``south``), credits per GPU-hour.
A100 = Decimal(6)


def _grants(ledger: Ledger) -> int:
    with ledger.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(m.Grant)).scalar_one())


def test_an_application_is_priced_at_the_rate_in_force(ledger: Ledger) -> None:
    made = ledger.submit_application("fatima", proposal_for("riverwatch", new_account=True))
    assert (made.status, made.rate, made.estimate) == ("submitted", A100, 200 * A100)
    assert made.proposal.resource == "gpu:a100"
    assert [(e.actor, e.action) for e in made.events] == [("fatima", "submit")]
    assert "200 GPU-hours of gpu:a100 (1200.00 credits" in made.events[0].detail
    with pytest.raises(UnpricedResourceError, match="no hub prices gpu:b200"):
        ledger.submit_application("fatima", proposal_for("x", new_account=True, gpu="b200"))


def test_the_highest_rate_of_any_hub_prices_it(ledger: Ledger) -> None:
    ledger.sync_rates(
        {("north", "gpu:a100"): Decimal("7.5"), ("south", "gpu:a100"): A100}, actor="site"
    )
    made = ledger.submit_application("fatima", proposal_for("rw", new_account=True, hours="2"))
    assert (made.rate, made.estimate) == (Decimal("7.5"), Decimal(15))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"organisation_kind": "bank"}, "kind of organisation"),
        ({"title": "  "}, "project title"),
        ({"title": "two\nlines"}, "project title"),
        ({"summary": ""}, "summary is required"),
        ({"hours": "-5"}, "hours"),
        ({"hours": "abc"}, "hours"),
        ({"gpu": "a 100"}, "bad resource"),
        ({"ends_on": date(2026, 1, 1)}, "period ends"),
        ({"category": "Flood Prediction"}, "bad category"),
    ],
    ids=lambda v: str(v)[:30],
)
def test_a_bad_field_is_refused_with_what_is_wrong(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        proposal_for("rw", new_account=True, **fields)


def test_a_bad_account_name_is_refused() -> None:
    with pytest.raises(ValueError, match="bad account name"):
        proposal_for("bad name", new_account=True)


def test_the_account_must_be_new_or_the_applicants_own(ledger: Ledger) -> None:
    ledger.create_account("lab", "project", actor="op", owner="ana")
    ledger.add_member("lab", "fatima", "member", actor="op")
    with pytest.raises(ConflictError, match="exists already"):
        ledger.submit_application("fatima", proposal_for("lab", new_account=True))
    with pytest.raises(ConflictError, match="not an account you own"):
        ledger.submit_application("fatima", proposal_for("lab"))
    with pytest.raises(ConflictError, match="not an account you own"):
        ledger.submit_application("fatima", proposal_for("nowhere"))
    top_up = ledger.submit_application("ana", proposal_for("lab"))
    assert not top_up.proposal.new_account


def test_the_queue_puts_priority_categories_first_then_the_oldest(
    ledger: Ledger, clock: FakeClock
) -> None:
    ids = []
    for n, priority in enumerate([False, True, False, True]):
        made = ledger.submit_application(
            "fatima", proposal_for(f"p{n}", new_account=True, priority=priority)
        )
        ids.append(made.id)
        clock.advance(minutes=1)
    assert [a.id for a in ledger.applications()] == [ids[1], ids[3], ids[0], ids[2]]
    assert [a.id for a in ledger.applications(applicant="someone")] == []


def test_approval_creates_the_project_account_and_grants_exactly_once(
    ledger: Ledger, clock: FakeClock
) -> None:
    made = ledger.submit_application("fatima", proposal_for("riverwatch", new_account=True))
    ledger.recommend_application(made.id, "approve", hours="150", actor="rev", message="Fits.")
    first = ledger.approve_application(
        made.id, actor="op", hours="150", expires_on=date(2026, 12, 31), message="Welcome."
    )
    again = ledger.approve_application(
        made.id, actor="op", hours="150", expires_on=date(2026, 12, 31)
    )
    assert first == again
    assert (first.status, first.approved_hours, first.approved_amount) == (
        "approved",
        Decimal(150),
        150 * A100,
    )
    assert first.approved_expires_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert ledger.balance("riverwatch").balance == 150 * A100
    assert ledger.members("riverwatch") == {"fatima": "owner"}
    assert [(e.actor, e.action) for e in first.events] == [
        ("fatima", "submit"),
        ("rev", "recommend"),
        ("op", "approve"),
    ]
    assert first.events[1].detail == "recommends: approve 150 GPU-hours"
    assert first.unseen
    assert _grants(ledger) == 1
    [entry] = ledger.history("riverwatch")
    assert entry.reason == f"application {made.id}: Flood prediction for the Indus basin"
    with ledger.engine.connect() as connection:
        key = connection.execute(
            select(m.JournalEntry.idempotency_key).where(m.JournalEntry.kind == "grant")
        ).scalar_one()
    assert key == grant_key(made.id) == f"application:{made.id}"
    with pytest.raises(ConflictError, match="approved already for 150 GPU-hours"):
        ledger.approve_application(made.id, actor="op", hours="200")
    with pytest.raises(ConflictError, match="is approved"):
        ledger.reject_application(made.id, "Too late.", actor="op")
    assert ledger.check().differences == []


def test_concurrent_approvals_grant_once(ledger: Ledger) -> None:
    made = ledger.submit_application("fatima", proposal_for("riverwatch", new_account=True))
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(
                lambda _n: ledger.approve_application(made.id, actor="op", hours="150"),
                range(16),
            )
        )
    assert {r.grant_id for r in results} == {results[0].grant_id}
    assert _grants(ledger) == 1
    assert ledger.balance("riverwatch").balance == 150 * A100
    assert [e.action for e in ledger.application(made.id).events].count("approve") == 1
    assert ledger.check().differences == []


def test_an_approval_cut_short_is_finished_by_the_next(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = ledger.submit_application("fatima", proposal_for("riverwatch", new_account=True))

    def crash(*_args: object, **_kwargs: object) -> None:
        raise ConnectionError("the database went away")

    with monkeypatch.context() as patched:
        patched.setattr(creditwrites, "grant", crash)
        with pytest.raises(ConnectionError):
            ledger.approve_application(made.id, actor="op")
    assert ledger.application(made.id).status == "approving"
    assert _grants(ledger) == 0
    with pytest.raises(ConflictError, match="approved already for 200 GPU-hours"):
        ledger.approve_application(made.id, actor="op", hours="100")
    done = ledger.approve_application(made.id, actor="op")
    assert (done.status, ledger.balance("riverwatch").balance) == ("approved", 200 * A100)
    assert _grants(ledger) == 1


def test_a_rejected_application_credits_nothing(ledger: Ledger) -> None:
    made = ledger.submit_application("fatima", proposal_for("riverwatch", new_account=True))
    rejected = ledger.reject_application(made.id, "Not a local challenge.", actor="op")
    again = ledger.reject_application(made.id, "Not a local challenge.", actor="op")
    assert rejected == again
    assert (rejected.status, rejected.reason, rejected.decided_by) == (
        "rejected",
        "Not a local challenge.",
        "op",
    )
    with pytest.raises(ConflictError, match="is rejected"):
        ledger.approve_application(made.id, actor="op")
    assert _grants(ledger) == 0
    assert [b.account for b in ledger.accounts_for_user("fatima")] == []
    assert ledger.check().differences == []
    with pytest.raises(ValueError, match="reason is required"):
        ledger.reject_application(made.id, " ", actor="op")


def test_changes_requested_then_resubmitted_then_approved(ledger: Ledger) -> None:
    made = ledger.submit_application("fatima", proposal_for("riverwatch", new_account=True))
    asked = ledger.request_application_changes(made.id, "Say which gauges.", actor="op")
    assert (asked.status, asked.unseen) == ("changes_requested", True)
    ledger.mark_applications_seen("fatima", [made.id])
    assert not ledger.application(made.id).unseen
    with pytest.raises(ConflictError, match="not bob's"):
        ledger.resubmit_application(made.id, "bob", proposal_for("x", new_account=True))
    changed = ledger.resubmit_application(
        made.id,
        "fatima",
        proposal_for("riverwatch", new_account=True, hours="120"),
        message="Done.",
    )
    assert (changed.status, changed.proposal.hours, changed.estimate) == (
        "submitted",
        Decimal(120),
        120 * A100,
    )
    assert "was: 200 GPU-hours" in changed.events[-1].detail
    ledger.comment_application(made.id, "Looks good now.", actor="rev")
    done = ledger.approve_application(made.id, actor="op")
    assert done.approved_amount == 120 * A100
    assert [e.action for e in done.events] == [
        "submit",
        "request-changes",
        "resubmit",
        "comment",
        "approve",
    ]


def test_a_top_up_credits_the_existing_account(ledger: Ledger) -> None:
    ledger.create_account("lab", "project", actor="op", owner="ana")
    ledger.grant("lab", "10", actor="op")
    made = ledger.submit_application("ana", proposal_for("lab", hours="5"))
    ledger.approve_application(made.id, actor="op")
    assert ledger.balance("lab").balance == 10 + 5 * A100


def test_a_new_account_taken_meanwhile_is_refused_at_approval(ledger: Ledger) -> None:
    made = ledger.submit_application("fatima", proposal_for("riverwatch", new_account=True))
    ledger.create_account("riverwatch", "project", actor="op", owner="someone")
    with pytest.raises(ConflictError, match="taken by someone else"):
        ledger.approve_application(made.id, actor="op")
    assert ledger.application(made.id).status == "submitted"
    assert _grants(ledger) == 0


def test_unknown_application(ledger: Ledger) -> None:
    with pytest.raises(UnknownApplicationError, match="no application 99"):
        ledger.application(99)
    with pytest.raises(UnknownApplicationError):
        ledger.approve_application(99, actor="op")


def test_the_expiry_must_be_in_the_future(ledger: Ledger) -> None:
    made = ledger.submit_application("fatima", proposal_for("riverwatch", new_account=True))
    with pytest.raises(ValueError, match="not in the future"):
        ledger.approve_application(made.id, actor="op", expires_on=date(2025, 1, 1))
    assert ledger.application(made.id).status == "submitted"


def test_proposal_accepts_a_resource_name() -> None:
    made = proposal(
        organisation="Uni",
        organisation_kind="research-group",
        title="T",
        summary="S",
        category="health",
        priority=False,
        gpu="gpu:h100",
        hours="1.5",
        starts_on=date(2026, 1, 1),
        ends_on=date(2026, 1, 1),
        account="lab",
        new_account=False,
    )
    assert (made.resource, made.hours) == ("gpu:h100", Decimal("1.5"))
