"""DRBD rules, judged on the running values (drbdsetup show/status), not only the files."""

from clusters import drbd
from clusters.compliance.catalogue import CRITICAL, UG_DUAL, WARNING, Detail, rule
from clusters.facts import ClusterFacts, NodeFacts

SHOW_EVIDENCE = "drbdsetup show"


def _resources(node: NodeFacts, facts: ClusterFacts) -> list[str]:
    names = set(node.drbd_status or {}) | set(node.drbd_show or {})
    desired = facts.desired.get(node.name) if facts.desired else None
    if desired is not None:
        names |= set(desired.drbd_resources)
    return sorted(names)


def _net_options(node: NodeFacts, resource: str, option: str) -> list[tuple[str | None, str]]:
    """Effective net option of the running resource on each of its connections, with
    drbd_limits.h defaults; one (None, why) when it is not known.

    DRBD 9 keeps net options per connection (drbdsetup show prints a `net` block in each
    `connection`), and a resource with a third node (a diskless tiebreaker, a DR peer)
    has several that may differ: every connection is judged, none is picked.
    """
    show = (node.drbd_show or {}).get(resource)
    if show is None:
        return [(None, f"{SHOW_EVIDENCE}: resource {resource} not running")]
    if not show.connections:
        return [(None, f"{SHOW_EVIDENCE}: resource {resource} has no connection")]
    found: list[tuple[str | None, str]] = []
    for conn in show.connections:
        value = drbd.effective_net_options(conn)[option]
        peer = conn.peer
        where = f"{SHOW_EVIDENCE} {resource}, connection to {peer}"
        if option in conn.net.values and option not in conn.net.defaults:
            found.append((value, f"{where}: {option} {value};"))
        else:
            found.append((value, f"{where} omits {option}: DRBD default {value}"))
    return found


def _fencing_options(node: NodeFacts, resource: str) -> list[tuple[str | None, str]]:
    """The running fencing policy: DRBD 8.4 keeps it in the disk options (drbdsetup show
    prints it in each volume's `disk` block), DRBD 9 in each connection's net options."""
    show = (node.drbd_show or {}).get(resource)
    in_disk = [
        (v.disk_options.values["fencing"], f"{SHOW_EVIDENCE} {resource}, volume {v.number}")
        for v in (show.volumes if show else [])
        if "fencing" in v.disk_options.values
    ]
    return [(value, f"{where}: fencing {value};") for value, where in in_disk] or _net_options(
        node, resource, "fencing"
    )


def _net_rule(facts: ClusterFacts, check, option: str, required: str):
    for node in facts.with_data():
        for resource in _resources(node, facts):
            details = [
                Detail(f"{option} is {value}, must be {required}", evidence, node.name)
                for value, evidence in _net_options(node, resource, option)
                if value is not None and value != required
            ]
            if details:
                yield check.rule.finding(f"resource:{resource}", *details)


@rule(
    "DRBD_PROTOCOL_NOT_C",
    CRITICAL,
    "DRBD replication protocol is not C",
    f"{UG_DUAL}: dual-primary needs synchronous replication, protocol C; A and B "
    "acknowledge writes the peer may not have.",
    "Set `protocol C;` in the resource's net section on both nodes and run "
    "`drbdadm adjust RES` on both.",
)
def protocol_not_c(facts: ClusterFacts):
    yield from _net_rule(facts, protocol_not_c, "protocol", "C")


@rule(
    "DRBD_TWO_PRIMARIES_OFF",
    CRITICAL,
    "allow-two-primaries is off in the running resource",
    f"{UG_DUAL}: both nodes can be Primary only with `allow-two-primaries yes;` in net; "
    "the running value can differ from the file.",
    "Set `allow-two-primaries yes;` in net on both nodes, `drbdadm adjust RES` on both.",
)
def two_primaries_off(facts: ClusterFacts):
    yield from _net_rule(facts, two_primaries_off, "allow-two-primaries", "yes")


@rule(
    "DRBD_FENCING",
    WARNING,
    "Fencing is not resource-and-stonith",
    f"{UG_DUAL}: allow-two-primaries without fencing is 'a very bad idea, even worse than "
    "single-primary without fencing'.",
    "Set `fencing resource-and-stonith;` (net in DRBD 9, disk in 8.4) with fence-peer and "
    "unfence-peer handlers, then `drbdadm adjust RES`.",
)
def fencing(facts: ClusterFacts):
    for node in facts.with_data():
        for resource in _resources(node, facts):
            values = _fencing_options(node, resource)
            config = (node.drbd_config or {}).get(resource)
            if values[0][0] is None and config is not None:
                values = [(config.fencing or "dont-care", f"drbdadm dump {resource}")]
            details = [
                Detail(f"fencing is {value}", evidence, node.name)
                for value, evidence in values
                if value is not None and value != "resource-and-stonith"
            ]
            if details:
                yield fencing.rule.finding(f"resource:{resource}", *details)


def _status(node: NodeFacts, resource: str) -> drbd.ResourceState | None:
    return (node.drbd_status or {}).get(resource)


