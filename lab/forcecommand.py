"""The lab interpreter behind a real OpenSSH server.

sshd_config: `ForceCommand /path/to/python -m lab.forcecommand --state-dir LAB/nodes/NODE`.
Each SSH command is one process: it reads SSH_ORIGINAL_COMMAND, runs it against the
node's persisted state under the cluster lock (lab.node.Node.session), writes
stdout/stderr and exits with the command's status.

SFTP: with ForceCommand, sshd runs this program for the `sftp` subsystem too (with
SSH_ORIGINAL_COMMAND set to the subsystem command). It then serves SFTP on
stdin/stdout with asyncssh's SFTP server chrooted to LAB/nodes/NODE/root, so an SFTP
path /etc/drbd.d/r0.res is LAB/nodes/NODE/root/etc/drbd.d/r0.res, exactly as with
the asyncssh lab server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path

from lab.interpreter import hang_plan, run_command
from lab.node import Node

SFTP_COMMANDS = ("internal-sftp", "sftp-server")


class _Channel:
    """The little of an SSH channel that asyncssh's SFTP server uses."""

    def __init__(self) -> None:
        from asyncssh.logging import logger

        self.logger = logger.get_child("sftp")
        self._closing = False

    def is_closing(self) -> bool:
        return self._closing

    def get_environment(self) -> dict:
        return dict(os.environ)

    def get_connection(self) -> None:
        return None

    async def wait_closed(self) -> None:
        return None


class _Reader:
    def __init__(self, reader: asyncio.StreamReader, channel: _Channel) -> None:
        self._reader = reader
        self.channel = channel
        self.logger = channel.logger

    async def readexactly(self, n: int) -> bytes:
        return await self._reader.readexactly(n)

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default


class _Writer:
    def __init__(self, channel: _Channel) -> None:
        self.channel = channel
        self.logger = channel.logger

    def write(self, data: bytes) -> None:
        os.write(1, data)

    def write_eof(self) -> None:
        self.channel._closing = True

    def close(self) -> None:
        self.channel._closing = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default


async def _serve_sftp(root: Path) -> None:
    import asyncssh
    from asyncssh.sftp import run_sftp_server

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    chan = _Channel()
    # _Channel, _Reader and _Writer stand in for asyncssh's channel and streams with only
    # what its SFTP server uses; asyncssh annotates the concrete classes.
    server = asyncssh.SFTPServer(chan, chroot=os.fsencode(root))  # type: ignore[arg-type]
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        await run_sftp_server(server, _Reader(reader, chan), _Writer(chan), 3)  # type: ignore[arg-type]


def _hang_fault(node: Node) -> tuple[str | None, float]:
    """The node's hang fault (lab.api.Fault.hang_on/hang_seconds) from faults.json."""
    try:
        fault = json.loads((node.dir / "faults.json").read_text())
    except (FileNotFoundError, ValueError):
        return None, 0.0
    return fault.get("hang_on"), float(fault.get("hang_seconds") or 0.0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lab.forcecommand")
    p.add_argument("--state-dir", required=True, help="the node's directory, LAB/nodes/NODE")
    args = p.parse_args(argv)
    node = Node(Path(args.state_dir))
    command = os.environ.get("SSH_ORIGINAL_COMMAND")
    if command is None:
        sys.stderr.write("This lab node accepts commands only.\n")
        return 1
    if command.strip().split("/")[-1].split()[0] in SFTP_COMMANDS:
        asyncio.run(_serve_sftp(node.root))
        return 0
    delay, result = hang_plan(command, *_hang_fault(node))
    if delay:
        time.sleep(delay)
    if result is None:
        result = run_command(node, command)
    sys.stdout.write(result.stdout)
    sys.stdout.flush()
    sys.stderr.write(result.stderr)
    return result.exit_status


if __name__ == "__main__":
    sys.exit(main())
