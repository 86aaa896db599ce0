"""The pages of applications for credits, rendered from ledger records (no hub)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from computehub.credits.applications import Application
from computehub.credits.ledger import Ledger
from computehub.credits.service import applying, applypage
from computehub.credits.service.errors import ApiError
from computehub.credits.service.page import Links
from computehub.sitefile.schema import Programme
from tests.support.ledgers import RATES, FakeClock, proposal_for

PROGRAMME = Programme.model_validate(
    {
        "categories": {
            "flood-prediction": {"title": "Flood prediction", "priority": True},
            "other": {"title": "Other <research>"},
        }
    }
)
LINKS = Links(hub_prefix="/hub/", api="/services/credits/api/v1", service="/services/credits/")
EVIL = '<script>alert("x")</script>'


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock=FakeClock()) as opened:
        opened.sync_rates(RATES, actor="site")
        yield opened


def _made(ledger: Ledger, account: str = "riverwatch", **fields: Any) -> Application:
    return ledger.submit_application("fatima", proposal_for(account, new_account=True, **fields))


def _ids(html: str) -> set[str]:
    return set(re.findall(r'id="([^"]+)"', html))


def test_gpu_rates_take_the_highest_of_any_hub() -> None:
    rates = {
        ("north", "gpu:a100"): Decimal(8),
        ("south", "gpu:a100"): Decimal(6),
        ("south", "cpu"): Decimal(1),
        ("north", "mig:a100:1g.10gb"): Decimal(1),
    }
    assert applypage.gpu_rates(rates) == {"a100": Decimal(8)}


def test_the_form_shows_the_cost_at_todays_rate() -> None:
    values = applypage.FormValues(gpu="a100", hours="200")
    view = applypage.FormView(values, {"a100": Decimal(7)}, priced=True)
    html = applypage.apply_page(
        "fatima", [], view, PROGRAMME, xsrf="tok", review=False, notice="", links=LINKS
    )
    assert "200.00 GPU-hours of A100 at 7.00 credits per GPU-hour cost" in html
    assert '<strong class="ch-cost">1,400.00</strong>' in html
    assert 'name="_xsrf" value="tok"' in html
    assert "Flood prediction (priority)" in html
    assert "Other &lt;research&gt;" in html
    assert "ch-queue-link" not in html
    assert "<script" not in html


@pytest.mark.parametrize("hours", ["abc", "NaN", "-1", "0", "1e999999", "87601", ""])
def test_hours_that_cannot_be_priced_show_no_cost(hours: str) -> None:
    values = applypage.FormValues(gpu="a100", hours=hours)
    view = applypage.FormView(values, {"a100": Decimal(7)}, priced=True)
    html = applypage.apply_page(
        "fatima", [], view, PROGRAMME, xsrf="t", review=False, notice="", links=LINKS
    )
    assert "ch-estimate" not in html


def test_everything_the_applicant_typed_is_escaped(ledger: Ledger) -> None:
    made = _made(ledger, title=EVIL, organisation=EVIL, summary=f"{EVIL}\nsecond line")
    values = applypage.FormValues.of(made)
    view = applypage.FormView(values, {"a100": Decimal(6)}, error=EVIL)
    pages = [
        applypage.apply_page(
            "fatima", [made], view, PROGRAMME, xsrf='"x', review=True, notice=EVIL, links=LINKS
        ),
        applypage.application_page(
            "opal",
            applypage.ApplicationView(made, review=True, decide=True, edit=view),
            PROGRAMME,
            xsrf="tok",
            links=LINKS,
        ),
        applypage.queue_page("rhea", [made], PROGRAMME, now=made.created_at, links=LINKS),
        applypage.decisions_notice([made], LINKS),
    ]
    for html in pages:
        assert "<script" not in html
        assert "&lt;script&gt;" in html
    assert "&lt;/script&gt;<br>second line" in pages[1]


def test_forms_are_shown_only_to_whom_may_use_them(ledger: Ledger) -> None:
    made = _made(ledger)
    edit = applypage.FormView(applypage.FormValues.of(made), {"a100": Decimal(6)})

    def ids(*, review: bool, decide: bool, own: bool) -> set[str]:
        view = applypage.ApplicationView(
            made, review=review, decide=decide, edit=edit if own else None
        )
        return _ids(applypage.application_page("x", view, PROGRAMME, xsrf="t", links=LINKS))

    decisions = {"ch-approve-form", "ch-reject-form", "ch-changes-form"}
    reviews = {"ch-comment-form", "ch-recommend-form"}
    applicant = ids(review=False, decide=False, own=True)
    assert "ch-apply-form" in applicant
    assert not applicant & (decisions | reviews)
    reviewer = ids(review=True, decide=False, own=False)
    assert reviews <= reviewer
    assert not reviewer & (decisions | {"ch-apply-form"})
    operator = ids(review=True, decide=True, own=False)
    assert decisions | reviews <= operator


def test_a_decided_application_offers_no_forms_and_says_the_decision(
    ledger: Ledger,
) -> None:
    made = _made(ledger)
    done = ledger.approve_application(
        made.id, actor="opal", hours="150", expires_on=date(2026, 12, 31)
    )
    view = applypage.ApplicationView(done, review=True, decide=True)
    html = applypage.application_page("opal", view, PROGRAMME, xsrf="t", links=LINKS)
    assert not _ids(html) & {"ch-approve-form", "ch-comment-form", "ch-reject-form"}
    sentence = (
        "150.00 GPU-hours (900.00 credits) were granted into account riverwatch; the credit "
        "can be spent through 2026-12-31."
    )
    assert applypage.decision_in_words(done) == sentence
    assert sentence in html
    assert 'data-status="approved"' in html
    rejected = ledger.reject_application(_made(ledger, "other").id, "Out of scope.", actor="opal")
    assert applypage.decision_in_words(rejected) == "Rejected: Out of scope."


def test_the_queue_lists_priority_first_with_recommendations(
    ledger: Ledger,
) -> None:
    plain = _made(ledger, priority=False, category="other", title="Plain")
    urgent = _made(ledger, title="Urgent")
    ledger.recommend_application(urgent.id, "approve", hours="150", actor="rhea")
    rows = ledger.applications()
    html = applypage.queue_page(
        "rhea", rows, PROGRAMME, now=datetime(2026, 1, 3, 12, tzinfo=UTC), links=LINKS
    )
    order = re.findall(r'<tr data-application="(\d+)"', html)
    assert order == [str(urgent.id), str(plain.id)]
    assert "rhea: approve 150 GPU-hours" in html
    assert "(2 days)" in html


@pytest.mark.parametrize(
    ("value", "hours"),
    [
        ("200", Decimal(200)),
        ("12.5", Decimal("12.5")),
        (150, Decimal(150)),
        # JSON Schema's integer, as the OpenAPI description allows it: 377.0 is 377.
        (377.0, Decimal(377)),
    ],
)
def test_hours_in_a_request_body(value: object, hours: Decimal) -> None:
    assert applying.hours_of({"hours": value}, "hours") == hours


@pytest.mark.parametrize("value", [0, 87601, 12.5, True, "-1", "1e3", "", None])
def test_hours_that_are_not_gpu_hours_are_refused(value: object) -> None:
    with pytest.raises(ApiError):
        applying.hours_of({"hours": value}, "hours")
