"""Day-2 workflows as jobs: plan (collect, probe, judge) → apply (lock, collect, probe
and re-judge on the connections it writes through, run the steps, read back) → record.

A workflow plan is a job of kind wf_plan whose params hold a WorkflowPlan; its apply is a
job of kind workflow. The node steps are clusters/workflows.py's; this module keeps the
records, the interlocks the change path shares (clusters.services.changes.interlocks)
and the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from clusters import access, audit, locks, maintenance, push, ssh, workflows
from clusters.models import Cluster, DrbdResource, Job, Node, ScstDevice
from clusters.services import collection, jobs
from clusters.services.change_kinds import (
    GrowLun,
    NodeDrain,
    NodeReturn,
    ResyncResource,
    SplitBrainRecovery,
    VerifyResource,
    Workflow,
    workflow_from_json,
)
from clusters.services.changes import PlanStatus
from clusters.services.facts import cluster_facts


class WorkflowRefused(Exception):
    """The workflow cannot be planned or applied now; the message says why."""


@dataclass
class WorkflowPlan:
    description: str
    change: dict
    facts: dict = field(default_factory=dict)
    steps: list[dict] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    signature: str = ""
    planned_at: str = ""
    expires_at: str = ""

    @property
    def expires(self) -> datetime | None:
        return parse_datetime(self.expires_at) if self.expires_at else None

    @classmethod
    def from_json(cls, data: dict) -> WorkflowPlan:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# --- what a workflow acts on -------------------------------------------------------------


def grow_target(cluster: Cluster, change: GrowLun) -> workflows.GrowTarget:
    """The device's DRBD resource and volume and each node's backing disk (inventory)."""
    device = ScstDevice.objects.filter(cluster=cluster, name=change.device).first()
    if device is None:
        raise ValidationError({"device": f"No device {change.device} in {cluster.name}."})
    if device.drbd_resource is None:
        raise ValidationError(
            {"device": f"{device.name} is not on a DRBD resource: grow its disk by hand."}
        )
    volumes = device.drbd_resource.volumes.filter(volume=device.drbd_volume).select_related("node")
    return workflows.GrowTarget(
        device.name,
        device.drbd_resource.name,
        device.drbd_volume,
        {v.node.name: v.backing_disk for v in volumes},
    )


def maintenance_target(cluster: Cluster, node: str) -> maintenance.MaintenanceTarget:
    """The node, its peer, and the DRBD resources and SCST devices on DRBD (inventory)."""
    names = set(Node.objects.filter(cluster=cluster).values_list("name", flat=True))
    if node not in names or len(names) != 2:
        raise ValidationError({"node": f"{node} is not a node of the pair {cluster}."})
    resources = DrbdResource.objects.filter(cluster=cluster).order_by("name")
    devices = ScstDevice.objects.filter(cluster=cluster, drbd_resource__isnull=False)
    return maintenance.MaintenanceTarget(
        node,
        (names - {node}).pop(),
        tuple(resources.values_list("name", flat=True)),
        tuple(devices.order_by("name").values_list("name", "handler", "drbd_resource__name")),
    )


def _nodes(cluster: Cluster) -> dict[str, Node]:
    nodes = Node.objects.filter(cluster=cluster).select_related("credential", "cluster")
    return {n.name: n for n in nodes}


def procedure_for(cluster: Cluster, change: Workflow) -> workflows.Procedure:
    """The node side of a workflow, with what the inventory says it acts on."""
    if isinstance(change, GrowLun):
        return workflows.Grow(grow_target(cluster, change))
    if isinstance(change, NodeDrain):
        return maintenance.Drain(maintenance_target(cluster, change.node), change.drbd)
    if isinstance(change, NodeReturn):
        return maintenance.Return(maintenance_target(cluster, change.node))
    if not DrbdResource.objects.filter(cluster=cluster, name=change.resource).exists():
        raise ValidationError({"resource": f"No DRBD resource {change.resource} in {cluster}."})
    if isinstance(change, VerifyResource):
        return workflows.Verify(change.resource)
    if isinstance(change, SplitBrainRecovery):
        names = set(Node.objects.filter(cluster=cluster).values_list("name", flat=True))
        if change.victim not in names or len(names) != 2:
            raise ValidationError({"victim": f"{change.victim} is not a node of {cluster}."})
        devices = ScstDevice.objects.filter(cluster=cluster, drbd_resource__name=change.resource)
        return workflows.SplitBrain(
            change.resource,
            change.victim,
            (names - {change.victim}).pop(),
            tuple(devices.order_by("name").values_list("name", "handler")),
        )
    return workflows.Resync(change.resource)


def _drain_serving_refusals(cluster: Cluster, change: NodeDrain) -> list[str]:
    """A drain: the peer must export every LUN the node exports through an enabled target
    (from the collection just made); the initiators' sessions are checked on the nodes."""
    from clusters import compare

    target = maintenance_target(cluster, change.node)
    by_name = {n.name: n for n in cluster_facts(cluster).nodes}
    peer, mine = by_name.get(target.peer), by_name.get(change.node)
    if peer is None or not peer.has_data or mine is None or not mine.has_data:
        return [f"{target.peer} (the peer) or {change.node} has no fresh data."]

    def exported(facts) -> set[str]:
        views = compare.live_targets(facts) or {}
        return {
            device
            for _driver, target, _group, _n, device in facts.exported_luns()
            if device and views.get(target) is not None and views[target].enabled == "1"
        }

    return [
        f"{target.peer} does not export {device} through an enabled target: draining "
        f"{change.node} would cut every path to it."
        for device in sorted(exported(mine) - exported(peer))
    ]


