"""Debian's real OpenSSH server on a loopback port, with the lab's interpreter behind
ForceCommand: the same command contract served by real sshd instead of asyncssh."""

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import asyncssh

SSHD = "/usr/sbin/sshd"
REPO = Path(__file__).resolve().parents[1]


@dataclass
class RealSshd:
    process: subprocess.Popen
    port: int
    host_key: str  # OpenSSH public key line

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sshd(node_dir: Path, authorized_keys: Path, work: Path) -> RealSshd:
    """sshd -D on 127.0.0.1:<free port> forcing every command through lab.forcecommand."""
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = work / "ssh_host_ed25519_key"
    key.write_private_key(key_path)
    key_path.chmod(0o600)
    port = _free_port()
    force = f"cd {REPO} && exec {sys.executable} -m lab.forcecommand --state-dir {node_dir}"
    config = work / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {key_path}\n"
        f"PidFile {work / 'sshd.pid'}\nAuthorizedKeysFile {authorized_keys}\n"
        "StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nUsePAM no\nPermitRootLogin yes\n"
        f"Subsystem sftp internal-sftp\nForceCommand {force}\n"
    )
    process = subprocess.Popen(
        [SSHD, "-e", "-D", "-f", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.time() + 10
    while time.time() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return RealSshd(process, port, key.export_public_key().decode().strip())
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited: {process.stdout.read().decode()}")
        time.sleep(0.05)
    process.terminate()
    raise RuntimeError("sshd did not start listening within 10 s")
