"""The reconcile page of an apply interrupted mid-change: per node what runs and what its
files load (before or after the change), the job's steps, and the two ways out."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from clusters import access, tasks
from clusters.models import Job, Role
from clusters.services import changes, reconcile
from clusters.views.queue import queue_job


def job_reconcile(request: HttpRequest, job_id: int) -> HttpResponse:
    """GET: the state of every node. POST (operators): plan finish or roll back."""
    job = get_object_or_404(Job.objects.select_related("cluster"), pk=job_id)
    if job.cluster is None or not access.may_view(request.user, job.cluster):
        raise Http404("No such job.")
    error = ""
    if request.method == "POST":
        access.require_role(request.user, job.cluster, Role.OPERATOR)
        try:
            plan = reconcile.reconcile_plan(
                job, request.user, request.POST.get("action", ""), request.POST.get("reason", "")
            )
        except changes.PlanRefused as exc:
            error = str(exc)
        else:
            return queue_job(request, plan, tasks.plan_job) or redirect("plan-detail", plan.pk)
    nodes = reconcile.reconcile_state(job) if reconcile.awaiting(job) else []
    context = {
        "job": job,
        "cluster": job.cluster,
        "awaiting": reconcile.awaiting(job),
        "nodes": nodes,
        "stale": any(n.stale for n in nodes),
        "can_operate": access.may_operate(request.user, job.cluster),
        "error": error,
        "reconciles": Job.objects.filter(kind=Job.Kind.PLAN, params__change__job=job.pk),
    }
    return render(request, "clusters/reconcile.html", context, status=400 if error else 200)
