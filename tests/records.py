"""Record builders for page tests: snapshots, findings, mutes and jobs, straight via the ORM."""

from datetime import timedelta

from django.utils import timezone

from clusters.models import Cluster, Finding, Job, Mute, Node, NodeSnapshot


def snapshot(
    node: Node, age: float = 0, reachable: bool = True, raw: dict | None = None, error: str = ""
) -> NodeSnapshot:
    """A collection of `node` taken `age` seconds ago."""
    # raw is a property (stored compressed); the model's __init__ sets it, the stubs
    # know fields only.
    return NodeSnapshot.objects.create(  # type: ignore[misc]
        node=node,
        collected_at=timezone.now() - timedelta(seconds=age),
        reachable=reachable,
        error=error or ("" if reachable else "cannot reach node: timed out"),
        raw=raw or {},
    )


def collected(cluster: Cluster, age: float = 0) -> Cluster:
    """Every node of the cluster collected `age` seconds ago, all reachable."""
    for node in cluster.nodes.all():
        snapshot(node, age)
    return cluster


def finding(
    cluster: Cluster,
    severity: str = "CRITICAL",
    code: str = "SCST_NV_CACHE",
    object_ref: str = "device:lun0",
    title: str = "nv_cache is on",
    details: list | None = None,
    resolved: bool = False,
) -> Finding:
    now = timezone.now()
    return Finding.objects.create(
        cluster=cluster,
        code=code,
        severity=severity,
        object_ref=object_ref,
        title=title,
        details=details or [],
        first_seen=now - timedelta(hours=1),
        last_seen=now,
        resolved_at=now if resolved else None,
    )


def mute(found: Finding, user, days: float = 1, reason: str = "vendor ticket 42") -> Mute:
    """A mute of the finding ending in `days` days (negative: already over)."""
    return Mute.objects.create(
        cluster=found.cluster,
        code=found.code,
        object_ref=found.object_ref,
        severity_at_mute=found.severity or "CRITICAL",
        reason=reason,
        created_by=user,
        until=timezone.now() + timedelta(days=days),
    )


def job(cluster: Cluster | None, user=None, state: str = Job.State.QUEUED) -> Job:
    return Job.objects.create(
        kind=Job.Kind.COLLECT, cluster=cluster, requested_by=user, state=state
    )
