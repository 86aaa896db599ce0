"""The login tests' pieces: a site file, a TCP gate, the IdP process.

The directory's people and roles are in :mod:`computehub.localbed.university`.
"""

from __future__ import annotations

import json
import os
import pwd
import socket
import subprocess
import threading
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPNoSuchObjectResult

from computehub.localbed.hub import HubProcess
from computehub.localbed.proc import (
    BedError,
    MissingComponentError,
    free_port,
    port_open,
    spawn,
    stop_pid,
    tail_hint,
    wait_for,
)
from computehub.localbed.slapd import LdapPerson, Slapd, ssha

# Re-exported for the login tests, which import them from here.
from computehub.localbed.university import FIRST_LOGIN as FIRST_LOGIN
from computehub.localbed.university import PEOPLE as PEOPLE
from computehub.localbed.university import ROLES as ROLES
from computehub.localbed.university import SUPPORT as SUPPORT
from computehub.localbed.university import ensure_people as ensure_people
from computehub.localbed.university import ldap_auth as ldap_auth
from computehub.paths import repo_root
from tests.support.bedtools import hub_api

#: The course of the LDAP hub whose students come from a directory group, and the group.
DIR_COURSE = "dir-ml"
DIR_COURSE_GROUP = "dirml-students"

#: The course of the OIDC hub whose roster follows the groups claim (test_oidc_roster.py):
#: its instructors and students come from claim values; its TAs from elsewhere (not managed).
IDP_COURSE = "idp-ml"
IDP_COURSE_GROUPS = {"instructor": "idpml-instructors", "student": "idpml-students"}
#: A course in the OIDC hub's ledger that the site file does not name under auth.courses.
IDP_UNLISTED_COURSE = "idp-stats"

#: People the login tests add to the shared directory, beside the bed's (university.py).
#: root and munge have directory entries (as a careless or hostile directory could) and
#: an affiliation that gives a role: only the system-account rule keeps them out.
AUTH_PEOPLE = {
    "root": LdapPerson("root", "root-pw", "Not Root", (), "student"),
    "munge": LdapPerson("munge", "munge-pw", "Not Munge", (), "student"),
    # An operator whose groups the refresh test changes.
    "olga": LdapPerson("olga", "olga-pw", "Olga Omar", ("hpc-operators", "research-staff")),
    # Students of another course and of none (the instructor-scope test).
    "dora": LdapPerson("dora", "dora-pw", "Dora Durrani", (), "student"),
    "evan": LdapPerson("evan", "evan-pw", "Evan Elahi", (), "student"),
    # A person whose entry is deleted and made again for someone else.
    "rita": LdapPerson("rita", "rita-pw", "Rita Rana", (), "student"),
    # The owner of a course account (a researcher, not in the instructors' group).
    "pat": LdapPerson("pat", "pat-pw", "Pat Parvez", (), "faculty"),
    # Students of the course whose roster follows its LDAP group (test_roster_groups.py);
    # two, so the group (groupOfNames) outlives one of them leaving it.
    "nina": LdapPerson("nina", "nina-pw", "Nina Naqvi", (DIR_COURSE_GROUP,), "student"),
    "omar": LdapPerson("omar", "omar-pw", "Omar Orakzai", (DIR_COURSE_GROUP,), "student"),
}
#: Of those, the ones with a POSIX account on this machine (the hub refuses others).
AUTH_POSIX_PEOPLE = ("olga", "dora", "evan", "rita", "pat", "nina", "omar")


