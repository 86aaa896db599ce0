"""A Slurm job's GPU energy, read by the node's Prolog and Epilog (root), never by user code.

Slurm cannot measure it: ``acct_gather_energy/gpu`` reads nothing on NVIDIA GPUs, so
``sacct``'s ConsumedEnergy stays empty. This hook reads NVML's total-energy counter
(``nvmlDeviceGetTotalEnergyConsumption``, mJ since the driver loaded) of each of the job's
GPUs when the job starts (``prolog``) and again when it ends (``epilog``), through the same
`GpuBackend` seam as the widget, and hands the job's watt-hours to the platform as the job's
**AdminComment** in Slurm's accounting (``sacctmgr modify job``): only a Slurm administrator
(root here) may write it, so neither the job nor the notebook server can change what is
recorded. The platform's reconciler reads it back with ``sacct`` and records it in the ledger.

Why not ``scontrol update job AdminComment=``: slurmctld refuses it once the job is
completing ("Job has already finished"), which is when the epilog runs; ``sacctmgr`` updates
the finished job's record in slurmdbd (measured on Slurm 22.05).

A MIG instance has no energy counter of its own (NVML reports none): it is given its parent
GPU's energy by its share of the GPU's compute slices (a ``1g.10gb`` instance on a GPU with 7
slices: 1/7), whatever the other instances did.

The hook never fails the job: every error is logged and the job's energy is recorded as
``unknown`` (never 0), and it always exits 0 (a failing Prolog would drain the node).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path

from .gpus import GpuReader, mig_share
from .nvml import FAKE_GPUS_ENV, GpuBackend, GpuError, PynvmlBackend, backend_from_env

log = logging.getLogger("computehub.energy")

#: What an AdminComment written by this hook starts with (the format's version).
COMMENT_PREFIX = "computehub-energy/1"
#: Millijoules in a watt-hour.
MJ_PER_WH = 3_600_000
#: Watt-hours are kept to 4 decimal places (0.36 J), as the ledger stores them.
WH_STEP = Decimal("0.0001")
DEFAULT_SPOOL = Path("/var/spool/computehub-energy")
#: Where a job's figure came from: the node's GPUs (NVML), or the bed's and demo's fake
#: device layer (``--allow-fake-gpus``), whose counters are made up: never a measurement.
NVML = "nvml"
SIMULATED = "simulated"
_COMMENT = re.compile(
    r"^computehub-energy/1 wh=(?P<wh>\d{1,12}(?:\.\d{1,4})?|unknown) "
    r"s=(?P<s>\d{1,10}(?:\.\d)?) gpus=(?P<gpus>\d{1,4})(?: why=(?P<why>[a-z-]{1,40}))?"
    r"(?: src=(?P<src>simulated))?$"
)


@dataclass(frozen=True)
class CounterReading:
    """One of the job's devices at one moment.

    Attributes:
        uuid: The device the job has (a GPU, or a MIG instance).
        counter_uuid: The GPU whose counter was read (a MIG instance's parent).
        energy_mj: That GPU's total-energy counter.
        share: The part of the counter that is the device's, as ``"n/d"`` (``"1"``: a GPU).
    """

    uuid: str
    counter_uuid: str
    energy_mj: int
    share: str = "1"


@dataclass(frozen=True)
class EnergyNote:
    """What the epilog recorded for a job: its watt-hours (None: unknown) and over how long."""

    wh: Decimal | None
    seconds: float
    gpus: int
    why: str | None = None
    #: ``nvml``, or ``simulated`` when the counters were the fake device layer's.
    source: str = NVML


def job_wh(start: Sequence[CounterReading], end: Sequence[CounterReading]) -> Decimal | None:
    """The job's watt-hours from its devices' counters at start and end.

    Each device counts its counter's increase times its share. None (unknown) when there is
    nothing to compare, a device is missing from either reading, or a counter went backwards
    (the driver was reloaded during the job): a guess would be worse than no figure.

    >>> start = CounterReading("GPU-a", "GPU-a", 1000)
    >>> job_wh([start], [CounterReading("GPU-a", "GPU-a", 3601000)])
    Decimal('1.0000')
    """
    if not start or not end:
        return None
    before = {reading.uuid: reading for reading in start}
    after = {reading.uuid: reading for reading in end}
    if before.keys() != after.keys():
        return None
    total = Fraction(0)
    for uuid, first in before.items():
        last = after[uuid]
        if last.counter_uuid != first.counter_uuid or last.energy_mj < first.energy_mj:
            return None
        total += Fraction(last.energy_mj - first.energy_mj) * Fraction(first.share)
    wh = Decimal(total.numerator) / Decimal(total.denominator) / MJ_PER_WH
    return wh.quantize(WH_STEP, rounding=ROUND_HALF_UP)


def format_comment(note: EnergyNote) -> str:
    """The AdminComment for a job's energy (no ``|``: sacct's delimiter)."""
    wh = "unknown" if note.wh is None else f"{note.wh.quantize(WH_STEP)}"
    why = f" why={note.why}" if note.why else ""
    src = f" src={SIMULATED}" if note.source == SIMULATED else ""
    return f"{COMMENT_PREFIX} wh={wh} s={note.seconds:.1f} gpus={note.gpus}{why}{src}"


def parse_comment(text: str) -> EnergyNote | None:
    """A job's energy from its AdminComment; None when the comment is not this hook's.

    >>> parse_comment("computehub-energy/1 wh=1.5 s=60 gpus=1")
    EnergyNote(wh=Decimal('1.5'), seconds=60.0, gpus=1, why=None, source='nvml')
    >>> parse_comment("computehub-energy/1 wh=1.5 s=60 gpus=1 src=simulated").source
    'simulated'
    """
    match = _COMMENT.match(text.strip())
    if match is None:
        return None
    wh = None if match["wh"] == "unknown" else Decimal(match["wh"])
    source = SIMULATED if match["src"] else NVML
    return EnergyNote(wh, float(match["s"]), int(match["gpus"]), match["why"], source)


def visible_devices(environ: Mapping[str, str], device_map: Mapping[str, str]) -> str | None:
    """The job's devices, as NVML references, from the Prolog/Epilog environment.

    slurmd gives the Prolog and Epilog ``SLURM_JOB_GPUS`` (and ``CUDA_VISIBLE_DEVICES``): the
    node's GRES indices of the job's GPUs, e.g. ``2`` (measured on Slurm 22.05). With a
    gres.conf that lists ``/dev/nvidia0..N`` in order they are NVML indices; ``device_map``
    (the node's ``energy-devices.json``) names what an index is where that is not so, and
    must name every MIG slice (``{"4": "MIG-<uuid>"}``).
    """
    value = environ.get("SLURM_JOB_GPUS") or environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    entries = [entry.strip() for entry in value.split(",") if entry.strip()]
    return ",".join(device_map.get(entry, entry) for entry in entries)


def read_counters(
    backend: GpuBackend, visible: str | None
) -> tuple[list[CounterReading], list[str]]:
    """Read the counters of the devices ``visible`` names; problems come back as lines."""
    reader = GpuReader(backend, visible)
    reader.open()
    problems = list(reader.status)
    readings: list[CounterReading] = []
    try:
        for device in reader.devices:
            counter = device.parent if device.parent is not None else device.handle
            share: Fraction | None = Fraction(1)
            if device.parent is not None:
                share = mig_share(device.name, backend.max_mig_devices(device.parent))
            if share is None:
                problems.append(f"{device.uuid}: no MIG profile in {device.name!r}")
                continue
            readings.append(
                CounterReading(
                    uuid=device.uuid,
                    counter_uuid=backend.uuid(counter),
                    energy_mj=backend.total_energy_mj(counter),
                    share=str(share),
                )
            )
    except GpuError as exc:
        problems.append(f"NVML error: {exc.message}")
    finally:
        reader.close()
    if len(readings) < len(reader.visible.refs):
        problems.append(f"read {len(readings)} of {len(reader.visible.refs)} devices")
    return readings, problems


def _spool_file(spool: Path, environ: Mapping[str, str]) -> Path | None:
    cluster = environ.get("SLURM_CLUSTER_NAME", "")
    job = environ.get("SLURM_JOB_ID", "")
    if not (re.fullmatch(r"[A-Za-z0-9_-]{1,64}", cluster) and job.isascii() and job.isdigit()):
        return None
    return spool / f"{cluster}-{job}.json"


def prolog(
    backend: GpuBackend, environ: Mapping[str, str], spool: Path, device_map: Mapping[str, str]
) -> None:
    """Keep the job's counters at its start in a root-only spool file."""
    path = _spool_file(spool, environ)
    visible = visible_devices(environ, device_map)
    if path is None or not visible:
        return  # not a job, or a job without GPUs: nothing to measure
    readings, problems = read_counters(backend, visible)
    for problem in problems:
        log.warning("job %s: %s", environ.get("SLURM_JOB_ID"), problem)
    spool.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = {"t": time.time(), "ok": not problems, "readings": [asdict(r) for r in readings]}
    partial = path.with_suffix(".tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out)
    partial.replace(path)


def epilog(
    backend: GpuBackend,
    environ: Mapping[str, str],
    spool: Path,
    device_map: Mapping[str, str],
    source: str = NVML,
) -> EnergyNote | None:
    """The job's energy from its start reading and the counters now (None: no GPU job).

    ``source`` goes with the figure (``simulated``: the backend is the fake layer).
    """
    path = _spool_file(spool, environ)
    visible = visible_devices(environ, device_map)
    if path is None or not visible:
        return None
    gpus = len([entry for entry in visible.split(",") if entry])
    try:
        data = json.loads(path.read_text())
        started = float(data["t"])
        start = [CounterReading(**reading) for reading in data["readings"]]
        start_ok = bool(data["ok"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("job %s: no start reading (%s)", environ.get("SLURM_JOB_ID"), exc)
        return EnergyNote(None, 0, gpus, "no-start-reading", source)
    finally:
        path.unlink(missing_ok=True)
    seconds = max(0.0, round(time.time() - started, 1))
    end, problems = read_counters(backend, visible)
    for problem in problems:
        log.warning("job %s: %s", environ.get("SLURM_JOB_ID"), problem)
    if not start_ok or problems:
        return EnergyNote(None, seconds, gpus, "unreadable", source)
    wh = job_wh(start, end)
    return EnergyNote(wh, seconds, gpus, None if wh is not None else "counter-reset", source)


def record(note: EnergyNote, environ: Mapping[str, str], sacctmgr: str, tries: int = 5) -> bool:
    """Write the job's energy as its AdminComment in Slurm's accounting (as root).

    The job's record may reach slurmdbd a moment after the epilog starts: retried.
    """
    job = environ["SLURM_JOB_ID"]
    argv = [
        sacctmgr,
        "-i",
        "modify",
        "job",
        "where",
        f"jobid={job}",
        f"cluster={environ.get('SLURM_CLUSTER_NAME', '')}",
        "set",
        f"AdminComment={format_comment(note)}",
    ]
    for attempt in range(tries):
        try:
            done = subprocess.run(  # noqa: S603 (argv: sacctmgr and fixed words)
                argv, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("job %s: sacctmgr failed (%s)", job, exc)
        else:
            if done.returncode == 0 and "Modified" in done.stdout:
                return True
            log.info("job %s: sacctmgr said %s %s", job, done.stdout.strip(), done.stderr.strip())
        time.sleep(0.5 * (attempt + 1))
    log.error("job %s: its energy could not be recorded in accounting", job)
    return False


def _device_map(path: Path | None) -> dict[str, str]:
    if path is None or not path.exists():
        return {}
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError(f"{path}: must map GRES indices to device references")
    return data


def _backend(env: Mapping[str, str], *, allow_fake: bool) -> GpuBackend:
    """The node's device layer: NVML, or the fake one only where the hook's argv allows it.

    The fake layer's counters are what its variable says, not what a GPU drew: recorded as a
    job's energy they would be made up. Slurm gives the Prolog and Epilog slurmd's
    environment, not the job's, so no user sets it; the flag keeps an operator's stray
    variable from doing so on a real node (the bed writes it into its own hook).
    """
    if env.get(FAKE_GPUS_ENV, "").strip() and not allow_fake:
        log.error(
            "job %s: %s is set but the hook was not started with --allow-fake-gpus: "
            "reading NVML, never the fake layer, for the job's energy",
            env.get("SLURM_JOB_ID"),
            FAKE_GPUS_ENV,
        )
        return PynvmlBackend()
    return backend_from_env(env)


def main(argv: Iterable[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """``computehub-energy-hook prolog|epilog``: always exits 0 (never fails the job)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("phase", choices=["prolog", "epilog"])
    parser.add_argument("--spool", type=Path, default=DEFAULT_SPOOL, help="root-only folder")
    parser.add_argument("--device-map", type=Path, default=None, help="GRES index → device")
    parser.add_argument("--sacctmgr", default="sacctmgr", help="sacctmgr to record with")
    parser.add_argument("--log", type=Path, default=None, help="append log lines here")
    parser.add_argument(
        "--allow-fake-gpus",
        action="store_true",
        help="the local bed and demo only: read the fake device layer (COMPUTEHUB_FAKE_GPUS) "
        "as the node's GPUs; without it that variable is ignored and NVML is read",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    env = os.environ if environ is None else environ
    handler: logging.Handler = (
        logging.FileHandler(args.log) if args.log is not None else logging.StreamHandler()
    )
    handler.setFormatter(logging.Formatter("%(asctime)s energy %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        backend = _backend(env, allow_fake=args.allow_fake_gpus)
        devices = _device_map(args.device_map)
        if args.phase == "prolog":
            prolog(backend, env, args.spool, devices)
        else:
            source = NVML if isinstance(backend, PynvmlBackend) else SIMULATED
            note = epilog(backend, env, args.spool, devices, source)
            if note is not None:
                record(note, env, args.sacctmgr)
                log.info("job %s: %s", env.get("SLURM_JOB_ID"), format_comment(note))
    except Exception:  # never fail the job: Slurm drains a node whose prolog fails
        log.exception("energy %s of job %s failed", args.phase, env.get("SLURM_JOB_ID"))
    finally:
        log.removeHandler(handler)
        handler.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
