"""Findings: evaluate compliance over the latest snapshots, keep first/last seen, mutes."""

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from clusters import audit
from clusters.facts import NodeFacts
from clusters.models import SEVERITY_RANK, Cluster, Finding, Mute, Node, NodeSnapshot, Severity


def findings_refresh(cluster: Cluster, facts=None) -> list[Finding]:
    """Re-evaluate the cluster's rules on its latest snapshots (FACTS when the caller has
    just built them) and store the outcome."""
    from clusters.compliance import evaluate
    from clusters.services.facts import cluster_facts

    facts = facts or cluster_facts(cluster)
    unread = {node.name for node in facts.nodes if not node.has_data}
    exports_store(cluster, facts.nodes)
    return findings_store(cluster, evaluate(facts), last_reads(cluster, unread))


def exports_summary(node: NodeFacts) -> dict:
    """What the node exports, for the overview: exported devices with their size in
    bytes (sysfs `size`, 0 when unread), and the number of initiator sessions."""
    exported = {row[4] for row in node.exported_luns() if row[4]}
    live = node.scst_live.devices if node.scst_live is not None else {}
    devices = {}
    for name in sorted(exported):
        size = live[name].attributes.get("size") if name in live else None
        text = (size.value if size else "").strip()
        devices[name] = int(text) if text.isascii() and text.isdigit() else 0
    return {"devices": devices, "sessions": len(node.sessions())}


def exports_store(cluster: Cluster, nodes: list[NodeFacts]) -> None:
    """Keep each read node's export summary with its latest snapshot (see selectors)."""
    for node in nodes:
        if not node.has_data or node.collected_at is None:
            continue
        snapshot = (
            NodeSnapshot.objects.filter(
                node__cluster=cluster, node__name=node.name, collected_at=node.collected_at
            )
            .only("pk", "facts")
            .first()
        )
        if snapshot is not None and not isinstance(snapshot.facts, dict):
            continue
        if snapshot is not None:
            snapshot.facts = {**snapshot.facts, "exports": exports_summary(node)}
            snapshot.save(update_fields=["facts"])


def last_reads(cluster: Cluster, names: set[str]) -> dict[str, datetime | None]:
    """When each named node was last read successfully (None: never)."""
    reads: dict[str, datetime | None] = dict.fromkeys(names)
    if names:
        snapshots = NodeSnapshot.objects.filter(
            node__cluster=cluster, node__name__in=names, reachable=True, error=""
        )
        for name, at in snapshots.values_list("node__name").annotate(at=Max("collected_at")):
            reads[name] = at
    return reads


# Judged from the portal's own records (collection outcomes, host keys, jobs), not from
# what a node runs: these close as soon as the records say so.
NOT_READ_FROM_NODES = frozenset(
    {
        "NODE_UNREACHABLE",
        "DATA_STALE",
        "COLLECTION_INCOMPLETE",
        "HOST_KEY_PENDING",
        "HOST_KEY_CHANGED",
        "APPLY_INTERRUPTED",
    }
)


def evidence_nodes(finding: Finding) -> set[str]:
    """Nodes a finding was read from (its detail lines); empty: the whole cluster."""
    return {d["node"] for d in finding.details or [] if isinstance(d, dict) and d.get("node")}


@transaction.atomic
def findings_collection_failed(cluster: Cluster, reason: str) -> Finding:
    """The cluster could not be collected or evaluated: open (or update) its
    COLLECTION_INCOMPLETE finding and leave its other findings as last evaluated; the
    next complete evaluation resolves it."""
    from clusters.compliance.catalogue import CATALOGUE, Detail

    item = CATALOGUE["COLLECTION_INCOMPLETE"].finding(
        f"cluster:{cluster.name}",
        Detail(
            "The cluster's collection or evaluation failed; the findings shown are "
            "from its last complete evaluation.",
            reason[:2000],
        ),
    )
    now = timezone.now()
    finding, _ = Finding.objects.select_for_update().get_or_create(
        cluster=cluster,
        code=item.code,
        object_ref=item.object_ref,
        resolved_at=None,
        defaults={"first_seen": now, "last_seen": now, "severity": item.severity},
    )
    finding.severity, finding.title = item.severity, item.title
    finding.details, finding.last_seen = item.details_json(), now
    finding.save()
    return finding