@dataclass
class Directory:
    """The shared test slapd, changed as its administrator (people come and go)."""

    slapd: Slapd

    def _connection(self) -> ldap3.Connection:
        return ldap3.Connection(
            ldap3.Server(self.slapd.url, get_info=ldap3.NONE),
            user=self.slapd.admin_dn,
            password=self.slapd.admin_password,
            auto_bind=True,
            raise_exceptions=True,
        )

    def person_dn(self, uid: str) -> str:
        return f"uid={uid},ou=people,{self.slapd.suffix}"

    def group_dn(self, group: str) -> str:
        return f"cn={group},ou=groups,{self.slapd.suffix}"

    def add(self, person: LdapPerson, uid_number: int) -> None:
        """Add the person unless their entry exists, and put them in their groups."""
        with self._connection() as conn:
            dn = self.person_dn(person.uid)
            if not self._exists(conn, dn):
                conn.add(
                    dn,
                    ["inetOrgPerson", "posixAccount"],
                    {
                        "uid": person.uid,
                        "cn": person.display_name,
                        "sn": person.display_name.split()[-1],
                        "displayName": person.display_name,
                        "mail": f"{person.uid}@university.example",
                        "uidNumber": uid_number,
                        "gidNumber": uid_number,
                        "homeDirectory": f"/home/{person.uid}",
                        "employeeType": person.affiliation,
                        "userPassword": ssha(person.password),
                    },
                )
            for group in person.groups:
                self._join(conn, group, dn)

    def entry_uuid(self, uid: str) -> str:
        """The entry's entryUUID (an operational attribute: asked for by name)."""
        with self._connection() as conn:
            conn.search(
                self.person_dn(uid), "(objectClass=*)", ldap3.BASE, attributes=["entryUUID"]
            )
            return str(conn.entries[0].entryUUID)

    def delete(self, uid: str) -> None:
        """Delete the person's entry (their group memberships go with it)."""
        with self._connection() as conn:
            dn = self.person_dn(uid)
            conn.search(f"ou=groups,{self.slapd.suffix}", f"(member={dn})", attributes=["cn"])
            for entry in list(conn.entries):
                self.leave_with(conn, str(entry.cn), dn)
            conn.delete(dn)

    def leave(self, uid: str, group: str) -> None:
        """Take the person out of a group."""
        with self._connection() as conn:
            self.leave_with(conn, group, self.person_dn(uid))

    def leave_with(self, conn: ldap3.Connection, group: str, dn: str) -> None:
        conn.search(self.group_dn(group), "(objectClass=*)", ldap3.BASE, attributes=["member"])
        members = [str(m) for m in conn.entries[0].member.values] if conn.entries else []
        if dn not in members:
            return
        if members == [dn]:
            # groupOfNames needs a member: the group goes when its last member does.
            conn.delete(self.group_dn(group))
        else:
            conn.modify(self.group_dn(group), {"member": [(ldap3.MODIFY_DELETE, [dn])]})

    def _join(self, conn: ldap3.Connection, group: str, dn: str) -> None:
        group_dn = self.group_dn(group)
        if not self._exists(conn, group_dn):
            conn.add(group_dn, ["groupOfNames"], {"cn": group, "member": [dn]})
            return
        conn.search(group_dn, "(objectClass=*)", ldap3.BASE, attributes=["member"])
        if dn not in [str(m) for m in conn.entries[0].member.values]:
            conn.modify(group_dn, {"member": [(ldap3.MODIFY_ADD, [dn])]})

    @staticmethod
    def _exists(conn: ldap3.Connection, dn: str) -> bool:
        try:
            return bool(conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["1.1"]))
        except LDAPNoSuchObjectResult:
            return False


def uid_number(person: LdapPerson, n: int) -> int:
    """A directory uid number: the machine's for a system account, else one of the tests'."""
    try:
        return pwd.getpwnam(person.uid).pw_uid if person.uid in ("root", "munge") else 30000 + n
    except KeyError:
        return 30000 + n


@dataclass
class HubClient:
    """A JupyterHub process and its REST API as the test-driver service."""

    process: HubProcess
    token: str

    @property
    def url(self) -> str:
        return self.process.url

    def api(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        """Call the hub's REST API; returns (status, JSON or None)."""
        return hub_api(self.url, self.token, method, path, body, timeout=30)


def site_data(auth: dict[str, Any], ledger_url: str, bed: Path) -> dict[str, Any]:
    """A site file with one hub that is never spawned on: the login tests need no Slurm."""
    return {
        "platform": {
            "name": "Test AI Compute",
            "organisation": "Test University",
            "support": SUPPORT,
        },
        "hubs": {
            "lahore": {
                "display_name": "Lahore AI Hub",
                "region": "Punjab",
                "slurm": {"conf": str(bed / "no-slurm" / "slurm.conf")},
                "partitions": {"gpu": {"default": True}},
                "rates": {"cpu": 1},
            }
        },
        "environments": {"notebook": {"display_name": "Python 3", "prefix": str(bed / "no-env")}},
        "auth": auth,
        "ledger": {"db_url": ledger_url},
    }


def extra_config(path: Path, token: str) -> Path:
    """The tests' JupyterHub additions: a test-driver service, DEBUG logs, home after login."""
    path.write_text(
        f"c.JupyterHub.services = [{{'name': 'test-driver', 'api_token': {token!r}}}]\n"
        "c.JupyterHub.load_roles = [{'name': 'test-driver', 'services': ['test-driver'],\n"
        "    'scopes': ['admin:users', 'admin:groups', 'list:users', 'read:roles', 'tokens']}]\n"
        "c.JupyterHub.log_level = 'DEBUG'\n"
        "c.JupyterHub.default_url = '/hub/home'\n"
    )
    path.chmod(0o600)
    return path


@dataclass
class TcpGate:
    """A TCP forwarder on loopback that can be closed: the server behind it 'goes down'."""

    target_port: int
    port: int = field(default_factory=free_port)
    _server: socket.socket | None = None
    _live: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self) -> None:
        """Listen and forward each connection to the target."""
        server = socket.create_server(("127.0.0.1", self.port), reuse_port=True)
        self._server = server
        thread = threading.Thread(target=self._accept, args=(server,), daemon=True)
        thread.start()

    def close(self) -> None:
        """Stop listening and cut open connections, as with a server that is down."""
        if self._server is not None:
            with suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        with self._lock:
            live, self._live = self._live, []
        for sock in live:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            # Pooled connections (a database's) stay idle for long: no read timeout.
            upstream.settimeout(None)
            with self._lock:
                self._live += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    with suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


