"""Reserved capacity: entitlement, what an account may use, "any hub", refusals. Plain tables."""

from __future__ import annotations

import html
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from computehub.sitefile.load import parse_site
from computehub.sitefile.schema import Reservation, Site
from computehub.spawners.access import Entitlements
from computehub.spawners.availability import GpuAvailability
from computehub.spawners.capacity import (
    AccountProfile,
    Capacity,
    HubLoad,
    entitled,
    parse_busy,
    refusal,
    share,
)
from computehub.spawners.form import render_form
from computehub.spawners.options import OptionsError, SessionRequest, validate
from computehub.spawners.reasons import waiting_reason
from computehub.spawners.registry import HubRegistry
from computehub.spawners.slurmclient import parse_config
from computehub.spawners.spawner import ComputeHubSpawner
from computehub.spawners.tres import capacity_problem

ACADEMIC = Reservation(
    title="academic accounts",
    gpus={"h100": 8},
    account_kinds=["course"],
    organisation_kinds=["research-group", "course"],
    categories=["health"],
    personal_roles=["researcher", "instructor"],
)

ACME = AccountProfile("acme", "project", "startup", "agriculture")
FLOODLAB = AccountProfile("floodlab", "project", "research-group", "flood-prediction")
CLINIC = AccountProfile("clinic", "project", "startup", "health")
HANDMADE = AccountProfile("handmade", "project")
INTRO_ML = AccountProfile("intro-ml", "course")
AYESHA = AccountProfile("ayesha", "personal")

ENTITLEMENT = [
    ("startup project", ACME, set(), False),
    ("research-group project", FLOODLAB, set(), True),
    ("startup in a reserved category", CLINIC, set(), True),
    ("project without an application", HANDMADE, set(), False),
    ("course account", INTRO_ML, set(), True),
    ("researcher's personal account", AYESHA, {"researcher"}, True),
    ("student's personal account", AYESHA, {"student"}, False),
    ("operator's personal account", AYESHA, {"operator"}, False),
    ("a project of a researcher is not personal", ACME, {"researcher"}, False),
]


@pytest.mark.parametrize(
    ("account", "roles", "expected"),
    [pytest.param(a, r, e, id=i) for i, a, r, e in ENTITLEMENT],
)
def test_who_is_entitled(account: AccountProfile, roles: set[str], expected: bool) -> None:
    assert entitled(ACADEMIC, account, frozenset(roles)) is expected


def _site(reserved: int = 8, lahore_h100: int = 12, islamabad_h100: int = 4) -> Site:
    data: dict[str, Any] = {
        "hubs": {
            "lahore": {
                "display_name": "Lahore AI Hub",
                "region": "Punjab",
                "slurm": {"conf": "/etc/slurm/lahore.conf", "unguarded": True},
                "partitions": {"gpu": {"default": True}},
                "gpus": {"h100": {"count": lahore_h100}, "a100": {"count": 2}},
                "rates": {"cpu": "0.5", "gpu:h100": "10", "gpu:a100": "7"},
                "limits": {"max_gpus": 8},
                "reservations": {
                    "academic": {
                        "title": "academic accounts",
                        "gpus": {"h100": reserved},
                        "account_kinds": ["course"],
                        "organisation_kinds": ["research-group"],
                    }
                },
            },
            "islamabad": {
                "display_name": "Islamabad AI Hub",
                "region": "Capital",
                "slurm": {"conf": "/etc/slurm/islamabad.conf", "unguarded": True},
                "partitions": {"gpu": {"default": True}},
                "gpus": {"h100": {"count": islamabad_h100}},
                "rates": {"cpu": "0.5", "gpu:h100": "12"},
                "limits": {"max_gpus": 8},
            },
        },
        "environments": {"py": {"display_name": "Python", "prefix": "/opt/py"}},
        "auth": {"method": "dummy", "dummy": {"users": {"alice": "researcher"}}},
    }
    return parse_site(data, Path("capacity-test.yaml"))


def _load(free: int, reserved_busy: int, total: int = 12, down: int = 0) -> HubLoad:
    return HubLoad({"h100": GpuAvailability(total, free, down)}, {"h100": reserved_busy})


#: (case, account, sinfo's free H100s, H100s jobs in gpu-academic hold, entitled, most, free)
SHARES = [
    ("idle hub, startup", ACME, 12, 0, False, 4, 4),
    ("idle hub, research group", FLOODLAB, 12, 0, True, 12, 12),
    ("startup's share busy, reserved idle", ACME, 8, 0, False, 4, 0),
    ("startup's share busy, research group", FLOODLAB, 8, 0, True, 12, 8),
    ("academics hold 8, startup", ACME, 4, 8, False, 4, 4),
    ("academics hold 10 (2 of the share), startup", ACME, 2, 10, False, 4, 2),
    ("all busy", ACME, 0, 5, False, 4, 0),
    ("one unreserved busy, 3 free of the share", ACME, 11, 0, False, 4, 3),
]


