"""The instructor pages, the operator console and the applications pages in Urdu.

Pure renderers, fed plain records (and a ledger's applications): each page is right to
left with the switch, and no word of ours is left in English. The check reads every
text and every attribute a person sees (``title``, ``placeholder``, ``aria-label``)
and fails on a Latin word that is not a product word or one of the test's own names:
a sentence someone forgets to wrap in ``_()`` shows up here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from computehub.credits import console as cs
from computehub.credits import records as r
from computehub.credits.applications import Application
from computehub.credits.courseuse import PoolUse
from computehub.credits.ledger import Ledger
from computehub.credits.roster import RoleChange, RosterPlan
from computehub.credits.service import (
    applypage,
    consolepage,
    consoletables,
    coursepage,
    page,
    pulllink,
    teaching,
)
from computehub.credits.service.formgraders import Assignment, Coursework
from computehub.i18n import use
from computehub.i18n.catalog import FSI, PDI
from computehub.sitefile.schema import Programme
from tests.support.ledgers import RATES, FakeClock, proposal_for

LINKS = page.Links(hub_prefix="/hub/", api="/services/credits/api/v1", service="/services/credits/")
NOW = datetime(2026, 3, 31, 12, tzinfo=UTC)
#: Latin words an Urdu page may show: product and format names, units, code.
PRODUCT_WORDS = {
    "GPU", "CPU", "CSV", "JSON", "UTC", "Wh", "LMS", "URL", "API", "REST", "JupyterHub",
    "JupyterLab", "Slurm", "formgrader", "nbgrader", "nbgitpuller", "https", "http", "git",
    "H100", "A100", "username", "role", "English",
}  # fmt: skip
#: The test's own names (people, courses, hubs, accounts, what an applicant typed).
NAMES = {
    "ines", "sami", "tao", "gone", "bilal", "ml-a", "ml-b", "Machine", "learning",
    "Deep", "opal", "fatima", "rhea", "riverwatch", "lahore", "karachi", "low", "week1",
    "intro.ipynb", "main", "example.org", "git.example.org", "hub", "course.git", "hw1",
    "hw2", "gpu", "flood-prediction", "health", "h100", "a100", "programme", "x",
}  # fmt: skip
_LATIN = re.compile(r"[A-Za-z][A-Za-z0-9._-]*")
_ISOLATED = re.compile(f"{FSI}[^{PDI}]*{PDI}")
#: Elements whose text is not ours to translate: code samples and names kept in <bdi>.
_NOT_OURS = {"code", "bdi", "style", "script"}
_SEEN_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt")


class _Words(HTMLParser):
    """The Latin words of a page's text and visible attributes, outside code and names."""

    def __init__(self) -> None:
        super().__init__()
        self.words: list[str] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _NOT_OURS:
            self._depth += 1
        for name, value in attrs:
            if name in _SEEN_ATTRIBUTES and value:
                self._take(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in _NOT_OURS:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._depth == 0:
            self._take(data)

    def _take(self, text: str) -> None:
        self.words += _LATIN.findall(_ISOLATED.sub("", text))


def english_left(html: str) -> list[str]:
    """The Latin words of ``html`` that are neither product words nor the test's names."""
    parser = _Words()
    parser.feed(html)
    return [w for w in parser.words if w not in PRODUCT_WORDS and w.strip(".") not in NAMES]


def _rtl(html: str) -> None:
    assert '<html lang="ur" dir="rtl">' in html
    assert "bootstrap.rtl.min.css" in html
    assert 'class="ch-lang-current fw-semibold px-1" lang="ur">اردو<' in html
    assert english_left(html) == []


def _course(archived: bool = False) -> r.Course:
    return r.Course(
        id="ml-a",
        title="Machine <learning>",
        starts_on=date(2026, 1, 5),
        ends_on=date(2026, 6, 30),
        archived_at=datetime(2026, 7, 1, tzinfo=UTC) if archived else None,
        archived_by="opal" if archived else None,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        created_by="opal",
        members={"ines": "instructor", "tao": "ta", "sami": "student"},
        pool=r.Balance("ml-a", "course", Decimal(1500), Decimal(2), Decimal(1498)),
        sharing=r.Sharing("fixed", Decimal(40), Decimal(10), {"sami": Decimal(60)}),
        repository="https://git.example.org/course.git",
        branch="main",
    )


def _rows(course: r.Course) -> list[teaching.RosterRow]:
    use = {
        "sami": PoolUse("sami", Decimal("12.5"), Decimal(2), 3, NOW),
        "gone": PoolUse("gone", Decimal(1), Decimal(0), 1, NOW - timedelta(days=3)),
    }
    limit = r.CourseLimit("allowance", Decimal(40), Decimal("12.5"), Decimal("27.5"), None)
    shares = {"sami": r.CourseShare("ml-a", "sami", (limit,), date(2026, 6, 30))}
    return teaching.roster_rows(course, use, shares)


def test_the_course_list_in_urdu() -> None:
    courses = [_course(), _course(archived=True)]
    with use("ur"):
        html = coursepage.course_list("ines", courses, links=LINKS)
    _rtl(html)
    assert '<h1 class="h3 mb-4">آپ کے پڑھائے جانے والے کورس</h1>' in html
    # The term in Urdu's dates (Babel): "5 جنوری 2026 سے 30 جون 2026 تک".
    assert "5 جنوری 2026 سے 30 جون 2026 تک" in html
    assert "1,498.00" in html
    assert ">استاد<" in html
    assert ">محفوظ شدہ<" in html
    with use("en"):
        english = coursepage.course_list("ines", courses, links=LINKS)
    assert "2026-01-05 to 2026-06-30" in english
    assert english_left(english) != []  # the check does see English


@pytest.mark.parametrize("manage", [True, False], ids=["staff", "ta"])
def test_the_course_page_in_urdu(manage: bool) -> None:
    course = _course()
    plan = RosterPlan(
        "ml-a",
        add={"bilal": "student"},
        remove={"gone": "ta"},
        change=(RoleChange("tao", "ta", "instructor"),),
        unchanged=2,
    )
    work = Coursework(
        (
            Assignment("hw1", True, "2026-02-01 17:00", 3, 2, 7.5, 10.0),
            Assignment("hw2", False, None, 0, 0, 0.0, 10.0),
        )
    )
    view = coursepage.CourseView(
        course,
        "instructor" if manage else "ta",
        _rows(course),
        manage,
        "tok",
        notice="saved",
        roster=coursepage.RosterResult(plan, "bilal,student\n"),
        link=coursepage.PullLinkForm(hub="https://hub", path="week1/intro.ipynb", link="https://x"),
        coursework=work,
    )
    with use("ur"):
        html = coursepage.course_page("ines", view, links=LINKS)
    html = html.replace('id="ch-notice">saved<', 'id="ch-notice"><')  # the caller's words
    _rtl(html)
    assert "ہر طالب علم کے لیے سمسٹر بھر میں 40.00 کریڈٹ" in html
    assert "<bdi>Machine &lt;learning&gt;</bdi>" in html
    if manage:
        assert "<bdi>bilal</bdi> کو بطور طالب علم شامل کریں" in html
        assert "<bdi>tao</bdi> کو استاد بنائیں (پہلے تدریسی معاون)" in html
        assert 'placeholder="کورس کا حصہ"' in html


@pytest.mark.parametrize(
    "variant",
    ["refused-roster", "no-formgrader", "formgrader-down", "archived", "no-repo", "bad-link"],
)
def test_the_course_pages_other_states_in_urdu(variant: str) -> None:
    course = _course(archived=variant == "archived")
    if variant == "no-repo":
        course = r.Course(**{**course.__dict__, "repository": None, "branch": None})
    roster = (
        coursepage.RosterResult(None, "x", ((None, "not a roster"), (2, "no role")))
        if variant == "refused-roster"
        else None
    )
    coursework = {
        "no-formgrader": None,
        "formgrader-down": Coursework(None, "the formgrader did not answer"),
    }.get(variant, Coursework(()))
    link = coursepage.PullLinkForm()
    if variant == "bad-link":
        with use("ur"):
            try:
                pulllink.pull_link("https://hub", "https://git.example.org/course.git", "../x")
            except pulllink.LinkError as err:
                link = coursepage.PullLinkForm(hub="https://hub", path="../x", error=str(err))
        assert link.error.startswith("ریپوزٹری کے راستے میں")
    view = coursepage.CourseView(
        course,
        "instructor",
        _rows(course),
        True,
        "tok",
        roster=roster,
        link=link,
        allowance=coursepage.AllowanceForm("sami", "-3", "refused"),
        coursework=coursework,
    )
    with use("ur"):
        html = coursepage.course_page("ines", view, links=LINKS)
    # The caller's own sentences (a roster error, the formgrader's, a refusal) are theirs.
    for theirs in ("not a roster", "no role", "the formgrader did not answer", "refused"):
        html = html.replace(f"<bdi>{theirs}</bdi>", "<bdi></bdi>")
        html = html.replace(f">{theirs}<", "><")
    _rtl(html)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock=FakeClock()) as opened:
        opened.sync_rates(RATES, actor="site")
        yield opened


