"""Read-only queries the pages use (fetching, never changing)."""

import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, TypedDict

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
    When,
)
from django.db.models import (
    Value as SqlValue,
)
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.utils import timezone

from clusters import drbd, ssh
from clusters.drbd.options import SAFETY_NET_OPTIONS
from clusters.facts import Value
from clusters.models import (
    SEVERITY_RANK,
    Cluster,
    DrbdResource,
    DrbdVolume,
    Finding,
    InitiatorGroup,
    Job,
    JobEvent,
    LunMapping,
    Mute,
    Node,
    NodeSnapshot,
    ScstDevice,
    Severity,
    Target,
)
from clusters.scst.attributes import IDENTITY_ATTRIBUTES, SAFETY_ATTRIBUTES

if TYPE_CHECKING:  # django-stubs-ext is a type-checking dependency only
    from django_stubs_ext import WithAnnotations


def cluster_rows(clusters: QuerySet[Cluster]) -> QuerySet[Cluster]:
    """Clusters with the counts the list shows, in one query."""
    return clusters.annotate(
        node_count=Count("nodes", distinct=True),
        resource_count=Count("drbd_resources", distinct=True),
        device_count=Count("devices", distinct=True),
    ).order_by("name")


def cluster_inventory(cluster: Cluster) -> dict:
    """Everything the cluster page shows, with related rows prefetched."""
    nodes = Node.objects.filter(cluster=cluster).select_related("credential")
    resources = DrbdResource.objects.filter(cluster=cluster).prefetch_related(
        Prefetch("volumes", queryset=DrbdVolume.objects.select_related("node"))
    )
    devices = ScstDevice.objects.filter(cluster=cluster).select_related("drbd_resource")
    targets = (
        Target.objects.filter(cluster=cluster)
        .select_related("node")
        .prefetch_related(
            Prefetch("groups", queryset=InitiatorGroup.objects.prefetch_related("initiators"))
        )
    )
    mappings = LunMapping.objects.filter(target__cluster=cluster).select_related(
        "device", "target__node", "group"
    )
    return {
        "nodes": nodes,
        "resources": resources,
        "devices": devices,
        "targets": targets,
        "mappings": mappings,
    }


# --- Overview: one row per cluster, a constant number of queries ---------------------

STATUS_ORDER = ("CRITICAL", "UNKNOWN", "WARNING", "INFO", "OK")


@dataclass
class ClusterStatus:
    """One overview row: the cluster, its status and why."""

    cluster: Cluster
    status: str
    counts: dict[str, int]
    last_collected: datetime | None
    nodes_up: int
    nodes_total: int
    unknown_because: str = ""
    last_known: str = ""  # worst severity of findings kept while their node is unread
    luns: int | None = None  # LUNs exported (devices), None when no node was read
    exported_bytes: int | None = None
    sessions: int | None = None
    maintenance: list[str] = field(default_factory=list)  # nodes in maintenance
    expected: int = 0  # open findings expected during that maintenance (not counted)

    @property
    def badge(self) -> str:
        return self.status.lower()


def _count(queryset: QuerySet) -> Coalesce:
    """COUNT(*) of a queryset correlated on its `cluster` column, as a subquery."""
    counted = queryset.order_by().values("cluster").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), SqlValue(0))


def _active_mute(now: datetime) -> QuerySet[Mute]:
    """Active mutes of the finding in the enclosing query (same cluster, code, object)."""
    return Mute.objects.filter(
        cluster=OuterRef("cluster"),
        code=OuterRef("code"),
        object_ref=OuterRef("object_ref"),
        ended_at=None,
        until__gt=now,
    )


def unmuted_open_findings(now: datetime) -> QuerySet[Finding]:
    return Finding.objects.filter(resolved_at=None).exclude(Exists(_active_mute(now)))


