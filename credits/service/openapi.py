"""The OpenAPI 3.1 description of the REST API, written by hand.

It declares every constraint the handlers enforce (ranges, patterns, lengths, required
fields, the idempotency key's bounds), built from the same names the handlers check
with (:mod:`~computehub.credits.service.params`, :mod:`~computehub.credits.names`,
:mod:`~computehub.credits.keys`): a request the description allows is never refused
as malformed, and one it forbids is never accepted. What JSON Schema cannot say (an
expiry in the future, an account that exists, a hub that prices the resource) is
said in words. Tests check that every route in
:data:`~computehub.credits.service.app.API_ROUTES` and each of its methods is
described here, and fuzz the running service with this description
(``tests/credits_service/test_openapi_fuzz.py``).
"""

from __future__ import annotations

import re
from typing import Any

from computehub.credits.applications import (
    CATEGORY_PATTERN,
    GPU_PATTERN,
    LINE_PATTERN,
    ORGANISATION_KINDS,
    PARAGRAPH_PATTERN,
    STATUS_FILTERS,
    SUMMARY_MAX,
)
from computehub.credits.applications import TITLE_MAX as APPLICATION_TITLE_MAX
from computehub.credits.courses import (
    BRANCH_PATTERN,
    REPOSITORY_PATTERN,
    TITLE_MAX,
    TITLE_PATTERN,
)
from computehub.credits.keys import CLIENT_KEY_MAX
from computehub.credits.models import (
    AccountKind,
    ApplicationAction,
    ApplicationStatus,
    EntryKind,
    HoldStatus,
)
from computehub.credits.money import MAX_AMOUNT, MAX_HOURS
from computehub.credits.names import (
    ACCOUNT_PATTERN,
    DEFAULT_SOURCE,
    HUB_PATTERN,
    RESOURCE_MAX,
    SOURCE_PATTERN,
    USER_PATTERN,
)
from computehub.credits.service import params
from computehub.sitefile.schema import RESOURCE_RE

_AMOUNT = {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2,4}$", "example": "37.50"}
#: The JupyterHub server a session runs in (migration 0012).
_SERVER_NAME = {
    "type": "string",
    "maxLength": 255,
    "description": "the JupyterHub server the session runs in; empty: the user's default "
    "server (also every session recorded before server names were kept)",
}
#: Where a session's energy figure came from.
_ENERGY_SOURCE = {
    "type": ["string", "null"],
    "description": "nvml: measured by the node; simulated: the demo's simulated GPUs (not a "
    "measurement); null: no energy recorded",
}
_TIME = {"type": "string", "format": "date-time"}
_ERROR = {"$ref": "#/components/schemas/Error"}


def _ecma(pattern: str) -> str:
    """A Python pattern as JSON Schema (ECMA 262) writes it: named groups unnamed."""
    return re.sub(r"\(\?P<\w+>", "(?:", pattern)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _page(field: str, item: str) -> dict[str, Any]:
    """A page of an account's ``field`` (items of schema ``item``), newest first."""
    return {
        "type": "object",
        "properties": {
            "account": {"type": "string"},
            field: {"type": "array", "items": _ref(item)},
            "next_before": {"type": ["integer", "null"]},
        },
    }


def _errors(*codes: int) -> dict[str, Any]:
    words = {
        400: "bad input (amount, limit, names)",
        401: "no valid token or login",
        402: "not enough credit: says available and requested",
        403: "the token's scopes or the caller's role do not allow it",
        404: "unknown account (operators) or nothing to show",
        409: "conflicts with the ledger (an idempotency key reused for another operation, "
        "the same account twice)",
        413: f"the body is larger than {params.MAX_BODY} bytes "
        f"({params.MAX_ROSTER_BODY} for a roster file)",
        422: "well-formed but refused: a term that ends before it starts; a roster file "
        "with bad lines (each one in errors)",
    }
    return {str(code): _answer(words[code], _ERROR) for code in codes}


def _query(name: str, description: str, schema: dict[str, Any], *, required: bool = False) -> Any:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def _text(limit: int, **more: Any) -> dict[str, Any]:
    """Optional free text: a string of at most ``limit`` characters, no NUL; or null."""
    return {
        "type": ["string", "null"],
        "maxLength": limit,
        "pattern": params.NO_NUL_PATTERN,
        **more,
    }


