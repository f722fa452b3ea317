"""The lab interpreter behind Debian's real OpenSSH server (ForceCommand)."""

from __future__ import annotations

import asyncio
import getpass
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import asyncssh
import pytest

from lab import api

SSHD = "/usr/sbin/sshd"
REPO = Path(__file__).resolve().parents[2]
NODE = "c001-a"

pytestmark = pytest.mark.skipif(not os.path.exists(SSHD), reason="openssh-server not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sshd(lab: Path, tmp_path: Path):
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", exist_ok=True)
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = tmp_path / "ssh_host_ed25519_key"
    host_key.write_private_key(key_path)
    os.chmod(key_path, 0o600)
    port = _free_port()
    node_dir = lab / "nodes" / NODE
    force = f"cd {REPO} && exec {sys.executable} -m lab.forcecommand --state-dir {node_dir}"
    config = tmp_path / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {key_path}\n"
        f"PidFile {tmp_path / 'sshd.pid'}\nAuthorizedKeysFile {lab / 'authorized_keys'}\n"
        "StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nUsePAM no\nPermitRootLogin yes\n"
        "Subsystem sftp internal-sftp\n"
        f"ForceCommand {force}\n"
    )
    proc = subprocess.Popen([SSHD, "-e", "-D", "-f", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.time() + 10
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        if proc.poll() is not None:
            pytest.fail(f"sshd exited: {proc.stdout.read().decode()}")
        time.sleep(0.05)
    user = "root" if os.geteuid() == 0 else getpass.getuser()
    known = asyncssh.import_known_hosts(
        f"[127.0.0.1]:{port} {host_key.export_public_key().decode().strip()}\n"
    )
    kwargs = {"host": "127.0.0.1", "port": port, "username": user, "known_hosts": known,
              "client_keys": [str(lab / "client_key")]}  # fmt: skip
    yield kwargs
    proc.terminate()
    proc.wait(timeout=5)


def run(kwargs: dict, *commands: str) -> list[asyncssh.SSHCompletedProcess]:
    async def go():
        async with asyncssh.connect(**kwargs) as conn:
            return [await conn.run(c) for c in commands]

    return asyncio.run(go())


def test_commands_run_against_the_node_state(sshd):
    version, wt, unknown = run(
        sshd,
        "cat /sys/kernel/scst_tgt/version",
        "cat /sys/kernel/scst_tgt/devices/r1/write_through",
        "uptime",
    )
    assert version.stdout == "3.7.0\n"
    assert wt.stdout == "1\n[key]\n"
    assert (unknown.exit_status, unknown.stderr) == (127, "sh: 1: uptime: not found\n")


def test_state_persists_between_ssh_commands(sshd, lab):
    # SCST holds /dev/drbd0 open: close its device first, or DRBD refuses the demotion.
    close = "scstadmin -noprompt -force -close_dev r0 -handler vdisk_blockio"
    (first,) = run(sshd, f"{close} && drbdadm secondary r0")
    assert first.exit_status == 0, first.stderr
    (status,) = run(sshd, "drbdadm status r0")
    assert status.stdout.startswith("r0 role:Secondary\n")
    # the peer shares the DRBD link: it sees the new role
    from lab.interpreter import run_command

    peer = run_command(api.node(lab, "c001-b"), "drbdadm status r0")
    assert "  c001-a role:Secondary\n" in peer.stdout


def test_sftp_upload_lands_in_the_node_root(sshd, lab):
    async def go():
        async with asyncssh.connect(**sshd) as conn:
            async with (
                conn.start_sftp_client() as sftp,
                sftp.open("/etc/drbd.d/r9.res.tmp-7", "w") as f,
            ):
                await f.write("# staged\n")
            return await conn.run("mv -f /etc/drbd.d/r9.res.tmp-7 /etc/drbd.d/r9.res")

    r = asyncio.run(go())
    assert r.exit_status == 0
    assert (lab / "nodes" / NODE / "root/etc/drbd.d/r9.res").read_text() == "# staged\n"
