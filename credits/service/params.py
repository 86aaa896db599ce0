"""Parsing what callers send: query arguments and JSON bodies, refused with a 400."""

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
#: Largest JSON body accepted (a grant or a transfer is a few hundred bytes).
MAX_BODY = 16 * 1024
# ASCII digits only: str.isdigit() also takes "²" (int() then fails: a 500) and "١٢"
# (which int() reads as 12).
_WHOLE = re.compile(r"[0-9]{1,18}")


def _whole(raw: str) -> int | None:
    """``raw`` as a whole number written in ASCII digits, else None."""
    return int(raw) if _WHOLE.fullmatch(raw) else None


def page_limit(raw: str | None, default: int = 50) -> int:
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
    if value is None or not 1 <= value <= 10_000:
        raise ApiError(400, f"count must be a whole number from 1 to 10000, not {raw!r}")
    return value


def json_body(raw: bytes) -> dict[str, Any]:
    """A JSON object; numbers with a fraction are read as exact decimals, never floats."""
    if len(raw) > MAX_BODY:
        raise ApiError(413, f"the request body is larger than {MAX_BODY} bytes")
    try:
        body = json.loads(raw or b"null", parse_float=Decimal)
    except ValueError:
        raise ApiError(400, "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


def text(body: Mapping[str, Any], key: str, *, required: bool = False, limit: int = 500) -> str:
    """A string field; absent gives ``""`` unless ``required``."""
    value = body.get(key)
    if value is None:
        if required:
            raise ApiError(400, f"{key!r} is required")
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise ApiError(400, f"{key!r} must be a string of at most {limit} characters")
    return value


def number(body: Mapping[str, Any], key: str) -> str | int | Decimal:
    """An amount field as the ledger parses it: a decimal string, an integer or a decimal."""
    value = body.get(key)
    if value is None:
        raise ApiError(400, f'{key!r} is required (a decimal string such as "10.50")')
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ApiError(400, f'{key!r} must be a decimal string such as "10.50"')
    return value


def expiry(value: str, now: datetime) -> datetime | None:
    """``YYYY-MM-DD`` (spendable through that day, UTC) or an ISO time with its offset."""
    if not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(400, f"expires must be YYYY-MM-DD or an ISO time, not {value!r}") from None
    if moment.tzinfo is None:
        raise ApiError(400, f"expires {value!r} needs a UTC offset (e.g. +00:00)")
    if moment <= now:
        raise ApiError(400, f"expires {value!r} is not in the future")
    return moment


def day(raw: str | None, what: str) -> datetime | None:
    """``?since=YYYY-MM-DD``: midnight UTC of that day."""
    if raw is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(raw), time(), tzinfo=UTC)
    except ValueError:
        raise ApiError(400, f"{what} must be YYYY-MM-DD, not {raw!r}") from None
