"""Cluster list and cluster detail pages."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from clusters import access, selectors
from clusters.models import Cluster, Role


def home(request: HttpRequest) -> HttpResponse:
    return redirect("cluster-list")


def cluster_list(request: HttpRequest) -> HttpResponse:
    clusters = selectors.cluster_rows(access.visible_clusters(request.user))
    return render(request, "clusters/cluster_list.html", {"clusters": clusters})


@access.cluster_view(Role.VIEWER)
def cluster_detail(request: HttpRequest, cluster: Cluster) -> HttpResponse:
    context = {
        "cluster": cluster,
        "role": access.role_on(request.user, cluster),
        **selectors.cluster_inventory(cluster),
    }
    return render(request, "clusters/cluster_detail.html", context)
