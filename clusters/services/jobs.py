"""Jobs and their per-node steps: the record of every collection, plan and apply."""

from django.utils import timezone

from clusters.models import Job, JobEvent, Node


def job_start(job: Job) -> None:
    job.state, job.started_at = Job.State.RUNNING, timezone.now()
    job.save(update_fields=["state", "started_at"])


def job_event(
    job: Job, step: str, message: str, node: Node | None = None, level: str = JobEvent.Level.INFO
) -> JobEvent:
    return JobEvent.objects.create(job=job, node=node, step=step, message=message, level=level)


def job_finish(job: Job, state: str, summary: str) -> None:
    job.state, job.summary, job.finished_at = state, summary, timezone.now()
    job.save(update_fields=["state", "summary", "finished_at"])
