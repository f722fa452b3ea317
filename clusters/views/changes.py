"""Plans and their apply, removing a LUN mapping, reverting to a revision, the cluster lock.

Each page calls one service of clusters.services.changes; nothing here touches a node.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from clusters import access, selectors, tasks
from clusters.forms import ApplyForm, LunRemoveForm
from clusters.models import Cluster, Job, LunMapping, Revision, Role
from clusters.services import changes
from clusters.services.change_kinds import Enforce, RemoveMappings, Revert
from clusters.views.htmx import htmx_of, page_or_partial
from clusters.views.queue import queue_job


def _go(request: HttpRequest, name: str, *args) -> HttpResponse:
    """Redirect; an htmx request gets a full-page client redirect instead of a swap."""
    url = reverse(name, args=args)
    return HttpResponseClientRedirect(url) if htmx_of(request) else redirect(url)


# --- plan page and apply -----------------------------------------------------------------


def diff_lines(diff: str) -> list[tuple[str, str]]:
    """(css class, line) for a unified diff: file headers, hunks, additions, removals."""
    lines = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        else:
            kind = {"+": "add", "-": "del"}.get(line[:1], "ctx")
        lines.append((kind, line))
    return lines


def _plan_job(request: HttpRequest, job_id: int) -> Job:
    """The plan, if the user may see its cluster (404 otherwise, so ids do not leak)."""
    jobs = Job.objects.select_related("cluster", "requested_by")
    job = get_object_or_404(jobs, pk=job_id, kind=Job.Kind.PLAN)
    if job.cluster is None or not access.may_view(request.user, job.cluster):
        raise Http404("No such plan.")
    return job


def _plan_page(request: HttpRequest, job: Job, form: ApplyForm) -> HttpResponse:
    plan = changes.Plan.from_json(job.params)
    applies = Job.objects.filter(kind=Job.Kind.APPLY, params__plan_job=job.pk).order_by("pk")
    status = changes.plan_status(job)
    context = {
        "job": job,
        "plan": plan,
        "status": status,
        "cluster": job.cluster,
        "passed": status.can_apply,
        "can_apply": access.may_operate(request.user, job.acting_cluster()),
        "nodes": [(node, [(f, diff_lines(f.diff)) for f in node.files]) for node in plan.nodes],
        "applies": list(applies),
        "form": form,
    }
    return page_or_partial(request, "clusters/plan.html", "apply-form", context)


def plan_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    """A plan: per-node diffs, findings, refusals; the Apply form if it passed. The page
    of a plan being computed polls (`poll`): 204 until the plan job ends, then a reload."""
    job = _plan_job(request, job_id)
    if htmx_of(request) and request.GET.get("poll"):
        if not job.is_finished:
            return HttpResponse(status=204)
        response = HttpResponse()
        response["HX-Refresh"] = "true"
        return response
    return _plan_page(request, job, ApplyForm())


def plan_apply(request: HttpRequest, job_id: int) -> HttpResponse:
    """Queue the apply of a plan that passed (operators; a reason and a confirmation)."""
    job = _plan_job(request, job_id)
    access.require_role(request.user, job.acting_cluster(), Role.OPERATOR)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = ApplyForm(request.POST)
    if form.is_valid():
        try:
            applying = changes.apply_create(job, request.user, form.cleaned_data["reason"])
        except changes.PlanRefused as exc:
            form.add_error(None, str(exc))
        else:
            down = queue_job(request, applying, tasks.apply_job)
            return down or _go(request, "job-detail", applying.pk)
    return _plan_page(request, job, form)


# --- removing a LUN mapping --------------------------------------------------------------


@access.cluster_view(Role.OPERATOR)
def lun_remove(request: HttpRequest, cluster: Cluster, mapping_id: int) -> HttpResponse:
    """Confirm removing a device's mappings (both nodes offered); POST plans it."""
    all_mappings = LunMapping.objects.select_related("device", "target__node", "group")
    mapping = get_object_or_404(all_mappings, pk=mapping_id, target__cluster=cluster)
    mappings = all_mappings.filter(device=mapping.device).order_by("target__node__name", "pk")
    form = LunRemoveForm(request.POST if request.method == "POST" else None, mappings=mappings)
    if request.method == "POST" and form.is_valid():
        ids = form.cleaned_data["mapping_ids"]
        chosen = ", ".join(str(m) for m in mappings if m.pk in ids)
        change = RemoveMappings(list(ids))
        try:
            job = changes.plan_create(cluster, request.user, change, f"Remove {chosen}")
        except (changes.PlanRefused, ValidationError) as exc:
            form.add_error(None, "; ".join(getattr(exc, "messages", [str(exc)])))
        else:
            return queue_job(request, job, tasks.plan_job) or _go(request, "plan-detail", job.pk)
    sessions, unknown, snapshots = selectors.connected_initiators(cluster, mapping.device.name)
    context = {
        "cluster": cluster,
        "mapping": mapping,
        "device": mapping.device,
        "mappings": mappings,
        "form": form,
        "sessions": sessions,
        "unknown_nodes": unknown,
        "snapshots": snapshots,
        "nodes_mapped": sorted({m.target.node.name for m in mappings}),
    }
    return render(request, "clusters/lun_remove.html", context)


# --- revisions and the cluster lock ------------------------------------------------------


@access.cluster_view(Role.OPERATOR)
@require_POST
def revision_revert(request: HttpRequest, cluster: Cluster, revision_id: int) -> HttpResponse:
    """Plan a return to the inventory a revision recorded; the plan page shows the diff."""
    revision = get_object_or_404(Revision, pk=revision_id, cluster=cluster)
    change = Revert(revision.pk)
    description = f"Revert to revision {revision.pk} ({revision.description})"
    try:
        job = changes.plan_create(cluster, request.user, change, description)
    except (changes.PlanRefused, ValidationError) as exc:
        messages.error(request, f"Revision {revision.pk} cannot be planned: {exc}")
        return _go(request, "cluster-detail", cluster.name)
    return queue_job(request, job, tasks.plan_job) or _go(request, "plan-detail", job.pk)


@access.cluster_view(Role.OPERATOR)
@require_POST
def cluster_enforce(request: HttpRequest, cluster: Cluster) -> HttpResponse:
    """Plan bringing every node back to the inventory (overwriting drift, shown as a diff)."""
    change = Enforce()
    job = changes.plan_create(
        cluster, request.user, change, "Bring the nodes back to the inventory"
    )
    return queue_job(request, job, tasks.plan_job) or _go(request, "plan-detail", job.pk)


@access.cluster_view(Role.VIEWER)
def cluster_lock(request: HttpRequest, cluster: Cluster) -> HttpResponse:
    """Who holds the cluster's one-writer lock now (polled by the cluster page)."""
    context = {"cluster": cluster, **selectors.cluster_lock_state(cluster)}
    return render(request, "clusters/revisions.html#cluster-lock", context)
