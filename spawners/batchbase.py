"""batchspawner's ``SlurmSpawner`` without the settings ``ComputeHubSpawner`` ignores.

computehub keeps batchspawner for its start/stop loop and its in-job
``batchspawner-singleuser`` (which reports the server's port), but builds the batch
request itself (``batch.py``), runs Slurm through ``slurmclient.py`` (argv, never a
shell) and reads job states from ``squeue``/``sacct`` records. The settings
batchspawner declares for its own template, shell commands and state regexes then
have no effect; each is declared again here, without ``config=True``, so that
``jupyterhub --help-all`` no longer lists it and a config that sets it gets
traitlets' "not recognized" warning instead of silence (house style: settings that
silently do nothing are made non-configurable).

JupyterHub's own ``Spawner.cmd`` and ``Spawner.args`` are ignored too (the job
script runs the environment's ``batchspawner-singleuser jupyterhub-singleuser``),
and so are ``ip`` and ``port`` (each start resets them to their defaults; the job's
node and the port its server reports are used).
"""

from __future__ import annotations

from batchspawner.batchspawner import SlurmSpawner
from jupyterhub.traitlets import Command
from traitlets import Integer, List, Unicode

_BUILT_HERE = "Not used by computehub: the batch request is built by spawners/batch.py."
_SLURM_CLIENT = "Not used by computehub: Slurm commands run through spawners/slurmclient.py."
_STATES = "Not used by computehub: job states are read from squeue and sacct records."
_NOT_SETTABLE = "Not used by computehub: each start resets it (the job reports where it runs)."

#: The settings batchspawner declares that take no effect in computehub.
IGNORED_BATCHSPAWNER_SETTINGS = (
    "exec_prefix",
    "req_queue",
    "req_host",
    "req_memory",
    "req_nprocs",
    "req_ngpus",
    "req_runtime",
    "req_partition",
    "req_account",
    "req_options",
    "req_prologue",
    "req_epilogue",
    "req_keepvars_extra",
    "req_cluster",
    "req_qos",
    "req_srun",
    "req_reservation",
    "req_gres",
    "batch_script",
    "batchspawner_singleuser_cmd",
    "batch_submit_cmd",
    "batch_query_cmd",
    "batch_cancel_cmd",
    "state_pending_re",
    "state_running_re",
    "state_unknown_re",
    "state_exechost_re",
    "state_exechost_exp",
)
#: JupyterHub's own spawner settings that take no effect in computehub.
IGNORED_SPAWNER_SETTINGS = ("cmd", "args", "ip", "port")


class BatchLifecycle(SlurmSpawner):  # type: ignore[misc]
    """``SlurmSpawner``'s lifecycle, with its ignored settings no longer configurable."""

    exec_prefix = Unicode("", help=_SLURM_CLIENT)
    req_queue = Unicode("", help=_BUILT_HERE)
    req_host = Unicode("", help=_BUILT_HERE)
    req_memory = Unicode("", help=_BUILT_HERE)
    req_nprocs = Unicode("", help=_BUILT_HERE)
    req_ngpus = Unicode("", help=_BUILT_HERE)
    req_runtime = Unicode("", help=_BUILT_HERE)
    req_partition = Unicode("", help=_BUILT_HERE)
    req_account = Unicode("", help=_BUILT_HERE)
    req_options = Unicode("", help=_BUILT_HERE)
    req_prologue = Unicode("", help=_BUILT_HERE)
    req_epilogue = Unicode("", help=_BUILT_HERE)
    req_keepvars_extra = Unicode("", help=_BUILT_HERE)
    req_cluster = Unicode("", help=_BUILT_HERE)
    req_qos = Unicode("", help=_BUILT_HERE)
    req_srun = Unicode("", help=_BUILT_HERE)
    req_reservation = Unicode("", help=_BUILT_HERE)
    req_gres = Unicode("", help=_BUILT_HERE)
    batch_script = Unicode("", help=_BUILT_HERE)
    batchspawner_singleuser_cmd = Unicode("batchspawner-singleuser", help=_BUILT_HERE)
    batch_submit_cmd = Unicode("", help=_SLURM_CLIENT)
    batch_query_cmd = Unicode("", help=_SLURM_CLIENT)
    batch_cancel_cmd = Unicode("", help=_SLURM_CLIENT)
    state_pending_re = Unicode("", help=_STATES)
    state_running_re = Unicode("", help=_STATES)
    state_unknown_re = Unicode("", help=_STATES)
    state_exechost_re = Unicode("", help=_STATES)
    state_exechost_exp = Unicode("", help=_STATES)

    cmd = Command(["jupyterhub-singleuser"], allow_none=True, help=_BUILT_HERE)
    args = List(Unicode(), help=_BUILT_HERE)
    # The defaults each start resets to (batchspawner's and JupyterHub's).
    ip = Unicode("0.0.0.0", help=_NOT_SETTABLE)  # noqa: S104  (replaced by the job's node)
    port = Integer(0, help=_NOT_SETTABLE)
