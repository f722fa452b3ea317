"""Approving a node's SSH host key: admins only, after seeing its fingerprint."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from clusters import access, selectors
from clusters.forms import HostKeyApproveForm
from clusters.models import Cluster, Node, Role
from clusters.services import hostkeys


@access.cluster_view(Role.ADMIN)
def host_key_approve(request: HttpRequest, cluster: Cluster, node_name: str) -> HttpResponse:
    node = get_object_or_404(Node, cluster=cluster, name=node_name)
    key = selectors.host_key_state(node)
    form = HostKeyApproveForm(request.POST or None, offered_fingerprint=key.pending)
    if request.method == "POST" and key.pending and form.is_valid():
        try:
            hostkeys.host_key_approve(
                node,
                request.user,
                form.cleaned_data["reason"],
                fingerprint=form.cleaned_data["fingerprint"],
            )
        except hostkeys.HostKeyError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"{node.name}: host key {key.pending} is now pinned.")
            return redirect("cluster-detail", cluster.name)
    context = {"cluster": cluster, "node": node, "key": key, "form": form}
    return render(request, "clusters/host_key_approve.html", context)
