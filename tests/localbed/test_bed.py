"""The real components of the test bed answer as the platform needs them to."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import ldap3
import pytest
import sqlalchemy as sa

from computehub.localbed.bed import SlurmBed
from computehub.localbed.postgres import Postgres
from computehub.localbed.slapd import LdapPerson, Slapd

pytestmark = pytest.mark.integration


def slurm(bed: SlurmBed, hub: str, *argv: str, user: str | None = None) -> str:
    prefix = ["sudo", "-n", "-u", user, "--preserve-env=SLURM_CONF"] if user else []
    proc = subprocess.run(
        [*prefix, *argv],
        env=bed.clusters[hub].env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"{argv[0]} failed: {proc.stderr.strip()}")
    return proc.stdout


def wait_job_done(bed: SlurmBed, hub: str, job_id: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = slurm(bed, hub, "sacct", "-n", "-X", "-P", "-j", job_id, "-o", "State").strip()
        if state and state not in {"PENDING", "RUNNING"}:
            return state
        time.sleep(0.3)
    raise AssertionError(f"job {hub}/{job_id} did not finish in {timeout} s")


def test_munge_encodes_and_decodes(slurm_bed: SlurmBed) -> None:
    slurm_bed.munge.check()


@pytest.mark.parametrize(
    ("hub", "gpu"), [("lahore", "gpu:h100:4,gpu:a100:2"), ("karachi", "gpu:a100:4,gpu:1g.10gb:4")]
)
def test_each_hub_is_its_own_cluster_with_fake_gpus(
    slurm_bed: SlurmBed, hub: str, gpu: str
) -> None:
    out = slurm(slurm_bed, hub, "sinfo", "-h", "-N", "-p", "gpu", "-o", "%N %t %G")
    assert out.split() == [f"{hub}-n1", "idle", gpu]
    partitions = slurm(slurm_bed, hub, "sinfo", "-h", "-o", "%P").split()
    assert partitions == ["gpu", "batch*"]  # the portal's, and the users' own (default)
    conf = slurm(slurm_bed, hub, "scontrol", "show", "config")
    assert f"ClusterName             = {hub}" in conf


def test_gpu_job_runs_as_the_user_and_is_accounted(
    slurm_bed: SlurmBed, test_users: dict[str, str], bed_root: Path
) -> None:
    shared = bed_root / "shared"
    shared.mkdir(exist_ok=True)
    shared.chmod(0o1777)  # the job writes here as alice
    out = shared / "job.out"
    job_id = slurm(
        slurm_bed,
        "lahore",
        "sbatch",
        "--parsable",
        "--gres=gpu:h100:2",
        "--time=2",
        f"--output={out}",
        "--wrap",
        "echo $(id -un) $CUDA_VISIBLE_DEVICES $SLURM_CLUSTER_NAME",
        user="alice",
    ).strip()
    assert wait_job_done(slurm_bed, "lahore", job_id) == "COMPLETED"
    assert out.read_text().split() == ["alice", "0,1", "lahore"]
    # slurmdbd may first store a finished job with uid 0 and fill in the start record
    # (user, TRES) a moment later: accounting is eventually complete, not at once.
    deadline = time.monotonic() + 20
    while True:
        record = slurm(
            slurm_bed, "lahore", "sacct", "-n", "-X", "-P", "-j", job_id, "-o", "User,AllocTRES"
        ).strip()
        user, alloc = record.split("|")
        if user == "alice" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert user == "alice"
    assert "gres/gpu:h100=2" in alloc.split(",")


def test_job_ids_are_per_cluster(slurm_bed: SlurmBed, test_users: dict[str, str]) -> None:
    """Both clusters count job ids on their own: anything keyed by id needs the hub."""
    ids = {
        hub: int(
            slurm(
                slurm_bed,
                hub,
                "sbatch",
                "--parsable",
                "--time=1",
                "--output=/dev/null",
                "--wrap",
                "true",
                user="bob",
            ).strip()
        )
        for hub in ("lahore", "karachi")
    }
    for hub, job_id in ids.items():
        wait_job_done(slurm_bed, hub, str(job_id))
        listed = slurm(
            slurm_bed, hub, "sacct", "-n", "-X", "-P", "-o", "JobID,Cluster", "-j", str(job_id)
        )
        assert listed.strip() == f"{job_id}|{hub}"


def test_gpu_request_beyond_the_node_is_refused(slurm_bed: SlurmBed) -> None:
    proc = subprocess.run(
        ["sbatch", "--parsable", "--gres=gpu:h100:5", "--wrap", "true"],
        env=slurm_bed.clusters["lahore"].env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert "Requested node configuration is not available" in proc.stderr


def test_ldap_binds_people_and_refuses_wrong_passwords(slapd: Slapd) -> None:
    slapd.add_people([LdapPerson("dana", "s3cret-pw", "Dana Khan", ("physics",))])
    dn = f"uid=dana,ou=people,{slapd.suffix}"
    assert ldap3.Connection(ldap3.Server(slapd.url), dn, "s3cret-pw").bind()
    wrong = ldap3.Connection(ldap3.Server(slapd.url), dn, "nope")
    assert not wrong.bind()
    assert wrong.result["description"] == "invalidCredentials"
    anon = ldap3.Connection(ldap3.Server(slapd.url), auto_bind=True)
    anon.search(f"ou=groups,{slapd.suffix}", "(member=" + dn + ")", attributes=["cn"])
    assert [str(e.cn) for e in anon.entries] == ["physics"]


def test_postgres_gives_fresh_databases(postgres_server: Postgres) -> None:
    first, second = postgres_server.create_database(), postgres_server.create_database()
    assert first != second
    engine = sa.create_engine(second)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x int)"))
        assert (
            conn.execute(sa.text("SELECT current_database()")).scalar() == second.rsplit("/", 1)[1]
        )
    engine.dispose()