#: People of the test identity provider, with the claims a university IdP would send.
IDP_PEOPLE = {
    "alice": {
        "preferred_username": "alice@university.example",
        "name": "Alice Akhtar",
        "email": "alice@university.example",
        "groups": ["research-staff", "course-instructors"],
        "eduperson_affiliation": ["faculty", "member"],
    },
    "bob": {
        "preferred_username": "bob@university.example",
        "name": "Bob Baig",
        "email": "bob@university.example",
        "groups": [],
        "eduperson_affiliation": "student",
    },
    "guest": {
        "preferred_username": "guest@university.example",
        "name": "Visiting Guest",
        "email": "guest@university.example",
        "groups": ["visitors"],
        "eduperson_affiliation": ["affiliate"],
    },
    # The IdP vouches for a person whose username claim is a system account's name.
    "root": {
        "preferred_username": "root@university.example",
        "name": "Not Root",
        "email": "root@university.example",
        "groups": [],
        "eduperson_affiliation": "student",
    },
    # Another subject claiming alice's name (the case differs: it folds to 'alice').
    "mallory": {
        "preferred_username": "Alice@university.example",
        "name": "Mallory Mirza",
        "email": "mallory@university.example",
        "groups": ["research-staff"],
        "eduperson_affiliation": ["faculty"],
    },
    # An operator whose groups the refresh test changes at the IdP.
    "olga": {
        "preferred_username": "olga@university.example",
        "name": "Olga Omar",
        "email": "olga@university.example",
        "groups": ["hpc-operators", "research-staff"],
        "eduperson_affiliation": ["staff"],
    },
    # The course whose roster follows the groups claim (test_oidc_roster.py): a student,
    # an instructor, a TA and an owner put there by other sources, and a student whose
    # claim names a course the site file doesn't.
    "nina": {
        "preferred_username": "nina@university.example",
        "name": "Nina Naqvi",
        "email": "nina@university.example",
        "groups": ["idpml-students"],
        "eduperson_affiliation": "student",
    },
    "dora": {
        "preferred_username": "dora@university.example",
        "name": "Dora Durrani",
        "email": "dora@university.example",
        "groups": ["course-instructors", "idpml-instructors"],
        "eduperson_affiliation": ["faculty"],
    },
    "rita": {
        "preferred_username": "rita@university.example",
        "name": "Rita Rana",
        "email": "rita@university.example",
        "groups": [],
        "eduperson_affiliation": "student",
    },
    "pat": {
        "preferred_username": "pat@university.example",
        "name": "Pat Parvez",
        "email": "pat@university.example",
        "groups": [],
        "eduperson_affiliation": ["faculty"],
    },
    "omar": {
        "preferred_username": "omar@university.example",
        "name": "Omar Orakzai",
        "email": "omar@university.example",
        "groups": [],
        "eduperson_affiliation": "student",
    },
    "evan": {
        "preferred_username": "evan@university.example",
        "name": "Evan Elahi",
        "email": "evan@university.example",
        "groups": ["idpstats-students"],
        "eduperson_affiliation": "student",
    },
}

#: People of a second IdP whose username claim is the e-mail address, from two domains.
CAMPUS_PEOPLE = {
    "ali-a": {"email": "ali@uni-a.example", "email_verified": True, "name": "Ali Ahmed"},
    "ali-b": {"email": "ali@uni-b.example", "email_verified": True, "name": "Ali Bhatti"},
    # Another subject whose address folds onto ali@uni-a.example.
    "ali-again": {"email": "Ali@uni-a.example", "email_verified": True, "name": "Not Ali"},
    # The Kelvin sign folds to 'k' under str.lower(): KELVIN SIGN + 'elvin'.
    "kelvin": {"email": "\u212aelvin@uni-a.example", "email_verified": True, "name": "K"},
    "unverified": {"email": "uv@uni-a.example", "email_verified": False, "name": "U V"},
}
for _person in CAMPUS_PEOPLE.values():
    _person["eduperson_affiliation"] = "student"


