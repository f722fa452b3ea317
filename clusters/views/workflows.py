"""Day-2 workflow pages: start one (grow a LUN), its plan, and running it.

Each page calls one service of clusters.services.workflows; nothing here touches a node.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from clusters import access, tasks, workflow_tasks
from clusters.forms import LunEditForm, SplitBrainForm, WorkflowApplyForm
from clusters.models import Cluster, DrbdResource, Job, Node, Role, ScstDevice
from clusters.services import changes, device_edit, workflows
from clusters.services.change_kinds import (
    GrowLun,
    NodeDrain,
    NodeReturn,
    ResyncResource,
    SplitBrainRecovery,
    VerifyResource,
    Workflow,
)
from clusters.services.split_brain import split_brain_report
from clusters.views.htmx import htmx_of, page_or_partial
from clusters.views.queue import queue_job


def _go(request: HttpRequest, name: str, *args) -> HttpResponse:
    url = reverse(name, args=args)
    return HttpResponseClientRedirect(url) if htmx_of(request) else redirect(url)


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


def _start(request: HttpRequest, cluster: Cluster, change, description: str, page: dict):
    """GET: the workflow's explanation page. POST: plan it (reads nodes, changes nothing)."""
    error = ""
    if request.method == "POST":
        try:
            job = workflows.plan_create(cluster, request.user, change, description)
        except ValidationError as exc:
            error = "; ".join(exc.messages)
        else:
            down = queue_job(request, job, workflow_tasks.workflow_plan_job)
            return down or _go(request, "workflow-plan", job.pk)
    context = {"cluster": cluster, "error": error, **page}
    return render(request, "clusters/workflow_start.html", context)


VERIFY_PAGE = {
    "title": "Online verify of DRBD {name}",
    "intro": "DRBD compares both nodes' copies block by block while both keep serving "
    '(DRBD User\'s Guide, "Using on-line device verification"). Nothing is copied: '
    "blocks that differ are marked out of sync and reported, and the portal raises a "
    "finding; a resync (disconnect/connect) then repairs them.",
    "steps": [
        "Checks both nodes are Primary, UpToDate, Connected, in sync, with a verify-alg.",
        "drbdadm verify {name} on one node.",
        "Follows the verify on both nodes (drbdsetup status --json) until it ends.",
        "Reports what each node found out of sync.",
    ],
}
RESYNC_PAGE = {
    "title": "Resync DRBD {name}",
    "intro": "Resynchronises the blocks an online verify marked out of sync, as DRBD's "
    "guide prescribes: disconnect and reconnect the resource. Both nodes stay Primary "
    "and keep serving; for the moment between the two commands the resource is not "
    "replicated.",
    "steps": [
        "Checks both nodes are Primary, UpToDate and Connected, and that blocks are out of sync.",
        "drbdadm disconnect {name} on one node, then drbdadm connect {name}.",
        "Follows the resync on both nodes until nothing is out of sync.",
    ],
}


def _page(template: dict, name: str) -> dict:
    return {
        "title": template["title"].format(name=name),
        "intro": template["intro"],
        "steps": [s.format(name=name) for s in template["steps"]],
    }


@access.cluster_view(Role.OPERATOR)
def resource_verify(request: HttpRequest, cluster: Cluster, resource: str) -> HttpResponse:
    found = get_object_or_404(DrbdResource, cluster=cluster, name=resource)
    page = {**_page(VERIFY_PAGE, found.name), "form_id": "verify-form"}
    change = VerifyResource(found.name)
    return _start(request, cluster, change, f"Online verify of {found.name}", page)


@access.cluster_view(Role.OPERATOR)
def resource_resync(request: HttpRequest, cluster: Cluster, resource: str) -> HttpResponse:
    found = get_object_or_404(DrbdResource, cluster=cluster, name=resource)
    page = {**_page(RESYNC_PAGE, found.name), "form_id": "resync-form"}
    change = ResyncResource(found.name)
    return _start(request, cluster, change, f"Resync {found.name}", page)