#: An account as a path segment: any name (an unknown one is a 404, or a 403).
_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1},
}
_PAGE = [
    _query(
        "limit",
        f"rows per page (1-{params.MAX_LIMIT}, default {params.DEFAULT_LIMIT})",
        {
            "type": "integer",
            "minimum": 1,
            "maximum": params.MAX_LIMIT,
            "default": params.DEFAULT_LIMIT,
        },
    ),
    _query(
        "before",
        "the next_before of the previous page",
        {"type": "integer", "minimum": 0, "maximum": params.MAX_BEFORE},
    ),
]
#: A day in a query: ``YYYY-MM-DD``.
_DAY = {"type": "string", "format": "date", "pattern": params.DAY_PATTERN}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["message"],
        "properties": {
            "message": {"type": "string"},
            "account": {"type": "string"},
            "available": _AMOUNT,
            "requested": _AMOUNT,
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "line": {"type": ["integer", "null"]},
                        "message": {"type": "string"},
                    },
                },
            },
        },
    },
    "Course": {
        "type": "object",
        "description": "a course: its id is its credit pool's account name; materials: "
        "the git repository its students pull with nbgitpuller links",
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "term": {
                "type": "object",
                "properties": {
                    "starts_on": {"type": "string", "format": "date"},
                    "ends_on": {"type": "string", "format": "date"},
                },
            },
            "archived_at": {"type": ["string", "null"], "format": "date-time"},
            "archived_by": {"type": ["string", "null"]},
            "role": {"type": ["string", "null"]},
            "instructors": {"type": "array", "items": {"type": "string"}},
            "tas": {"type": "array", "items": {"type": "string"}},
            "pool": {"$ref": "#/components/schemas/Account"},
            "resources": {
                "type": "array",
                "description": "what the site file keeps for the course's people",
                "items": {
                    "type": "object",
                    "properties": {"hub": {"type": "string"}, "resource": {"type": "string"}},
                },
            },
            "sharing": {
                "type": "object",
                "description": "how the pool is shared among its students (credits); "
                "students: each student's own allowance, for its staff, TAs, operators",
                "properties": {
                    "unit": {"enum": ["credits"]},
                    "share": {"enum": ["equal", "fixed", None]},
                    "allowance": {"anyOf": [{"type": "null"}, _AMOUNT]},
                    "weekly_cap": {"anyOf": [{"type": "null"}, _AMOUNT]},
                    "students": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "username": {"type": "string"},
                                "allowance": _AMOUNT,
                            },
                        },
                    },
                },
            },
            "materials": {
                "anyOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "properties": {
                            "repository": {"type": "string"},
                            "branch": {"type": ["string", "null"]},
                        },
                    },
                ]
            },
            "roster": {
                "type": "array",
                "description": "for the course's staff, TAs and operators",
                "items": {
                    "type": "object",
                    "properties": {"username": {"type": "string"}, "role": {"type": "string"}},
                },
            },
        },
    },
    "RosterPlan": {
        "type": "object",
        "properties": {
            "course": {"type": "string"},
            "applied": {"type": "boolean"},
            "add": {"type": "array", "items": {"type": "object"}},
            "remove": {"type": "array", "items": {"type": "object"}},
            "change": {"type": "array", "items": {"type": "object"}},
            "unchanged": {"type": "integer"},
        },
    },
    "Account": {
        "type": "object",
        "properties": {
            "account": {"type": "string"},
            "kind": {"enum": [str(kind) for kind in AccountKind]},
            "role": {"type": ["string", "null"]},
            "balance": _AMOUNT,
            "held": _AMOUNT,
            "available": _AMOUNT,
            "next_expiry_at": {"type": ["string", "null"], "format": "date-time"},
            "expiring_soon": {
                "type": ["object", "null"],
                "properties": {"amount": _AMOUNT, "at": _TIME},
            },
            "members": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
    "Entry": {
        "type": "object",
        "description": "one entry of the account's journal (API v1 calls them transactions)",
        "properties": {
            "id": {"type": "integer"},
            "kind": {"enum": [str(kind) for kind in EntryKind]},
            "pending": {"type": "boolean"},
            "amount": _AMOUNT,
            "change": {"type": "string", "example": "-10.00"},
            "effect": {
                "type": "object",
                "description": (
                    "what the entry did to the account's balance and to its available "
                    "credit, exact and always signed (a hold's release gives credit back: "
                    "+ on available, ±0 on balance); see docs/money.md"
                ),
                "properties": {
                    "balance": {"type": "string", "example": "0.0000"},
                    "available": {"type": "string", "example": "+6.9475"},
                },
            },
            "meaning": {"type": "string", "example": "returned to available"},
            "counterparty": {"type": "string"},
            "actor": {"type": "string"},
            "reason": {"type": "string"},
            "created_at": _TIME,
            "hold_id": {"type": ["integer", "null"]},
        },
    },
    "Session": {
        "type": "object",
        "properties": {
            "hold_id": {"type": "integer"},
            "account": {"type": "string"},
            "hub": {"type": "string"},
            "job_id": {"type": ["string", "null"]},
            "status": {"enum": [str(status) for status in HoldStatus]},
            "user": {"type": "string"},
            "hours": _AMOUNT,
            "hold": _AMOUNT,
            "per_hour": _AMOUNT,
            "resources": {"type": "object", "additionalProperties": {"type": "integer"}},
            "rates": {"type": "object", "additionalProperties": _AMOUNT},
            "created_at": _TIME,
            "closed_at": {"type": ["string", "null"], "format": "date-time"},
            "charged": {"type": ["string", "null"]},
            "cost": {"type": ["string", "null"]},
            "end_note": {
                "type": ["string", "null"],
                "description": "why the session ended, when its user did not end it",
            },
            "energy_wh": {
                "type": ["string", "null"],
                "description": "the GPU energy its node measured (NVML), in watt-hours",
            },
            "energy": {"enum": ["measured", "unknown", "pending"]},
            "energy_source": _ENERGY_SOURCE,
            "server_name": _SERVER_NAME,
        },
    },
    "CurrentSession": {
        "type": "object",
        "required": [
            "account",
            "hub",
            "job_id",
            "available",
            "hold",
            "cost_so_far",
            "burn_rate_per_hour",
            "started_at",
            "funded_until",
        ],
        "properties": {
            "account": {"type": "string"},
            "hub": {"type": "string"},
            "job_id": {"type": "string"},
            "available": _AMOUNT,
            "hold": _AMOUNT,
            "cost_so_far": _AMOUNT,
            "burn_rate_per_hour": _AMOUNT,
            "started_at": _TIME,
            "funded_until": _TIME,
            "course_limit": {
                "description": "a course's student paying from its pool: the limit that "
                "leaves them least (null: none)",
                "anyOf": [{"type": "null"}, {"$ref": "#/components/schemas/CourseLimit"}],
            },
            "hub_notice": {
                "type": ["string", "null"],
                "description": "what the user should know about the session's hub (it is "
                "in maintenance, with the operator's message); null: nothing",
            },
        },
    },
    "CourseLimit": {
        "type": "object",
        "required": ["course", "kind", "unit", "limit", "used", "left", "window", "resets_at"],
        "properties": {
            "course": {"type": "string"},
            "kind": {"enum": ["equal share", "allowance", "weekly cap"]},
            "unit": {"enum": ["credits"]},
            "limit": _AMOUNT,
            "used": {
                "allOf": [_AMOUNT],
                "description": "charged in the window and held by running sessions",
            },
            "left": _AMOUNT,
            "window": {"enum": ["week", "term"]},
            "resets_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "the weekly cap: next Monday 00:00 UTC; null for a term limit",
            },
        },
    },
    "Estimate": {
        "type": "object",
        "properties": {
            "account": {"type": "string"},
            "hub": {"type": "string"},
            "resource": {"type": "string"},
            "count": {"type": "integer"},
            "hours": _AMOUNT,
            "per_hour": _AMOUNT,
            "cost": _AMOUNT,
            "available": _AMOUNT,
            "affordable_hours": {"type": ["string", "null"]},
            "sufficient": {"type": "boolean"},
        },
    },
    "Grant": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "account": {"type": "string"},
            "source": {"type": "string"},
            "amount": _AMOUNT,
            "expires_at": {"type": ["string", "null"], "format": "date-time"},
            "note": {"type": "string"},
            "created_at": _TIME,
        },
    },
    "Transfer": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "from": {"type": "string"},
            "to": {"type": "string"},
            "amount": _AMOUNT,
            "created_at": _TIME,
        },
    },
}

