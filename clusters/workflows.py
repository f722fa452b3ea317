"""Day-2 workflows on a dual-primary pair: node command sequences (async, no ORM).

A workflow is planned on what every node reports (read-only probes), approved, then
applied under the cluster's lock: the apply probes again on the connections it writes
through and refuses unless the judgement is still the approved one (its signature),
then runs each step through push.Push.run (journaled as a NodeStep, fenced by the
lock) and reads the nodes back after each step. Reads and judgements are separate
from the ORM: clusters/services/workflows.py records jobs and inventory.

Grow a LUN (docs/workflows.md): the admin grew the backing disk on both nodes; the
portal checks `blockdev --getsize64` on each (both grew, within 1 MiB of each other;
never a shrink), that both nodes are Primary/UpToDate/Connected, runs `drbdadm resize
RES` on one node (DRBD grows both sides to the smaller backing disk), waits until both
report the new size, then `scstadmin -resync_dev DEV` on every node, whose SCST device
must then show the DRBD size in sysfs `size`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import shlex
from dataclasses import asdict, dataclass, field
from typing import Protocol

from clusters import drbd, push, ssh
from clusters.paths import SCST_CONF, SCST_SYSFS_ROOT

MIB = 1024 * 1024
SIZE_TOLERANCE = MIB  # both backing disks must agree within this
RESIZE_WAIT = 30.0  # seconds both nodes get to report the new DRBD size
POLL = 0.5


class Runner(Protocol):
    """How a probe runs a read: directly (planning) or through the journal (apply)."""

    async def __call__(self, session: ssh.NodeSession, argv: list[str]) -> ssh.CommandResult: ...


async def plain_read(session: ssh.NodeSession, argv: list[str]) -> ssh.CommandResult:
    return await session.run(argv)


def journaled_read(job: push.Push) -> Runner:
    async def read(session: ssh.NodeSession, argv: list[str]) -> ssh.CommandResult:
        step_id = await job._record(
            job.journal.started(session.endpoint.name, "probe", shlex.join(argv), False)
        )
        result = await session.run(argv)
        await job._record(job.journal.finished(step_id, result, ""))
        return result

    return read


@dataclass
class Step:
    """One planned node command, shown on the plan page and run by the apply."""

    node: str
    step: str
    argv: list[str]
    why: str


@dataclass
class Judgement:
    """What the probes found, the steps they call for, and why not (refusals)."""

    facts: dict[str, dict] = field(default_factory=dict)  # node → values shown on the plan
    steps: list[Step] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def signature(self) -> str:
        """The approved facts and steps: an apply refuses unless they are still these."""
        data = {"facts": self.facts, "steps": [asdict(s) for s in self.steps]}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class GrowTarget:
    """The LUN to grow: its SCST device, DRBD resource and volume, each node's disk."""

    device: str
    resource: str
    volume: int
    disks: dict[str, str]  # node → backing disk


# --- reading a node ----------------------------------------------------------------------


def size_text(size_bytes: int | None) -> str:
    """Exact bytes, as the tools print them, with GiB for the eye: `12884901888 bytes
    (12.00 GiB)`."""
    if size_bytes is None:
        return "unknown"
    return f"{size_bytes} bytes ({size_bytes / 2**30:.2f} GiB)"


def parse_int(result: ssh.CommandResult) -> int | None:
    text = result.stdout.strip()
    return int(text) if result.ok and text.isdigit() else None


def drbd_volume_kib(status_json: str, resource: str, volume: int) -> int | None:
    """The DRBD device size (KiB) from `drbdsetup status --json RES` (devices[].size)."""
    try:
        data = json.loads(status_json)
    except ValueError:
        return None
    for res in data if isinstance(data, list) else []:
        if not isinstance(res, dict) or res.get("name") != resource:
            continue
        for dev in res.get("devices", []):
            if isinstance(dev, dict) and dev.get("volume") == volume:
                size = dev.get("size")
                return size if isinstance(size, int) else None
    return None


