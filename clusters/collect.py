"""Read the live state of many nodes at once (async; no database access here).

One SSH connection per node; the independent reads run on parallel channels of that
connection, so a node costs one connect plus about two round trips. Every node has its
own deadline: a node that is down or slow is recorded as unreachable and never delays
the others beyond its timeout. The command contract is docs/node-commands.md.
"""

import asyncio
import re
import shlex
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from clusters import drbd, ssh
from clusters.paths import DRBD_DIR, RUNNING_CONFIG, SCST_CONF, STATE_DIR
from clusters.paths import SCST_SYSFS_ROOT as SCST_ROOT

# Independent reads, run in parallel on one connection. Keys name the raw outputs.
# Each extra channel costs about as much as the command's own work, so reads are merged
# where one command can do it.
PARALLEL_READS: dict[str, list[str]] = {
    "scst_links": ["find", SCST_ROOT, "-type", "l", "-printf", r"%p\0%l\n"],
    "drbd_status_json": ["drbdsetup", "status", "--json"],
    "drbd_show": ["drbdsetup", "show"],
    "drbd_dump": ["drbdadm", "dump"],
    "drbd_version": ["drbdadm", "--version"],
    # The cluster stack (clusters/stack.py): quorum and membership, Pacemaker's view and
    # its configured resources, the DLM lockspaces. Read-only; exit 127 = not installed.
    "stack_quorum": ["corosync-quorumtool", "-s"],
    "stack_crm_mon": ["crm_mon", "--one-shot", "--output-as=xml"],
    "stack_cib": ["cibadmin", "--query", "--scope", "resources"],
    "stack_dlm": ["dlm_tool", "ls"],
}
# DRBD 8.4 has no `drbdsetup status --json`; its live state is in /proc/drbd.
DRBD_84_READS = {"proc_drbd": ["cat", "/proc/drbd"]}
# scstadmin writes the running config to a file (the directory is made only when the
# write finds it missing); then one grep reads every SCST attribute file, the DRBD
# resource files as written (to recognise files another tool owns), /etc/scst.conf (what
# the next SCST start would load) and that fresh file.
RUNNING_CONFIG_STEPS: list[list[str]] = [
    ["scstadmin", "-write_config", RUNNING_CONFIG],
    [
        "grep",
        "-r",
        "-s",
        "-Z",
        "--exclude=mgmt",
        "",
        SCST_ROOT,
        DRBD_DIR,
        SCST_CONF,
        RUNNING_CONFIG,
    ],
]
MAKE_STATE_DIR = ["mkdir", "-p", STATE_DIR]
# A command whose output is larger than this is not stored (COLLECT_OUTPUT_MAX_BYTES): a
# node must not be able to size the database or a page. The read is recorded as failed
# with this exit status, so the node's collection is incomplete, naming the command.
OUTPUT_MAX_BYTES = 8 * 1024 * 1024
OVER_CAP = -2


def output_max_bytes() -> int:
    from django.conf import settings

    return int(getattr(settings, "COLLECT_OUTPUT_MAX_BYTES", OUTPUT_MAX_BYTES))


# `test -x HANDLER` for each fence-peer handler `drbdadm dump` names, stored as
# "fence_handler:PATH"; run as soon as the dump is in, beside the running-config steps.
FENCE_HANDLER_KEY = "fence_handler:"
HANDLER_PATH = re.compile(r"/[A-Za-z0-9._+/-]+")


def reads_for(drbd_version: str) -> dict[str, list[str]]:
    """The parallel reads for a node of the given DRBD version."""
    if drbd_version == "8.4":
        reads = {k: v for k, v in PARALLEL_READS.items() if k != "drbd_status_json"}
        return reads | DRBD_84_READS
    return dict(PARALLEL_READS)


@dataclass
class CommandOutput:
    """What one command printed, JSON-friendly for NodeSnapshot.raw."""

    command: str
    stdout: str
    stderr: str
    exit_status: int

    @classmethod
    def of(cls, result: ssh.CommandResult, cap: int | None = None) -> "CommandOutput":
        """The result as stored; over `cap` bytes (output_max_bytes) it is replaced by a
        failure that says so."""
        cap = output_max_bytes() if cap is None else cap
        size = sum(len(text.encode("utf-8", "surrogateescape")) for text in _texts(result))
        if size > cap:
            return cls(
                result.command,
                "",
                f"output of {size} bytes exceeds the portal's limit of {cap} bytes "
                "(COLLECT_OUTPUT_MAX_BYTES); not stored",
                OVER_CAP,
            )
        return cls(result.command, result.stdout, result.stderr, result.exit_status)


def _texts(result: ssh.CommandResult) -> tuple[str, str]:
    return (result.stdout or "", result.stderr or "")


@dataclass
class NodeCollection:
    """The outcome of reading one node."""

    endpoint: ssh.NodeEndpoint
    reachable: bool = False
    error: str = ""
    offered_host_key: str = ""
    host_key_problem: str = ""  # "unknown" or "changed"
    seconds: float = 0.0
    outputs: dict[str, CommandOutput] = field(default_factory=dict)


