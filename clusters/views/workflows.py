"""Day-2 workflow pages: start one (grow a LUN), its plan, and running it.

Each page calls one service of clusters.services.workflows; nothing here touches a node.
"""

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from clusters import access, workflow_tasks
from clusters.forms import WorkflowApplyForm
from clusters.models import Cluster, Job, Role, ScstDevice
from clusters.services import workflows
from clusters.services.change_kinds import GrowLun
from clusters.views.htmx import page_or_partial
from clusters.views.queue import queue_job


def _go(request: HttpRequest, name: str, *args) -> HttpResponse:
    url = reverse(name, args=args)
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@access.cluster_view(Role.OPERATOR)
def lun_grow(request: HttpRequest, cluster: Cluster, device: str) -> HttpResponse:
    """GET: what growing DEVICE does. POST: plan it (reads every node, changes nothing)."""
    found = get_object_or_404(
        ScstDevice.objects.select_related("drbd_resource"), cluster=cluster, name=device
    )
    error = ""
    if request.method == "POST":
        try:
            job = workflows.plan_create(
                cluster, request.user, GrowLun(found.name), f"Grow LUN {found.name}"
            )
        except ValidationError as exc:
            error = "; ".join(exc.messages)
        else:
            down = queue_job(request, job, workflow_tasks.workflow_plan_job)
            return down or _go(request, "workflow-plan", job.pk)
    context = {"cluster": cluster, "device": found, "error": error}
    return render(request, "clusters/lun_grow.html", context)


def _plan_job(request: HttpRequest, job_id: int) -> Job:
    plans = Job.objects.select_related("cluster", "requested_by")
    job = get_object_or_404(plans, pk=job_id, kind=Job.Kind.WORKFLOW_PLAN)
    if job.cluster is None or access.role_on(request.user, job.cluster) is None:
        raise Http404("No such workflow plan.")
    return job


def _plan_page(request: HttpRequest, job: Job, form: WorkflowApplyForm) -> HttpResponse:
    status = workflows.plan_status(job)
    runs = Job.objects.filter(kind=Job.Kind.WORKFLOW, params__plan_job=job.pk).order_by("pk")
    context = {
        "job": job,
        "cluster": job.cluster,
        "plan": workflows.WorkflowPlan.from_json(job.params),
        "status": status,
        "can_apply": access.has_role(request.user, job.cluster, Role.OPERATOR),
        "runs": list(runs),
        "form": form,
    }
    return page_or_partial(request, "clusters/workflow_plan.html", "run-form", context)


def workflow_plan(request: HttpRequest, workflow_id: int) -> HttpResponse:
    """A workflow plan: what each node reported, the steps, refusals; Run if it passed."""
    return _plan_page(request, _plan_job(request, workflow_id), WorkflowApplyForm())


def workflow_apply(request: HttpRequest, workflow_id: int) -> HttpResponse:
    """Queue the run of a ready workflow plan (operators; a reason and a confirmation)."""
    job = _plan_job(request, workflow_id)
    access.require_role(request.user, job.cluster, Role.OPERATOR)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = WorkflowApplyForm(request.POST)
    if form.is_valid():
        try:
            run = workflows.apply_create(job, request.user, form.cleaned_data["reason"])
        except workflows.WorkflowRefused as exc:
            form.add_error(None, str(exc))
        else:
            down = queue_job(request, run, workflow_tasks.workflow_apply_job)
            return down or _go(request, "job-detail", run.pk)
    return _plan_page(request, job, form)