def cluster_overview(clusters: QuerySet[Cluster], now: datetime | None = None) -> list:
    """Status, finding counts, last collection and nodes up for every cluster.

    The status is the worst unmuted open finding; data that is missing, unreachable or
    older than three collection intervals makes it UNKNOWN (a known CRITICAL still wins).
    """
    now = now or timezone.now()
    fresh_after = now - timedelta(seconds=3 * settings.COLLECT_INTERVAL_SECONDS)
    open_any = unmuted_open_findings(now).filter(cluster=OuterRef("pk"))
    open_all = open_any.filter(expected_in_maintenance=False)
    open_here = open_all.filter(last_known_at=None)
    last_known = open_all.exclude(last_known_at=None)
    latest = NodeSnapshot.objects.filter(node=OuterRef("pk")).order_by("-collected_at")
    nodes = Node.objects.filter(cluster=OuterRef("pk")).annotate(
        latest_reachable=Subquery(latest.values("reachable")[:1]),
        latest_at=Subquery(latest.values("collected_at")[:1]),
    )
    rows = clusters.annotate(
        n_critical=_count(open_here.filter(severity=Severity.CRITICAL)),
        n_warning=_count(open_here.filter(severity=Severity.WARNING)),
        n_info=_count(open_here.filter(severity=Severity.INFO)),
        lk_critical=_count(last_known.filter(severity=Severity.CRITICAL)),
        lk_warning=_count(last_known.filter(severity=Severity.WARNING)),
        lk_info=_count(last_known.filter(severity=Severity.INFO)),
        n_expected=_count(open_any.filter(expected_in_maintenance=True)),
        nodes_total=_count(nodes),
        nodes_up=_count(nodes.filter(latest_reachable=True)),
        nodes_fresh=_count(nodes.filter(latest_reachable=True, latest_at__gte=fresh_after)),
        nodes_unpinned=_count(nodes.filter(host_key="").exclude(latest_reachable=True)),
        last_collected=Subquery(
            NodeSnapshot.objects.filter(node__cluster=OuterRef("pk"))
            .order_by("-collected_at")
            .values("collected_at")[:1]
        ),
    ).order_by("name")
    statuses = [_status_row(row) for row in rows]
    _add_exports(statuses)
    _add_maintenance(statuses)
    return statuses


def _add_maintenance(rows: list[ClusterStatus]) -> None:
    """Nodes in maintenance per cluster (one query for all clusters)."""
    by_cluster = {row.cluster.pk: row for row in rows}
    drained = Node.objects.filter(cluster_id__in=by_cluster, maintenance_since__isnull=False)
    for cluster_id, name in drained.order_by("name").values_list("cluster_id", "name"):
        by_cluster[cluster_id].maintenance.append(name)


def _add_exports(rows: list[ClusterStatus]) -> None:
    """LUNs, exported size and sessions per cluster from the nodes' latest summaries
    (findings_refresh stores them with each snapshot): one query for all clusters."""
    by_cluster = {row.cluster.pk: row for row in rows}
    latest = NodeSnapshot.objects.filter(node=OuterRef("pk"), reachable=True, error="")
    summaries = (
        Node.objects.filter(cluster_id__in=by_cluster)
        .annotate(summary=Subquery(latest.order_by("-collected_at").values("facts")[:1]))
        .values_list("cluster_id", "summary")
    )
    devices: dict[int, dict[str, int]] = {}
    for cluster_id, facts in summaries:
        exports = facts.get("exports") if isinstance(facts, dict) else None
        if not isinstance(exports, dict):
            continue
        row = by_cluster[cluster_id]
        row.sessions = (row.sessions or 0) + int(exports.get("sessions") or 0)
        devices.setdefault(cluster_id, {}).update(exports.get("devices") or {})
    for cluster_id, sizes in devices.items():
        by_cluster[cluster_id].luns = len(sizes)
        by_cluster[cluster_id].exported_bytes = sum(int(size or 0) for size in sizes.values())


class _ClusterCounts(TypedDict):
    """What cluster_statuses annotates each Cluster with."""

    n_critical: int
    n_warning: int
    n_info: int
    lk_critical: int
    lk_warning: int
    lk_info: int
    nodes_total: int
    nodes_up: int
    nodes_fresh: int
    nodes_unpinned: int
    n_expected: int
    last_collected: datetime | None


