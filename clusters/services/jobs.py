"""Jobs: the record of every collection, plan and apply, and the guarantee that each ends.

A job is claimed by exactly one process (queued → running in one UPDATE), shows life
through its heartbeat, and ends succeeded, failed, partial, refused or interrupted. When
the process running it dies (SIGKILL, OOM, a lost host), the sweeper ends it as
interrupted: at once when the process is known dead on this host, else when its heartbeat
stops. An apply interrupted after it started writing to nodes needs reconciling.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from clusters import locks, ssh
from clusters.models import Job, JobEvent, Node, NodeStep

log = logging.getLogger(__name__)
T = TypeVar("T")
OUTPUT_EXCERPT = 2000  # characters of a command's output kept on its step


class QueueUnavailable(Exception):
    """The job could not be queued (the broker is down); the job ended failed."""


# --- the process running a job -------------------------------------------------------------


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks (/proc/PID/stat field 22), or None."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return None
    return fields[19] if len(fields) > 19 else None


def process_identity() -> str:
    """host:pid:start — unique for this process even after the pid is reused."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid) or ''}"


def process_alive(identity: str) -> bool | None:
    """Whether the process named by IDENTITY runs; None when it is on another host."""
    host, pid, start = ([*identity.split(":"), "", "", ""])[:3]
    if host != socket.gethostname() or not pid.isdigit():
        return None
    current = _start_time(int(pid))
    return current is not None and (not start or current == start)


# --- the database, which may drop a connection under a running job -----------------------


def with_db_retry(work: Callable[[], T]) -> T:
    """Run WORK; if the database connection dropped, reconnect once and run it again."""
    try:
        return work()
    except (OperationalError, InterfaceError):
        connection.close()
        return work()


# --- a job's life ---------------------------------------------------------------------------


def job_claim(job: Job) -> bool:
    """queued → running for this process; False when another process has it or it ended."""
    now = timezone.now()
    claimed = Job.objects.filter(pk=job.pk, state=Job.State.QUEUED).update(
        state=Job.State.RUNNING, started_at=now, heartbeat_at=now, worker=process_identity()
    )
    job.refresh_from_db()
    return claimed == 1


def job_start(job: Job) -> None:
    """Mark a job created and run in the same process (no queue) as running."""
    now = timezone.now()
    job.state, job.started_at, job.heartbeat_at = Job.State.RUNNING, now, now
    job.worker = process_identity()
    job.save(update_fields=["state", "started_at", "heartbeat_at", "worker"])


def job_heartbeat(job_id: int) -> None:
    Job.objects.filter(pk=job_id, state=Job.State.RUNNING).update(heartbeat_at=timezone.now())


def job_event(
    job: Job, step: str, message: str, node: Node | None = None, level: str = JobEvent.Level.INFO
) -> JobEvent:
    event = JobEvent.objects.create(job=job, node=node, step=step, message=message, level=level)
    job_heartbeat(job.pk)
    return event


def job_finish(job: Job, state: str, summary: str, **fields) -> None:
    """End a job (the database may have dropped the connection meanwhile)."""
    job.state, job.summary, job.finished_at = state, summary, timezone.now()
    for name, value in fields.items():
        setattr(job, name, value)
    with_db_retry(lambda: job.save(update_fields=["state", "summary", "finished_at", *fields]))
    _notify(job)


def _notify(job: Job) -> None:
    """Hook for what must follow a job's end (alerts); never fails the job."""
    from clusters.services import alerts

    try:
        alerts.job_ended(job)
    except Exception:  # an alert that cannot be recorded must not fail or hide the job
        log.exception("alert for job %s not recorded", job.pk)


def job_crashed(job_id: int, exc: BaseException) -> None:
    """The task's failure path: the exception is recorded on its job, which ends."""
    reason = f"{type(exc).__name__}: {exc}"
    job = with_db_retry(lambda: Job.objects.filter(pk=job_id).first())
    if job is None or job.is_finished:
        return
    if job.kind == Job.Kind.APPLY and job.steps.filter(writes=True).exists():
        interrupt(job.pk, f"the worker failed mid-change ({reason})")
        return
    job_finish(job, Job.State.FAILED, f"Failed: {reason}")


def enqueue(job: Job, task, **options) -> None:
    """Queue TASK for JOB; if the broker cannot take it, the job ends failed and the
    caller gets QueueUnavailable with the reason (no job stays queued for nothing)."""
    try:
        task.apply_async(args=[job.pk], **options) if options else task.delay(job.pk)
    except Exception as exc:  # kombu/redis raise several kinds; all mean "not queued"
        reason = f"the job queue is unreachable ({ssh.describe(exc)})"
        job_finish(job, Job.State.FAILED, f"Not started: {reason}.")
        raise QueueUnavailable(
            f"The portal's job queue (the Celery broker) is unreachable, so job {job.pk} "
            f"could not start: {ssh.describe(exc)}. Nothing was changed; try again once "
            "the queue is back."
        ) from exc


# --- ending jobs whose process died ---------------------------------------------------------


