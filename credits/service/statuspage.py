"""The hub status page (``/services/credits/hubs``): each hub's state for people.

Pure functions from the hub's answer (``GET /hub/api/computehub/hubs``, see
``spawners/hubsapi.py``) to HTML, no I/O. The credits service runs no Slurm command:
the hub, which talks to Slurm, computes the status and this page only shows it.
Everything from the answer is escaped; the page runs no script and reloads itself
every :data:`~computehub.credits.service.statuspage.REFRESH_S` seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

from computehub.credits.service.page import Links, document, navbar
from computehub.i18n import _
from computehub.i18n.catalog import isolate

#: How often the page reloads itself (the hub's readings are at most a few seconds old).
REFRESH_S = 30
_BADGES = {
    "up": "text-bg-success",
    "degraded": "text-bg-warning",
    "down": "text-bg-danger",
    "maintenance": "text-bg-secondary",
}
_WORDS = {
    "up": "up",
    "degraded": "degraded",
    "down": "down",
    "maintenance": "in maintenance",
}


class HubAnswerError(ValueError):
    """The hub's answer is not the status this page shows."""


@dataclass(frozen=True)
class GpuView:
    """One kind of GPU of a hub: its label and what Slurm showed of it."""

    label: str
    expected: int
    total: int | None
    free: int | None
    out_of_service: int | None


@dataclass(frozen=True)
class HubView:
    """A hub's row on the page."""

    hub: str
    display_name: str
    region: str
    state: str
    message: str
    gpus: tuple[GpuView, ...]
    queue: int | None
    checked_at: datetime | None


def _count(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise HubAnswerError(f"not a count: {value!r}")
    return value


def parse_hubs(answer: Any) -> list[HubView]:
    """The hubs of the hub's answer, in its order.

    Raises:
        HubAnswerError: the answer is not ``{"hubs": [...]}`` as the hub writes it.
    """
    try:
        views = []
        for hub in answer["hubs"]:
            state = str(hub["state"])
            if state not in _WORDS:
                raise HubAnswerError(f"unknown state {state!r}")
            checked = hub.get("checked_at")
            views.append(
                HubView(
                    hub=str(hub["hub"]),
                    display_name=str(hub["display_name"]),
                    region=str(hub["region"]),
                    state=state,
                    message=str(hub["message"]),
                    gpus=tuple(
                        GpuView(
                            str(g["label"]),
                            _count(g["expected"]) or 0,
                            _count(g.get("total")),
                            _count(g.get("free")),
                            _count(g.get("out_of_service")),
                        )
                        for g in hub["gpus"]
                    ),
                    queue=_count(hub.get("queue")),
                    checked_at=None if checked is None else datetime.fromisoformat(str(checked)),
                )
            )
        return views
    except (KeyError, TypeError, ValueError) as err:
        if isinstance(err, HubAnswerError):
            raise
        raise HubAnswerError(f"the hub's status answer can't be read: {err!r}") from None


def gpus_in_words(gpu: GpuView) -> str:
    """``H100: 3 of 4 free`` (``1 out of service``), or the site's count when unknown."""
    if gpu.free is None or gpu.total is None:
        return _("{gpu}: {count}, availability unknown").format(
            gpu=isolate(gpu.label), count=gpu.expected
        )
    if gpu.out_of_service:
        return _("{gpu}: {free} of {total} free ({broken} out of service)").format(
            gpu=isolate(gpu.label), free=gpu.free, total=gpu.total, broken=gpu.out_of_service
        )
    return _("{gpu}: {free} of {total} free").format(
        gpu=isolate(gpu.label), free=gpu.free, total=gpu.total
    )


def render(user: str, hubs: Sequence[HubView], *, links: Links | None = None) -> str:
    """The whole page."""
    links = links or Links()
    hub = escape(links.hub_prefix)
    rows = "\n".join(_row(view) for view in hubs)
    checked = [v.checked_at for v in hubs if v.checked_at is not None]
    if checked:
        as_of = _(
            "What each hub can take as of {time} UTC; this page reloads every {seconds} seconds."
        ).format(time=f"{_utc(max(checked)):%H:%M:%S}", seconds=REFRESH_S)
    else:
        as_of = _("What each hub can take; this page reloads every {seconds} seconds.").format(
            seconds=REFRESH_S
        )
    title = _("AI hub status")
    body = "\n".join(
        [
            navbar(user, hub, back_to=f"{links.service}hubs"),
            '<main class="container my-4">',
            f'<h1 class="h3 mb-3">{escape(title)}</h1>',
            f'<p class="text-body-secondary" id="ch-as-of">{escape(as_of)}</p>',
            '<div class="table-responsive"><table class="table align-middle" id="ch-hubs">'
            "<thead><tr><th>"
            + _("Hub")
            + "</th><th>"
            + _("State")
            + "</th><th>"
            + _("Free GPUs")
            + '</th><th class="text-end">'
            + _("Jobs waiting")
            + "</th>"
            f"</tr></thead><tbody>\n{rows}\n</tbody></table></div>",
            '<p class="text-body-secondary small">'
            + _(
                "A hub that is down or in maintenance takes no new sessions; sessions already "
                "running there keep running and are charged only for the time they run. "
                'Choose another hub or <em>any hub</em> on the <a href="{start}">start '
                "page</a>."
            ).format(start=f"{hub}spawn")
            + "</p>",
            "</main>",
        ]
    )
    return document(title, hub, body, refresh_s=REFRESH_S)


def hub_unreachable_page(user: str, *, links: Links | None = None) -> str:
    """The page when the hub did not tell its status (a sentence, no details)."""
    links = links or Links()
    hub = escape(links.hub_prefix)
    title = _("AI hub status")
    body = (
        navbar(user, hub, back_to=f"{links.service}hubs")
        + f'<main class="container my-4"><h1 class="h3">{escape(title)}</h1>'
        '<p class="alert alert-warning" id="ch-error">'
        + _("The hubs' status can't be read right now; please reload this page in a minute.")
        + "</p></main>"
    )
    return document(title, hub, body, refresh_s=REFRESH_S)


def _row(view: HubView) -> str:
    badge = _BADGES.get(view.state, "text-bg-light")
    gpus = "<br>".join(escape(gpus_in_words(g)) for g in view.gpus) or escape(_("CPU only"))
    queue = "—" if view.queue is None else str(view.queue)
    return (
        f'<tr data-hub="{escape(view.hub)}" data-state="{escape(view.state)}">'
        f'<td class="ch-hub"><strong>{escape(view.display_name)}</strong> '
        f'<span class="text-body-secondary">({escape(view.region)})</span></td>'
        f'<td class="ch-state"><span class="badge {badge}">'
        f"{escape(state_words(view.state))}</span>"
        f'<div class="ch-message small mt-1"><bdi>{escape(view.message)}</bdi></div></td>'
        f'<td class="ch-gpus">{gpus}</td>'
        f'<td class="ch-queue text-end">{queue}</td></tr>'
    )


def state_words(state: str) -> str:
    """A hub's state in words, in the page's language."""
    words = {
        "up": _("up"),
        "degraded": _("degraded"),
        "down": _("down"),
        "maintenance": _("in maintenance"),
    }
    return words.get(state, _WORDS.get(state, state))


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
