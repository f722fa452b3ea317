"""Build ClusterFacts for compliance from the stored snapshots and the inventory."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from clusters import facts
from clusters.models import Cluster, Node, NodeSnapshot


def node_facts_for(snapshot: NodeSnapshot) -> facts.NodeFacts:
    return facts.node_facts(
        snapshot.node.name,
        snapshot.raw,
        snapshot.reachable,
        snapshot.collected_at,
        snapshot.error,
        (snapshot.facts or {}).get("host_key_problem", ""),
    )


def latest_snapshots(cluster: Cluster, depth: int = 1) -> dict[str, list[NodeSnapshot]]:
    """The newest `depth` snapshots of every node, newest first, by node name."""
    result: dict[str, list[NodeSnapshot]] = {}
    for node in Node.objects.filter(cluster=cluster).order_by("name"):
        snaps = NodeSnapshot.objects.filter(node=node).select_related("node")
        result[node.name] = list(snaps.order_by("-collected_at")[:depth])
    return result


def cluster_facts(cluster: Cluster) -> facts.ClusterFacts:
    """Latest facts per node, the previous ones (for counters), and the desired state."""
    from clusters.desired import desired_cluster

    nodes, previous = [], {}
    for name, snaps in latest_snapshots(cluster, depth=2).items():
        if not snaps:
            nodes.append(facts.NodeFacts(name, reachable=False, error="never collected"))
            continue
        nodes.append(node_facts_for(snaps[0]))
        if len(snaps) > 1:
            previous[name] = node_facts_for(snaps[1])
    return facts.ClusterFacts(
        name=cluster.name,
        nodes=nodes,
        previous=previous,
        desired=desired_cluster(cluster),
        reservations_expected=set(
            cluster.devices.filter(uses_reservations=True).values_list("name", flat=True)
        ),
        interrupted_applies=interrupted_applies(cluster),
        now=timezone.now(),
        stale_after=timedelta(seconds=3 * settings.COLLECT_INTERVAL_SECONDS),
    )


def interrupted_applies(cluster: Cluster) -> list[tuple[int, str, list[str]]]:
    """Applies interrupted while writing to nodes, awaiting an operator's reconcile."""
    from clusters.models import Job

    pending = Job.objects.filter(
        cluster=cluster, kind=Job.Kind.APPLY, needs_reconcile=True, reconciled_at=None
    )
    return [
        (
            job.pk,
            job.summary,
            sorted(set(job.steps.filter(writes=True).values_list("node_name", flat=True))),
        )
        for job in pending.order_by("pk")
    ]
