"""Collect live state from nodes and record it: snapshots, host keys, findings.

Beat's tick creates one collection job per cluster (collections_due) and queues each as
its own task, so any number of workers on any hosts share the clusters, and a failure
in one cluster ends that cluster's job alone (recorded as its COLLECTION_INCOMPLETE
finding) while every other cluster keeps its truth.
"""

import asyncio
import logging
from datetime import timedelta

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clusters import collect, ssh
from clusters.models import Cluster, Job, JobEvent, Node, NodeSnapshot
from clusters.services import history, jobs

log = logging.getLogger(__name__)


def endpoint_for(node: Node) -> ssh.NodeEndpoint:
    """The SSH endpoint of a node, with its decrypted key (never stored elsewhere)."""
    return ssh.NodeEndpoint(
        node_id=node.pk,
        name=node.name,
        address=node.address,
        port=node.ssh_port,
        user=node.ssh_user,
        private_key=node.credential.private_key() if node.credential is not None else "",
        pinned_host_key=node.host_key,
        drbd_version=node.cluster.drbd_version,
        command_timeout=float(settings.NODE_COMMAND_TIMEOUT_SECONDS),
    )


def collection_create(cluster: Cluster | None, user=None) -> Job:
    """A queued collection job for one cluster, or for all clusters when None."""
    return Job.objects.create(kind=Job.Kind.COLLECT, cluster=cluster, requested_by=user)


def collections_due(now=None) -> list[Job]:
    """A queued collection job for every cluster that has none queued or running already,
    so that a slow tick never piles a second collection of a cluster onto the first.
    A job queued longer than one interval no longer counts: its task has expired."""
    now = now or timezone.now()
    interval = timedelta(seconds=settings.COLLECT_INTERVAL_SECONDS)
    busy = Job.objects.filter(kind=Job.Kind.COLLECT, cluster__isnull=False).filter(
        Q(state=Job.State.RUNNING) | Q(state=Job.State.QUEUED, created_at__gt=now - interval)
    )
    due = Cluster.objects.exclude(pk__in=busy.values("cluster_id")).order_by("name")
    return Job.objects.bulk_create(
        [Job(kind=Job.Kind.COLLECT, cluster_id=pk) for pk in due.values_list("pk", flat=True)]
    )


def nodes_of(job: Job) -> list[Node]:
    nodes = Node.objects.select_related("cluster", "credential")
    if job.cluster_id:
        nodes = nodes.filter(cluster_id=job.cluster_id)
    return list(nodes)


def nodes_collect(job: Job, nodes: list[Node]) -> list[NodeSnapshot]:
    """Read NODES now and record a snapshot of each under JOB (which the caller runs).

    Not from a thread running an event loop (async_to_sync refuses): await
    collect.collect_nodes there instead.
    """
    by_id = {node.pk: node for node in nodes}
    timeout = float(getattr(settings, "COLLECT_NODE_TIMEOUT_SECONDS", 20))
    endpoints = [endpoint_for(n) for n in by_id.values()]
    return async_to_sync(_collect_and_record)(job, by_id, endpoints, timeout)


async def _collect_and_record(
    job: Job, by_id: dict[int, Node], endpoints: list[ssh.NodeEndpoint], timeout: float
) -> list[NodeSnapshot]:
    """Read the nodes concurrently and record each outcome as soon as it arrives, so that
    progress shows while slower nodes still run. Recording is a thread-sensitive
    sync_to_async call: it runs on the caller's thread, with its database connection."""
    finished: asyncio.Queue[collect.NodeCollection] = asyncio.Queue()
    collecting = asyncio.ensure_future(
        collect.collect_nodes(endpoints, timeout, on_done=finished.put_nowait)
    )
    record = sync_to_async(snapshot_record)
    snapshots: list[NodeSnapshot] = []
    try:
        while len(snapshots) < len(endpoints):
            outcome = await _next_outcome(finished, collecting)
            snapshots.append(await record(job, by_id[outcome.endpoint.node_id], outcome))
    finally:
        # A recording that failed ends the job: stop reading the other nodes.
        collecting.cancel()
        await asyncio.gather(collecting, return_exceptions=True)
    return snapshots