def _serving_refusals(cluster: Cluster, change: Workflow) -> list[str]:
    """Split brain: the survivor must export every LUN of the resource through an enabled
    target (from the collection just made), as the victim's exports go away."""
    if isinstance(change, NodeDrain):
        return _drain_serving_refusals(cluster, change)
    if not isinstance(change, SplitBrainRecovery):
        return []
    from clusters import compare

    proc = procedure_for(cluster, change)
    assert isinstance(proc, workflows.SplitBrain)  # procedure_for's answer to split brain
    facts = next((n for n in cluster_facts(cluster).nodes if n.name == proc.survivor), None)
    if facts is None or not facts.has_data:
        return [f"{proc.survivor} (the survivor) has no fresh data."]
    views = compare.live_targets(facts) or {}
    exported = {
        device
        for _driver, target, _group, _n, device in facts.exported_luns()
        if views.get(target) is not None and views[target].enabled == "1"
    }
    return [
        f"{proc.survivor} (the survivor) does not export {device} through an enabled target: "
        f"closing it on {proc.victim} would cut every path."
        for device, _handler in proc.devices
        if device not in exported
    ]


async def _judge_all(endpoints: list[ssh.NodeEndpoint], proc) -> workflows.Judgement:
    async with contextlib.AsyncExitStack() as stack:
        sessions = [await stack.enter_async_context(ssh.connect(e)) for e in endpoints]
        return await proc.judge(workflows.plain_read, sessions)


def _judge(cluster: Cluster, change: Workflow, nodes: dict[str, Node]) -> workflows.Judgement:
    proc = procedure_for(cluster, change)
    endpoints = [collection.endpoint_for(nodes[name]) for name in sorted(nodes)]
    try:
        return async_to_sync(_judge_all)(endpoints, proc)
    except ssh.NodeError as exc:
        return workflows.Judgement(refusals=[f"A node could not be read: {exc}"])