def _status_row(row: "WithAnnotations[Cluster, _ClusterCounts]") -> ClusterStatus:
    counts = {"CRITICAL": row.n_critical, "WARNING": row.n_warning, "INFO": row.n_info}
    known = {"CRITICAL": row.lk_critical, "WARNING": row.lk_warning, "INFO": row.lk_info}
    last_known = next((severity for severity, n in known.items() if n), "")
    if row.last_collected is None:
        unknown = "never collected"
    elif row.nodes_up < row.nodes_total:
        unknown = f"{row.nodes_total - row.nodes_up} of {row.nodes_total} nodes unreachable"
        if row.nodes_unpinned:  # not down: the portal does not connect until approved
            keys = "host key awaits" if row.nodes_unpinned == 1 else "host keys await"
            unknown += f" ({row.nodes_unpinned} {keys} approval)"
    elif row.nodes_fresh < row.nodes_total:
        unknown = "data is stale"
    else:
        unknown = ""
    if last_known and not unknown:
        unknown = "findings kept from the last successful read"
    found = [severity for severity, n in counts.items() if n]
    candidates = found + (["UNKNOWN"] if unknown else []) + ["OK"]
    status = min(candidates, key=STATUS_ORDER.index)
    return ClusterStatus(
        cluster=row,
        status=status,
        counts=counts,
        last_collected=row.last_collected,
        nodes_up=row.nodes_up,
        nodes_total=row.nodes_total,
        unknown_because=unknown,
        last_known=last_known,
        expected=row.n_expected,
    )


# --- Compliance: open findings across clusters, with their mutes and rules -----------

SEVERITY_ORDER = Case(
    *(When(severity=sev, then=SqlValue(rank)) for sev, rank in SEVERITY_RANK.items()),
    default=SqlValue(0),
    output_field=IntegerField(),
)


def open_findings(
    clusters: QuerySet[Cluster],
    severity: str = "",
    code: str = "",
    cluster_name: str = "",
    now: datetime | None = None,
    pk: int | None = None,
) -> list[Finding]:
    """Open findings of the clusters, worst first, each with its active mute (if any)
    as mute_until / mute_by / mute_reason and its catalogue entry as `rule`."""
    return _with_rules(
        list(open_findings_query(clusters, severity, code, cluster_name, now=now, pk=pk))
    )


def open_findings_page(
    clusters: QuerySet[Cluster],
    page: str | int | None,
    per_page: int,
    severity: str = "",
    code: str = "",
    cluster_name: str = "",
) -> Page:
    """One page of open_findings (the rest stays in the database)."""
    query = open_findings_query(clusters, severity, code, cluster_name)
    found = Paginator(query, per_page).get_page(page)
    _with_rules(found.object_list)
    return found


def open_findings_query(
    clusters: QuerySet[Cluster],
    severity: str = "",
    code: str = "",
    cluster_name: str = "",
    now: datetime | None = None,
    pk: int | None = None,
) -> QuerySet[Finding]:
    mute = _active_mute(now or timezone.now()).order_by("-until")
    findings = (
        Finding.objects.filter(cluster__in=clusters, resolved_at=None)
        .select_related("cluster")
        .annotate(
            rank=SEVERITY_ORDER,
            mute_until=Subquery(mute.values("until")[:1]),
            mute_by=Subquery(mute.values("created_by__username")[:1]),
            mute_reason=Subquery(mute.values("reason")[:1]),
        )
        .order_by("-rank", "cluster__name", "code", "object_ref", "pk")
    )
    if severity:
        findings = findings.filter(severity=severity)
    if code:
        findings = findings.filter(code=code)
    if cluster_name:
        findings = findings.filter(cluster__name=cluster_name)
    if pk is not None:
        findings = findings.filter(pk=pk)
    return findings


def _with_rules(rows):
    from clusters.compliance import CATALOGUE

    for finding in rows:
        finding.rule = CATALOGUE.get(finding.code)
    return rows


