"""Push a change to every node of a cluster, never leaving it half-changed (async, no ORM).

stage on all nodes → validate on all nodes → create new DRBD resources (if any) →
apply node by node, verifying each by reading values back → on any failure restore the
backups on the nodes already touched (on a fresh connection if need be) and verify that.
The portal never applies to one node before every node has staged and validated.

Every remote command goes through the caller's Journal: it is recorded before it runs
and after, and a command that changes a node first checks the fencing token (the job
still holds the cluster's lock). When the journal cannot record or the lock is lost,
the push stops at once and touches no node again: nodes it changed are then `unknown`
and the job is left for the operator to reconcile, because acting unrecorded, or
alongside another writer, is worse than stopping.

A device whose creation attribute changes (write_through, nv_cache, blocksize, ...) is
re-created by `scstadmin -force -config`: its LUNs leave that node's targets for a
moment, so the push first checks that another node serves those LUNs. Attributes that
SCST can change on a running device are set with `scstadmin -set_dev_attr` first, which
leaves `-config` nothing to re-create for them.

A new DRBD resource follows the User's Guide ("Enabling your resource for the first
time", "Skipping initial resynchronization"): on every node install the .res,
`drbdadm create-md --force RES`, `drbdadm up RES`; once every node is Connected (both
disks Inconsistent), `drbdadm new-current-uuid --clear-bitmap RES/VOL` on one node only
makes both UpToDate without a sync (the operator confirmed the disks are new and empty);
then `drbdadm primary RES` everywhere, and every node must be Primary, UpToDate and
Connected before SCST is configured to export it.

A node whose apply writes `cluster_mode` (a runtime set, or a device created or re-created
with cluster_mode 1) follows SCST's README.dlm, "Startup and shutdown ordering": the
targets exporting those devices are disabled (`scstadmin -disable_target`, read back as 0)
before cluster_mode is written and enabled again after; a rollback keeps the same order
and leaves them enabled as they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import posixpath
import re
import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from clusters import drbd, ssh
from clusters.paths import (
    BACKUP_DIR,
    SCST_CONF,
    SCST_SYSFS_ROOT,
    STAGED_DIR,
    STATE_DIR,
    backup_path,
    resource_file,
    staged_path,
)

CONNECT_WAIT = 30.0  # seconds a new resource gets for every node to be Connected
CONNECT_POLL = 0.5
ROLLBACK_ATTEMPTS = 3  # the first on the job's connection, then fresh connections
JOB_DIR = re.compile(r"^job-(\d+)$")


class NodeState(enum.StrEnum):
    """What a push left on one node."""

    UNCHANGED = "unchanged"
    STAGED = "staged"
    APPLIED = "applied"
    ROLLED_BACK = "rolled back"
    UNKNOWN = "unknown"


@dataclass
class NodeChange:
    """What one node gets: new contents for live paths, and how to make them run."""

    endpoint: ssh.NodeEndpoint
    files: dict[str, str]
    drbd_adjust: list[str] = field(default_factory=list)
    new_drbd_resources: list[str] = field(default_factory=list)  # created, not adjusted
    # device → {attribute: value}, set on the running device before `-config`; and the
    # values they had, for a rollback.
    runtime_sets: dict[str, dict[str, str]] = field(default_factory=dict)
    runtime_restore: dict[str, dict[str, str]] = field(default_factory=dict)
    scst_reload: bool = False
    scst_force: bool = False
    recreated_devices: list[str] = field(default_factory=list)
    # README.dlm: (driver, target) disabled around the node's cluster_mode writes, and the
    # live devices they export (another node must serve them meanwhile).
    dlm_targets: list[tuple[str, str]] = field(default_factory=list)
    dlm_paths: list[str] = field(default_factory=list)


@dataclass
class NodeOutcome:
    node: str
    state: NodeState = NodeState.UNCHANGED
    error: str = ""


class Journal(Protocol):
    """Where a push records what it does (the job), and its right to do it (the lock)."""

    async def fence(self) -> None:
        """Raise unless the job still holds its cluster's lock (renewing the lease)."""

    async def started(self, node: str, step: str, command: str, writes: bool) -> int:
        """Record a command about to run; returns its step id."""

    async def finished(self, step_id: int, result: ssh.CommandResult | None, error: str) -> None:
        """Record a command's exit status and output (or why none was seen)."""

    async def log(self, node: str | None, step: str, level: str, message: str) -> None:
        """A progress line for the job page."""

    async def heartbeat(self) -> None:
        """Show that the job is alive (called on a timer while the push runs)."""


