"""The handler every endpoint builds on: JupyterHub auth without blocking, JSON errors."""

from __future__ import annotations

import json
from typing import Any

from jupyterhub.services.auth import HubOAuthenticated, UserNotAllowed
from tornado.web import HTTPError, RequestHandler

from computehub.credits.service.access import Caller
from computehub.credits.service.context import ServiceContext
from computehub.credits.service.errors import ApiError
from computehub.credits.service.scopes import ACCESS
from computehub.i18n.catalog import set_language
from computehub.i18n.choice import DEFAULT
from computehub.i18n.hub import request_language

#: The methods a handler may implement (Tornado answers the others with a 405).
_METHODS = ("get", "post", "put", "patch", "delete")


class BaseHandler(HubOAuthenticated, RequestHandler):  # type: ignore[misc]
    """Identifies the caller before a request runs; answers errors as ``{"message": ...}``.

    The caller is found in :meth:`~computehub.credits.service.base.BaseHandler.prepare`.
    """

    ctx: ServiceContext
    caller: Caller | None = None
    #: Endpoints anyone may read (the OpenAPI description).
    public = False
    #: Pages in the reader's language (docs/languages.md); the others, and every JSON
    #: answer, are English.
    localized = False

    def initialize(self, ctx: ServiceContext) -> None:
        """Tornado hook: the shared context."""
        self.ctx = ctx
        self.hub_auth = ctx.hub_auth

    def set_default_headers(self) -> None:
        """JSON, never cached: the answers are people's balances."""
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")

    @classmethod
    def allowed_methods(cls) -> list[str]:
        """The HTTP methods this endpoint answers (those its class implements)."""
        return [m.upper() for m in _METHODS if getattr(cls, m) is not getattr(RequestHandler, m)]

    async def prepare(self) -> None:
        """Identify the caller from its token or OAuth cookie, asking the hub asynchronously.

        A method the endpoint does not answer is refused first, with a 405 that says
        which it answers (``Allow``), before anyone is asked about the caller.

        :meth:`~jupyterhub.services.auth.HubAuthenticated.get_current_user` would block
        the event loop on the hub's answer, so the user is resolved here with
        ``sync=False`` and cached.
        """
        # The pages' language: the switch's cookie, else Accept-Language (docs/languages.md).
        set_language(request_language(self) if self.localized else DEFAULT)
        allowed = self.allowed_methods()
        if self.request.method not in allowed:
            raise ApiError(405, f"this endpoint answers {' and '.join(allowed)} only")
        if any("\x00" in value for value in self.path_kwargs.values()):
            # Nothing is named so (PostgreSQL would not even compare such a name).
            raise ApiError(404, "no account's name has a NUL character")
        if self.public:
            self.current_user = None
            return
        model = await self.hub_auth.get_user(self, sync=False)
        if not model:
            self.current_user = None
            return
        try:
            allowed = self.check_hub_user(model)
        except UserNotAllowed:
            raise ApiError(
                403, f"{model.get('kind', 'user')} {model['name']}'s token lacks {ACCESS}"
            ) from None
        self.current_user = allowed
        self.caller = Caller.from_model(allowed)

    def get_current_user(self) -> Any:
        """Never a blocking call here: the user is resolved before, asynchronously.

        See :meth:`~computehub.credits.service.base.BaseHandler.prepare`.
        """
        return None

    def require_caller(self) -> Caller:
        """The caller, or a 401 telling an anonymous one how to authenticate."""
        if self.caller is None:
            raise ApiError(
                401,
                "authentication required: send 'Authorization: token <JupyterHub token>' "
                "or log in at the hub first",
            )
        return self.caller

    def send_json(self, data: Any, status: int = 200) -> None:
        """Answer with ``data`` as JSON."""
        self.set_status(status)
        self.finish(json.dumps(data))

    def error_headers(self, status_code: int) -> None:
        """Headers an error answer needs: a 405 says which methods the endpoint answers."""
        if status_code == 405:
            self.set_header("Allow", ", ".join(self.allowed_methods()))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error is ``{"message": ...}``; tracebacks stay in the log."""
        self.error_headers(status_code)
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, ApiError):
            body: dict[str, Any] = {"message": error.message, **error.extra}
        elif isinstance(error, HTTPError) and error.log_message:
            body = {"message": error.log_message % error.args if error.args else error.log_message}
        else:
            body = {"message": self._reason}
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(body))
