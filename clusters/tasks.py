"""Celery tasks: load ids, call one service, record the outcome. Nothing else."""

from celery import shared_task

from clusters.models import Job
from clusters.services import collection


@shared_task(name="clusters.collect")
def collect_job(job_id: int) -> None:
    """Run a queued collection job (triggered from a page or the API)."""
    collection.collection_run(Job.objects.get(pk=job_id))


@shared_task(name="clusters.collect_all")
def collect_all() -> None:
    """Beat's schedule: collect every cluster."""
    collection.collection_run(collection.collection_create(cluster=None))


@shared_task(name="clusters.apply")
def apply_job(job_id: int) -> None:
    """Apply a planned change (queued by an operator from the plan page or the API)."""
    from clusters.services import changes

    changes.apply_run(Job.objects.get(pk=job_id))
