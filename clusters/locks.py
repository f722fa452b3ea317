"""One writer per cluster, decided by the database (never by the broker).

A cluster's lock is a row (ClusterLock) that a job takes with a lease. Taking, renewing
and releasing are single conditional UPDATEs: PostgreSQL (under READ COMMITTED it
re-checks the WHERE clause on the locked row) lets exactly one concurrent taker win,
and SQLite serialises writers anyway. The holder's job id is a fencing token: every
node step of a change renews the lease *only if the job still holds it*, and stops
when it does not, so a job that lost its lock (its lease ran out while it hung, an
admin's sweep) never writes again.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from clusters.models import ClusterLock


class LockLost(Exception):
    """The job no longer holds its cluster's lock: it must not write to any node."""


@dataclass(frozen=True)
class LockHolder:
    job_id: int
    user: str
    since: datetime
    expires: datetime


def lease() -> timedelta:
    return timedelta(seconds=settings.CLUSTER_LOCK_LEASE_SECONDS)


def _row(cluster_id: int) -> None:
    """Make sure the cluster's lock row exists (two creators race harmlessly)."""
    if ClusterLock.objects.filter(cluster_id=cluster_id).exists():
        return
    try:
        with transaction.atomic():
            ClusterLock.objects.create(cluster_id=cluster_id)
    except IntegrityError:
        pass


def acquire(cluster_id: int, job_id: int, user: str) -> bool:
    """Take the cluster's lock for a job; False when another job holds a live lease."""
    _row(cluster_id)
    now = timezone.now()
    free = Q(job__isnull=True) | Q(lease_until__lt=now) | Q(job_id=job_id)
    taken = ClusterLock.objects.filter(free, cluster_id=cluster_id).update(
        job_id=job_id, holder=user[:150], acquired_at=now, lease_until=now + lease()
    )
    return taken == 1


def renew(cluster_id: int, job_id: int) -> None:
    """Extend the lease if the job still holds it; raise LockLost otherwise (fencing)."""
    now = timezone.now()
    renewed = ClusterLock.objects.filter(
        cluster_id=cluster_id, job_id=job_id, lease_until__gte=now
    ).update(lease_until=now + lease())
    if renewed != 1:
        raise LockLost(f"job {job_id} no longer holds the lock of cluster {cluster_id}")


def holder_of(cluster_id: int) -> LockHolder | None:
    """Who holds the cluster's lock now (a live lease), or None."""
    row = ClusterLock.objects.filter(
        cluster_id=cluster_id, job__isnull=False, lease_until__gte=timezone.now()
    ).first()
    # acquire() sets job, acquired_at and lease_until together; release() clears the job.
    if row is None or row.job_id is None or row.acquired_at is None or row.lease_until is None:
        return None
    return LockHolder(row.job_id, row.holder, row.acquired_at, row.lease_until)


def release(cluster_id: int, job_id: int) -> None:
    """Release the lock if this job still holds it."""
    ClusterLock.objects.filter(cluster_id=cluster_id, job_id=job_id).update(
        job=None, holder="", lease_until=None
    )
