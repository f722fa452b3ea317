"""A real OpenLDAP slapd (Debian's package) for the LDAP login tests.

Each run gets its own directory: a slapd.conf, an mdb database loaded with slapadd
from the LDIF below, and slapd listening on a free port of 127.0.0.1. No system
configuration is read or changed.
"""

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import ldap

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root-secret"  # a throwaway test directory
GROUPS = f"ou=groups,{SUFFIX}"
PEOPLE = f"ou=people,{SUFFIX}"

CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {dir}/slapd.pid
database mdb
maxsize 16777216
suffix "{suffix}"
rootdn "{root_dn}"
rootpw {root_password}
directory {dir}/data
"""


def person(uid: str, given: str, surname: str) -> str:
    return f"""dn: uid={uid},{PEOPLE}
objectClass: inetOrgPerson
uid: {uid}
cn: {given} {surname}
givenName: {given}
sn: {surname}
mail: {uid}@example.org
userPassword: ldap-{uid}
"""


def group(name: str, members: list[str]) -> str:
    lines = [f"dn: cn={name},{GROUPS}", "objectClass: groupOfNames", f"cn: {name}"]
    lines += [f"member: uid={uid},{PEOPLE}" for uid in members]
    return "\n".join(lines) + "\n"


def directory_ldif(people: dict[str, tuple[str, str]], groups: dict[str, list[str]]) -> str:
    entries = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\n"
        "dc: example\no: Example\n",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n",
        f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n",
    ]
    entries += [person(uid, *names) for uid, names in people.items()]
    entries += [group(name, members) for name, members in groups.items()]
    return "\n".join(entries)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Slapd:
    directory: Path
    port: int
    process: subprocess.Popen

    @property
    def uri(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def env(self, role_map: str) -> dict[str, str]:
        """The portal's LDAP environment variables for this directory."""
        return {
            "LDAP_SERVER_URI": self.uri,
            "LDAP_BIND_DN": ROOT_DN,
            "LDAP_BIND_PASSWORD": ROOT_PASSWORD,
            "LDAP_USER_SEARCH_BASE": PEOPLE,
            "LDAP_GROUP_SEARCH_BASE": GROUPS,
            "LDAP_ROLE_MAP": role_map,
        }

    def connection(self):
        conn = ldap.initialize(self.uri)
        conn.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
        return conn

    def set_members(self, group_name: str, uids: list[str]) -> None:
        # groupOfNames needs a member: an empty group holds only the directory's admin.
        members = [f"uid={uid},{PEOPLE}".encode() for uid in uids] or [ROOT_DN.encode()]
        conn = self.connection()
        try:
            conn.modify_s(f"cn={group_name},{GROUPS}", [(ldap.MOD_REPLACE, "member", members)])
        finally:
            conn.unbind_s()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def start_slapd(directory: Path, ldif: str) -> Slapd:
    (directory / "data").mkdir(parents=True)
    conf = directory / "slapd.conf"
    conf.write_text(
        CONF.format(dir=directory, suffix=SUFFIX, root_dn=ROOT_DN, root_password=ROOT_PASSWORD)
    )
    (directory / "directory.ldif").write_text(ldif)
    subprocess.run(
        [SLAPADD, "-f", str(conf), "-l", str(directory / "directory.ldif")],
        check=True,
        capture_output=True,
    )
    port = free_port()
    log = (directory / "slapd.log").open("w")
    # -d keeps slapd in the foreground (a child we can stop); 0 logs nothing extra.
    process = subprocess.Popen(
        [SLAPD, "-f", str(conf), "-h", f"ldap://127.0.0.1:{port}/", "-d", "0"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Slapd(directory, port, process)
    deadline = time.monotonic() + 15
    while True:
        try:
            server.connection().unbind_s()
            return server
        except ldap.SERVER_DOWN:
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(
                    f"slapd did not start: {(directory / 'slapd.log').read_text()[-2000:]}"
                ) from None
            time.sleep(0.1)
