"""Overview of all clusters, the cluster page and its "Collect now" button."""

from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from clusters import access, selectors, tasks
from clusters.models import Cluster, Role
from clusters.services import collection
from clusters.views.htmx import htmx_of, page_or_partial
from clusters.views.queue import queue_job


def home(request: HttpRequest) -> HttpResponse:
    return redirect("cluster-list")


def cluster_list(request: HttpRequest) -> HttpResponse:
    # Worst first over every cluster, then PAGE_SIZE rows a page: a page's size does not
    # grow with the fleet.
    rows = selectors.cluster_overview(access.visible_clusters(request.user))
    page = Paginator(rows, settings.PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "rows": page.object_list,
        "page": page,
        "can_add": access.is_global_admin(request.user),
    }
    return page_or_partial(request, "clusters/cluster_list.html", "cluster-table", context)


@access.cluster_view(Role.VIEWER)
def cluster_detail(request: HttpRequest, cluster: Cluster) -> HttpResponse:
    status = selectors.cluster_overview(Cluster.objects.filter(pk=cluster.pk))[0]
    context = {
        "cluster": cluster,
        "role": access.role_on(request.user, cluster),
        "can_operate": access.may_operate(request.user, cluster),
        "can_admin": access.may_administer(request.user, cluster),
        "findings": selectors.open_findings_page(
            Cluster.objects.filter(pk=cluster.pk), 1, settings.PAGE_SIZE
        ),
        "status": status,
        "drained_nodes": status.maintenance,  # the node rows' loop shadows `status`
        **selectors.cluster_inventory(cluster),
        **selectors.cluster_live_state(cluster),
        **selectors.cluster_lock_state(cluster),
    }
    return render(request, "clusters/cluster_detail.html", context)


@access.cluster_view(Role.OPERATOR)
@require_POST
def cluster_collect(request: HttpRequest, cluster: Cluster) -> HttpResponse:
    """Queue a collection of the cluster; htmx shows its progress in place."""
    job = collection.collection_create(cluster, request.user)
    down = queue_job(request, job, tasks.collect_job)
    if down is not None:
        return down
    if htmx_of(request):
        return render(request, "clusters/job_detail.html#job-status", {"job": job})
    return redirect("job-detail", job.pk)
