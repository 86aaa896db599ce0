"""The options pipeline and the batch request: plain tables, no Slurm, no hub."""

from __future__ import annotations

import html
import json
import re
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from computehub.sitefile import load_site
from computehub.sitefile.load import parse_site
from computehub.spawners.access import Entitlements, refusal
from computehub.spawners.availability import GpuAvailability
from computehub.spawners.batch import (
    JobPlacement,
    build_batch_request,
    hold_of_job_name,
    job_name,
)
from computehub.spawners.extend import parse_extension
from computehub.spawners.form import render_form
from computehub.spawners.jobticket import JobClaim, sign
from computehub.spawners.options import OptionsError, SessionRequest, parse_form, validate
from computehub.spawners.registry import HubRegistry

EXAMPLE = Path(__file__).resolve().parents[2] / "hub_config" / "site.example.yaml"
#: The example site keeps Lahore's H100s for researchers, instructors, operators and intro-ml.
RESEARCHER = Entitlements(roles=frozenset({"researcher"}))
STUDENT = Entitlements(roles=frozenset({"student"}))


@pytest.fixture(scope="module")
def registry() -> HubRegistry:
    return HubRegistry(load_site(EXAMPLE))


VALID = [
    ("defaults", {}, SessionRequest("lahore", None, 0, Decimal(1), "pytorch")),
    (
        "h100 x2",
        {"hub": "lahore", "gpu_type": "h100", "gpus": 2, "hours": "2.5"},
        SessionRequest("lahore", "h100", 2, Decimal("2.5"), "pytorch"),
    ),
    (
        "form strings",
        {"hub": "karachi", "gpu_type": "a100", "gpus": "1", "hours": "12"},
        SessionRequest("karachi", "a100", 1, Decimal(12), "pytorch"),
    ),
    (
        "cpu only",
        {"hub": "karachi", "gpu_type": "none", "gpus": "0", "hours": 3},
        SessionRequest("karachi", None, 0, Decimal(3), "pytorch"),
    ),
    (
        "gpu count defaults to 1",
        {"gpu_type": "l40s"},
        SessionRequest("lahore", "l40s", 1, Decimal(1), "pytorch"),
    ),
    (
        "two MIG slices",
        {"hub": "karachi", "gpu_type": "a100:1g.10gb", "gpus": 2},
        SessionRequest("karachi", "a100", 2, Decimal(1), "pytorch", mig_profile="1g.10gb"),
    ),
]


@pytest.mark.parametrize(("raw", "expected"), [pytest.param(r, e, id=i) for i, r, e in VALID])
def test_valid_options(
    registry: HubRegistry, raw: dict[str, Any], expected: SessionRequest
) -> None:
    assert validate(raw, registry, who=RESEARCHER) == expected


