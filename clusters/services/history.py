"""History: counters recorded at every collection, and the series the charts draw.

Recorded per node from the snapshot just stored: DRBD out-of-sync KiB and percent in
sync per resource/volume (resync progress), each initiator session's read and write
command counts per LUN it sees, and how long the collection took. Recorded per cluster
when findings are stored: open findings by severity. Kept HISTORY_RETENTION_DAYS.
"""

from __future__ import annotations

import itertools
import logging
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from clusters import charts
from clusters.facts import NodeFacts
from clusters.models import Cluster, Finding, NodeSnapshot, Sample, Severity

log = logging.getLogger(__name__)

OUT_OF_SYNC = "drbd_out_of_sync_kib"  # key: resource/volume
IN_SYNC = "drbd_in_sync_percent"  # key: resource/volume
READS = "session_reads"  # key: device|initiator; SCST's read_cmd_count (cumulative)
WRITES = "session_writes"  # key: device|initiator; SCST's write_cmd_count (cumulative)
COLLECT_SECONDS = "collect_seconds"
FINDINGS_OPEN = "findings_open"  # key: severity; per cluster
SERIES = (OUT_OF_SYNC, IN_SYNC, READS, WRITES, COLLECT_SECONDS, FINDINGS_OPEN)


# --- recording -----------------------------------------------------------------------------


def snapshot_samples(snapshot: NodeSnapshot, facts: NodeFacts) -> list[Sample]:
    """The samples one node's collection yields (none of what it could not read)."""
    node, at = snapshot.node, snapshot.collected_at
    samples = [
        Sample(
            cluster_id=node.cluster_id,
            node=node,
            series=COLLECT_SECONDS,
            at=at,
            value=snapshot.duration_ms / 1000,
        )
    ]
    if not facts.has_data:
        return samples

    def add(series: str, key: str, value: float) -> None:
        samples.append(
            Sample(
                cluster_id=node.cluster_id, node=node, series=series, key=key, at=at, value=value
            )
        )

    for name, resource in sorted((facts.drbd_status or {}).items()):
        out_of_sync: dict[int, int] = defaultdict(int)
        in_sync: dict[int, float] = {}
        for peer in resource.peers:
            for pd in peer.devices:
                if pd.out_of_sync_kib is not None:
                    out_of_sync[pd.volume] += pd.out_of_sync_kib
                if pd.percent_in_sync is not None:
                    in_sync[pd.volume] = min(in_sync.get(pd.volume, 100.0), pd.percent_in_sync)
        for volume, kib in sorted(out_of_sync.items()):
            add(OUT_OF_SYNC, f"{name}/{volume}", kib)
        for volume, percent in sorted(in_sync.items()):
            add(IN_SYNC, f"{name}/{volume}", percent)
    for device in facts.device_names():
        for _target, session, _luns in facts.sessions_seeing(device):
            initiator = session.initiator_name or session.name
            for series, counter in ((READS, "read_cmd_count"), (WRITES, "write_cmd_count")):
                value = session.counter(counter)
                if value is not None:
                    add(series, f"{device}|{initiator}", value)
    return samples