def campus_auth(issuer: str, callback_url: str) -> dict[str, Any]:
    """The auth section of a hub whose people come from two domains, named by e-mail."""
    auth = oidc_auth(issuer, callback_url)
    auth["oidc"]["claims"] = {"username": "email"}
    auth["username"] = {
        "domains": {"uni-a.example": {"bare": True}, "uni-b.example": {"suffix": "-b"}},
        # The names need no POSIX account here: what is tested is who gets which name.
        "require_posix_account": False,
    }
    return auth


def oidc_auth(issuer: str, callback_url: str) -> dict[str, Any]:
    """The site file's auth section for the test IdP (explicit endpoints, secret from env)."""
    return {
        "method": "oidc",
        "oidc": {
            "issuer": issuer,
            "authorize_url": f"{issuer}/auth",
            "token_url": f"{issuer}/token",
            "userinfo_url": f"{issuer}/me",
            "client_id": "computehub-test",
            "client_secret_env": "COMPUTEHUB_TEST_OIDC_SECRET",
            "scopes": ["openid", "profile", "email", "groups", "eduperson"],
            "callback_url": callback_url,
            "button_label": "Log in with Test University",
        },
        "roles": ROLES,
        "username": {"strip_domains": ["university.example"]},
        "first_login": FIRST_LOGIN,
        # Short, so that the refresh tests see a change within seconds.
        "refresh_age_s": REFRESH_AGE_S,
    }


#: auth.refresh_age_s of the test hubs: roles are looked up again after this long.
REFRESH_AGE_S = 3


@dataclass
class OidcProviderProcess:
    """``node tests/support/oidc_provider.mjs``: oidc-provider on 127.0.0.1."""

    base: Path
    client_secret: str
    redirect_uri: str
    people: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(IDP_PEOPLE))
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> Path:
        return self.base / "idp.json"

    def set_people(self, people: dict[str, dict[str, Any]]) -> None:
        """Change what the IdP says of its people (it reads the file at each request)."""
        self.people = people
        self._write()

    def _write(self) -> None:
        tmp = self.config.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "port": self.port,
                    "issuer": self.issuer,
                    "client_id": "computehub-test",
                    "redirect_uris": [self.redirect_uri],
                    "people": self.people,
                }
            )
        )
        tmp.replace(self.config)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.base / "oidc-provider.log"

    def start(self) -> None:
        """Start the provider and wait for its discovery document."""
        module = repo_root() / "node_modules" / "oidc-provider"
        if not module.exists():
            raise MissingComponentError("npm package oidc-provider missing: run scripts/install.sh")
        node = "/usr/bin/node" if Path("/usr/bin/node").exists() else "node"
        self.base.mkdir(parents=True, exist_ok=True)
        self._write()
        config = self.config
        script = Path(__file__).with_name("oidc_provider.mjs")
        env = {**os.environ, "OIDC_TEST_CLIENT_SECRET": self.client_secret}
        # Node resolves packages from the script's folder upwards: the repository's node_modules.
        self.proc = spawn([node, str(script), str(config)], log=self.log, env=env, cwd=self.base)
        wait_for(
            lambda: (
                port_open(self.port) or (self.proc is not None and self.proc.poll() is not None)
            ),
            30,
            "oidc-provider",
            self.log,
        )
        if not port_open(self.port):
            raise BedError("oidc-provider exited at start" + tail_hint(self.log, 20))

    def stop(self) -> None:
        """Stop the provider by its pid."""
        if self.proc is not None:
            stop_pid(self.proc.pid)
            self.proc.wait()


@dataclass
class LdapHub:
    """A hub logging in through the test directory, reached through a gate that can close.

    Its ledger is a PostgreSQL database the hub reaches through a gate of its own;
    ``ledger_url`` reaches it directly (for the tests' checks).
    """

    hub: HubClient
    gate: TcpGate
    ledger_url: str
    directory: Directory
    ledger_gate: TcpGate
    site_file: Path | None = None
    search_password: str = ""


@dataclass
class OidcHub:
    """A hub logging in through the test identity provider."""

    hub: HubClient
    idp: OidcProviderProcess
    client_secret: str
    ledger_url: str
    site_file: Path