def finding_codes(clusters: QuerySet[Cluster]) -> list[str]:
    """Every code the filter offers: the catalogue plus codes of stored findings."""
    from clusters.compliance import CATALOGUE

    stored = Finding.objects.filter(cluster__in=clusters, resolved_at=None)
    return sorted(set(CATALOGUE) | set(stored.values_list("code", flat=True).distinct()))


# --- Cluster page: live state of both nodes side by side ------------------------------


@dataclass
class HostKeyState:
    pinned: str  # SHA256 fingerprints, "" when none
    pending: str

    @property
    def changed(self) -> bool:
        return bool(self.pinned and self.pending)


@dataclass
class NodeStatus:
    node: Node
    snapshot: NodeSnapshot | None
    host_key: HostKeyState
    problems: list[str]
    last_good: datetime | None = None  # the latest successful read (None: never)

    @property
    def has_data(self) -> bool:
        return bool(self.snapshot and self.snapshot.reachable and not self.snapshot.error)


# Health of a shown value, worst first. "unknown": the node could not be read.
HEALTH_ORDER = ("critical", "warning", "unknown", "ok", "neutral")


def worst(healths) -> str:
    return min(healths, key=HEALTH_ORDER.index, default="neutral")


SHOWN_MAX = 200


def shown(text: str | None) -> str | None:
    """A node's text as a page may show it: control characters (NUL, newlines) escaped as
    Python does, and at most SHOWN_MAX characters (a node must not size the page)."""
    if text is None:
        return None
    if any(unicodedata.category(c) == "Cc" for c in text):
        text = repr(text)[1:-1]
    if len(text) > SHOWN_MAX:
        text = text[:SHOWN_MAX] + f"… ({len(text)} characters)"
    return text


@dataclass
class Compared:
    """One attribute of one object on every node; `differs` when nodes that were read
    disagree (a node without data is unknown, not different)."""

    label: str
    values: list[Value]
    healths: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # UNKNOWN stays the one object it is (`is UNKNOWN` marks a node without data).
        self.values = [
            v if v is UNKNOWN else Value(shown(v.value), shown(v.evidence) or "")
            for v in self.values
        ]

    @property
    def differs(self) -> bool:
        return len({v.value for v in self.values if v is not UNKNOWN}) > 1

    @property
    def cells(self) -> list[tuple[Value, str]]:
        healths = self.healths or ["neutral"] * len(self.values)
        return list(zip(self.values, healths, strict=True))


@dataclass
class NodeCell:
    """One object on one node, for the one-row summary: health and the key states."""

    health: str
    chips: list[tuple[str, str]]  # (text, health)
    node: str = ""
    unknown: bool = False
    last_good: datetime | None = None


@dataclass
class ComparedObject:
    name: str
    rows: list[Compared]
    note: str = ""
    cells: list[NodeCell] = field(default_factory=list)

    @property
    def health(self) -> str:
        return worst(c.health for c in self.cells)

    def __post_init__(self) -> None:
        self.name = shown(self.name) or ""


def host_key_state(node: Node) -> HostKeyState:
    """SHA256 fingerprints of the node's pinned and offered host keys."""
    return HostKeyState(_fingerprint(node.host_key), _fingerprint(node.pending_host_key))


def _fingerprint(key: str) -> str:
    try:
        return ssh.fingerprint(key)
    except ValueError:
        return "unreadable key"


def cluster_live_state(cluster: Cluster) -> dict:
    """Per node: latest snapshot and host key; DRBD resources and LUNs compared across
    nodes from the latest snapshots (nodes without data show unknown values)."""
    from clusters.services.facts import latest_snapshots, node_facts_for
    from clusters.services.findings import last_reads

    nodes = list(Node.objects.filter(cluster=cluster).order_by("name"))
    latest = latest_snapshots(cluster)
    good = last_reads(cluster, {node.name for node in nodes})
    statuses, facts = [], []
    for node in nodes:
        snaps = latest.get(node.name) or []
        snapshot = snaps[0] if snaps else None
        node_facts = node_facts_for(snapshot) if snapshot else None
        problems = node_facts.problems if node_facts else []
        statuses.append(
            NodeStatus(node, snapshot, host_key_state(node), problems, good.get(node.name))
        )
        facts.append(node_facts if node_facts and node_facts.has_data else None)
    inventory_devices = list(cluster.devices.values_list("name", flat=True))
    inventory_resources = list(cluster.drbd_resources.values_list("name", flat=True))
    drbd_objects = compare_drbd(facts, inventory_resources)
    lun_objects = compare_luns(facts, inventory_devices)
    for obj in drbd_objects:
        obj.cells = _cells(obj, statuses, DRBD_CHIPS)
    for obj in lun_objects:
        obj.cells = _cells(obj, statuses, LUN_CHIPS)
    return {
        "node_statuses": statuses,
        "node_names": [node.name for node in nodes],
        "drbd_compared": drbd_objects,
        "luns_compared": lun_objects,
        "initiators_live": initiators_live(facts, [node.name for node in nodes]),
    }


