"""The lab's SSH server: one asyncssh listener per node on 127.0.0.1.

Each node has its own ed25519 host key; clients authenticate with the lab's
client key (authorized_keys in the lab dir). Exec requests go through the
interpreter, the `sftp` subsystem is asyncssh's SFTP server chrooted to the node
root. Faults (lab.api.Fault) are re-read whenever LAB/control.stamp changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import weakref
from pathlib import Path

import asyncssh

from lab import api
from lab.interpreter import Result, hang_plan, run_command
from lab.node import Node

CONTROL_POLL = 0.2


class PortInUse(Exception):
    """A node's fixed SSH port is taken by another program."""

    def __init__(self, node: str, port: int) -> None:
        super().__init__(
            f"lab node {node} cannot listen on 127.0.0.1:{port}: the port is in use "
            "(stop what uses it, choose other ports, or let the lab pick free ones)"
        )
        self.node, self.port = node, port


class NodeServer:
    """Listener, host keys and faults of one node."""

    def __init__(self, lab: LabServer, name: str, port: int) -> None:
        self.lab = lab
        self.name = name
        self.node = Node(lab.dir / "nodes" / name)
        self.port = port
        self.fault = api.Fault()
        self.acceptor: asyncssh.SSHAcceptor | None = None
        self.key_changed = False
        # bytes written per connection, for drop_after_bytes
        self.sent: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _host_key(self) -> asyncssh.SSHKey:
        path = self.node.dir / ("host_key.changed" if self.key_changed else "host_key")
        if not path.exists():
            key = asyncssh.generate_private_key("ssh-ed25519", comment=f"{self.name}-changed")
            key.write_private_key(path)
        return asyncssh.read_private_key(path)

    async def start(self) -> None:
        try:
            await self._listen()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or not self.port:
                raise
            raise PortInUse(self.name, self.port) from exc

    async def _listen(self) -> None:
        self.acceptor = await asyncssh.listen(
            host="127.0.0.1",
            port=self.port,
            server_host_keys=[self._host_key()],
            authorized_client_keys=self.lab.authorized,
            process_factory=self.handle,
            sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=os.fsencode(self.node.root)),
            allow_scp=False,
            agent_forwarding=False,
            x11_forwarding=False,
            allow_pty=False,
            reuse_address=True,
        )
        if self.port == 0:
            self.port = self.acceptor.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.acceptor is not None:
            self.acceptor.close()
            await self.acceptor.wait_closed()
            self.acceptor = None

    async def apply_fault(self, fault: api.Fault) -> None:
        restart = fault.changed_host_key != self.key_changed
        self.fault = fault
        self.key_changed = fault.changed_host_key
        if fault.down:
            await self.stop()
        elif self.acceptor is None or restart:
            await self.stop()
            await self.start()

    async def _write(self, process: asyncssh.SSHServerProcess, stream: str, data: str) -> bool:
        """Write DATA, honouring drop_after_bytes; False when the connection was dropped."""
        if not data:
            return True
        conn = process.channel.get_connection()
        limit = self.fault.drop_after_bytes
        sent = self.sent.get(conn, 0)
        out = process.stdout if stream == "stdout" else process.stderr
        if limit is not None and sent + len(data.encode()) > limit:
            room = max(0, limit - sent)
            out.write(data.encode()[:room].decode(errors="ignore"))
            with contextlib.suppress(Exception):
                await out.drain()
            conn.abort()
            return False
        self.sent[conn] = sent + len(data.encode())
        out.write(data)
        return True

    def _record(self, command: str) -> None:
        """Append the command to the node's commands.log: what a client made it run."""
        with open(self.node.dir / "commands.log", "a") as log:
            log.write(command.replace("\n", "\\n") + "\n")

    async def _hung(self, command: str, delay: float, instead: Result | None) -> Result:
        await asyncio.sleep(delay)
        return instead if instead is not None else run_command(self.node, command)

    async def handle(self, process: asyncssh.SSHServerProcess) -> None:
        command = process.command
        fault = self.fault
        if fault.latency:
            await asyncio.sleep(fault.latency)
        if command is None:
            process.stderr.write("This lab node accepts commands only.\n")
            process.exit(1)
            return
        if fault.drop_on and fault.drop_on in command:
            process.channel.get_connection().abort()
            return
        if fault.fail_on and fault.fail_on in command:
            process.stderr.write(fault.fail_stderr)
            process.exit(fault.fail_status)
            return
        self._record(command)
        delay, instead = hang_plan(command, fault.hang_on, fault.hang_seconds)
        if delay:
            # The hung command lives on the node, not on the connection: a client that
            # gives up (or disconnects) does not stop it, only a `timeout` around it does.
            result = await asyncio.shield(self.lab.spawn(self._hung(command, delay, instead)))
        else:
            result = run_command(self.node, command)
        if not await self._write(process, "stdout", result.stdout):
            return
        if not await self._write(process, "stderr", result.stderr):
            return
        process.exit(result.exit_status)


