"""The only module that speaks SSH: pinned host keys, timeouts, argv-built commands.

A node whose host key is not yet approved is never authenticated to: its key is fetched
with asyncssh.get_server_host_key (no login) and recorded as pending. A node whose key
changed is refused the same way and reported, so that no credential or command is ever
sent to a host that might be an impostor.
"""

import asyncio
import contextlib
import shlex
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncssh

CONNECT_TIMEOUT = 10.0
# AES-GCM first: asyncssh's chacha20-poly1305 costs about a third of a collection's CPU.
# The others stay for servers without AES-GCM.
ENCRYPTION_ALGS = [
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes256-ctr",
]
COMMAND_TIMEOUT = 30.0
MAX_CHANNELS = 8  # below OpenSSH's default MaxSessions (10), which counts sftp too
# Every command runs under coreutils' `timeout` on the node, so a command the portal gave
# up on is killed there too and can never complete later, inside another job. The client
# waits a little longer than the node, then gives up on the connection.
KILL_AFTER_SECONDS = 5
CLIENT_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class NodeEndpoint:
    """Everything needed to reach one node; built from the inventory by the caller."""

    node_id: int
    name: str
    address: str
    port: int
    user: str
    private_key: str
    pinned_host_key: str = ""
    drbd_version: str = "9"
    command_timeout: float = COMMAND_TIMEOUT  # per command, enforced on the node too


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    stdout: str
    stderr: str
    exit_status: int
    seconds: float

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    @property
    def command(self) -> str:
        return shlex.join(self.argv)


class NodeError(Exception):
    """Something stopped work on a node; the message says what and what to do."""


class NodeUnreachable(NodeError):
    pass


class HostKeyUnknown(NodeError):
    def __init__(self, endpoint: NodeEndpoint, offered_key: str) -> None:
        self.offered_key = offered_key
        super().__init__(
            f"{endpoint.name}: host key {fingerprint(offered_key)} is not approved yet; "
            "an admin must approve it on the cluster page before the portal connects."
        )


class HostKeyChanged(NodeError):
    def __init__(self, endpoint: NodeEndpoint, offered_key: str) -> None:
        self.offered_key = offered_key
        super().__init__(
            f"{endpoint.name}: host key CHANGED from {fingerprint(endpoint.pinned_host_key)} "
            f"to {fingerprint(offered_key)}; all work on this node is stopped until an admin "
            "verifies the node and approves the new key."
        )


def fingerprint(public_key: str) -> str:
    """SHA256 fingerprint as OpenSSH prints it, or '' for no key."""
    if not public_key:
        return ""
    return asyncssh.import_public_key(public_key).get_fingerprint("sha256")


def _key_line(key: asyncssh.SSHKey) -> str:
    return key.export_public_key().decode().strip()


async def fetch_host_key(address: str, port: int, timeout: float = CONNECT_TIMEOUT) -> str:
    """The host key a server offers, without authenticating to it."""
    try:
        key = await asyncio.wait_for(asyncssh.get_server_host_key(address, port), timeout)
    except (OSError, asyncssh.Error, TimeoutError) as exc:
        raise NodeUnreachable(f"cannot reach {address}:{port}: {describe(exc)}") from exc
    if key is None:
        raise NodeUnreachable(f"{address}:{port} offered no host key")
    return _key_line(key)


def describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