REFUSED: list[tuple[str, Any, str, str]] = [
    ("unknown key", {"gres": "gpu:h100:8"}, "gres", "unknown option"),
    ("unknown hub", {"hub": "quetta"}, "hub", "no hub 'quetta'"),
    ("gpu the hub lacks", {"hub": "karachi", "gpu_type": "h100"}, "gpu_type", "has no 'h100'"),
    ("count above limit", {"gpu_type": "h100", "gpus": 5}, "gpus", "between 1 and 4"),
    (
        "count above karachi limit",
        {"hub": "karachi", "gpu_type": "a100", "gpus": 3},
        "gpus",
        "between 1 and 2",
    ),
    ("zero gpus", {"gpu_type": "h100", "gpus": 0}, "gpus", "between 1"),
    ("gpus on cpu session", {"gpu_type": "none", "gpus": 1}, "gpus", "CPU-only"),
    ("negative gpus", {"gpu_type": "h100", "gpus": "-1"}, "gpus", "whole number"),
    ("bool gpus", {"gpu_type": "h100", "gpus": True}, "gpus", "whole number"),
    ("float gpus", {"gpu_type": "h100", "gpus": 1.5}, "gpus", "whole number"),
    ("hours too long", {"hours": "25"}, "hours", "at most 24"),
    ("karachi hours", {"hub": "karachi", "hours": "13"}, "hours", "at most 12"),
    ("zero hours", {"hours": "0"}, "hours", "more than 0"),
    ("hours exponent", {"hours": "1e3"}, "hours", "number of hours"),
    ("hours nan", {"hours": "NaN"}, "hours", "number of hours"),
    ("hours list", {"hours": [1]}, "hours", "number of hours"),
    ("shell in hub", {"hub": "lahore; rm -rf /"}, "hub", "not allowed"),
    ("slurm option in gpu", {"gpu_type": "h100 --uid=0"}, "gpu_type", "not allowed"),
    (
        "newline sbatch directive",
        {"environment": "pytorch\n#SBATCH --uid=0"},
        "environment",
        "not allowed",
    ),
    ("dict value", {"hub": {"name": "lahore"}}, "hub", "must be a string"),
    (
        "MIG profile the hub lacks",
        {"hub": "karachi", "gpu_type": "a100:3g.40gb"},
        "gpu_type",
        "has no 3g.40gb slices of its A100 GPUs (slices: 1g.10gb)",
    ),
    (
        "MIG of a GPU the hub lacks",
        {"hub": "karachi", "gpu_type": "h100:1g.10gb"},
        "gpu_type",
        "no 'h100'",
    ),
    ("not a MIG profile", {"gpu_type": "h100:big"}, "gpu_type", "a MIG slice of one"),
    (
        "MIG slices above the limit",
        {"hub": "karachi", "gpu_type": "a100:1g.10gb", "gpus": 3},
        "gpus",
        "between 1 and 2",
    ),
    ("unknown environment", {"environment": "tensorflow"}, "environment", "not offered"),
    ("not a mapping", ["hub", "lahore"], "user_options", "JSON object"),
]


@pytest.mark.parametrize(
    ("raw", "field", "words"), [pytest.param(r, f, w, id=i) for i, r, f, w in REFUSED]
)
def test_refused_options(registry: HubRegistry, raw: Any, field: str, words: str) -> None:
    with pytest.raises(OptionsError) as caught:
        validate(raw, registry, who=RESEARCHER)
    assert caught.value.field == field
    assert words in caught.value.reason


H100 = {"hub": "lahore", "gpu_type": "h100"}
ACCESS: list[tuple[str, dict[str, Any], Entitlements, str | None]] = [
    # (id, options, who, words of the refusal or None when allowed)
    ("researcher h100", H100, RESEARCHER, None),
    ("instructor h100", H100, Entitlements(roles=frozenset({"instructor"})), None),
    (
        "student h100",
        H100,
        STUDENT,
        "H100 GPUs on Lahore AI Hub are for researchers, instructors, operators and "
        "members of the course intro-ml (your roles: student; your courses: none)",
    ),
    ("no roles at all", H100, Entitlements(), "your roles: none"),
    (
        "student of intro-ml",
        H100,
        Entitlements(roles=frozenset({"student"}), courses=frozenset({"intro-ml"})),
        None,
    ),
    (
        "student of another course",
        H100,
        Entitlements(roles=frozenset({"student"}), courses=frozenset({"nlp-101"})),
        "your courses: nlp-101",
    ),
    ("student l40s (not listed)", {"gpu_type": "l40s"}, STUDENT, None),
    ("student cpu (not listed)", {"gpu_type": "none"}, STUDENT, None),
    ("student any hub h100", {"hub": "any", "gpu_type": "h100"}, STUDENT, "are for researchers"),
]


@pytest.mark.parametrize(
    ("raw", "who", "words"), [pytest.param(r, w, x, id=i) for i, r, w, x in ACCESS]
)
def test_resource_access_by_role_and_course(
    registry: HubRegistry, raw: dict[str, Any], who: Entitlements, words: str | None
) -> None:
    free = {
        "lahore": {"h100": GpuAvailability(32, 32)},
        "karachi": {"a100": GpuAvailability(16, 16)},
    }
    if words is None:
        assert validate(raw, registry, free, who=who).hub == "lahore"
        return
    with pytest.raises(OptionsError) as caught:
        validate(raw, registry, free, who=who)
    assert caught.value.field == "gpu_type"
    assert words in caught.value.reason


