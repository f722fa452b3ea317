"""Prometheus metrics, read from the database on each scrape.

A custom collector on a registry made per request: no global mutable metric state, so
web workers agree and nothing drifts from the records.
"""

from collections.abc import Iterator

from django.db.models import Count, OuterRef, Subquery
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from clusters import access, selectors
from clusters.models import Cluster, Job, Node, NodeSnapshot, Severity


class PortalCollector:
    """Findings, node reachability, collection durations and job outcomes."""

    def collect(self) -> Iterator[Metric]:
        yield self.findings()
        yield from self.nodes()
        yield self.jobs()

    def findings(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "scst_portal_findings_open",
            "Open, unmuted compliance findings.",
            labels=["cluster", "severity"],
        )
        counts = dict.fromkeys(
            (
                (name, s.value)
                for name in Cluster.objects.values_list("name", flat=True)
                for s in Severity
            ),
            0,
        )
        rows = (
            selectors.unmuted_open_findings(timezone.now())
            .values_list("cluster__name", "severity")
            .annotate(n=Count("pk"))
        )
        for cluster, severity, n in rows:
            counts[(cluster, severity)] = n
        for (cluster, severity), n in sorted(counts.items()):
            family.add_metric([cluster, severity], n)
        return family

    def nodes(self) -> Iterator[GaugeMetricFamily]:
        labels = ["cluster", "node"]
        reachable = GaugeMetricFamily(
            "scst_portal_node_reachable",
            "1 if the node answered its latest collection, 0 if not; absent: never collected.",
            labels=labels,
        )
        duration = GaugeMetricFamily(
            "scst_portal_node_collection_duration_seconds",
            "How long the node's latest collection took.",
            labels=labels,
        )
        collected = GaugeMetricFamily(
            "scst_portal_node_last_collection_timestamp_seconds",
            "When the node was last collected (Unix time).",
            labels=labels,
        )
        latest = NodeSnapshot.objects.filter(node=OuterRef("pk")).order_by("-collected_at")
        nodes = Node.objects.annotate(
            at=Subquery(latest.values("collected_at")[:1]),
            up=Subquery(latest.values("reachable")[:1]),
            ms=Subquery(latest.values("duration_ms")[:1]),
        ).values_list("cluster__name", "name", "at", "up", "ms")
        for cluster, node, at, up, ms in nodes.order_by("cluster__name", "name"):
            if at is None:
                continue
            reachable.add_metric([cluster, node], 1 if up else 0)
            duration.add_metric([cluster, node], ms / 1000)
            collected.add_metric([cluster, node], at.timestamp())
        yield from (reachable, duration, collected)

    def jobs(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "scst_portal_jobs", "Jobs recorded, by kind and state.", labels=["kind", "state"]
        )
        rows = Job.objects.order_by().values_list("kind", "state").annotate(n=Count("pk"))
        for kind, state, n in sorted(rows):
            family.add_metric([kind, state], n)
        return family


def render() -> bytes:
    """The metrics in Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PortalCollector())
    return generate_latest(registry)


class MayReadAllClusters(BasePermission):
    """Metrics cover every cluster: superusers and holders of a global role only."""

    message = "Metrics cover every cluster: they need a role on all clusters."

    def has_permission(self, request: Request, view) -> bool:
        return access.may_read_all_clusters(request.user)


class MetricsView(APIView):
    """Prometheus scrape target; authenticate with `Authorization: Token …`."""

    permission_classes = [MayReadAllClusters]

    def perform_content_negotiation(self, request: Request, force: bool = False):
        # The body is always Prometheus text; a scraper's Accept header must not turn a
        # refusal (401/403, rendered as JSON) into a 406.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(exclude=True)
    def get(self, request: Request) -> HttpResponse:
        return HttpResponse(render(), content_type=CONTENT_TYPE_LATEST)
