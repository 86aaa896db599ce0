"""The formgrader's answers as the instructor's page reads them: checked, capped, escaped.

A formgrader is code its course's staff control: these tables give the reader what a
broken or hostile one could answer (the HTTP fetch is the seam; the real formgrader is
read in tests/hub/test_coursework.py).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from computehub.credits import records as r
from computehub.credits.service.coursepage import CourseView, course_page
from computehub.credits.service.formgraders import (
    MAX_ASSIGNMENTS,
    Coursework,
    FormgraderError,
    FormgraderReader,
)
from computehub.credits.service.page import Links

BASE = "http://127.0.0.1:9/services/ml/"


def _reader(answers: dict[str, Any]) -> FormgraderReader:
    async def fetch(url: str, token: str) -> Any:
        assert token == "t-ml"
        answer = answers[url.removeprefix(BASE)]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return FormgraderReader({"ml": {"url": BASE, "token": "t-ml"}}, fetch)


ONE = {"name": "ps1", "status": "released", "num_submissions": 2, "average_score": 0.5,
       "max_score": 1, "display_duedate": "2026-12-10 17:00:00 UTC"}  # fmt: skip
SUBS = [{"student": "a", "autograded": True}, {"student": "b", "autograded": False}]


async def test_a_course_without_a_formgrader_has_no_coursework() -> None:
    assert await _reader({}).coursework("other") is None


@pytest.mark.parametrize(
    ("answers", "names", "autograded", "error"),
    [
        ({"formgrader/api/assignments": [ONE], "formgrader/api/submissions/ps1": SUBS},
         ["ps1"], [1], ""),
        ({"formgrader/api/assignments": []}, [], [], ""),
        # Entries without a name, or not objects, are left out.
        ({"formgrader/api/assignments": [{"status": "released"}, "x", {"name": ""}]}, [], [], ""),
        # Odd numbers become 0 rather than breaking the page.
        ({"formgrader/api/assignments": [{**ONE, "num_submissions": -3, "average_score": "9"}]},
         ["ps1"], [0], ""),
        ({"formgrader/api/assignments": {"not": "a list"}}, None, None, "not a list"),
        ({"formgrader/api/assignments": [ONE], "formgrader/api/submissions/ps1": "x"},
         None, None, "submissions is not a list"),
        ({"formgrader/api/assignments": FormgraderError("it answered 403")}, None, None, "403"),
    ],
)  # fmt: skip
async def test_the_formgraders_answer_is_checked(
    answers: dict[str, Any],
    names: list[str] | None,
    autograded: list[int] | None,
    error: str,
) -> None:
    work = await _reader(answers).coursework("ml")
    assert work is not None
    if names is None:
        assert work.assignments is None
        assert error in work.error
        assert work.error.startswith("The course's formgrader can't be read now")
        return
    assert work.assignments is not None
    assert [a.name for a in work.assignments] == names
    assert [a.autograded for a in work.assignments] == autograded
    assert work.error == ""


async def test_a_long_list_is_capped() -> None:
    many = [{"name": f"a{i}", "status": "draft"} for i in range(MAX_ASSIGNMENTS + 50)]
    work = await _reader({"formgrader/api/assignments": many}).coursework("ml")
    assert work is not None
    assert work.assignments is not None
    assert len(work.assignments) == MAX_ASSIGNMENTS


@pytest.mark.parametrize(
    "text",
    ["[]", '{"ml": {"url": 1, "token": "t"}}', '{"ml": "x"}', "{"],
)
def test_a_wrong_formgraders_setting_is_refused(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (json's and ours, both ValueError)
        FormgraderReader.from_json(text)


def _course() -> r.Course:
    return r.Course(
        id="ml", title="ML", starts_on=date(2026, 9, 1), ends_on=date(2027, 1, 31),
        archived_at=None, archived_by=None, created_at=datetime(2026, 8, 1, tzinfo=UTC),
        created_by="opal", members={"t": "instructor", "a": "student", "b": "student"},
        pool=r.Balance("ml", "course", Decimal(50), Decimal(0), Decimal(50)),
    )  # fmt: skip


async def test_the_page_escapes_what_the_formgrader_says() -> None:
    hostile = {**ONE, "name": '<script>x</script>"', "display_duedate": "<b>soon</b>"}
    work = await _reader(
        {
            "formgrader/api/assignments": [hostile],
            "formgrader/api/submissions/%3Cscript%3Ex%3C%2Fscript%3E%22": SUBS,
        }
    ).coursework("ml")
    view = CourseView(course=_course(), role="instructor", rows=(), manage=True, xsrf="x",
                      coursework=work)  # fmt: skip
    html = course_page("t", view, links=Links())
    assert "<script>x" not in html
    assert "&lt;script&gt;x&lt;/script&gt;&quot;" in html
    assert "<b>soon</b>" not in html
    assert "<td>2 of 2</td><td>1</td><td>0.5 of 1</td>" in html
    assert 'href="/services/ml/formgrader"' in html


def test_the_page_says_when_the_formgrader_is_down_or_absent() -> None:
    error = "The course's formgrader can't be read now: it does not answer (refused)."
    down = CourseView(
        course=_course(), role="ta", rows=(), manage=False, xsrf="x",
        coursework=Coursework(None, error),
    )  # fmt: skip
    html = course_page("t", down, links=Links())
    assert "it does not answer" in html
    assert 'id="ch-formgrader"' in html
    absent = CourseView(course=_course(), role="ta", rows=(), manage=False, xsrf="x")
    html = course_page("t", absent, links=Links())
    assert "nbgrader.courses" in html
    assert 'id="ch-formgrader"' not in html