DRBD_CHIPS = ("role", "disk", "connection", "peer disk", "out-of-sync")
LUN_CHIPS = ("handler", "nv_cache", "write_through", "t10_dev_id")


def _cells(obj: ComparedObject, statuses: list[NodeStatus], chips: tuple[str, ...]):
    """Per node: the object's worst health and its key states as coloured chips."""
    cells = []
    for index, status in enumerate(statuses):
        if not status.has_data:
            cells.append(
                NodeCell("unknown", [], status.node.name, unknown=True, last_good=status.last_good)
            )
            continue
        healths = [row.healths[index] for row in obj.rows if row.healths]
        shown = []
        for row in obj.rows:
            value, health = row.values[index], row.healths[index]
            if row.label not in chips or value.value in (None, "0 KiB"):
                continue
            text = value.value if row.label in ("role", "handler") else f"{row.label} {value.value}"
            shown.append((text, health))
        cells.append(NodeCell(worst(healths), shown, status.node.name))
    return cells


def _health(rules: dict, row: Compared) -> list[str]:
    """Each cell's health: UNKNOWN is unknown, a missing value a warning, else the rule."""
    rule = rules.get(row.label)
    healths = []
    for value in row.values:
        if value is UNKNOWN:
            healths.append("unknown")
        elif value.value is None:
            healths.append("warning" if row.differs else "neutral")
        elif rule is None:
            healths.append("neutral")
        else:
            parts = [part.strip() for part in value.value.split(",")]
            healths.append(worst(rule(part, row) for part in parts))
    return healths


def _is(*good: str, bad: str = "warning"):
    return lambda value, row: "ok" if value in good else bad


def _same(bad: str = "critical"):
    return lambda value, row: bad if row.differs else "ok"


# How healthy each shown value is, from the rule catalogue's own thresholds.
DRBD_HEALTH = {
    "role": _is("Primary"),
    "peer role": _is("Primary"),
    "disk": _is("UpToDate"),
    "peer disk": _is("UpToDate"),
    "connection": _is("Connected", bad="critical"),
    "replication": _is("Established"),
    "out-of-sync": _is("0 KiB"),
    "protocol": _is("C", bad="critical"),
    "allow-two-primaries": _is("yes", bad="critical"),
    "fencing": _is("resource-and-stonith"),
}
LUN_HEALTH = {
    "handler": _is("vdisk_blockio", "vdisk_fileio", bad="critical"),
    "nv_cache": _is("0", bad="critical"),
    "write_through": _is("1", bad="critical"),
    "filename": lambda value, row: "ok" if value.startswith("/dev/drbd") else "critical",
    "blocksize": _same("warning"),
    **{attr: _same() for attr in IDENTITY_ATTRIBUTES},
}


@dataclass
class InitiatorRow:
    """One initiator and where it is logged in, per node (None: no session there)."""

    name: str
    per_node: list[str | None]
    unknown: list[bool]

    @property
    def both(self) -> bool:
        return sum(1 for v in self.per_node if v) > 1


