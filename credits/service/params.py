"""Parsing what callers send: query arguments and JSON bodies, refused with a 400.

Every limit and pattern here is also in the API's OpenAPI description
(:mod:`~computehub.credits.service.openapi` builds it from these names), so a client
can know what the service refuses before it asks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from computehub.credits.service.errors import ApiError

#: The most rows one page may hold.
MAX_LIMIT = 500
#: Rows a page holds when the caller does not say.
DEFAULT_LIMIT = 50
#: The largest ``before`` (ids are at most 18 digits here).
MAX_BEFORE = 10**18 - 1
#: The most units of a resource one estimate may price.
MAX_COUNT = 10_000
#: Largest JSON body accepted (a grant or a transfer is a few hundred bytes).
MAX_BODY = 16 * 1024
#: The longest free text (a note, a reason).
TEXT_MAX = 500
#: The longest account name a transfer may name (the column's size).
ACCOUNT_NAME_MAX = 80
#: The longest funding source a grant may name.
SOURCE_MAX = 64
#: The longest expiry a grant may carry.
EXPIRES_MAX = 40
#: A day: ``YYYY-MM-DD`` (RFC 3339 ``full-date``).
DAY_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
#: A time with its offset (RFC 3339 ``date-time``).
TIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
#: Text without a NUL character (the free-text fields).
NO_NUL_PATTERN = r"^[^\x00]*$"
# A positive decimal below one with at most 4 places: 0.0001 to 0.9999.
_BELOW_ONE = r"0\.(?:[1-9][0-9]{0,3}|0[1-9][0-9]{0,2}|00[1-9][0-9]?|000[1-9])"
#: An amount as clients write it: a positive decimal with at most 4 places, at most
#: 10^12 (:func:`~computehub.credits.money.parse_amount` reads more forms, such as
#: ``1e3``; this is the one the API describes).
AMOUNT_PATTERN = (
    rf"^(?:[1-9][0-9]{{0,11}}(?:\.[0-9]{{1,4}})?|1000000000000(?:\.0{{1,4}})?|{_BELOW_ONE})$"
)
#: Hours as clients write them: positive, at most 4 places, at most 87600 (ten years).
HOURS_PATTERN = (
    r"^(?:(?:[1-9][0-9]{0,3}|[1-7][0-9]{4}|8[0-6][0-9]{3}|87[0-5][0-9]{2})(?:\.[0-9]{1,4})?"
    rf"|87600(?:\.0{{1,4}})?|{_BELOW_ONE})$"
)
# ASCII digits only: str.isdigit() also takes "²" (int() then fails: a 500) and "١٢"
# (which int() reads as 12).
_WHOLE = re.compile(r"[0-9]{1,18}")
_DAY = re.compile(DAY_PATTERN)
_TIME = re.compile(TIME_PATTERN)
#: The latest moment a time can be (an expiry past it is as good as never).
_LAST = datetime.max.replace(tzinfo=UTC)


def _whole(raw: str) -> int | None:
    """``raw`` as a whole number written in ASCII digits, else None."""
    return int(raw) if _WHOLE.fullmatch(raw) else None


def page_limit(raw: str | None, default: int = DEFAULT_LIMIT) -> int:
    """``?limit=N``: 1 to :data:`~computehub.credits.service.params.MAX_LIMIT`."""
    if raw is None:
        return default
    value = _whole(raw)
    if value is None or not 1 <= value <= MAX_LIMIT:
        raise ApiError(400, f"limit must be a whole number from 1 to {MAX_LIMIT}, not {raw!r}")
    return value


def page_before(raw: str | None) -> int | None:
    """``?before=ID``: the last id of the previous page."""
    if raw is None:
        return None
    value = _whole(raw)
    if value is None:
        raise ApiError(400, f"before must be an id from the previous page, not {raw!r}")
    return value


def count(raw: str | None) -> int:
    """``?count=N``: how many units of the resource (default 1)."""
    if raw is None:
        return 1
    value = _whole(raw)
    if value is None or not 1 <= value <= MAX_COUNT:
        raise ApiError(400, f"count must be a whole number from 1 to {MAX_COUNT}, not {raw!r}")
    return value


def json_body(raw: bytes, limit: int = MAX_BODY) -> dict[str, Any]:
    """A JSON object; numbers with a fraction are read as exact decimals, never floats.

    Args:
        raw: the body.
        limit: the most bytes it may have (default
            :data:`~computehub.credits.service.params.MAX_BODY`; roster files more).
    """
    if len(raw) > limit:
        raise ApiError(413, f"the request body is larger than {limit} bytes")
    try:
        body = json.loads(raw or b"null", parse_float=Decimal)
    except ValueError:
        raise ApiError(400, "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


#: The most bytes of a roster file's body (a file of some thousands of people).
MAX_ROSTER_BODY = 1024 * 1024
#: The most characters of a roster file: escaped as JSON (at most 12 bytes each), it fits.
CSV_MAX = 64 * 1024


def text(
    body: Mapping[str, Any], key: str, *, required: bool = False, limit: int = TEXT_MAX
) -> str:
    """A string field; absent (or ``null``) gives ``""`` unless ``required``.

    A NUL character is refused: no text column stores one (PostgreSQL refuses it).
    """
    value = body.get(key)
    if value is None:
        if required:
            raise ApiError(400, f"{key!r} is required")
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise ApiError(400, f"{key!r} must be a string of at most {limit} characters")
    if "\x00" in value:
        raise ApiError(400, f"{key!r} must not contain a NUL character")
    return value


def number(body: Mapping[str, Any], key: str) -> str | int | Decimal:
    """An amount field as the ledger parses it: a decimal string, an integer or a decimal."""
    value = body.get(key)
    if value is None:
        raise ApiError(400, f'{key!r} is required (a decimal string such as "10.50")')
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ApiError(400, f'{key!r} must be a decimal string such as "10.50"')
    return value


def expiry(value: str) -> datetime | None:
    """``YYYY-MM-DD`` (spendable through that day, UTC) or an RFC 3339 time with its offset.

    A time beyond the last one Python can hold in UTC (the last day of year 9999) is
    that last moment: as good as never expiring. Whether it is in the future is the
    ledger's check, made when the grant is written (a 400 then).
    """
    if not value:
        return None
    if _DAY.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ApiError(400, f"expires {value!r} is not a day of the calendar") from None
        if day == date.max:
            return _LAST
        return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
    if not _TIME.fullmatch(value):
        raise ApiError(
            400, f"expires must be YYYY-MM-DD or a time with its UTC offset, not {value!r}"
        )
    try:
        moment = datetime.fromisoformat(value.upper())
    except ValueError:
        raise ApiError(400, f"expires {value!r} is not a time of the calendar") from None
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        # Within a day of the ends of what Python can hold: the ends themselves.
        moment = _LAST if moment.year > 1 else datetime.min.replace(tzinfo=UTC)
    return moment


def day(raw: str | None, what: str) -> datetime | None:
    """``?since=YYYY-MM-DD``: midnight UTC of that day."""
    if raw is None:
        return None
    try:
        if not _DAY.fullmatch(raw):
            raise ValueError(raw)
        return datetime.combine(date.fromisoformat(raw), time(), tzinfo=UTC)
    except ValueError:
        raise ApiError(400, f"{what} must be YYYY-MM-DD, not {raw!r}") from None