# (session, change, applied) → problems; applied False: check the previous state.
Verify = Callable[[ssh.NodeSession, NodeChange, bool], Awaitable[list[str]]]
# (peer session, devices) → why the peer does not serve those devices' LUNs (empty: it does)
Serving = Callable[[ssh.NodeSession, list[str]], Awaitable[list[str]]]


class StepFailed(Exception):
    def __init__(self, node: str, step: str, message: str) -> None:
        self.node, self.step = node, step
        super().__init__(f"{node}: {step}: {message}")


class Stopped(Exception):
    """The push must not go on writing (lock lost, journal unavailable): no rollback."""


@dataclass
class Push:
    """One push: its owner (names staged files and backups), journal and checks."""

    owner: str
    journal: Journal
    verify: Verify
    serving: Serving
    keep_jobs: int = 10
    heartbeat_seconds: float = 5.0
    # Nodes of the cluster the push does not change: they can serve LUNs meanwhile.
    others: list[ssh.NodeEndpoint] = field(default_factory=list)
    outcomes: dict[str, NodeOutcome] = field(default_factory=dict)
    existed: dict[str, dict[str, bool]] = field(default_factory=dict)
    hashes: dict[str, dict[str, str]] = field(default_factory=dict)

    async def run(
        self, session: ssh.NodeSession, argv: Sequence[str], step: str, writes: bool = False
    ) -> ssh.CommandResult:
        """Run one command through the journal; a failure raises StepFailed."""
        name = session.endpoint.name
        if writes:
            await self._fence()
        step_id = await self._record(self.journal.started(name, step, shlex.join(argv), writes))
        try:
            result = await session.run(argv)
        except ssh.NodeError as exc:
            await self._record(self.journal.finished(step_id, None, str(exc)))
            raise
        await self._record(self.journal.finished(step_id, result, ""))
        if not result.ok:
            raise StepFailed(name, step, failure_text(result))
        return result

    async def log(self, node: str | None, step: str, level: str, message: str) -> None:
        await self._record(self.journal.log(node, step, level, message))

    async def _fence(self) -> None:
        try:
            await self.journal.fence()
        except Exception as exc:
            raise Stopped(f"stopped before writing: {exc}") from exc

    @staticmethod
    async def _record(call: Awaitable):
        try:
            return await call
        except Exception as exc:
            raise Stopped(f"the job's record is unavailable ({exc}); stopped") from exc


def failure_text(result: ssh.CommandResult) -> str:
    if result.exit_status == 124:
        return (
            f"`{result.command}` ran out of time and the node's `timeout` killed it; it may "
            "have done part of its work"
        )
    detail = (result.stderr or result.stdout).strip().splitlines()
    if result.exit_status == 255 and not detail:
        return f"`{result.command}` got no answer: the connection dropped (it may have run)"
    return f"`{result.command}` exited {result.exit_status}: {detail[-1] if detail else ''}"


def running_backup(owner: str) -> str:
    """Where a job keeps what SCST ran before it (`scstadmin -write_config`)."""
    return backup_path(owner, SCST_CONF) + ".running"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- staging and validation ---------------------------------------------------------------


async def stage(push: Push, session: ssh.NodeSession, change: NodeChange) -> dict[str, bool]:
    """Back up the live files (if present) and write the new ones to the staging area.

    Returns which live paths existed before, so that a rollback can remove new ones.
    """
    existed = {}
    dirs = sorted(
        {posixpath.dirname(staged_path(push.owner, p)) for p in change.files}
        | {posixpath.dirname(backup_path(push.owner, p)) for p in change.files}
    )
    await push.run(session, ["mkdir", "-p", *dirs], "stage")
    for live in sorted(change.files):
        backup = backup_path(push.owner, live)
        if live == SCST_CONF:
            # Back up what SCST runs as well as the file: they can differ, and a rollback
            # returns both to what they were.
            argv = ["scstadmin", "-write_config", running_backup(push.owner)]
            await push.run(session, argv, "backup")
        existed[live] = await _exists(push, session, live)
        if existed[live]:
            await push.run(session, ["cp", "-p", live, backup], "backup")
    for live, text in sorted(change.files.items()):
        staged = staged_path(push.owner, live)
        step_id = await push._record(
            push.journal.started(session.endpoint.name, "stage", f"sftp put {staged}", False)
        )
        try:
            await session.write_file(staged, text.encode(), push.owner)
        except ssh.NodeError as exc:
            await push._record(push.journal.finished(step_id, None, str(exc)))
            raise StepFailed(session.endpoint.name, "stage", str(exc)) from exc
        await push._record(push.journal.finished(step_id, None, ""))
    return existed


