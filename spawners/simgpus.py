"""The demo's switch to simulated GPUs, as the job's environment (a pure function).

Only the site file turns it on (``demo.simulated_gpus``); the variable reaches the job
through the spawner's environment, which users cannot set (their options are validated
fields, never environment). The notebook side is `computehub.extensions.simulated`.
"""

from __future__ import annotations

from computehub.extensions.simulate import SIMULATED_GPUS_ENV, SimulatedSession
from computehub.sitefile.schema import Site
from computehub.spawners.options import SessionRequest


def simulated_gpu_env(site: Site, request: SessionRequest) -> dict[str, str]:
    """The job's simulation variable: the session's GPU on a demo site, nothing otherwise.

    >>> from decimal import Decimal
    >>> from computehub.sitefile.schema import Demo
    >>> simulated_gpu_env(
    ...     Site.model_construct(demo=Demo(simulated_gpus=True)),
    ...     SessionRequest("lahore", "h100", 2, Decimal(1), "notebook"),
    ... )
    {'COMPUTEHUB_SIMULATED_GPUS': 'h100'}
    """
    if not site.demo.simulated_gpus or request.gpu_type is None or request.gpus < 1:
        return {}
    session = SimulatedSession(request.gpu_type, request.mig_profile)
    return {SIMULATED_GPUS_ENV: session.env_value()}