class LabServer:
    """All nodes of a lab in one asyncio process.

    A node whose recorded port is taken listens on a free port instead when
    MOVE_TAKEN_PORTS (the manifest then names the new one); otherwise PortInUse.
    """

    def __init__(self, lab_dir: str | Path, move_taken_ports: bool = False) -> None:
        self.dir = Path(lab_dir)
        self.move_taken_ports = move_taken_ports
        self.manifest = api.load_manifest(self.dir)
        self.authorized = asyncssh.read_authorized_keys(str(self.dir / "authorized_keys"))
        self.nodes: dict[str, NodeServer] = {}
        for c in self.manifest["clusters"]:
            for n in c["nodes"]:
                self.nodes[n["name"]] = NodeServer(self, n["name"], n.get("port") or 0)
        self._control_mtime = 0.0
        self._poller: asyncio.Task | None = None
        self._background: set[asyncio.Task] = set()

    def spawn(self, coro) -> asyncio.Task:
        """A task that outlives the SSH channel that started it (hung commands)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def start(self) -> None:
        await asyncio.gather(*(self._start_node(n) for n in self.nodes.values()))
        self._write_manifest()
        self._poller = asyncio.create_task(self._poll_control())

    async def _start_node(self, n: NodeServer) -> None:
        fault = api.read_fault(self.dir, n.name)
        n.fault = fault
        n.key_changed = fault.changed_host_key
        if not fault.down:
            try:
                await n.start()
            except PortInUse:
                if not self.move_taken_ports:
                    raise
                n.port = 0
                await n.start()

    def _write_manifest(self) -> None:
        lines = []
        for c in self.manifest["clusters"]:
            for entry in c["nodes"]:
                n = self.nodes[entry["name"]]
                entry["port"] = n.port
                lines.append(f"[127.0.0.1]:{n.port} {entry['host_key']}\n")
        api.write_atomic(self.dir / "manifest.json", json.dumps(self.manifest, indent=2))
        api.write_atomic(self.dir / "known_hosts", "".join(lines))

    async def _poll_control(self) -> None:
        stamp = self.dir / "control.stamp"
        while True:
            try:
                mtime = os.stat(stamp).st_mtime_ns
            except FileNotFoundError:
                mtime = 0
            if mtime != self._control_mtime:
                self._control_mtime = mtime
                for n in self.nodes.values():
                    fault = api.read_fault(self.dir, n.name)
                    if fault != n.fault or (n.acceptor is None) != fault.down:
                        await n.apply_fault(fault)
            await asyncio.sleep(CONTROL_POLL)

    async def stop(self) -> None:
        if self._poller:
            self._poller.cancel()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*(n.stop() for n in self.nodes.values()))


async def serve(lab_dir: str | Path, move_taken_ports: bool = False) -> None:
    server = LabServer(lab_dir, move_taken_ports)
    await server.start()
    print(
        f"lab serving {len(server.nodes)} nodes; manifest: {server.dir / 'manifest.json'}",
        flush=True,
    )
    await asyncio.Event().wait()
