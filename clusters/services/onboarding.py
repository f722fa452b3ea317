"""Adopt an existing cluster: register its nodes, discover their live config, import it,
and later let an admin switch it from monitored to managed."""

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.db import transaction

from clusters import access, audit
from clusters.facts import NodeFacts
from clusters.models import Cluster, Finding, Node, NodeSnapshot, Role, SshCredential
from clusters.services import adopt, collection, inventory
from clusters.services.facts import latest_snapshots, node_facts_for

FOREIGN_CODES = ("FOREIGN_DRBD_FILE", "SCST_UNMODELLED")
DRIFT_CODES = ("DRIFT_SCST", "DRIFT_DRBD")


class OnboardingError(Exception):
    """The step cannot be taken; the message says why and what to do."""


@dataclass
class NodeInput:
    name: str
    address: str
    ssh_port: int = 22
    ssh_user: str = "root"
    drbd_address: str = ""


@transaction.atomic
def cluster_register(
    user, name: str, drbd_version: str, nodes: list[NodeInput], private_key: str
) -> Cluster:
    """A new monitored cluster with its nodes; host keys are fetched, never trusted."""
    if not access.is_global_admin(user):
        raise PermissionDenied("Adding a cluster needs the admin role on all clusters.")
    cluster = Cluster(name=name, drbd_version=drbd_version, mode=Cluster.Mode.MONITORED)
    cluster.full_clean()
    cluster.save()
    credential = SshCredential(name=f"{name}-key")
    credential.set_private_key(private_key)
    credential.full_clean(exclude=["private_key_encrypted"])
    credential.save()
    for index, node_input in enumerate(nodes):
        node = Node(
            cluster=cluster,
            name=node_input.name,
            address=node_input.address,
            ssh_port=node_input.ssh_port,
            ssh_user=node_input.ssh_user,
            credential=credential,
            drbd_node_id=index,
            drbd_address=node_input.drbd_address or node_input.address,
        )
        node.full_clean()
        node.save()
    audit.record(user, audit.Action.CREATE, cluster, after={"nodes": [n.__dict__ for n in nodes]})
    return cluster


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


DEVICE_FIELDS = (
    "handler",
    "filename",
    "t10_dev_id",
    "usn",
    "prod_id",
    "nv_cache",
    "write_through",
    "cluster_mode",
    "blocksize",
)


def _row(result: Discovery, section: str, obj: str, name: str, values: list[str | None]) -> None:
    shown = ["—" if v is None else v for v in values]
    result.rows.append(
        {
            "section": section,
            "object": obj,
            "field": name,
            "values": shown,
            "differs": len(set(shown)) > 1,
        }
    )


def _device_rows(result: Discovery, nodes: list[NodeFacts]) -> None:
    names = sorted(set().union(*(n.device_names() for n in nodes))) if nodes else []
    for device in names:
        for attr in DEVICE_FIELDS:
            if attr == "handler":
                values = [n.device_handler(device) for n in nodes]
            else:
                values = [
                    n.device_attribute(device, attr).value if device in n.device_names() else None
                    for n in nodes
                ]
            _row(result, "SCST devices", device, attr, values)


def _drbd_rows(result: Discovery, nodes: list[NodeFacts]) -> None:
    names = sorted(set().union(*(set(n.drbd_config or {}) for n in nodes))) if nodes else []
    for name in names:
        configs = [(n.drbd_config or {}).get(name) for n in nodes]
        _row(
            result, "DRBD resources", name, "protocol", [c.protocol if c else None for c in configs]
        )
        for option in (
            "allow-two-primaries",
            "fencing",
            "after-sb-0pri",
            "after-sb-1pri",
            "after-sb-2pri",
        ):
            values = [(c.net.get(option) or c.disk.get(option)) if c else None for c in configs]
            _row(result, "DRBD resources", name, option, values)
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


def inventory_adopt(cluster: Cluster, user) -> adopt.AdoptionReport:
    """Import the discovered config into an empty inventory, then judge it again."""
    from clusters.services.findings import findings_refresh

    access.require_role(user, cluster, Role.ADMIN)
    if cluster.devices.exists() or cluster.drbd_resources.exists():
        raise OnboardingError(f"{cluster.name} already has an inventory; use re-discovery.")
    found = discovery(cluster)
    if found.problems:
        raise OnboardingError("Cannot import yet: " + "; ".join(found.problems))
    report = adopt.inventory_import(cluster, found.nodes)
    audit.record(user, audit.Action.ADOPT, cluster, after=inventory.inventory_export(cluster))
    findings_refresh(cluster)
    return report


def mode_switch_blockers(cluster: Cluster) -> tuple[list[Finding], list[Finding]]:
    """(foreign-ownership findings, drift findings) that stand in the way of managing."""
    open_findings = Finding.objects.filter(cluster=cluster, resolved_at=None)
    return (
        list(open_findings.filter(code__in=FOREIGN_CODES)),
        list(open_findings.filter(code__in=DRIFT_CODES)),
    )


def fresh_read_problems(cluster: Cluster, user) -> list[str]:
    """Read every node now; what kept a node from being read (empty: all read)."""
    job = collection.collection_run(collection.collection_create(cluster, user))
    read = {
        s.node_id: s
        for s in NodeSnapshot.objects.filter(job=job).only("node_id", "reachable", "error")
    }
    problems = []
    for node in Node.objects.filter(cluster=cluster).order_by("name"):
        snapshot = read.get(node.pk)
        if snapshot is None:
            problems.append(f"{node.name}: not collected")
        elif not snapshot.reachable or snapshot.error:
            problems.append(f"{node.name}: {snapshot.error or 'unreachable'}")
    return problems


def cluster_manage(cluster: Cluster, user, accepted: set[int]) -> None:
    """Switch to managed: every node read just now, no foreign config, and every drift
    either gone or accepted by the admin (who thereby agrees the next apply overwrites
    that difference). Stale or missing data never counts as "no difference"."""
    access.require_role(user, cluster, Role.ADMIN)
    problems = fresh_read_problems(cluster, user)
    if problems:
        raise OnboardingError(
            "Switching to managed needs a fresh read of every node, and the portal could "
            "not read: " + "; ".join(problems) + ". Fix the node and try again."
        )
    foreign, drift = mode_switch_blockers(cluster)
    if foreign:
        raise OnboardingError(
            "Configuration owned by another tool or not modelled keeps the cluster monitored: "
            + "; ".join(f.object_ref for f in foreign)
        )
    unaccepted = [f for f in drift if f.pk not in accepted]
    if unaccepted:
        raise OnboardingError(
            f"{len(unaccepted)} difference(s) between the inventory and the nodes need your "
            "decision: " + "; ".join(f.object_ref for f in unaccepted)
        )
    _mode_set(cluster, user, Cluster.Mode.MANAGED, accepted=sorted(accepted))


def cluster_monitor(cluster: Cluster, user) -> None:
    access.require_role(user, cluster, Role.ADMIN)
    _mode_set(cluster, user, Cluster.Mode.MONITORED)


def _mode_set(cluster: Cluster, user, mode: str, accepted: list[int] | None = None) -> None:
    before = {"mode": cluster.mode}
    cluster.mode = mode
    cluster.save(update_fields=["mode"])
    after = {"mode": mode, "accepted_differences": accepted or []}
    audit.record(user, audit.Action.MODE, cluster, before=before, after=after)


def rediscover(cluster: Cluster, user):
    """Collect now; drift findings then show what changed on the nodes since the import."""
    access.require_role(user, cluster, Role.OPERATOR)
    return collection.collection_run(collection.collection_create(cluster, user))