@dataclass
class NodeSession:
    """An authenticated connection to one node."""

    endpoint: NodeEndpoint
    connection: asyncssh.SSHClientConnection
    command_timeout: float = COMMAND_TIMEOUT
    results: list[CommandResult] = field(default_factory=list)
    # OpenSSH refuses channels beyond its MaxSessions (default 10) per connection with
    # "open failed"; parallel reads share this many.
    channels: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_CHANNELS))

    async def run(self, argv: Sequence[str], timeout: float | None = None) -> CommandResult:
        """Run one command, given as an argv list, under the node's `timeout`; never raises
        for a non-zero exit (124: the node's `timeout` killed it)."""
        limit = timeout or self.command_timeout
        command = shlex.join(node_timeout_argv(argv, limit))
        started = time.monotonic()
        try:
            async with self.channels:
                completed = await asyncio.wait_for(
                    self.connection.run(command, check=False), limit + CLIENT_GRACE_SECONDS
                )
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            raise NodeUnreachable(
                f"{self.endpoint.name}: `{command}` failed: {describe(exc)}"
            ) from exc
        result = CommandResult(
            argv=tuple(argv),
            stdout=_text(completed.stdout),
            stderr=_text(completed.stderr),
            exit_status=completed.exit_status if completed.exit_status is not None else 255,
            seconds=time.monotonic() - started,
        )
        self.results.append(result)
        return result

    async def run_all(self, commands: Mapping[str, Sequence[str]]) -> dict[str, CommandResult]:
        """Run independent commands on parallel channels of the one connection."""
        names = list(commands)
        results = await asyncio.gather(*(self.run(commands[name]) for name in names))
        return dict(zip(names, results, strict=True))

    async def write_file(self, path: str, data: bytes, owner: str) -> None:
        """Write a file atomically: temp file, fsync (`sync FILE`), rename into place.

        The temp file is named for its owner (a job), so that two jobs never share one.
        """
        temp = f"{path}.tmp-{owner}"
        try:
            async with (
                self.channels,
                self.connection.start_sftp_client() as sftp,
                sftp.open(temp, "wb") as handle,
            ):
                await handle.write(data)
        except (OSError, asyncssh.Error) as exc:
            raise NodeUnreachable(f"{self.endpoint.name}: upload of {path} failed: {exc}") from exc
        for argv in (["sync", temp], ["mv", "-f", temp, path]):
            result = await self.run(argv)
            if not result.ok:
                raise NodeError(f"{self.endpoint.name}: `{result.command}` failed: {result.stderr}")


def node_timeout_argv(argv: Sequence[str], seconds: float) -> list[str]:
    """ARGV run under coreutils `timeout` (TERM at SECONDS, KILL a little later)."""
    return ["timeout", "-k", str(KILL_AFTER_SECONDS), str(max(1, round(seconds))), *argv]


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


@asynccontextmanager
async def connect(
    endpoint: NodeEndpoint,
    connect_timeout: float = CONNECT_TIMEOUT,
    command_timeout: float | None = None,
) -> AsyncIterator[NodeSession]:
    """An authenticated session to a node whose host key is pinned and matches."""
    if not endpoint.pinned_host_key:
        raise HostKeyUnknown(endpoint, await fetch_host_key(endpoint.address, endpoint.port))
    trusted = asyncssh.import_public_key(endpoint.pinned_host_key)
    client_key = asyncssh.import_private_key(endpoint.private_key)
    try:
        connection = await asyncio.wait_for(
            asyncssh.connect(
                endpoint.address,
                endpoint.port,
                username=endpoint.user,
                client_keys=[client_key],
                known_hosts=([trusted], [], []),
                encryption_algs=ENCRYPTION_ALGS,
                agent_path=None,
                password=None,
                kbdint_auth=False,
                connect_timeout=connect_timeout,
                keepalive_interval=15,
            ),
            connect_timeout,
        )
    except asyncssh.HostKeyNotVerifiable as exc:
        offered = await fetch_host_key(endpoint.address, endpoint.port)
        raise HostKeyChanged(endpoint, offered) from exc
    except asyncssh.PermissionDenied as exc:
        raise NodeError(
            f"{endpoint.name}: SSH login as {endpoint.user} refused; check the node's "
            "credential and authorized_keys."
        ) from exc
    except (OSError, asyncssh.Error, TimeoutError) as exc:
        raise NodeUnreachable(
            f"{endpoint.name}: cannot connect to {endpoint.address}:{endpoint.port}: "
            f"{describe(exc)}"
        ) from exc
    try:
        yield NodeSession(endpoint, connection, command_timeout or endpoint.command_timeout)
    finally:
        connection.close()
        # The node may go away while closing; nothing is left to clean up then.
        with contextlib.suppress(TimeoutError, OSError, asyncssh.Error):
            await asyncio.wait_for(connection.wait_closed(), 2)