INTRO_ML = Entitlements(roles=frozenset({"student"}), courses=frozenset({"intro-ml"}))
DEFAULT_ACCOUNT = [
    # (id, options, accounts the person may charge, the account charged)
    ("course resource: its course pays", H100, ["bilal", "intro-ml"], "intro-ml"),
    ("course resource, other course first", H100, ["bilal", "nlp-101", "intro-ml"], "intro-ml"),
    ("open resource: the personal account", {"gpu_type": "l40s"}, ["bilal", "intro-ml"], "bilal"),
    ("named account wins", {**H100, "account": "bilal"}, ["bilal", "intro-ml"], "bilal"),
    ("course resource, not its course", H100, ["bilal", "nlp-101"], "bilal"),
]


@pytest.mark.parametrize(
    ("raw", "accounts", "charged"), [pytest.param(r, a, c, id=i) for i, r, a, c in DEFAULT_ACCOUNT]
)
def test_a_course_resource_is_paid_from_its_course_by_default(
    registry: HubRegistry, raw: dict[str, Any], accounts: list[str], charged: str
) -> None:
    who = Entitlements(roles=frozenset({"student"}), courses=frozenset(accounts[1:]))
    if charged == "bilal" and "intro-ml" not in accounts and raw.get("gpu_type") == "h100":
        who = INTRO_ML  # allowed by the roster of the hub, not paid from the course
    assert validate(raw, registry, who=who, accounts=accounts).account == charged


def test_parse_form_takes_single_values() -> None:
    assert parse_form({"hub": [" lahore "], "gpus": ["2"]}) == {"hub": "lahore", "gpus": "2"}
    with pytest.raises(OptionsError, match="exactly one value"):
        parse_form({"hub": ["lahore", "karachi"]})


PLACEMENT = JobPlacement(
    username="ayesha",
    uid=1500,
    home=PurePosixPath("/home/ayesha"),
    partition="gpu",
    cpus=8,
    memory_gb=64,
    env_prefix=PurePosixPath("/opt/computehub/envs/pytorch"),
    sbatch="/usr/bin/sbatch",
    sudo="/usr/bin/sudo",
)


def test_batch_request_for_two_gpus() -> None:
    req = SessionRequest("lahore", "h100", 2, Decimal("1.5"), "pytorch")
    batch = build_batch_request(req, PLACEMENT, ["JUPYTERHUB_API_TOKEN", "HOME"], hold_id=12)
    assert batch.argv == (
        "/usr/bin/sudo",
        "-n",
        "-u",
        "ayesha",
        "--preserve-env=HOME,JUPYTERHUB_API_TOKEN,SLURM_CONF",
        "/usr/bin/sbatch",
        "--parsable",
        "--job-name=jupyterhub-lahore-12",
        "--partition=gpu",
        "--time=90",
        "--nodes=1",
        "--ntasks=1",
        "--cpus-per-task=8",
        "--mem=64G",
        "--chdir=/home/ayesha",
        "--output=/home/ayesha/.computehub-lahore-%j.log",
        "--export=ALL",
        "--no-requeue",
        "--gres=gpu:h100:2",
    )
    assert batch.script.splitlines()[-1] == (
        "exec /opt/computehub/envs/pytorch/bin/batchspawner-singleuser "
        "/opt/computehub/envs/pytorch/bin/jupyterhub-singleuser"
    )


@pytest.mark.parametrize(
    ("hours", "minutes"), [("0.25", 15), ("1", 60), ("2.5", 150), ("0.01", 1), ("0.02", 2)]
)
def test_time_limit_is_the_funded_time_rounded_up(hours: str, minutes: int) -> None:
    req = SessionRequest("lahore", None, 0, Decimal(hours), "pytorch")
    batch = build_batch_request(req, PLACEMENT, [], hold_id=12)
    assert f"--time={minutes}" in batch.argv
    assert not any(a.startswith("--gres") for a in batch.argv)


def test_batch_request_for_mig_slices_asks_for_their_gres_type() -> None:
    req = SessionRequest("karachi", "a100", 2, Decimal(1), "pytorch", mig_profile="1g.10gb")
    assert req.resource == "mig:a100:1g.10gb"
    where = JobPlacement(**{**PLACEMENT.__dict__, "gres_type": "a100_1g.10gb"})
    assert "--gres=gpu:a100_1g.10gb:2" in build_batch_request(req, where, [], hold_id=12).argv