def interrupt(job_id: int, reason: str) -> Job | None:
    """End a queued or running job as interrupted; an apply that had started writing to
    nodes needs reconciling, and those nodes are unknown until collected again."""
    now = timezone.now()
    with transaction.atomic():
        job = (
            Job.objects.select_for_update()
            .filter(pk=job_id, state__in=[Job.State.QUEUED, Job.State.RUNNING])
            .first()
        )
        if job is None:
            return None
        if job.kind == Job.Kind.APPLY and hasattr(job, "revision"):
            # Every node was verified and the inventory committed before it stopped.
            job.state, job.finished_at = Job.State.SUCCEEDED, now
            job.summary = f"{job.summary} (applied and verified; then {reason})".strip()
            job.save(update_fields=["state", "finished_at", "summary"])
            locks.release(job.acting_cluster().pk, job.pk)
            return job
        written = job.steps.filter(writes=True)
        wrote = written.exists()
        job.needs_reconcile = job.kind == Job.Kind.APPLY and wrote
        job.state, job.finished_at = Job.State.INTERRUPTED, now
        job.summary = f"Interrupted: {reason}." + (
            " It had started changing nodes: reconcile the cluster before any other change."
            if job.needs_reconcile
            else ""
        )
        job.save(update_fields=["state", "finished_at", "summary", "needs_reconcile"])
        Node.objects.filter(pk__in=written.values("node_id")).update(
            outcome_unknown_since=now, outcome_unknown_job=job
        )
        if job.cluster_id:
            locks.release(job.cluster_id, job.pk)
        if job.needs_reconcile:
            # In the same transaction: whoever sees the job interrupted sees its finding.
            _refresh_findings([job.cluster])
    if job.needs_reconcile or (job.kind == Job.Kind.WORKFLOW and wrote):
        # A workflow (a drain, a return…) needs no reconcile, but what it left on its
        # nodes (a target disabled, DRBD disconnected) is shown only once they are read.
        _collect_soon(job)
    _notify(job)
    return job


def _collect_soon(job: Job) -> None:
    """Read the cluster again now, for the reconcile page and the cluster page (best
    effort: the reconcile page says when its data predates the interruption and offers a
    collection)."""
    from clusters import tasks
    from clusters.services import collection

    try:
        enqueue(collection.collection_create(job.cluster), tasks.collect_job)
    except QueueUnavailable:
        log.warning("job %s: no collection queued after the interruption", job.pk)


def sweep() -> list[Job]:
    """End every job whose process is gone: dead on this host, silent for too long, or
    queued so long that no worker took it (the queue lost it or no worker runs)."""
    now = timezone.now()
    silent = now - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT_SECONDS)
    ended = []
    for job in Job.objects.filter(state=Job.State.RUNNING):
        alive = process_alive(job.worker)
        if alive is False:
            reason = f"its worker process ({job.worker}) is gone"
        elif alive is None and (job.heartbeat_at is None or job.heartbeat_at < silent):
            reason = f"no sign of life since {job.heartbeat_at or job.started_at:%H:%M:%S} UTC"
        else:
            continue
        ended.append(interrupt(job.pk, reason))
    too_old = now - timedelta(seconds=settings.JOB_QUEUED_TIMEOUT_SECONDS)
    for job in Job.objects.filter(state=Job.State.QUEUED, created_at__lt=too_old):
        minutes = settings.JOB_QUEUED_TIMEOUT_SECONDS // 60
        ended.append(interrupt(job.pk, f"no worker started it within {minutes} minutes"))
    finished = [job for job in ended if job is not None]
    for job in finished:
        log.warning("job %s ended: %s", job.pk, job.summary)
    return finished


def _refresh_findings(clusters) -> None:
    from clusters.services.findings import findings_refresh

    for cluster in clusters:
        findings_refresh(cluster)


# --- the journal a change writes through ----------------------------------------------------


class JobJournal:
    """clusters.push.Journal for a job: steps and events as rows, the lock as fence.

    Its coroutines hop to the job's own thread (sync_to_async, thread-sensitive), where
    the task's database connection lives.
    """

    def __init__(self, job: Job, nodes: dict[str, Node]) -> None:
        self.job, self.nodes = job, nodes

    async def fence(self) -> None:
        await sync_to_async(self._renew)()

    async def heartbeat(self) -> None:
        await sync_to_async(self._renew)()

    def _renew(self) -> None:
        with_db_retry(lambda: locks.renew(self.job.acting_cluster().pk, self.job.pk))
        with_db_retry(lambda: job_heartbeat(self.job.pk))

    async def started(self, node: str, step: str, command: str, writes: bool) -> int:
        def record() -> int:
            return NodeStep.objects.create(
                job=self.job,
                node=self.nodes.get(node),
                node_name=node,
                step=step,
                command=command,
                writes=writes,
                started_at=timezone.now(),
            ).pk

        return await sync_to_async(with_db_retry)(record)

    async def finished(self, step_id: int, result: ssh.CommandResult | None, error: str) -> None:
        output = ""
        if result is not None:
            output = (result.stdout + result.stderr)[-OUTPUT_EXCERPT:]

        def record() -> None:
            NodeStep.objects.filter(pk=step_id).update(
                finished_at=timezone.now(),
                exit_status=None if result is None else result.exit_status,
                output=output,
                error=error[:OUTPUT_EXCERPT],
            )

        await sync_to_async(with_db_retry)(record)

    async def log(self, node: str | None, step: str, level: str, message: str) -> None:
        def record() -> None:
            job_event(self.job, step, message, node=self.nodes.get(node or ""), level=level)

        await sync_to_async(with_db_retry)(record)
