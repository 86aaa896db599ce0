"""Why a session's job waits, in a sentence its user reads (never Slurm's own text).

squeue's ``Reason`` is a code (``Priority``, ``Resources``, ``QOSMaxGRESPerUser``...),
sometimes with details that name nodes or limits (``ReqNodeNotAvail,
UnavailableNodes:gpu[01-04]``). The spawn page shows a fixed sentence per code, a
generic one for codes it does not know; the raw reason goes to the hub's log only.
Pure: no I/O.
"""

from __future__ import annotations

from computehub.i18n.catalog import N_

#: Reasons that say nothing about waiting (squeue prints them while a job starts).
_NONE = frozenset({"", "None", "(null)"})

#: Sentences for exact reason codes.
_EXACT: dict[str, str] = {
    "Priority": N_("other jobs are ahead of it in the queue"),
    "Resources": N_("the GPUs or memory it needs are in use; it starts when they are free"),
    "Dependency": N_("it waits for another job to finish"),
    "DependencyNeverSatisfied": N_("it waits for another job that will never finish as needed"),
    "BeginTime": N_("it is not due to start yet"),
    "JobHeldUser": N_("it is on hold"),
    "JobHeldAdmin": N_("the hub's operators have put it on hold"),
    "Reservation": N_("it waits for a reservation to begin"),
    "Licenses": N_("it waits for licenses that are in use"),
    "NodeDown": N_("a node it needs is down"),
    "BadConstraints": N_("the hub can't place it as requested"),
    "Prolog": N_("its node is being prepared"),
    "Cleaning": N_("its node is being cleaned up after an earlier job"),
    "launch failed requeued held": N_("its start failed and it is on hold"),
    # The cap that keeps reserved GPUs for their accounts (docs/capacity.md).
    "QOSGrpGRES": N_(
        "the GPUs open to every account are all in use (the others are reserved "
        "for some accounts); it starts when one is free"
    ),
}

#: Sentences for families of codes, by prefix (longest first wins).
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("ReqNodeNotAvail", N_("the nodes it needs are not available now (maintenance or reserved)")),
    ("PartitionDown", N_("the hub's session partition is closed for now")),
    ("PartitionInactive", N_("the hub's session partition is closed for now")),
    ("Partition", N_("it is beyond a limit of the hub's session partition")),
    (
        "QOS",
        N_(
            "you (or your group) are at a usage limit on this hub; it starts when "
            "your other jobs finish"
        ),
    ),
    (
        "Assoc",
        N_("your account is at a usage limit on this hub; it starts when its other jobs finish"),
    ),
    ("MaxGRES", N_("it is beyond a GPU limit on this hub")),
)

GENERIC = N_("the hub's scheduler is holding it back for now; the operators can see why")


def waiting_reason(reason: str) -> str | None:
    """The sentence for squeue's ``reason`` (None when there is nothing to explain).

    >>> waiting_reason("ReqNodeNotAvail, UnavailableNodes:gpu[01-04]")
    'the nodes it needs are not available now (maintenance or reserved)'
    """
    code = reason.strip()
    if code in _NONE:
        return None
    if code in _EXACT:
        return _EXACT[code]
    for prefix, sentence in sorted(_PREFIXES, key=lambda p: -len(p[0])):
        if code.startswith(prefix):
            return sentence
    return GENERIC