@pytest.mark.parametrize(
    ("account", "free", "busy", "is_entitled", "most", "usable"),
    [pytest.param(*row[1:], id=row[0]) for row in SHARES],
)
def test_what_an_account_may_use_now(
    account: AccountProfile, free: int, busy: int, is_entitled: bool, most: int, usable: int
) -> None:
    found = share(_site(), "lahore", "h100", account, frozenset(), _load(free, busy))
    assert found is not None
    assert (found.entitled, found.most, found.free) == (is_entitled, most, usable)
    assert found.partition == ("gpu-academic" if is_entitled else None)


def test_a_down_node_frees_nothing_for_anyone() -> None:
    found = share(_site(), "lahore", "h100", ACME, frozenset(), _load(0, 0, down=12))
    assert found is not None
    assert found.free == 0


def test_an_unreserved_type_has_no_share() -> None:
    assert share(_site(), "lahore", "a100", ACME, frozenset(), _load(12, 0)) is None


HEAD = (
    "8 of Lahore AI Hub's 12 H100 GPUs are reserved for academic accounts; "
    "the account 'acme' (a startup's project)"
)
REFUSALS = [
    ("fits the share", 2, 12, 0, None),
    (
        "only reserved ones free",
        1,
        8,
        0,
        f"{HEAD} may use the other 4, all busy now. Try again later.",
    ),
    (
        "more than the share has free",
        3,
        10,
        0,
        f"{HEAD} may use the other 4, of which 2 are free now: ask for 2 or fewer, "
        "or try again later.",
    ),
    ("more than the share, ever", 5, 12, 0, f"{HEAD} may use the other 4, so at most 4 at once."),
    ("nothing free at all: waits in the queue", 1, 0, 8, None),
    ("more than free anywhere: waits in the queue", 3, 2, 8, None),
]


@pytest.mark.parametrize(
    ("count", "free", "busy", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in REFUSALS],
)
def test_refusal_says_why(count: int, free: int, busy: int, expected: str | None) -> None:
    site = _site()
    assert refusal(site, "lahore", "h100", count, ACME, frozenset(), _load(free, busy)) == expected


def test_an_entitled_account_is_never_refused() -> None:
    load = _load(8, 0)
    assert refusal(_site(), "lahore", "h100", 8, FLOODLAB, frozenset(), load) is None


def test_all_reserved_leaves_others_none() -> None:
    site = _site(reserved=12)
    text = refusal(site, "lahore", "h100", 1, ACME, frozenset(), _load(12, 0))
    assert text == (
        "12 of Lahore AI Hub's 12 H100 GPUs are reserved for academic accounts; the account "
        "'acme' (a startup's project) may use none of them."
    )


def _capacity(site: Site, free: int, busy: int, *accounts: AccountProfile) -> Capacity:
    return Capacity(site, {a.name: a for a in accounts}, frozenset(), {"lahore": _load(free, busy)})


def _free(lahore: int, islamabad: int) -> dict[str, dict[str, GpuAvailability]]:
    return {
        "lahore": {"h100": GpuAvailability(12, lahore)},
        "islamabad": {"h100": GpuAvailability(4, islamabad)},
    }


#: (case, account, Lahore's free H100s, Islamabad's, GPUs asked, hub chosen or the refusal)
ANY_HUB = [
    ("startup, Lahore's share free: the cheaper", "acme", 12, 4, 2, "lahore"),
    ("startup, only Lahore's reserved ones free: Islamabad", "acme", 8, 4, 1, "islamabad"),
    ("research group, only reserved free: Lahore", "floodlab", 8, 4, 1, "lahore"),
    ("startup asks more than Lahore's share has free", "acme", 10, 4, 3, "islamabad"),
    (
        "startup, nowhere",
        "acme",
        8,
        0,
        1,
        "no hub has 1 free H100 GPUs right now (lahore: 0 free to this account (8 reserved "
        "for academic accounts), islamabad: 0 free)",
    ),
]


@pytest.mark.parametrize(
    ("account", "lahore", "islamabad", "count", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in ANY_HUB],
)
def test_any_hub_counts_only_what_the_account_may_use(
    account: str, lahore: int, islamabad: int, count: int, expected: str
) -> None:
    site = _site()
    registry = HubRegistry(site)
    capacity = _capacity(site, lahore, 0, ACME, FLOODLAB)  # the busy ones are unreserved
    raw = {"hub": "any", "gpu_type": "h100", "gpus": count, "account": account}
    free = _free(lahore, islamabad)
    accounts = ["acme", "floodlab"]
    if expected in ("lahore", "islamabad"):
        req = validate(raw, registry, free, accounts, capacity=capacity)
        assert req.hub == expected
    else:
        with pytest.raises(OptionsError) as err:
            validate(raw, registry, free, accounts, capacity=capacity)
        assert err.value.reason == expected


