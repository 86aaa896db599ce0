"""A course's assignments as its formgrader reports them, for the instructor's page.

Each graded course (the site file's ``nbgrader.courses``) has a formgrader service;
the hub gives this service its loopback address and a token that opens that one
formgrader (``computehub.nbgraderhub.status_reader``). What a formgrader answers is
what its course's staff could make it say: it is shown to them only, checked field by
field, capped in size, and never trusted for anything else.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from computehub.i18n import _
from computehub.i18n.catalog import isolate

#: One answer's limit: a course's assignment list is a few kB.
MAX_BODY = 1024 * 1024
TIMEOUT_S = 5.0
#: Assignments listed at most (the formgrader keeps the rest).
MAX_ASSIGNMENTS = 100

#: ``fetch(url, token) -> parsed JSON``; raises
#: :class:`~computehub.credits.service.formgraders.FormgraderError`.
Fetch = Callable[[str, str], Awaitable[Any]]


class FormgraderError(Exception):
    """The formgrader did not answer, or not with what it should; the message says which."""


@dataclass(frozen=True)
class Assignment:
    """One assignment of a course, as its gradebook has it.

    Attributes:
        name: the assignment's id.
        released: whether students can fetch it.
        due: when it is due, as the formgrader shows it, or ``None``.
        collected: students whose submission was collected into the gradebook.
        autograded: of those, the ones autograded.
        average: the average score of the collected submissions.
        max_score: the assignment's total points.
    """

    name: str
    released: bool
    due: str | None
    collected: int
    autograded: int
    average: float
    max_score: float


@dataclass(frozen=True)
class Coursework:
    """What the page shows of a graded course: its assignments, or why not.

    Attributes:
        assignments: the assignments, or ``None`` when the formgrader did not answer.
        error: why there are none to show (a sentence), or ``""``.
    """

    assignments: tuple[Assignment, ...] | None
    error: str = ""


async def _fetch(url: str, token: str) -> Any:
    request = HTTPRequest(
        url,
        headers={"Authorization": f"token {token}", "Accept": "application/json"},
        request_timeout=TIMEOUT_S,
        connect_timeout=TIMEOUT_S,
        follow_redirects=False,
    )
    client = AsyncHTTPClient(force_instance=True, max_body_size=MAX_BODY)
    try:
        response = await client.fetch(request)
    except HTTPClientError as err:
        raise FormgraderError(f"it answered {err.code}") from None
    except OSError as err:
        raise FormgraderError(f"it does not answer ({err.strerror or err})") from None
    finally:
        client.close()
    try:
        return json.loads(response.body)
    except ValueError:
        raise FormgraderError("its answer is not JSON") from None


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0.0
    return float(value)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _text(value: Any, limit: int = 200) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def parse_assignments(listed: Any) -> list[dict[str, Any]]:
    """The formgrader's ``/api/assignments`` answer, keeping well-formed entries only."""
    if not isinstance(listed, list):
        raise FormgraderError("its list of assignments is not a list")
    return [a for a in listed[:MAX_ASSIGNMENTS] if isinstance(a, dict) and _text(a.get("name"))]


def autograded_count(submissions: Any) -> int:
    """How many of ``/api/submissions/<a>``'s entries were autograded."""
    if not isinstance(submissions, list):
        raise FormgraderError("its list of submissions is not a list")
    return sum(1 for s in submissions if isinstance(s, dict) and s.get("autograded") is True)


class FormgraderReader:
    """Reads each graded course's formgrader with that course's own token."""

    def __init__(self, formgraders: Mapping[str, Mapping[str, str]], fetch: Fetch = _fetch):
        self._formgraders = {course: dict(where) for course, where in formgraders.items()}
        self._fetch = fetch

    @classmethod
    def from_json(cls, text: str) -> FormgraderReader:
        """From ``$COMPUTEHUB_FORMGRADERS`` (set by the hub configuration).

        Raises:
            ValueError: not a JSON object of ``{"url": ..., "token": ...}`` per course.
        """
        data = json.loads(text)
        if not isinstance(data, dict) or not all(
            isinstance(v, dict)
            and isinstance(v.get("url"), str)
            and isinstance(v.get("token"), str)
            for v in data.values()
        ):
            raise ValueError("COMPUTEHUB_FORMGRADERS must map each course to its url and token")
        return cls(data)

    def graded(self, course: str) -> bool:
        """Whether ``course`` has a formgrader."""
        return course in self._formgraders

    async def coursework(self, course: str) -> Coursework | None:
        """The course's assignments; ``None`` for a course without a formgrader."""
        where = self._formgraders.get(course)
        if where is None:
            return None
        base, token = where["url"], where["token"]
        try:
            listed = parse_assignments(
                await self._fetch(f"{base}formgrader/api/assignments", token)
            )
            rows = []
            for entry in listed:
                name = str(entry["name"])
                autograded = 0
                if _count(entry.get("num_submissions")):
                    answer = await self._fetch(
                        f"{base}formgrader/api/submissions/{quote(name, safe='')}", token
                    )
                    autograded = autograded_count(answer)
                rows.append(
                    Assignment(
                        name=name[:200],
                        released=entry.get("status") == "released",
                        due=_text(entry.get("display_duedate")),
                        collected=_count(entry.get("num_submissions")),
                        autograded=autograded,
                        average=_number(entry.get("average_score")),
                        max_score=_number(entry.get("max_score")),
                    )
                )
        except FormgraderError as err:
            problem = isolate(str(err))
            return Coursework(
                None,
                _("The course's formgrader can't be read now: {problem}.").format(problem=problem),
            )
        return Coursework(tuple(rows))
