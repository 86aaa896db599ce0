"""The instructor's page as the real hub serves it: figures equal to the ledger, CSV, forms.

Its own course (``ml-p``: ida teaches, pia takes, quinn joins through the page) so the
browser's roster change touches no other test's course.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from computehub.credits.display import credits_text
from computehub.credits.ledger import Ledger
from computehub.credits.roster import parse_roster
from tests.support.credits_hub import PEOPLE, CreditsHub, http
from tests.support.login import ldap_login

pytestmark = pytest.mark.integration

COURSE_P = "ml-p"
BROWSER = "text/html,application/xhtml+xml,*/*;q=0.8"


@pytest.fixture(scope="module")
def course_p(ledger: Ledger, accounts: dict[str, str]) -> str:
    """ml-p with a settled and a running session of pia's, and one of ida's."""
    ledger.create_course(
        COURSE_P, "Practical ML", date(2026, 1, 5), date(2027, 6, 30), actor="test"
    )
    ledger.apply_course_roster(
        COURSE_P, parse_roster("ida,instructor\npia,student\n"), actor="test"
    )
    ledger.grant(COURSE_P, "300", actor="test")
    ledger.set_course_sharing(COURSE_P, actor="test", share="equal", weekly_cap="50")
    done = ledger.place_hold(COURSE_P, "karachi", {"gpu:a100": 2}, "1", actor="pia")
    ledger.settle(done.id, {"gpu:a100": "0.5"}, actor="test")
    ledger.place_hold(COURSE_P, "lahore", {"cpu": 1}, "2", actor="pia")
    mine = ledger.place_hold(COURSE_P, "lahore", {"cpu": 1}, "1", actor="ida")
    ledger.void_hold(mine.id, "never started", actor="test")
    return COURSE_P


class _Roster:
    """``#ch-roster tr[data-username]`` -> text of each ``td.ch-*`` cell."""

    def __init__(self, html: str) -> None:
        from html.parser import HTMLParser

        rows: dict[str, dict[str, str]] = {}
        state: dict[str, Any] = {"row": None, "cell": None}

        class Parser(HTMLParser):
            def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
                found = dict(attrs)
                if tag == "tr" and found.get("data-username"):
                    state["row"] = rows.setdefault(str(found["data-username"]), {})
                elif tag == "td" and state["row"] is not None:
                    cell = str(found.get("class")).split()[0]
                    state["cell"] = cell
                    state["row"][cell] = ""

            def handle_endtag(self, tag: str) -> None:
                if tag in ("td", "tr"):
                    state["cell"] = None if tag == "td" else state["cell"]
                    if tag == "tr":
                        state["row"] = None

            def handle_data(self, data: str) -> None:
                if state["row"] is not None and state["cell"]:
                    state["row"][state["cell"]] += data

        Parser().feed(html)
        self.rows = rows


def _ledger_figures(ledger: Ledger, user: str) -> dict[str, Any]:
    """What the ledger itself says of a person's sessions on the pool."""
    rows = ledger.sessions(COURSE_P, user=user, limit=500)
    charged = sum((row.charged or Decimal(0) for row in rows), Decimal(0))
    held = sum((row.hold.amount for row in rows if row.hold.status == "open"), Decimal(0))
    times = [row.hold.created_at for row in rows] + [
        row.closed_at for row in rows if row.closed_at is not None
    ]
    return {
        "charged": charged,
        "held": held,
        "sessions": len(rows),
        "last": max(times).strftime("%Y-%m-%d %H:%M") if times else "—",
    }


def test_the_roster_shows_each_use_equal_to_the_ledger(
    credits_hub: CreditsHub, ledger: Ledger, course_p: str
) -> None:
    token = credits_hub.tokens["instructor_p"]
    answer = http("GET", f"{credits_hub.service}/courses/{course_p}", token, accept=BROWSER)
    assert answer.status == 200, answer.raw
    html = answer.raw.decode()
    assert "form-action 'self'" in answer.headers["content-security-policy"]
    assert "script-src" not in answer.headers["content-security-policy"]
    rows = _Roster(html).rows
    assert set(rows) == {"ida", "pia"}
    for user in ("ida", "pia"):
        figures = _ledger_figures(ledger, user)
        assert rows[user]["ch-charged"] == credits_text(figures["charged"])
        assert rows[user]["ch-held"] == credits_text(figures["held"])
        assert rows[user]["ch-used"] == credits_text(figures["charged"] + figures["held"])
        assert int(rows[user]["ch-sessions"]) == figures["sessions"]
        assert rows[user]["ch-last"] == figures["last"]
    assert rows["pia"]["ch-charged"] == "3.50"  # 0.5 A100-hours at 7 credits
    share = ledger.course_share(course_p, "pia")
    assert share is not None
    assert share.left is not None
    assert rows["pia"]["ch-share-left"] == credits_text(share.left)
    pool = ledger.balance(course_p)
    assert f'<span class="ch-available">{pool.available:.2f}</span>' in html
    assert "equal share of the pool per student" in html
    assert "at most 50.00 credits per student a week" in html

    # The credits page links here for people who teach, not for others.
    home = http("GET", f"{credits_hub.service}/", token, accept=BROWSER).raw.decode()
    assert 'id="ch-teach-link"' in home
    other = http("GET", f"{credits_hub.service}/", credits_hub.tokens["student_p"], accept=BROWSER)
    assert 'id="ch-teach-link"' not in other.raw.decode()


