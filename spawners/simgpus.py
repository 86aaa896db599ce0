"""The demo's switch to simulated GPUs, as the job's environment (a pure function).

Only the site file turns it on (``demo.simulated_gpus``); the variable reaches the job
through the spawner's environment, which users cannot set (their options are validated
fields, never environment), and is removed from it on every other site, whatever an
extra configuration put in ``Spawner.environment``. The notebook side is
`computehub.extensions.simulated`.
"""

from __future__ import annotations

from collections.abc import Mapping

from computehub.extensions.simulate import SIMULATED_GPUS_ENV, SimulatedSession
from computehub.sitefile.schema import Site
from computehub.spawners.options import SessionRequest


def with_simulated_gpus(
    site: Site, request: SessionRequest, env: Mapping[str, str]
) -> dict[str, str]:
    """The job's environment with the simulation variable set on a demo site, absent elsewhere.

    >>> from decimal import Decimal
    >>> from computehub.sitefile.schema import Demo
    >>> with_simulated_gpus(
    ...     Site.model_construct(demo=Demo(simulated_gpus=True)),
    ...     SessionRequest("lahore", "h100", 2, Decimal(1), "notebook"),
    ...     {"PATH": "/usr/bin"},
    ... )
    {'PATH': '/usr/bin', 'COMPUTEHUB_SIMULATED_GPUS': 'h100'}
    """
    out = {key: value for key, value in env.items() if key != SIMULATED_GPUS_ENV}
    if site.demo.simulated_gpus and request.gpu_type is not None and request.gpus >= 1:
        session = SimulatedSession(request.gpu_type, request.mig_profile)
        out[SIMULATED_GPUS_ENV] = session.env_value()
    return out