@rule(
    "DRBD_RESOURCE_DOWN",
    CRITICAL,
    "A DRBD resource the inventory expects is not running",
    "An exported LUN whose DRBD device is down fails every I/O on that node.",
    "On the node: `drbdadm up RES`, then `drbdadm primary RES`.",
)
def resource_down(facts: ClusterFacts):
    for node in facts.with_data():
        if node.drbd_status is None:
            continue
        for resource in _resources(node, facts):
            if _status(node, resource) is None:
                yield resource_down.rule.finding(
                    f"resource:{resource}",
                    Detail(
                        f"{resource} is not in drbdsetup status",
                        "drbdsetup status --json",
                        node.name,
                    ),
                )


@rule(
    "DRBD_NOT_CONNECTED",
    CRITICAL,
    "DRBD peers are not Connected (StandAlone, connecting, or split brain)",
    f"{UG_DUAL}: any interruption of the replication link with two primaries is a split "
    "brain; writes on either side are no longer replicated.",
    "Stop I/O to one node's target, find the cause (`drbdadm status`, kernel log); after a "
    "split brain resolve it manually (`drbdadm connect --discard-my-data RES` on the "
    "victim), then `drbdadm connect RES`.",
)
def not_connected(facts: ClusterFacts):
    for node in facts.with_data():
        for resource, state in sorted((node.drbd_status or {}).items()):
            if not state.peers:
                yield not_connected.rule.finding(
                    f"resource:{resource}",
                    Detail("no peer connection (StandAlone)", "drbdsetup status --json", node.name),
                )
            for peer in state.peers:
                if peer.connection != "Connected":
                    yield not_connected.rule.finding(
                        f"resource:{resource}",
                        Detail(
                            f"connection to {peer.name or peer.node_id} is {peer.connection}",
                            "drbdsetup status --json",
                            node.name,
                        ),
                    )


@rule(
    "DRBD_NOT_PRIMARY",
    WARNING,
    "A node is not Primary: its exported LUN cannot serve writes",
    f"{UG_DUAL}: in dual-primary both nodes are Primary (`drbdadm primary RES` on both).",
    "`drbdadm primary RES` on the node (after checking the resource is Connected and UpToDate).",
)
def not_primary(facts: ClusterFacts):
    members = {n.name for n in facts.nodes}
    for node in facts.with_data():
        for resource, state in sorted((node.drbd_status or {}).items()):
            if state.role != "Primary":
                yield not_primary.rule.finding(
                    f"resource:{resource}",
                    Detail(f"role is {state.role}", "drbdsetup status --json", node.name),
                )
            for peer in state.peers:
                if peer.is_client or (peer.name and peer.name not in members):
                    continue  # a diskless tiebreaker or a third node is not an exporter
                if peer.connection == "Connected" and peer.role != "Primary":
                    yield not_primary.rule.finding(
                        f"resource:{resource}",
                        Detail(
                            f"peer {peer.name} role is {peer.role}",
                            "drbdsetup status --json",
                            node.name,
                        ),
                    )


@rule(
    "DRBD_DISK_NOT_UPTODATE",
    WARNING,
    "A DRBD disk is not UpToDate",
    "Only UpToDate disks hold current data; Outdated, Inconsistent or Diskless means one "
    "node does not have every write.",
    "Check `drbdadm status RES`; let a running resync finish, or reattach the disk "
    "(`drbdadm attach RES`).",
)
def disk_not_uptodate(facts: ClusterFacts):
    for node in facts.with_data():
        for resource, state in sorted((node.drbd_status or {}).items()):
            # An intentionally diskless client (`client`/`peer-client` true) is Diskless
            # by design: it holds no data, so there is nothing to be out of date.
            details = [
                Detail(f"volume {d.volume} disk is {d.disk}", "drbdsetup status --json", node.name)
                for d in state.devices
                if d.disk != "UpToDate" and not (d.client and d.disk == "Diskless")
            ]
            details += [
                Detail(
                    f"peer {peer.name} volume {pd.volume} disk is {pd.peer_disk}",
                    "drbdsetup status --json",
                    node.name,
                )
                for peer in state.peers
                if peer.connection == "Connected"
                for pd in peer.devices
                if pd.peer_disk != "UpToDate"
                and not (pd.peer_client and pd.peer_disk == "Diskless")
            ]
            if details:
                yield disk_not_uptodate.rule.finding(f"resource:{resource}", *details)


@rule(
    "DRBD_OUT_OF_SYNC",
    WARNING,
    "DRBD reports out-of-sync data",
    "Out-of-sync blocks differ between the nodes; reads may return different data on each.",
    "Check `drbdadm status RES --verbose --statistics`; run `drbdadm verify RES` and "
    "resync (`drbdadm disconnect RES; drbdadm connect RES`).",
)
def out_of_sync(facts: ClusterFacts):
    for node in facts.with_data():
        for resource, state in sorted((node.drbd_status or {}).items()):
            for peer in state.peers:
                for pd in peer.devices:
                    if pd.out_of_sync_kib:
                        yield out_of_sync.rule.finding(
                            f"resource:{resource}",
                            Detail(
                                f"volume {pd.volume}: {pd.out_of_sync_kib} KiB out of sync "
                                f"with {peer.name}",
                                "drbdsetup status --json out-of-sync",
                                node.name,
                            ),
                        )
