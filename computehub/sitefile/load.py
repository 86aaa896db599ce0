"""Load and check a site file; every problem names the file and the key."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from computehub.sitefile.schema import RESOURCE_RE, Site

#: Rates are money: at most this many decimal places.
RATE_DECIMALS = 4


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a site file, at a dotted key such as ``hubs.lahore.rates``."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


class SiteFileError(Exception):
    """A site file that can't be used, with every problem found."""

    def __init__(self, path: Path, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """The first problem on one line, with how many more there are."""
        first = f"site file {self.path}: {self.problems[0]}"
        more = len(self.problems) - 1
        return first + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")

    def lines(self) -> list[str]:
        """Every problem, one line each."""
        return [f"site file {self.path}: {p}" for p in self.problems]


def _key(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _pydantic_problems(err: ValidationError) -> list[Problem]:
    problems = []
    for e in err.errors(include_url=False):
        kind = e["type"]
        loc = tuple(part for part in e["loc"] if not (isinstance(part, str) and "[" in part))
        if kind == "missing":
            msg = "required key is missing"
        elif kind == "extra_forbidden":
            msg = "unknown key"
        else:
            msg = str(e["msg"]).removeprefix("Value error, ")
            if kind not in {"value_error", "assertion_error"} and "input" in e:
                msg += f" (got {e['input']!r})"
        problems.append(Problem(_key(loc), msg))
    return problems


def _rate_problems(site: Site) -> list[Problem]:
    problems = []
    for hub_name, hub in site.hubs.items():
        base = f"hubs.{hub_name}"
        for resource, rate in hub.rates.items():
            key = f"{base}.rates.{resource}"
            m = RESOURCE_RE.match(resource)
            if m is None:
                problems.append(
                    Problem(key, "not a resource: use cpu, gpu:TYPE or mig:TYPE:PROFILE")
                )
                continue
            gpu = m.group("gpu") or m.group("mgpu")
            if gpu is not None and gpu not in hub.gpus:
                have = ", ".join(sorted(hub.gpus)) or "none"
                problems.append(
                    Problem(key, f"unknown GPU type {gpu!r} (hub {hub_name} has: {have})")
                )
            elif m.group("profile") and gpu is not None:
                profiles = hub.gpus[gpu].mig
                if m.group("profile") not in profiles:
                    have = ", ".join(sorted(profiles)) or "none"
                    problems.append(
                        Problem(
                            key,
                            f"unknown MIG profile {m.group('profile')!r} for {gpu} "
                            f"(declared: {have})",
                        )
                    )
            if not rate.is_finite():
                problems.append(Problem(key, f"must be a finite number of credits, got {rate}"))
            elif rate < 0:
                problems.append(Problem(key, f"must not be negative, got {rate}"))
            elif -rate.as_tuple().exponent > RATE_DECIMALS:  # type: ignore[operator]
                problems.append(Problem(key, f"at most {RATE_DECIMALS} decimal places, got {rate}"))
        for gpu_name, gpu in hub.gpus.items():
            if f"gpu:{gpu_name}" not in hub.rates:
                problems.append(Problem(f"{base}.rates", f"no rate for gpu:{gpu_name}"))
            for profile in gpu.mig:
                if f"mig:{gpu_name}:{profile}" not in hub.rates:
                    problems.append(
                        Problem(f"{base}.rates", f"no rate for mig:{gpu_name}:{profile}")
                    )
    return problems


def _reference_problems(site: Site) -> list[Problem]:
    problems = []
    for hub_name, hub in site.hubs.items():
        base = f"hubs.{hub_name}"
        defaults = [name for name, part in hub.partitions.items() if part.default]
        if len(defaults) > 1:
            problems.append(
                Problem(f"{base}.partitions", f"more than one default: {', '.join(defaults)}")
            )
        for gpu_name, gpu in hub.gpus.items():
            if gpu.partition is not None and gpu.partition not in hub.partitions:
                problems.append(
                    Problem(
                        f"{base}.gpus.{gpu_name}.partition",
                        f"unknown partition {gpu.partition!r}",
                    )
                )
        for resource in hub.limits.access:
            if resource not in hub.rates:
                problems.append(
                    Problem(
                        f"{base}.limits.access.{resource}",
                        f"{resource!r} has no rate on this hub (rated: {', '.join(hub.rates)})",
                    )
                )
        for i, env in enumerate(hub.environments or []):
            if env not in site.environments:
                problems.append(Problem(f"{base}.environments.{i}", f"unknown environment {env!r}"))
    if site.defaults.hub is not None and site.defaults.hub not in site.hubs:
        have = ", ".join(sorted(site.hubs))
        problems.append(
            Problem("defaults.hub", f"unknown hub {site.defaults.hub!r} (hubs: {have})")
        )
    if site.defaults.environment is not None and site.defaults.environment not in site.environments:
        problems.append(
            Problem("defaults.environment", f"unknown environment {site.defaults.environment!r}")
        )
    return problems


def parse_site(data: Any, path: Path) -> Site:
    """Validate already-parsed YAML data as a site file."""
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise SiteFileError(path, [Problem("", f"must be a mapping of keys, but it is {kind}")])
    try:
        site = Site.model_validate(data)
    except ValidationError as err:
        raise SiteFileError(path, _pydantic_problems(err)) from None
    problems = _rate_problems(site) + _reference_problems(site)
    if problems:
        raise SiteFileError(path, problems)
    return site


def load_site(path: str | Path) -> Site:
    """Read and validate a site file, raising :class:`SiteFileError` naming the key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SiteFileError(path, [Problem("", f"can't read it: {err.strerror}")]) from None
    try:
        # Floats would lose cents: rates are read as text and parsed as Decimal by the schema.
        data = yaml.load(text, Loader=_DecimalLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        what = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SiteFileError(path, [Problem(where, f"not valid YAML: {what}")]) from None
    return parse_site(data, path)


class _DecimalLoader(yaml.SafeLoader):
    """SafeLoader that reads YAML floats as exact decimals."""


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    assert isinstance(node, yaml.ScalarNode)
    return Decimal(str(loader.construct_scalar(node)).replace("_", ""))


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)