async def _exists(push: Push, session: ssh.NodeSession, path: str) -> bool:
    try:
        await push.run(session, ["test", "-e", path], "stage")
    except StepFailed:
        return False
    return True


async def validate(push: Push, session: ssh.NodeSession, change: NodeChange) -> None:
    """The node's own tools accept every staged file."""
    for live in sorted(change.files):
        staged = staged_path(push.owner, live)
        if live.endswith(".res"):
            await push.run(session, ["drbdadm", "-c", staged, "dump"], "validate")
        elif live == SCST_CONF:
            await push.run(session, ["scstadmin", "-check_config", staged], "validate")


# --- applying and restoring one node ------------------------------------------------------


async def install(push: Push, session: ssh.NodeSession, source: str, live: str, step: str) -> None:
    """Copy SOURCE over LIVE atomically (temp file named for the job, fsync, rename)."""
    temp = f"{live}.tmp-{push.owner}"
    await push.run(session, ["cp", "-p", source, temp], step, writes=True)
    await push.run(session, ["sync", temp], step, writes=True)
    await push.run(session, ["mv", "-f", temp, live], step, writes=True)


def set_dev_attr_argv(device: str, values: dict[str, str]) -> list[str]:
    """`scstadmin -set_dev_attr` (scstadmin.1); -attributes takes name=value,… pairs."""
    pairs = ",".join(f"{name}={value}" for name, value in sorted(values.items()))
    return ["scstadmin", "-noprompt", "-set_dev_attr", device, "-attributes", pairs]


def runtime_batches(values: dict[str, str], restoring: bool) -> list[dict[str, str]]:
    """The -set_dev_attr calls for one device, in a safe order. SCST refuses a t10_dev_id
    change while cluster_mode is 1 (scst_vdisk.c), and scstadmin applies one call's
    attributes in no fixed order: cluster_mode goes alone, after the identity when it
    is turned on, before it when a rollback turns it back."""
    mode = {k: v for k, v in values.items() if k == "cluster_mode"}
    rest = {k: v for k, v in values.items() if k != "cluster_mode"}
    batches = [mode, rest] if restoring else [rest, mode]
    return [b for b in batches if b]


def target_argv(action: str, driver: str, target: str) -> list[str]:
    """`scstadmin -noprompt -enable_target|-disable_target TARGET -driver DRIVER`."""
    return ["scstadmin", "-noprompt", f"-{action}_target", target, "-driver", driver]


async def disable_targets(push: Push, session: ssh.NodeSession, change: NodeChange, step: str):
    """README.dlm: the target ports are disabled before cluster_mode is written. scstadmin
    exits 0 even when it refuses, so each target's `enabled` is read back."""
    for driver, target in change.dlm_targets:
        await push.run(session, target_argv("disable", driver, target), step, writes=True)
        path = f"{SCST_SYSFS_ROOT}/targets/{driver}/{target}/enabled"
        result = await push.run(session, ["cat", path], step)
        if result.stdout.split()[:1] != ["0"]:
            raise StepFailed(
                session.endpoint.name,
                step,
                f"{driver}/{target} is still enabled after -disable_target "
                f"({path} reads {result.stdout.strip()!r}); cluster_mode not written",
            )
    if change.dlm_targets:
        await push.log(
            session.endpoint.name,
            step,
            "info",
            "targets disabled before cluster_mode is written (README.dlm): "
            + ", ".join(t for _, t in change.dlm_targets),
        )


async def enable_targets(push: Push, session: ssh.NodeSession, change: NodeChange, step: str):
    """README.dlm: the targets are enabled again once cluster_mode is written."""
    for driver, target in change.dlm_targets:
        await push.run(session, target_argv("enable", driver, target), step, writes=True)


