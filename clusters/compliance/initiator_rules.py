"""Initiator behaviour: the same initiator writing one LUN through both nodes.

Round-robin is a matter of *writes*: two nodes accepting writes to one LUN at once is
what reservations and write ordering cannot survive; reads on both paths are harmless.
So only write counters (sessions/*/write_cmd_count) judge it.
"""

from collections import defaultdict

from clusters.compliance.catalogue import CRITICAL, INFO, README_DRBD, WARNING, Detail, rule
from clusters.facts import ClusterFacts, NodeFacts

VMWARE_PREFIX = "iqn.1998-01.com.vmware:"
WRITE_COUNTER = "write_cmd_count"


def _session_luns(node: NodeFacts, target_name: str, session) -> set[str]:
    """Devices in the LUN set the session uses (its group's, or the target's own)."""
    if node.scst_live is None:
        return set()
    for targets in node.scst_live.targets.values():
        target = targets.get(target_name)
        if target is None:
            continue
        luns = (
            target.ini_groups[session.group].luns
            if session.group in target.ini_groups
            else target.luns
        )
        return {lun.device for lun in luns.values() if lun.device}
    return set()


def _counters(node: NodeFacts) -> dict[tuple[str, str], int]:
    totals = {}
    for target, session in node.sessions():
        value = session.counter(WRITE_COUNTER)
        if value is not None:
            totals[(target, session.name)] = value
    return totals


def _active_initiators(node: NodeFacts, previous: NodeFacts | None) -> dict[str, set[str]]:
    """initiator → devices it wrote to since the previous collection."""
    if previous is None or previous.scst_live is None:
        return {}
    before, now = _counters(previous), _counters(node)
    active: dict[str, set[str]] = defaultdict(set)
    for target, session in node.sessions():
        key = (target, session.name)
        if key in before and now.get(key, 0) > before[key]:
            initiator = session.initiator_name or session.name
            active[initiator] |= _session_luns(node, target, session)
    return active


@rule(
    "INITIATOR_IO_BOTH_NODES",
    CRITICAL,
    "An initiator is writing to the same LUN through both nodes",
    f"{README_DRBD}: round-robin across the two nodes is unsafe (reservations and ordering "
    "are not shared); VMware's Round Robin path policy does exactly this. Judged from "
    "write counters only: reads through both paths are harmless.",
    "Set the initiator's path policy to MRU or Fixed (VMware: "
    "`esxcli storage nmp device set --device naa.… --psp VMW_PSP_MRU`).",
)
def io_both_nodes(facts: ClusterFacts):
    for initiator, nodes in sorted(_writing_through_both(facts).items()):
        for device in sorted(set.intersection(*nodes.values())):
            yield io_both_nodes.rule.finding(
                f"initiator:{initiator}",
                *(
                    Detail(
                        f"{initiator} write command counter rose for {device}",
                        "sessions/*/write_cmd_count between two collections",
                        name,
                    )
                    for name in nodes
                ),
            )


def _writing_through_both(facts: ClusterFacts) -> dict[str, dict[str, set[str]]]:
    """initiator → {node: devices it wrote to there} for initiators writing on 2+ nodes."""
    per_node = {
        node.name: _active_initiators(node, facts.previous.get(node.name))
        for node in facts.with_data()
        if node.scst_live is not None
    }
    initiators = set().union(*(set(a) for a in per_node.values())) if per_node else set()
    both = {}
    for initiator in initiators:
        nodes = {
            name: active[initiator] for name, active in per_node.items() if initiator in active
        }
        if len(nodes) > 1 and set.intersection(*nodes.values()):
            both[initiator] = nodes
    return both


@rule(
    "VMWARE_BOTH_NODES",
    INFO,
    "A VMware initiator is logged in to both nodes: check its path policy",
    f"{README_DRBD}: VMware initiators must not use Round Robin across the nodes; MRU or "
    "Fixed keeps I/O on one node at a time, and log in to both nodes too (the second path "
    "is the failover path). Information only, unless writes go through both nodes: then "
    "it is a warning (and INITIATOR_IO_BOTH_NODES is critical).",
    "On the ESXi host: `esxcli storage nmp device list`, and set each LUN's policy to "
    "VMW_PSP_MRU or VMW_PSP_FIXED.",
)
def vmware_both_nodes(facts: ClusterFacts):
    seen: dict[str, set[str]] = defaultdict(set)
    for node in facts.with_data():
        for _, session in node.sessions():
            name = session.initiator_name or session.name
            if name.startswith(VMWARE_PREFIX):
                seen[name].add(node.name)
    writing = _writing_through_both(facts)
    for initiator, nodes in sorted(seen.items()):
        if len(nodes) > 1:
            yield vmware_both_nodes.rule.finding(
                f"initiator:{initiator}",
                *(
                    Detail(f"{initiator} has a session", "targets/*/sessions", n)
                    for n in sorted(nodes)
                ),
                severity=WARNING if initiator in writing else None,
            )
