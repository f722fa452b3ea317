"""Adopt an existing cluster: register its nodes, discover their live config, import it,
and later let an admin switch it from monitored to managed."""

from dataclasses import dataclass, field

from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import models, transaction

from clusters import access, audit
from clusters.drbd import DrbdConfigError
from clusters.facts import NodeFacts
from clusters.models import (
    Cluster,
    Finding,
    Node,
    NodeSnapshot,
    Role,
    ScstDevice,
    SshCredential,
)
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
    "t10_vend_id",
    "eui64_id",
    "naa_id",
    "nv_cache",
    "write_through",
    "cluster_mode",
    "blocksize",
    "rotational",
)
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
            key = adopt.device_key(device, attr) if choosable else ""
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
            adopt.drbd_key(name, "protocol") if both else "",
        )
        _row(
            result,
            "DRBD resources",
            name,
            "net allow-two-primaries",
            [c.net.get("allow-two-primaries") if c else None for c in configs],
            adopt.drbd_key(name, "net", "allow-two-primaries") if both else "",
        )
        sections = [adopt.drbd_options(c) if c else {} for c in configs]
        for section in ("net", "disk", "handlers", "startup", "options"):
            options = sorted({o for s in sections for o in s.get(section, {})})
            for option in options:
                values = [s.get(section, {}).get(option) if s else None for s in sections]
                key = adopt.drbd_key(name, section, option) if both else ""
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


def _check_choices(choices: dict[str, str]) -> None:
    """A typed value must be one the inventory can hold (the field's own validators)."""
    errors = []
    for key, value in choices.items():
        kind, _, rest = key.partition(":")
        attr = rest.rpartition(":")[2]
        if kind != "device":
            continue  # DRBD options are checked by rendering them (validate_resource)
        if attr == "handler":
            if value not in adopt.MODELLED_HANDLERS:
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
        raise OnboardingError("These chosen values cannot be used: " + "; ".join(errors))


@dataclass
class AdoptionPreview:
    """What an import with these choices would store, and what the first apply after
    switching to managed would change on each node (the drift it would leave)."""

    inventory: dict
    changes: list[tuple[str, str, str]]  # (node, object, what the apply would change)
    report: adopt.AdoptionReport
    problems: list[str] = field(default_factory=list)


class _DryRun(Exception):
    """Rolls the preview's import back."""


def adoption_preview(cluster: Cluster, choices: dict[str, str]) -> AdoptionPreview:
    """Import inside a transaction that is always rolled back, render it, compare it."""
    from clusters.compliance import drift_rules
    from clusters.desired import desired_cluster
    from clusters.services.facts import cluster_facts

    if cluster.devices.exists() or cluster.drbd_resources.exists():
        raise OnboardingError(f"{cluster.name} already has an inventory; use re-discovery.")
    found = discovery(cluster)
    if found.problems:
        raise OnboardingError("Cannot import yet: " + "; ".join(found.problems))
    _check_choices(choices)
    preview: AdoptionPreview | None = None
    try:
        with transaction.atomic():
            report = adopt.inventory_import(cluster, found.nodes, choices)
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
) -> adopt.AdoptionReport:
    """Import the discovered config into an empty inventory, then judge it again.

    Where the nodes differ the admin chooses (node A's, node B's, or a typed value):
    nothing is taken from one node silently.
    """
    from clusters.desired import desired_cluster
    from clusters.services.findings import findings_refresh

    choices = choices or {}
    access.require_role(user, cluster, Role.ADMIN)
    if cluster.devices.exists() or cluster.drbd_resources.exists():
        raise OnboardingError(f"{cluster.name} already has an inventory; use re-discovery.")
    found = discovery(cluster)
    if found.problems:
        raise OnboardingError("Cannot import yet: " + "; ".join(found.problems))
    needed = choices_needed(found, choices)
    if needed:
        raise OnboardingError(
            f"The nodes differ in {len(needed)} setting(s); choose node A's, node B's or a "
            "value for each: "
            + "; ".join(f"{r['object']} {r['field']} ({' / '.join(r['values'])})" for r in needed)
        )
    _check_choices(choices)
    with transaction.atomic():
        report = adopt.inventory_import(cluster, found.nodes, choices)
        try:
            desired_cluster(cluster)
        except DrbdConfigError as exc:  # raised inside atomic(): nothing is kept
            raise OnboardingError(f"The imported DRBD options cannot be rendered: {exc}") from exc
        after = inventory.inventory_export(cluster)
        audit.record(user, audit.Action.ADOPT, cluster, after={**after, "choices": choices})
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