#: A client's key, in the body (or the ``Idempotency-Key`` header). Keys are the
#: caller's own: another caller's, or the platform's, are never touched by them.
_KEY_WORDS = (
    "a repeat with the same key (yours: keys are per caller) and the same body returns "
    "the first result; with another body, a 409"
)
_IDEMPOTENCY_KEY = {
    "type": ["string", "null"],
    "pattern": f"^[!-~]{{0,{CLIENT_KEY_MAX}}}$",
    "description": f"{_KEY_WORDS}; empty or null: none (the header's, if sent)",
}
_IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": f"{_KEY_WORDS}; the body's idempotency_key wins over it",
    "schema": {"type": "string", "pattern": f"^[!-~]{{1,{CLIENT_KEY_MAX}}}$"},
}
#: An amount a client sends. JSON numbers with a fraction are read exactly too, but a
#: client's JSON library may have rounded them: send a string.
_AMOUNT_IN = {
    "anyOf": [
        {"type": "string", "pattern": params.AMOUNT_PATTERN, "example": "10.50"},
        {"type": "integer", "minimum": 1, "maximum": int(MAX_AMOUNT)},
    ],
    "description": "credits: a positive decimal string with at most 4 decimal places "
    f"(or a whole number), at most {int(MAX_AMOUNT)}",
}


def _body(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    """A JSON object body (at most :data:`~computehub.credits.service.params.MAX_BODY` bytes)."""
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object", "required": required, "properties": properties}
            }
        },
    }


