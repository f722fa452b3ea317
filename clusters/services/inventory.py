"""Inventory changes the wizard and revisions make: add a LUN, remove a mapping, export and
restore a cluster's storage inventory. Each validates with the models' own rules."""

import secrets
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from clusters.models import (
    Cluster,
    DrbdResource,
    DrbdVolume,
    Initiator,
    InitiatorGroup,
    LunMapping,
    Node,
    ScstDevice,
    Target,
)


def identity_generate(cluster: Cluster, name: str) -> dict[str, str]:
    """A new SCSI identity: t10_dev_id unique in its first 8 characters across the cluster
    (ESXi and Hyper-V compare only those), usn unique, prod_id the device name."""
    taken = {
        t[:8]
        for t in ScstDevice.objects.filter(cluster=cluster).values_list("t10_dev_id", flat=True)
    }
    while True:
        prefix = secrets.token_hex(4)
        if prefix not in taken:
            break
    return {"t10_dev_id": f"{prefix}-{name}"[:24], "usn": prefix, "prod_id": name[:16]}


@dataclass
class LunSpec:
    """What the add-LUN wizard collected; identity is generated once and carried along."""

    device_name: str
    resource: str
    handler: str = ScstDevice.Handler.BLOCKIO
    uses_reservations: bool = False
    blocksize: int = 512
    identity: dict[str, str] = field(default_factory=dict)
    lun: int = 0
    # (target id, group id or None) pairs: the LUN sets on both nodes that export it.
    lun_sets: list[tuple[int, int | None]] = field(default_factory=list)

    def as_json(self) -> dict:
        return {**self.__dict__, "lun_sets": [list(pair) for pair in self.lun_sets]}

    @classmethod
    def from_json(cls, data: dict) -> "LunSpec":
        return cls(**{**data, "lun_sets": [tuple(pair) for pair in data["lun_sets"]]})


@dataclass
class NewResourceSpec:
    """A DRBD resource the add-LUN wizard defines: name, port, and per node (node name,
    minor, backing disk). Its disks were confirmed new and empty by the operator."""

    name: str
    port: int
    volumes: list[tuple[str, int, str]] = field(default_factory=list)

    def as_json(self) -> dict:
        return {**self.__dict__, "volumes": [list(v) for v in self.volumes]}

    @classmethod
    def from_json(cls, data: dict) -> "NewResourceSpec":
        return cls(**{**data, "volumes": [tuple(v) for v in data["volumes"]]})


def drbd_resource_create(cluster: Cluster, spec: NewResourceSpec) -> DrbdResource:
    """Create the resource (protocol C, two primaries) and one volume 0 per node."""
    if DrbdResource.objects.filter(cluster=cluster, name=spec.name).exists():
        raise ValidationError({"name": f"{cluster.name} already has a DRBD resource {spec.name}."})
    if DrbdResource.objects.filter(cluster=cluster, port=spec.port).exists():
        raise ValidationError({"port": f"Port {spec.port} is already used in {cluster.name}."})
    nodes = {n.name: n for n in Node.objects.filter(cluster=cluster)}
    missing = sorted(set(nodes) - {node for node, _, _ in spec.volumes})
    if missing:
        raise ValidationError(f"The new resource {spec.name} has no disk on {', '.join(missing)}.")
    resource = DrbdResource(cluster=cluster, name=spec.name, port=spec.port)
    resource.full_clean()
    resource.save()
    for node_name, minor, disk in spec.volumes:
        if node_name not in nodes:
            raise ValidationError(f"{cluster.name} has no node {node_name}.")
        used = DrbdVolume.objects.filter(node=nodes[node_name], backing_disk=disk).first()
        if used is not None:
            raise ValidationError(
                f"{node_name}: {disk} is already the backing disk of DRBD {used.resource.name}."
            )
        volume = DrbdVolume(
            resource=resource, node=nodes[node_name], minor=minor, backing_disk=disk
        )
        volume.full_clean()
        volume.save()
    return resource


def lun_create(cluster: Cluster, spec: LunSpec) -> ScstDevice:
    """Create the device (safe attributes fixed) and its mappings; ValidationError if not."""
    resource = DrbdResource.objects.filter(cluster=cluster, name=spec.resource).first()
    if resource is None:
        raise ValidationError({"resource": f"No DRBD resource {spec.resource} in {cluster}."})
    device = ScstDevice(
        cluster=cluster,
        name=spec.device_name,
        handler=spec.handler,
        drbd_resource=resource,
        nv_cache=0,
        write_through=1,
        cluster_mode=1 if spec.uses_reservations else 0,
        uses_reservations=spec.uses_reservations,
        blocksize=spec.blocksize,
        **spec.identity,
    )
    device.full_clean()
    device.save()
    for target_id, group_id in spec.lun_sets:
        mapping = LunMapping(device=device, target_id=target_id, group_id=group_id, lun=spec.lun)
        mapping.full_clean()
        mapping.save()
    return device