def test_a_start_names_the_reserved_partition_for_the_entitled_only() -> None:
    site = _site()
    registry = HubRegistry(site)
    capacity = _capacity(site, 12, 0, ACME, FLOODLAB)
    raw = {"hub": "lahore", "gpu_type": "h100", "gpus": 2}
    accounts = ["acme", "floodlab"]
    mine = validate({**raw, "account": "floodlab"}, registry, None, accounts, capacity=capacity)
    theirs = validate({**raw, "account": "acme"}, registry, None, accounts, capacity=capacity)
    assert mine == SessionRequest(
        "lahore", "h100", 2, Decimal(1), "py", "floodlab", partition="gpu-academic"
    )
    assert theirs.partition is None
    other = validate(
        {**raw, "gpu_type": "a100", "account": "floodlab"},
        registry,
        None,
        accounts,
        capacity=capacity,
    )
    assert other.partition is None


def test_a_named_hub_start_is_refused_with_the_reason() -> None:
    site = _site()
    capacity = _capacity(site, 8, 0, ACME)
    with pytest.raises(OptionsError) as err:
        validate(
            {"hub": "lahore", "gpu_type": "h100", "gpus": 1, "account": "acme"},
            HubRegistry(site),
            None,
            ["acme"],
            capacity=capacity,
        )
    assert err.value.field == "gpus"
    assert err.value.reason == f"{HEAD} may use the other 4, all busy now. Try again later."


def test_the_form_shows_the_reservation() -> None:
    site = _site()
    page = html.unescape(
        render_form(HubRegistry(site), _free(3, 4), {"acme": Decimal(100)}, Entitlements())
    )
    assert "H100: 3 of 12 free, 8 reserved for academic accounts; A100:" in page
    assert "(Capital) · H100: 4 of 4 free<" in page  # Islamabad reserves nothing


SQUEUE = [
    ("two jobs", "cpu=1,node=1,billing=1,gres/gpu=2,gres/gpu:h100=2|\n"
     "cpu=1,mem=1G,node=1,gres/gpu=1,gres/gpu:h100=1|\n", {"h100": 3}),
    ("untyped only is not typed", "cpu=1,gres/gpu=2|\n", {}),
    ("nothing running", "", {}),
    ("two types", "gres/gpu:a100=1,gres/gpu:h100=4|\n", {"a100": 1, "h100": 4}),
]  # fmt: skip


@pytest.mark.parametrize(("out", "expected"), [pytest.param(o, e, id=i) for i, o, e in SQUEUE])
def test_gpus_held_in_the_reserved_partitions(out: str, expected: dict[str, int]) -> None:
    assert parse_busy(out) == expected


NOTES = [
    ("entitled", FLOODLAB, "The account 'floodlab' (a research-group's project) may use any of "
     "Lahore AI Hub's 12 H100 GPUs, the 8 reserved for academic accounts included."),
    ("not entitled", ACME, "8 of Lahore AI Hub's 12 H100 GPUs are reserved for academic "
     "accounts; the account 'acme' (a startup's project) may use the other 4 (3 free now)."),
]  # fmt: skip


@pytest.mark.parametrize(("account", "expected"), [pytest.param(a, e, id=i) for i, a, e in NOTES])
def test_the_estimate_says_what_the_reservation_means_for_the_account(
    account: AccountProfile, expected: str
) -> None:
    capacity = _capacity(_site(), 11, 0, account)
    assert capacity.note("lahore", "h100", account.name) == expected
    assert capacity.note("lahore", "a100", account.name) is None


ENFORCED = [
    ("enforced", "associations,limits,qos", True, None),
    ("no enforcement", "none", True, "does not enforce QOS limits"),
    ("limits without qos", "associations,limits", True, "does not enforce QOS limits"),
    ("no reservation, nothing needed", "none", False, None),
]


@pytest.mark.parametrize(
    ("enforce", "reserved", "words"),
    [pytest.param(e, r, w, id=i) for i, e, r, w in ENFORCED],
)
def test_a_hub_that_reserves_gpus_needs_slurm_to_enforce_the_cap(
    enforce: str, reserved: bool, words: str | None
) -> None:
    config = parse_config(
        f"AccountingStorageEnforce = {enforce}\nAccountingStorageTRES = gres/gpu\n"
        "JobSubmitPlugins = lua\n"
    )
    problem = capacity_problem(HubRegistry(_site())["lahore"], reserved, config)
    if words is None:
        assert problem is None
    else:
        assert problem is not None
        assert words in problem
        assert "AccountingStorageEnforce=associations,limits,qos" in problem


def test_a_session_waiting_behind_the_cap_is_told_why() -> None:
    said = waiting_reason("QOSGrpGRES")
    assert said is not None
    assert "the others are reserved for some accounts" in said


def test_a_session_keeps_its_reserved_partition_across_a_hub_restart() -> None:
    """The partition is spawner state: the started job is checked against it, and the
    queue position looked up in it, also after the hub restarted."""
    spawner = ComputeHubSpawner()
    spawner.load_state({"hub": "lahore", "hold_id": 3, "job_id": "7", "partition": "gpu-academic"})
    assert spawner.job_partition("h100") == "gpu-academic"
    assert spawner.get_state()["partition"] == "gpu-academic"
    spawner.clear_state()
    assert "partition" not in spawner.get_state()
