"""Celery tasks of the day-2 workflows: load the job, call one service (the failure path
is tasks.job_task's: an exception ends the job, recorded)."""

from celery import shared_task

from clusters.models import Job
from clusters.tasks import job_task


@job_task("clusters.workflow_plan")
def workflow_plan_job(job: Job) -> None:
    """Collect, probe and judge a workflow (queued from its page)."""
    from clusters.services import workflows

    workflows.plan_run(job)


@job_task("clusters.workflow_apply")
def workflow_apply_job(job: Job) -> None:
    """Run an approved workflow under the cluster's lock."""
    from clusters.services import workflows

    workflows.apply_run(job)


@shared_task(name="clusters.verify_due")
def verify_due() -> None:
    """Beat's schedule: online verify of every resource whose last verify is too old."""
    from clusters.services import workflows

    workflows.verify_due()