PROGRAMME = Programme.model_validate(
    {"categories": {"flood-prediction": {"title": "Flood prediction", "priority": True}}}
)
#: What the applicant and reviewers typed (shown as written, in <bdi>).
TYPED = {"Flood prediction", "Riverwatch Analytics", "Out of scope.", "Looks good", "More detail"}


def _applications(ledger: Ledger) -> list[Application]:
    def made(account: str) -> Application:
        return ledger.submit_application("fatima", proposal_for(account, new_account=True))

    one = made("riverwatch")
    ledger.comment_application(one.id, "Looks good", actor="rhea")
    ledger.recommend_application(one.id, "approve", actor="rhea", hours=None, message="")
    asked = ledger.request_application_changes(made("b-acct").id, "More detail", actor="opal")
    approved = ledger.approve_application(
        made("c-acct").id, actor="opal", hours="150", expires_on=date(2026, 12, 31)
    )
    rejected = ledger.reject_application(made("d-acct").id, "Out of scope.", actor="opal")
    return [ledger.application(one.id), asked, approved, rejected]


def _without_typed(html: str) -> str:
    """The page without what people typed (their words are not ours to translate)."""
    for words in sorted(TYPED | {"Flood prediction for the Indus basin", "Training flood "
                                 "forecasting models on satellite and gauge data."},
                        key=len, reverse=True):  # fmt: skip
        html = html.replace(words, "")
    return html


