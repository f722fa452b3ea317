"""Push a change to every node of a cluster, never leaving it half-changed (async, no ORM).

stage on all nodes → validate on all nodes → create new DRBD resources (if any) →
apply node by node, verifying each → on any failure restore the backups on the nodes
already touched, re-apply, verify. The portal never applies to one node before every
node has staged and validated.

A new DRBD resource follows the User's Guide ("Enabling your resource for the first
time", "Skipping initial resynchronization"): on every node install the .res,
`drbdadm create-md --force RES`, `drbdadm up RES`; once every node is Connected (both
disks Inconsistent), `drbdadm new-current-uuid --clear-bitmap RES/VOL` on one node only
makes both UpToDate without a sync (the operator confirmed the disks are new and empty);
then `drbdadm primary RES` everywhere, and every node must be Primary, UpToDate and
Connected before SCST is configured to export it.
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from clusters import drbd, ssh

STATE_DIR = "/var/lib/scst-portal"
SCST_CONF = "/etc/scst.conf"
DRBD_DIR = "/etc/drbd.d"
CONNECT_WAIT = 30.0  # seconds a new resource gets for every node to be Connected
CONNECT_POLL = 0.5


@dataclass
class NodeChange:
    """What one node gets: new contents for live paths, and what to re-apply."""

    endpoint: ssh.NodeEndpoint
    files: dict[str, str]
    drbd_resources: list[str] = field(default_factory=list)
    scst_changed: bool = False
    scst_force: bool = False
    removed_files: list[str] = field(default_factory=list)
    new_drbd_resources: list[str] = field(default_factory=list)  # created, not adjusted


@dataclass
class NodeOutcome:
    node: str
    state: str = "unchanged"  # unchanged | staged | applied | rolled back | unknown
    error: str = ""


Log = Callable[[str | None, str, str, str], None]  # node, step, level, message
Verify = Callable[[ssh.NodeSession, NodeChange, bool], Awaitable[list[str]]]


class StepFailed(Exception):
    def __init__(self, node: str, step: str, message: str) -> None:
        self.node, self.step = node, step
        super().__init__(f"{node}: {step}: {message}")


def staged_path(change_id: str, live_path: str) -> str:
    return posixpath.join(STATE_DIR, "staged", change_id, live_path.lstrip("/"))


def backup_path(change_id: str, live_path: str) -> str:
    return posixpath.join(STATE_DIR, "backup", change_id, live_path.lstrip("/"))


def resource_path(resource: str) -> str:
    return posixpath.join(DRBD_DIR, f"{resource}.res")


async def _run(session: ssh.NodeSession, argv: list[str], step: str) -> ssh.CommandResult:
    result = await session.run(argv)
    if not result.ok:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise StepFailed(
            session.endpoint.name,
            step,
            f"`{result.command}` exited {result.exit_status}: {detail[-1] if detail else ''}",
        )
    return result


async def stage(session: ssh.NodeSession, change: NodeChange, change_id: str) -> dict[str, bool]:
    """Back up the live files (if present) and write the new ones to the staging area.

    Returns which live paths existed before, so that a rollback can remove new ones.
    """
    existed = {}
    for live in sorted(set(change.files) | set(change.removed_files)):
        for path in (staged_path(change_id, live), backup_path(change_id, live)):
            await _run(session, ["mkdir", "-p", posixpath.dirname(path)], "stage")
        probe = await session.run(["test", "-e", live])
        existed[live] = probe.ok
        if live == SCST_CONF:
            # Back up what SCST runs, not the file: they can differ, and a rollback must
            # return to the running state.
            await _run(
                session, ["scstadmin", "-write_config", backup_path(change_id, live)], "backup"
            )
            existed[live] = True
        elif probe.ok:
            await _run(session, ["cp", "-p", live, backup_path(change_id, live)], "backup")
    for live, text in sorted(change.files.items()):
        try:
            await session.write_file(staged_path(change_id, live), text.encode())
        except ssh.NodeError as exc:
            raise StepFailed(session.endpoint.name, "stage", str(exc)) from exc
    return existed


async def validate(session: ssh.NodeSession, change: NodeChange, change_id: str) -> None:
    """The node's own tools accept every staged file."""
    for live in sorted(change.files):
        staged = staged_path(change_id, live)
        if live.endswith(".res"):
            await _run(session, ["drbdadm", "-c", staged, "dump"], "validate")
        elif live == SCST_CONF:
            await _run(session, ["scstadmin", "-check_config", staged], "validate")


async def _install(session: ssh.NodeSession, source: str, live: str, step: str) -> None:
    temp = f"{live}.tmp-portal"
    await _run(session, ["cp", "-p", source, temp], step)
    await _run(session, ["sync", temp], step)
    await _run(session, ["mv", "-f", temp, live], step)