def record_snapshot(snapshot: NodeSnapshot) -> int:
    """Record the counters of a stored snapshot (called by collection.snapshot_record).

    History is a by-product: a failure here is logged and never fails the collection.
    """
    from clusters.services.facts import node_facts_for

    try:
        with transaction.atomic():
            samples = snapshot_samples(snapshot, node_facts_for(snapshot))
            Sample.objects.bulk_create(samples)
    except (DatabaseError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.exception("history of %s not recorded: %s", snapshot.node, exc)
        return 0
    return len(samples)


def record_findings(cluster: Cluster, at: datetime | None = None) -> None:
    """Open findings by severity now (every severity, zeros included)."""
    at = at or timezone.now()
    counts = dict.fromkeys(Severity.values, 0)
    for severity in Finding.objects.filter(cluster=cluster, resolved_at=None).values_list(
        "severity", flat=True
    ):
        counts[severity] = counts.get(severity, 0) + 1
    Sample.objects.bulk_create(
        Sample(cluster=cluster, series=FINDINGS_OPEN, key=severity, at=at, value=n)
        for severity, n in counts.items()
    )


def prune(now: datetime | None = None) -> int:
    """Delete samples older than HISTORY_RETENTION_DAYS; the number deleted."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.HISTORY_RETENTION_DAYS)
    deleted, _ = Sample.objects.filter(at__lt=cutoff).delete()
    return deleted


# --- series for the charts -----------------------------------------------------------------


def _per_node_totals(
    cluster: Cluster, series: str, since: datetime, key_prefix: str = ""
) -> dict[str, list[tuple[datetime, float]]]:
    """node → [(time, sum of the series' values over its keys at that time)]."""
    rows = Sample.objects.filter(cluster=cluster, series=series, at__gte=since)
    if key_prefix:
        rows = rows.filter(key__startswith=key_prefix)
    totals: dict[str, dict[datetime, float]] = defaultdict(lambda: defaultdict(float))
    for node, at, value in rows.values_list("node__name", "at", "value"):
        totals[node or ""][at] += value
    return {node: sorted(values.items()) for node, values in sorted(totals.items())}


def per_minute(points: list[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
    """A cumulative counter as a rate per minute between readings; a counter that went
    down (a new session) counts from zero, as Prometheus' rate() does."""
    rates = []
    for (before, old), (at, new) in itertools.pairwise(points):
        minutes = (at - before).total_seconds() / 60
        if minutes > 0:
            rates.append((at, (new - old if new >= old else new) / minutes))
    return rates


def lun_chart(cluster: Cluster, device: str, series: str, since: datetime) -> charts.Chart:
    """Commands per minute to one LUN, one line per node: two rising lines at once are
    an initiator using both nodes (round robin)."""
    what = "Writes" if series == WRITES else "Reads"
    lines = [
        charts.Series(node, per_minute(points))
        for node, points in _per_node_totals(cluster, series, since, f"{device}|").items()
    ]
    return charts.line_chart(f"{what} to {device} per node", lines, "commands/min")


def resync_charts(cluster: Cluster, since: datetime) -> list[charts.Chart]:
    """Out-of-sync KiB and percent in sync per DRBD volume, one line per node."""
    drawn = []
    for series, title, unit in (
        (OUT_OF_SYNC, "DRBD out of sync", "KiB"),
        (IN_SYNC, "DRBD resync progress (in sync)", "%"),
    ):
        rows = Sample.objects.filter(cluster=cluster, series=series, at__gte=since)
        lines: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
        for node, key, at, value in rows.values_list("node__name", "key", "at", "value"):
            lines[f"{key} on {node}"].append((at, value))
        drawn.append(
            charts.line_chart(
                title,
                [charts.Series(name, points) for name, points in sorted(lines.items())],
                unit,
            )
        )
    return drawn


def findings_chart(cluster: Cluster, since: datetime) -> charts.Chart:
    """Most findings open at once, per day and severity."""
    rows = Sample.objects.filter(cluster=cluster, series=FINDINGS_OPEN, at__gte=since)
    days: dict[str, dict[datetime, float]] = defaultdict(dict)
    for severity, at, value in rows.values_list("key", "at", "value"):
        day = at.replace(hour=0, minute=0, second=0, microsecond=0)
        days[severity][day] = max(days[severity].get(day, 0), value)
    lines = [
        charts.Series(severity, sorted(days[severity].items()), f"sev-{severity.lower()}")
        for severity in Severity.values
        if severity in days
    ]
    return charts.line_chart("Open findings per day (most at once)", lines, "findings", days=True)


def duration_chart(cluster: Cluster, since: datetime) -> charts.Chart:
    lines = [
        charts.Series(node, points)
        for node, points in _per_node_totals(cluster, COLLECT_SECONDS, since).items()
    ]
    return charts.line_chart("Collection duration per node", lines, "seconds")


def lun_names(cluster: Cluster) -> list[str]:
    """LUNs with recorded I/O, and the inventory's devices."""
    recorded = {
        key.split("|", 1)[0]
        for key in Sample.objects.filter(cluster=cluster, series=WRITES)
        .order_by()
        .values_list("key", flat=True)
        .distinct()
    }
    return sorted(recorded | set(cluster.devices.values_list("name", flat=True)))
