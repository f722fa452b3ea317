"""Handing a job to the worker from a page: a queue that is down is a 503 page that says
so (the job has ended failed), never a 500 nor a job left queued for nothing."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from clusters.models import Job
from clusters.services import jobs
from clusters.views.htmx import htmx_of


def queue_job(request: HttpRequest, job: Job, task) -> HttpResponse | None:
    """Queue TASK for JOB; None when queued, else the 503 page to answer with."""
    try:
        jobs.enqueue(job, task)
    except jobs.QueueUnavailable as exc:
        return queue_down(request, job, str(exc))
    return None


def queue_down(request: HttpRequest, job: Job, reason: str) -> HttpResponse:
    response = render(
        request, "clusters/queue_down.html", {"job": job, "reason": reason}, status=503
    )
    response["Retry-After"] = "30"
    if htmx_of(request):
        response["HX-Retarget"], response["HX-Reswap"] = "body", "innerHTML"
    return response
