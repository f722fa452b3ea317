"""Adopt an existing cluster: add it, approve host keys, discover, import, manage."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from clusters import access, tasks
from clusters.forms_adoption import ClusterAddForm, ModeSwitchForm
from clusters.models import Cluster, Job, Role
from clusters.services import adoption, collection
from clusters.views.queue import queue_job


def cluster_add(request: HttpRequest) -> HttpResponse:
    if not access.is_global_admin(request.user):
        raise PermissionDenied("Adding a cluster needs the admin role on all clusters.")
    form = ClusterAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        nodes = [adoption.NodeInput(**f.cleaned_data) for f in form.node_forms]
        try:
            cluster = adoption.cluster_register(
                request.user,
                form.cleaned_data["name"],
                form.cleaned_data["drbd_version"],
                nodes,
                form.cleaned_data["private_key"],
            )
        except ValidationError as exc:  # e.g. an unusable key: shown, nothing kept
            form.add_error(None, "; ".join(exc.messages))
        else:
            # The first collection (a job: no request talks to a node) only fetches
            # host keys: nothing is trusted yet. The discovery page shows its progress.
            job = collection.collection_create(cluster, request.user)
            return queue_job(request, job, tasks.collect_job) or redirect(
                "adoption-discover", cluster.name
            )
    return render(request, "clusters/adoption_add.html", {"form": form})


@access.cluster_view(Role.ADMIN)
def cluster_discover(request: HttpRequest, cluster: Cluster) -> HttpResponse:
    return _discover_page(request, cluster)


def _discover_page(request, cluster, choices=None, preview=None, error="", confirm=False):
    found = adoption.discovery(cluster)
    choices = choices or {}
    for row in found.rows:
        row["picked"] = _picked(row, choices)
    context = {
        "cluster": cluster,
        "discovery": found,
        "choosing": [row for row in found.rows if row["key"]],
        "nodes": cluster.nodes.all(),
        "has_inventory": cluster.devices.exists() or cluster.drbd_resources.exists(),
        "drift": adoption.mode_switch_blockers(cluster)[1],
        "preview": preview,
        "import_error": error,
        "ask_confirm": confirm,
        "reading": Job.objects.filter(
            cluster=cluster, kind=Job.Kind.COLLECT, state__in=[Job.State.QUEUED, Job.State.RUNNING]
        ).first(),
    }
    return render(request, "clusters/adoption_discover.html", context)


def _picked(row: dict, choices: dict[str, str]) -> dict:
    """Which radio the page shows selected for a row: a node's index or "value"."""
    if not row["key"] or row["key"] not in choices:
        return {"which": "", "value": ""}
    chosen = choices[row["key"]]
    for index, value in enumerate(row["raw"]):
        if (value or "") == chosen:
            return {"which": str(index), "value": ""}
    return {"which": "value", "value": chosen}


def _choices(request: HttpRequest, cluster: Cluster) -> dict[str, str]:
    """{key: value} from the form: `choice-KEY` is a node's index or `value`, whose text
    is `value-KEY`. A node without the setting gives "" (absent)."""
    rows = {row["key"]: row for row in adoption.discovery(cluster).rows if row["key"]}
    choices = {}
    for key, row in rows.items():
        which = request.POST.get(f"choice-{key}", "")
        if which == "value":
            choices[key] = request.POST.get(f"value-{key}", "").strip()
        elif which.isdigit() and int(which) < len(row["raw"]):
            choices[key] = row["raw"][int(which)] or ""
    return choices


@require_POST
@access.cluster_view(Role.ADMIN)
def cluster_import(request: HttpRequest, cluster: Cluster) -> HttpResponse:
    choices = _choices(request, cluster)
    action = request.POST.get("action", "import")
    try:
        preview = adoption.adoption_preview(cluster, choices)
    except adoption.AdoptionError as exc:
        return _discover_page(request, cluster, choices, error=str(exc))
    if action != "import" or request.POST.get("confirm") != "on":
        return _discover_page(request, cluster, choices, preview, confirm=action == "import")
    try:
        report = adoption.inventory_adopt(cluster, request.user, choices)
    except adoption.AdoptionError as exc:
        return _discover_page(request, cluster, choices, preview, error=str(exc))
    created = ", ".join(f"{n} {what}" for what, n in report.created.items()) or "nothing"
    messages.success(request, f"Imported {created}.")
    for skipped in report.skipped:
        messages.warning(request, f"Not imported: {skipped}")
    return redirect("adoption-mode", cluster.name)


@access.cluster_view(Role.ADMIN)
def cluster_mode(request: HttpRequest, cluster: Cluster) -> HttpResponse:
    """Monitored or managed. Switching to managed is a job (every node is read first);
    the page follows it and shows its outcome (`?job=ID`)."""
    foreign, drift = adoption.mode_switch_blockers(cluster)
    form = ModeSwitchForm(request.POST or None, drift=drift)
    if request.method == "POST" and request.POST.get("mode") == "monitored":
        adoption.cluster_monitor(cluster, request.user)
        messages.success(request, f"{cluster.name} is monitored: the portal will not write to it.")
        return redirect("cluster-detail", cluster.name)
    if request.method == "POST" and form.is_valid():
        job = adoption.manage_pending(cluster)
        if job is None:
            accepted = set(form.cleaned_data["accepted"])
            job = adoption.manage_create(cluster, request.user, accepted)
            down = queue_job(request, job, tasks.manage_job)
            if down is not None:
                return down
        return redirect(f"{reverse('adoption-mode', args=[cluster.name])}?job={job.pk}")
    context = {
        "cluster": cluster,
        "foreign": foreign,
        "drift": drift,
        "form": form,
        "switch": _switch_job(request, cluster),
    }
    return render(request, "clusters/adoption_mode.html", context)


def _switch_job(request: HttpRequest, cluster: Cluster) -> Job | None:
    """The switch to managed the page follows: `?job=ID`, else one still running."""
    job_id = request.GET.get("job", "")
    if job_id.isdigit():
        return Job.objects.filter(pk=job_id, cluster=cluster, kind=Job.Kind.MANAGE).first()
    return adoption.manage_pending(cluster)
