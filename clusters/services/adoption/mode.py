"""Adoption, step 4: monitored or managed. Managed needs every node read just now, no
foreign config, and every difference accepted by the admin."""

from clusters import access, audit
from clusters.models import Cluster, Finding, Node, NodeSnapshot, Role
from clusters.services import collection
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


def fresh_read_problems(cluster: Cluster, user) -> list[str]:
    """Read every node now; what kept a node from being read (empty: all read)."""
    job = collection.collection_run(collection.collection_create(cluster, user))
    read = {
        s.node_id: s
        for s in NodeSnapshot.objects.filter(job=job).only("node_id", "reachable", "error")
    }
    problems = []
    for node in Node.objects.filter(cluster=cluster).order_by("name"):
        snapshot = read.get(node.pk)
        if snapshot is None:
            problems.append(f"{node.name}: not collected")
        elif not snapshot.reachable or snapshot.error:
            problems.append(f"{node.name}: {snapshot.error or 'unreachable'}")
    return problems


def cluster_manage(cluster: Cluster, user, accepted: set[int]) -> None:
    """Switch to managed: every node read just now, no foreign config, and every drift
    either gone or accepted by the admin (who thereby agrees the next apply overwrites
    that difference). Stale or missing data never counts as "no difference"."""
    access.require_role(user, cluster, Role.ADMIN)
    problems = fresh_read_problems(cluster, user)
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
    _mode_set(cluster, user, Cluster.Mode.MANAGED, accepted=sorted(accepted))


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
