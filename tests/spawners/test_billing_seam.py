"""The billing rules live in ``spawners/billing.py`` only.

The spawner, the reconciler and the extend and estimate handlers pay through the
billing seam; a copy of one of its rules elsewhere in ``spawners/`` (an idempotency
key format, a ledger money call, the units rule, the "one resource per hold"
assumption, the refusal sentence) is a second place to change when the next resource
type comes, and this test names it.
"""

from __future__ import annotations

import asyncio
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

import computehub.spawners
from computehub.credits.errors import CourseShareError
from computehub.credits.ledger import Ledger
from computehub.spawners.billing import Billing, job_resource, per_hour, share_refusal
from computehub.spawners.options import SessionRequest
from tests.support.ledgers import RATES, FakeClock

SPAWNERS = Path(computehub.spawners.__file__).parent

#: Each billing rule, as the pattern a copy of it would show.
RULES = {
    "an idempotency key format": re.compile(r"""f?["'](start|settle|void|extend):"""),
    "an idempotency key given to the ledger": re.compile(r"idempotency_key\s*="),
    "a money movement on the ledger": re.compile(
        r"ledger\.(settle|void_hold|extend_hold|place_hold|estimate)\b"
    ),
    "the units rule": re.compile(r"gpus\s+if\s+\S*gpu_type"),
    "the units rule in the spawn form's script": re.compile(r"dataset\.cpu\s*\?\s*1\s*:"),
    "one resource per hold": re.compile(r"next\(\s*iter\(\s*\S*resources"),
    "the refusal sentence": re.compile(r"not enough credits", re.IGNORECASE),
    "a course limit's sentence": re.compile(
        r"weekly cap|credits left|share of the pool|allowance for the term", re.IGNORECASE
    ),
    "a course's students charging it": re.compile(r"""role\s*==\s*["']student["']"""),
}


def copies(root: Path) -> list[str]:
    """Every line of ``root``'s modules but the billing seam's that copies a rule."""
    found = []
    for path in sorted(root.glob("*.py")):
        if path.name == "billing.py":
            continue
        for number, text in enumerate(path.read_text().splitlines(), 1):
            found += [
                f"{path.name}:{number}: {rule}: {text.strip()}"
                for rule, pattern in RULES.items()
                if pattern.search(text)
            ]
    return found


def test_no_billing_rule_is_copied_outside_the_billing_seam() -> None:
    assert copies(SPAWNERS) == []


#: Copies of the rules as they stood in the spawner, the reconciler and the handlers
#: before the seam: each must be caught.
OLD_COPIES = [
    'hold = await self.billing.hold(req, key=f"start:{self.user.name}:{uuid.uuid4()}")',
    'idempotency_key=f"extend:{hold_id}:{uuid.uuid4()}",',
    "idempotency_key=settle_key(hold.id),",
    'idempotency_key=f"void:{action.hold.id}",',
    "ledger.settle,",
    "spawner.billing.ledger.estimate,",
    "units = req.gpus if req.gpu_type else 1",
    "const units = gpu.value === root.dataset.cpu ? 1 : Math.max(Number(count.value), 1);",
    "resource = next(iter(hold.resources))",
    "limit = hub.max_hours(next(iter(hold.resources)))",
    'f"Not enough credits in {err.account}: {err.available} available, "',
    'raise web.HTTPError(402, f"Your weekly cap on course {err.course} is used")',
    'label = f"{name}: {limit.left} of {limit.limit} credits left this week"',
    'chargeable = [b for b in balances if b.role in ROLES or b.role == "student"]',
]


