"""What changed on each node of a resource in split brain, from the stored collections:
out-of-sync amount (drbdsetup status --json) and what each initiator wrote through each
node since the split (its session's write_io_count_kb now, less what it had in the last
collection where the resource was still Connected on that node). The node with fewer
writes is the recommended victim."""

from __future__ import annotations

from dataclasses import dataclass, field

from clusters.facts import NodeFacts
from clusters.models import Cluster, Node, NodeSnapshot, ScstDevice
from clusters.services.facts import node_facts_for

LOOKBACK = 500  # snapshots per node searched for the last Connected one


@dataclass
class NodeSide:
    node: str
    connection: str = "unknown"
    role: str = "unknown"
    out_of_sync_kib: int | None = None
    written_kib: int | None = None  # since the split; None: unknown
    initiators: dict[str, int] = field(default_factory=dict)  # initiator → KiB since
    since: str = ""  # when the resource was last seen Connected on this node
    note: str = ""


@dataclass
class SplitBrainReport:
    resource: str
    nodes: list[NodeSide]
    recommended: str | None
    in_split_brain: bool


def _writes(facts: NodeFacts, devices: set[str]) -> dict[str, int]:
    """write_io_count_kb per initiator whose session sees one of DEVICES (the counter
    covers every LUN of the session)."""
    out: dict[str, int] = {}
    for _target, session, _numbers in [s for d in devices for s in facts.sessions_seeing(d)]:
        name = session.initiator_name or session.name
        out[name] = max(out.get(name, 0), session.counter("write_io_count_kb") or 0)
    return out


def _connected(facts: NodeFacts, resource: str) -> bool:
    state = (facts.drbd_status or {}).get(resource)
    return state is not None and any(p.connection == "Connected" for p in state.peers)


def _side(node: Node, resource: str, devices: set[str]) -> NodeSide:
    side = NodeSide(node.name)
    read = NodeSnapshot.objects.filter(node=node, reachable=True).select_related("node")
    snaps = list(read.order_by("-collected_at")[:LOOKBACK])
    if not snaps:
        side.note = "never collected"
        return side
    now = node_facts_for(snaps[0])
    state = (now.drbd_status or {}).get(resource)
    if state is not None:
        side.role = state.role
        side.connection = ", ".join(p.connection for p in state.peers) or "no peer"
        side.out_of_sync_kib = sum(d.out_of_sync_kib or 0 for p in state.peers for d in p.devices)
    current = _writes(now, devices)
    before = next((f for f in map(node_facts_for, snaps[1:]) if _connected(f, resource)), None)
    if before is None:
        side.note = "no collection with the resource Connected: writes since are unknown"
        return side
    side.since = f"{before.collected_at:%Y-%m-%d %H:%M:%S} UTC" if before.collected_at else ""
    earlier = _writes(before, devices)
    side.initiators = {i: max(kib - earlier.get(i, 0), 0) for i, kib in sorted(current.items())}
    side.written_kib = sum(side.initiators.values())
    return side


def split_brain_report(cluster: Cluster, resource: str) -> SplitBrainReport:
    devices = set(
        ScstDevice.objects.filter(cluster=cluster, drbd_resource__name=resource).values_list(
            "name", flat=True
        )
    )
    nodes = [
        _side(n, resource, devices) for n in Node.objects.filter(cluster=cluster).order_by("name")
    ]
    known = [n for n in nodes if n.written_kib is not None]
    recommended = None
    if len(known) == len(nodes) == 2:
        recommended = min(known, key=lambda n: (n.written_kib, n.out_of_sync_kib or 0, n.node)).node
    in_split = bool(nodes) and all(n.connection not in ("Connected", "unknown") for n in nodes)
    return SplitBrainReport(resource, nodes, recommended, in_split)