async def reload(
    push: Push,
    session: ssh.NodeSession,
    change: NodeChange,
    step: str,
    sets: dict[str, dict[str, str]],
    force: bool = False,
    config: str = SCST_CONF,
) -> None:
    """Make the installed files run: runtime attribute sets, drbdadm adjust, scstadmin."""
    for device, values in sorted(sets.items()):
        for batch in runtime_batches(values, restoring=step == "restore"):
            await push.run(session, set_dev_attr_argv(device, batch), step, writes=True)
    for resource in change.drbd_adjust:
        await push.run(session, ["drbdadm", "adjust", resource], step, writes=True)
    if change.scst_reload or force:
        argv = ["scstadmin", "-noprompt", "-config", config]
        if change.scst_force or force:
            argv.insert(1, "-force")
        await push.run(session, argv, step, writes=True)


async def check_installed(push: Push, session: ssh.NodeSession, change: NodeChange) -> None:
    """The files on disk are exactly the staged ones (sha256sum, coreutils' format)."""
    paths = sorted(change.files)
    if not paths:
        return
    result = await push.run(session, ["sha256sum", "--", *paths], "verify")
    found = {}
    for line in result.stdout.splitlines():
        digest, _, path = line.partition("  ")
        found[path] = digest
    wrong = [p for p in paths if found.get(p) != sha256(change.files[p])]
    if wrong:
        raise StepFailed(
            session.endpoint.name,
            "verify",
            f"{', '.join(wrong)} on disk is not the file the portal staged",
        )


async def apply_node(push: Push, session: ssh.NodeSession, change: NodeChange) -> None:
    for live in sorted(change.files):
        if posixpath.basename(live).removesuffix(".res") in change.new_drbd_resources:
            continue  # installed when the resource was created
        await install(push, session, staged_path(push.owner, live), live, "install")
    await disable_targets(push, session, change, "apply")
    await reload(push, session, change, "apply", change.runtime_sets)
    await enable_targets(push, session, change, "apply")
    await check_installed(push, session, change)


async def restore_node(push: Push, session: ssh.NodeSession, change: NodeChange) -> None:
    """Put the backed-up files back, then make them run (old runtime values first, then
    drbdadm adjust and `scstadmin -force -config`); a resource the change created is
    taken down and its .res removed last."""
    existed = push.existed[change.endpoint.name]
    created = {resource_file(r) for r in change.new_drbd_resources}
    for live, was_there in sorted(existed.items()):
        if live == SCST_CONF:
            continue  # put back once SCST runs its backed-up running config again
        if was_there:
            await install(push, session, backup_path(push.owner, live), live, "restore")
        elif live not in created:  # `drbdadm down` below still needs the file
            await push.run(session, ["rm", "-f", live], "restore", writes=True)
    # Returning to the backed-up state removes what the change added, in use or not.
    # SCST lets go of the new resource's device before it is taken down. cluster_mode
    # goes back with the targets disabled (README.dlm), and they are enabled again even
    # when restoring failed: a rollback must not leave a node's paths off.
    try:
        await disable_targets(push, session, change, "restore")
        await reload(
            push,
            session,
            change,
            "restore",
            change.runtime_restore,
            force=True,
            config=running_backup(push.owner),
        )
        await restore_scst_file(push, session, existed)
    finally:
        try:
            await enable_targets(push, session, change, "restore")
        finally:
            await remove_new_resources(push, session, change)


async def restore_scst_file(push: Push, session: ssh.NodeSession, existed: dict) -> None:
    """/etc/scst.conf exactly as it was (or absent again)."""
    if SCST_CONF not in existed:
        return
    if existed[SCST_CONF]:
        await install(push, session, backup_path(push.owner, SCST_CONF), SCST_CONF, "restore")
    else:
        await push.run(session, ["rm", "-f", SCST_CONF], "restore", writes=True)


async def remove_new_resources(push: Push, session: ssh.NodeSession, change: NodeChange) -> None:
    """`drbdadm down RES` where the change installed its .res, then remove the file."""
    for resource in change.new_drbd_resources:
        live = resource_file(resource)
        if await _exists(push, session, live):
            await push.run(session, ["drbdadm", "down", resource], "rollback", writes=True)
            await push.run(session, ["rm", "-f", live], "rollback", writes=True)