def _interlocks(cluster: Cluster, change: Workflow, holder_job: int | None) -> list[str]:
    """The change path's interlocks. An online verify or its resync changes no
    configuration, so drift (a config file or option that differs) does not block them;
    everything else does (monitored mode, the lock, unreachable or unknown nodes, an
    interrupted apply)."""
    from clusters.services import changes

    facts = cluster_facts(cluster)
    reasons = changes.interlocks(cluster, facts, change, set(), holder_job)
    if isinstance(
        change, VerifyResource | ResyncResource | SplitBrainRecovery | NodeDrain | NodeReturn
    ):
        reasons = [r for r in reasons if "drifted from what the portal last wrote" not in r]
    if isinstance(change, SplitBrainRecovery):  # it demotes and promotes the resource
        reasons += changes.pacemaker_interlocks(facts, {change.resource}, "secondary/primary")
    if isinstance(change, NodeDrain) and change.drbd:  # it demotes and disconnects
        resources = set(DrbdResource.objects.filter(cluster=cluster).values_list("name", flat=True))
        reasons += changes.pacemaker_interlocks(facts, resources, "secondary/disconnect")
    if isinstance(change, NodeReturn):
        node = Node.objects.filter(cluster=cluster, name=change.node).first()
        if node is not None and not node.in_maintenance:
            reasons.append(f"{change.node} is not in maintenance: nothing to return.")
    return reasons


# --- planning ----------------------------------------------------------------------------


def plan_create(
    cluster: Cluster, user, change: Workflow, description: str, scheduled: bool = False
) -> Job:
    """Record a workflow plan to compute; the caller queues workflow_tasks.plan_job.
    SCHEDULED: the portal's own schedule plans it (no user)."""
    if not scheduled:
        access.require_role(user, cluster, access.role_to_run(change))
    return Job.objects.create(
        kind=Job.Kind.WORKFLOW_PLAN,
        cluster=cluster,
        requested_by=user,
        params=asdict(WorkflowPlan(description, change.as_json())),
    )


def plan_run(job: Job) -> Job:
    """The plan task's body: collect every node, probe what the workflow needs, judge."""
    from clusters.services.findings import findings_refresh

    if job.state == Job.State.QUEUED:
        jobs.job_start(job)
    cluster = job.acting_cluster()
    stored = WorkflowPlan.from_json(job.params)
    nodes = _nodes(cluster)
    jobs.job_event(job, "collect", "reading every node before planning")
    collection.nodes_collect(job, list(nodes.values()))
    findings_refresh(cluster)
    plan = WorkflowPlan(stored.description, stored.change)
    try:
        change = workflow_from_json(stored.change)
        plan.refusals = _interlocks(cluster, change, None)
        plan.refusals += _serving_refusals(cluster, change)
        judged = _judge(cluster, change, nodes)
    except ValidationError as exc:
        plan.refusals += exc.messages
    else:
        plan.facts = judged.facts
        plan.steps = [asdict(s) for s in judged.steps]
        plan.refusals += judged.refusals
        plan.warnings = judged.warnings
        plan.signature = judged.signature()
    now = timezone.now()
    plan.planned_at = now.isoformat()
    plan.expires_at = (now + timedelta(seconds=settings.PLAN_TTL_SECONDS)).isoformat()
    job.params = asdict(plan)
    job.save(update_fields=["params"])
    if plan.refusals:
        jobs.job_finish(job, Job.State.REFUSED, "; ".join(plan.refusals))
    else:
        jobs.job_finish(job, Job.State.SUCCEEDED, f"ready: {plan.description}")
    audit.record(
        job.requested_by,
        audit.Action.PLAN,
        job,
        after={"change": plan.change, "refusals": plan.refusals, "steps": plan.steps},
        reason=plan.description,
    )
    return job


# A workflow plan's status reads as a change plan's does (codes add "failed").
WorkflowStatus = PlanStatus


