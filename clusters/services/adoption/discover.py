"""Adoption, step 2: what the nodes run, side by side, and where they differ (each
difference a choice the admin makes before importing)."""

from dataclasses import dataclass, field

from clusters.drbd.options import OPTION_SECTIONS
from clusters.facts import NodeFacts
from clusters.models import Cluster
from clusters.scst.attributes import INVENTORY_DEVICE_ATTRIBUTES
from clusters.services.facts import latest_snapshots, node_facts_for


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


@dataclass
class Discovery:
    """What the nodes run, side by side, and where the two nodes differ."""

    nodes: list[NodeFacts]
    rows: list[dict] = field(default_factory=list)  # {section, object, field, values, differs}
    problems: list[str] = field(default_factory=list)

    @property
    def differences(self) -> int:
        return sum(row["differs"] for row in self.rows)


def discovery(cluster: Cluster) -> Discovery:
    """The latest facts of every node, laid out per object for a side-by-side view."""
    nodes = [node_facts_for(s[0]) for s in latest_snapshots(cluster).values() if s]
    result = Discovery(nodes)
    for node in nodes:
        if node.host_key_problem:
            result.problems.append(f"{node.name}: host key not approved yet")
        elif not node.has_data:
            result.problems.append(f"{node.name}: {node.error or 'not collected'}")
    with_data = [n for n in nodes if n.has_data]
    _device_rows(result, with_data)
    _drbd_rows(result, with_data)
    _lun_rows(result, with_data)
    return result


DEVICE_FIELDS = ("handler", "filename", *INVENTORY_DEVICE_ATTRIBUTES)
# Each node's own, never a choice: the device's DRBD device on that node.
PER_NODE_FIELDS = ("filename",)


def _row(
    result: Discovery,
    section: str,
    obj: str,
    name: str,
    values: list[str | None],
    key: str = "",
) -> None:
    """One setting on every node; KEY set when the admin must choose where they differ
    (two nodes or more have the setting, with different values)."""
    shown = ["—" if v is None else v for v in values]
    present = {v for v in values if v is not None}
    result.rows.append(
        {
            "section": section,
            "object": obj,
            "field": name,
            "values": shown,
            "raw": values,
            "differs": len(set(shown)) > 1,
            "key": key if len(set(shown)) > 1 and (len(present) > 1 or None in values) else "",
        }
    )


def _device_rows(result: Discovery, nodes: list[NodeFacts]) -> None:
    names = sorted(set().union(*(n.device_names() for n in nodes))) if nodes else []
    for device in names:
        having = [n for n in nodes if device in n.device_names()]
        for attr in DEVICE_FIELDS:
            if attr == "handler":
                values = [n.device_handler(device) for n in nodes]
            else:
                values = [
                    n.device_attribute(device, attr).value if device in n.device_names() else None
                    for n in nodes
                ]
            choosable = len(having) > 1 and attr not in PER_NODE_FIELDS
            key = device_key(device, attr) if choosable else ""
            _row(result, "SCST devices", device, attr, values, key)


def _drbd_rows(result: Discovery, nodes: list[NodeFacts]) -> None:
    names = sorted(set().union(*(set(n.drbd_config or {}) for n in nodes))) if nodes else []
    for name in names:
        configs = [(n.drbd_config or {}).get(name) for n in nodes]
        both = sum(c is not None for c in configs) > 1
        _row(
            result,
            "DRBD resources",
            name,
            "protocol",
            [c.protocol if c else None for c in configs],
            drbd_key(name, "protocol") if both else "",
        )
        _row(
            result,
            "DRBD resources",
            name,
            "net allow-two-primaries",
            [c.net.get("allow-two-primaries") if c else None for c in configs],
            drbd_key(name, "net", "allow-two-primaries") if both else "",
        )
        sections = [drbd_options(c) if c else {} for c in configs]
        for section in OPTION_SECTIONS:
            options = sorted({o for s in sections for o in s.get(section, {})})
            for option in options:
                values = [s.get(section, {}).get(option) if s else None for s in sections]
                key = drbd_key(name, section, option) if both else ""
                _row(result, "DRBD resources", name, f"{section} {option}", values, key)
        for node in nodes:
            config = (node.drbd_config or {}).get(name)
            host = next((h for h in config.hosts if h.name == node.name), None) if config else None
            volumes = (
                ", ".join(f"{v.device or v.minor} on {v.disk}" for v in host.volumes)
                if host
                else None
            )
            _row(result, "DRBD resources", name, f"volumes on {node.name}", [volumes] * len(nodes))


def _lun_rows(result: Discovery, nodes: list[NodeFacts]) -> None:
    per_node = [{(t, g, n): d for _, t, g, n, d in node.exported_luns()} for node in nodes]
    targets = [sorted(node.target_rel_tgt_ids().items()) for node in nodes]
    for node, node_targets in zip(nodes, targets, strict=True):
        for target, rel_id in node_targets:
            _row(
                result, "Targets", target, f"rel_tgt_id on {node.name}", [str(rel_id)] * len(nodes)
            )
    lun_sets = sorted({(g, n) for luns in per_node for (_, g, n) in luns}, key=str)
    for group, number in lun_sets:
        values = []
        for luns in per_node:
            devices = sorted({d for (_, g, n), d in luns.items() if (g, n) == (group, number)})
            values.append(", ".join(devices) or None)
        _row(result, "LUNs", f"{group or 'default LUN set'} / LUN {number}", "device", values)


def choices_needed(found: Discovery, choices: dict[str, str]) -> list[dict]:
    """Rows where the nodes differ and the admin has not chosen a value yet."""
    return [row for row in found.rows if row["key"] and row["key"] not in choices]
