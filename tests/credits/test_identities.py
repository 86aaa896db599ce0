"""Each user name belongs to the identity that first used it (Ledger.bind_identity)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from computehub.credits.errors import IdentityConflictError
from computehub.credits.ledger import Ledger

UNI_A = "https://login.uni-a.example"
UNI_B = "https://login.uni-b.example"
RACERS = 8
ROUNDS = 6


def test_the_first_identity_keeps_the_name(ledger: Ledger) -> None:
    assert ledger.identity_of("ali") is None
    assert ledger.bind_identity("ali", UNI_A, "sub-1", actor="login") is True
    assert ledger.bind_identity("ali", UNI_A, "sub-1", actor="login") is False  # a later login
    assert ledger.identity_of("ali") == (UNI_A, "sub-1")
    with pytest.raises(IdentityConflictError, match="'ali'") as refused:
        ledger.bind_identity("ali", UNI_B, "sub-1", actor="login")  # ali@uni-b
    assert refused.value.bound_to == f"{UNI_A} sub-1"
    with pytest.raises(IdentityConflictError):
        ledger.bind_identity("ali", UNI_A, "sub-2", actor="login")
    # The same person under another name is refused too.
    with pytest.raises(IdentityConflictError, match="user name 'ali'"):
        ledger.bind_identity("ali2", UNI_A, "sub-1", actor="login")
    assert ledger.identity_of("ali2") is None
    assert ledger.identity_of("ali") == (UNI_A, "sub-1")


@pytest.mark.parametrize(
    ("username", "issuer", "subject"),
    [
        pytest.param("bad name", UNI_A, "s", id="bad-name"),
        pytest.param("ali", "", "s", id="no-issuer"),
        pytest.param("ali", UNI_A, "", id="no-subject"),
        pytest.param("ali", UNI_A, "s" * 256, id="long-subject"),
    ],
)
def test_bad_bindings_are_refused(ledger: Ledger, username: str, issuer: str, subject: str) -> None:
    with pytest.raises(ValueError, match=r"bad user name|1 to 255 characters"):
        ledger.bind_identity(username, issuer, subject, actor="login")
    assert ledger.identity_of("ali") is None


def test_two_first_logins_of_one_name_bind_exactly_one_identity(ledger: Ledger) -> None:
    """Concurrent first logins (threads, the hub's executor): one wins, the others are refused."""
    barrier = threading.Barrier(RACERS)

    def login(n: int) -> str:
        barrier.wait()
        try:
            ledger.bind_identity("ali", UNI_A if n % 2 else UNI_B, f"sub-{n}", actor="login")
        except IdentityConflictError:
            return "refused"
        return f"bound sub-{n}"

    with ThreadPoolExecutor(RACERS) as pool:
        outcomes = list(pool.map(login, range(RACERS)))
    winners = [o for o in outcomes if o != "refused"]
    assert len(winners) == 1, outcomes
    bound = ledger.identity_of("ali")
    assert bound is not None
    assert winners == [f"bound {bound[1]}"]


def test_the_same_first_login_twice_at_once_binds_once(ledger: Ledger) -> None:
    """A person's concurrent first logins: one binds, the others find it (never refused).

    Repeated over several names: the race (PostgreSQL's statements each seeing what
    was committed when they began) shows only in some rounds.
    """
    for round_ in range(ROUNDS):
        name = f"ali{round_}"
        barrier = threading.Barrier(RACERS)

        def login(_: int, name: str = name, barrier: threading.Barrier = barrier) -> bool:
            barrier.wait()
            return ledger.bind_identity(name, UNI_A, f"sub-{name}", actor="login")

        with ThreadPoolExecutor(RACERS) as pool:
            created = list(pool.map(login, range(RACERS)))
        assert sorted(created) == [False] * (RACERS - 1) + [True]
        assert ledger.identity_of(name) == (UNI_A, f"sub-{name}")