def test_the_applications_pages_in_urdu(ledger: Ledger) -> None:
    rows = _applications(ledger)
    rates = applypage.gpu_rates(ledger.rates())
    form = applypage.FormView(
        applypage.FormValues(gpu="a100", hours="200"), rates, ["fatima"], priced=True
    )
    with use("ur"):
        mine = applypage.apply_page(
            "fatima", rows, form, PROGRAMME, xsrf="t", review=True, notice="", links=LINKS
        )
        one = applypage.application_page(
            "opal",
            applypage.ApplicationView(
                rows[0],
                review=True,
                decide=True,
                edit=form,
                notice=applypage.notice_text("comment"),
            ),
            PROGRAMME,
            xsrf="t",
            links=LINKS,
        )
        queue = applypage.queue_page("rhea", rows[:2], PROGRAMME, now=NOW, links=LINKS)
        news = applypage.decisions_notice(rows[2:], LINKS)
    for html in (mine, one, queue):
        _rtl(_without_typed(html))
    assert english_left(_without_typed(news)) == []
    assert "آپ کی درخواستیں" in mine
    assert "کا فیصلہ" not in mine  # no machine-made mixtures
    assert "آپ کا تبصرہ شامل ہو گیا\N{ARABIC FULL STOP}" in one
    assert "ترجیحی زمرے" in queue
    # The decision's day in Urdu; the exact hours and credits in the locale's digits.
    assert "کریڈٹ 31 دسمبر 2026 تک خرچ کیے جا سکتے ہیں" in news


