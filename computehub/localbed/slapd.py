"""A private OpenLDAP server (slapd) standing in for a university directory."""

from __future__ import annotations

import hashlib
import os
import secrets
from base64 import b64encode
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from computehub.localbed.proc import (
    find_binary,
    free_port,
    make_dir,
    pid_of,
    port_open,
    run,
    stop_pid,
    wait_for,
)

SCHEMAS = ("core", "cosine", "inetorgperson", "nis")


@dataclass(frozen=True)
class LdapPerson:
    """A directory entry: a POSIX account with a password and group memberships."""

    uid: str
    password: str
    display_name: str
    groups: tuple[str, ...] = ()
    affiliation: str = "member"


def ssha(password: str) -> str:
    """An {SSHA} userPassword value (salted SHA-1, as slapd checks it)."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()  # noqa: S324 (LDAP's scheme)
    return "{SSHA}" + b64encode(digest + salt).decode()


@dataclass
class Slapd:
    """slapd with an mdb database ``suffix`` under ``base``, on 127.0.0.1:port."""

    base: Path
    suffix: str = "dc=university,dc=example"
    port: int = field(default_factory=free_port)
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))

    @property
    def admin_dn(self) -> str:
        return f"cn=admin,{self.suffix}"

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def pidfile(self) -> Path:
        return self.base / "slapd.pid"

    def start(self) -> None:
        """Write slapd.conf, start slapd and create the base entries."""
        slapd = find_binary("slapd", "slapd")
        make_dir(self.base, "openldap", 0o755)
        data = make_dir(self.base / "data", "openldap", 0o700)
        includes = "".join(f"include /etc/ldap/schema/{s}.schema\n" for s in SCHEMAS)
        conf = self.base / "slapd.conf"
        conf.write_text(
            "# slapd of the computehub local test bed (generated)\n"
            f"{includes}"
            f"pidfile {self.pidfile}\n"
            "modulepath /usr/lib/ldap\nmoduleload back_mdb\n"
            "database mdb\n"
            f'suffix "{self.suffix}"\n'
            f'rootdn "{self.admin_dn}"\n'
            f"rootpw {ssha(self.admin_password)}\n"
            f"directory {data}\n"
            "maxsize 104857600\n"
            "access to attrs=userPassword by self write by anonymous auth by * none\n"
            "access to * by * read\n"
        )
        conf.chmod(0o640)
        os.chown(conf, 0, _gid("openldap"))
        run([slapd, "-f", str(conf), "-h", f"{self.url}/", "-u", "openldap", "-g", "openldap"])
        wait_for(lambda: port_open(self.port), 30, "slapd")
        self.add(
            f"dn: {self.suffix}\nobjectClass: dcObject\nobjectClass: organization\n"
            f"o: University\ndc: {self.suffix.split(',')[0].split('=')[1]}\n\n"
            f"dn: ou=people,{self.suffix}\nobjectClass: organizationalUnit\nou: people\n\n"
            f"dn: ou=groups,{self.suffix}\nobjectClass: organizationalUnit\nou: groups\n"
        )

    def add(self, ldif: str) -> None:
        """Add entries as the directory's admin."""
        ldapadd = find_binary("ldapadd", "ldap-utils")
        run(
            [ldapadd, "-x", "-H", self.url, "-D", self.admin_dn, "-w", self.admin_password],
            input_text=ldif,
        )

    def add_people(self, people: Iterable[LdapPerson]) -> None:
        """Add people and the groups they belong to (groupOfNames with member DNs)."""
        people = list(people)
        entries = []
        members: dict[str, list[str]] = {}
        for n, p in enumerate(people):
            dn = f"uid={p.uid},ou=people,{self.suffix}"
            entries.append(
                f"dn: {dn}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n"
                f"uid: {p.uid}\ncn: {p.display_name}\nsn: {p.display_name.split()[-1]}\n"
                f"displayName: {p.display_name}\nmail: {p.uid}@university.example\n"
                f"uidNumber: {20000 + n}\ngidNumber: {20000 + n}\n"
                f"homeDirectory: /home/{p.uid}\nemployeeType: {p.affiliation}\n"
                f"userPassword: {ssha(p.password)}\n"
            )
            for g in p.groups:
                members.setdefault(g, []).append(dn)
        for group, dns in members.items():
            lines = "".join(f"member: {dn}\n" for dn in dns)
            entries.append(
                f"dn: cn={group},ou=groups,{self.suffix}\nobjectClass: groupOfNames\n"
                f"cn: {group}\n{lines}"
            )
        self.add("\n".join(entries))

    def stop(self) -> None:
        """Stop slapd by its pid."""
        stop_pid(pid_of(self.pidfile, "slapd"))


def _gid(group: str) -> int:
    import grp

    return grp.getgrnam(group).gr_gid