async def reapply(
    session: ssh.NodeSession, change: NodeChange, step: str, force: bool = False
) -> None:
    for resource in change.drbd_resources:
        await _run(session, ["drbdadm", "adjust", resource], step)
    if change.scst_changed:
        argv = ["scstadmin", "-noprompt", "-config", SCST_CONF]
        if change.scst_force or force:
            argv.insert(1, "-force")
        await _run(session, argv, step)


async def apply_node(session: ssh.NodeSession, change: NodeChange, change_id: str) -> None:
    for live in sorted(change.files):
        await _install(session, staged_path(change_id, live), live, "install")
    for live in change.removed_files:
        await _run(session, ["rm", "-f", live], "install")
    await reapply(session, change, "apply")


async def restore_node(
    session: ssh.NodeSession, change: NodeChange, change_id: str, existed: dict[str, bool]
) -> None:
    """Put the backed-up files back, then re-apply them (drbdadm adjust, scstadmin);
    a resource the change created is taken down and its .res removed last."""
    created = {resource_path(r) for r in change.new_drbd_resources}
    for live, was_there in sorted(existed.items()):
        if was_there:
            await _install(session, backup_path(change_id, live), live, "restore")
        elif live not in created:  # `drbdadm down` below still needs the file
            await _run(session, ["rm", "-f", live], "restore")
    # Returning to the backed-up state removes what the change added, in use or not.
    # SCST lets go of the new resource's device before it is taken down.
    try:
        await reapply(session, change, "restore", force=True)
    finally:
        await remove_new_resources(session, change)


async def remove_new_resources(session: ssh.NodeSession, change: NodeChange) -> None:
    """`drbdadm down RES` where the change installed its .res, then remove the file."""
    for resource in change.new_drbd_resources:
        live = resource_path(resource)
        if (await session.run(["test", "-e", live])).ok:
            await _run(session, ["drbdadm", "down", resource], "rollback")
            await _run(session, ["rm", "-f", live], "rollback")


async def resource_state(session: ssh.NodeSession, resource: str) -> drbd.ResourceState | None:
    """The resource's live state from `drbdsetup status --json RES` (None: not up)."""
    result = await _run(session, ["drbdsetup", "status", "--json", resource], "status")
    try:
        states = drbd.parse_status_json(result.stdout)
    except drbd.DrbdConfigError as exc:
        raise StepFailed(session.endpoint.name, "status", str(exc)) from exc
    return next((s for s in states if s.name == resource), None)


async def _wait_connected(pairs, resource: str) -> None:
    deadline = asyncio.get_running_loop().time() + CONNECT_WAIT
    while True:
        waiting = []
        for session, change in pairs:
            state = await resource_state(session, resource)
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


async def create_resources(pairs, change_id: str, existed, done: list, log: Log) -> None:
    """Bring new DRBD resources up on every node as healthy dual-primary (see above)."""
    creating = [(s, c) for s, c in pairs if c.new_drbd_resources]
    for _session, change in creating:
        name = change.endpoint.name
        for resource in change.new_drbd_resources:
            if existed[name].get(resource_path(resource)):
                # Someone made it since the plan; create-md would destroy its meta data.
                raise StepFailed(
                    name, "create", f"{resource_path(resource)} exists already; not created"
                )
    for session, change in creating:
        name = change.endpoint.name
        done.append((session, change))
        for resource in change.new_drbd_resources:
            live = resource_path(resource)
            await _install(session, staged_path(change_id, live), live, "install")
            await _run(session, ["drbdadm", "create-md", "--force", resource], "create-md")
            await _run(session, ["drbdadm", "up", resource], "up")
        log(name, "up", "ok", f"meta data created, up: {', '.join(change.new_drbd_resources)}")
    first_session, first = creating[0]
    for resource in first.new_drbd_resources:
        await _wait_connected(creating, resource)
        state = await resource_state(first_session, resource)
        for volume in [d.volume for d in state.devices] if state else []:
            argv = ["drbdadm", "new-current-uuid", "--clear-bitmap", f"{resource}/{volume}"]
            await _run(first_session, argv, "new-current-uuid")
        log(first.endpoint.name, "new-current-uuid", "ok", f"{resource}: UpToDate, no sync")
        for session, _change in creating:
            await _run(session, ["drbdadm", "primary", resource], "primary")
        for session, change in creating:
            state = await resource_state(session, resource)
            problems = state.dual_primary_problems() if state else ["not running"]
            if problems:
                raise StepFailed(
                    change.endpoint.name,
                    "verify",
                    f"DRBD {resource} is not healthy dual-primary: {'; '.join(problems)}",
                )
            log(change.endpoint.name, "primary", "ok", f"{resource}: Primary, UpToDate, Connected")


