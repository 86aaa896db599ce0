"""The hub status page's HTML from the hub's answer: pure, no hub, no Slurm."""

from __future__ import annotations

import re
from typing import Any

import pytest

from computehub.credits.service.statuspage import (
    REFRESH_S,
    HubAnswerError,
    parse_hubs,
    render,
)
from computehub.credits.service.views import maintenance_notice

ANSWER: dict[str, Any] = {
    "hubs": [
        {
            "hub": "lahore",
            "display_name": "Lahore AI Hub",
            "region": "Punjab",
            "state": "up",
            "message": "Taking new sessions.",
            "accepts_sessions": True,
            "gpus": [
                {"label": "H100", "gres": "h100", "expected": 4, "total": 4, "free": 3,
                 "out_of_service": 0},
            ],
            "queue": 2,
            "checked_at": "2026-12-04T21:00:05+00:00",
        },
        {
            "hub": "karachi",
            "display_name": "Karachi AI Hub",
            "region": "Sindh",
            "state": "down",
            "message": "The Karachi AI Hub scheduler is not answering: no new sessions "
            "start there. Sessions already running there keep running.",
            "accepts_sessions": False,
            "gpus": [
                {"label": "A100", "gres": "a100", "expected": 4, "total": None, "free": None,
                 "out_of_service": None},
            ],
            "queue": None,
            "checked_at": "2026-12-04T21:00:04+00:00",
        },
        {
            "hub": "quetta",
            "display_name": "Quetta <AI> Hub",
            "region": "Balochistan",
            "state": "maintenance",
            "message": "<script>alert(1)</script> Cooling work",
            "accepts_sessions": False,
            "gpus": [
                {"label": "L40S", "gres": "l40s", "expected": 8, "total": 8, "free": 6,
                 "out_of_service": 2},
            ],
            "queue": 0,
            "checked_at": "2026-12-04T21:00:03+00:00",
        },
    ]
}  # fmt: skip


def row(page: str, hub: str) -> str:
    match = re.search(rf'<tr data-hub="{hub}"[^>]*>.*?</tr>', page, re.S)
    assert match, f"no row for {hub}"
    return match.group(0)


def test_each_hub_shows_its_state_free_gpus_and_queue() -> None:
    page = render("bob", parse_hubs(ANSWER))
    lahore, karachi, quetta = (row(page, hub) for hub in ("lahore", "karachi", "quetta"))
    assert 'data-state="up"' in lahore
    assert "H100: 3 of 4 free" in lahore
    assert '<td class="ch-queue text-end">2</td>' in lahore
    assert 'data-state="down"' in karachi
    assert "scheduler is not answering" in karachi
    assert "A100: 4, availability unknown" in karachi
    assert '<td class="ch-queue text-end">—</td>' in karachi
    assert "in maintenance" in quetta
    assert "L40S: 6 of 8 free (2 out of service)" in quetta
    assert "as of 21:00:05 UTC" in page
    assert f'<meta http-equiv="refresh" content="{REFRESH_S}">' in page
    assert '<span class="navbar-text" id="ch-user">bob</span>' in page


def test_what_the_hub_says_is_escaped() -> None:
    page = render("bob", parse_hubs(ANSWER))
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Cooling work" in page
    assert "Quetta &lt;AI&gt; Hub" in page


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param({}, id="no hubs key"),
        pytest.param({"hubs": [{"hub": "x"}]}, id="missing fields"),
        pytest.param({"hubs": [{**ANSWER["hubs"][0], "state": "on fire"}]}, id="unknown state"),
        pytest.param({"hubs": [{**ANSWER["hubs"][0], "queue": "2"}]}, id="queue not a count"),
        pytest.param({"hubs": [{**ANSWER["hubs"][0], "queue": True}]}, id="queue a boolean"),
        pytest.param([], id="a list"),
    ],
)
def test_an_answer_that_is_not_the_hubs_status_is_refused(answer: Any) -> None:
    with pytest.raises(HubAnswerError):
        parse_hubs(answer)


def test_the_widgets_banner_for_a_hub_in_maintenance() -> None:
    assert maintenance_notice("Cooling work") == (
        "This hub is in maintenance: Cooling work. Your session keeps running; new "
        "sessions can't start here until it ends."
    )
