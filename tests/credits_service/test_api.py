"""What the endpoints answer: error bodies, paging, estimates, the widget's session, metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from computehub.credits.service.app import API_ROUTES
from computehub.credits.service.jupyterhub import DEFAULT_SERVER_SCOPES, SERVER_TOKEN_SCOPES
from computehub.credits.service.openapi import openapi
from tests.support.credits_hub import COURSE_A, CreditsHub, http

pytestmark = pytest.mark.integration


def test_insufficient_credit_is_402_with_available_and_requested(
    credits_hub: CreditsHub, accounts: dict[str, str], ledger: Any
) -> None:
    ledger.create_account("poor", "personal", actor="test", owner="otto")
    ledger.grant("poor", "5", actor="test")
    answer = credits_hub.call(
        "operator", "POST", "/transfers", {"from": "poor", "to": "otto", "amount": "7.5"}
    )
    assert answer.status == 402
    assert answer.body == {
        "message": "account 'poor' has 5.00 credits available, 7.50 requested",
        "account": "poor",
        "available": "5.00",
        "requested": "7.50",
    }
    assert ledger.balance("poor").balance == Decimal(5)


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        pytest.param("-5", "negative", id="negative"),
        pytest.param("1e9999", "larger than", id="huge"),
        pytest.param("abc", "not a decimal number", id="text"),
        pytest.param("1.00001", "decimal places", id="too-many-decimals"),
        pytest.param("0", "greater than zero", id="zero"),
        pytest.param(True, "decimal string", id="boolean"),
        pytest.param(None, "required", id="missing"),
    ],
)
def test_bad_amounts_are_400(
    credits_hub: CreditsHub, accounts: dict[str, str], amount: Any, words: str
) -> None:
    before = credits_hub.call("operator", "GET", "/accounts/otto").body["balance"]
    answer = credits_hub.call("operator", "POST", "/accounts/otto/grants", {"amount": amount})
    assert answer.status == 400
    assert words in answer.body["message"]
    assert credits_hub.call("operator", "GET", "/accounts/otto").body["balance"] == before


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        pytest.param(b"{", "not valid JSON", id="broken-json"),
        pytest.param(b"[1]", "JSON object", id="not-an-object"),
    ],
)
def test_bad_bodies_are_400(
    credits_hub: CreditsHub, accounts: dict[str, str], raw: bytes, words: str
) -> None:
    answer = http("POST", f"{credits_hub.api}/transfers", credits_hub.tokens["operator"], raw=raw)
    assert answer.status == 400
    assert words in answer.body["message"]


def test_unknown_account_is_404_for_operators(
    credits_hub: CreditsHub, accounts: dict[str, str]
) -> None:
    answer = credits_hub.call("operator", "POST", "/accounts/nobody/grants", {"amount": "1"})
    assert (answer.status, answer.body) == (404, {"message": "unknown account 'nobody'"})


def test_grant_with_expiry_shows_as_expiring_soon(
    credits_hub: CreditsHub, accounts: dict[str, str], ledger: Any
) -> None:
    ledger.create_account("soon", "personal", actor="test", owner="otto")
    day = (datetime.now().date() + timedelta(days=3)).isoformat()
    answer = credits_hub.call(
        "operator",
        "POST",
        "/accounts/soon/grants",
        {"amount": 12.5, "expires": day, "note": "term", "idempotency_key": "g-soon-1"},
    )
    assert answer.status == 201, answer.raw
    assert answer.body["grant"]["amount"] == "12.50"
    again = credits_hub.call(
        "operator",
        "POST",
        "/accounts/soon/grants",
        {"amount": "12.5", "expires": day, "note": "term", "idempotency_key": "g-soon-1"},
    )
    assert again.body["grant"]["id"] == answer.body["grant"]["id"]
    mine = credits_hub.call("other", "GET", "/accounts").body["accounts"]
    soon = next(row for row in mine if row["account"] == "soon")
    assert soon["balance"] == "12.50"
    assert soon["expiring_soon"]["amount"] == "12.50"
    assert soon["expiring_soon"]["at"].startswith(
        (datetime.now().date() + timedelta(days=4)).isoformat()
    )


def test_transactions_page_without_gaps_or_repeats(
    credits_hub: CreditsHub, accounts: dict[str, str], ledger: Any
) -> None:
    ledger.create_account("paged", "personal", actor="test", owner="otto")
    for i in range(7):
        ledger.grant("paged", str(i + 1), actor="test")
    seen: list[int] = []
    path = "/accounts/paged/transactions?limit=3"
    sizes = []
    while True:
        page = credits_hub.call("other", "GET", path).body
        sizes.append(len(page["transactions"]))
        seen += [row["id"] for row in page["transactions"]]
        if page["next_before"] is None:
            break
        path = f"/accounts/paged/transactions?limit=3&before={page['next_before']}"
    assert sizes == [3, 3, 1]
    assert seen == sorted(seen, reverse=True)
    assert len(set(seen)) == 7
    first = credits_hub.call("other", "GET", "/accounts/paged/transactions?limit=1").body
    assert first["transactions"][0]["change"] == "+7.00"


def test_transactions_say_each_entrys_effect_with_its_sign(
    credits_hub: CreditsHub, accounts: dict[str, str], ledger: Any
) -> None:
    """A release gives credit back to available (its ``change`` alone reads as taken)."""
    ledger.create_account("effects", "personal", actor="test", owner="otto")
    ledger.grant("effects", "100", actor="test")
    hold = ledger.place_hold("effects", "lahore", {"gpu:h100": 1}, "1", actor="otto").id
    ledger.settle(hold, {"gpu:h100": "0.25"}, actor="spawner")
    rows = credits_hub.call("other", "GET", "/accounts/effects/transactions").body["transactions"]
    release = next(row for row in rows if row["kind"] == "release")
    assert release["change"].startswith("-")
    assert release["effect"]["balance"] == "0.0000"
    assert release["effect"]["available"].startswith("+")
    assert release["meaning"] == "returned to available"
    balance = credits_hub.call("other", "GET", "/accounts/effects").body
    for figure in ("balance", "available"):
        total = sum(Decimal(row["effect"][figure]) for row in rows)
        assert total == Decimal(balance[figure]), figure


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=501",
        "limit=x",
        "before=-1",
        # Finding 13: str.isdigit() takes these; "²" was a 500, "١٢" read as 12.
        pytest.param("limit=%C2%B2", id="superscript-two"),
        pytest.param("limit=%D9%A1%D9%A2", id="arabic-indic-twelve"),
        pytest.param("before=%D9%A1", id="arabic-indic-one"),
    ],
)
def test_bad_paging_is_400(credits_hub: CreditsHub, accounts: dict[str, str], query: str) -> None:
    answer = credits_hub.call("owner", "GET", f"/accounts/owen/transactions?{query}")
    assert answer.status == 400
    assert "must be" in answer.body["message"]


@pytest.mark.parametrize("count", ["%C2%B2", "%D9%A2"], ids=["superscript-two", "arabic-indic-two"])
def test_a_count_in_other_digits_is_400(
    credits_hub: CreditsHub, accounts: dict[str, str], count: str
) -> None:
    answer = credits_hub.call(
        "owner", "GET", f"/estimate?account=owen&hub=lahore&resource=cpu&hours=1&count={count}"
    )
    assert answer.status == 400
    assert "count must be a whole number" in answer.body["message"]


def test_estimate_maths(credits_hub: CreditsHub, accounts: dict[str, str], ledger: Any) -> None:
    ledger.create_account("est", "personal", actor="test", owner="otto")
    ledger.grant("est", "100", actor="test")
    answer = credits_hub.call(
        "other", "GET", "/estimate?account=est&hub=lahore&resource=gpu:h100&count=2&hours=3"
    )
    assert answer.body == {
        "account": "est",
        "hub": "lahore",
        "resource": "gpu:h100",
        "count": 2,
        "hours": "3.00",
        "per_hour": "20.00",
        "cost": "60.00",
        "available": "100.00",
        "affordable_hours": "5.00",
        "sufficient": True,
    }
    poor = credits_hub.call(
        "other", "GET", "/estimate?account=est&hub=lahore&resource=cpu&count=3&hours=100"
    ).body
    assert (poor["cost"], poor["affordable_hours"], poor["sufficient"]) == (
        "150.00",
        "66.66",
        False,
    )


@pytest.mark.parametrize(
    ("query", "words"),
    [
        pytest.param("hub=lahore&resource=cpu&hours=1", "account", id="no-account"),
        pytest.param("account=otto&hub=lahore&resource=cpu&hours=-1", "negative", id="hours"),
        pytest.param("account=otto&hub=lahore&resource=cpu&hours=1&count=0", "count", id="count"),
    ],
)
def test_bad_estimates_are_400(
    credits_hub: CreditsHub, accounts: dict[str, str], query: str, words: str
) -> None:
    answer = credits_hub.call("other", "GET", f"/estimate?{query}")
    assert answer.status == 400
    assert words in answer.body["message"]


def test_an_unpriced_resource_is_404(credits_hub: CreditsHub, accounts: dict[str, str]) -> None:
    # Well formed, naming a price that does not exist (was a 400 before the API's
    # description declared every constraint: a fuzzer of it found a valid request refused).
    answer = credits_hub.call(
        "other", "GET", "/estimate?account=otto&hub=lahore&resource=gpu:b200&hours=1"
    )
    assert answer.status == 404
    assert "no rate" in answer.body["message"]


def test_current_session_with_a_server_token(
    credits_hub: CreditsHub, accounts: dict[str, str], ledger: Any
) -> None:
    # The scopes Spawner.server_token_scopes gives the job's JUPYTERHUB_API_TOKEN
    # (less the !server filter, which only resolves for a real server).
    scopes = sorted(
        (set(DEFAULT_SERVER_SCOPES) | set(SERVER_TOKEN_SCOPES)) - {"access:servers!server"}
    )
    token = credits_hub.token_for("owen", scopes)
    answer = http("GET", f"{credits_hub.api}/sessions/current", token)
    assert answer.status == 200, answer.raw
    body = answer.body
    assert set(body) == {
        "account",
        "hub",
        "job_id",
        "available",
        "hold",
        "cost_so_far",
        "burn_rate_per_hour",
        "started_at",
        "funded_until",
        "course_limit",
        "hub_notice",
        "notices",
        "server_name",
    }
    assert body["server_name"] == ""  # the hold was placed for the default server
    assert body["notices"] == []  # 1000 credits that never expire: nothing to say
    assert body["course_limit"] is None  # paid from a personal account
    assert body["hub_notice"] is None  # lahore is not in maintenance
    hold = ledger.hold_for_job("lahore", "4242")
    assert (body["account"], body["hub"], body["job_id"]) == ("owen", "lahore", "4242")
    assert (body["hold"], body["burn_rate_per_hour"]) == ("21.00", "10.50")
    assert body["available"] == f"{ledger.balance('owen').available:.2f}"
    started = datetime.fromisoformat(body["started_at"])
    assert started == hold.created_at
    assert datetime.fromisoformat(body["funded_until"]) - started == timedelta(hours=2)
    elapsed_h = Decimal((datetime.now(started.tzinfo) - started).total_seconds()) / 3600
    assert (
        Decimal(0) <= Decimal(body["cost_so_far"]) <= Decimal("10.5") * elapsed_h + Decimal("0.01")
    )
    # The server's token reads nothing else: not even the user's account list... is allowed
    # by the read scope, but no transfer or grant.
    refused = http(
        "POST", f"{credits_hub.api}/transfers", token, {"from": "owen", "to": "otto", "amount": "1"}
    )
    assert refused.status == 403


def test_current_session_shows_a_students_course_limit(
    credits_hub: CreditsHub, accounts: dict[str, str], ledger: Any
) -> None:
    """What the widget shows: "course ml-a: 5.5 of 10 credits left this week"."""
    ledger.set_course_sharing(COURSE_A, weekly_cap="10", actor="test")
    hold = ledger.place_hold(COURSE_A, "lahore", {"cpu": 4}, "2", actor="sami")  # 4
    try:
        ledger.attach_job(hold.id, "lahore", "5151", actor="sami")
        answer = credits_hub.call("student", "GET", "/sessions/current")
        assert answer.status == 200, answer.raw
        now = datetime.now(UTC).date()
        monday = now + timedelta(days=7 - now.weekday())
        # sami also holds 0.5 on ml-a for a session without a job (conftest).
        assert answer.body["course_limit"] == {
            "course": COURSE_A,
            "kind": "weekly cap",
            "unit": "credits",
            "limit": "10.00",
            "used": "4.50",
            "left": "5.50",
            "window": "week",
            "resets_at": f"{monday.isoformat()}T00:00:00+00:00",
        }
        # The course's instructor is not limited: the view of a session of theirs has none.
        assert ledger.course_share(COURSE_A, "ines").limits == ()
    finally:
        ledger.void_hold(hold.id, "test over", actor="test")
        ledger.set_course_sharing(COURSE_A, actor="test")


def test_no_running_session_is_404_with_a_message(
    credits_hub: CreditsHub, accounts: dict[str, str]
) -> None:
    answer = credits_hub.call("other", "GET", "/sessions/current")
    assert answer.status == 404
    assert "no running session" in answer.body["message"]


def test_metrics_report_the_ledger(
    credits_hub: CreditsHub, accounts: dict[str, str], ledger: Any
) -> None:
    answer = http("GET", f"{credits_hub.service}/metrics", credits_hub.tokens["operator"])
    text = answer.raw.decode()
    assert answer.headers["content-type"].startswith("text/plain")
    totals = ledger.totals()
    granted = float(totals.granted["programme"])
    assert f'computehub_credits_granted_total{{source="programme"}} {granted}' in text
    assert 'computehub_credits_held{hub="lahore",resource="gpu:h100"} 20.0' in text
    assert (
        f'computehub_credits_open_holds{{hub="lahore"}} {float(totals.open_holds["lahore"])}'
        in text
    )
    hold = ledger.place_hold("otto", "karachi", {"gpu:a100": 1}, "1", actor="otto")
    ledger.settle(hold.id, {"gpu:a100": "0.5"}, actor="test")
    text = http(
        "GET", f"{credits_hub.service}/metrics", credits_hub.tokens["operator"]
    ).raw.decode()
    assert 'computehub_credits_charged_total{hub="karachi"} 3.5' in text
    assert 'computehub_credits_usage_cost_total{hub="karachi",resource="gpu:a100"} 3.5' in text
    assert 'computehub_credits_usage_hours_total{hub="karachi",resource="gpu:a100"} 0.5' in text


def test_openapi_describes_every_route_and_method(credits_hub: CreditsHub) -> None:
    served = http("GET", f"{credits_hub.api}/openapi.json").body
    assert served == openapi("/services/credits/")
    for template, handler in API_ROUTES:
        assert template in served["paths"], template
        methods = {m for m in ("get", "post", "put", "patch", "delete") if m in vars(handler)}
        assert methods, template
        assert methods == set(served["paths"][template]), template
        assert {m.lower() for m in handler.allowed_methods()} == methods, template
    assert set(served["paths"]) == {template for template, _ in API_ROUTES}


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        pytest.param("DELETE", "/transfers", "POST", id="delete-transfers"),
        pytest.param("PUT", "/accounts/owen", "GET", id="put-account"),
        pytest.param("POST", "/sessions/current", "GET", id="post-session"),
        pytest.param("TRACE", "/rates", "GET", id="trace-rates"),
        pytest.param("GET", "/accounts/owen/grants", "POST", id="get-grants"),
    ],
)
def test_an_undeclared_method_is_405_saying_which_are_answered(
    credits_hub: CreditsHub, method: str, path: str, allow: str
) -> None:
    answer = credits_hub.call("operator", method, path)
    assert (answer.status, answer.headers.get("allow")) == (405, allow)
    if method != "TRACE":  # refused by Tornado itself, before the endpoint is known
        assert answer.body == {"message": f"this endpoint answers {allow} only"}


def test_text_with_a_nul_is_400(credits_hub: CreditsHub, accounts: dict[str, str]) -> None:
    # PostgreSQL stores no NUL in text: on a production ledger this was a 500.
    answer = credits_hub.call(
        "operator", "POST", "/transfers", {"from": "a\u0000b", "to": "otto", "amount": "1"}
    )
    assert (answer.status, answer.body) == (
        400,
        {"message": "'from' must not contain a NUL character"},
    )


def test_unknown_endpoint_is_a_json_404(credits_hub: CreditsHub) -> None:
    answer = http("GET", f"{credits_hub.api}/nothing-here")
    assert answer.status == 404
    assert "openapi.json" in answer.body["message"]


def test_root_sends_a_browser_to_the_hub_login(credits_hub: CreditsHub) -> None:
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as caught:
        opener.open(f"{credits_hub.service}/", timeout=10)
    assert caught.value.code == 302
    assert "/hub/api/oauth2/authorize" in caught.value.headers["Location"]