_PATHS: dict[str, Any] = {
    "/accounts": {
        "get": {
            "summary": "The caller's accounts with balance, held, available, expiring soon",
            "description": "Scope custom:credits:read; ?user=NAME needs custom:credits:admin.",
            "parameters": [
                _query(
                    "user",
                    "another user (operators only); empty: yourself",
                    {"type": "string"},
                )
            ],
            "responses": {
                "200": _answer(
                    "accounts",
                    {
                        "type": "object",
                        "properties": {
                            "user": {"type": "string"},
                            "accounts": {"type": "array", "items": _ref("Account")},
                        },
                    },
                ),
                **_errors(401, 403),
            },
        }
    },
    "/accounts/{name}": {
        "get": {
            "summary": "One account's figures (members for owners, course staff, operators)",
            "parameters": [_NAME],
            "responses": {"200": _answer("the account", _ref("Account")), **_errors(401, 403, 404)},
        }
    },
    "/accounts/{name}/transactions": {
        "get": {
            "summary": "The account's history: its journal entries, newest first, paged",
            "description": "Personal/project: owner, members. Course: staff with "
            "custom:credits:instruct. Operators: any. (API v1 calls the entries "
            "transactions.)",
            "parameters": [_NAME, *_PAGE],
            "responses": {
                "200": _answer("a page", _page("transactions", "Entry")),
                **_errors(400, 401, 403, 404),
            },
        }
    },
    "/accounts/{name}/sessions": {
        "get": {
            "summary": "The account's sessions (holds and charges), newest first, paged",
            "description": "As its history; a course's students see their own sessions only.",
            "parameters": [_NAME, *_PAGE],
            "responses": {
                "200": _answer("a page", _page("sessions", "Session")),
                **_errors(400, 401, 403, 404),
            },
        }
    },
    "/accounts/{name}/grants": {
        "post": {
            "summary": "Grant credits into an account (custom:credits:admin)",
            "parameters": [_NAME, _IDEMPOTENCY_HEADER],
            "requestBody": _body(
                ["amount"],
                {
                    "amount": _AMOUNT_IN,
                    "expires": {
                        "anyOf": [
                            {"type": "null"},
                            {"type": "string", "maxLength": 0},
                            {"type": "string", **_DAY},
                            {
                                "type": "string",
                                "format": "date-time",
                                "pattern": params.TIME_PATTERN,
                                "maxLength": params.EXPIRES_MAX,
                            },
                        ],
                        "description": "YYYY-MM-DD (spendable through that day, UTC) or a "
                        "time with its UTC offset; in the future (else a 400); empty or "
                        "null: never",
                    },
                    "note": _text(params.TEXT_MAX),
                    "source": {
                        "anyOf": [
                            {"type": "null"},
                            {"type": "string", "maxLength": 0},
                            {"type": "string", "pattern": SOURCE_PATTERN},
                        ],
                        "default": DEFAULT_SOURCE,
                        "description": f"the funding source; empty or null: {DEFAULT_SOURCE}",
                    },
                    "idempotency_key": _IDEMPOTENCY_KEY,
                },
            ),
            "responses": {
                "201": _answer(
                    "granted",
                    {
                        "type": "object",
                        "properties": {"grant": _ref("Grant"), "balance": _ref("Account")},
                    },
                ),
                **_errors(400, 401, 403, 404, 409, 413),
            },
        }
    },
    "/transfers": {
        "post": {
            "summary": "Move credits (course staff: course to its students; operators: any)",
            "parameters": [_IDEMPOTENCY_HEADER],
            "requestBody": _body(
                ["from", "to", "amount"],
                {
                    "from": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": params.ACCOUNT_NAME_MAX,
                        "pattern": params.NO_NUL_PATTERN,
                    },
                    "to": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": params.ACCOUNT_NAME_MAX,
                        "pattern": params.NO_NUL_PATTERN,
                    },
                    "amount": _AMOUNT_IN,
                    "reason": _text(params.TEXT_MAX),
                    "idempotency_key": _IDEMPOTENCY_KEY,
                },
            ),
            "responses": {
                "201": _answer(
                    "moved",
                    {"type": "object", "properties": {"transfer": _ref("Transfer")}},
                ),
                **_errors(400, 401, 402, 403, 404, 409, 413),
            },
        }
    },
    "/rates": {
        "get": {
            "summary": "Credits per hour per unit, in force now",
            "parameters": [_query("hub", "only this hub", {"type": "string"})],
            "responses": {
                "200": _answer(
                    "rates",
                    {
                        "type": "object",
                        "properties": {
                            "rates": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "hub": {"type": "string"},
                                        "resource": {"type": "string"},
                                        "rate": _AMOUNT,
                                    },
                                },
                            }
                        },
                    },
                ),
                **_errors(401, 403),
            },
        }
    },
    "/estimate": {
        "get": {
            "summary": "Cost of a session and how many hours the account can afford",
            "description": "A hub that does not price the resource is a 404, as an unknown "
            "account is (to an operator; others get a 403 for accounts not theirs).",
            "parameters": [
                _query(
                    "account",
                    "the paying account",
                    {"type": "string", "minLength": 1},
                    required=True,
                ),
                _query(
                    "hub", "the AI hub", {"type": "string", "pattern": HUB_PATTERN}, required=True
                ),
                _query(
                    "resource",
                    "cpu, gpu:TYPE or mig:TYPE:PROFILE",
                    {
                        "type": "string",
                        "pattern": _ecma(RESOURCE_RE.pattern),
                        "maxLength": RESOURCE_MAX,
                    },
                    required=True,
                ),
                _query(
                    "count",
                    f"units of the resource (1-{params.MAX_COUNT}, default 1)",
                    {"type": "integer", "minimum": 1, "maximum": params.MAX_COUNT, "default": 1},
                ),
                _query(
                    "hours",
                    "walltime: a positive decimal with at most 4 places, at most 87600",
                    {"type": "string", "pattern": params.HOURS_PATTERN},
                    required=True,
                ),
            ],
            "responses": {
                "200": _answer("estimate", _ref("Estimate")),
                **_errors(400, 401, 403, 404),
            },
        }
    },
    "/sessions/current": {
        "get": {
            "summary": "The caller's running session, for the notebook widget",
            "description": "Call with the single-user server's JUPYTERHUB_API_TOKEN.",
            "responses": {
                "200": _answer("the session", _ref("CurrentSession")),
                **_errors(401, 403, 404),
            },
        }
    },
    "/reports": {
        "get": {
            "summary": "Charges summed by account, hub or resource (custom:credits:admin)",
            "parameters": [
                _query("since", "YYYY-MM-DD, inclusive", _DAY),
                _query("until", "YYYY-MM-DD, exclusive (default now)", _DAY),
                _query(
                    "by",
                    "account, hub or resource; empty: account",
                    {"enum": ["account", "hub", "resource", ""], "default": "account"},
                ),
            ],
            "responses": {
                "200": _answer(
                    "report",
                    {
                        "type": "object",
                        "properties": {
                            "by": {"type": "string"},
                            "rows": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "key": {"type": "string"},
                                        "credits": _AMOUNT,
                                        "resource_hours": _AMOUNT,
                                        "sessions": {"type": "integer"},
                                    },
                                },
                            },
                        },
                    },
                ),
                **_errors(400, 401, 403),
            },
        }
    },
    "/reports/energy": {
        "get": {
            "summary": "GPU energy and credits per kWh of the sessions settled in a period, "
            "by hub, account, GPU type or account kind (custom:credits:admin)",
            "parameters": [
                _query("since", "YYYY-MM-DD, inclusive (default: every session)", _DAY),
                _query("until", "YYYY-MM-DD, exclusive (default now)", _DAY),
                _query(
                    "by",
                    "hub, account, gpu or kind; empty: hub",
                    {"enum": ["hub", "account", "gpu", "kind", ""], "default": "hub"},
                ),
            ],
            "responses": {
                "200": _answer(
                    "energy report",
                    {
                        "type": "object",
                        "properties": {
                            "by": {"type": "string"},
                            "rows": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "key": {"type": "string"},
                                        "sessions": {"type": "integer"},
                                        "measured": {"type": "integer"},
                                        "unknown": {"type": "integer"},
                                        "pending": {"type": "integer"},
                                        "wh": _AMOUNT,
                                        "credits": _AMOUNT,
                                        "credits_measured": _AMOUNT,
                                        "credits_per_kwh": {"type": ["string", "null"]},
                                        "simulated": {
                                            "type": "integer",
                                            "description": "measured sessions whose figure "
                                            "came from simulated GPUs (the demo), not a node",
                                        },
                                    },
                                },
                            },
                        },
                    },
                ),
                **_errors(400, 401, 403, 422),
            },
        }
    },
    "/openapi.json": {
        "get": {
            "summary": "This description",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1 document"}},
        }
    },
}

