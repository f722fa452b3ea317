"""History pages: a cluster's charts (findings, resync, collection time) and a LUN's I/O
per node, drawn as server-rendered SVG."""

from datetime import datetime, timedelta

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from clusters import access
from clusters.models import Cluster, Role
from clusters.services import history

PERIODS = {"1": "24 hours", "7": "7 days", "30": "30 days"}


def _period(request: HttpRequest) -> tuple[str, datetime]:
    days = request.GET.get("days", "1")
    days = days if days in PERIODS else "1"
    return days, timezone.now() - timedelta(days=int(days))


@access.cluster_view(Role.VIEWER)
def cluster_history(request: HttpRequest, cluster: Cluster) -> HttpResponse:
    days, since = _period(request)
    context = {
        "cluster": cluster,
        "days": days,
        "periods": PERIODS,
        "charts": [
            history.findings_chart(cluster, min(since, timezone.now() - timedelta(days=30))),
            *history.resync_charts(cluster, since),
            history.duration_chart(cluster, since),
        ],
        "luns": history.lun_names(cluster),
    }
    return render(request, "clusters/history.html", context)


@access.cluster_view(Role.VIEWER)
def lun_history(request: HttpRequest, cluster: Cluster, device_name: str) -> HttpResponse:
    if device_name not in history.lun_names(cluster):
        raise Http404("No such LUN in this cluster.")
    days, since = _period(request)
    context = {
        "cluster": cluster,
        "device": device_name,
        "days": days,
        "periods": PERIODS,
        "charts": [
            history.lun_chart(cluster, device_name, history.WRITES, since),
            history.lun_chart(cluster, device_name, history.READS, since),
        ],
    }
    return render(request, "clusters/lun_history.html", context)
