"""SCST device, identity and target rules for DRBD dual-primary exports."""

from collections import defaultdict

from clusters import stack
from clusters.compliance.catalogue import (
    CRITICAL,
    README_DLM,
    README_DRBD,
    WARNING,
    Detail,
    rule,
)
from clusters.facts import DRBD_DEVICE_PREFIXES, ClusterFacts, NodeFacts
from clusters.scst.attributes import IDENTITY_ATTRIBUTES

SAFE_HANDLERS = ("vdisk_blockio", "vdisk_fileio")


def _drbd_backed(node: NodeFacts, facts: ClusterFacts) -> list[str]:
    """Devices on this node that export a DRBD device (or that the inventory says should)."""
    desired = facts.desired.get(node.name) if facts.desired else None
    wanted = set()
    if desired is not None:
        for handler in desired.scst_config.handlers.values():
            wanted |= set(handler.devices)
    names = []
    for device in node.device_names():
        filename = node.device_attribute(device, "filename").value or ""
        if device in wanted or filename.startswith(DRBD_DEVICE_PREFIXES):
            names.append(device)
    return names


@rule(
    "SCST_HANDLER_UNSAFE",
    CRITICAL,
    "A LUN of both nodes (or a DRBD device) uses a handler other than vdisk_blockio or "
    "vdisk_fileio",
    f"{README_DRBD}: export DRBD devices with vdisk_blockio or vdisk_fileio only. A LUN "
    "that both nodes export is one LUN to the initiators, and only DRBD under one of those "
    "handlers keeps its two paths one disk (vdisk_nullio, for one, stores nothing).",
    "Re-create the device under HANDLER vdisk_blockio (recommended) on its DRBD device, "
    "with the same t10_dev_id/usn, on both nodes; or unmap it from one node.",
)
def handler_unsafe(facts: ClusterFacts):
    for node in facts.with_data():
        drbd_backed = set(_drbd_backed(node, facts))
        for device in sorted(drbd_backed | _exported_by_both(facts, node)):
            handler = node.device_handler(device)
            if handler and handler not in SAFE_HANDLERS:
                why = "" if device in drbd_backed else ", a LUN both nodes export,"
                yield handler_unsafe.rule.finding(
                    f"device:{device}",
                    Detail(
                        f"{device}{why} uses {handler}",
                        f"handler of {device} is {handler}",
                        node.name,
                    ),
                )


def _exported_by_both(facts: ClusterFacts, node: NodeFacts) -> set[str]:
    """Devices NODE exports as a LUN that another read node exports too."""
    mine = {row[4] for row in node.exported_luns() if row[4]}
    others = set()
    for other in facts.with_data():
        if other.name != node.name:
            others |= {row[4] for row in other.exported_luns() if row[4]}
    return mine & others


def _attribute_rule(facts: ClusterFacts, check, attr: str, required: str):
    for node in facts.with_data():
        for device in _drbd_backed(node, facts):
            value = node.device_attribute(device, attr)
            if value.value is not None and value.value != required:
                yield check.rule.finding(
                    f"device:{device}",
                    Detail(
                        f"{attr} is {value.value}, must be {required}", value.evidence, node.name
                    ),
                )


@rule(
    "SCST_NV_CACHE_ON",
    CRITICAL,
    "nv_cache is not 0: SCST acknowledges writes before DRBD has them on both nodes",
    f"{README_DRBD}: nv_cache must be 0; nv_cache=1 ignores SYNCHRONIZE CACHE and "
    "reports write-through, overriding write_through.",
    "Set nv_cache 0 in the device's scst.conf block on both nodes and apply "
    "(`scstadmin -config /etc/scst.conf`); nv_cache is a creation parameter, so the "
    "device is re-created.",
)
def nv_cache_on(facts: ClusterFacts):
    yield from _attribute_rule(facts, nv_cache_on, "nv_cache", "0")


@rule(
    "SCST_WRITE_BACK",
    CRITICAL,
    "write_through is not 1: the device runs write-back",
    f"{README_DRBD}: write_through must be 1 so that a write is acknowledged only after "
    "DRBD has passed it to both nodes. Absent from scst.conf means the default, 0.",
    "Add `write_through 1` to the device's block in scst.conf on both nodes and apply.",
)
def write_back(facts: ClusterFacts):
    yield from _attribute_rule(facts, write_back, "write_through", "1")


