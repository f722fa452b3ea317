"""Maintenance of one node of a pair: drain it, and return it (async, no ORM).

Disabling an iSCSI-SCST target only stops new logins (iscsi-scst usr/event.c
E_DISABLE_TARGET sets tgt_enabled = 0; logged-in sessions and their I/O go on), so the
drain disables every target of the node and then closes each remaining session through
its write-only sysfs attribute `force_close` (scst/src/scst_sysfs.c
session_force_close_attr → iscsi-scst/kernel/iscsi.c iscsi_close_sess →
session.c iscsi_sess_force_close). The initiators fail over to the peer's path, where
they already have sessions (a precondition). The drain then waits until the node has no
session and no active command left. Optionally it closes the node's SCST devices,
demotes DRBD (`drbdadm secondary` needs them closed) and disconnects it.

Return undoes it in order: `drbdadm connect` and wait for the resync, `drbdadm
primary`, reopen the SCST devices (`scstadmin -config /etc/scst.conf`), enable the
targets, and wait for the initiators to log back in.

Every command is an argv list. The one sysfs write runs `sh -c 'echo 1 > "$1"' sh PATH`:
the script is constant and the path a positional parameter built from names checked
against SESSION_NAME / TARGET_NAME, never shell text built from input.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

from clusters import push, ssh
from clusters.paths import SCST_CONF, SCST_SYSFS_ROOT
from clusters.workflows import (
    PROGRESS_EVERY,
    SYNCING,
    DrbdProbe,
    Judgement,
    Runner,
    Step,
    _wait_while,
    drbd_probe,
    journaled_read,
)

ISCSI_ROOT = f"{SCST_SYSFS_ROOT}/targets/iscsi"
# iSCSI names (RFC 3720 3.2.6: iqn./eui./naa. with letters, digits, '.', '-', ':') and
# SCST's "_N" suffix for a second session of one initiator; nothing a shell would read.
SESSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:_-]{0,222}$")
TARGET_NAME = SESSION_NAME
DRAIN_WAIT = 120.0  # seconds the node's sessions get to go
RELOGIN_WAIT = 30.0  # seconds the initiators get to log back in after the enable
POLL = 0.5
FORCE_CLOSE_SCRIPT = 'echo 1 > "$1"'


@dataclass(frozen=True)
class MaintenanceTarget:
    """The node to drain or return, its peer, and what the inventory puts on the pair."""

    node: str
    peer: str
    resources: tuple[str, ...]
    devices: tuple[tuple[str, str, str], ...]  # (SCST device, handler, DRBD resource)


@dataclass
class IscsiProbe:
    """A node's iSCSI targets (enabled) and sessions (active commands), from sysfs."""

    node: str
    ok: bool = True
    targets: dict[str, str] = field(default_factory=dict)  # target → enabled
    sessions: dict[str, dict[str, int]] = field(default_factory=dict)  # target → {s: active}

    @property
    def initiators(self) -> set[str]:
        return {s for found in self.sessions.values() for s in found}

    @property
    def active_commands(self) -> int:
        return sum(n for found in self.sessions.values() for n in found.values())

    def session_count(self) -> int:
        return sum(len(found) for found in self.sessions.values())

    def facts(self) -> dict:
        enabled = ", ".join(f"{t} {e}" for t, e in sorted(self.targets.items()))
        return {
            "iSCSI targets (enabled)": enabled or "none" if self.ok else None,
            "sessions": ", ".join(sorted(self.initiators)) or "none" if self.ok else None,
        }


def parse_iscsi(dump: str, node: str) -> IscsiProbe:
    """`grep -r -s '' ISCSI_ROOT` lines PATH:VALUE (names hold colons, the numbers read
    here do not: split at the last one): TARGET/enabled and
    TARGET/sessions/SESSION/active_commands."""
    probe = IscsiProbe(node)
    for line in dump.splitlines():
        path, sep, value = line.rpartition(":")
        if not sep or not path.startswith(ISCSI_ROOT + "/"):
            continue
        parts = path[len(ISCSI_ROOT) + 1 :].split("/")
        if len(parts) == 2 and parts[1] == "enabled":
            probe.targets[parts[0]] = value.strip()
            probe.sessions.setdefault(parts[0], {})
        elif len(parts) == 4 and parts[1] == "sessions" and parts[3] == "active_commands":
            text = value.strip()
            count = int(text) if text.isdigit() else 0
            probe.sessions.setdefault(parts[0], {})[parts[2]] = count
        elif len(parts) == 4 and parts[1] == "sessions":
            probe.sessions.setdefault(parts[0], {}).setdefault(parts[2], 0)
    return probe