@pytest.mark.parametrize("line", OLD_COPIES)
def test_each_old_copy_of_a_rule_is_caught(line: str, tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_text(f"x = 1\n    {line}\n")
    (tmp_path / "billing.py").write_text(f"{line}\n")
    assert len(copies(tmp_path)) >= 1
    assert all(found.startswith("handler.py:2: ") for found in copies(tmp_path))


def _request(gpu_type: str | None, gpus: int, mig: str | None = None) -> SessionRequest:
    return SessionRequest(
        hub="lahore",
        gpu_type=gpu_type,
        gpus=gpus,
        hours=Decimal(2),
        environment="notebook",
        account="alice",
        mig_profile=mig,
    )


@pytest.mark.parametrize(
    ("request_", "resources"),
    [
        (_request("h100", 2), {"gpu:h100": 2}),
        (_request("a100", 3, "1g.10gb"), {"mig:a100:1g.10gb": 3}),
        (_request(None, 0), {"cpu": 1}),
        (_request(None, 4), {"cpu": 1}),
    ],
    ids=["two GPUs", "three MIG slices", "CPU only", "CPU only, a stray GPU count"],
)
def test_a_session_request_holds_its_resources_as_a_mapping(
    request_: SessionRequest, resources: dict[str, int]
) -> None:
    assert dict(request_.resources) == resources


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({"gpu:h100": 2}, ("gpu:h100", 2)),
        ({"cpu": 1}, ("cpu", 1)),
        ({"cpu": 1, "gpu:h100": 2}, ("gpu:h100", 2)),
    ],
    ids=["a GPU session", "a CPU session", "GPUs with CPU beside them"],
)
def test_the_job_runs_on_the_sessions_gpu_resource(
    resources: dict[str, int], expected: tuple[str, int]
) -> None:
    assert job_resource(resources) == expected


def test_the_price_per_hour_sums_every_resource() -> None:
    rates = {"gpu:h100": Decimal("10.5"), "cpu": Decimal("0.25")}
    assert per_hour(rates, {"gpu:h100": 2}) == Decimal(21)
    assert str(per_hour(rates, {"gpu:h100": 2})) == "21.0"
    assert per_hour(rates, {"gpu:h100": 2, "cpu": 1}) == Decimal("21.25")


def test_a_student_charges_their_course_within_their_share(tmp_path: Path) -> None:
    """The seam offers a course's pool to its students, counting no more than their share."""
    clock = FakeClock()  # Thursday 2026-01-01 12:00 UTC
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock=clock) as ledger:
        ledger.sync_rates(RATES, actor="site")
        ledger.create_course("intro-ml", "Intro", date(2025, 12, 1), date(2026, 6, 30), actor="op")
        ledger.add_member("intro-ml", "bilal", "student", actor="op")
        ledger.add_member("intro-ml", "tia", "ta", actor="op")
        ledger.grant("intro-ml", "100", actor="op")
        ledger.set_course_sharing("intro-ml", weekly_cap="10", actor="op")
        ledger.place_hold("intro-ml", "north", {"cpu": 13}, "1", actor="bilal")  # 6.5

        standing = asyncio.run(Billing(ledger, "bilal").standing())
        assert standing.accounts == ["bilal", "intro-ml"]
        assert standing.available["intro-ml"] == Decimal("3.5")
        assert standing.notes == {"intro-ml": "course intro-ml: 3.5 of 10 credits left this week"}
        # A TA moves no credit: the pool is not theirs to charge.
        assert asyncio.run(Billing(ledger, "tia").standing()).accounts == ["tia"]

        with pytest.raises(CourseShareError) as refused:
            ledger.place_hold("intro-ml", "north", {"cpu": 8}, "1", actor="bilal")
    assert share_refusal(refused.value) == (
        "Your weekly cap on course intro-ml is 10 credits: you have used 6.5, 3.5 left, and "
        "this session needs 4. It resets on Monday 05 January 2026 at 00:00 UTC. Choose a "
        "shorter or smaller session, or another account to pay from."
    )


def test_a_courses_archived_state_is_read_once_per_poll_interval(tmp_path: Path) -> None:
    """Every session of a course asks each poll: an answer younger than ``max_age`` serves."""
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock=FakeClock()) as ledger:
        ledger.create_course("intro-ml", "Intro", date(2025, 12, 1), date(2026, 6, 30), actor="op")
        billing = Billing(ledger, "bilal")
        assert asyncio.run(billing.archived("intro-ml")) is None
        ledger.archive_course("intro-ml", actor="op")
        # Within the interval the answer read a moment ago serves...
        assert asyncio.run(billing.archived("intro-ml", max_age=3600)) is None
        # ...a fresh read sees the archive, and then serves it too.
        archived_at = asyncio.run(billing.archived("intro-ml"))
        assert archived_at is not None
        assert asyncio.run(Billing(ledger, "sami").archived("intro-ml", max_age=3600)) == (
            archived_at
        )
        # A personal account is no course: never archived.
        assert asyncio.run(billing.archived("bilal")) is None