def test_the_job_ticket_signs_what_is_asked_and_rides_in_the_script() -> None:
    """The ticket is the job's comment through an #SBATCH line (stdin, no command line)."""
    key = b"k" * 64
    req = SessionRequest("lahore", "h100", 2, Decimal("1.5"), "pytorch")
    claims: list[JobClaim] = []

    def signer(claim: JobClaim) -> str:
        claims.append(claim)
        return sign(key, claim, 1_999_999_900, 2_000_000_000, "ab" * 8)

    batch = build_batch_request(req, PLACEMENT, [], hold_id=12, ticket=signer)
    # Cluster, CPUs, memory and exclusivity are signed too: a raced or replayed ticket
    # can't take --exclusive, --mem=0 or more CPUs, nor be used on another cluster.
    assert claims == [
        JobClaim("lahore", 1500, "jupyterhub-lahore-12", "gpu", 90, "gpu:h100:2", 8, 65536)
    ]
    lines = batch.script.splitlines()
    assert lines[0] == "#!/bin/bash"
    comment = sign(key, claims[0], 1_999_999_900, 2_000_000_000, "ab" * 8)
    assert lines[1] == f"#SBATCH --comment={comment}"
    assert not any("ticket" in arg for arg in batch.argv)
    cpu = SessionRequest("lahore", None, 0, Decimal(1), "pytorch")
    build_batch_request(cpu, PLACEMENT, [], hold_id=13, ticket=signer)
    assert claims[-1] == JobClaim("lahore", 1500, "jupyterhub-lahore-13", "gpu", 60, "", 8, 65536)


@pytest.mark.parametrize(
    ("hub", "name", "hold"),
    [
        ("lahore", "jupyterhub-lahore-12", 12),
        ("lahore", "jupyterhub-karachi-12", None),
        ("lahore", "jupyterhub-lahore", None),
        ("lahore", "jupyterhub-lahore-012", None),
        ("lahore", "jupyterhub-lahore-12x", None),
        ("lahore", "jupyterhub-lahore-12\n", None),
        ("north-1", "jupyterhub-north-1-7", 7),
    ],
)
def test_a_job_name_carries_its_hub_and_hold(hub: str, name: str, hold: int | None) -> None:
    assert hold_of_job_name(hub, name) == hold
    if hold is not None:
        assert job_name(hub, hold) == name


def test_hours_are_limited_by_the_hub_and_the_partition() -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["hubs"]["lahore"]["partitions"] = {
        "gpu": {"default": True, "max_hours": 6},
        "long": {"max_hours": 48},
    }
    data["hubs"]["lahore"]["gpus"]["l40s"]["partition"] = "long"
    site = parse_site(data, EXAMPLE)
    lahore = HubRegistry(site)
    entry = lahore["lahore"]
    assert entry.max_hours("gpu:h100") == 6
    assert entry.max_hours("mig:h100:1g.10gb") == 6
    assert entry.max_hours("cpu") == 6
    assert entry.max_hours("gpu:l40s") == 24  # the hub's own limit is lower
    h100 = {"hub": "lahore", "gpu_type": "h100", "hours": "8"}
    with pytest.raises(OptionsError, match=r"^hours: at most 6 h per session on Lahore AI Hub$"):
        validate(h100, lahore, who=RESEARCHER)
    assert validate({**h100, "hours": "6"}, lahore, who=RESEARCHER).hours == 6
    assert validate({**h100, "gpu_type": "l40s"}, lahore, who=RESEARCHER).hours == 8


def test_registry_knows_the_gres_type_of_each_gpu_resource(registry: HubRegistry) -> None:
    karachi = registry["karachi"]
    assert karachi.gres_type("gpu:a100") == "a100"
    assert karachi.gres_type("mig:a100:1g.10gb") == "1g.10gb"
    assert karachi.gres_type("cpu") is None


def test_script_quotes_operator_paths() -> None:
    odd = JobPlacement(**{**PLACEMENT.__dict__, "env_prefix": PurePosixPath("/opt/my env")})
    req = SessionRequest("lahore", None, 0, Decimal(1), "pytorch")
    script = build_batch_request(req, odd, [], hold_id=12).script
    assert "exec '/opt/my env/bin/batchspawner-singleuser'" in script