def _console(
    *,
    notice: str = "",
    error: str = "",
    answered: bool = True,
    applications: list[Application] | None = None,
) -> str:
    rows = [
        cs.SessionRow(1, "lahore", "project", "health", "h100", Decimal("2.5"), Decimal("25"),
                      Decimal("40"), True, NOW - timedelta(days=1)),
        cs.SessionRow(2, "karachi", "personal", None, "a100", Decimal(1), Decimal("6.0001"),
                      Decimal(10), False, NOW - timedelta(days=2)),
    ]  # fmt: skip
    chosen = cs.console(rows, NOW - timedelta(days=30), NOW)
    hubs = [
        cs.hub_now("lahore", "maintenance", [cs.GpuReading(4, 3, 0)], 0, 1, "Cooling work"),
        cs.hub_now("karachi", "up", [cs.GpuReading(None, None, None)], None, 0),
    ]
    tables = {"hubs": consoletables.hubs_table(hubs)}
    for by, found in chosen.by.items():
        tables[f"period-{by}"] = consoletables.period_table(by, found)
    tables["applications"] = consoletables.applications_table(applications or [])
    tables["funding"] = consoletables.funding_table(
        cs.funding({"programme": Decimal(100)}, {}, [], horizon=NOW)
    )
    tables["accounts"] = consoletables.accounts_table(
        [cs.AccountRow("low", "personal", Decimal(1), Decimal(0), NOW + timedelta(hours=3))]
    )
    view = consolepage.ConsoleView(
        tables=tables,
        total=consoletables.period_row(chosen.total),
        query={"since": "2026-03-01", "until": "2026-03-31"},
        hub_answered=answered,
        xsrf="tok",
        notice=notice,
        error=error,
    )
    return consolepage.render("opal", view, links=LINKS)


def test_the_operator_console_in_urdu(ledger: Ledger) -> None:
    with use("ur"):
        html = _console(
            notice=consolepage.notice_text("started"),
            error="",
            answered=False,
            applications=_applications(ledger)[:2],
        )
    _rtl(_without_typed(html.replace("Cooling work", "")))
    # An application's status and its organisation's kind in words, not the ledger's names.
    assert 'data-col="status">جمع شدہ، جائزے کی منتظر<' in html
    assert 'data-col="organisation_kind">اسٹارٹ اپ<' in html
    assert '<h1 class="h3 mb-3">آپریٹر کنسول</h1>' in html
    assert ">مرمت جاری ہے<" in html  # the hub's state in words
    assert "31 مارچ 2026، 15:00 UTC" in html  # Babel's date in Urdu
    # The figures' keys stay English for programs and tests; their titles are Urdu.
    assert 'data-figure="Credits charged">31.00<' in html
    assert 'direction="ltr"' in html  # the plots keep their left-to-right layout


def test_the_console_and_the_course_page_stay_english_by_default() -> None:
    html = _console()
    assert '<html lang="en" dir="ltr">' in html
    assert "Operator console" in html
    assert 'data-col="state">maintenance<' in html
    assert 'data-col="next_expiry_at">2026-03-31 15:00 UTC<' in html
    assert "<bdi>" not in html


async def test_the_home_pages_notice_of_a_decision_in_urdu(ledger: Ledger) -> None:
    from types import SimpleNamespace

    from computehub.credits.notices import Rules
    from computehub.spawners.usernotices import home_notices

    rejected = _applications(ledger)[3]
    found = home_notices(lambda: ledger, Rules(), clock=lambda: NOW)
    # The template passes the page's language (the declared type says no argument).
    reader: Any = found(SimpleNamespace(name="fatima"))
    notices = await reader("ur")
    said = [row["text"] for row in notices if row["kind"] == "decision"]
    title = f"{FSI}{rejected.proposal.title}{PDI}"
    assert f"آپ کی درخواست \u201c{title}\u201d: مسترد: {FSI}Out of scope.{PDI}" in said
    english = await reader("en")
    assert any(row["text"].startswith("Your application \u201c") for row in english)
