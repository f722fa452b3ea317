"""Inventory changes the wizard and revisions make: add a LUN, remove a mapping, export and
restore a cluster's storage inventory. Each validates with the models' own rules (whose
field validators carry the renderers' rules, clusters/validators.py) and the rules that
span objects here, before anything is saved; a refusal is a ValidationError naming the
field."""

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction

from clusters import drbd
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
from clusters.scst.attributes import FLAG_ATTRIBUTES, INVENTORY_DEVICE_ATTRIBUTES
from clusters.validators import validate_drbd_resource_name

if TYPE_CHECKING:
    from clusters.services.change_kinds import Change


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
    resource = DrbdResource(cluster=cluster, name=spec.name, port=spec.port)
    resource.clean_fields(exclude=["cluster"])  # the field rules before any query uses them
    if DrbdResource.objects.filter(cluster=cluster, name=spec.name).exists():
        raise ValidationError({"name": f"{cluster.name} already has a DRBD resource {spec.name}."})
    if DrbdResource.objects.filter(cluster=cluster, port=spec.port).exists():
        raise ValidationError({"port": f"Port {spec.port} is already used in {cluster.name}."})
    nodes = {n.name: n for n in Node.objects.filter(cluster=cluster)}
    missing = sorted(set(nodes) - {node for node, _, _ in spec.volumes})
    if missing:
        raise ValidationError(f"The new resource {spec.name} has no disk on {', '.join(missing)}.")
    resource.full_clean()
    resource.save()
    for node_name, minor, disk in spec.volumes:
        if node_name not in nodes:
            raise ValidationError(f"{cluster.name} has no node {node_name}.")
        volume = DrbdVolume(
            resource=resource, node=nodes[node_name], minor=minor, backing_disk=disk
        )
        volume.full_clean()
        used = DrbdVolume.objects.filter(node=nodes[node_name], backing_disk=disk).first()
        if used is not None:
            raise ValidationError(
                {
                    "backing_disk": f"{node_name}: {disk} is already the backing disk of "
                    f"DRBD {used.resource.name}."
                }
            )
        volume.save()
    return resource


def device_backing_check(device: ScstDevice) -> None:
    """One backing device, one identity: a DRBD volume backs at most one SCST device.
    Two devices on one /dev/drbdN present two SCSI identities for the same blocks, and
    initiators writing through both corrupt the data."""
    if device.drbd_resource is None:
        return
    other = (
        ScstDevice.objects.filter(
            drbd_resource_id=device.drbd_resource_id, drbd_volume=device.drbd_volume
        )
        .exclude(pk=device.pk)
        .first()
    )
    if other is not None:
        raise ValidationError(
            {
                "drbd_resource": f"DRBD resource {device.drbd_resource.name} volume "
                f"{device.drbd_volume} already backs device {other.name}: one backing "
                "device can carry only one SCSI identity."
            }
        )


def device_validate(device: ScstDevice) -> None:
    """Every rule for a device: its fields, then the one-identity-per-backing rule.

    The field rules run first on their own: ScstDevice.clean queries with t10_dev_id,
    and a value PostgreSQL cannot hold (NUL) must be refused before it reaches a query.
    """
    device.clean_fields()
    device.full_clean()
    device_backing_check(device)


def _lun_set_check(cluster: Cluster, target_id: object, group_id: object) -> None:
    if (
        not isinstance(target_id, int)
        or not Target.objects.filter(pk=target_id, cluster=cluster).exists()
    ):
        raise ValidationError({"lun_sets": f"{cluster.name} has no target with id {target_id}."})
    if group_id is not None and not (
        isinstance(group_id, int)
        and InitiatorGroup.objects.filter(pk=group_id, target_id=target_id).exists()
    ):
        raise ValidationError(
            {"lun_sets": f"Target {target_id} of {cluster.name} has no group with id {group_id}."}
        )


def lun_create(cluster: Cluster, spec: LunSpec) -> ScstDevice:
    """Create the device (safe attributes fixed) and its mappings; ValidationError if not."""
    try:
        validate_drbd_resource_name(spec.resource)
    except ValidationError as exc:
        raise ValidationError({"resource": exc.messages}) from exc
    resource = DrbdResource.objects.filter(cluster=cluster, name=spec.resource).first()
    if resource is None:
        raise ValidationError({"resource": f"No DRBD resource {spec.resource} in {cluster}."})
    for target_id, group_id in spec.lun_sets:
        _lun_set_check(cluster, target_id, group_id)
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
    try:
        device_validate(device)
    except ValidationError as exc:
        if hasattr(exc, "error_dict") and "drbd_resource" in exc.error_dict:
            exc.error_dict["resource"] = exc.error_dict.pop("drbd_resource")
        if hasattr(exc, "error_dict") and "name" in exc.error_dict:
            exc.error_dict["device_name"] = exc.error_dict.pop("name")
        raise
    device.save()
    for target_id, group_id in spec.lun_sets:
        mapping = LunMapping(device=device, target_id=target_id, group_id=group_id, lun=spec.lun)
        mapping.full_clean()
        mapping.save()
    return device