async def read_node(session: ssh.NodeSession, stack: bool = True) -> dict[str, CommandOutput]:
    """Every read the portal makes of a node, over one authenticated session. Without
    `stack` (an apply reading back what it changed) the cluster-stack reads are left out."""

    async def files_and_running_config() -> tuple[ssh.CommandResult, ssh.CommandResult]:
        written = await session.run(RUNNING_CONFIG_STEPS[0])
        if not written.ok:
            await session.run(MAKE_STATE_DIR)
            written = await session.run(RUNNING_CONFIG_STEPS[0])
        # Never read a running.conf left by an earlier run when this write failed.
        dump = RUNNING_CONFIG_STEPS[1] if written.ok else RUNNING_CONFIG_STEPS[1][:-1]
        return written, await session.run(dump)

    reads = reads_for(session.endpoint.drbd_version)
    if not stack:
        reads = {k: v for k, v in reads.items() if not k.startswith("stack_")}
    parallel = asyncio.ensure_future(session.run_all(reads))
    handler_tests = fence_handler_tests(session, parallel) if stack else _nothing()
    results, (written, dump), handlers = await asyncio.gather(
        parallel, files_and_running_config(), handler_tests
    )
    outputs = {name: CommandOutput.of(result) for name, result in results.items()}
    outputs |= {name: CommandOutput.of(result) for name, result in handlers.items()}
    outputs["file_dump"] = CommandOutput.of(dump)
    outputs["scst_running_config"] = running_config_output(written, dump)
    return outputs


async def _nothing() -> dict[str, ssh.CommandResult]:
    return {}


def fence_handler_paths(dump_text: str) -> list[str]:
    """Programs named by fence-peer handlers in `drbdadm dump` output (absolute paths only)."""
    try:
        resources = drbd.parse_dump(dump_text)
    except drbd.DrbdConfigError:
        return []
    paths = set()
    for res in resources:
        words = shlex.split(res.handlers.get("fence-peer", ""))
        if words and HANDLER_PATH.fullmatch(words[0]):
            paths.add(words[0])
    return sorted(paths)


async def fence_handler_tests(
    session: ssh.NodeSession, parallel: Awaitable[dict[str, ssh.CommandResult]]
) -> dict[str, ssh.CommandResult]:
    """`test -x` on every fence-peer handler, once the parallel reads brought the dump."""
    dump = (await parallel).get("drbd_dump")
    if dump is None or not dump.ok:
        return {}
    tests = {FENCE_HANDLER_KEY + p: ["test", "-x", p] for p in fence_handler_paths(dump.stdout)}
    return await session.run_all(tests) if tests else {}


def running_config_output(written: ssh.CommandResult, dump: ssh.CommandResult) -> CommandOutput:
    """The running config as if `cat` had printed it: the file's lines from the dump, or
    scstadmin's failure."""
    if not written.ok:
        return CommandOutput.of(written)
    if len(dump.stdout) > output_max_bytes():
        return CommandOutput.of(dump)  # refused as over the limit, like the dump itself
    prefix = RUNNING_CONFIG + "\0"
    lines = [r[len(prefix) :] for r in dump.stdout.splitlines() if r.startswith(prefix)]
    text = "\n".join(lines) + "\n" if lines else ""
    return CommandOutput(shlex.join(RUNNING_CONFIG_STEPS[0]), text, written.stderr, 0)


async def collect_node(
    endpoint: ssh.NodeEndpoint,
    timeout: float = 30.0,
    reader: Callable[[ssh.NodeSession], Awaitable[dict[str, CommandOutput]]] = read_node,
) -> NodeCollection:
    """Read one node within `timeout` seconds; failures become a recorded outcome."""
    outcome = NodeCollection(endpoint)
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            async with ssh.connect(endpoint, connect_timeout=timeout) as session:
                outcome.outputs = await reader(session)
                outcome.reachable = True
    except ssh.HostKeyUnknown as exc:
        outcome.offered_host_key, outcome.host_key_problem = exc.offered_key, "unknown"
        outcome.error = str(exc)
        outcome.reachable = True
    except ssh.HostKeyChanged as exc:
        outcome.offered_host_key, outcome.host_key_problem = exc.offered_key, "changed"
        outcome.error = str(exc)
        outcome.reachable = True
    except TimeoutError:
        outcome.error = f"{endpoint.name}: no answer within {timeout:.0f} s"
    except ssh.NodeError as exc:
        outcome.error = str(exc)
    outcome.seconds = time.monotonic() - started
    return outcome


async def collect_nodes(
    endpoints: Iterable[ssh.NodeEndpoint],
    timeout: float = 30.0,
    concurrency: int = 200,
    on_done: Callable[[NodeCollection], None] | None = None,
) -> list[NodeCollection]:
    """Read all nodes concurrently (at most `concurrency` connections at a time)."""
    limit = asyncio.Semaphore(concurrency)

    async def one(endpoint: ssh.NodeEndpoint) -> NodeCollection:
        async with limit:
            outcome = await collect_node(endpoint, timeout)
        if on_done is not None:
            on_done(outcome)
        return outcome

    return list(await asyncio.gather(*(one(e) for e in endpoints)))