_COURSE = {
    "name": "course",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1},
}
_DAY_IN = {"type": "string", "format": "date", "pattern": params.DAY_PATTERN}
_TITLE_IN = {"type": "string", "pattern": TITLE_PATTERN, "maxLength": TITLE_MAX}
_COURSE_PATHS: dict[str, Any] = {
    "/courses": {
        "get": {
            "summary": "The caller's courses, any role (operators: every course)",
            "parameters": [
                _query(
                    "archived",
                    "false: leave archived courses out",
                    {"enum": ["true", "false", ""], "default": "true"},
                )
            ],
            "responses": {
                "200": _answer(
                    "courses",
                    {
                        "type": "object",
                        "properties": {"courses": {"type": "array", "items": _ref("Course")}},
                    },
                ),
                **_errors(400, 401, 403),
            },
        },
        "post": {
            "summary": "Create a course (custom:credits:admin), of its course account if "
            "there is one",
            "description": "A term whose end precedes its start is a 422; an id that names "
            "another kind of account, or a course already made, a 409.",
            "requestBody": _body(
                ["id", "title", "starts_on", "ends_on"],
                {
                    "id": {"type": "string", "pattern": ACCOUNT_PATTERN},
                    "title": _TITLE_IN,
                    "starts_on": _DAY_IN,
                    "ends_on": _DAY_IN,
                    "owner": {
                        "anyOf": [
                            {"type": "null"},
                            {"type": "string", "maxLength": 0},
                            {"type": "string", "pattern": USER_PATTERN},
                        ],
                        "description": "a user who owns it (staff); empty or null: none",
                    },
                },
            ),
            "responses": {
                "201": _answer("created", _ref("Course")),
                **_errors(400, 401, 403, 409, 413, 422),
            },
        },
    },
    "/courses/{course}": {
        "get": {
            "summary": "One course: title, term, pool, resources (roster for its staff, TAs, "
            "operators)",
            "parameters": [_COURSE],
            "responses": {"200": _answer("the course", _ref("Course")), **_errors(401, 403, 404)},
        },
        "patch": {
            "summary": "Change a course's title or term (custom:credits:admin)",
            "description": "An archived course is a 409; a term whose end precedes its "
            "start a 422.",
            "parameters": [_COURSE],
            "requestBody": _body(
                [],
                {
                    "title": {"anyOf": [{"type": "null"}, _TITLE_IN]},
                    "starts_on": {"anyOf": [{"type": "null"}, _DAY_IN]},
                    "ends_on": {"anyOf": [{"type": "null"}, _DAY_IN]},
                },
            ),
            "responses": {
                "200": _answer("the course", _ref("Course")),
                **_errors(400, 401, 403, 404, 409, 413, 422),
            },
        },
    },
    "/courses/{course}/archive": {
        "post": {
            "summary": "Archive a course (custom:credits:admin): nothing more is spent from "
            "its pool or granted into it; its history stays readable",
            "parameters": [_COURSE],
            "responses": {
                "200": _answer("the course, archived", _ref("Course")),
                **_errors(401, 403, 404),
            },
        }
    },
    "/courses/{course}/sharing": {
        "put": {
            "summary": "Set how the course's pool is shared among its students (its "
            "instructors and owners, operators): an equal share or a fixed allowance for "
            "the term, and a weekly cap, in credits",
            "description": "The whole policy at once: a field left out or null is no such "
            "limit. A fixed share needs an allowance and only it has one (else a 422). An "
            "archived course: a 409.",
            "parameters": [_COURSE],
            "requestBody": _body(
                [],
                {
                    "share": {"enum": ["equal", "fixed", None]},
                    "allowance": {"anyOf": [{"type": "null"}, _AMOUNT_IN]},
                    "weekly_cap": {"anyOf": [{"type": "null"}, _AMOUNT_IN]},
                },
            ),
            "responses": {
                "200": _answer("the course", _ref("Course")),
                **_errors(400, 401, 403, 404, 409, 413, 422),
            },
        }
    },
    "/courses/{course}/repository": {
        "put": {
            "summary": "Set the git repository of the course's materials, pulled into its "
            "students' homes by nbgitpuller links (its instructors and owners, operators)",
            "description": "An https://, http:// or git:// URL without credentials or spaces "
            "(else a 400); null removes it (and its branch). branch: null for the default "
            "branch. An archived course: a 409.",
            "parameters": [_COURSE],
            "requestBody": _body(
                ["repository"],
                {
                    "repository": {
                        "anyOf": [
                            {"type": "null"},
                            {"type": "string", "maxLength": 500, "pattern": REPOSITORY_PATTERN},
                        ]
                    },
                    "branch": {
                        "anyOf": [
                            {"type": "null"},
                            {"type": "string", "maxLength": 200, "pattern": BRANCH_PATTERN},
                        ]
                    },
                },
            ),
            "responses": {
                "200": _answer("the course", _ref("Course")),
                **_errors(400, 401, 403, 404, 409, 413),
            },
        }
    },
    "/courses/{course}/allowances/{username}": {
        "put": {
            "summary": "Give one student their own allowance for the term, in credits "
            "(its instructors and owners, operators); null: the course's share again",
            "description": "Only a student of the course (else a 409); an archived course: a 409.",
            "parameters": [
                _COURSE,
                {
                    "name": "username",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": USER_PATTERN},
                },
            ],
            "requestBody": _body(
                ["allowance"], {"allowance": {"anyOf": [{"type": "null"}, _AMOUNT_IN]}}
            ),
            "responses": {
                "200": _answer("the course", _ref("Course")),
                **_errors(400, 401, 403, 404, 409, 413),
            },
        }
    },
    "/courses/{course}/roster": {
        "post": {
            "summary": "Load a roster file (username,role per line): a dry run shows what "
            "it changes; applied, it makes the roster what it says (owners aside)",
            "description": "The course's instructors and owners, and operators. Roles: "
            "instructor, ta, student. Any bad line: a 422 naming each, nothing changed. "
            "An archived course: a 409.",
            "parameters": [_COURSE],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["csv"],
                            "properties": {
                                "csv": {
                                    "type": "string",
                                    "maxLength": params.CSV_MAX,
                                    "pattern": params.NO_NUL_PATTERN,
                                },
                                "dry_run": {
                                    "type": ["boolean", "null"],
                                    "default": True,
                                    "description": "false: apply; true or null: only show",
                                },
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": _answer("what changes (or changed)", _ref("RosterPlan")),
                **_errors(400, 401, 403, 404, 409, 413, 422),
            },
        }
    },
}
_PATHS.update(_COURSE_PATHS)