def plan_status(job: Job) -> WorkflowStatus:
    """What the plan page says now (the apply re-reads every node anyway)."""
    if job.state in (Job.State.QUEUED, Job.State.RUNNING):
        return WorkflowStatus("computing", "Reading every node and judging the workflow…")
    if job.state != Job.State.SUCCEEDED:
        return WorkflowStatus("refused", job.summary or "This workflow cannot run now.")
    runs = Job.objects.filter(kind=Job.Kind.WORKFLOW, params__plan_job=job.pk)
    if runs.filter(state__in=[Job.State.QUEUED, Job.State.RUNNING]).exists():
        return WorkflowStatus("applying", "Running.")
    if runs.filter(state=Job.State.SUCCEEDED).exists():
        return WorkflowStatus("applied", "Done and verified.")
    # A run that never started (the job queue was down, no worker took it) ran nothing
    # on any node: the plan stays ready (until it expires).
    if runs.exclude(state=Job.State.REFUSED).exclude(started_at__isnull=True).exists():
        return WorkflowStatus("failed", "It ran and stopped: see its job, then plan again.")
    refused = runs.filter(state=Job.State.REFUSED).order_by("-pk").first()
    if refused is not None:
        return WorkflowStatus("out_of_date", f"{refused.summary} Plan again.")
    plan = WorkflowPlan.from_json(job.params)
    if plan.expires is not None and plan.expires < timezone.now():
        return WorkflowStatus(
            "expired", f"Expired at {plan.expires:%Y-%m-%d %H:%M} UTC: plan again."
        )
    return WorkflowStatus("ready", "Ready to apply.")


# --- applying ----------------------------------------------------------------------------


def apply_create(plan_job: Job, user, reason: str, scheduled: bool = False, typed: str = "") -> Job:
    """Record the run of a ready workflow plan (a reason is required; a split-brain
    recovery also needs the resource's name typed); the caller queues it."""
    change = workflow_from_json(WorkflowPlan.from_json(plan_job.params).change)
    if not scheduled:
        access.require_role(user, plan_job.acting_cluster(), access.role_to_run(change))
    if isinstance(change, SplitBrainRecovery) and typed.strip() != change.resource:
        raise WorkflowRefused(
            f"Type the resource name ({change.resource}) to confirm that {change.victim}'s "
            "writes since the split are discarded."
        )
    if not reason.strip():
        raise WorkflowRefused("Say why you run this workflow (it goes to the audit trail).")
    with transaction.atomic():
        plan_job = Job.objects.select_for_update().get(pk=plan_job.pk)
        if plan_job.kind != Job.Kind.WORKFLOW_PLAN:
            raise WorkflowRefused("Only a workflow plan can be run here.")
        status = plan_status(plan_job)
        if not status.can_apply:
            raise WorkflowRefused(status.text)
        job = Job.objects.create(
            kind=Job.Kind.WORKFLOW,
            cluster=plan_job.cluster,
            requested_by=user,
            params={"plan_job": plan_job.pk, "reason": reason.strip()},
        )
    audit.record(user, audit.Action.APPLY, job, after={"plan_job": plan_job.pk}, reason=reason)
    return job


class RunEnd(enum.StrEnum):
    """How a workflow run ended on its nodes."""

    REFUSED = "refused"
    STOPPED = "stopped"
    FAILED = "failed"
    SUCCEEDED = "succeeded"


def apply_run(job: Job) -> Job:
    """The workflow task's body: lock, collect, re-judge on the nodes, run, read back."""
    from clusters.services.findings import findings_refresh

    if job.state == Job.State.QUEUED:
        jobs.job_start(job)
    cluster = job.acting_cluster()
    who = job.requested_by.get_username() if job.requested_by else "system"
    if not locks.acquire(cluster.pk, job.pk, who):
        holder = locks.holder_of(cluster.pk)
        by = f" (job {holder.job_id} by {holder.user})" if holder else ""
        jobs.job_finish(job, Job.State.REFUSED, f"Refused: another change holds the lock{by}.")
        return job
    try:
        return _apply_locked(job, cluster)
    except BaseException:
        _flag_written_nodes(job)  # a crash mid-workflow leaves those nodes unknown
        raise
    finally:
        locks.release(cluster.pk, job.pk)
        findings_refresh(cluster)


def _flag_written_nodes(job: Job) -> None:
    written = job.steps.filter(writes=True).values("node_id")
    Node.objects.filter(pk__in=written).update(
        outcome_unknown_since=timezone.now(), outcome_unknown_job=job
    )


def _refuse(job: Job, reason: str) -> Job:
    jobs.job_finish(job, Job.State.REFUSED, f"Refused, nothing written: {reason}.")
    audit.record(job.requested_by, audit.Action.APPLY_FAILED, job, after={"refused": reason})
    return job