@dataclass
class PushResult:
    ok: bool
    outcomes: dict[str, NodeOutcome]
    error: str = ""


async def push(changes: list[NodeChange], change_id: str, verify: Verify, log: Log) -> PushResult:
    """Stage and validate everywhere, then apply node by node; roll back on any failure."""
    outcomes = {c.endpoint.name: NodeOutcome(c.endpoint.name) for c in changes}
    async with contextlib.AsyncExitStack() as stack:
        try:
            sessions = await asyncio.gather(
                *(stack.enter_async_context(ssh.connect(c.endpoint)) for c in changes)
            )
        except ssh.NodeError as exc:
            log(None, "connect", "error", str(exc))
            return PushResult(False, outcomes, f"connect: {exc}")
        pairs = list(zip(sessions, changes, strict=True))
        existed: dict[str, dict[str, bool]] = {}
        try:
            await _stage_and_validate(pairs, change_id, existed, outcomes, log)
        except (StepFailed, ssh.NodeError) as exc:
            log(getattr(exc, "node", None), getattr(exc, "step", "stage"), "error", str(exc))
            return PushResult(False, outcomes, str(exc))
        done: list[tuple[ssh.NodeSession, NodeChange]] = []
        if any(c.new_drbd_resources for c in changes):
            try:
                await create_resources(pairs, change_id, existed, done, log)
            except (StepFailed, ssh.NodeError) as exc:
                name = getattr(exc, "node", None)
                if name not in outcomes:  # an SSH error names no node: the last one touched
                    name = done[-1][1].endpoint.name
                outcomes[name].state, outcomes[name].error = "unknown", str(exc)
                log(name, getattr(exc, "step", "create"), "error", str(exc))
                await _roll_back(done, change_id, existed, outcomes, verify, log)
                return PushResult(False, outcomes, str(exc))
        for session, change in pairs:
            name = change.endpoint.name
            if all(s is not session for s, _ in done):
                done.append((session, change))
            try:
                await apply_node(session, change, change_id)
                problems = await verify(session, change, True)
                if problems:
                    raise StepFailed(name, "verify", "; ".join(problems))
            except (StepFailed, ssh.NodeError) as exc:
                outcomes[name].state, outcomes[name].error = "unknown", str(exc)
                log(name, getattr(exc, "step", "apply"), "error", str(exc))
                await _roll_back(done, change_id, existed, outcomes, verify, log)
                return PushResult(False, outcomes, str(exc))
            outcomes[name].state = "applied"
            log(name, "verify", "ok", "live state matches the plan")
    return PushResult(True, outcomes)


async def _stage_and_validate(pairs, change_id, existed, outcomes, log) -> None:
    async def one(session: ssh.NodeSession, change: NodeChange) -> None:
        name = change.endpoint.name
        existed[name] = await stage(session, change, change_id)
        outcomes[name].state = "staged"
        log(name, "stage", "ok", f"staged {len(change.files)} file(s), backups kept")

    async def check(session: ssh.NodeSession, change: NodeChange) -> None:
        await validate(session, change, change_id)
        log(change.endpoint.name, "validate", "ok", "drbdadm and scstadmin accept the staged files")

    for step in (one, check):
        # Every node finishes the step (or fails) before the first failure is reported.
        results = await asyncio.gather(*(step(s, c) for s, c in pairs), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]


async def _roll_back(done, change_id, existed, outcomes, verify, log) -> None:
    """Restore backups on every node touched, newest first; a node counts as rolled back
    when its live state verifies as the old one, even if re-applying reported an error."""
    for session, change in reversed(done):
        name = change.endpoint.name
        reapply_error = ""
        try:
            await restore_node(session, change, change_id, existed[name])
        except StepFailed as exc:
            reapply_error = str(exc)
            log(name, "rollback", "error", reapply_error)
        except ssh.NodeError as exc:
            outcomes[name].state, outcomes[name].error = "unknown", str(exc)
            log(name, "rollback", "error", f"{exc}; backups are in {STATE_DIR}/backup/{change_id}")
            continue
        try:
            problems = await verify(session, change, False)
        except ssh.NodeError as exc:
            problems = [str(exc)]
        if problems:
            outcomes[name].state = "unknown"
            outcomes[name].error = "; ".join(problems)
            log(
                name,
                "rollback",
                "error",
                f"live state is not the previous one: {outcomes[name].error}; "
                f"backups are in {STATE_DIR}/backup/{change_id}",
            )
        else:
            outcomes[name].state = "rolled back"
            note = f" (re-apply reported: {reapply_error})" if reapply_error else ""
            log(name, "rollback", "ok", f"previous configuration restored and verified{note}")
