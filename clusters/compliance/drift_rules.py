"""Drift: what runs on a node differs from what the inventory says it should run."""

from typing import TypeGuard

from clusters import compare, drbd, scst
from clusters.compliance.catalogue import WARNING, Detail, rule
from clusters.drbd.options import COMPARED_SECTIONS
from clusters.facts import COPY_MANAGER_DRIVER, ClusterFacts, DesiredNode, NodeFacts

WHY = (
    "The portal writes only what it has planned; a node that drifted from the inventory "
    "was changed by hand or by another tool, and the next apply would silently undo it."
)


def _managed(desired: DesiredNode | None) -> TypeGuard[DesiredNode]:
    return desired is not None and bool(desired.scst_config.handlers or desired.drbd_resources)


@rule(
    "DRIFT_SCST",
    WARNING,
    "SCST on a node differs from the inventory",
    WHY,
    "Review the difference on the cluster page; either apply the inventory (plan → apply) "
    "or change the inventory to match the node.",
)
def scst_drift(facts: ClusterFacts):
    for node in facts.with_data():
        desired = facts.desired.get(node.name) if facts.desired else None
        if not _managed(desired) or (node.scst_config is None and node.scst_live is None):
            continue
        for ref, details in scst_differences(node, desired.scst_config):
            yield scst_drift.rule.finding(f"{ref}@{node.name}", *details)


def scst_differences(node: NodeFacts, want: scst.ScstConfig):
    """(object ref, details) for every device, attribute value, target and LUN on the node
    that differs from WANT; attributes are compared by value, defaults included."""
    live_devices = set(node.device_names())
    changed: dict[str, list[Detail]] = {}
    for change in compare.device_attribute_changes(node, want):
        detail = Detail(change.text, change.evidence, node.name)
        changed.setdefault(change.device, []).append(detail)
    for name, live, wanted in compare.handler_changes(node, want):
        detail = Detail(f"handler is {live}, inventory says {wanted}", "", node.name)
        changed.setdefault(name, []).append(detail)
    for handler in want.handlers.values():
        for name in sorted(handler.devices):
            if name not in live_devices:
                yield f"device:{name}", [Detail(f"device {name} is missing", "", node.name)]
            elif name in changed:
                yield f"device:{name}", changed[name]
    wanted_devices = {d for h in want.handlers.values() for d in h.devices}
    for name in sorted(live_devices - wanted_devices):
        yield f"device:{name}", [Detail(f"device {name} is not in the inventory", "", node.name)]
    targets: dict[str, list[Detail]] = {}
    for ref, text in compare.target_differences(node, want):
        targets.setdefault(ref, []).append(Detail(text, "", node.name))
    yield from sorted(targets.items())
    want_luns = _lun_sets(want)
    have_luns = {(t, g, n): d for _, t, g, n, d in node.exported_luns()}
    for key in sorted(set(want_luns) | set(have_luns), key=str):
        if want_luns.get(key) != have_luns.get(key):
            target, group, number = key
            where = f"{target}" + (f" group {group}" if group else "")
            yield (
                f"lun:{where}/{number}",
                [
                    Detail(
                        f"LUN {number} on {where} is {have_luns.get(key) or 'absent'}, "
                        f"inventory says {want_luns.get(key) or 'absent'}",
                        "",
                        node.name,
                    )
                ],
            )


def _lun_sets(cfg: scst.ScstConfig) -> dict[tuple[str, str | None, int], str]:
    luns: dict[tuple[str, str | None, int], str] = {}
    for driver in cfg.drivers.values():
        if driver.name == COPY_MANAGER_DRIVER:
            continue  # SCST maps every device there by itself (see facts.COPY_MANAGER_DRIVER)
        for target in driver.targets.values():
            luns |= {(target.name, None, n): lun.device for n, lun in target.luns.items()}
            for group in target.groups.values():
                luns |= {(target.name, group.name, n): lun.device for n, lun in group.luns.items()}
    return luns


@rule(
    "DRIFT_DRBD",
    WARNING,
    "A DRBD resource on a node differs from the inventory",
    WHY,
    "Review the difference; apply the inventory (plan → apply) or update the inventory.",
)
def drbd_drift(facts: ClusterFacts):
    for node in facts.with_data():
        desired = facts.desired.get(node.name) if facts.desired else None
        if not _managed(desired) or node.drbd_config is None:
            continue
        for name, want in sorted(desired.drbd_resources.items()):
            have = node.drbd_config.get(name)
            if have is None:
                yield drbd_drift.rule.finding(
                    f"resource:{name}@{node.name}",
                    Detail(f"{name} is not in drbdadm dump", "drbdadm dump", node.name),
                )
                continue
            details = [
                Detail(text, "drbdadm dump", node.name) for text in resource_differences(want, have)
            ]
            if details:
                yield drbd_drift.rule.finding(f"resource:{name}@{node.name}", *details)


def _fencing_in_net(res: drbd.ResourceConfig) -> dict[str, dict[str, str]]:
    """The option sections with `fencing` under net: DRBD 8.4 reads it in disk and DRBD 9
    in net (drbdadm 9 moved it), so where it is written is not a difference."""
    sections = {s: dict(getattr(res, s)) for s in COMPARED_SECTIONS}
    if "fencing" in sections["disk"]:
        sections["net"].setdefault("fencing", sections["disk"].pop("fencing"))
    return sections


def resource_differences(want: drbd.ResourceConfig, have: drbd.ResourceConfig) -> list[str]:
    diffs = []
    if want.protocol != have.protocol:
        diffs.append(f"protocol is {have.protocol}, inventory says {want.protocol}")
    placed = {"want": _fencing_in_net(want), "have": _fencing_in_net(have)}
    for section in COMPARED_SECTIONS:
        wanted, actual = placed["want"][section], placed["have"][section]
        for option in sorted(set(wanted) | set(actual)):
            if wanted.get(option) != actual.get(option):
                diffs.append(
                    f"{section} {option} is {actual.get(option, 'absent')}, "
                    f"inventory says {wanted.get(option, 'absent')}"
                )
    want_hosts = {h.name: h for h in want.hosts}
    have_hosts = {h.name: h for h in have.hosts}
    for host in sorted(set(want_hosts) | set(have_hosts)):
        w, h = want_hosts.get(host), have_hosts.get(host)
        if w is None or h is None:
            diffs.append(f"host {host} is {'missing' if h is None else 'not in the inventory'}")
        elif (w.address, [(v.minor, v.disk) for v in w.volumes]) != (
            h.address,
            [(v.minor, v.disk) for v in h.volumes],
        ):
            diffs.append(f"host {host}: address/volumes differ from the inventory")
    return diffs
