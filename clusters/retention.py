"""Celery task for snapshot retention (beat runs it hourly; see CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from clusters.services import retention


@shared_task(name="clusters.snapshots_prune")
def snapshots_prune() -> int:
    """Delete the snapshots retention does not keep."""
    return retention.snapshots_prune()