def initiators_live(facts: list, names: list[str]) -> list[InitiatorRow]:
    """Every logged-in initiator with its target (and group) on each node."""
    seen: dict[str, list[str | None]] = {}
    for index, f in enumerate(facts):
        if f is None:
            continue
        for target, session in f.sessions():
            name = session.initiator_name or session.name
            where = target + (f" (group {session.group})" if session.group else "")
            row = seen.setdefault(name, [None] * len(facts))
            row[index] = where if row[index] is None else f"{row[index]}; {where}"
    return [InitiatorRow(n, v, [f is None for f in facts]) for n, v in sorted(seen.items())]


UNKNOWN = Value(None, "no data from this node")
NET_OPTIONS = SAFETY_NET_OPTIONS
DRBD_FIELDS: tuple[str, ...] = (
    "role",
    "disk",
    "connection",
    "peer role",
    "replication",
    "peer disk",
    "out-of-sync",
)
DRBD_FIELDS += NET_OPTIONS


def compare_drbd(facts: list, inventory: list[str]) -> list[ComparedObject]:
    names = set(inventory)
    for f in facts:
        if f is not None:
            names |= set(f.drbd_status or {}) | set(f.drbd_show or {})
    objects = []
    for name in sorted(names):
        per_node = [_drbd_values(f, name) for f in facts]
        rows = [Compared(label, [values[label] for values in per_node]) for label in DRBD_FIELDS]
        for row in rows:
            row.healths = _health(DRBD_HEALTH, row)
        objects.append(ComparedObject(name, rows))
    return objects


def _drbd_values(f, name: str) -> dict[str, Value]:
    if f is None:
        return dict.fromkeys(DRBD_FIELDS, UNKNOWN)
    missing = "not readable" if f.drbd_status is None else f"without {name}"
    values = dict.fromkeys(DRBD_FIELDS, Value(None, f"drbdsetup status on {f.name}: {missing}"))
    state = (f.drbd_status or {}).get(name)
    if state is not None:
        evidence = f"drbdsetup status --json on {f.name}"
        peers = state.peers
        peer_devices = [d for p in peers for d in p.devices]
        oos = [d.out_of_sync_kib for d in peer_devices if d.out_of_sync_kib is not None]
        values.update(
            {
                "role": Value(state.role, evidence),
                "disk": Value(_join(d.disk for d in state.devices), evidence),
                "connection": Value(_join(p.connection for p in peers), evidence),
                "peer role": Value(_join(p.role for p in peers), evidence),
                "replication": Value(_join(d.replication for d in peer_devices), evidence),
                "peer disk": Value(_join(d.peer_disk for d in peer_devices), evidence),
                "out-of-sync": Value(f"{sum(oos)} KiB" if oos else None, evidence),
            }
        )
    show = (f.drbd_show or {}).get(name)
    missing = "not readable" if f.drbd_show is None else f"without {name}"
    for option in NET_OPTIONS:
        values[option] = Value(None, f"drbdsetup show on {f.name}: {missing}")
    if show is not None:
        try:
            net = drbd.effective_net_options(show)
            evidence = f"drbdsetup show on {f.name} (omitted options are DRBD defaults)"
        except drbd.DrbdConfigError as exc:
            net, evidence = {}, str(exc)
        for option in NET_OPTIONS:
            values[option] = Value(net.get(option), evidence)
    return values


def _join(items) -> str | None:
    """Distinct values in order, comma-separated (one per volume or peer)."""
    seen = list(dict.fromkeys(item for item in items if item))
    return ", ".join(seen) if seen else None


LUN_FIELDS = (*IDENTITY_ATTRIBUTES, "handler", *SAFETY_ATTRIBUTES, "filename", "blocksize")


def compare_luns(facts: list, inventory: list[str]) -> list[ComparedObject]:
    names = set(inventory)
    for f in facts:
        if f is not None:
            names |= set(f.device_names())
    objects = []
    for name in sorted(names):
        rows = [Compared(attr, [_lun_value(f, name, attr) for f in facts]) for attr in LUN_FIELDS]
        for row in rows:
            row.healths = _health(LUN_HEALTH, row)
        note = "" if name in inventory else "not in the inventory"
        objects.append(ComparedObject(name, rows, note))
    return objects