_APPLICATION = {
    "name": "application",
    "in": "path",
    "required": True,
    "description": "the application's id",
    "schema": {"type": "string", "minLength": 1},
}
_LINE_IN = {"type": "string", "pattern": LINE_PATTERN, "maxLength": APPLICATION_TITLE_MAX}
_PARAGRAPH_IN = {"type": "string", "pattern": PARAGRAPH_PATTERN, "maxLength": SUMMARY_MAX}
_OPTIONAL_PARAGRAPH = {
    "anyOf": [{"type": "null"}, {"type": "string", "maxLength": 0}, _PARAGRAPH_IN]
}
_HOURS_IN = {
    "anyOf": [
        {"type": "string", "pattern": params.HOURS_PATTERN, "example": "200"},
        {"type": "integer", "minimum": 1, "maximum": int(MAX_HOURS)},
    ],
    "description": f"GPU-hours: positive, at most 4 decimal places, at most {int(MAX_HOURS)}",
}
_OPTIONAL_HOURS = {"anyOf": [{"type": "null"}, {"type": "string", "maxLength": 0}, _HOURS_IN]}
_APPLICATION_FIELDS = {
    "organisation": _LINE_IN,
    "organisation_kind": {"enum": list(ORGANISATION_KINDS)},
    "title": _LINE_IN,
    "summary": _PARAGRAPH_IN,
    "category": {
        "type": "string",
        "pattern": CATEGORY_PATTERN,
        "description": "one of the site file's programme.categories (else a 422)",
    },
    "gpu": {
        "type": "string",
        "pattern": GPU_PATTERN,
        "description": "a GPU type a hub prices (else a 422); priced at the highest rate "
        "of any hub",
    },
    "hours": _HOURS_IN,
    "starts_on": _DAY_IN,
    "ends_on": {**_DAY_IN, "description": "on or after starts_on (else a 422)"},
    "account": {"type": "string", "pattern": ACCOUNT_PATTERN},
    "new_account": {
        "type": "boolean",
        "default": False,
        "description": "true: approval creates it as a project account you own (a taken "
        "name is a 409); false: an account you own (else a 409)",
    },
}
_APPLICATION_REQUIRED = [
    "organisation",
    "organisation_kind",
    "title",
    "summary",
    "category",
    "gpu",
    "hours",
    "starts_on",
    "ends_on",
    "account",
]
_SCHEMAS["Application"] = {
    "type": "object",
    "description": "an application for credits, its decision and its history",
    "properties": {
        "id": {"type": "integer"},
        "applicant": {"type": "string"},
        "status": {"enum": [str(status) for status in ApplicationStatus]},
        **{key: {"type": "string"} for key in ("organisation", "organisation_kind", "title")},
        "summary": {"type": "string"},
        "category": {"type": "string"},
        "category_title": {"type": "string"},
        "priority": {"type": "boolean"},
        "gpu": {"type": "string"},
        "hours": _AMOUNT,
        "rate": _AMOUNT,
        "estimate": _AMOUNT,
        "starts_on": {"type": "string", "format": "date"},
        "ends_on": {"type": "string", "format": "date"},
        "account": {"type": "string"},
        "new_account": {"type": "boolean"},
        "created_at": _TIME,
        "updated_at": _TIME,
        "decision": {
            "type": "object",
            "properties": {
                "hours": {"anyOf": [{"type": "null"}, _AMOUNT]},
                "amount": {"anyOf": [{"type": "null"}, _AMOUNT]},
                "expires_at": {"type": ["string", "null"], "format": "date-time"},
                "grant_id": {"type": ["integer", "null"]},
                "reason": {"type": "string"},
                "decided_at": {"type": ["string", "null"], "format": "date-time"},
                "decided_by": {"type": ["string", "null"]},
            },
        },
        "events": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "at": _TIME,
                    "actor": {"type": "string"},
                    "action": {"enum": [str(action) for action in ApplicationAction]},
                    "message": {"type": "string"},
                    "detail": {"type": "string"},
                },
            },
        },
    },
}
_APPLICATION_LIST = _answer(
    "applications, priority categories first, then the oldest",
    {
        "type": "object",
        "properties": {"applications": {"type": "array", "items": _ref("Application")}},
    },
)
_STATUS_QUERY = _query(
    "status",
    "open (awaiting a decision) or one status; empty: every one (the queue: open)",
    {"enum": ["", *STATUS_FILTERS]},
)
_ONE = _answer("the application with its history", _ref("Application"))


def _step(summary: str, required: list[str], fields: dict[str, Any], *codes: int) -> Any:
    return {
        "post": {
            "summary": summary,
            "parameters": [_APPLICATION],
            "requestBody": _body(required, fields),
            "responses": {"200": _ONE, **_errors(400, 401, 403, 404, 413, *codes)},
        }
    }


