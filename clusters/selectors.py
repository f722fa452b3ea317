"""Read-only queries the pages use (fetching, never changing)."""

from django.db.models import Count, Prefetch, QuerySet

from clusters.models import (
    Cluster,
    DrbdResource,
    DrbdVolume,
    InitiatorGroup,
    LunMapping,
    Node,
    ScstDevice,
    Target,
)


def cluster_rows(clusters: QuerySet[Cluster]) -> QuerySet[Cluster]:
    """Clusters with the counts the list shows, in one query."""
    return clusters.annotate(
        node_count=Count("nodes", distinct=True),
        resource_count=Count("drbd_resources", distinct=True),
        device_count=Count("devices", distinct=True),
    ).order_by("name")


def cluster_inventory(cluster: Cluster) -> dict:
    """Everything the cluster page shows, with related rows prefetched."""
    nodes = Node.objects.filter(cluster=cluster).select_related("credential")
    resources = DrbdResource.objects.filter(cluster=cluster).prefetch_related(
        Prefetch("volumes", queryset=DrbdVolume.objects.select_related("node"))
    )
    devices = ScstDevice.objects.filter(cluster=cluster).select_related("drbd_resource")
    targets = (
        Target.objects.filter(cluster=cluster)
        .select_related("node")
        .prefetch_related(
            Prefetch("groups", queryset=InitiatorGroup.objects.prefetch_related("initiators"))
        )
    )
    mappings = LunMapping.objects.filter(target__cluster=cluster).select_related(
        "device", "target__node", "group"
    )
    return {
        "nodes": nodes,
        "resources": resources,
        "devices": devices,
        "targets": targets,
        "mappings": mappings,
    }
