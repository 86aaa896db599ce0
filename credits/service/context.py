"""What every handler shares: the ledger, JupyterHub auth, the clock and the settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from computehub import maintenance
from computehub.clock import Clock, utcnow
from computehub.credits.errors import (
    ConflictError,
    InsufficientCreditError,
    InvalidAmountError,
    InvalidTermError,
    UnknownAccountError,
    UnknownApplicationError,
    UnknownCourseError,
    UnknownHoldError,
    UnknownRateError,
    UnpricedResourceError,
)
from computehub.credits.ledger import Ledger
from computehub.credits.notices import Rules
from computehub.credits.service.errors import ApiError
from computehub.credits.service.formgraders import FormgraderReader
from computehub.credits.service.hubmaintenance import HubMaintenance
from computehub.credits.service.views import amount
from computehub.maintenance import Maintenance
from computehub.sitefile.schema import Programme

T = TypeVar("T")
log = logging.getLogger("computehub.credits.service")


@dataclass
class ServiceContext:
    """The service's state.

    Attributes:
        ledger: the ledger (synchronous: every call runs in a worker thread).
        hub_auth: JupyterHub's ``HubOAuth`` for this service.
        clock: the current time; a seam for tests.
        expiring_soon: how far ahead ``expiring_soon`` looks.
        course_resources: the hub resources the site file keeps for a course
            (``limits.access``), as ``[{"hub": ..., "resource": ...}]``.
        formgraders: each graded course's formgrader, for the instructor's page.
        programme: the site file's ``programme`` section: the categories applications
            for credits choose from, and the funding source they are granted from.
        hub_status: asks the hub for every hub's status (the status page); None when
            the service runs without the hub (then the page says it can't be read).
        notice_rules: the site file's ``notices``: credit expiring soon, a low balance.
    """

    ledger: Ledger
    hub_auth: Any
    clock: Clock = utcnow
    expiring_soon: timedelta = timedelta(days=30)
    course_resources: Callable[[str], list[dict[str, str]]] = field(default=lambda _course: [])
    formgraders: FormgraderReader = field(default_factory=lambda: FormgraderReader({}))
    programme: Programme = field(default_factory=Programme)
    hub_status: Callable[[], Awaitable[Any]] | None = None
    notice_rules: Rules = field(default_factory=Rules)
    #: Puts hubs in maintenance through the hub's API (the console's form); None when
    #: the service runs without the hub.
    hub_maintenance: HubMaintenance | None = None
    #: The maintenance notices of the hubs (the file the hub reads too).
    notices: Callable[[], Mapping[str, Maintenance]] = maintenance.read

    def hub_notice(self, hub: str) -> str | None:
        """The operator's message while ``hub`` is in maintenance, else None.

        A notice file that can't be read is logged and taken as no notice.
        """
        try:
            notice = self.notices().get(hub)
        except (maintenance.MaintenanceError, OSError) as err:
            log.error("The hubs' maintenance notices can't be read: %s", err)
            return None
        return None if notice is None else notice.message

    def now(self) -> datetime:
        """The current time (timezone-aware)."""
        return self.clock()

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a ledger operation in a worker thread; its refusals become API errors.

        Each refusal becomes an :class:`~computehub.credits.service.errors.ApiError`
        with the HTTP status that says what went wrong.
        """
        try:
            return await asyncio.to_thread(function, *args, **kwargs)
        except InsufficientCreditError as err:
            message = (
                f"account {err.account!r} has {amount(err.available)} credits available, "
                f"{amount(err.requested)} requested"
            )
            raise ApiError(
                402,
                message,
                account=err.account,
                available=amount(err.available),
                requested=amount(err.requested),
            ) from None
        except UnknownCourseError as err:
            raise ApiError(404, f"unknown course {err.name!r}") from None
        except UnknownAccountError as err:
            raise ApiError(404, f"unknown account {err.name!r}") from None
        except (UnknownHoldError, UnknownRateError, UnknownApplicationError) as err:
            # A well-formed request naming what does not exist (a hold, the price of a
            # resource on a hub), as an unknown account is.
            raise ApiError(404, str(err)) from None
        except InvalidAmountError as err:
            raise ApiError(400, str(err)) from None
        except InvalidTermError as err:
            # Well-formed days in the wrong order: the description can't say it (422).
            raise ApiError(422, str(err)) from None
        except ConflictError as err:
            raise ApiError(409, str(err)) from None
        except UnpricedResourceError as err:
            # A well-formed application for a GPU no hub prices now.
            raise ApiError(422, str(err)) from None
        except ValueError as err:
            # The ledger's own checks on names, kinds and times: the caller sent them.
            raise ApiError(400, str(err)) from None