def test_the_csv_export_is_the_roster_table(credits_hub: CreditsHub, course_p: str) -> None:
    token = credits_hub.tokens["instructor_p"]
    base = f"{credits_hub.service}/courses/{course_p}"
    answer = http("GET", f"{base}/roster.csv", token, accept="text/csv")
    assert answer.status == 200, answer.raw
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == 'attachment; filename="ml-p-roster.csv"'
    table = list(csv.DictReader(io.StringIO(answer.raw.decode())))
    page = _Roster(http("GET", base, token, accept=BROWSER).raw.decode()).rows
    assert {row["username"] for row in table} == set(page)
    for row in table:
        shown = page[row["username"]]
        # The CSV is exact; the page shows the same amounts with 2 decimals.
        assert credits_text(Decimal(row["used"])) == shown["ch-used"]
        assert credits_text(Decimal(row["charged"])) == shown["ch-charged"]
        assert row["sessions"] == shown["ch-sessions"]


def test_a_student_is_told_the_page_is_for_staff(credits_hub: CreditsHub, course_p: str) -> None:
    token = credits_hub.tokens["student_p"]
    answer = http("GET", f"{credits_hub.service}/courses/{course_p}", token, accept=BROWSER)
    assert answer.status == 403
    assert "is not one you teach" in answer.raw.decode()
    listed = http("GET", f"{credits_hub.service}/courses", token, accept=BROWSER)
    assert listed.status == 403
    assert "you teach none" in listed.raw.decode()


def test_a_form_post_with_the_cookie_but_no_xsrf_changes_nothing(
    credits_hub: CreditsHub, ledger: Ledger, course_p: str
) -> None:
    """A cross-site form: the browser's cookie without JupyterHub's ``_xsrf`` token."""
    from tests.support.credits_hub import browser_login

    browser = browser_login(credits_hub.process.url, "ida")
    page_url = f"{credits_hub.service}/courses/{course_p}"
    with browser.open(page_url, timeout=30) as resp:
        assert 'name="_xsrf"' in resp.read().decode()
    before = ledger.course_sharing(course_p)
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as refused:
        browser.open(f"{page_url}/sharing", b"share=none&weekly_cap=1", timeout=30)
    assert refused.value.code in (401, 403)
    assert ledger.course_sharing(course_p) == before


