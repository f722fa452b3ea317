"""A fleet of clusters for page-scale tests and benchmarks: copies of one real cluster.

The template is a lab cluster that was collected, adopted and evaluated (real snapshots,
inventory and findings); `fleet_of` copies its inventory, its nodes' latest snapshots and
its open findings under new names with bulk inserts, so hundreds of clusters cost seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import contextmanager

from django.db import models, transaction

from clusters.models import (
    Cluster,
    DrbdResource,
    DrbdVolume,
    Finding,
    Initiator,
    InitiatorGroup,
    LunMapping,
    Node,
    NodeSnapshot,
    ScstDevice,
    Target,
)


@contextmanager
def lab_resources(count: int):
    """Labs created inside get COUNT DRBD resources (r0, r1, …), each exported as a LUN."""
    from lab import api

    saved = api.RESOURCES
    api.RESOURCES = tuple(f"r{i}" for i in range(count))
    try:
        yield
    finally:
        api.RESOURCES = saved


def _copy(
    model: type[models.Model], rows: Iterable[models.Model], change: Callable[[dict], None]
) -> dict[int, int]:
    """Insert a copy of every row (CHANGE edits its field values); old pk → new pk."""
    rows = list(rows)
    copies = []
    for row in rows:
        values = {f.attname: getattr(row, f.attname) for f in model._meta.concrete_fields}
        values.pop(model._meta.pk.attname)
        change(values)
        copies.append(model(**values))
    created = model._default_manager.bulk_create(copies)
    return {old.pk: new.pk for old, new in zip(rows, created, strict=True)}


@transaction.atomic
def clone_cluster(template: Cluster, name: str, first_port: int) -> Cluster:
    """TEMPLATE's inventory, latest two snapshots per node and open findings under NAME."""
    tname = template.name

    def renamed(value: str) -> str:
        return value.replace(tname, name)

    (cluster_id,) = _copy(Cluster, [template], lambda v: v.update(name=name)).values()
    nodes = list(Node.objects.filter(cluster=template).order_by("pk"))
    ports = iter(range(first_port, first_port + len(nodes)))
    node_ids = _copy(
        Node,
        nodes,
        lambda v: v.update(
            cluster_id=cluster_id,
            name=renamed(v["name"]),
            ssh_port=next(ports),
            outcome_unknown_job_id=None,
        ),
    )
    resource_ids = _copy(
        DrbdResource,
        DrbdResource.objects.filter(cluster=template),
        lambda v: v.update(cluster_id=cluster_id),
    )
    _copy(
        DrbdVolume,
        DrbdVolume.objects.filter(resource__cluster=template),
        lambda v: v.update(
            resource_id=resource_ids[v["resource_id"]], node_id=node_ids[v["node_id"]]
        ),
    )
    device_ids = _copy(
        ScstDevice,
        ScstDevice.objects.filter(cluster=template),
        lambda v: v.update(
            cluster_id=cluster_id,
            drbd_resource_id=resource_ids.get(v["drbd_resource_id"]),
        ),
    )
    target_ids = _copy(
        Target,
        Target.objects.filter(cluster=template),
        lambda v: v.update(
            cluster_id=cluster_id, node_id=node_ids[v["node_id"]], name=renamed(v["name"])
        ),
    )
    group_ids = _copy(
        InitiatorGroup,
        InitiatorGroup.objects.filter(target__cluster=template),
        lambda v: v.update(target_id=target_ids[v["target_id"]]),
    )
    _copy(
        Initiator,
        Initiator.objects.filter(group__target__cluster=template),
        lambda v: v.update(group_id=group_ids[v["group_id"]]),
    )
    _copy(
        LunMapping,
        LunMapping.objects.filter(target__cluster=template),
        lambda v: v.update(
            device_id=device_ids[v["device_id"]],
            target_id=target_ids[v["target_id"]],
            group_id=group_ids.get(v["group_id"]),
        ),
    )
    latest = []
    for node in nodes:
        latest += list(NodeSnapshot.objects.filter(node=node).order_by("-collected_at")[:2])
    _copy(NodeSnapshot, latest, lambda v: v.update(node_id=node_ids[v["node_id"]], job_id=None))
    _copy(
        Finding,
        Finding.objects.filter(cluster=template, resolved_at=None),
        lambda v: v.update(cluster_id=cluster_id, object_ref=renamed(v["object_ref"])),
    )
    return Cluster.objects.get(pk=cluster_id)


def fleet_of(template: Cluster, size: int, first_port: int = 2000) -> list[Cluster]:
    """TEMPLATE and SIZE - 1 copies of it; their nodes get ports from FIRST_PORT on (below
    the ephemeral range that lab nodes listen in)."""
    per_cluster = template.nodes.count()
    copies = [
        clone_cluster(template, f"{template.name}-{i:03d}", first_port + i * per_cluster)
        for i in range(1, size)
    ]
    return [template, *copies]
