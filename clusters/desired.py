"""Inventory → what every node of a cluster should run: scst.conf and DRBD .res files.

Both nodes get identical SCSI identity for every device (README.dlm: the same
t10_dev_id everywhere) and each device's filename is that node's own DRBD device.
Attributes equal to SCST's defaults are left out, exactly as `scstadmin -write_config`
leaves them out, so that a rendered file and a node's running config compare line by
line.
"""

from django.db.models import Prefetch

from clusters import drbd, scst
from clusters.drbd.options import OPTION_SECTIONS
from clusters.drbd.render import FENCING, HANDLERS_9, HANDLERS_84, SPLIT_BRAIN_POLICY
from clusters.facts import DesiredNode
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
from clusters.paths import resource_file
from clusters.scst.attributes import MODELLED_DEVICE_ATTRIBUTES, SETUP_ID_DERIVED_ATTRIBUTES


def drbd_resource_config(
    resource: DrbdResource, nodes: list[Node], version: str
) -> drbd.ResourceConfig:
    """The resource as both nodes' .res file describes it: the options adoption imported,
    else the safe dual-primary defaults."""
    net = {"allow-two-primaries": "yes" if resource.allow_two_primaries else "no"}
    options: dict[str, str] = {}
    if resource.options:
        net, disk, handlers, startup, options = imported_sections(resource, version)
    else:
        net |= SPLIT_BRAIN_POLICY
        disk, startup = {}, {}
        if version == "8.4":
            disk["fencing"], handlers = FENCING, dict(HANDLERS_84)
            if resource.allow_two_primaries:
                startup["become-primary-on"] = "both"
        else:
            net["fencing"], handlers = FENCING, dict(HANDLERS_9)
    volumes = {(v.node_id, v.volume): v for v in resource.volumes.all()}
    numbered = len({number for _, number in volumes}) > 1
    hosts = []
    for node in sorted(nodes, key=lambda n: n.drbd_node_id):
        node_volumes = sorted(
            (v for (nid, _), v in volumes.items() if nid == node.pk), key=lambda v: v.volume
        )
        hosts.append(
            drbd.HostSection(
                name=node.name,
                node_id=node.drbd_node_id if version != "8.4" else None,
                volumes=[
                    drbd.VolumeConfig(
                        v.volume if numbered else None,
                        v.device,
                        v.minor,
                        v.backing_disk,
                        v.meta_disk,
                    )
                    for v in node_volumes
                ],
                address=_address(node.drbd_address, resource.port),
            )
        )
    return drbd.ResourceConfig(
        resource.name,
        hosts,
        resource.protocol,
        net=net,
        disk=disk,
        handlers=handlers,
        startup=startup,
        options=options,
    )


def imported_sections(resource: DrbdResource, version: str) -> tuple[dict, ...]:
    """(net, disk, handlers, startup, options) as adoption read them from the nodes.

    `fencing` is one setting that DRBD 8.4 reads in `disk` and DRBD 9 in `net`
    (drbdadm 9 moved it): it is written where the cluster's version reads it.
    """
    sections = {k: dict(resource.options.get(k) or {}) for k in OPTION_SECTIONS}
    net = {"allow-two-primaries": "yes" if resource.allow_two_primaries else "no"}
    net |= {k: v for k, v in sections["net"].items() if k != "allow-two-primaries"}
    disk = sections["disk"]
    fencing = net.pop("fencing", None) or disk.pop("fencing", None)
    if fencing is not None:
        (disk if version == "8.4" else net)["fencing"] = fencing
    return net, disk, sections["handlers"], sections["startup"], sections["options"]


def _address(ip: str, port: int) -> drbd.Address:
    family = "ipv6" if ":" in ip else "ipv4"
    return drbd.Address(family, ip, port)


