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

from computehub.credits.keys import CLIENT_KEY_MAX
from computehub.credits.models import AccountKind, EntryKind, HoldStatus
from computehub.credits.money import MAX_AMOUNT
from computehub.credits.names import DEFAULT_SOURCE, HUB_PATTERN, RESOURCE_MAX, SOURCE_PATTERN
from computehub.credits.service import params
from computehub.sitefile.schema import RESOURCE_RE

_AMOUNT = {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2,4}$", "example": "37.50"}
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
        413: f"the body is larger than {params.MAX_BODY} bytes",
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
    "/openapi.json": {
        "get": {
            "summary": "This description",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1 document"}},
        }
    },
}


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