@pytest.mark.parametrize(
    ("body", "parsed"),
    [
        ({"hours": "1"}, (Decimal(1), False)),
        ({"hours": 2, "dry_run": True}, (Decimal(2), True)),
        ({"hours": "0.5", "dry_run": False}, (Decimal("0.5"), False)),
    ],
)
def test_extension_body(body: dict[str, Any], parsed: tuple[Decimal, bool]) -> None:
    assert parse_extension(body) == parsed


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"hours": "0"},
        {"hours": "-1"},
        {"hours": "1e3"},
        {"hours": True},
        {"hours": "1", "dry_run": "yes"},
        {"hours": "1", "job_id": "7"},
        ["hours", "1"],
        {"hours": "1; scancel 1"},
    ],
)
def test_extension_body_refused(body: Any) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (the message is for people; any reason)
        parse_extension(body)


def test_form_explains_resources_kept_for_others(registry: HubRegistry) -> None:
    """The form keeps a refused GPU in the list and carries why, for the page to say."""
    student = render_form(registry, None, {"bob": Decimal(10)}, STUDENT)
    refused = json.loads(html.unescape(re.search(r'data-refused="([^"]*)"', student)[1]))  # type: ignore[index]
    assert refused["lahore"]["gpu:h100"].startswith(
        "H100 GPUs on Lahore AI Hub are for researchers"
    )
    assert "gpu:l40s" not in refused["lahore"]
    assert 'value="h100"' in student
    assert '<option value="h100:1g.10gb" data-hubs="lahore">H100, a 1g.10gb MIG slice</option>' in (
        student
    )
    researcher = render_form(registry, None, {"alice": Decimal(10)}, RESEARCHER)
    assert 'data-refused="{}"' in researcher


def test_form_tells_why_the_last_session_ended(registry: HubRegistry) -> None:
    page = render_form(registry, None, {}, RESEARCHER, notice="Stopped <idle> & saved 5.00")
    assert (
        '<div class="alert alert-info" id="ch-last-session" role="status">'
        "Your last session: Stopped &lt;idle&gt; &amp; saved 5.00</div>"
    ) in page
    assert "ch-last-session" not in render_form(registry, None, {}, RESEARCHER)


def _form_defaults(page: str) -> dict[str, dict[str, str]]:
    found = re.search(r'data-defaults="([^"]*)"', page)
    assert found is not None
    table: dict[str, dict[str, str]] = json.loads(html.unescape(found[1]))
    return table


def _gpu_type_of(resource: str) -> str:
    """The form's GPU choice for a resource name (``cpu`` -> ``none``)."""
    kind, _, rest = resource.partition(":")
    return "none" if kind == "cpu" else rest


def test_the_form_selects_the_account_a_start_would_charge(registry: HubRegistry) -> None:
    """The page's default account per hub and resource is the start's own default."""
    accounts = {"bilal": Decimal(10), "intro-ml": Decimal(50)}
    table = _form_defaults(render_form(registry, None, accounts, INTRO_ML))
    assert table["lahore"]["gpu:h100"] == "intro-ml"
    assert table["lahore"]["gpu:l40s"] == "bilal"
    assert table["lahore"]["cpu"] == "bilal"
    assert table["any"]["gpu:h100"] == "intro-ml"
    for hub, resources in table.items():
        if hub == "any":
            continue
        for resource, account in resources.items():
            if refusal(registry[hub], resource, INTRO_ML) is not None:
                continue  # kept for others: the start refuses it, whoever pays
            raw = {"hub": hub, "gpu_type": _gpu_type_of(resource)}
            request = validate(raw, registry, who=INTRO_ML, accounts=list(accounts))
            assert request.account == account, (hub, resource)
    # Someone who is not the course's member: their own account everywhere.
    mine = _form_defaults(render_form(registry, None, {"bilal": Decimal(10)}, STUDENT))
    assert {a for row in mine.values() for a in row.values()} == {"bilal"}
    assert _form_defaults(render_form(registry, None, {}, STUDENT)) == {}
