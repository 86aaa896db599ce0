"""The credits reader against a real HTTP server speaking the contract."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from computehub.extensions.alerts import format_duration, session_alerts
from computehub.extensions.creditsreader import (
    CreditsError,
    HttpCreditsClient,
    format_hours,
    hub_base_from_api_url,
    parse_session,
)
from computehub.extensions.render import credits_html
from computehub.extensions.sampler import CreditsState
from tests.support.widget_testkit import EXTEND_PATH, SESSION_PATH, TOKEN, CreditsHub, session_doc


@pytest.mark.parametrize(
    ("api_url", "base"),
    [
        ("http://127.0.0.1:8081/hub/api", "http://127.0.0.1:8081"),
        ("http://127.0.0.1:8081/hub/api/", "http://127.0.0.1:8081"),
        ("https://hub.example.org/prefix/hub/api", "https://hub.example.org/prefix"),
    ],
)
def test_hub_base_from_api_url(api_url: str, base: str) -> None:
    assert hub_base_from_api_url(api_url) == base


@pytest.mark.parametrize(
    "api_url", ["file:///etc/passwd/hub/api", "http://host/api", "127.0.0.1:8081/hub/api", ""]
)
def test_hub_base_refuses_other_urls(api_url: str) -> None:
    with pytest.raises(ValueError, match="not a JupyterHub API URL"):
        hub_base_from_api_url(api_url)


@pytest.mark.parametrize(("hours", "text"), [("1", "1"), ("1.50", "1.5"), ("10", "10")])
def test_hours_travel_as_plain_decimal_strings(hours: str, text: str) -> None:
    assert format_hours(Decimal(hours)) == text


def test_reads_the_current_session_with_the_servers_token(credits_hub: CreditsHub) -> None:
    session = credits_hub.client().current_session()
    assert (session.account, session.hub, session.job_id) == ("ayesha", "lahore", "12")
    assert session.available == Decimal("37.50")
    assert session.hold == Decimal("10.00")
    assert session.cost_so_far == Decimal("1.25")
    assert session.burn_rate_per_hour == Decimal("10.00")
    assert session.funded_until == datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    (call,) = credits_hub.calls(SESSION_PATH)
    assert call.authorization == f"token {TOKEN}"


def test_explicit_hub_base_url_wins(credits_hub: CreditsHub) -> None:
    env = {"JUPYTERHUB_API_URL": "http://127.0.0.1:9/hub/api", "JUPYTERHUB_API_TOKEN": TOKEN}
    client = HttpCreditsClient.from_env(env, hub_base_url=credits_hub.base_url)
    assert client.current_session().account == "ayesha"


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        pytest.param(401, b"{}", "refused this server's token (HTTP 401)", id="401"),
        pytest.param(403, b"{}", "token may not read the credits (HTTP 403)", id="403"),
        pytest.param(404, b"{}", "no running session for this server (HTTP 404)", id="404"),
        pytest.param(503, b"<html>down</html>", "the credits service failed (HTTP 503)", id="503"),
        pytest.param(200, b"<html>login</html>", "not JSON", id="html-login-page"),
        pytest.param(200, b"[1, 2]", "not a JSON object", id="not-an-object"),
    ],
)
def test_error_statuses_become_one_line(
    credits_hub: CreditsHub, status: int, body: bytes, message: str
) -> None:
    credits_hub.failures[SESSION_PATH] = (status, body)
    with pytest.raises(CreditsError) as caught:
        credits_hub.client().current_session()
    assert message in caught.value.message
    assert "\n" not in caught.value.message


def test_wrong_token_is_refused(credits_hub: CreditsHub) -> None:
    with pytest.raises(CreditsError) as caught:
        credits_hub.client(token="stolen").current_session()
    assert caught.value.status == 403


def test_missing_token_sends_nothing(credits_hub: CreditsHub) -> None:
    with pytest.raises(CreditsError, match="JUPYTERHUB_API_TOKEN is not set"):
        credits_hub.client(token="").current_session()
    assert credits_hub.requests == []


def test_missing_api_url_is_a_clear_line() -> None:
    client = HttpCreditsClient.from_env({"JUPYTERHUB_API_TOKEN": TOKEN})
    with pytest.raises(CreditsError, match="JUPYTERHUB_API_URL is not set"):
        client.current_session()


def test_service_down_is_a_clear_line() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"JUPYTERHUB_API_URL": f"http://127.0.0.1:{port}/hub/api", "JUPYTERHUB_API_TOKEN": "t"}
    with pytest.raises(CreditsError, match="credits service unreachable"):
        HttpCreditsClient.from_env(env, timeout=2).current_session()


def test_token_does_not_follow_a_redirect(credits_hub: CreditsHub) -> None:
    client = HttpCreditsClient(credits_hub.base_url + "/redirect", None, TOKEN)
    assert client.current_session().account == "ayesha"
    first, second = credits_hub.requests
    assert (first.path, first.authorization) == ("/redirect", f"token {TOKEN}")
    assert (second.path, second.authorization) == ("/echo", None)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("available", 37.5),
        ("available", "lots"),
        ("available", "NaN"),
        ("funded_until", "tomorrow"),
        ("funded_until", "2026-11-23T02:00:00"),
        ("account", None),
    ],
)
def test_malformed_session_fields_are_refused(field: str, value: object) -> None:
    doc: dict[str, object] = dict(session_doc())
    doc[field] = value
    with pytest.raises(CreditsError, match=field):
        parse_session(doc)


def test_extend_dry_run_then_confirm(credits_hub: CreditsHub) -> None:
    client = credits_hub.client()
    quote = client.extend(Decimal("1.5"), dry_run=True)
    assert quote.cost == Decimal("15.00")
    assert quote.available == Decimal("37.50")
    assert quote.funded_until == datetime(2026, 11, 23, 3, 30, tzinfo=UTC)
    assert client.current_session().funded_until == datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    done = client.extend(Decimal("1.5"), dry_run=False)
    assert done.available == Decimal("22.50")
    assert client.current_session().funded_until == done.funded_until
    bodies = [c.body for c in credits_hub.calls(EXTEND_PATH)]
    assert bodies == [{"hours": "1.5", "dry_run": True}, {"hours": "1.5", "dry_run": False}]
    assert {c.authorization for c in credits_hub.calls(EXTEND_PATH)} == {f"token {TOKEN}"}


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (402, b'{"message": "not enough credits"}', "not enough credits (HTTP 402)"),
        (409, b'{"message": "session is stopping"}', "session is stopping (HTTP 409)"),
        (400, b'{"message": "hours above the hub maximum"}', "hours above the hub maximum"),
        (400, b"oops", "the request was refused (HTTP 400)"),
    ],
)
def test_extension_refusals_carry_the_servers_message(
    credits_hub: CreditsHub, status: int, body: bytes, message: str
) -> None:
    credits_hub.failures[EXTEND_PATH] = (status, body)
    with pytest.raises(CreditsError) as caught:
        credits_hub.client().extend(Decimal(1), dry_run=False)
    assert message in caught.value.message
    assert caught.value.status == status


def test_extension_beyond_the_balance_is_refused_by_the_server(credits_hub: CreditsHub) -> None:
    with pytest.raises(CreditsError, match=r"not enough credits: 50.00 needed \(HTTP 402\)"):
        credits_hub.client().extend(Decimal(5), dry_run=True)


@pytest.mark.parametrize(
    ("minutes_left", "levels"),
    [
        pytest.param(16, [], id="16-min-quiet"),
        pytest.param(15, ["warning"], id="15-min-warning"),
        pytest.param(6, ["warning"], id="6-min-warning"),
        pytest.param(5, ["critical"], id="5-min-critical"),
        pytest.param(0, ["critical"], id="ended"),
        pytest.param(-3, ["critical"], id="past"),
    ],
)
def test_time_warnings_at_the_thresholds(minutes_left: int, levels: list[str]) -> None:
    session = parse_session(session_doc())
    now = session.funded_until - timedelta(minutes=minutes_left)
    alerts = session_alerts(session, now, low_credits=Decimal(0))
    assert [a.level for a in alerts] == levels


def test_low_credits_threshold_is_configurable() -> None:
    session = parse_session(session_doc())
    now = session.started_at
    assert session_alerts(session, now, low_credits=Decimal("37.50")) == ()
    (alert,) = session_alerts(session, now, low_credits=Decimal("37.51"))
    assert alert.text == "Credits are low: 37.50 left on account ayesha."


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (45, "45 s"), (14 * 60 + 59, "14 min"), (7500, "2 h 05 min"), (-5, "0 s")],
)
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


def test_a_students_course_limit_is_shown_with_its_reset() -> None:
    doc: dict[str, object] = dict(session_doc())
    doc["course_limit"] = {
        "course": "intro-ml",
        "kind": "weekly cap",
        "unit": "credits",
        "limit": "10.00",
        "used": "6.50",
        "left": "3.50",
        "window": "week",
        "resets_at": "2026-11-30T00:00:00+00:00",
    }
    session = parse_session(doc)
    assert session.course_limit is not None
    assert session.course_limit.line() == "course intro-ml: 3.5 of 10 credits left this week"
    html = credits_html(CreditsState(session=session), datetime(2026, 11, 23, 1, 30, tzinfo=UTC))
    assert "course intro-ml: 3.5 of 10 credits left this week · resets Mon 30 Nov 00:00 UTC" in html
    # No limit (an account of one's own), and a malformed one refused.
    assert parse_session(session_doc()).course_limit is None
    doc["course_limit"] = {**doc["course_limit"], "window": "year"}  # type: ignore[dict-item]
    with pytest.raises(CreditsError, match="course_limit"):
        parse_session(doc)


def test_a_hub_in_maintenance_is_a_banner_above_the_figures() -> None:
    doc: dict[str, object] = dict(session_doc())
    assert parse_session(doc).hub_notice is None
    doc["hub_notice"] = "This hub is in maintenance: <Cooling> work. Your session keeps running."
    session = parse_session(doc)
    html = credits_html(CreditsState(session=session), session.started_at)
    assert 'data-hub-notice="1"' in html
    assert "This hub is in maintenance: &lt;Cooling&gt; work." in html
    assert html.index("data-hub-notice") < html.index("<table>")
    assert "data-hub-notice" not in credits_html(
        CreditsState(session=parse_session(session_doc())), session.started_at
    )
    doc["hub_notice"] = 5
    with pytest.raises(CreditsError, match="hub_notice"):
        parse_session(doc)


@pytest.mark.parametrize(
    ("notices", "texts"),
    [
        pytest.param(None, (), id="absent"),
        pytest.param([], (), id="none"),
        pytest.param(
            [{"kind": "low_balance", "account": "ayesha", "text": "Account <b>ayesha</b> is low."}],
            ("Account <b>ayesha</b> is low.",),
            id="one",
        ),
    ],
)
def test_the_session_s_notices_are_read(notices: object, texts: tuple[str, ...]) -> None:
    doc: dict[str, object] = dict(session_doc())
    if notices is not None:
        doc["notices"] = notices
    session = parse_session(doc)
    assert session.notices == texts
    html = credits_html(CreditsState(session=session), session.started_at)
    assert ('data-notices="1"' in html) == bool(texts)
    assert "<b>ayesha</b>" not in html  # escaped


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("low", id="not-a-list"),
        pytest.param([{"kind": "low_balance"}], id="no-text"),
        pytest.param(["text"], id="not-an-object"),
        pytest.param([{"text": ""}], id="empty-text"),
    ],
)
def test_malformed_notices_are_refused(bad: object) -> None:
    doc: dict[str, object] = dict(session_doc())
    doc["notices"] = bad
    with pytest.raises(CreditsError, match="notice"):
        parse_session(doc)
