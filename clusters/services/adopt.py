"""Adopt a running cluster: turn the live SCST and DRBD config of its nodes into inventory.

Reads only parsed facts (from a collection); writes inventory rows in one transaction.
What the inventory cannot model is reported, not guessed.
"""

from dataclasses import dataclass, field

from django.db import transaction

from clusters.facts import COPY_MANAGER_DRIVER, NodeFacts
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

MODELLED_HANDLERS = {"vdisk_blockio", "vdisk_fileio"}
FLAGS = ("nv_cache", "write_through", "cluster_mode", "rotational")


@dataclass
class AdoptionReport:
    created: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def count(self, what: str) -> None:
        self.created[what] = self.created.get(what, 0) + 1


def device_key(device: str, attr: str) -> str:
    """The choice key of a device setting where the nodes differ."""
    return f"device:{device}:{attr}"


def drbd_key(resource: str, section: str, option: str = "") -> str:
    """The choice key of a DRBD setting (`protocol`, or SECTION and OPTION)."""
    return f"drbd:{resource}:{section}" + (f":{option}" if option else "")


def drbd_options(config) -> dict[str, dict[str, str]]:
    """Every option section of a resource as `drbdadm dump` shows it (protocol and
    allow-two-primaries have their own fields)."""
    return {
        "net": {k: v for k, v in config.net.items() if k != "allow-two-primaries"},
        "disk": dict(config.disk),
        "handlers": dict(config.handlers),
        "startup": dict(config.startup),
        "options": dict(config.options),
    }


@transaction.atomic
def inventory_import(
    cluster: Cluster, facts: list[NodeFacts], choices: dict[str, str] | None = None
) -> AdoptionReport:
    """Create resources, devices, targets, groups and LUNs found on the nodes.

    Where the nodes differ, CHOICES (keys from device_key/drbd_key) give the value.
    """
    report = AdoptionReport()
    choices = choices or {}
    nodes = {n.name: n for n in Node.objects.filter(cluster=cluster)}
    resources = _import_drbd(cluster, facts, nodes, report, choices)
    devices = _import_devices(cluster, facts, nodes, resources, report, choices)
    for node_facts in facts:
        if node_facts.name in nodes and node_facts.scst_config is not None:
            _import_targets(cluster, nodes[node_facts.name], node_facts, devices, report)
    return report


def _import_drbd(cluster, facts, nodes, report, choices) -> dict[str, DrbdResource]:
    resources: dict[str, DrbdResource] = {}
    for node_facts in facts:
        for name, config in sorted((node_facts.drbd_config or {}).items()):
            if name in resources:
                continue
            port = next((h.address.port for h in config.hosts if h.address), None)
            if port is None:
                report.skipped.append(f"DRBD resource {name}: no address in its config")
                continue
            options = drbd_options(config)
            for section, values in options.items():
                names = {o for n in facts for o in _sections(n, name).get(section, {})}
                for option in sorted(names):
                    chosen = choices.get(drbd_key(name, section, option))
                    if chosen == "":
                        values.pop(option, None)  # chosen: absent
                    elif chosen is not None:
                        values[option] = chosen
            two_primaries = choices.get(
                drbd_key(name, "net", "allow-two-primaries"), config.net.get("allow-two-primaries")
            )
            resource = DrbdResource.objects.create(
                cluster=cluster,
                name=name,
                port=port,
                protocol=choices.get(drbd_key(name, "protocol")) or config.protocol or "C",
                allow_two_primaries=two_primaries == "yes",
                options=options,
            )
            report.count("DRBD resources")
            resources[name] = resource
            for host in config.hosts:
                node = nodes.get(host.name)
                if node is None:
                    report.skipped.append(f"{name}: host {host.name} is not a node of {cluster}")
                    continue
                for number, volume in enumerate(host.volumes):
                    DrbdVolume.objects.create(
                        resource=resource,
                        node=node,
                        volume=volume.number if volume.number is not None else number,
                        minor=volume.minor,
                        backing_disk=volume.disk,
                        meta_disk=volume.meta_disk,
                    )
                    report.count("DRBD volumes")
    return resources