async def iscsi_probe(read: Runner, session: ssh.NodeSession) -> IscsiProbe:
    # Only the two attributes read here (the job's record keeps the end of the output);
    # without -Z: the record holds text only.
    argv = ["grep", "-r", "-s", "--include=enabled", "--include=active_commands", "", ISCSI_ROOT]
    result = await read(session, argv)
    if result.exit_status not in (0, 1):
        return IscsiProbe(session.endpoint.name, ok=False)
    return parse_iscsi(result.stdout, session.endpoint.name)


def force_close_argv(target: str, session: str) -> list[str]:
    if not (TARGET_NAME.match(target) and SESSION_NAME.match(session)):
        raise ValueError(f"not an iSCSI name: {target!r} / {session!r}")
    path = f"{ISCSI_ROOT}/{target}/sessions/{session}/force_close"
    return ["sh", "-c", FORCE_CLOSE_SCRIPT, "sh", path]


def enable_argv(target: str, on: bool) -> list[str]:
    verb = "-enable_target" if on else "-disable_target"
    return ["scstadmin", "-noprompt", verb, target, "-driver", "iscsi"]


def _drbd_line(probes: list[tuple[str, DrbdProbe]]) -> str:
    return "; ".join(
        f"{r} {p.state.role if p.state else 'down'} {p.connection}"
        + (f" {', '.join(d.disk for d in p.state.devices)}" if p.state else "")
        for r, p in probes
    )


async def _drbd_probes(read: Runner, session, resources) -> list[tuple[str, DrbdProbe]]:
    return [(r, await drbd_probe(read, session, r, show=False)) for r in resources]


def _size_path(device: str) -> str:
    return f"{SCST_SYSFS_ROOT}/devices/{device}/size"


async def _open_devices(read: Runner, session, devices) -> list[str]:
    return [d for d, _h, _r in devices if (await read(session, ["cat", _size_path(d)])).ok]


def _peer_problems(peer: str, drbd: list[tuple[str, DrbdProbe]], iscsi: IscsiProbe) -> list[str]:
    """Why the peer cannot carry every path alone (empty: it can). Its DRBD must be
    Primary and UpToDate (Connected too while draining: checked by the caller)."""
    problems = []
    if not iscsi.ok:
        problems.append(f"{peer}: its iSCSI targets could not be read")
    elif not iscsi.targets or any(e != "1" for e in iscsi.targets.values()):
        shown = ", ".join(f"{t} enabled {e}" for t, e in sorted(iscsi.targets.items()))
        problems.append(f"{peer}: not every iSCSI target is enabled ({shown or 'none'})")
    for resource, p in drbd:
        if p.state is None:
            problems.append(f"{peer}: DRBD {resource} is not running")
            continue
        disks = [d.disk for d in p.state.devices]
        if p.state.role != "Primary" or any(d != "UpToDate" for d in disks):
            problems.append(
                f"{peer}: DRBD {resource} is {p.state.role}/{', '.join(disks) or 'no disk'}, "
                "not Primary/UpToDate"
            )
    return problems


DrbdProbes = list[tuple[str, DrbdProbe]]


async def _read_pair(
    read: Runner, by_name: dict[str, ssh.NodeSession], t: MaintenanceTarget
) -> tuple[IscsiProbe, IscsiProbe, DrbdProbes, DrbdProbes, Judgement]:
    """Both nodes' iSCSI and DRBD state (the node's first), and a judgement that shows
    them as its facts."""
    mine = await iscsi_probe(read, by_name[t.node])
    theirs = await iscsi_probe(read, by_name[t.peer])
    my_drbd = await _drbd_probes(read, by_name[t.node], t.resources)
    peer_drbd = await _drbd_probes(read, by_name[t.peer], t.resources)
    judged = Judgement()
    for name, iscsi, drbd in ((t.node, mine, my_drbd), (t.peer, theirs, peer_drbd)):
        judged.facts[name] = {**iscsi.facts(), "DRBD": _drbd_line(drbd) or "none"}
    return mine, theirs, my_drbd, peer_drbd, judged


