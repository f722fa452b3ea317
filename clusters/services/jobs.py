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


def run_with_progress(job: Job, coroutine_factory, nodes: dict[str, Node]):
    """Run async work in its own thread; record its log lines as JobEvents as they come.

    The coroutine factory receives a `log(node_name, step, level, message)` callback that
    is safe to call from the event loop (it only queues); this thread writes the rows, so
    the job page shows each step while the work goes on.
    """
    import asyncio
    import queue
    import threading

    events: queue.Queue = queue.Queue()
    outcome: dict = {}

    def log(node_name, step, level, message) -> None:
        events.put((node_name, step, level, message))

    def work() -> None:
        try:
            outcome["result"] = asyncio.run(coroutine_factory(log))
        except BaseException as exc:  # reported to the caller below, not swallowed
            outcome["error"] = exc
        finally:
            events.put(None)

    threading.Thread(target=work, daemon=True).start()
    while (item := events.get()) is not None:
        node_name, step, level, message = item
        job_event(job, step, message, node=nodes.get(node_name), level=level)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
