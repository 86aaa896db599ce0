"""LTI 1.3 launches from a small LMS on loopback: Chromium lands logged in; bad ones don't."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from tests.support.login import LOGGED_IN
from tests.support.lti_platform import Fault
from tests.support.ltibed import (
    LTI_COURSE,
    LtiHub,
    assert_replay_refused,
    assert_spoiled_launch_refused,
    launch_by_hand,
    post_id_token,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


@pytest.fixture
def fault(lti_hub: LtiHub) -> Iterator[None]:
    yield
    lti_hub.platform.fault = "none"


def roster(lti: LtiHub) -> dict[str, str]:
    with Ledger(lti.ledger_url, migrate=False) as ledger:
        return dict(ledger.course(LTI_COURSE).members)


def test_instructor_and_learner_launch_in_chromium(
    lti_hub: LtiHub, browser: Any, output_dir: Path
) -> None:
    for user in ("pat", "dora"):
        context = browser.new_context()
        try:
            page = context.new_page()
            page.set_default_timeout(20_000)
            page.goto(f"{lti_hub.platform.url}/launch?user={user}&context=ctx-101")
            page.wait_for_url(LOGGED_IN)
            page.screenshot(path=str(output_dir / f"landed-{user}.png"))
        finally:
            context.close()
    members = roster(lti_hub)
    assert (members.get("pat"), members.get("dora")) == ("instructor", "student")
    status, pat = lti_hub.hub.api("GET", "/users/pat")
    assert status == 200
    assert sorted(pat["groups"]) == ["course-lti-101-staff", "instructor"]
    assert "course-lti-101-staff" in pat["roles"]
    status, dora = lti_hub.hub.api("GET", "/users/dora")
    assert sorted(dora["groups"]) == ["course-lti-101-students", "student"]
    with Ledger(lti_hub.ledger_url, migrate=False) as ledger:
        assert ledger.identity_of("pat") == (lti_hub.platform.issuer, "lms-user-7001")


def test_a_teaching_assistant_becomes_ta(lti_hub: LtiHub) -> None:
    cookies, posted = launch_by_hand(lti_hub, "rita", "ctx-101")
    status, session, _ = post_id_token(posted, cookies)
    assert status == 302
    assert "jupyterhub-session-id" in session
    assert roster(lti_hub).get("rita") == "ta"
    _, rita = lti_hub.hub.api("GET", "/users/rita")
    assert sorted(rita["groups"]) == ["course-lti-101-staff", "student"]


@pytest.mark.parametrize("spoiled", ["tampered", "expired", "wrong-aud", "other-key"])
def test_a_bad_id_token_is_refused(lti_hub: LtiHub, fault: None, spoiled: Fault) -> None:
    assert_spoiled_launch_refused(lti_hub, "evan", spoiled)


def test_a_replayed_id_token_is_refused(lti_hub: LtiHub) -> None:
    assert_replay_refused(lti_hub, "dora")
    assert "replayed" in lti_hub.hub.process.log.read_text()


def test_an_unknown_context_is_refused_with_a_page(lti_hub: LtiHub, page: Any) -> None:
    with page.expect_response(lambda r: "/hub/lti13/oauth_callback" in r.url) as answer:
        page.goto(f"{lti_hub.platform.url}/launch?user=evan&context=ctx-999")
    assert answer.value.status == 403
    page.wait_for_load_state()
    assert "Medieval History" in page.inner_text("body")
    assert "not connected" in page.inner_text("body")
    assert lti_hub.hub.api("GET", "/users/evan")[0] == 404