DRAIN_PAGE = {
    "title": "Maintenance of {name}",
    "intro": "Drains {name} so it can be serviced while {peer} serves every LUN. Disabling "
    "an iSCSI target only stops new logins, so the portal also closes each session of "
    "{name} (its sysfs force_close); the initiators continue through {peer}, where they "
    "are logged in already. {name} shows as in maintenance until you return it.",
    "steps": [
        "Checks {peer} is reachable, Primary, UpToDate and Connected for every DRBD "
        "resource, exports every LUN of {name}, and that every initiator of {name} is "
        "logged in to {peer} too; refuses while the other node is in maintenance.",
        "scstadmin -disable_target on every iSCSI target of {name}.",
        "Closes each session of {name} (force_close), and waits until none is left and no "
        "command is active; {peer} is checked all along: if it fails, {name}'s targets are "
        "enabled again and the drain stops.",
        "Optionally: closes {name}'s SCST devices, drbdadm secondary and drbdadm "
        "disconnect (not for resources Pacemaker manages).",
    ],
}
RETURN_PAGE = {
    "title": "Return {name} from maintenance",
    "intro": "Brings {name} back: DRBD reconnects and resyncs what {peer} wrote meanwhile, "
    "{name} is Primary again, its SCST devices are open, its targets are enabled and its "
    "initiators log back in. Then {name} is out of maintenance.",
    "steps": [
        "drbdadm connect (if disconnected), following the resync until both are UpToDate.",
        "drbdadm primary (if demoted); scstadmin -config /etc/scst.conf (if its devices "
        "were closed).",
        "scstadmin -enable_target on every disabled target, then waits for the initiators "
        "logged in to {peer} to log in to {name} again.",
    ],
}


def _node_page(template: dict, node: Node) -> dict:
    peer = Node.objects.filter(cluster=node.cluster).exclude(pk=node.pk).first()
    names = {"name": node.name, "peer": peer.name if peer else "the peer"}
    return {
        "title": template["title"].format(**names),
        "intro": template["intro"].format(**names),
        "steps": [s.format(**names) for s in template["steps"]],
    }


@access.cluster_view(Role.OPERATOR)
def node_drain(request: HttpRequest, cluster: Cluster, node_name: str) -> HttpResponse:
    """GET: what draining the node does, with the DRBD option. POST: plan it."""
    found = get_object_or_404(Node, cluster=cluster, name=node_name)
    drbd = request.POST.get("drbd") == "on"
    page = {**_node_page(DRAIN_PAGE, found), "form_id": "drain-form", "drbd_option": True}
    description = f"Maintenance: drain {found.name}" + (" and demote DRBD" if drbd else "")
    return _start(request, cluster, NodeDrain(found.name, drbd), description, page)


@access.cluster_view(Role.OPERATOR)
def node_return(request: HttpRequest, cluster: Cluster, node_name: str) -> HttpResponse:
    """GET: what returning the node does. POST: plan it."""
    found = get_object_or_404(Node, cluster=cluster, name=node_name)
    page = {**_node_page(RETURN_PAGE, found), "form_id": "return-form"}
    return _start(request, cluster, NodeReturn(found.name), f"Return {found.name}", page)


@access.cluster_view(Role.ADMIN)
def resource_split_brain(request: HttpRequest, cluster: Cluster, resource: str) -> HttpResponse:
    """GET: what changed on each node since the split, the recommended victim. POST: plan
    the recovery that discards the chosen victim's writes (reads nodes, changes nothing)."""
    found = get_object_or_404(DrbdResource, cluster=cluster, name=resource)
    report = split_brain_report(cluster, found.name)
    nodes = [n.node for n in report.nodes]
    data = request.POST if request.method == "POST" else None
    form = SplitBrainForm(data, nodes=nodes, recommended=report.recommended)
    error = ""
    if form.is_valid():
        victim = form.cleaned_data["victim"]
        change = SplitBrainRecovery(found.name, victim)
        description = f"Split-brain recovery of {found.name}: discard {victim}'s writes"
        try:
            job = workflows.plan_create(cluster, request.user, change, description)
        except ValidationError as exc:
            error = "; ".join(exc.messages)
        else:
            down = queue_job(request, job, workflow_tasks.workflow_plan_job)
            return down or _go(request, "workflow-plan", job.pk)
    context = {"cluster": cluster, "resource": found, "report": report, "form": form}
    return render(request, "clusters/split_brain.html", {**context, "error": error})