def internal_md_bytes(size: int, peers: int = 1) -> int:
    """Upper bound of DRBD 9's internal meta data for a SIZE-byte disk (drbdmeta: 4 KiB
    superblock, 32 KiB activity log, one bitmap bit per 4 KiB per peer, 4 KiB aligned),
    plus a 1 MiB allowance for alignment."""
    bitmap = -(-(-(-size // 4096) * peers) // 8)
    return 4096 + 32768 + -(-bitmap // 4096) * 4096 + MIB


@dataclass
class GrowProbe:
    node: str
    disk_bytes: int | None = None
    drbd_kib: int | None = None
    scst_bytes: int | None = None
    problems: list[str] = field(default_factory=list)  # DRBD health


async def grow_probe(read: Runner, session: ssh.NodeSession, target: GrowTarget) -> GrowProbe:
    name = session.endpoint.name
    probe = GrowProbe(name)
    disk = target.disks.get(name, "")
    probe.disk_bytes = parse_int(await read(session, ["blockdev", "--getsize64", disk]))
    status = await read(session, ["drbdsetup", "status", "--json", target.resource])
    probe.drbd_kib = drbd_volume_kib(status.stdout, target.resource, target.volume)
    try:
        states = drbd.parse_status_json(status.stdout) if status.ok else []
    except drbd.DrbdConfigError as exc:
        states, probe.problems = [], [str(exc)]
    state = next((s for s in states if s.name == target.resource), None)
    probe.problems += state.dual_primary_problems() if state else ["not running"]
    size_path = f"{SCST_SYSFS_ROOT}/devices/{target.device}/size"
    probe.scst_bytes = parse_int(await read(session, ["cat", size_path]))
    return probe


def grow_judge(target: GrowTarget, probes: list[GrowProbe]) -> Judgement:
    """Refuse unless both disks grew and agree within 1 MiB, the pair is healthy, and
    there is something to do; else: resize on the first node, resync on every node."""
    judged = Judgement()
    for p in probes:
        judged.facts[p.node] = {
            "backing disk": target.disks.get(p.node, ""),
            "backing disk size": size_text(p.disk_bytes),
            "DRBD device size": size_text(p.drbd_kib * 1024 if p.drbd_kib is not None else None),
            "SCST size": size_text(p.scst_bytes),
        }
        if p.disk_bytes is None:
            judged.refusals.append(
                f"{p.node}: the size of {target.disks.get(p.node)} could not be read "
                "(blockdev --getsize64)."
            )
        if p.drbd_kib is None:
            judged.refusals.append(f"{p.node}: DRBD {target.resource} reports no size.")
        if p.scst_bytes is None:
            judged.refusals.append(f"{p.node}: SCST device {target.device} has no size.")
        for problem in p.problems:
            judged.refusals.append(
                f"{p.node}: DRBD {target.resource} is not healthy dual-primary ({problem}); "
                "drbdadm resize needs both nodes Connected and UpToDate."
            )
    if len(probes) != 2:
        judged.refusals.append("Growing a LUN needs both nodes of the pair.")
    if judged.refusals:
        return judged
    disks = [p.disk_bytes or 0 for p in probes]
    drbd_bytes = max(p.drbd_kib or 0 for p in probes) * 1024
    if abs(disks[0] - disks[1]) > SIZE_TOLERANCE:
        sizes = ", ".join(f"{p.node} {size_text(p.disk_bytes)}" for p in probes)
        judged.refusals.append(
            f"The backing disks differ by more than 1 MiB ({sizes}): grow both to the same "
            "size first (DRBD would use only the smaller)."
        )
    if any(d < drbd_bytes for d in disks):
        judged.refusals.append(
            f"A backing disk is smaller than DRBD {target.resource} ({size_text(drbd_bytes)}): "
            "shrinking is refused (it would cut off data the initiators wrote)."
        )
    if judged.refusals:
        return judged
    grows = min(disks) - internal_md_bytes(min(disks)) > drbd_bytes
    stale = [p.node for p in probes if p.scst_bytes != drbd_bytes]
    if not grows and not stale:
        judged.refusals.append(
            f"Nothing to grow: both backing disks ({size_text(min(disks))}) hold DRBD "
            f"{target.resource} ({size_text(drbd_bytes)}) and its meta data, and SCST presents "
            "that size on every node. Grow both backing disks first."
        )
        return judged
    first = probes[0].node
    if grows:
        judged.steps.append(
            Step(
                first,
                "resize",
                ["drbdadm", "resize", target.resource],
                f"DRBD grows {target.resource} on both nodes to the smaller backing disk "
                "(online; runs on one node only, the peer follows).",
            )
        )
    for p in probes:
        judged.steps.append(
            Step(
                p.node,
                "resync_size",
                ["scstadmin", "-noprompt", "-resync_dev", target.device],
                f"SCST re-reads the size of {target.device} on {p.node} so its initiators "
                "see the new capacity (they may need a rescan).",
            )
        )
    if not grows:
        judged.warnings.append(
            f"DRBD {target.resource} was grown already; only SCST's size is brought up to it."
        )
    return judged


# --- applying ----------------------------------------------------------------------------


class Refused(Exception):
    """The fresh judgement is not the approved one: nothing was written."""


async def apply_procedure(
    job: push.Push, sessions: dict[str, ssh.NodeSession], proc: Procedure, approved: str
) -> tuple[list[str], str]:
    """Re-probe and re-judge on the connections the run writes through; refuse unless the
    judgement is still the APPROVED one; then run the steps (each reads the nodes back).
    Returns (one line per node saying what it has now, the run's summary)."""
    read = journaled_read(job)
    ordered = [sessions[n] for n in sorted(sessions)]
    judged = await proc.judge(read, ordered)
    if judged.refusals:
        raise Refused("; ".join(judged.refusals))
    if judged.signature() != approved:
        raise Refused("the nodes changed since the plan; plan again")
    await job.log(None, "rejudge", "ok", "every node still reports what the plan shows")
    summary = await proc.run(job, sessions, judged)
    return [await proc.presents(read, s) for s in ordered], summary


class Procedure(Protocol):
    """One workflow's node side: judge on fresh reads, run the steps, say what a node has."""

    async def judge(self, read: Runner, sessions: list[ssh.NodeSession]) -> Judgement: ...

    async def run(
        self, job: push.Push, sessions: dict[str, ssh.NodeSession], judged: Judgement
    ) -> str: ...

    async def presents(self, read: Runner, session: ssh.NodeSession) -> str: ...


@dataclass(frozen=True)
class Grow:
    """Grow a LUN (see the module docstring)."""

    target: GrowTarget
    failure_note = "Both nodes keep serving (no target was disabled). "

    async def judge(self, read: Runner, sessions: list[ssh.NodeSession]) -> Judgement:
        self_probes = [await grow_probe(read, s, self.target) for s in sessions]
        return grow_judge(self.target, self_probes)

    async def run(self, job, sessions, judged: Judgement) -> str:
        target = self.target
        ordered = [sessions[n] for n in sorted(sessions)]
        before = [await grow_probe(journaled_read(job), s, target) for s in ordered]
        for step in judged.steps:
            session = sessions[step.node]
            if step.step == "resize":
                await job.run(session, step.argv, step.step, writes=True)
                kib = await _wait_resized(job, ordered, target, before)
                await job.log(None, "resize", "ok", f"DRBD {target.resource}: {kib} KiB on both")
            else:
                await _resync(job, session, step, target, ordered)
        return f"Grew {target.device}"

    async def presents(self, read: Runner, session) -> str:
        return await _presents(read, session, self.target)


async def _wait_resized(job, sessions, target: GrowTarget, before: list[GrowProbe]) -> int:
    """Both nodes report one DRBD size, larger than before, and stay healthy."""
    old = max(p.drbd_kib or 0 for p in before)
    deadline = asyncio.get_running_loop().time() + RESIZE_WAIT
    read = journaled_read(job)
    while True:
        probes = [await grow_probe(read, s, target) for s in sessions]
        sizes = {p.drbd_kib for p in probes}
        problems = [f"{p.node}: {'; '.join(p.problems)}" for p in probes if p.problems]
        if problems:
            raise push.StepFailed(
                probes[0].node,
                "resize",
                f"DRBD {target.resource} is no longer healthy: " + "; ".join(problems),
            )
        if len(sizes) == 1 and (sizes.pop() or 0) > old:
            return probes[0].drbd_kib or 0
        if asyncio.get_running_loop().time() > deadline:
            seen = ", ".join(f"{p.node} {p.drbd_kib} KiB" for p in probes)
            raise push.StepFailed(
                probes[0].node,
                "resize",
                f"DRBD {target.resource} did not grow on both nodes within "
                f"{RESIZE_WAIT:.0f} s ({seen}; it was {old} KiB)",
            )
        await asyncio.sleep(POLL)


async def _resync(job, session, step: Step, target: GrowTarget, sessions) -> None:
    """`scstadmin -resync_dev` exits 1 after a successful write (it returns its change
    count), so the step is judged by the size read back, never by the exit status."""
    with contextlib.suppress(push.StepFailed):  # judged below
        await job.run(session, step.argv, step.step, writes=True)
    read = journaled_read(job)
    probe = await grow_probe(read, session, target)
    want = (probe.drbd_kib or 0) * 1024
    if probe.scst_bytes != want:
        raise push.StepFailed(
            step.node,
            "resync_size",
            f"SCST device {target.device} presents {size_text(probe.scst_bytes)}, not the "
            f"DRBD size {size_text(want)}, after scstadmin -resync_dev",
        )
    await job.log(step.node, "resync_size", "ok", f"{target.device} presents {size_text(want)}")


async def _presents(read: Runner, session, target: GrowTarget) -> str:
    probe = await grow_probe(read, session, target)
    return (
        f"{probe.node}: SCST {target.device} presents {size_text(probe.scst_bytes)}, DRBD "
        f"{probe.drbd_kib} KiB" + (f" ({'; '.join(probe.problems)})" if probe.problems else "")
    )


# --- online verify and the resync it may call for ----------------------------------------
# DRBD User's Guide, "Using on-line device verification": `drbdadm verify RES` compares
# both nodes block by block (it needs a verify-alg in the net section); blocks found to
# differ are marked out of sync, and "to resynchronize them, disconnect and reconnect
# the resource" (`drbdadm disconnect RES`, `drbdadm connect RES`).

VERIFYING = ("VerifyS", "VerifyT")
SYNCING = ("SyncSource", "SyncTarget", "PausedSyncS", "PausedSyncT", "WFBitMapS", "WFBitMapT")
PROGRESS_EVERY = 5.0  # seconds between progress lines in the job


@dataclass
class DrbdProbe:
    node: str
    state: drbd.ResourceState | None = None
    verify_alg: str | None = None
    ov_left: int | None = None  # sectors still to verify (drbdsetup status --json ov-left)
    error: str = ""

    @property
    def out_of_sync_kib(self) -> int:
        peers = self.state.peers if self.state else []
        return sum(d.out_of_sync_kib or 0 for p in peers for d in p.devices)

    @property
    def replication(self) -> list[str]:
        peers = self.state.peers if self.state else []
        return [d.replication for p in peers for d in p.devices]

    @property
    def connection(self) -> str:
        peers = self.state.peers if self.state else []
        return ", ".join(p.connection for p in peers) or "not up"

    def health(self) -> list[str]:
        """Healthy dual-primary but for out-of-sync data (what verify and resync handle)."""
        if self.error:
            return [self.error]
        if self.state is None:
            return ["not running"]
        return [p for p in self.state.dual_primary_problems() if "out of sync" not in p]

    def facts(self) -> dict:
        return {
            "role": self.state.role if self.state else None,
            "connection": self.connection,
            "replication": ", ".join(self.replication) or None,
            "out of sync KiB": self.out_of_sync_kib if self.state else None,
            "verify-alg": self.verify_alg,
        }


def _ov_left(status_json: str, resource: str) -> int | None:
    try:
        data = json.loads(status_json)
    except ValueError:
        return None
    left = [
        pd["ov-left"]
        for res in (data if isinstance(data, list) else [])
        if isinstance(res, dict) and res.get("name") == resource
        for conn in res.get("connections", [])
        for pd in conn.get("peer_devices", [])
        if isinstance(pd, dict) and isinstance(pd.get("ov-left"), int)
    ]
    return sum(left) if left else None


async def drbd_probe(
    read: Runner, session: ssh.NodeSession, resource: str, show: bool = True
) -> DrbdProbe:
    probe = DrbdProbe(session.endpoint.name)
    status = await read(session, ["drbdsetup", "status", "--json", resource])
    try:
        states = drbd.parse_status_json(status.stdout) if status.ok else []
    except drbd.DrbdConfigError as exc:
        probe.error = str(exc)
        return probe
    probe.state = next((s for s in states if s.name == resource), None)
    probe.ov_left = _ov_left(status.stdout, resource)
    if show:
        shown = await read(session, ["drbdsetup", "show", resource])
        try:
            found = [r for r in drbd.parse_show(shown.stdout) if r.name == resource]
            options = drbd.effective_net_options(found[0]) if found else {}
        except drbd.DrbdConfigError as exc:
            probe.error = str(exc)
            return probe
        probe.verify_alg = options.get("verify-alg")
    return probe


@dataclass(frozen=True)
class Verify:
    """Online verify of one DRBD resource, started on the first node."""

    resource: str
    failure_note = "Both nodes keep serving (a verify only reads). "

    async def judge(self, read: Runner, sessions: list[ssh.NodeSession]) -> Judgement:
        probes = [await drbd_probe(read, s, self.resource) for s in sessions]
        judged = Judgement(facts={p.node: p.facts() for p in probes})
        for p in probes:
            judged.refusals += [
                f"{p.node}: DRBD {self.resource} is not healthy dual-primary ({problem}); "
                "online verify needs both nodes Connected and UpToDate."
                for problem in p.health()
            ]
            if p.state is not None and not p.verify_alg:
                judged.refusals.append(
                    f"{p.node}: DRBD {self.resource} has no verify-alg in force (drbdsetup "
                    'show); drbdadm verify refuses without one ("Need a verify algorithm '
                    'to start online verify"). Add `verify-alg sha256;` to its net section.'
                )
            if p.out_of_sync_kib:
                judged.refusals.append(
                    f"{p.node}: {p.out_of_sync_kib} KiB of DRBD {self.resource} are out of "
                    "sync already: resync first (disconnect/connect), then verify."
                )
        if len(probes) != 2:
            judged.refusals.append("Online verify needs both nodes of the pair.")
        if not judged.refusals:
            judged.steps.append(
                Step(
                    probes[0].node,
                    "verify",
                    ["drbdadm", "verify", self.resource],
                    "DRBD compares both nodes block by block, online; both nodes keep "
                    "serving. Blocks that differ are marked out of sync, nothing is copied.",
                )
            )
        return judged

    async def run(self, job, sessions, judged: Judgement) -> str:
        [step] = judged.steps
        ordered = [sessions[n] for n in sorted(sessions)]
        await job.run(sessions[step.node], step.argv, step.step, writes=True)
        probes = await _wait_while(job, ordered, self.resource, VERIFYING, "verify")
        found = {p.node: p.out_of_sync_kib for p in probes}
        if any(found.values()):
            where = ", ".join(f"{n}: {k} KiB" for n, k in found.items())
            return (
                f"Online verify of {self.resource} found blocks out of sync ({where}). "
                "Resync them: plan the resource's disconnect/connect resync."
            )
        return f"Online verify of {self.resource}: no block differs between the nodes"

    async def presents(self, read: Runner, session) -> str:
        p = await drbd_probe(read, session, self.resource, show=False)
        return f"{p.node}: {p.connection}, {', '.join(p.replication) or '—'}, " + (
            f"{p.out_of_sync_kib} KiB out of sync"
        )


@dataclass(frozen=True)
class Resync:
    """Resynchronise the blocks an online verify found: disconnect and reconnect."""

    resource: str

    async def judge(self, read: Runner, sessions: list[ssh.NodeSession]) -> Judgement:
        probes = [await drbd_probe(read, s, self.resource, show=False) for s in sessions]
        judged = Judgement(facts={p.node: p.facts() for p in probes})
        for p in probes:
            judged.refusals += [
                f"{p.node}: DRBD {self.resource} is not healthy dual-primary ({problem}); "
                "a disconnect/connect resync needs both nodes Connected and UpToDate."
                for problem in p.health()
            ]
        if len(probes) != 2:
            judged.refusals.append("A resync needs both nodes of the pair.")
        if not judged.refusals and not any(p.out_of_sync_kib for p in probes):
            judged.refusals.append(
                f"Nothing to resync: no block of {self.resource} is out of sync."
            )
        if judged.refusals:
            return judged
        first = probes[0].node
        judged.warnings.append(
            f"Between the disconnect and the connect (a moment) {self.resource} is not "
            "replicated while both nodes stay Primary and serve: the run reconnects at "
            "once, and stops and says so if it cannot."
        )
        judged.steps += [
            Step(first, "disconnect", ["drbdadm", "disconnect", self.resource],
                 f"{first} leaves the connection (StandAlone); the peer waits for it."),
            Step(first, "connect", ["drbdadm", "connect", self.resource],
                 "Reconnecting resyncs every block marked out of sync."),
        ]  # fmt: skip
        return judged

    async def run(self, job, sessions, judged: Judgement) -> str:
        disconnect, connect = judged.steps
        session = sessions[disconnect.node]
        ordered = [sessions[n] for n in sorted(sessions)]
        read = journaled_read(job)
        await job.run(session, disconnect.argv, disconnect.step, writes=True)
        mine = await drbd_probe(read, session, self.resource, show=False)
        await job.log(disconnect.node, "disconnect", "ok", f"{self.resource}: {mine.connection}")
        try:
            await job.run(session, connect.argv, connect.step, writes=True)
        except push.StepFailed as exc:
            raise push.StepFailed(
                connect.node,
                "connect",
                f"{exc}. DRBD {self.resource} is NOT replicated now while both nodes serve: "
                f"writes diverge until `drbdadm connect {self.resource}` succeeds on "
                f"{connect.node}",
            ) from exc
        await _wait_while(job, ordered, self.resource, SYNCING, "resync", connecting=True)
        return f"Resynchronised {self.resource}: both nodes Connected, UpToDate, in sync"

    async def presents(self, read: Runner, session) -> str:
        return await Verify(self.resource).presents(read, session)


async def _wait_while(
    job,
    sessions,
    resource: str,
    states: tuple[str, ...],
    what: str,
    connecting: bool = False,
    primary: bool = True,
) -> list[DrbdProbe]:
    """Poll both nodes while a verify or resync runs, with a progress line every few
    seconds; then both must be Connected, Established and UpToDate (a resync: and in
    sync). Bounded by WAIT_SECONDS[what]."""
    from django.conf import settings  # the bound is a setting; this module has no ORM

    limit = float(settings.WORKFLOW_WAIT_SECONDS)
    loop = asyncio.get_running_loop()
    start = last = loop.time()
    read = journaled_read(job)
    while True:
        probes = [await drbd_probe(read, s, resource, show=False) for s in sessions]
        running = [p for p in probes if any(r in states for r in p.replication)]
        waiting = connecting and any(p.connection != "Connected" for p in probes)
        now = loop.time()
        if not running and not waiting:
            break
        broken = [
            p
            for p in probes
            if p.state is None
            or p.connection == "StandAlone"
            or (not connecting and p.connection != "Connected")
        ]
        if broken:
            raise push.StepFailed(broken[0].node, what, f"{resource}: {broken[0].connection}")
        if now - start > limit:
            seen = "; ".join(f"{p.node}: {p.connection} {', '.join(p.replication)}" for p in probes)
            raise push.StepFailed(
                probes[0].node,
                what,
                f"{what} of {resource} still running after {limit:.0f} s ({seen})",
            )
        if now - last >= PROGRESS_EVERY or last == start:
            left = [p.ov_left for p in probes if p.ov_left is not None]
            detail = f", {sum(left) // 2} KiB left to verify" if left else ""
            oos = max(p.out_of_sync_kib for p in probes)
            states_now = ", ".join(r for p in running for r in p.replication) or "connecting"
            message = f"{resource}: {states_now} for {now - start:.0f} s{detail}"
            await job.log(None, what, "info", f"{message}; {oos} KiB out of sync")
            last = now
        await asyncio.sleep(POLL)

    def issues(p: DrbdProbe) -> list[str]:  # roles are checked later when not PRIMARY
        return [i for i in p.health() if primary or ("role is" not in i and "Primary" not in i)]

    problems = [f"{p.node}: {'; '.join(issues(p))}" for p in probes if issues(p)]
    if problems:
        raise push.StepFailed(probes[0].node, what, f"after the {what}: " + "; ".join(problems))
    if connecting and any(p.out_of_sync_kib for p in probes):
        behind = ", ".join(f"{p.node}: {p.out_of_sync_kib} KiB" for p in probes)
        raise push.StepFailed(
            probes[0].node, what, f"still out of sync after the resync ({behind})"
        )
    await job.log(
        None, what, "ok", f"{resource}: {what} finished after {loop.time() - start:.0f} s"
    )
    return probes


# --- split-brain recovery -------------------------------------------------------------------
# DRBD User's Guide, "Manual split brain recovery": on the split-brain victim `drbdadm
# secondary RES` and `drbdadm connect --discard-my-data RES`; on the survivor `drbdadm
# connect RES` (when it is StandAlone too); the victim then resyncs from the survivor. A
# Primary cannot be demoted while something holds it open, and SCST's vdisk_blockio keeps
# /dev/drbdM open as long as the device exists: the victim's SCST device is closed first
# (its LUNs leave the victim's targets; the survivor serves them), and `scstadmin
# -config /etc/scst.conf` opens it again at the end.


@dataclass(frozen=True)
class SplitBrain:
    resource: str
    victim: str
    survivor: str
    devices: tuple[tuple[str, str], ...]  # (SCST device, handler) on the resource
    failure_note = ""

    def _size_path(self, device: str) -> str:
        return f"{SCST_SYSFS_ROOT}/devices/{device}/size"

    async def _open_devices(self, read: Runner, session) -> list[str]:
        return [
            d for d, _h in self.devices if (await read(session, ["cat", self._size_path(d)])).ok
        ]

    async def judge(self, read: Runner, sessions: list[ssh.NodeSession]) -> Judgement:
        by_name = {s.endpoint.name: s for s in sessions}
        probes = {
            n: await drbd_probe(read, s, self.resource, show=False) for n, s in by_name.items()
        }
        judged = Judgement(facts={n: p.facts() for n, p in probes.items()})
        if set(probes) != {self.victim, self.survivor}:
            judged.refusals.append(
                f"Split-brain recovery needs both nodes: {self.victim} and {self.survivor}."
            )
            return judged
        victim, survivor = probes[self.victim], probes[self.survivor]
        for p in (victim, survivor):
            if p.state is None:
                judged.refusals.append(f"{p.node}: DRBD {self.resource} is not running.")
            elif any(peer.connection == "Connected" for peer in p.state.peers):
                judged.refusals.append(
                    f"{p.node}: DRBD {self.resource} is Connected: it is not in split brain."
                )
        if survivor.state is not None and survivor.state.role != "Primary":
            judged.refusals.append(
                f"{self.survivor} (the survivor) is {survivor.state.role}: it must be Primary "
                "and serve while the victim resyncs from it."
            )
        for p in (victim, survivor):
            disks = [d.disk for d in p.state.devices] if p.state else []
            if any(d not in ("UpToDate", "Outdated", "Consistent") for d in disks):
                judged.refusals.append(f"{p.node}: disk is {', '.join(disks)}; no data to keep.")
        if judged.refusals:
            return judged
        open_devices = await self._open_devices(read, by_name[self.victim])
        for name, facts in judged.facts.items():
            facts["exports"] = ", ".join(
                d for d, _ in self.devices if name != self.victim or d in open_devices
            )
        v, s, r = self.victim, self.survivor, self.resource
        for device, handler in self.devices:
            if device in open_devices:
                judged.steps.append(Step(v, "unexport", [
                    "scstadmin", "-noprompt", "-force", "-close_dev", device, "-handler", handler
                ], f"{device} leaves {v}'s targets (its initiators keep {s}'s path); DRBD "
                   "cannot be demoted while SCST holds it open."))  # fmt: skip
        if victim.state is not None and victim.state.role == "Primary":  # None refused above
            judged.steps.append(Step(v, "secondary", ["drbdadm", "secondary", r],
                                     f"{v} stops being Primary."))  # fmt: skip
        judged.steps.append(Step(v, "discard", ["drbdadm", "connect", "--discard-my-data", r],
            f"{v} connects and DISCARDS every write it took since the split."))  # fmt: skip
        if survivor.connection == "StandAlone":
            judged.steps.append(Step(s, "connect", ["drbdadm", "connect", r],
                                     f"{s} connects; {v} resyncs from it."))  # fmt: skip
        judged.steps.append(Step(v, "primary", ["drbdadm", "primary", r],
                                 f"Once UpToDate, {v} is Primary again."))  # fmt: skip
        if open_devices:
            judged.steps.append(Step(v, "export", [
                "scstadmin", "-noprompt", "-config", SCST_CONF
            ], f"SCST on {v} opens {', '.join(open_devices)} again and exports its LUNs "
               "from the configuration file."))  # fmt: skip
        judged.warnings.append(
            f"Every write {v} took for {r} since the split is DISCARDED: its copy is "
            f"overwritten by {s}'s. Initiators that wrote only through {v} lose those writes."
        )
        return judged

    async def run(self, job, sessions, judged: Judgement) -> str:
        ordered = [sessions[n] for n in sorted(sessions)]
        read = journaled_read(job)
        # The resync starts once both have connected: after the survivor's connect, or the
        # victim's when the survivor was waiting already.
        last_connect = "connect" if any(s.step == "connect" for s in judged.steps) else "discard"
        for step in judged.steps:
            session = sessions[step.node]
            await job.run(session, step.argv, step.step, writes=True)
            if step.step == "unexport":
                if (await read(session, ["cat", self._size_path(step.argv[5])])).ok:
                    raise push.StepFailed(step.node, step.step, f"{step.argv[5]} is still open")
            elif step.step in ("secondary", "primary"):
                p = await drbd_probe(read, session, self.resource, show=False)
                want = step.step.capitalize()
                if p.state is None or p.state.role != want:
                    raise push.StepFailed(step.node, step.step, f"{self.resource} is not {want}")
            elif step.step == last_connect:
                await _wait_while(job, ordered, self.resource, SYNCING, "resync", True, False)
            elif step.step == "export":
                missing = [
                    d for d, _ in self.devices if d not in await self._open_devices(read, session)
                ]
                if missing:
                    raise push.StepFailed(step.node, step.step, f"not open: {', '.join(missing)}")
        probes = [await drbd_probe(read, s, self.resource, show=False) for s in ordered]
        problems = [f"{p.node}: {'; '.join(p.health())}" for p in probes if p.health()]
        if problems:
            raise push.StepFailed(self.victim, "verify", "; ".join(problems))
        return (
            f"Recovered {self.resource} from split brain: {self.victim}'s writes since the "
            f"split were discarded; both nodes Primary, UpToDate, Connected"
        )

    async def presents(self, read: Runner, session) -> str:
        line = await Verify(self.resource).presents(read, session)
        open_devices = await self._open_devices(read, session)
        return f"{line}; SCST exports {', '.join(open_devices) or 'none of its devices'}"