_PATHS.update(
    {
        "/applications": {
            "get": {
                "summary": "Your applications for credits",
                "parameters": [_STATUS_QUERY],
                "responses": {"200": _APPLICATION_LIST, **_errors(400, 401, 403)},
            },
            "post": {
                "summary": "Apply for credits: GPU-hours of one GPU type for a project, "
                "priced at today's rate",
                "requestBody": _body(_APPLICATION_REQUIRED, _APPLICATION_FIELDS),
                "responses": {
                    "201": _ONE,
                    **_errors(400, 401, 403, 409, 413, 422),
                },
            },
        },
        "/applications/queue": {
            "get": {
                "summary": "Every application (reviewers, operators): priority categories "
                "first, then the oldest",
                "parameters": [_STATUS_QUERY],
                "responses": {"200": _APPLICATION_LIST, **_errors(400, 401, 403)},
            }
        },
        "/applications/{application}": {
            "get": {
                "summary": "One application with its history (its applicant, reviewers, operators)",
                "parameters": [_APPLICATION],
                "responses": {"200": _ONE, **_errors(401, 403, 404)},
            },
            "put": {
                "summary": "The applicant's changed application, resubmitted while undecided",
                "parameters": [_APPLICATION],
                "requestBody": _body(
                    _APPLICATION_REQUIRED, {**_APPLICATION_FIELDS, "message": _OPTIONAL_PARAGRAPH}
                ),
                "responses": {"200": _ONE, **_errors(400, 401, 403, 404, 409, 413, 422)},
            },
        },
        "/applications/{application}/comments": _step(
            "Comment on an application (reviewers, operators)",
            ["message"],
            {"message": _PARAGRAPH_IN},
        ),
        "/applications/{application}/recommendation": _step(
            "Recommend approving (for these hours) or rejecting (reviewers, operators)",
            ["recommendation"],
            {
                "recommendation": {"enum": ["approve", "reject"]},
                "hours": _OPTIONAL_HOURS,
                "message": _OPTIONAL_PARAGRAPH,
            },
            409,
        ),
        "/applications/{application}/changes": _step(
            "Ask the applicant for changes (operators)",
            ["message"],
            {"message": _PARAGRAPH_IN},
            409,
        ),
        "/applications/{application}/approval": _step(
            "Approve (operators): grant hours times the GPU's rate into the account, exactly "
            "once; a repeat with the same figures returns the approved application",
            [],
            {
                "hours": {**_OPTIONAL_HOURS, "description": "default: what was asked for"},
                "expires_on": {
                    "anyOf": [{"type": "null"}, {"type": "string", "maxLength": 0}, _DAY_IN],
                    "description": "the last day the credit can be spent (default: the "
                    "period's end); in the past: a 422",
                },
                "message": _OPTIONAL_PARAGRAPH,
            },
            409,
            422,
        ),
        "/applications/{application}/rejection": _step(
            "Reject with a reason (operators); nothing is credited",
            ["reason"],
            {"reason": _PARAGRAPH_IN},
            409,
        ),
    }
)


_SCHEMAS["Notice"] = {
    "type": "object",
    "required": ["kind", "account", "text", "amount"],
    "properties": {
        "kind": {"enum": ["expiring", "low_balance"]},
        "account": {"type": "string"},
        "text": {"type": "string", "description": "the sentence pages and the widget show"},
        "amount": {**_AMOUNT, "description": "credits that expire, or credits available"},
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
        "last_day": {
            "type": ["string", "null"],
            "format": "date",
            "description": "the last day (UTC) the credit can be spent",
        },
        "threshold": {
            "type": ["string", "null"],
            "description": "low_balance: the balance warned below (one typical session, "
            "or the site's amount)",
        },
    },
}
_SCHEMAS["CurrentSession"]["properties"]["server_name"] = _SERVER_NAME
_SCHEMAS["CurrentSession"]["properties"]["notices"] = {
    "type": "array",
    "items": _ref("Notice"),
    "description": "the notices of the session's account (GET /notices), for the widget",
}
_PATHS["/notices"] = {
    "get": {
        "summary": "Credit of yours that expires soon, and accounts too low for a typical session",
        "description": "Scope custom:credits:read; ?user=NAME needs custom:credits:admin. "
        "Every account the user spends from (docs/notices.md).",
        "parameters": [
            _query("user", "another user (operators only); empty: yourself", {"type": "string"})
        ],
        "responses": {
            "200": _answer(
                "notices",
                {
                    "type": "object",
                    "properties": {
                        "user": {"type": "string"},
                        "rules": {
                            "type": "object",
                            "properties": {
                                "expiring_within_days": {"type": "integer"},
                                "low_balance": {"type": ["string", "null"]},
                            },
                        },
                        "notices": {"type": "array", "items": _ref("Notice")},
                    },
                },
            ),
            **_errors(401, 403),
        },
    }
}


# -- a session's statement (credits/service/statementapi.py, docs/credits-service.md) --
_STATEMENT_LINE = {
    "type": "object",
    "properties": {
        "kind": {"enum": ["hold", "extend", "usage", "cap", "release"]},
        "what": {"type": "string"},
        "amount": _AMOUNT,
        "at": {"type": ["string", "null"], "format": "date-time"},
        "resource": {"type": ["string", "null"]},
        "count": {"type": ["integer", "null"]},
        "rate": {"anyOf": [_AMOUNT, {"type": "null"}]},
        "hours": {"anyOf": [_AMOUNT, {"type": "null"}]},
    },
}
_PATHS["/sessions/{hold_id}/statement"] = {
    "get": {
        "summary": "A session's statement: its line items, which add up exactly to the ledger",
        "description": "Scope custom:credits:read; the session's account's owners and members, "
        "a course's staff and TAs, the student who ran it, operators. Amounts exact.",
        "parameters": [
            {
                "name": "hold_id",
                "in": "path",
                "required": True,
                "description": "the session's hold id",
                "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,9}$"},
            }
        ],
        "responses": {
            "200": _answer(
                "the statement",
                {
                    "type": "object",
                    "properties": {
                        "hold_id": {"type": "integer"},
                        "account": {"type": "string"},
                        "user": {"type": "string"},
                        "hub": {"type": "string"},
                        "node": {"type": ["string", "null"]},
                        "job_id": {"type": ["string", "null"]},
                        "status": {"enum": [str(status) for status in HoldStatus]},
                        "resources": {
                            "type": "object",
                            "additionalProperties": {"type": "integer"},
                        },
                        "rates": {"type": "object", "additionalProperties": _AMOUNT},
                        "per_hour": _AMOUNT,
                        "started_at": _TIME,
                        "ended_at": {"type": ["string", "null"], "format": "date-time"},
                        "hours_funded": _AMOUNT,
                        "held": _AMOUNT,
                        "charged": {"anyOf": [_AMOUNT, {"type": "null"}]},
                        "returned": {"anyOf": [_AMOUNT, {"type": "null"}]},
                        "usage_cost": {"anyOf": [_AMOUNT, {"type": "null"}]},
                        "gpu_idle_minutes": {"type": ["integer", "null"]},
                        "gpu_busy_hours": {
                            "anyOf": [_AMOUNT, {"type": "null"}],
                            "description": "GPU-hours busy as the notebook server reported "
                            "them (statistics, never billing); null: not recorded",
                        },
                        "energy": {"enum": ["measured", "unknown", "pending"]},
                        "energy_wh": {"type": ["string", "null"]},
                        "energy_source": _ENERGY_SOURCE,
                        "server_name": _SERVER_NAME,
                        "end_note": {"type": ["string", "null"]},
                        "closed_because": {"type": ["string", "null"]},
                        "lines": {"type": "array", "items": _STATEMENT_LINE},
                        "adds_up": {"type": "boolean"},
                        "differences": {"type": "array", "items": {"type": "string"}},
                    },
                },
            ),
            **_errors(400, 401, 403, 404),
        },
    }
}


