"""Errors the handlers raise: an HTTP status and a message a person can act on."""

from __future__ import annotations

from typing import Any

from tornado.web import HTTPError


class ApiError(HTTPError):
    """A refused request; answered as ``{"message": ..., **extra}`` with ``status``.

    Args:
        status: the HTTP status.
        message: one sentence saying what was wrong and, where possible, what to do.
        extra: more fields for programs (402: ``available``, ``requested``).
    """

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(status, reason=None)
        self.status = status
        self.message = message
        self.extra = extra