def _device_attributes(device: ScstDevice, filename: str) -> scst.Attributes:
    """Only values SCST would mark [key] (non-default), in scstadmin's way."""
    wanted = {
        name: filename if name == "filename" else str(getattr(device, name))
        for name in MODELLED_DEVICE_ATTRIBUTES
    }
    attrs = scst.Attributes()
    for name, value in wanted.items():
        # t10_dev_id and usn default to values derived from the node's setup_id, so they
        # are always written (both nodes then present the same identity). Other values
        # equal to their default are left out: scstadmin -config skips a value the device
        # already has ("already set"), so SCST never marks it [key] and -write_config never
        # writes it, and a file that carried it would differ from every running config.
        explicit = name in SETUP_ID_DERIVED_ATTRIBUTES
        if value and (
            explicit or value != scst.default_device_attribute(device.handler, device.name, name)
        ):
            attrs.add(name, value)
    return attrs


def scst_config_for(
    node: Node, devices: list[ScstDevice], targets: list[Target]
) -> scst.ScstConfig:
    """The node's scst.conf model: its devices on its DRBD minors, its targets and LUNs."""
    cfg = scst.ScstConfig()
    minors: dict[tuple[int | None, int], str] = {
        (v.resource_id, v.volume): v.device for v in node.drbd_volumes.all()
    }
    for device in devices:
        filename = minors.get((device.drbd_resource_id, device.drbd_volume), "")
        handler = cfg.handlers.setdefault(device.handler, scst.Handler(device.handler))
        handler.devices[device.name] = scst.Device(
            device.name, _device_attributes(device, filename)
        )
    node_targets = [t for t in targets if t.node_id == node.pk]
    if node_targets:
        driver = scst.TargetDriver("iscsi", scst.Attributes([scst.Attribute("enabled", "1")]))
        cfg.drivers["iscsi"] = driver
        for target in node_targets:
            driver.targets[target.name] = _target(target)
    return cfg


def _target(target: Target) -> scst.Target:
    attrs = scst.Attributes([scst.Attribute("rel_tgt_id", str(target.rel_tgt_id))])
    if target.enabled:
        attrs.add("enabled", "1")
    model = scst.Target(target.name, attrs)
    for mapping in target.lun_mappings.all():
        if mapping.group_id is None:
            model.luns[mapping.lun] = scst.Lun(mapping.lun, mapping.device.name)
    for group in target.groups.all():
        model.groups[group.name] = scst.InitiatorGroup(
            group.name,
            luns={m.lun: scst.Lun(m.lun, m.device.name) for m in group.lun_mappings.all()},
            initiators={i.name: scst.Initiator(i.name) for i in group.initiators.all()},
        )
    return model


def desired_cluster(cluster: Cluster) -> dict[str, DesiredNode]:
    """Per node name: the scst.conf and .res files the inventory asks for."""
    nodes = list(Node.objects.filter(cluster=cluster).prefetch_related("drbd_volumes"))
    resources = list(
        DrbdResource.objects.filter(cluster=cluster).prefetch_related(
            Prefetch("volumes", queryset=DrbdVolume.objects.all())
        )
    )
    devices = list(ScstDevice.objects.filter(cluster=cluster).order_by("name"))
    mappings = LunMapping.objects.select_related("device")
    targets = list(
        Target.objects.filter(cluster=cluster).prefetch_related(
            Prefetch("lun_mappings", queryset=mappings),
            Prefetch(
                "groups",
                queryset=InitiatorGroup.objects.prefetch_related(
                    Prefetch("lun_mappings", queryset=mappings), "initiators"
                ),
            ),
        )
    )
    version = cluster.drbd_version
    res_configs = {r.name: drbd_resource_config(r, nodes, version) for r in resources}
    files = {name: drbd.render_resource(cfg, version) for name, cfg in res_configs.items()}
    desired = {}
    for node in nodes:
        scst_cfg = scst_config_for(node, devices, targets)
        desired[node.name] = DesiredNode(
            scst_config=scst_cfg,
            drbd_resources=res_configs,
            drbd_files={resource_file(name): text for name, text in files.items()},
            scst_file=scst.render_config(scst_cfg),
        )
    return desired