# --- new DRBD resources -------------------------------------------------------------------


async def resource_state(
    push: Push, session: ssh.NodeSession, resource: str
) -> drbd.ResourceState | None:
    """The resource's live state from `drbdsetup status --json RES` (None: not up)."""
    result = await push.run(session, ["drbdsetup", "status", "--json", resource], "status")
    try:
        states = drbd.parse_status_json(result.stdout)
    except drbd.DrbdConfigError as exc:
        raise StepFailed(session.endpoint.name, "status", str(exc)) from exc
    return next((s for s in states if s.name == resource), None)


async def _wait_connected(push: Push, pairs, resource: str) -> None:
    deadline = asyncio.get_running_loop().time() + CONNECT_WAIT
    while True:
        waiting = []
        for session, change in pairs:
            state = await resource_state(push, session, resource)
            peers = state.peers if state else []
            if not peers or any(p.connection != "Connected" for p in peers):
                seen = ", ".join(p.connection for p in peers) or "not up"
                waiting.append((change.endpoint.name, seen))
        if not waiting:
            return
        if asyncio.get_running_loop().time() > deadline:
            node, seen = waiting[0]
            raise StepFailed(
                node, "connect", f"DRBD {resource} is {seen} after {CONNECT_WAIT:.0f} s"
            )
        await asyncio.sleep(CONNECT_POLL)


async def create_resources(push: Push, pairs, done: list) -> None:
    """Bring new DRBD resources up on every node as healthy dual-primary (see above)."""
    creating = [(s, c) for s, c in pairs if c.new_drbd_resources]
    for _session, change in creating:
        name = change.endpoint.name
        for resource in change.new_drbd_resources:
            if push.existed[name].get(resource_file(resource)):
                # Someone made it since the plan; create-md would destroy its meta data.
                raise StepFailed(
                    name, "create", f"{resource_file(resource)} exists already; not created"
                )
    for session, change in creating:
        name = change.endpoint.name
        done.append((session, change))
        push.outcomes[name].state = NodeState.UNKNOWN  # until applied or rolled back
        for resource in change.new_drbd_resources:
            live = resource_file(resource)
            await install(push, session, staged_path(push.owner, live), live, "install")
            argv = ["drbdadm", "create-md", "--force", resource]
            await push.run(session, argv, "create-md", writes=True)
            await push.run(session, ["drbdadm", "up", resource], "up", writes=True)
        await push.log(
            name, "up", "ok", f"meta data created, up: {', '.join(change.new_drbd_resources)}"
        )
    first_session, first = creating[0]
    for resource in first.new_drbd_resources:
        await _wait_connected(push, creating, resource)
        state = await resource_state(push, first_session, resource)
        for volume in [d.volume for d in state.devices] if state else []:
            argv = ["drbdadm", "new-current-uuid", "--clear-bitmap", f"{resource}/{volume}"]
            await push.run(first_session, argv, "new-current-uuid", writes=True)
        await push.log(first.endpoint.name, "new-current-uuid", "ok", f"{resource}: UpToDate")
        for session, _change in creating:
            await push.run(session, ["drbdadm", "primary", resource], "primary", writes=True)
        for session, change in creating:
            state = await resource_state(push, session, resource)
            problems = state.dual_primary_problems() if state else ["not running"]
            if problems:
                raise StepFailed(
                    change.endpoint.name,
                    "verify",
                    f"DRBD {resource} is not healthy dual-primary: {'; '.join(problems)}",
                )
            await push.log(
                change.endpoint.name, "primary", "ok", f"{resource}: Primary, UpToDate, Connected"
            )


# --- the whole push -----------------------------------------------------------------------


@dataclass
class PushResult:
    ok: bool
    outcomes: dict[str, NodeOutcome]
    error: str = ""
    stopped: bool = False  # Stopped: nodes were left as they were at that moment


