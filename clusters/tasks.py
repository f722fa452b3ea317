"""Celery tasks: load ids, call one service, record the outcome. Nothing else.

Every job task ends its job whatever happens: an exception (a soft time limit
included) is recorded on the job by jobs.job_crashed; a process that dies outright is
found by the sweeper, which runs on a schedule and whenever a worker process starts.

Queues (settings.CELERY_TASK_ROUTES): collections on `collect`, plans, applies, switches
to managed and the sweeper on `changes`, so that a long collection never delays an apply.
"""

import functools
import logging
from collections.abc import Callable

from celery import shared_task
from celery.signals import task_revoked, worker_process_init, worker_ready
from django.conf import settings

from clusters.models import Job
from clusters.services import collection, jobs

log = logging.getLogger(__name__)
JOB_TASKS = {"clusters.collect", "clusters.plan", "clusters.apply", "clusters.manage"}


def job_task(name: str) -> Callable:
    """A task whose one argument is a job id, with the failure path every job needs."""

    def decorate(body: Callable[[Job], object]) -> Callable:
        @shared_task(name=name)
        @functools.wraps(body)
        def task(job_id: int) -> None:
            try:
                job = Job.objects.get(pk=job_id)
                if not jobs.job_claim(job):
                    return  # ended already (swept) or taken by another worker
                body(job)
            except BaseException as exc:
                jobs.job_crashed(job_id, exc)
                raise

        return task

    return decorate


@job_task("clusters.collect")
def collect_job(job: Job) -> None:
    """Run a queued collection job (triggered from a page or the API)."""
    collection.collection_run(job)


@shared_task(name="clusters.collect_all")
def collect_all() -> None:
    """Beat's tick: one collection job per cluster, each its own task on the collect
    queue, expiring after one interval (the next tick collects again)."""
    interval = settings.COLLECT_INTERVAL_SECONDS
    for job in collection.collections_due():
        try:
            jobs.enqueue(job, collect_job, expires=interval)
        except jobs.QueueUnavailable as exc:  # the job ended failed with the reason
            log.warning("%s", exc)


@job_task("clusters.plan")
def plan_job(job: Job) -> None:
    """Compute a plan: collect the cluster fresh, diff, judge (queued from a page or API)."""
    from clusters.services import changes

    changes.plan_run(job)


@job_task("clusters.apply")
def apply_job(job: Job) -> None:
    """Apply a planned change (queued by an operator from the plan page or the API)."""
    from clusters.services import changes

    changes.apply_run(job)


@job_task("clusters.manage")
def manage_job(job: Job) -> None:
    """Switch an adopted cluster to managed after reading every node (queued by an admin
    from the mode page)."""
    from clusters.services import adoption

    adoption.manage_run(job)


@shared_task(name="clusters.sweep_jobs")
def sweep_jobs() -> None:
    """End jobs whose process died (beat's schedule)."""
    jobs.sweep()


@task_revoked.connect
def _end_the_job_of_an_expired_task(request=None, expired=False, **_) -> None:
    # A message that waited longer than its `expires` is dropped by the worker; its job
    # ends here at once rather than at the sweeper's queued-too-long limit.
    if expired and request is not None and request.task in JOB_TASKS and request.args:
        jobs.interrupt(request.args[0], "its task waited longer than one collection interval")


@worker_ready.connect
def _sweep_at_start(**_) -> None:
    jobs.sweep()


@worker_process_init.connect
def _sweep_when_a_pool_process_starts(**_) -> None:
    # A pool process replacing one that was killed (the OOM killer) ends its jobs at once.
    from django.db import connection

    connection.close()  # never share the parent's connection
    jobs.sweep()
