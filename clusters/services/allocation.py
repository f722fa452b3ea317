"""What is free in a cluster's inventory, and whether a new LUN's choices clash with it:
DRBD ports and minors, backing disks, device names, LUN numbers in LUN sets.

The add-LUN wizard's forms call these rules; each problem is keyed by the form field it
concerns so that the form shows it next to what the user typed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from clusters import validators
from clusters.models import Cluster, DrbdResource, DrbdVolume, Node, ScstDevice


@dataclass
class LunSet:
    """A target's default LUN set or one of its initiator groups, with the LUNs it uses."""

    code: str
    node: str
    target_id: int
    group_id: int | None
    group_name: str | None
    label: str
    used: dict[int, str] = field(default_factory=dict)


def next_free_port(cluster: Cluster) -> int:
    """The port after the highest one the cluster's resources use (7789, DRBD's usual)."""
    ports = set(DrbdResource.objects.filter(cluster=cluster).values_list("port", flat=True))
    port = max(ports, default=7788) + 1
    while port in ports or port > 65535:
        port = port + 1 if port <= 65535 else 1
    return port


def lowest_free_minor(node: Node) -> int:
    used = set(DrbdVolume.objects.filter(node=node).values_list("minor", flat=True))
    return next(m for m in range(len(used) + 1) if m not in used)


def lowest_free_lun(chosen: Sequence[LunSet]) -> int:
    """The lowest LUN number unused in every one of the chosen LUN sets."""
    used = set().union(*(s.used for s in chosen))
    return next(n for n in range(validators.MAX_LUN + 2) if n not in used)


def new_resource_refusal(cluster: Cluster) -> str:
    """Why the cluster cannot get a new DRBD resource from the portal, or ''."""
    if cluster.drbd_version == "8.4":
        return "New DRBD resources are created on DRBD 9 clusters only."
    return ""


def new_resource_clashes(
    cluster: Cluster,
    name: str | None,
    port: int | None,
    volumes: Sequence[tuple[Node, str | None, int | None]],
) -> dict[str, str]:
    """What a new resource (name, port, per node its backing disk and minor) would share
    with the cluster's resources, keyed by field: new_name, new_port, disk_NODE, minor_NODE."""
    problems: dict[str, str] = {}
    resources = DrbdResource.objects.filter(cluster=cluster)
    if name and resources.filter(name=name).exists():
        problems["new_name"] = f"{cluster.name} already has a DRBD resource {name}."
    if port is not None and resources.filter(port=port).exists():
        used = resources.get(port=port).name
        problems["new_port"] = (
            f"Port {port} is used by DRBD {used}; the next free one is {next_free_port(cluster)}."
        )
    for node, disk, minor in volumes:
        on_node = DrbdVolume.objects.filter(node=node).select_related("resource")
        if disk and (taken := on_node.filter(backing_disk=disk).first()):
            problems[f"disk_{node.name}"] = (
                f"{disk} is the backing disk of DRBD {taken.resource.name} on {node.name}."
            )
        if minor is not None and (taken := on_node.filter(minor=minor).first()):
            problems[f"minor_{node.name}"] = (
                f"Minor {minor} is used by DRBD {taken.resource.name} on {node.name}; the "
                f"lowest free one is {lowest_free_minor(node)}."
            )
    return problems


def device_name_clash(cluster: Cluster, name: str) -> str:
    """Why NAME cannot be a new device of the cluster (it has one by that name), or ''."""
    if ScstDevice.objects.filter(cluster=cluster, name=name).exists():
        return f"{cluster.name} already has a device {name}."
    return ""


def lun_choice_problems(
    sets: Sequence[LunSet], chosen: Sequence[LunSet], lun: int | None
) -> dict[str, str]:
    """What is wrong with exporting a new LUN number LUN in the CHOSEN of SETS, keyed by
    field (lun_sets, lun): a node left out, or the number taken in a chosen set."""
    problems: dict[str, str] = {}
    missing = sorted({s.node for s in sets} - {s.node for s in chosen})
    if missing:
        problems["lun_sets"] = (
            f"Choose a LUN set on {', '.join(missing)} too: a LUN exported by one node "
            "only loses its path when that node fails (SCST_LUN_ONE_NODE)."
        )
    clashes = [f"{s.used[lun]} in {s.label}" for s in chosen if lun in s.used]
    if lun is not None and clashes:
        problems["lun"] = (
            f"LUN {lun} is already used by {'; '.join(clashes)}. The lowest number free "
            f"in every chosen LUN set is {lowest_free_lun(chosen)}."
        )
    return problems
