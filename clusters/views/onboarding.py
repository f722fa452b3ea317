"""Adopt an existing cluster: add it, approve host keys, discover, import, manage."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from clusters import access
from clusters.forms_onboarding import ClusterAddForm, ModeSwitchForm
from clusters.models import Cluster, Role
from clusters.services import collection, onboarding


def cluster_add(request: HttpRequest) -> HttpResponse:
    if not access.is_global_admin(request.user):
        raise PermissionDenied("Adding a cluster needs the admin role on all clusters.")
    form = ClusterAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        nodes = [onboarding.NodeInput(**f.cleaned_data) for f in form.node_forms]
        try:
            cluster = onboarding.cluster_register(
                request.user,
                form.cleaned_data["name"],
                form.cleaned_data["drbd_version"],
                nodes,
                form.cleaned_data["private_key"],
            )
        except ValidationError as exc:  # e.g. an unusable key: shown, nothing kept
            form.add_error(None, "; ".join(exc.messages))
        else:
            # The first collection only fetches host keys: nothing is trusted yet.
            collection.collection_run(collection.collection_create(cluster, request.user))
            return redirect("cluster-discover", cluster.name)
    return render(request, "clusters/cluster_add.html", {"form": form})


@access.cluster_view(Role.ADMIN)
def cluster_discover(request: HttpRequest, cluster: Cluster) -> HttpResponse:
    found = onboarding.discovery(cluster)
    context = {
        "cluster": cluster,
        "discovery": found,
        "nodes": cluster.nodes.all(),
        "has_inventory": cluster.devices.exists() or cluster.drbd_resources.exists(),
        "drift": onboarding.mode_switch_blockers(cluster)[1],
    }
    return render(request, "clusters/cluster_discover.html", context)


@require_POST
@access.cluster_view(Role.ADMIN)
def cluster_import(request: HttpRequest, cluster: Cluster) -> HttpResponse:
    try:
        report = onboarding.inventory_adopt(cluster, request.user)
    except onboarding.OnboardingError as exc:
        messages.error(request, str(exc))
        return redirect("cluster-discover", cluster.name)
    created = ", ".join(f"{n} {what}" for what, n in report.created.items()) or "nothing"
    messages.success(request, f"Imported {created}.")
    for skipped in report.skipped:
        messages.warning(request, f"Not imported: {skipped}")
    return redirect("cluster-mode", cluster.name)


@access.cluster_view(Role.ADMIN)
def cluster_mode(request: HttpRequest, cluster: Cluster) -> HttpResponse:
    foreign, drift = onboarding.mode_switch_blockers(cluster)
    form = ModeSwitchForm(request.POST or None, drift=drift)
    if request.method == "POST" and request.POST.get("mode") == "monitored":
        onboarding.cluster_monitor(cluster, request.user)
        messages.success(request, f"{cluster.name} is monitored: the portal will not write to it.")
        return redirect("cluster-detail", cluster.name)
    if request.method == "POST" and form.is_valid():
        try:
            onboarding.cluster_manage(cluster, request.user, set(form.cleaned_data["accepted"]))
        except onboarding.OnboardingError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request, f"{cluster.name} is managed: changes go through plan and apply."
            )
            return redirect("cluster-detail", cluster.name)
    context = {"cluster": cluster, "foreign": foreign, "drift": drift, "form": form}
    return render(request, "clusters/cluster_mode.html", context)