@rule(
    "SCST_CLUSTER_MODE_OFF",
    CRITICAL,
    "SCSI reservations in use but cluster_mode is not 1",
    f"{README_DRBD} and {README_DLM}: reservations must be synchronised between the nodes "
    "(cluster_mode 1, DLM-backed), or an initiator's reservation on one node is invisible "
    "on the other.",
    "With a working DLM/cluster stack: disable the targets, set `cluster_mode 1` on the "
    "device on both nodes (identical t10_dev_id), then enable the targets.",
)
def cluster_mode_off(facts: ClusterFacts):
    for node in facts.with_data():
        for device in _drbd_backed(node, facts):
            mode = node.device_attribute(device, "cluster_mode")
            if mode.value == "1":
                continue
            live = node.scst_live.devices.get(device) if node.scst_live else None
            pr = live.pr_state if live else None
            if pr is not None and pr.registrants:
                yield cluster_mode_off.rule.finding(
                    f"device:{device}",
                    Detail(
                        f"{len(pr.registrants)} reservation key(s) registered while "
                        f"cluster_mode is {mode.value or 'unknown'}",
                        f"devices/{device}/pr_state; {mode.evidence}",
                        node.name,
                    ),
                )
            elif device in facts.reservations_expected:
                yield cluster_mode_off.rule.finding(
                    f"device:{device}",
                    Detail(
                        "the LUN is marked as used with SCSI reservations, "
                        f"cluster_mode is {mode.value or 'unknown'}",
                        mode.evidence,
                        node.name,
                    ),
                    severity=WARNING,
                )


@rule(
    "SCST_IDENTITY_MISMATCH",
    CRITICAL,
    "The same LUN has a different SCSI identity on the two nodes",
    f"{README_DLM} and scst/README: every node exporting a device must present the same "
    "t10_dev_id (and usn, prod_id, EUI/NAA); t10_dev_id and usn default to values derived "
    "from the node's setup_id, so they differ unless set explicitly.",
    "Set t10_dev_id, usn and prod_id explicitly, identically on both nodes (the portal's "
    "inventory does this), and apply.",
)
def identity_mismatch(facts: ClusterFacts):
    nodes = facts.with_data()
    if len(nodes) < 2:
        return
    shared = set.intersection(*(set(n.device_names()) for n in nodes))
    for device in sorted(shared):
        for attr in IDENTITY_ATTRIBUTES:
            values = {n.name: n.device_attribute(device, attr) for n in nodes}
            known = {v.value for v in values.values() if v.value is not None}
            if len(known) > 1:
                yield identity_mismatch.rule.finding(
                    f"device:{device}",
                    *(
                        Detail(f"{attr} = {v.value}", v.evidence, name)
                        for name, v in values.items()
                    ),
                    *_reservations_not_shared(nodes, device, attr, values),
                )


def _reservations_not_shared(nodes: list[NodeFacts], device: str, attr: str, values: dict):
    """With cluster_mode 1, SCST synchronises reservations in the DLM lockspace
    scst-<t10_dev_id> (README.dlm, scst_dlm.c get_lockspace): differing t10_dev_ids put
    the nodes in different lockspaces, so a reservation on one is unseen on the other."""
    if attr != "t10_dev_id":
        return
    for node in nodes:
        mode = node.device_attribute(device, "cluster_mode")
        if mode.value != "1":
            continue
        own = stack.scst_lockspace(values[node.name].value or "")
        others = ", ".join(
            stack.scst_lockspace(v.value or "") for n, v in values.items() if n != node.name
        )
        yield Detail(
            f"cluster_mode is 1, but {node.name} joins DLM lockspace {own} and the other "
            f"node {others}: SCSI reservations are then not shared between the nodes",
            f"{mode.evidence}; {README_DLM}: lockspace scst-<t10_dev_id>",
            node.name,
        )


@rule(
    "SCST_IDENTITY_SHARED",
    CRITICAL,
    "Two different LUNs share an identity (first 8 characters of t10_dev_id, or usn)",
    "scst/README: ESXi and Hyper-V compare only the first 8 characters of t10_dev_id; two "
    "LUNs that share them are merged by the initiator.",
    "Give one of the devices a new identity while no initiator uses it: unmap, set a "
    "unique t10_dev_id/usn, map again.",
)
def identity_shared(facts: ClusterFacts):
    for node in facts.with_data():
        by_key: dict[tuple[str, str], list[str]] = defaultdict(list)
        for device in node.device_names():
            t10 = node.device_attribute(device, "t10_dev_id").value
            usn = node.device_attribute(device, "usn").value
            if t10:
                by_key[("t10_dev_id[:8]", t10[:8])].append(device)
            if usn:
                by_key[("usn", usn)].append(device)
        for (what, value), devices in sorted(by_key.items()):
            if len(devices) > 1:
                yield identity_shared.rule.finding(
                    "devices:" + ",".join(sorted(devices)),
                    Detail(f"{', '.join(sorted(devices))} share {what} {value!r}", "", node.name),
                )


