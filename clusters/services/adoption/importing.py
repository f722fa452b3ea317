"""Adoption, step 3: turn the live SCST and DRBD config of the nodes into inventory.

Reads only parsed facts (from a collection); writes inventory rows in one transaction.
What the inventory cannot model is reported, not guessed. Every row passes the same rules
as one typed in (clusters.services.inventory); a live value the portal could not write
back is reported with the field and the value (escaped), and that object is left out,
so the cluster stays monitored for it (compliance reports it too). Where the nodes
differ, the admin's choices (keys from discover.device_key/drbd_key) give the value;
a preview runs the same import in a transaction that is always rolled back.
"""

from dataclasses import dataclass, field

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models, transaction

from clusters import access, audit
from clusters.drbd import DrbdConfigError
from clusters.facts import COPY_MANAGER_DRIVER, NodeFacts
from clusters.models import (
    Cluster,
    DrbdResource,
    DrbdVolume,
    Initiator,
    InitiatorGroup,
    LunMapping,
    Node,
    Role,
    ScstDevice,
    Target,
)
from clusters.scst.attributes import FLAG_ATTRIBUTES, MODELLED_HANDLERS
from clusters.services import inventory
from clusters.services.adoption.discover import (
    choices_needed,
    device_key,
    discovery,
    drbd_key,
    drbd_options,
)
from clusters.services.adoption.errors import AdoptionError


@dataclass
class AdoptionReport:
    created: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def count(self, what: str) -> None:
        self.created[what] = self.created.get(what, 0) + 1