def _sections(node_facts: NodeFacts, resource: str) -> dict[str, dict[str, str]]:
    config = (node_facts.drbd_config or {}).get(resource)
    return drbd_options(config) if config is not None else {}


def _import_devices(cluster, facts, nodes, resources, report, choices) -> dict[str, ScstDevice]:
    devices: dict[str, ScstDevice] = {}
    minor_to_resource = {
        (v.node.name, v.minor): (v.resource, v.volume)
        for v in DrbdVolume.objects.filter(resource__cluster=cluster).select_related(
            "node", "resource"
        )
    }
    for node_facts in facts:
        for name in node_facts.device_names():
            if name in devices:
                continue
            handler = choices.get(device_key(name, "handler")) or node_facts.device_handler(name)
            if handler not in MODELLED_HANDLERS:
                report.skipped.append(
                    f"device {name}: handler {handler} is not managed by the portal"
                )
                continue
            value = _reader(node_facts, name, choices)
            filename = _reader(node_facts, name, {})("filename") or ""
            resource, volume = (None, 0)
            if filename.startswith("/dev/drbd") and filename[9:].isdigit():
                resource, volume = minor_to_resource.get(
                    (node_facts.name, int(filename[9:])), (None, 0)
                )
            devices[name] = ScstDevice.objects.create(
                cluster=cluster,
                name=name,
                handler=handler,
                drbd_resource=resource,
                drbd_volume=volume,
                t10_dev_id=value("t10_dev_id") or name[:24],
                usn=value("usn") or name[:20],
                prod_id=value("prod_id") or name[:16],
                t10_vend_id=value("t10_vend_id")
                if _is_set(node_facts, name, "t10_vend_id")
                or device_key(name, "t10_vend_id") in choices
                else "",
                eui64_id=value("eui64_id") or "",
                naa_id=value("naa_id") or "",
                blocksize=int(value("blocksize") or 512),
                uses_reservations=False,
                **{flag: int(value(flag) or 0) for flag in FLAGS},
            )
            report.count("SCST devices")
    return devices


def _reader(node_facts: NodeFacts, device: str, choices: dict[str, str]):
    """A device attribute: the admin's choice where the nodes differ, else the node's."""

    def value(attr: str) -> str | None:
        chosen = choices.get(device_key(device, attr))
        return chosen if chosen is not None else node_facts.device_attribute(device, attr).value

    return value


def _is_set(node_facts: NodeFacts, device: str, attr: str) -> bool:
    """True when the attribute differs from its default (a [key] value)."""
    found = node_facts.scst_config.find_device(device) if node_facts.scst_config else None
    return bool(found and found[1].attributes.get(attr) is not None)


def _import_targets(cluster, node, node_facts, devices, report) -> None:
    rel_ids = node_facts.target_rel_tgt_ids()
    for driver in node_facts.scst_config.drivers.values():
        if driver.name == COPY_MANAGER_DRIVER:
            continue  # SCST's own, on every node; its LUNs are automatic (facts.py)
        if driver.name != "iscsi":
            report.skipped.append(f"{node.name}: target driver {driver.name} is not managed")
            continue
        for tname, target in sorted(driver.targets.items()):
            row = Target.objects.create(
                cluster=cluster,
                node=node,
                name=tname,
                rel_tgt_id=rel_ids.get(tname) or 0,
                enabled=target.attributes.get("enabled") == "1",
            )
            report.count("targets")
            for number, lun in target.luns.items():
                _map(row, None, number, lun.device, devices, report)
            for gname, group in target.groups.items():
                group_row = InitiatorGroup.objects.create(target=row, name=gname)
                report.count("initiator groups")
                for ini in group.initiators:
                    Initiator.objects.create(group=group_row, name=ini)
                    report.count("initiators")
                for number, lun in group.luns.items():
                    _map(row, group_row, number, lun.device, devices, report)


def _map(target, group, number, device_name, devices, report) -> None:
    device = devices.get(device_name)
    if device is None:
        report.skipped.append(f"LUN {number} on {target.name}: device {device_name} not imported")
        return
    LunMapping.objects.create(device=device, target=target, group=group, lun=number)
    report.count("LUN mappings")
