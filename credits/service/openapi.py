"""The OpenAPI 3.1 description of the REST API, written by hand.

A test checks that every route in :data:`~computehub.credits.service.app.API_ROUTES`
and each of its methods is described here, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

_AMOUNT = {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2,4}$", "example": "37.50"}
_TIME = {"type": "string", "format": "date-time"}
_ERROR = {"$ref": "#/components/schemas/Error"}


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
    }
    return {str(code): _answer(words[code], _ERROR) for code in codes}


def _query(name: str, description: str, *, required: bool = False, **schema: Any) -> Any:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_PAGE = [
    _query("limit", "rows per page (1-500, default 50)", type="integer"),
    _query("before", "the next_before of the previous page", type="integer"),
]

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
            "kind": {"enum": ["personal", "project", "course"]},
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
    "Transaction": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string"},
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
            "status": {"enum": ["open", "settled", "voided"]},
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

#: A client's key: also accepted as the ``Idempotency-Key`` header. Keys are the caller's
#: own: another caller's, or the platform's, are never touched by them.
_IDEMPOTENCY_KEY = {
    "type": "string",
    "pattern": "^[!-~]{1,100}$",
    "description": "a repeat with the same key (yours: keys are per caller) and the same "
    "body returns the first result; with another body, a 409",
}
_AMOUNT_IN = {"oneOf": [{"type": "string", "example": "10.50"}, {"type": "integer"}]}

_PATHS: dict[str, Any] = {
    "/accounts": {
        "get": {
            "summary": "The caller's accounts with balance, held, available, expiring soon",
            "description": "Scope custom:credits:read; ?user=NAME needs custom:credits:admin.",
            "parameters": [_query("user", "another user (operators only)")],
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
            "summary": "The account's transactions, newest first, paged",
            "description": "Personal/project: owner, members. Course: staff with "
            "custom:credits:instruct. Operators: any.",
            "parameters": [_NAME, *_PAGE],
            "responses": {
                "200": _answer("a page", _page("transactions", "Transaction")),
                **_errors(400, 401, 403, 404),
            },
        }
    },
    "/accounts/{name}/sessions": {
        "get": {
            "summary": "The account's sessions (holds and charges), newest first, paged",
            "description": "As transactions; a course's students see their own sessions only.",
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
            "parameters": [_NAME],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["amount"],
                            "properties": {
                                "amount": _AMOUNT_IN,
                                "expires": {
                                    "type": "string",
                                    "description": "YYYY-MM-DD (spendable through that day, "
                                    "UTC) or an ISO time with offset",
                                },
                                "note": {"type": "string"},
                                "source": {"type": "string", "default": "programme"},
                                "idempotency_key": _IDEMPOTENCY_KEY,
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": _answer(
                    "granted",
                    {
                        "type": "object",
                        "properties": {"grant": _ref("Grant"), "balance": _ref("Account")},
                    },
                ),
                **_errors(400, 401, 403, 404, 409),
            },
        }
    },
    "/transfers": {
        "post": {
            "summary": "Move credits (course staff: course to its students; operators: any)",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["from", "to", "amount"],
                            "properties": {
                                "from": {"type": "string"},
                                "to": {"type": "string"},
                                "amount": _AMOUNT_IN,
                                "reason": {"type": "string"},
                                "idempotency_key": _IDEMPOTENCY_KEY,
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": _answer(
                    "moved",
                    {"type": "object", "properties": {"transfer": _ref("Transfer")}},
                ),
                **_errors(400, 401, 402, 403, 404, 409),
            },
        }
    },
    "/rates": {
        "get": {
            "summary": "Credits per hour per unit, in force now",
            "parameters": [_query("hub", "only this hub")],
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
            "parameters": [
                _query("account", "the paying account", required=True),
                _query("hub", "the AI hub", required=True),
                _query("resource", "cpu, gpu:TYPE or mig:TYPE:PROFILE", required=True),
                _query("count", "units of the resource (default 1)", type="integer"),
                _query("hours", "walltime, a decimal", required=True),
            ],
            "responses": {"200": _answer("estimate", _ref("Estimate")), **_errors(400, 401, 403)},
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
                _query("since", "YYYY-MM-DD, inclusive"),
                _query("until", "YYYY-MM-DD, exclusive (default now)"),
                _query("by", "account, hub or resource", enum=["account", "hub", "resource"]),
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
            "description": "Compute credits: accounts, transactions, sessions, grants, "
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
