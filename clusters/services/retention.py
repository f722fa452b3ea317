"""Snapshot retention: the newest SNAPSHOT_KEEP_PER_NODE collections of every node, plus
the newest one of each day for SNAPSHOT_KEEP_DAILY_DAYS days; the rest is deleted.

A collection every minute stores a snapshot per node each time; without retention the
database grows without bound (issue 13 measured 171 MB in 20 minutes).
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clusters.models import Node, NodeSnapshot


def snapshots_to_keep(
    stamps: list[tuple[int, datetime]], keep_last: int, daily_since: datetime
) -> set[int]:
    """Ids to keep among (id, collected_at) pairs sorted newest first."""
    keep = {pk for pk, _ in stamps[:keep_last]}
    days: set = set()
    for pk, at in stamps:
        day = at.date()
        if at >= daily_since and day not in days:
            days.add(day)
            keep.add(pk)
    return keep


def snapshots_prune(now: datetime | None = None) -> int:
    """Delete the snapshots retention does not keep; returns how many were deleted."""
    now = now or timezone.now()
    daily_since = now - timedelta(days=settings.SNAPSHOT_KEEP_DAILY_DAYS)
    deleted = 0
    for node_id in Node.objects.values_list("pk", flat=True):
        stamps = list(
            NodeSnapshot.objects.filter(node_id=node_id)
            .order_by("-collected_at", "-pk")
            .values_list("pk", "collected_at")
        )
        keep = snapshots_to_keep(stamps, settings.SNAPSHOT_KEEP_PER_NODE, daily_since)
        doomed = [pk for pk, _ in stamps if pk not in keep]
        with transaction.atomic():
            for start in range(0, len(doomed), 500):
                count, _ = NodeSnapshot.objects.filter(pk__in=doomed[start : start + 500]).delete()
                deleted += count
    return deleted