async def _next_outcome(
    finished: "asyncio.Queue[collect.NodeCollection]", collecting: "asyncio.Future"
) -> collect.NodeCollection:
    """The next node's outcome; the collection's own error should it fail instead."""
    getting = asyncio.ensure_future(finished.get())
    await asyncio.wait({getting, collecting}, return_when=asyncio.FIRST_COMPLETED)
    if not getting.done() and collecting.exception() is not None:
        getting.cancel()
        collecting.result()  # raises the collection's error
    return await getting


def collection_run(job: Job) -> Job:
    """Collect every node of the job (claimed by the caller), record snapshots and
    progress, refresh findings. A cluster whose collection or evaluation fails gets a
    COLLECTION_INCOMPLETE finding; a one-cluster job then fails (the caller's failure
    path records why), a job over several clusters goes on with the others."""
    from clusters.services.findings import findings_refresh

    if job.state == Job.State.QUEUED:
        jobs.job_start(job)
    by_cluster: dict[Cluster, list[Node]] = {}
    for node in nodes_of(job):
        by_cluster.setdefault(node.cluster, []).append(node)
    total = sum(len(nodes) for nodes in by_cluster.values())
    failed = 0
    broken: list[str] = []
    for cluster, nodes in by_cluster.items():
        try:
            failed += sum(1 for s in nodes_collect(job, nodes) if s.error)
            findings_refresh(cluster)
        except Exception as exc:
            collection_failed(job, cluster, exc)
            if job.cluster_id:
                raise
            failed, broken = failed + len(nodes), [*broken, cluster.name]
    state = Job.State.SUCCEEDED if not failed else Job.State.PARTIAL
    if total and failed == total:
        state = Job.State.FAILED
    summary = f"{total - failed} of {total} nodes collected"
    if broken:
        summary += f"; collection failed on {', '.join(broken)}"
    jobs.job_finish(job, state, summary)
    return job


def collection_failed(job: Job, cluster: Cluster, exc: Exception) -> None:
    """Record that CLUSTER's collection or evaluation failed: an event on the job and the
    cluster's COLLECTION_INCOMPLETE finding (its other findings stay as last evaluated)."""
    from clusters.services.findings import findings_collection_failed

    reason = f"{type(exc).__name__}: {exc}"
    log.warning("collection of cluster %s failed (job %s): %s", cluster.name, job.pk, reason)
    jobs.job_event(job, "collect", f"{cluster.name}: {reason}", level=JobEvent.Level.ERROR)
    findings_collection_failed(cluster, reason)


def snapshot_clears_unknown(outcome: collect.NodeCollection) -> bool:
    """A full read of the node tells what a change left there."""
    return outcome.reachable and not outcome.error and bool(outcome.outputs)


@transaction.atomic
def snapshot_record(job: Job, node: Node, outcome: collect.NodeCollection) -> NodeSnapshot:
    """Store one node's outcome; an unknown or changed host key is kept for approval."""
    if outcome.offered_host_key and outcome.offered_host_key != node.pending_host_key:
        node.pending_host_key = outcome.offered_host_key
        node.save(update_fields=["pending_host_key"])
    if snapshot_clears_unknown(outcome) and node.outcome_unknown_since is not None:
        node.outcome_unknown_since, node.outcome_unknown_job = None, None
        node.save(update_fields=["outcome_unknown_since", "outcome_unknown_job"])
    snapshot = NodeSnapshot.objects.create(
        node=node,
        job=job,
        collected_at=timezone.now(),
        reachable=outcome.reachable and not outcome.error,
        error=outcome.error,
        duration_ms=int(outcome.seconds * 1000),
        # Model.__init__ sets a property from its keyword; the stubs know fields only.
        raw={name: vars(output) for name, output in outcome.outputs.items()},  # type: ignore[misc]
        facts={"host_key_problem": outcome.host_key_problem},
    )
    history.record_snapshot(snapshot)
    level = JobEvent.Level.ERROR if outcome.error else JobEvent.Level.OK
    message = outcome.error or f"collected in {outcome.seconds * 1000:.0f} ms"
    jobs.job_event(job, "collect", message, node=node, level=level)
    return snapshot