def desired_check(cluster: Cluster) -> None:
    """The inventory renders into files for every node, or a ValidationError says why."""
    from clusters.desired import desired_cluster

    try:
        desired_cluster(cluster)
    except (ValueError, drbd.DrbdConfigError) as exc:
        raise ValidationError(f"The inventory cannot be written to the nodes: {exc}") from exc


def change_check(cluster: Cluster, change: "Change") -> None:
    """Refuse a change the inventory would not accept, before it is planned: applied in a
    transaction that is rolled back, then rendered. ValidationError names the field."""
    with transaction.atomic():
        change.apply_to(cluster)
        desired_check(cluster)
        transaction.set_rollback(True)


def lun_edit(
    cluster: Cluster,
    device_name: str,
    values: dict,
    lun: int | None = None,
    initiators: dict | None = None,
) -> ScstDevice:
    """Edit a device's identity and attributes, its LUN number on every LUN set, and the
    initiators of groups that export it; ValidationError if the result is invalid."""
    device = ScstDevice.objects.filter(cluster=cluster, name=device_name).first()
    if device is None:
        raise ValidationError({"device": f"No device {device_name} in {cluster}."})
    for name, value in values.items():
        setattr(device, name, int(value) if name in FLAG_ATTRIBUTES else value)
    device.full_clean()
    device.save()
    if lun is not None:
        for mapping in device.mappings.all():
            mapping.lun = lun
            mapping.full_clean()
            mapping.save()
    groups = {m.group_id for m in device.mappings.all() if m.group_id}
    for group_id, names in (initiators or {}).items():
        if int(group_id) not in groups:
            raise ValidationError(f"Group {group_id} does not export {device_name}.")
        group = InitiatorGroup.objects.get(pk=group_id)
        group.initiators.exclude(name__in=names).delete()
        for name in names:
            if not group.initiators.filter(name=name).exists():
                initiator = Initiator(group=group, name=name)
                initiator.full_clean()
                initiator.save()
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
    *INVENTORY_DEVICE_ATTRIBUTES,
    "uses_reservations",
)


def inventory_restore(cluster: Cluster, data: dict) -> None:
    """Replace the cluster's storage inventory with an exported one (call in a transaction).

    Every object passes the same rules as a new one; a revision that no longer does is
    refused with a ValidationError naming the object and field (the caller rolls back).
    """
    try:
        _restore(cluster, data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(
            {"revision": f"The revision's inventory is malformed ({exc!r}); it cannot be restored."}
        ) from exc


def _saved(obj, what: str):
    """full_clean, then save; a refusal names the object it is about."""
    try:
        if isinstance(obj, ScstDevice):
            device_validate(obj)
        else:
            obj.full_clean()
    except ValidationError as exc:
        raise ValidationError(
            {f"{what}.{field}": messages for field, messages in exc.message_dict.items()}
        ) from exc
    obj.save()
    return obj


def _restore(cluster: Cluster, data: dict) -> None:
    LunMapping.objects.filter(target__cluster=cluster).delete()
    Target.objects.filter(cluster=cluster).delete()
    ScstDevice.objects.filter(cluster=cluster).delete()
    DrbdResource.objects.filter(cluster=cluster).delete()
    nodes = {n.name: n for n in cluster.nodes.all()}
    resources = {}
    for r in data["resources"]:
        res = _saved(
            DrbdResource(
                cluster=cluster,
                name=r["name"],
                port=r["port"],
                protocol=r["protocol"],
                allow_two_primaries=r["allow_two_primaries"],
                options=r.get("options") or {},
            ),
            f"resource {str(r['name'])[:60]!r}",
        )
        resources[res.name] = res
        for node, volume, minor, disk, meta in r["volumes"]:
            _saved(
                DrbdVolume(
                    resource=res,
                    node=nodes[node],
                    volume=volume,
                    minor=minor,
                    backing_disk=disk,
                    meta_disk=meta,
                ),
                f"resource {res.name} volume {volume} on {node}",
            )
    devices = {}
    for d in data["devices"]:
        fields = {f: d[f] for f in DEVICE_FIELDS}
        devices[d["name"]] = _saved(
            ScstDevice(cluster=cluster, drbd_resource=resources.get(d["resource"]), **fields),
            f"device {str(d['name'])[:60]!r}",
        )
    for t in data["targets"]:
        target = _saved(
            Target(
                cluster=cluster,
                node=nodes[t["node"]],
                name=t["name"],
                rel_tgt_id=t["rel_tgt_id"],
                enabled=t["enabled"],
            ),
            f"target {str(t['name'])[:60]!r}",
        )
        groups = {}
        for gname, initiators in t["groups"].items():
            groups[gname] = _saved(
                InitiatorGroup(target=target, name=gname), f"group {str(gname)[:60]!r}"
            )
            for ini in initiators:
                _saved(Initiator(group=groups[gname], name=ini), f"initiator {str(ini)[:60]!r}")
        for gname, lun, device in t["luns"]:
            _saved(
                LunMapping(device=devices[device], target=target, group=groups.get(gname), lun=lun),
                f"LUN {lun} on {target.name}",
            )