# -- the operator console (operators only: custom:credits:admin) ---------------------
_OPTIONAL_AMOUNT = {"anyOf": [_AMOUNT, {"type": "null"}]}
_PERIOD_ROW = {
    "type": "object",
    "properties": {
        "key": {"type": "string"},
        "sessions": {"type": "integer"},
        "gpu_hours": _AMOUNT,
        "gpu_busy_hours": _OPTIONAL_AMOUNT,
        "credits_charged": _AMOUNT,
        "wh": _OPTIONAL_AMOUNT,
        "culled": {"type": "integer"},
        "credits_saved": _AMOUNT,
    },
}
_COUNT_OR_NULL = {"type": ["integer", "null"]}
_CHOICE = {
    "since": _query("since", "YYYY-MM-DD, inclusive (default 30 days before until)", _DAY),
    "until": _query("until", "YYYY-MM-DD, exclusive (default now)", _DAY),
    "days": _query(
        "days",
        "credits expiring within this many days (default the service's expiring_soon)",
        {"type": "integer", "minimum": 1, "maximum": 3660},
    ),
    "below": _query(
        "below",
        "accounts with less than this available (default 10)",
        {"type": "string", "pattern": params.AMOUNT_PATTERN},
    ),
}


def _console(
    summary: str, answer: dict[str, Any], *choices: str, codes: tuple[int, ...] = ()
) -> Any:
    return {
        "get": {
            "summary": f"{summary} (operator console: custom:credits:admin)",
            "parameters": [_CHOICE[name] for name in choices],
            "responses": {
                "200": _answer(summary.lower(), {"type": "object", "properties": answer}),
                **_errors(*codes, 401, 403),
            },
        }
    }


_PATHS.update(
    {
        "/console/hubs": _console(
            "Each hub now: GPUs busy, free and down, sessions, queue, controller",
            {
                "hub_answered": {"type": "boolean"},
                "hubs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "hub": {"type": "string"},
                            "state": {"type": "string"},
                            "controller_up": {"type": "boolean"},
                            "gpus_busy": _COUNT_OR_NULL,
                            "gpus_free": _COUNT_OR_NULL,
                            "gpus_down": _COUNT_OR_NULL,
                            "sessions": {"type": "integer"},
                            "queue": _COUNT_OR_NULL,
                            "message": {"type": "string"},
                        },
                    },
                },
            },
        ),
        "/console/period": _console(
            "The period's figures, in total and by hub, account kind, category and GPU type",
            {
                "since": {"type": "string"},
                "until": {"type": "string"},
                "total": _PERIOD_ROW,
                "by": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": _PERIOD_ROW},
                },
            },
            "since",
            "until",
            codes=(400, 422),
        ),
        "/console/funding": _console(
            "Credits granted, spent, expired, left and expiring, per funding source",
            {
                "expiring_within_days": {"type": "integer"},
                "sources": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "source": {"type": "string"},
                            **{
                                key: _AMOUNT
                                for key in ("granted", "spent", "expired", "remaining", "expiring")
                            },
                        },
                    },
                },
            },
            "days",
            codes=(400,),
        ),
        "/console/accounts": _console(
            "People's accounts with less than an amount available, the emptiest first",
            {
                "below": _AMOUNT,
                "accounts": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "account": {"type": "string"},
                            "kind": {"type": "string"},
                            "balance": _AMOUNT,
                            "held": _AMOUNT,
                            "available": _AMOUNT,
                            "next_expiry_at": {"type": ["string", "null"]},
                        },
                    },
                },
            },
            "below",
            codes=(400,),
        ),
        "/console/applications": _console(
            "Applications waiting for a decision, in queue order",
            {"applications": {"type": "array", "items": {"type": "object"}}},
        ),
    }
)


def openapi(service_prefix: str) -> dict[str, Any]:
    """The OpenAPI document, with the server URL under ``service_prefix``."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "computehub credits",
            "version": "1",
            "description": "Compute credits: accounts, their history, sessions, grants, "
            "transfers, rates and estimates. Amounts are decimal strings.",
        },
        "servers": [{"url": f"{service_prefix.rstrip('/')}/api/v1"}],
        "security": [{"token": []}, {"oauth_cookie": []}],
        "paths": _PATHS,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "token": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "'token <JupyterHub API token>'",
                },
                "oauth_cookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "jupyterhub-services-credits",
                    "description": "set after logging in through the hub (visit the "
                    "service's root URL)",
                },
            },
        },
    }