@rule(
    "SCST_REL_TGT_ID_CLASH",
    CRITICAL,
    "Two targets in the cluster use the same rel_tgt_id",
    "scst/README: rel_tgt_id must be unique among all SCST targets; in a two-node cluster "
    "each node's target needs its own, because ALUA port groups and reservations refer "
    "to it.",
    "Give each target its own rel_tgt_id (disable the target, set rel_tgt_id, enable).",
)
def rel_tgt_id_clash(facts: ClusterFacts):
    seen: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for node in facts.with_data():
        for target, rel_id in node.target_rel_tgt_ids().items():
            if rel_id is not None:
                seen[rel_id].append((node.name, target))
    for rel_id, users in sorted(seen.items()):
        if len(users) > 1:
            yield rel_tgt_id_clash.rule.finding(
                f"rel_tgt_id:{rel_id}",
                *(Detail(f"{target} has rel_tgt_id {rel_id}", "", node) for node, target in users),
            )


@rule(
    "SCST_LUN_ONE_NODE",
    WARNING,
    "A LUN is exported by one node only",
    "Dual-primary exists so that both nodes serve every LUN; a LUN on one node only loses "
    "its path when that node fails.",
    "Map the device on the other node's target too (same LUN number and identity), or "
    "remove it from both.",
)
def lun_one_node(facts: ClusterFacts):
    nodes = facts.with_data()
    if len(nodes) < 2:
        return
    exported = {n.name: {row[4] for row in n.exported_luns()} for n in nodes}
    for device in sorted(set.union(*exported.values())):
        missing = [name for name, devices in exported.items() if device not in devices]
        if missing:
            yield lun_one_node.rule.finding(
                f"device:{device}",
                *(Detail(f"{device} is not exported by {name}", "", name) for name in missing),
            )


@rule(
    "SCST_BACKING_NOT_DRBD",
    CRITICAL,
    "A device's backing file is not its DRBD device",
    f"{README_DRBD}: the exported device must be the DRBD device, so that every write "
    "reaches both nodes; a device on the backing disk bypasses replication.",
    "Point the device's filename at /dev/drbdN of its resource (re-create the device) on "
    "the affected node.",
)
def backing_not_drbd(facts: ClusterFacts):
    for node in facts.with_data():
        desired = facts.desired.get(node.name) if facts.desired else None
        for device in node.device_names():
            filename = node.device_attribute(device, "filename")
            expected = _desired_filename(desired, device)
            wrong = expected and filename.value is not None and filename.value != expected
            bypass = (
                not expected
                and filename.value
                and not filename.value.startswith(DRBD_DEVICE_PREFIXES)
                and _exported_on_all(facts, device)
            )
            if wrong or bypass:
                want = expected or "a /dev/drbdN device"
                yield backing_not_drbd.rule.finding(
                    f"device:{device}",
                    Detail(
                        f"{device} reads {filename.value}, expected {want}",
                        filename.evidence,
                        node.name,
                    ),
                )


def _desired_filename(desired, device: str) -> str | None:
    if desired is None:
        return None
    found = desired.scst_config.find_device(device)
    return found[1].attributes.get("filename") if found else None


def _exported_on_all(facts: ClusterFacts, device: str) -> bool:
    nodes = facts.with_data()
    return len(nodes) > 1 and all(device in {r[4] for r in n.exported_luns()} for n in nodes)


@rule(
    "SCST_BACKING_SHARED",
    CRITICAL,
    "Two devices on one node share a backing file",
    f"{README_DRBD}: one LUN is one SCSI identity. Two devices on the same filename present "
    "the same blocks under two identities; initiators treat them as two disks, and writes "
    "through both, or reservations on one, corrupt the data.",
    "Remove the extra device (and its LUNs) on the affected node, so that each backing "
    "device is exported by exactly one device with the inventory's identity.",
)
def backing_shared(facts: ClusterFacts):
    for node in facts.with_data():
        by_file: dict[str, list[str]] = {}
        for device in node.device_names():
            filename = node.device_attribute(device, "filename").value
            if filename:
                by_file.setdefault(filename, []).append(device)
        for filename, devices in sorted(by_file.items()):
            if len(devices) > 1:
                shown = ", ".join(devices)
                yield backing_shared.rule.finding(
                    f"backing:{node.name}:{filename[:200]}",
                    Detail(
                        f"{filename!r} backs {len(devices)} devices: {shown}",
                        "; ".join(node.device_attribute(d, "filename").evidence for d in devices),
                        node.name,
                    ),
                )


@rule(
    "SCST_VALUE_UNWRITABLE",
    WARNING,
    "A node runs a value the portal cannot write back",
    "Whatever a node reports is data: a name or value that scst.conf cannot carry (braces, "
    "a leading double quote, a newline, NUL) can be neither rendered nor pushed, so the "
    "portal leaves that object out of what it would write and keeps reporting it.",
    "Change the value on the node (scstadmin or sysfs) to one scst.conf can carry; until "
    "then keep the cluster monitored for this object.",
)
def value_unwritable(facts: ClusterFacts):
    for node in facts.with_data():
        for where, problem in node.unwritable:
            yield value_unwritable.rule.finding(
                f"scst:{node.name}:unwritable", Detail(f"{where}: {problem}", where, node.name)
            )
