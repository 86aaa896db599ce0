"""The spawn form's estimate, from the hub's API with the user's login cookie."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from tests.support.bedtools import hub_login, user_token

pytestmark = pytest.mark.integration


def ask(opener: Any, base: str, xsrf: str | None, **choice: str) -> tuple[int, dict[str, Any]]:
    url = f"{base}/hub/api/computehub/estimate?{urllib.parse.urlencode(choice)}"
    request = urllib.request.Request(  # noqa: S310 (loopback)
        url, headers={"X-XSRFToken": xsrf} if xsrf else {}
    )
    try:
        with opener.open(request, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        body = err.read()
        return err.code, json.loads(body) if body.startswith(b"{") else {}


def xsrf_of(opener: Any) -> str:
    jar = next(h.cookiejar for h in opener.handlers if hasattr(h, "cookiejar"))
    return str(next(c.value for c in jar if c.name == "_xsrf"))


def test_the_form_gets_the_ledgers_estimate(hub: Any) -> None:
    alice = hub_login(hub.url, "alice", "alice-pw")
    xsrf = xsrf_of(alice)
    status, body = ask(alice, hub.url, xsrf, hub="karachi", gpu_type="a100", gpus="1", hours="2")
    assert status == 200, body
    with Ledger(hub.ledger_url) as ledger:
        available = ledger.balance("alice").available
    assert (body["hub"], body["account"], body["hours"]) == ("karachi", "alice", "2")
    assert (Decimal(body["per_hour"]), Decimal(body["cost"])) == (Decimal(7), Decimal(14))
    assert Decimal(body["available"]) == available
    assert body["affordable_hours"] == str((available / 7).quantize(Decimal("0.01"), ROUND_DOWN))
    assert body["sufficient"] is True

    # "Any hub" is placed as a start would be: an A100 is cheaper in Karachi.
    status, body = ask(alice, hub.url, xsrf, hub="any", gpu_type="a100", gpus="1", hours="1")
    assert (status, body["hub"], body["hub_name"]) == (200, "karachi", "Karachi AI Hub")

    # A choice a start would refuse is refused the same way, naming the field.
    status, body = ask(alice, hub.url, xsrf, hub="karachi", gpu_type="h100")
    assert status == 400
    assert body["message"] == "gpu_type: Karachi AI Hub has no 'h100' GPUs (it has: a100)"
    status, body = ask(alice, hub.url, xsrf, gpu_type="h100;id")
    assert (status, body["message"]) == (400, "gpu_type: contains characters that are not allowed")
    status, body = ask(alice, hub.url, xsrf, gres="gpu:h100:8")
    assert (status, body["message"]) == (400, "gres: unknown option")
    status, body = ask(alice, hub.url, xsrf, account="bob")
    assert status == 400
    assert body["message"].startswith("account: you can't charge 'bob'")

    # A slice of an A100 costs 1 credit an hour; too many hours are not funded.
    status, body = ask(alice, hub.url, xsrf, hub="karachi", gpu_type="a100:1g.10gb", gpus="2")
    assert (status, Decimal(body["per_hour"])) == (200, Decimal(2))


def test_the_estimate_is_for_logged_in_users_only(hub: Any) -> None:
    # A GET changes nothing, so JupyterHub takes the login cookie without an XSRF token
    # (another site can't read the answer); without a login there is no estimate.
    anonymous = urllib.request.build_opener()
    status, _ = ask(anonymous, hub.url, None, hub="karachi", gpu_type="a100")
    assert status == 403


def test_the_estimate_needs_the_sessions_scope(hub: Any) -> None:
    # A token that only tells who alice is (what an app she logs in to gets): refused;
    # a token with her own permissions: answered.
    choice = urllib.parse.urlencode({"hub": "karachi", "gpu_type": "a100", "hours": "1"})
    for scopes, expected in ((["read:users:name!user"], 403), (None, 200)):
        token = user_token(hub.url, hub.token, "alice", scopes)
        request = urllib.request.Request(  # noqa: S310 (loopback)
            f"{hub.url}/hub/api/computehub/estimate?{choice}",
            headers={"Authorization": f"token {token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310
                status = resp.status
        except urllib.error.HTTPError as err:
            status = err.code
        assert status == expected, scopes


def test_a_students_estimate_is_within_their_share(hub: Any) -> None:
    """The form does not call a start sufficient that the ledger would refuse."""
    today = datetime.now(UTC).date()
    with Ledger(hub.ledger_url) as ledger:
        ledger.create_course(
            "est-course",
            "est-course",
            today - timedelta(days=30),
            today + timedelta(days=60),
            actor="test",
        )
        ledger.add_member("est-course", "alice", "student", actor="test")
        ledger.grant("est-course", "100", actor="test", idempotency_key="est-course-grant")
        rate = ledger.rates("lahore")[("lahore", "cpu")]
        cap = rate / 2
        ledger.set_course_sharing("est-course", weekly_cap=cap, actor="test")
        pool = ledger.balance("est-course").available
    alice = hub_login(hub.url, "alice", "alice-pw")
    status, body = ask(
        alice,
        hub.url,
        xsrf_of(alice),
        hub="lahore",
        gpu_type="none",
        hours="1",
        account="est-course",
    )
    assert status == 200, body
    assert Decimal(body["cost"]) == rate
    assert pool > rate  # the pool alone would fund it
    assert Decimal(body["available"]) == cap
    assert body["sufficient"] is False
    assert Decimal(body["affordable_hours"]) == Decimal("0.5")
    assert (
        body["share"]
        == f"course est-course: {cap.normalize():f} of {cap.normalize():f} credits left this week"
    )
    # Someone no course limits gets no share line.
    status, body = ask(alice, hub.url, xsrf_of(alice), hub="lahore", gpu_type="none", hours="1")
    assert (status, body["share"]) == (200, None)