async def push(changes: list[NodeChange], job: Push) -> PushResult:
    """Stage and validate everywhere, then apply node by node; roll back on any failure."""
    job.outcomes = {c.endpoint.name: NodeOutcome(c.endpoint.name) for c in changes}
    beating = asyncio.create_task(_keep_alive(job))
    try:
        async with contextlib.AsyncExitStack() as stack:
            try:
                sessions = await asyncio.gather(
                    *(stack.enter_async_context(ssh.connect(c.endpoint)) for c in changes)
                )
            except ssh.NodeError as exc:
                await job.log(None, "connect", "error", str(exc))
                return PushResult(False, job.outcomes, f"connect: {exc}")
            pairs = list(zip(sessions, changes, strict=True))
            return await _push(job, pairs)
    except Stopped as exc:
        for outcome in job.outcomes.values():
            if outcome.state not in (NodeState.UNCHANGED, NodeState.STAGED):
                outcome.state, outcome.error = NodeState.UNKNOWN, str(exc)
        return PushResult(False, job.outcomes, str(exc), stopped=True)
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating


async def _keep_alive(job: Push) -> None:
    """Heartbeat (and lease renewal) while long steps run; a failure shows on next fence."""
    while True:
        await asyncio.sleep(job.heartbeat_seconds)
        with contextlib.suppress(Exception):
            await job.journal.heartbeat()


async def _push(job: Push, pairs) -> PushResult:
    try:
        await _stage_and_validate(job, pairs)
    except (StepFailed, ssh.NodeError) as exc:
        await job.log(getattr(exc, "node", None), getattr(exc, "step", "stage"), "error", str(exc))
        return PushResult(False, job.outcomes, str(exc))
    done: list[tuple[ssh.NodeSession, NodeChange]] = []
    if any(c.new_drbd_resources for _, c in pairs):
        try:
            await create_resources(job, pairs, done)
        except (StepFailed, ssh.NodeError) as exc:
            return await _failed(job, exc, done, done[-1][1].endpoint.name if done else None)
    for index, (session, change) in enumerate(pairs):
        name = change.endpoint.name
        try:
            await _serving_elsewhere(job, pairs, index)
        except StepFailed as exc:
            return await _failed(job, exc, done, name, touched=False)
        if all(s is not session for s, _ in done):
            done.append((session, change))
        job.outcomes[name].state = NodeState.UNKNOWN  # until verified either way
        try:
            await apply_node(job, session, change)
            problems = await job.verify(session, change, True)
            if problems:
                raise StepFailed(name, "verify", "; ".join(problems))
        except (StepFailed, ssh.NodeError) as exc:
            return await _failed(job, exc, done, name)
        job.outcomes[name].state = NodeState.APPLIED
        await job.log(name, "verify", "ok", "live state and files match the plan")
    await _prune(job, pairs)
    return PushResult(True, job.outcomes)


async def _serving_elsewhere(job: Push, pairs, index: int) -> None:
    """Before a node re-creates devices, another node must serve their LUNs."""
    change = pairs[index][1]
    devices = sorted(set(change.recreated_devices) | set(change.dlm_paths))
    if not devices:
        return
    reasons = []
    for other, other_change in pairs[:index] + pairs[index + 1 :]:
        problems = await job.serving(other, devices)
        if not problems:
            await job.log(
                other_change.endpoint.name,
                "serving",
                "ok",
                f"serves {', '.join(devices)} while {change.endpoint.name} {_pauses(change)}",
            )
            return
        reasons.append(f"{other_change.endpoint.name}: {'; '.join(problems)}")
    for endpoint in job.others:
        try:
            async with ssh.connect(endpoint) as other:
                problems = await job.serving(other, devices)
        except ssh.NodeError as exc:
            problems = [str(exc)]
        if not problems:
            await job.log(
                endpoint.name,
                "serving",
                "ok",
                f"serves {', '.join(devices)} while {change.endpoint.name} {_pauses(change)}",
            )
            return
        reasons.append(f"{endpoint.name}: {'; '.join(problems)}")
    raise StepFailed(
        change.endpoint.name,
        "serving",
        "no other node serves "
        f"{', '.join(devices)}, so {_pausing(change)} would cut every path: "
        + ("; ".join(reasons) or "the cluster has no other node"),
    )


def _pauses(change: NodeChange) -> str:
    return "re-creates them" if change.recreated_devices else "disables its targets"


def _pausing(change: NodeChange) -> str:
    return "re-creating them" if change.recreated_devices else "disabling its targets"