def lun_mapping_remove(cluster: Cluster, mapping_ids: list[int]) -> list[str]:
    """Remove mappings (and a device left without any); returns what was removed."""
    removed = []
    for mapping in LunMapping.objects.filter(pk__in=mapping_ids, target__cluster=cluster):
        removed.append(str(mapping))
        device = mapping.device
        mapping.delete()
        if not device.mappings.exists():
            removed.append(f"device {device.name}")
            device.delete()
    return removed


def inventory_export(cluster: Cluster) -> dict:
    """The cluster's storage inventory as JSON (nodes and credentials are not included)."""
    return {
        "resources": [
            {
                "name": r.name,
                "port": r.port,
                "protocol": r.protocol,
                "allow_two_primaries": r.allow_two_primaries,
                "options": r.options,
                "volumes": [
                    [v.node.name, v.volume, v.minor, v.backing_disk, v.meta_disk]
                    for v in r.volumes.select_related("node")
                ],
            }
            for r in cluster.drbd_resources.all()
        ],
        "devices": [
            {
                **{f: getattr(d, f) for f in DEVICE_FIELDS},
                "resource": d.drbd_resource.name if d.drbd_resource else None,
            }
            for d in cluster.devices.select_related("drbd_resource")
        ],
        "targets": [
            {
                "node": t.node.name,
                "name": t.name,
                "rel_tgt_id": t.rel_tgt_id,
                "enabled": t.enabled,
                "groups": {g.name: [i.name for i in g.initiators.all()] for g in t.groups.all()},
                "luns": [
                    [m.group.name if m.group else None, m.lun, m.device.name]
                    for m in t.lun_mappings.select_related("group", "device")
                ],
            }
            for t in cluster.targets.select_related("node")
        ],
    }


DEVICE_FIELDS = (
    "name",
    "handler",
    "drbd_volume",
    "t10_dev_id",
    "usn",
    "prod_id",
    "t10_vend_id",
    "eui64_id",
    "naa_id",
    "nv_cache",
    "write_through",
    "cluster_mode",
    "blocksize",
    "rotational",
    "uses_reservations",
)


def inventory_restore(cluster: Cluster, data: dict) -> None:
    """Replace the cluster's storage inventory with an exported one (call in a transaction)."""
    LunMapping.objects.filter(target__cluster=cluster).delete()
    Target.objects.filter(cluster=cluster).delete()
    ScstDevice.objects.filter(cluster=cluster).delete()
    DrbdResource.objects.filter(cluster=cluster).delete()
    nodes = {n.name: n for n in cluster.nodes.all()}
    resources = {}
    for r in data["resources"]:
        res = DrbdResource.objects.create(
            cluster=cluster,
            name=r["name"],
            port=r["port"],
            protocol=r["protocol"],
            allow_two_primaries=r["allow_two_primaries"],
            options=r.get("options") or {},
        )
        resources[res.name] = res
        for node, volume, minor, disk, meta in r["volumes"]:
            DrbdVolume.objects.create(
                resource=res,
                node=nodes[node],
                volume=volume,
                minor=minor,
                backing_disk=disk,
                meta_disk=meta,
            )
    devices = {}
    for d in data["devices"]:
        fields = {f: d[f] for f in DEVICE_FIELDS}
        devices[d["name"]] = ScstDevice.objects.create(
            cluster=cluster, drbd_resource=resources.get(d["resource"]), **fields
        )
    for t in data["targets"]:
        target = Target.objects.create(
            cluster=cluster,
            node=nodes[t["node"]],
            name=t["name"],
            rel_tgt_id=t["rel_tgt_id"],
            enabled=t["enabled"],
        )
        groups = {}
        for gname, initiators in t["groups"].items():
            groups[gname] = InitiatorGroup.objects.create(target=target, name=gname)
            for ini in initiators:
                Initiator.objects.create(group=groups[gname], name=ini)
        for gname, lun, device in t["luns"]:
            LunMapping.objects.create(
                device=devices[device], target=target, group=groups.get(gname), lun=lun
            )