@dataclass(frozen=True)
class Drain:
    """Drain one node: disable its targets, close its sessions, wait; optionally close its
    SCST devices, demote and disconnect DRBD."""

    target: MaintenanceTarget
    drbd: bool = False
    failure_note = ""

    async def judge(self, read: Runner, sessions: list[ssh.NodeSession]) -> Judgement:
        t = self.target
        by_name = {s.endpoint.name: s for s in sessions}
        if set(by_name) != {t.node, t.peer}:
            return Judgement(refusals=[f"Maintenance needs both nodes: {t.node} and {t.peer}."])
        mine, theirs, my_drbd, peer_drbd, judged = await _read_pair(read, by_name, t)
        if not mine.ok:
            judged.refusals.append(f"{t.node}: its iSCSI targets could not be read.")
        judged.refusals += [
            f"{p}; it must serve every path while {t.node} is drained."
            for p in _peer_problems(t.peer, peer_drbd, theirs)
        ]
        for resource, p in peer_drbd:
            if p.state is not None and p.connection != "Connected":
                judged.refusals.append(
                    f"{t.peer}: DRBD {resource} is {p.connection}, not Connected: {t.peer}'s "
                    f"data may be behind {t.node}'s; it must be Connected and UpToDate."
                )
        missing = sorted(mine.initiators - theirs.initiators)
        judged.refusals += [
            f"Initiator {ini} is logged in to {t.node} only: it has no session on {t.peer}, "
            "so closing its session would cut its last path. Log it in to "
            f"{t.peer} first (its multipath must see both nodes)."
            for ini in missing
        ]
        bad = [s for s in mine.initiators if not SESSION_NAME.match(s)]
        bad += [tg for tg in mine.targets if not TARGET_NAME.match(tg)]
        judged.refusals += [
            f"{t.node}: {n!r} is not an iSCSI name the portal writes to." for n in bad
        ]
        if judged.refusals:
            return judged
        await self._steps(read, by_name[t.node], mine, my_drbd, judged)
        return judged

    async def _steps(self, read, session, mine: IscsiProbe, my_drbd, judged: Judgement) -> None:
        t = self.target

        def add(step: str, argv: list[str], why: str) -> None:
            judged.steps.append(Step(t.node, step, argv, why))

        for target, enabled in sorted(mine.targets.items()):
            if enabled == "1":
                add(
                    "disable",
                    enable_argv(target, False),
                    f"{target} on {t.node} accepts no new login; logged-in sessions go on.",
                )
        for target, found in sorted(mine.sessions.items()):
            for name in sorted(found):
                add(
                    "close_session",
                    force_close_argv(target, name),
                    f"{name}'s session to {t.node} closes; it continues through {t.peer}.",
                )
        if mine.initiators:
            judged.warnings.append(
                f"{', '.join(sorted(mine.initiators))} lose {t.node}'s path and continue "
                f"through {t.peer}'s (they are logged in there). Sessions that appear before "
                "the run are closed too."
            )
        if not self.drbd:
            return
        open_devices = await _open_devices(read, session, t.devices)
        for device, handler, _resource in t.devices:
            if device in open_devices:
                add(
                    "unexport",
                    ["scstadmin", "-noprompt", "-force", "-close_dev", device, "-handler", handler],
                    f"SCST on {t.node} closes {device}: DRBD cannot be demoted while it is "
                    "held open.",
                )
        for resource, p in my_drbd:
            if p.state is not None and p.state.role == "Primary":
                add(
                    "secondary",
                    ["drbdadm", "secondary", resource],
                    f"{t.node} stops being Primary for {resource}.",
                )
            if p.state is not None and p.connection != "StandAlone":
                add(
                    "disconnect",
                    ["drbdadm", "disconnect", resource],
                    f"{t.node} leaves {resource}'s replication (StandAlone).",
                )
        if t.resources:
            judged.warnings.append(
                f"Until the return reconnects it, {', '.join(t.resources)} is NOT replicated: "
                f"{t.peer} holds the only current copy; {t.node} resyncs on its return."
            )

    async def run(self, job, sessions, judged: Judgement) -> str:
        t = self.target
        me, peer = sessions[t.node], sessions[t.peer]
        read = journaled_read(job)
        disabled: list[str] = []
        try:
            for step in [s for s in judged.steps if s.step == "disable"]:
                await self._peer_serves(job, me, peer, disabled)
                disabled.append(step.argv[3])  # before the run: it may half-succeed
                await job.run(me, step.argv, step.step, writes=True)
                now = await iscsi_probe(read, me)
                if now.targets.get(step.argv[3]) != "0":
                    raise push.StepFailed(t.node, "disable", f"{step.argv[3]} is still enabled")
            closed = await self._close_sessions(job, me, peer, disabled)
            await self._wait_drained(job, me, peer, disabled)
        except (push.StepFailed, ssh.NodeError) as exc:
            if getattr(exc, "step", "") in ("drain", "re-enable"):
                raise  # restored already, or could not be
            await self._restore(job, me, disabled, str(exc))
        for step in [s for s in judged.steps if s.step in ("unexport", "secondary", "disconnect")]:
            await self._peer_still_serves(job, peer)
            await job.run(me, step.argv, step.step, writes=True)
            await self._check(read, me, step)
        done = f"Drained {t.node}: its targets are disabled, {closed} session(s) closed"
        if any(s.step == "disconnect" for s in judged.steps):
            done += f"; DRBD Secondary and StandAlone on {t.node}"
        return done + f"; {t.peer} serves every path"

    async def _close_sessions(self, job, me, peer, disabled) -> int:
        """Close every session the node has now (those that appeared since the plan too)."""
        now = await iscsi_probe(journaled_read(job), me)
        closed = 0
        for target, found in sorted(now.sessions.items()):
            for name in sorted(found):
                await self._peer_serves(job, me, peer, disabled)
                try:
                    argv = force_close_argv(target, name)
                except ValueError as exc:
                    raise push.StepFailed(self.target.node, "close_session", str(exc)) from exc
                try:
                    await job.run(me, argv, "close_session", writes=True)
                except push.StepFailed:
                    # Initiators log out on their own too: a session gone since the
                    # probe is closed, not a failure; one still there is.
                    if not await self._session_gone(job, me, target, name):
                        raise
                closed += 1
        return closed

    async def _session_gone(self, job, me, target: str, name: str) -> bool:
        again = await iscsi_probe(journaled_read(job), me)
        if not again.ok or name in again.sessions.get(target, {}):
            return False
        await job.log(me.endpoint.name, "close_session", "ok", f"{name} on {target} had gone")
        return True

    async def _wait_drained(self, job, me, peer, disabled) -> None:
        """Until the node has no session and no active command; a progress line every few
        seconds; bounded by DRAIN_WAIT; the peer is checked on every round."""
        loop = asyncio.get_running_loop()
        start = last = loop.time()
        read = journaled_read(job)
        while True:
            now = await iscsi_probe(read, me)
            left, active = now.session_count(), now.active_commands
            elapsed = loop.time() - start
            if now.ok and not left and not active:
                await job.log(
                    self.target.node,
                    "drain",
                    "ok",
                    f"{self.target.node}: no session, no active command after {elapsed:.0f} s",
                )
                return
            if elapsed > DRAIN_WAIT:
                await self._restore(
                    job, me, disabled, f"{left} session(s) still open after {DRAIN_WAIT:.0f} s"
                )
            if last == start or loop.time() - last >= PROGRESS_EVERY:
                await job.log(
                    self.target.node,
                    "drain",
                    "info",
                    f"{self.target.node}: {left} session(s), {active} active "
                    f"command(s) left after {elapsed:.0f} s",
                )
                last = loop.time()
            await self._peer_serves(job, me, peer, disabled)
            await asyncio.sleep(POLL)

    async def _peer_problems(self, job, peer) -> list[str]:
        t = self.target
        read = journaled_read(job)
        try:
            theirs = await iscsi_probe(read, peer)
            drbd = await _drbd_probes(read, peer, t.resources)
        except ssh.NodeError as exc:
            return [f"{t.peer} unreachable ({exc})"]
        return _peer_problems(t.peer, drbd, theirs)

    async def _peer_serves(self, job, me, peer, disabled) -> None:
        """The peer still carries every path, or the node's targets are enabled again and
        the run stops: never both nodes not serving."""
        problems = await self._peer_problems(job, peer)
        if problems:
            await self._restore(job, me, disabled, "; ".join(problems))

    async def _peer_still_serves(self, job, peer) -> None:
        """Before a DRBD step: once the node's devices are closed, enabling its targets
        would serve nothing; the run stops and says the peer needs attention first."""
        problems = await self._peer_problems(job, peer)
        if problems:
            t = self.target
            raise push.StepFailed(
                t.peer,
                "peer",
                f"{'; '.join(problems)}. The drain stopped before its next DRBD step; "
                f"{t.node} stays drained (in maintenance): make {t.peer} healthy, or return "
                f"{t.node} at once (plan its return)",
            )

    async def _restore(self, job, me, disabled, why: str) -> None:
        t = self.target
        enabled = []
        try:
            for target in disabled:
                await job.run(me, enable_argv(target, True), "re-enable", writes=True)
                enabled.append(target)
        except (push.StepFailed, ssh.NodeError) as exc:
            raise push.StepFailed(
                t.node,
                "re-enable",
                f"{why}. Re-enabling {t.node}'s targets failed ({exc}): "
                f"{', '.join(d for d in disabled if d not in enabled)} on {t.node} are still "
                f"DISABLED, so {t.node} serves none of their paths; if {t.peer} is failing "
                f"too, NEITHER node serves them. Run `scstadmin -enable_target TARGET "
                f"-driver iscsi` on {t.node} now",
            ) from exc
        raise push.StepFailed(
            t.node,
            "drain",
            f"{why}: the drain stopped and {t.node}'s targets "
            f"({', '.join(enabled) or 'none disabled yet'}) are enabled again, so its "
            "initiators can log back in",
        )

    async def _check(self, read, me, step: Step) -> None:
        node = self.target.node
        if step.step == "unexport":
            if (await read(me, ["cat", _size_path(step.argv[5])])).ok:
                raise push.StepFailed(node, step.step, f"{step.argv[5]} is still open")
            return
        p = await drbd_probe(read, me, step.argv[-1], show=False)
        if step.step == "secondary" and (p.state is None or p.state.role != "Secondary"):
            raise push.StepFailed(node, step.step, f"{step.argv[-1]} is not Secondary")
        if step.step == "disconnect" and p.connection != "StandAlone":
            raise push.StepFailed(node, step.step, f"{step.argv[-1]} is {p.connection}")

    async def presents(self, read: Runner, session) -> str:
        return await presents(read, session, self.target)