def _post_allowance(credits_hub: CreditsHub, course: str, user: str, body: str) -> Any:
    return http(
        "POST",
        f"{credits_hub.service}/courses/{course}/allowances/{user}",
        credits_hub.tokens["instructor_p"],
        raw=body.encode(),
        accept=BROWSER,
        extra_headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def test_the_instructor_sets_and_clears_a_students_allowance_from_the_page(
    credits_hub: CreditsHub, ledger: Ledger, course_p: str
) -> None:
    answer = _post_allowance(credits_hub, course_p, "pia", "allowance=75.5")
    assert answer.status == 200, answer.raw  # 303 to the page, followed
    assert ledger.course_sharing(course_p).students["pia"] == Decimal("75.5")
    html = answer.raw.decode()
    assert "The allowance of pia was saved: 75.50 credits for the term." in html
    assert 'name="allowance" value="75.50"' in html
    cleared = _post_allowance(credits_hub, course_p, "pia", "allowance=")
    assert cleared.status == 200, cleared.raw
    assert "pia" not in ledger.course_sharing(course_p).students
    assert "pia has the course&#x27;s share of the pool again." in cleared.raw.decode()


@pytest.mark.parametrize(
    ("user", "typed", "sentence"),
    [
        (
            "pia",
            "-5",
            "The allowance of pia was not saved: the amount &#x27;-5&#x27; is negative. "
            "Type a positive number of credits, or leave the field empty to give them the "
            "course&#x27;s share again.",
        ),
        ("pia", "lots", "the amount &#x27;lots&#x27; is not a decimal number"),
        ("pia", "0", "the amount must be greater than zero"),
        (
            "zed",
            "10",
            "The allowance was not saved: &#x27;zed&#x27; is not a student of course "
            "&#x27;ml-p&#x27;. Only the course&#x27;s students have an allowance of their own.",
        ),
        ("ida", "10", "&#x27;ida&#x27; is not a student of course"),
    ],
    ids=["negative", "not-a-number", "zero", "unknown-student", "the-instructor"],
)
def test_a_bad_allowance_is_refused_with_a_sentence_and_nothing_lost(
    credits_hub: CreditsHub, ledger: Ledger, course_p: str, user: str, typed: str, sentence: str
) -> None:
    ledger.set_student_allowance(course_p, "pia", "20", actor="test")
    try:
        before = ledger.course_sharing(course_p)
        answer = _post_allowance(credits_hub, course_p, user, f"allowance={typed}")
        assert answer.status == 422, answer.raw
        html = answer.raw.decode()
        assert 'id="ch-allowance-error"' in html
        assert sentence in html
        assert ledger.course_sharing(course_p) == before
        if user == "pia":  # what was typed is still in pia's field
            assert f'ch-allowance-input is-invalid" name="allowance" value="{typed}"' in html
    finally:
        ledger.set_student_allowance(course_p, "pia", None, actor="test")


def test_an_instructor_uses_the_page_in_a_browser(
    credits_hub: CreditsHub, ledger: Ledger, course_p: str, browser: Any, output_dir: Path
) -> None:
    hub = credits_hub.process.url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    try:
        ldap_login(page, hub, "ida", "any")
        page.goto(f"{hub}/hub/home")
        menu = page.locator("a.dropdown-item", has_text="Courses you teach")
        assert menu.get_attribute("href") == "/services/credits/courses"
        page.goto(f"{hub}/services/credits/")
        page.click("#ch-teach-link a")
        page.wait_for_selector("#ch-courses")
        page.screenshot(path=str(output_dir / "1-courses.png"), full_page=True)
        page.click(f"tr[data-course={course_p}] a")
        page.wait_for_selector("#ch-roster")
        page.screenshot(path=str(output_dir / "2-course.png"), full_page=True)

        page.fill("#ch-roster-text", "ida,instructor\npia,student\nquinn,student\n")
        page.click("#ch-roster-preview")
        page.wait_for_selector("#ch-roster-preview-result")
        assert "add quinn as student" in page.inner_text("#ch-roster-preview-result")
        assert "quinn" not in ledger.course(course_p).members
        page.screenshot(path=str(output_dir / "3-roster-dry-run.png"), full_page=True)
        page.click("#ch-roster-apply")
        page.wait_for_selector("#ch-roster-applied")
        assert ledger.course(course_p).members["quinn"] == "student"
        assert page.locator("#ch-roster tr[data-username=quinn]").count() == 1
        page.screenshot(path=str(output_dir / "4-roster-applied.png"), full_page=True)

        page.select_option("#ch-share", "fixed")
        page.fill("#ch-allowance", "40")
        page.fill("#ch-weekly-cap", "")
        page.click("#ch-sharing-save")
        page.wait_for_selector("#ch-notice")
        sharing = ledger.course_sharing(course_p)
        assert (sharing.share, sharing.allowance, sharing.weekly_cap) == (
            "fixed",
            Decimal(40),
            None,
        )
        page.screenshot(path=str(output_dir / "5-sharing-saved.png"), full_page=True)

        # One student's own allowance, from their row of the roster.
        row = page.locator("#ch-roster tr[data-username=quinn]")
        row.locator(".ch-allowance-input").fill("-3")
        row.locator(".ch-allowance-save").click()
        page.wait_for_selector("#ch-allowance-error")
        assert "the amount '-3' is negative" in page.inner_text("#ch-allowance-error")
        assert row.locator(".ch-allowance-input").input_value() == "-3"
        assert "quinn" not in ledger.course_sharing(course_p).students
        page.screenshot(path=str(output_dir / "6-allowance-refused.png"), full_page=True)
        row.locator(".ch-allowance-input").fill("60")
        row.locator(".ch-allowance-save").click()
        page.wait_for_selector("#ch-notice")
        assert page.inner_text("#ch-notice") == (
            "The allowance of quinn was saved: 60.00 credits for the term."
        )
        assert ledger.course_sharing(course_p).students["quinn"] == Decimal(60)
        assert row.locator(".ch-allowance-input").input_value() == "60.00"
        assert "1 student with an allowance of their own" in page.inner_text("#ch-sharing")
        page.screenshot(path=str(output_dir / "7-allowance-saved.png"), full_page=True)

        with page.expect_download() as info:
            page.click("#ch-csv")
        download = info.value
        assert download.suggested_filename == "ml-p-roster.csv"
        saved = output_dir / "roster.csv"
        download.save_as(str(saved))
        table = {row["username"]: row for row in csv.DictReader(saved.open())}
        assert sorted(table) == ["ida", "pia", "quinn"]
        assert table["quinn"]["own_allowance"] == "60.00"
    finally:
        context.close()
    assert PEOPLE["instructor_p"][0] == "ida"