@access.cluster_view(Role.OPERATOR)
def lun_edit(request: HttpRequest, cluster: Cluster, device: str) -> HttpResponse:
    """GET: the device's identity, attributes, LUN number and initiators. POST: plan the
    edit on the change path (its plan says per node: runtime set or re-creation)."""
    found = get_object_or_404(ScstDevice, cluster=cluster, name=device)
    mappings = list(found.mappings.select_related("target__node", "group").order_by("pk"))
    groups = device_edit.exporting_groups(found)
    initial = device_edit.edit_initial(found, groups)
    data = request.POST if request.method == "POST" else None
    form = LunEditForm(data, initial=initial, groups=groups)
    error = ""
    if form.is_valid():
        change = device_edit.edit_change(
            found, form.cleaned_data, form.initiators(), initial, form.groups
        )
        if change is None:
            error = "Nothing changed: edit a value first."
        else:
            try:
                job = changes.plan_create(cluster, request.user, change, f"Edit LUN {found.name}")
            except (ValidationError, changes.PlanRefused) as exc:
                error = "; ".join(getattr(exc, "messages", [str(exc)]))
            else:
                down = queue_job(request, job, tasks.plan_job)
                return down or _go(request, "plan-detail", job.pk)
    context = {"cluster": cluster, "device": found, "form": form, "mappings": mappings}
    return render(request, "clusters/lun_edit.html", {**context, "error": error})


def _plan_job(request: HttpRequest, job_id: int) -> Job:
    plans = Job.objects.select_related("cluster", "requested_by")
    job = get_object_or_404(plans, pk=job_id, kind=Job.Kind.WORKFLOW_PLAN)
    if job.cluster is None or not access.may_view(request.user, job.cluster):
        raise Http404("No such workflow plan.")
    return job


def _plan_page(request: HttpRequest, job: Job, form: WorkflowApplyForm) -> HttpResponse:
    status = workflows.plan_status(job)
    runs = Job.objects.filter(kind=Job.Kind.WORKFLOW, params__plan_job=job.pk).order_by("pk")
    plan = workflows.WorkflowPlan.from_json(job.params)
    workflow = _stored_workflow(plan)
    context = {
        "typed_name": workflow.resource if isinstance(workflow, SplitBrainRecovery) else "",
        "job": job,
        "cluster": job.cluster,
        "plan": plan,
        "status": status,
        "can_apply": workflow is not None
        and access.may_run(request.user, job.acting_cluster(), workflow),
        "runs": list(runs),
        "form": form,
    }
    return page_or_partial(request, "clusters/workflow_plan.html", "run-form", context)


def _stored_workflow(plan: workflows.WorkflowPlan) -> Workflow | None:
    """The plan's workflow as its typed object; None when it is not one (nobody runs it)."""
    try:
        return workflows.workflow_from_json(plan.change or {})
    except ValidationError:
        return None


def workflow_plan(request: HttpRequest, workflow_id: int) -> HttpResponse:
    """A workflow plan: what each node reported, the steps, refusals; Run if it passed."""
    return _plan_page(request, _plan_job(request, workflow_id), WorkflowApplyForm())


def workflow_apply(request: HttpRequest, workflow_id: int) -> HttpResponse:
    """Queue the run of a ready workflow plan (operators; a reason and a confirmation)."""
    job = _plan_job(request, workflow_id)
    access.require_role(request.user, job.acting_cluster(), Role.OPERATOR)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = WorkflowApplyForm(request.POST)
    if form.is_valid():
        try:
            run = workflows.apply_create(
                job,
                request.user,
                form.cleaned_data["reason"],
                typed=form.cleaned_data["typed_name"],
            )
        except workflows.WorkflowRefused as exc:
            form.add_error(None, str(exc))
        except PermissionDenied as exc:
            form.add_error(None, str(exc))
        else:
            down = queue_job(request, run, workflow_tasks.workflow_apply_job)
            return down or _go(request, "job-detail", run.pk)
    return _plan_page(request, job, form)