async def presents(read: Runner, session, target: MaintenanceTarget) -> str:
    iscsi = await iscsi_probe(read, session)
    drbd = await _drbd_probes(read, session, target.resources)
    enabled = ", ".join(f"{t} enabled {e}" for t, e in sorted(iscsi.targets.items()))
    return (
        f"{session.endpoint.name}: {enabled or 'no iSCSI target'}, "
        f"{iscsi.session_count()} session(s); DRBD {_drbd_line(drbd) or 'none'}"
    )


@dataclass(frozen=True)
class Return:
    """Return a node from maintenance: reconnect and resync DRBD, promote it, reopen its
    SCST devices, enable its targets, and wait for the initiators to log back in."""

    target: MaintenanceTarget
    failure_note = ""

    async def judge(self, read: Runner, sessions: list[ssh.NodeSession]) -> Judgement:
        t = self.target
        by_name = {s.endpoint.name: s for s in sessions}
        if set(by_name) != {t.node, t.peer}:
            return Judgement(refusals=[f"A return needs both nodes: {t.node} and {t.peer}."])
        mine, theirs, my_drbd, peer_drbd, judged = await _read_pair(read, by_name, t)
        judged.refusals += [
            f"{p}: {t.node} resyncs from it."
            for p in _peer_problems(t.peer, peer_drbd, theirs)
            if "DRBD" in p
        ]
        judged.refusals += [
            f"{t.node}: DRBD {r} is not up: bring it up first (`drbdadm up {r}`)."
            for r, p in my_drbd
            if p.state is None
        ]
        if not mine.ok:
            judged.refusals.append(f"{t.node}: its iSCSI targets could not be read.")
        if judged.refusals:
            return judged
        n = t.node
        for r, p in my_drbd:
            if p.connection == "StandAlone":
                judged.steps.append(
                    Step(
                        n,
                        "connect",
                        ["drbdadm", "connect", r],
                        f"{n} reconnects {r} and resyncs what {t.peer} wrote meanwhile.",
                    )
                )
        for r, p in my_drbd:
            if p.state is not None and p.state.role != "Primary":  # None refused above
                judged.steps.append(
                    Step(
                        n,
                        "primary",
                        ["drbdadm", "primary", r],
                        f"Once UpToDate, {n} is Primary for {r} again.",
                    )
                )
        open_devices = await _open_devices(read, by_name[n], t.devices)
        if any(d not in open_devices for d, _h, _r in t.devices):
            judged.steps.append(
                Step(
                    n,
                    "export",
                    ["scstadmin", "-noprompt", "-config", SCST_CONF],
                    f"SCST on {n} opens its devices again and exports its LUNs "
                    "from the configuration file.",
                )
            )
        for target, enabled in sorted(mine.targets.items()):
            if enabled != "1":
                judged.steps.append(
                    Step(
                        n,
                        "enable",
                        enable_argv(target, True),
                        f"{target} on {n} accepts logins again; initiators log back in.",
                    )
                )
        return judged

    async def run(self, job, sessions, judged: Judgement) -> str:
        t = self.target
        me = sessions[t.node]
        ordered = [sessions[n] for n in sorted(sessions)]
        read = journaled_read(job)
        connects = [s for s in judged.steps if s.step == "connect"]  # first (judge's order)
        for step in connects:
            await job.run(me, step.argv, step.step, writes=True)
        # Follow every resync before `drbdadm primary`, those this run did not start too: a
        # return interrupted (its worker killed) while it followed one leaves it running,
        # and promoting an Inconsistent disk fails (drbdsetup exit 17).
        for resource in await self._resyncing(read, ordered, [s.argv[-1] for s in connects]):
            await _wait_while(job, ordered, resource, SYNCING, "resync", True, False)
        for step in [s for s in judged.steps if s.step != "connect"]:
            await job.run(me, step.argv, step.step, writes=True)
            if step.step == "primary":
                p = await drbd_probe(read, me, step.argv[-1], show=False)
                if p.state is None or p.state.role != "Primary":
                    raise push.StepFailed(t.node, step.step, f"{step.argv[-1]} is not Primary")
            elif step.step == "export":
                opened = await _open_devices(read, me, t.devices)
                missing = [d for d, _h, _r in t.devices if d not in opened]
                if missing:
                    raise push.StepFailed(t.node, step.step, f"not open: {', '.join(missing)}")
            elif step.step == "enable":
                now = await iscsi_probe(read, me)
                if now.targets.get(step.argv[3]) != "1":
                    raise push.StepFailed(t.node, step.step, f"{step.argv[3]} is not enabled")
        for resource in t.resources:
            probes = [await drbd_probe(read, s, resource, show=False) for s in ordered]
            problems = [f"{p.node}: {'; '.join(p.health())}" for p in probes if p.health()]
            if problems:
                raise push.StepFailed(t.node, "verify", f"{resource}: " + "; ".join(problems))
        back, missing = await self._wait_relogins(job, sessions)
        done = f"Returned {t.node}: DRBD UpToDate on both nodes, targets enabled"
        done += f", {len(back)} initiator(s) logged in again"
        if missing:
            done += (
                f"; NOT logged back in within {RELOGIN_WAIT:.0f} s: "
                f"{', '.join(missing)} (check their multipath)"
            )
        return done

    async def _resyncing(self, read: Runner, ordered, connected: list[str]) -> list[str]:
        """The resources this run connected, and those a resync runs on now."""
        running = []
        for resource in self.target.resources:
            probes = [await drbd_probe(read, s, resource, show=False) for s in ordered]
            if resource in connected or any(r in SYNCING for p in probes for r in p.replication):
                running.append(resource)
        return running

    async def _wait_relogins(self, job, sessions) -> tuple[list[str], list[str]]:
        """Every initiator logged in to the peer should log back in to this node."""
        t = self.target
        read = journaled_read(job)
        expected = (await iscsi_probe(read, sessions[t.peer])).initiators
        loop = asyncio.get_running_loop()
        start = last = loop.time()
        while True:
            mine = (await iscsi_probe(read, sessions[t.node])).initiators
            missing = sorted(expected - mine)
            elapsed = loop.time() - start
            if not missing or elapsed > RELOGIN_WAIT:
                await job.log(
                    t.node,
                    "relogin",
                    "ok" if not missing else "warning",
                    f"{t.node}: {len(expected & mine)} of {len(expected)} initiator(s) "
                    f"logged in after {elapsed:.0f} s",
                )
                return sorted(expected & mine), missing
            if last == start or loop.time() - last >= PROGRESS_EVERY:
                await job.log(
                    t.node,
                    "relogin",
                    "info",
                    f"waiting for {', '.join(missing)} to log in to {t.node}",
                )
                last = loop.time()
            await asyncio.sleep(POLL)

    async def presents(self, read: Runner, session) -> str:
        return await presents(read, session, self.target)