def _apply_locked(job: Job, cluster: Cluster) -> Job:
    from clusters.services.findings import findings_refresh

    plan_job = Job.objects.get(pk=job.params["plan_job"])
    approved = WorkflowPlan.from_json(plan_job.params)
    nodes = _nodes(cluster)
    jobs.job_event(job, "collect", "reading every node before writing")
    collection.nodes_collect(job, list(nodes.values()))
    findings_refresh(cluster)
    if approved.expires is not None and approved.expires < timezone.now():
        return _refuse(job, f"the plan expired at {approved.expires:%H:%M:%S} UTC; plan again")
    change = workflow_from_json(approved.change)
    reasons = _interlocks(cluster, change, job.pk) + _serving_refusals(cluster, change)
    if reasons:
        return _refuse(job, "; ".join(reasons))
    proc = procedure_for(cluster, change)
    _flag_before_drain(job, cluster, change)
    pushing = push.Push(
        owner=f"job-{job.pk}",
        journal=jobs.JobJournal(job, nodes),
        verify=_no_verify,
        serving=_no_serving,
        heartbeat_seconds=settings.JOB_HEARTBEAT_SECONDS,
    )
    endpoints = {name: collection.endpoint_for(node) for name, node in nodes.items()}
    outcome = async_to_sync(_run)(pushing, endpoints, proc, approved.signature)
    kind, text = outcome
    reason = job.params.get("reason", "")
    collection.nodes_collect(job, list(nodes.values()))
    text += _maintenance_flag(job, cluster, change, kind)
    findings_refresh(cluster)  # before the job ends: its page shows the findings it left
    if kind == RunEnd.REFUSED:
        return _refuse(job, text)
    if kind == RunEnd.STOPPED:
        jobs.interrupt(job.pk, text)
        job.refresh_from_db()
        return job
    if kind == RunEnd.FAILED:
        jobs.job_finish(job, Job.State.FAILED, text)
        audit.record(
            job.requested_by, audit.Action.APPLY_FAILED, job, after={"error": text}, reason=reason
        )
        return job
    jobs.job_finish(job, Job.State.SUCCEEDED, text)
    audit.record(job.requested_by, audit.Action.APPLY, job, after={"done": text}, reason=reason)
    return job


def _flag_before_drain(job: Job, cluster: Cluster, change: Workflow) -> None:
    """A drain flags its node in maintenance before its first write: a worker killed
    mid-drain (SIGKILL, OOM: no code of ours runs after it) leaves the node flagged, never
    disabled and unflagged; the sweeper ends the job interrupted and a return brings the
    node back. _maintenance_flag lowers it again when the drain ends with the node serving.
    Since the drain began: findings a collection opens while it runs are its doing too."""
    if isinstance(change, NodeDrain):
        since = job.started_at or timezone.now()
        Node.objects.filter(cluster=cluster, name=change.node).update(
            maintenance_since=since, maintenance_job=job
        )


def _maintenance_flag(job: Job, cluster: Cluster, change: Workflow, kind: str) -> str:
    """A drain that succeeded keeps its node in maintenance (flagged before it wrote); one
    that stopped with a target of the node still disabled does too (clearly flagged,
    never silently half-drained); one refused, or stopped with every target enabled,
    lowers the flag. A return that succeeded clears it. Returns what to add to the job's
    summary."""
    if not isinstance(change, NodeDrain | NodeReturn):
        return ""
    node = Node.objects.get(cluster=cluster, name=change.node)
    if kind == "refused":
        if isinstance(change, NodeDrain):
            _unflag(node, job)
        return ""
    if isinstance(change, NodeReturn):
        if kind != "succeeded":
            return f" {node.name} stays in maintenance."
        Node.objects.filter(pk=node.pk).update(maintenance_since=None, maintenance_job=None)
        return f" {node.name} is out of maintenance."
    facts = next((n for n in cluster_facts(cluster).nodes if n.name == node.name), None)
    from clusters import compare

    views = (compare.live_targets(facts) or {}) if facts is not None and facts.has_data else None
    disabled = views is None or any(v.enabled != "1" for v in views.values())
    if kind != "succeeded" and not disabled:
        _unflag(node, job)
        return ""
    if kind == "succeeded":
        return f" {node.name} is in maintenance."
    return (
        f" {node.name} is flagged in maintenance: the drain stopped with a target of it "
        "disabled (or unread)."
    )