def _lun_value(f, device: str, attr: str) -> Value:
    if f is None:
        return UNKNOWN
    if device not in f.device_names():
        return Value(None, f"{device} is not configured on {f.name}")
    if attr == "handler":
        return Value(f.device_handler(device), f"SCST handler of {device} on {f.name}")
    return f.device_attribute(device, attr)


# --- Jobs --------------------------------------------------------------------------


def job_with_events(job_id: int) -> Job:
    """The job, its cluster and requester, with its events and their nodes."""
    events = JobEvent.objects.select_related("node")
    return get_object_or_404(
        Job.objects.select_related("cluster", "requested_by").prefetch_related(
            Prefetch("events", queryset=events)
        ),
        pk=job_id,
    )


def job_warnings(job: Job) -> list[str]:
    """What the plan behind a plan or apply job warned about (initiators logged in, paths
    dropped while a device is re-created): shown until the job's page is closed."""
    from clusters.services.changes import Plan

    if job.kind == Job.Kind.APPLY and job.params.get("plan_job"):
        plan_job = Job.objects.filter(pk=job.params["plan_job"]).only("params").first()
        params = plan_job.params if plan_job else {}
    elif job.kind == Job.Kind.PLAN:
        params = job.params
    else:
        return []
    if not isinstance(params, dict) or not {"description", "change", "nodes"} <= set(params):
        return []
    return Plan.from_json(params).warnings


def cluster_lock_state(cluster: Cluster) -> dict:
    """Who holds the cluster's one-writer lock (a PostgreSQL row), for the lock line."""
    from clusters import locks

    holder = locks.holder_of(cluster.pk)
    return {
        "holder": holder,
        "checked": True,
        "since": holder.since if holder else None,
        "expires": holder.expires if holder else None,
    }


@dataclass(frozen=True)
class JobFilters:
    """What the jobs centre narrows to; empty values narrow nothing."""

    cluster: str = ""
    kind: str = ""
    state: str = ""
    user: str = ""
    since: date | None = None
    until: date | None = None


def jobs_visible_to(user) -> QuerySet[Job]:
    """Every job the job page would show this user: jobs of clusters they may see, and
    jobs of all clusters (no cluster) for global roles and superusers."""
    from clusters import access

    return access.visible_jobs(user).select_related("cluster", "requested_by")


def job_list(user, filters: JobFilters) -> QuerySet[Job]:
    """The jobs centre's rows, newest first, narrowed by `filters`."""
    jobs = jobs_visible_to(user)
    if filters.cluster:
        jobs = jobs.filter(cluster__name=filters.cluster)
    if filters.kind:
        jobs = jobs.filter(kind=filters.kind)
    if filters.state:
        jobs = jobs.filter(state=filters.state)
    if filters.user:
        jobs = jobs.filter(requested_by__username=filters.user)
    if filters.since:
        jobs = jobs.filter(created_at__date__gte=filters.since)
    if filters.until:
        jobs = jobs.filter(created_at__date__lte=filters.until)
    return jobs.order_by("-created_at", "-pk")


@dataclass
class ConnectedInitiator:
    node: str
    target: str
    lun_set: str
    initiator: str
    luns: list[int]
    read_cmds: int | None
    write_cmds: int | None


def connected_initiators(cluster: Cluster, device: str) -> tuple[list, list[str], list]:
    """Sessions (latest snapshots) whose LUN set contains the device; nodes without data;
    and the snapshots read (for their age)."""
    from clusters.services.facts import latest_snapshots, node_facts_for

    rows, unknown, snapshots = [], [], []
    for name, snaps in latest_snapshots(cluster).items():
        facts = node_facts_for(snaps[0]) if snaps else None
        if facts is None or not facts.has_data or facts.scst_live is None:
            unknown.append(name)
            continue
        snapshots.append(snaps[0])
        rows += [
            ConnectedInitiator(
                name,
                target_name,
                f"group {session.group}" if session.group else "default LUN set",
                session.initiator_name or session.name,
                numbers,
                session.counter("read_cmd_count"),
                session.counter("write_cmd_count"),
            )
            for target_name, session, numbers in facts.sessions_seeing(device)
        ]
    return rows, unknown, snapshots
