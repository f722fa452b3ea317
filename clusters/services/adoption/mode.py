"""Adoption, step 4: monitored or managed. Managed needs every node read just now, no
foreign config, and every difference accepted by the admin; the switch is a job
(manage_create, run by the worker's manage task), so no request waits on a node."""

from django.core.exceptions import PermissionDenied

from clusters import access, audit
from clusters.models import Cluster, Finding, Job, Node, NodeSnapshot, Role
from clusters.services import collection, jobs
from clusters.services.adoption.errors import AdoptionError

FOREIGN_CODES = ("FOREIGN_DRBD_FILE", "SCST_UNMODELLED")
DRIFT_CODES = ("DRIFT_SCST", "DRIFT_DRBD")


def mode_switch_blockers(cluster: Cluster) -> tuple[list[Finding], list[Finding]]:
    """(foreign-ownership findings, drift findings) that stand in the way of managing."""
    open_findings = Finding.objects.filter(cluster=cluster, resolved_at=None)
    return (
        list(open_findings.filter(code__in=FOREIGN_CODES)),
        list(open_findings.filter(code__in=DRIFT_CODES)),
    )


def read_problems(nodes: list[Node], snapshots: list[NodeSnapshot]) -> list[str]:
    """What kept each node from being read by this collection (empty: all read)."""
    read = {s.node_id: s for s in snapshots}
    problems = []
    for node in sorted(nodes, key=lambda n: n.name):
        snapshot = read.get(node.pk)
        if snapshot is None:
            problems.append(f"{node.name}: not collected")
        elif not snapshot.reachable or snapshot.error:
            problems.append(f"{node.name}: {snapshot.error or 'unreachable'}")
    return problems


def manage_create(cluster: Cluster, user, accepted: set[int]) -> Job:
    """A queued job that switches CLUSTER to managed (manage_run): the request that asks
    for it talks to no node."""
    access.require_role(user, cluster, Role.ADMIN)
    return Job.objects.create(
        kind=Job.Kind.MANAGE,
        cluster=cluster,
        requested_by=user,
        params={"accepted": sorted(accepted)},
    )


def manage_pending(cluster: Cluster) -> Job | None:
    """The switch to managed that is queued or running for CLUSTER, if any."""
    return (
        Job.objects.filter(
            cluster=cluster,
            kind=Job.Kind.MANAGE,
            state__in=[Job.State.QUEUED, Job.State.RUNNING],
        )
        .order_by("-pk")
        .first()
    )


def manage_run(job: Job) -> Job:
    """The manage task's body: read every node now, then switch to managed, or end the
    job refused with the reason (a node not read, foreign config, a difference the admin
    did not accept). Stale or missing data never counts as "no difference"."""
    from clusters.services.findings import findings_refresh

    if job.state == Job.State.QUEUED:
        jobs.job_start(job)
    cluster, user = job.acting_cluster(), job.requested_by
    accepted = set(job.params.get("accepted", []))
    try:
        access.require_role(user, cluster, Role.ADMIN)  # still an admin when it runs
    except PermissionDenied as exc:
        jobs.job_finish(job, Job.State.REFUSED, str(exc))
        return job
    jobs.job_event(job, "collect", "reading every node before switching to managed")
    nodes = list(Node.objects.filter(cluster=cluster).select_related("cluster", "credential"))
    snapshots = collection.nodes_collect(job, nodes)
    findings_refresh(cluster)
    try:
        _manage_check(cluster, read_problems(nodes, snapshots), accepted)
    except AdoptionError as exc:
        jobs.job_finish(job, Job.State.REFUSED, str(exc))
        return job
    _mode_set(cluster, user, Cluster.Mode.MANAGED, accepted=sorted(accepted))
    jobs.job_finish(
        job, Job.State.SUCCEEDED, f"{cluster.name} is managed: changes go through plan and apply."
    )
    return job


def manage_now(cluster: Cluster, user, accepted: set[int]) -> Job:
    """Create and run a switch to managed in this process (tests, the shell)."""
    return manage_run(manage_create(cluster, user, accepted))


def _manage_check(cluster: Cluster, problems: list[str], accepted: set[int]) -> None:
    """AdoptionError unless every node was read just now, nothing foreign runs, and every
    drift is gone or accepted (the admin agrees the next apply overwrites it)."""
    if problems:
        raise AdoptionError(
            "Switching to managed needs a fresh read of every node, and the portal could "
            "not read: " + "; ".join(problems) + ". Fix the node and try again."
        )
    foreign, drift = mode_switch_blockers(cluster)
    if foreign:
        raise AdoptionError(
            "Configuration owned by another tool or not modelled keeps the cluster monitored: "
            + "; ".join(f.object_ref for f in foreign)
        )
    unaccepted = [f for f in drift if f.pk not in accepted]
    if unaccepted:
        raise AdoptionError(
            f"{len(unaccepted)} difference(s) between the inventory and the nodes need your "
            "decision: " + "; ".join(f.object_ref for f in unaccepted)
        )


def cluster_monitor(cluster: Cluster, user) -> None:
    access.require_role(user, cluster, Role.ADMIN)
    _mode_set(cluster, user, Cluster.Mode.MONITORED)


def _mode_set(cluster: Cluster, user, mode: str, accepted: list[int] | None = None) -> None:
    before = {"mode": cluster.mode}
    cluster.mode = mode
    cluster.save(update_fields=["mode"])
    after = {"mode": mode, "accepted_differences": accepted or []}
    audit.record(user, audit.Action.MODE, cluster, before=before, after=after)


def rediscover(cluster: Cluster, user):
    """Collect now; drift findings then show what changed on the nodes since the import."""
    access.require_role(user, cluster, Role.OPERATOR)
    return collection.collection_run(collection.collection_create(cluster, user))