@transaction.atomic
def findings_store(
    cluster: Cluster, found: list, unread: dict[str, datetime | None] | None = None
) -> list[Finding]:
    """Open new findings, update the ones still present, resolve the ones gone.

    A finding closes only when a fresh read shows it fixed: one that was read from a node
    in UNREAD (no data this time; value: its last successful read) stays open, marked
    last known. A mute ends by itself when its finding gets worse than it was when muted.
    """
    unread = unread or {}
    now = timezone.now()
    open_findings = {
        (f.code, f.object_ref): f
        for f in Finding.objects.select_for_update().filter(cluster=cluster, resolved_at=None)
    }
    before = {key: f.severity for key, f in open_findings.items()}
    in_maintenance = maintenance_nodes(cluster)
    # A finding that was expected during maintenance alerts as new once it no longer is.
    quiet = {key for key, f in open_findings.items() if f.expected_in_maintenance}
    kept = []
    for item in found:
        finding = open_findings.pop((item.code, item.object_ref), None)
        if finding is None:
            finding = Finding(
                cluster=cluster, code=item.code, object_ref=item.object_ref, first_seen=now
            )
        finding.severity, finding.title = item.severity, bounded(item.title, 200)
        finding.details, finding.last_seen = bounded_details(item.details_json()), now
        finding.last_known_at = None
        finding.expected_in_maintenance = expected_in_maintenance(finding, in_maintenance)
        finding.save()
        kept.append(finding)
        _end_mutes_if_worse(cluster, finding, now)
    for gone in open_findings.values():
        blind = (evidence_nodes(gone) or set(unread)) & set(unread)
        if blind and gone.code not in NOT_READ_FROM_NODES:
            reads = [at for name in blind if (at := unread[name]) is not None]
            gone.last_known_at = min(reads) if reads else gone.last_seen
            gone.save(update_fields=["last_known_at"])
            kept.append(gone)
            continue
        gone.resolved_at = now
        gone.save(update_fields=["resolved_at"])
    alarms = [f for f in kept if not f.expected_in_maintenance]
    alarmed = {key: sev for key, sev in before.items() if key not in quiet}
    _report(cluster, alarms, alarmed, list(open_findings.values()))
    return kept


def maintenance_nodes(cluster: Cluster) -> dict[str, datetime]:
    """Nodes of the cluster in maintenance, with when it began."""
    rows = Node.objects.filter(cluster=cluster, maintenance_since__isnull=False)
    return {name: since for name, since in rows.values_list("name", "maintenance_since") if since}


def expected_in_maintenance(finding: Finding, in_maintenance: dict[str, datetime]) -> bool:
    """A finding first seen since a node went into maintenance and read from that node is
    what the maintenance does (targets disabled, DRBD disconnected): shown as expected, not
    counted in the cluster's status, no alert. One read only from the peer, or open
    before the maintenance, stays an alarm."""
    return any(
        finding.first_seen >= since
        for name, since in in_maintenance.items()
        if name in evidence_nodes(finding)
    )


def _report(cluster: Cluster, kept: list[Finding], before: dict, gone: list[Finding]) -> None:
    """Alerts for what opened, got worse or closed; the day's counts for the history."""
    from clusters.services import alerts, history

    alerts.findings_stored(cluster, kept, before, gone)
    history.record_findings(cluster)


def bounded(text: str | None, limit: int | None = None) -> str:
    """Node-sent text as stored: NUL made visible (PostgreSQL text cannot hold it) and cut
    at `limit` (FINDING_EVIDENCE_MAX_CHARS) with the original length said."""
    limit = limit or settings.FINDING_EVIDENCE_MAX_CHARS
    text = (text or "").replace("\x00", "\\x00")
    if len(text) <= limit:
        return text
    return text[:limit] + f"… [truncated: {len(text)} characters]"


def bounded_details(details: list[dict]) -> list[dict]:
    """A finding's detail lines with every text and evidence bounded, and at most
    FINDING_MAX_DETAILS lines: a page's size never depends on what a node sends."""
    limit = settings.FINDING_MAX_DETAILS
    kept = [
        {**d, "text": bounded(d.get("text")), "evidence": bounded(d.get("evidence"))}
        for d in details[:limit]
    ]
    if len(details) > limit:
        kept.append(
            {"node": None, "text": f"… and {len(details) - limit} more lines", "evidence": ""}
        )
    return kept


def _end_mutes_if_worse(cluster: Cluster, finding: Finding, now: datetime) -> None:
    for mute in active_mutes(cluster).filter(code=finding.code, object_ref=finding.object_ref):
        if (
            SEVERITY_RANK[Severity(finding.severity)]
            > SEVERITY_RANK[Severity(mute.severity_at_mute)]
        ):
            mute.ended_at = now
            mute.save(update_fields=["ended_at"])


def active_mutes(cluster: Cluster):
    return Mute.objects.filter(cluster=cluster, ended_at=None, until__gt=timezone.now())


@transaction.atomic
def mute_create(finding: Finding, user, reason: str, until: datetime) -> Mute:
    """Accept one finding code on one object until `until`; a reason is required."""
    if not reason.strip():
        raise ValueError("A reason is required to mute a finding.")
    if until <= timezone.now():
        raise ValueError("The mute must end in the future.")
    mute = Mute.objects.create(
        cluster=finding.cluster,
        code=finding.code,
        object_ref=finding.object_ref,
        severity_at_mute=finding.severity,
        reason=reason.strip(),
        created_by=user,
        until=until,
    )
    audit.record(user, audit.Action.MUTE, mute, after=audit.snapshot(mute), reason=mute.reason)
    return mute