def _shown(value: object) -> str:
    """A live value as it may be shown: escaped, and short."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _create(obj, what: str, report: AdoptionReport):
    """Validate and save `obj`, or report why not (field and message) and return None."""
    try:
        if isinstance(obj, ScstDevice):
            inventory.device_validate(obj)
        else:
            obj.full_clean()
    except ValidationError as exc:
        problems = "; ".join(
            f"{name}: {' '.join(messages)}" for name, messages in exc.message_dict.items()
        )
        report.skipped.append(f"{what}: {problems}")
        return None
    obj.save()
    return obj


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
            resource = _create(
                DrbdResource(
                    cluster=cluster,
                    name=name,
                    port=port,
                    protocol=choices.get(drbd_key(name, "protocol")) or config.protocol or "C",
                    allow_two_primaries=two_primaries == "yes",
                    options=options,
                ),
                f"DRBD resource {_shown(name)}",
                report,
            )
            if resource is None:
                continue
            report.count("DRBD resources")
            resources[name] = resource
            for host in config.hosts:
                node = nodes.get(host.name)
                if node is None:
                    report.skipped.append(
                        f"{name}: host {_shown(host.name)} is not a node of {cluster}"
                    )
                    continue
                for number, volume in enumerate(host.volumes):
                    row = _create(
                        DrbdVolume(
                            resource=resource,
                            node=node,
                            volume=volume.number if volume.number is not None else number,
                            minor=volume.minor,
                            backing_disk=volume.disk,
                            meta_disk=volume.meta_disk,
                        ),
                        f"DRBD {name} volume {number} on {node.name}",
                        report,
                    )
                    if row is not None:
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
                    f"device {_shown(name)}: handler {_shown(handler)} is not managed by the portal"
                )
                continue
            value = _reader(node_facts, name, choices)
            filename = _reader(node_facts, name, {})("filename") or ""
            resource, volume = (None, 0)
            if filename.startswith("/dev/drbd") and filename[9:].isdigit():
                resource, volume = minor_to_resource.get(
                    (node_facts.name, int(filename[9:])), (None, 0)
                )
            device = ScstDevice(
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
                blocksize=_number(value("blocksize"), 512),
                uses_reservations=False,
                **{flag: _number(value(flag), 0) for flag in FLAG_ATTRIBUTES},
            )
            if _create(device, f"device {_shown(name)}", report) is None:
                continue
            devices[name] = device
            report.count("SCST devices")
    return devices


def _number(text: str | None, default: int) -> int:
    """A live number; anything else becomes -1, which the field rules then refuse."""
    if not text:
        return default
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else -1


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
            report.skipped.append(
                f"{node.name}: target driver {_shown(driver.name)} is not managed"
            )
            continue
        for tname, target in sorted(driver.targets.items()):
            row = _create(
                Target(
                    cluster=cluster,
                    node=node,
                    name=tname,
                    rel_tgt_id=rel_ids.get(tname) or 0,
                    enabled=target.attributes.get("enabled") == "1",
                ),
                f"{node.name}: target {_shown(tname)}",
                report,
            )
            if row is None:
                continue
            report.count("targets")
            for number, lun in target.luns.items():
                _map(row, None, number, lun.device, devices, report)
            for gname, group in target.groups.items():
                group_row = _create(
                    InitiatorGroup(target=row, name=gname),
                    f"{node.name}: group {_shown(gname)} of {tname}",
                    report,
                )
                if group_row is None:
                    continue
                report.count("initiator groups")
                for ini in group.initiators:
                    where = f"{node.name}: initiator {_shown(ini)} in {gname}"
                    if _create(Initiator(group=group_row, name=ini), where, report):
                        report.count("initiators")
                for number, lun in group.luns.items():
                    _map(row, group_row, number, lun.device, devices, report)


def _map(target, group, number, device_name, devices, report) -> None:
    device = devices.get(device_name)
    if device is None:
        report.skipped.append(
            f"LUN {number} on {target.name}: device {_shown(device_name)} not imported"
        )
        return
    where = f"LUN {number} on {target.name}"
    if _create(LunMapping(device=device, target=target, group=group, lun=number), where, report):
        report.count("LUN mappings")


def _check_choices(choices: dict[str, str]) -> None:
    """A typed value must be one the inventory can hold (the field's own validators)."""
    errors = []
    for key, value in choices.items():
        kind, _, rest = key.partition(":")
        attr = rest.rpartition(":")[2]
        if kind != "device":
            continue  # DRBD options are checked by rendering them (validate_resource)
        if attr == "handler":
            if value not in MODELLED_HANDLERS:
                errors.append(f"{key}: handler {value!r} is not one the portal manages")
            continue
        try:
            field = ScstDevice._meta.get_field(attr)
            if not isinstance(field, models.Field):  # a reverse relation, e.g. mappings
                raise FieldDoesNotExist(f"ScstDevice has no field named {attr!r}")
            field.clean(value, None)
        except (ValidationError, FieldDoesNotExist) as exc:
            errors.append(f"{key}: {'; '.join(getattr(exc, 'messages', [str(exc)]))}")
    if errors:
        raise AdoptionError("These chosen values cannot be used: " + "; ".join(errors))


@dataclass
class AdoptionPreview:
    """What an import with these choices would store, and what the first apply after
    switching to managed would change on each node (the drift it would leave)."""

    inventory: dict
    changes: list[tuple[str, str, str]]  # (node, object, what the apply would change)
    report: AdoptionReport
    problems: list[str] = field(default_factory=list)


class _DryRun(Exception):
    """Rolls the preview's import back."""


def adoption_preview(cluster: Cluster, choices: dict[str, str]) -> AdoptionPreview:
    """Import inside a transaction that is always rolled back, render it, compare it."""
    from clusters.compliance import drift_rules
    from clusters.desired import desired_cluster
    from clusters.services.facts import cluster_facts

    if cluster.devices.exists() or cluster.drbd_resources.exists():
        raise AdoptionError(f"{cluster.name} already has an inventory; use re-discovery.")
    found = discovery(cluster)
    if found.problems:
        raise AdoptionError("Cannot import yet: " + "; ".join(found.problems))
    _check_choices(choices)
    preview: AdoptionPreview | None = None
    try:
        with transaction.atomic():
            report = inventory_import(cluster, found.nodes, choices)
            try:
                desired_cluster(cluster)
            except DrbdConfigError as exc:
                preview = AdoptionPreview({}, [], report, [f"cannot render: {exc}"])
                raise _DryRun from exc
            facts = cluster_facts(cluster)
            drift = [*drift_rules.scst_drift(facts), *drift_rules.drbd_drift(facts)]
            changes = [
                (d.node or "", item.object_ref.rpartition("@")[0] or item.object_ref, d.text)
                for item in drift
                for d in item.details
            ]
            preview = AdoptionPreview(inventory.inventory_export(cluster), changes, report)
            raise _DryRun
    except _DryRun:
        pass
    assert preview is not None  # every way out of the block above set it
    return preview


def inventory_adopt(
    cluster: Cluster, user, choices: dict[str, str] | None = None
) -> AdoptionReport:
    """Import the discovered config into an empty inventory, then judge it again.

    Where the nodes differ the admin chooses (node A's, node B's, or a typed value):
    nothing is taken from one node silently.
    """
    from clusters.desired import desired_cluster
    from clusters.services.findings import findings_refresh

    choices = choices or {}
    access.require_role(user, cluster, Role.ADMIN)
    if cluster.devices.exists() or cluster.drbd_resources.exists():
        raise AdoptionError(f"{cluster.name} already has an inventory; use re-discovery.")
    found = discovery(cluster)
    if found.problems:
        raise AdoptionError("Cannot import yet: " + "; ".join(found.problems))
    needed = choices_needed(found, choices)
    if needed:
        raise AdoptionError(
            f"The nodes differ in {len(needed)} setting(s); choose node A's, node B's or a "
            "value for each: "
            + "; ".join(f"{r['object']} {r['field']} ({' / '.join(r['values'])})" for r in needed)
        )
    _check_choices(choices)
    with transaction.atomic():
        report = inventory_import(cluster, found.nodes, choices)
        try:
            desired_cluster(cluster)
        except DrbdConfigError as exc:  # raised inside atomic(): nothing is kept
            raise AdoptionError(f"The imported DRBD options cannot be rendered: {exc}") from exc
        after = inventory.inventory_export(cluster)
        audit.record(user, audit.Action.ADOPT, cluster, after={**after, "choices": choices})
    findings_refresh(cluster)
    return report