def _unflag(node: Node, job: Job) -> None:
    """Lower the maintenance flag this drain raised (not one another job set)."""
    Node.objects.filter(pk=node.pk, maintenance_job=job).update(
        maintenance_since=None, maintenance_job=None
    )


async def _no_verify(session, change, applied) -> list[str]:
    return []  # workflows read their nodes back after every step themselves


async def _no_serving(session, devices) -> list[str]:
    return []


async def _run(job: push.Push, endpoints: dict, proc, approved: str) -> tuple[RunEnd, str]:
    """How one workflow run ended, and its summary."""
    beating = asyncio.create_task(push._keep_alive(job))
    try:
        async with contextlib.AsyncExitStack() as stack:
            try:
                sessions = {
                    name: await stack.enter_async_context(ssh.connect(endpoint))
                    for name, endpoint in sorted(endpoints.items())
                }
            except ssh.NodeError as exc:
                return RunEnd.REFUSED, f"a node could not be reached: {exc}"
            try:
                lines, summary = await workflows.apply_procedure(job, sessions, proc, approved)
            except workflows.Refused as exc:
                return RunEnd.REFUSED, str(exc)
            except (push.StepFailed, ssh.NodeError) as exc:
                await job.log(getattr(exc, "node", None), "stopped", "error", str(exc))
                now = await _presents_safely(sessions, proc)
                note = getattr(proc, "failure_note", "")
                return RunEnd.FAILED, f"Stopped: {exc}. {note}Now: {now}"
            await job.log(None, "verify", "ok", "; ".join(lines))
            return RunEnd.SUCCEEDED, f"{summary}. " + "; ".join(lines)
    except push.Stopped as exc:
        return RunEnd.STOPPED, str(exc)
    finally:
        beating.cancel()
        with contextlib.suppress(BaseException):
            await beating


async def _presents_safely(sessions: dict, proc) -> str:
    lines = []
    for name, session in sorted(sessions.items()):
        try:
            lines.append(await proc.presents(workflows.plain_read, session))
        except ssh.NodeError as exc:
            lines.append(f"{name}: unreadable ({exc})")
    return "; ".join(lines)


# --- the schedule ------------------------------------------------------------------------


def last_verify(cluster: Cluster, resource: str) -> Job | None:
    """The latest plan of an online verify of RESOURCE (run, refused or not)."""
    return (
        Job.objects.filter(
            cluster=cluster,
            kind=Job.Kind.WORKFLOW_PLAN,
            params__change__kind=VerifyResource.kind,
            params__change__resource=resource,
        )
        .order_by("-created_at")
        .first()
    )


def verify_due(now: datetime | None = None) -> list[Job]:
    """Plan and run an online verify of every resource of a managed cluster whose last
    verify was planned longer than DRBD_VERIFY_INTERVAL_HOURS ago (nothing while that is
    0): one attempt per interval; a refused plan is the record of why it did not run."""
    hours = settings.DRBD_VERIFY_INTERVAL_HOURS
    if hours <= 0:
        return []
    now = now or timezone.now()
    started = []
    for resource in DrbdResource.objects.filter(cluster__mode=Cluster.Mode.MANAGED).select_related(
        "cluster"
    ):
        last = last_verify(resource.cluster, resource.name)
        if last is not None and last.created_at > now - timedelta(hours=hours):
            continue
        change = VerifyResource(resource.name)
        description = f"Scheduled online verify of {resource.name}"
        plan = plan_run(plan_create(resource.cluster, None, change, description, scheduled=True))
        if plan.state != Job.State.SUCCEEDED:
            continue
        run = apply_create(plan, None, f"every {hours} h (DRBD_VERIFY_INTERVAL_HOURS)", True)
        started.append(apply_run(run))
    return started
