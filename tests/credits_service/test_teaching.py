"""The instructor's page without a hub: its roster rows, CSV export and escaping."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from computehub.credits import records as r
from computehub.credits.courseuse import PoolUse
from computehub.credits.service import coursepage, page, teaching

_POOL = r.Balance("ml-a", "course", Decimal(500), Decimal(2), Decimal(498))


def _course(members: dict[str, str], sharing: r.Sharing | None = None) -> r.Course:
    return r.Course(
        id="ml-a",
        title="Machine <learning>",
        starts_on=date(2026, 1, 5),
        ends_on=date(2026, 6, 30),
        archived_at=None,
        archived_by=None,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        created_by="opal",
        members=members,
        pool=_POOL,
        sharing=sharing or r.Sharing(),
    )


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("sami", "sami"),
        ("10.00", "10.00"),
        ("", ""),
    ],
    ids=["equals", "plus", "minus", "at", "tab", "name", "amount", "empty"],
)
def test_csv_cells_never_start_a_formula(cell: str, safe: str) -> None:
    assert teaching.safe_cell(cell) == safe


def test_roster_rows_and_csv_show_each_use_staff_first() -> None:
    course = _course(
        {"sami": "student", "ines": "instructor", "tao": "ta", "=evil": "student"},
        r.Sharing(weekly_cap=Decimal(10), students={"sami": Decimal(60)}),
    )
    used = {
        "sami": PoolUse("sami", Decimal("3.5"), Decimal(2), 3, datetime(2026, 2, 1, 9, 30)),
        "gone": PoolUse("gone", Decimal(1), Decimal(0), 1, datetime(2026, 1, 9, tzinfo=UTC)),
    }
    limit = r.CourseLimit("weekly cap", Decimal(10), Decimal("5.5"), Decimal("4.5"), None)
    shares = {
        "sami": r.CourseShare("ml-a", "sami", (limit,), date(2026, 6, 30)),
        "=evil": r.CourseShare("ml-a", "=evil", (), date(2026, 6, 30)),
    }
    rows = teaching.roster_rows(course, used, shares)
    assert [row.username for row in rows] == ["ines", "tao", "=evil", "sami", "gone"]
    table = list(csv.reader(io.StringIO(teaching.roster_csv(rows))))
    assert table[0] == list(teaching.CSV_HEADER)
    by_user = {line[0]: line for line in table[1:]}
    assert by_user["sami"] == [
        "sami",
        "student",
        "5.50",
        "3.50",
        "2.00",
        "3",
        "2026-02-01 09:30",
        "4.50",
        "60.00",
    ]
    assert by_user["'=evil"][1:] == ["student", "0.00", "0.00", "0.00", "0", "", "no limit", ""]
    assert by_user["gone"][1] == teaching.NOT_ENROLLED
    assert by_user["ines"][-1] == ""


def test_sharing_in_words() -> None:
    assert teaching.sharing_in_words(r.Sharing()).startswith("No limit")
    text = teaching.sharing_in_words(
        r.Sharing("fixed", Decimal(40), Decimal(10), {"sami": Decimal(60)})
    )
    assert text == (
        "40.00 credits per student for the term and at most 10.00 credits per student a week;"
        " 1 student with an allowance of their own."
    )


@pytest.mark.parametrize("manage", [True, False], ids=["staff", "ta"])
def test_the_page_escapes_and_shows_forms_to_staff_only(manage: bool) -> None:
    course = _course({"<b>x</b>": "student", "ines": "instructor"})
    rows = teaching.roster_rows(course, {}, {})
    view = coursepage.CourseView(course, "instructor" if manage else "ta", rows, manage, 'tok"en')
    html = coursepage.course_page("ines", view, links=page.Links(service="/services/credits/"))
    assert "<b>x</b>" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert "Machine &lt;learning&gt;" in html
    assert 'id="ch-coursework"' in html
    assert "No repository of course materials" in html
    assert ('id="ch-repository-form"' in html) is manage
    assert ('id="ch-roster-form"' in html) is manage
    assert ('id="ch-sharing-form"' in html) is manage
    assert ('value="tok&quot;en"' in html) is manage
    assert 'href="/services/credits/courses/ml-a/roster.csv"' in html
    assert "<script" not in html


def test_a_dry_run_offers_to_apply_the_same_file() -> None:
    from computehub.credits.roster import RosterPlan

    course = _course({"ines": "instructor"})
    plan = RosterPlan("ml-a", add={"bilal": "student"}, remove={}, change=(), unchanged=1)
    result = coursepage.RosterResult(plan, "ines,instructor\nbilal,student\n")
    view = coursepage.CourseView(course, "instructor", [], True, "t", roster=result)
    html = coursepage.course_page("ines", view, links=page.Links())
    assert "add bilal as student" in html
    assert 'value="ines,instructor\nbilal,student\n"' in html
    assert 'id="ch-roster-apply"' in html


def test_the_page_shows_the_repository_and_the_link_it_made() -> None:
    course = dataclasses.replace(
        _course({"ines": "instructor"}),
        repository='https://git.example.org/"x<y>.git',
        branch="main",
    )
    link = 'https://hub/hub/user-redirect/git-pull?repo=a"b'
    view = coursepage.CourseView(
        course,
        "ta",
        [],
        False,
        "t",
        link=coursepage.PullLinkForm(hub="https://hub", path="a.ipynb", link=link),
    )
    html = coursepage.course_page("tia", view, links=page.Links())
    assert 'id="ch-repository">https://git.example.org/&quot;x&lt;y&gt;.git</code>' in html
    assert (
        'id="ch-link" readonly value="https://hub/hub/user-redirect/git-pull?repo=a&quot;b"' in html
    )
    assert 'id="ch-repository-form"' not in html
    assert 'id="ch-link-form"' in html
    refused = dataclasses.replace(
        view, link=coursepage.PullLinkForm(hub="https://hub", path="../x", error="no '..' <parts>")
    )
    html = coursepage.course_page("tia", refused, links=page.Links())
    assert 'id="ch-link-error">no &#x27;..&#x27; &lt;parts&gt;</p>' in html
    assert 'id="ch-link"' not in html
    assert "<script" not in html


def _allowance_cells(html: str) -> dict[str, str]:
    """``tr[data-username]`` -> the HTML of its ``td.ch-allowance`` cell."""
    found = re.findall(
        r'<tr data-username="([^"]*)">.*?<td class="ch-allowance">(.*?)</td></tr>', html
    )
    return dict(found)


@pytest.mark.parametrize("manage", [True, False], ids=["staff", "ta"])
def test_each_students_own_allowance_shows_and_staff_get_a_form(manage: bool) -> None:
    course = _course(
        {"sami": "student", "s@m": "student", "ines": "instructor"},
        r.Sharing("equal", students={"sami": Decimal(60)}),
    )
    rows = teaching.roster_rows(course, {}, {})
    assert {row.username: row.own_allowance for row in rows} == {
        "ines": None,
        "s@m": None,
        "sami": Decimal(60),
    }
    view = coursepage.CourseView(course, "instructor" if manage else "ta", rows, manage, "tok")
    html = coursepage.course_page("ines", view, links=page.Links(service="/services/credits/"))
    cells = _allowance_cells(html)
    assert cells["ines"] == "—"
    if not manage:
        assert cells == {"ines": "—", "s@m": "course share", "sami": "60.00"}
        assert "ch-allowance-form" not in html
        return
    assert (
        '<form method="post" action="/services/credits/courses/ml-a/allowances/sami"'
        in cells["sami"]
    )
    assert 'name="allowance" value="60.00"' in cells["sami"]
    assert '<input type="hidden" name="_xsrf" value="tok">' in cells["sami"]
    assert 'action="/services/credits/courses/ml-a/allowances/s%40m"' in cells["s@m"]
    assert 'name="allowance" value=""' in cells["s@m"]
    assert "ch-allowance-error" not in html
    assert "<script" not in html


def test_a_refused_allowance_keeps_what_was_typed_and_says_why() -> None:
    course = _course({"sami": "student", "ines": "instructor"})
    rows = teaching.roster_rows(course, {}, {})
    refused = coursepage.AllowanceForm("sami", '-5"<x>', "The allowance of sami was <not> saved.")
    view = coursepage.CourseView(course, "instructor", rows, True, "t", allowance=refused)
    html = coursepage.course_page("ines", view, links=page.Links())
    assert (
        '<p class="alert alert-danger mt-2" id="ch-allowance-error">'
        "The allowance of sami was &lt;not&gt; saved.</p>"
    ) in html
    cell = _allowance_cells(html)["sami"]
    assert "ch-allowance-input is-invalid" in cell
    assert 'value="-5&quot;&lt;x&gt;"' in cell