async def _failed(
    job: Push, exc: Exception, done, name: str | None, touched: bool = True
) -> PushResult:
    if name is not None and touched:
        job.outcomes[name].state, job.outcomes[name].error = NodeState.UNKNOWN, str(exc)
    await job.log(name, getattr(exc, "step", "apply"), "error", str(exc))
    await _roll_back(job, done)
    return PushResult(False, job.outcomes, str(exc))


async def _stage_and_validate(job: Push, pairs) -> None:
    async def one(session: ssh.NodeSession, change: NodeChange) -> None:
        name = change.endpoint.name
        job.existed[name] = await stage(job, session, change)
        job.outcomes[name].state = NodeState.STAGED
        await job.log(name, "stage", "ok", f"staged {len(change.files)} file(s), backups kept")

    async def check(session: ssh.NodeSession, change: NodeChange) -> None:
        await validate(job, session, change)
        await job.log(
            change.endpoint.name, "validate", "ok", "drbdadm and scstadmin accept the staged files"
        )

    for step in (one, check):
        # Every node finishes the step (or fails) before the first failure is reported.
        results = await asyncio.gather(*(step(s, c) for s, c in pairs), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        stopped = [r for r in failures if isinstance(r, Stopped)]
        if stopped:
            raise stopped[0]
        if failures:
            raise failures[0]


async def _roll_back(job: Push, done) -> None:
    """Restore backups on every node touched, newest first; a node counts as rolled back
    when its live state verifies as the old one, even if re-applying reported an error.
    A dropped connection is retried on a fresh one."""
    for session, change in reversed(done):
        await _roll_back_node(job, session, change)


async def _roll_back_node(job: Push, session: ssh.NodeSession, change: NodeChange) -> None:
    name = change.endpoint.name
    where = f"backups are in {BACKUP_DIR}/{job.owner}"
    last_error = ""
    for attempt in range(ROLLBACK_ATTEMPTS):
        try:
            if attempt == 0:
                await _restore_and_verify(job, session, change)
            else:
                async with ssh.connect(change.endpoint) as fresh:
                    await job.log(name, "rollback", "info", "retrying on a fresh connection")
                    await _restore_and_verify(job, fresh, change)
            return
        except ssh.NodeError as exc:
            last_error = str(exc)
            await job.log(name, "rollback", "error", f"{exc}; {where}")
    job.outcomes[name].state, job.outcomes[name].error = NodeState.UNKNOWN, last_error


async def _restore_and_verify(job: Push, session: ssh.NodeSession, change: NodeChange) -> None:
    name = change.endpoint.name
    reapply_error = ""
    try:
        await restore_node(job, session, change)
    except StepFailed as exc:
        reapply_error = str(exc)
        await job.log(name, "rollback", "error", reapply_error)
    problems = await job.verify(session, change, False)
    if problems:
        job.outcomes[name].state = NodeState.UNKNOWN
        job.outcomes[name].error = "; ".join(problems)
        await job.log(
            name,
            "rollback",
            "error",
            f"live state is not the previous one: {job.outcomes[name].error}; "
            f"backups are in {BACKUP_DIR}/{job.owner}",
        )
        return
    job.outcomes[name].state = NodeState.ROLLED_BACK
    note = f" (re-apply reported: {reapply_error})" if reapply_error else ""
    await job.log(name, "rollback", "ok", f"previous configuration restored and verified{note}")


async def _prune(job: Push, pairs) -> None:
    """Keep the backups and staged files of the last `keep_jobs` jobs on every node."""
    for session, change in pairs:
        stale = []
        for directory in (BACKUP_DIR, STAGED_DIR):
            listing = await session.run(["ls", "-1", directory])
            if not listing.ok:
                continue
            jobs = sorted(
                (int(m.group(1)), m.group(0))
                for m in map(JOB_DIR.match, listing.stdout.split())
                if m
            )
            stale += [posixpath.join(directory, n) for _, n in jobs[: -job.keep_jobs or None]]
        if stale and job.keep_jobs > 0:
            with contextlib.suppress(StepFailed, ssh.NodeError):
                await job.run(session, ["rm", "-rf", "--", *stale], "prune", writes=True)
                await job.log(
                    change.endpoint.name, "prune", "info", f"removed {len(stale)} old job folders"
                )


__all__ = ["STATE_DIR", "NodeChange", "NodeState", "Push", "PushResult", "push"]
