"""API views: parse, check the role with clusters.access, call one selector or service."""

from django.db import transaction
from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clusters import access, selectors, tasks
from clusters.api import serializers
from clusters.models import (
    Cluster,
    Job,
    JobEvent,
    LunMapping,
    Membership,
    Node,
    NodeSnapshot,
    Role,
    ScstDevice,
)
from clusters.services import collection


def cluster_for(request: Request, cluster_name: str, minimum: Role = Role.VIEWER) -> Cluster:
    """The named cluster, checked for the role; clusters the user cannot see are 404."""
    cluster = get_object_or_404(Cluster, name=cluster_name)
    if access.role_on(request.user, cluster) is None:
        raise Http404("No such cluster.")
    access.require_role(request.user, cluster, minimum)
    return cluster


class ClusterList(generics.ListAPIView):
    """Clusters the caller holds a role on."""

    serializer_class = serializers.ClusterSerializer

    def get_queryset(self) -> QuerySet[Cluster]:
        return access.visible_clusters(self.request.user).order_by("name")


class ClusterDetail(generics.RetrieveAPIView):
    serializer_class = serializers.ClusterSerializer
    lookup_field = "name"
    lookup_url_kwarg = "cluster_name"

    def get_queryset(self) -> QuerySet[Cluster]:
        return access.visible_clusters(self.request.user)


class NodeList(generics.ListAPIView):
    """The cluster's nodes with the outcome of their latest collection."""

    serializer_class = serializers.NodeSerializer

    def get_queryset(self) -> QuerySet[Node]:
        cluster = cluster_for(self.request, self.kwargs["cluster_name"])
        latest = NodeSnapshot.objects.filter(node=OuterRef("pk")).order_by("-collected_at")
        return (
            Node.objects.filter(cluster=cluster)
            .select_related("credential")
            .annotate(
                last_collected_at=Subquery(latest.values("collected_at")[:1]),
                reachable=Subquery(latest.values("reachable")[:1]),
                last_error=Subquery(latest.values("error")[:1]),
            )
            .order_by("name")
        )


class LunList(generics.ListAPIView):
    """The cluster's SCST devices (the exported LUNs) with their mappings."""

    serializer_class = serializers.LunSerializer

    def get_queryset(self) -> QuerySet[ScstDevice]:
        cluster = cluster_for(self.request, self.kwargs["cluster_name"])
        mappings = LunMapping.objects.select_related("target__node", "group")
        return (
            ScstDevice.objects.filter(cluster=cluster)
            .select_related("drbd_resource")
            .prefetch_related(Prefetch("mappings", queryset=mappings))
            .order_by("name")
        )


@extend_schema(parameters=[serializers.FindingFilterSerializer])
class FindingList(generics.ListAPIView):
    """Open findings of the visible clusters, worst first, with any active mute."""

    serializer_class = serializers.FindingSerializer

    def get_queryset(self) -> list:
        filters = serializers.FindingFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.open_findings(
            access.visible_clusters(self.request.user),
            severity=filters.validated_data.get("severity", ""),
            cluster_name=filters.validated_data.get("cluster", ""),
        )


def visible_jobs(user) -> QuerySet[Job]:
    """Jobs of the visible clusters; jobs of all clusters only for global roles."""
    seen = Q(cluster__in=access.visible_clusters(user))
    if user.is_superuser or Membership.objects.filter(user=user, cluster__isnull=True).exists():
        seen |= Q(cluster__isnull=True)
    return Job.objects.filter(seen).select_related("cluster", "requested_by")


class JobList(generics.ListAPIView):
    serializer_class = serializers.JobSerializer

    def get_queryset(self) -> QuerySet[Job]:
        return visible_jobs(self.request.user).order_by("-created_at", "-pk")


class JobDetail(generics.RetrieveAPIView):
    """One job with its per-node steps."""

    serializer_class = serializers.JobDetailSerializer
    lookup_url_kwarg = "job_id"

    def get_queryset(self) -> QuerySet[Job]:
        events = JobEvent.objects.select_related("node")
        return visible_jobs(self.request.user).prefetch_related(Prefetch("events", events))


class CollectionCreate(APIView):
    """Queue a collection of the cluster's live state (operators)."""

    @extend_schema(request=None, responses={202: serializers.JobSerializer})
    def post(self, request: Request, cluster_name: str) -> Response:
        cluster = cluster_for(request, cluster_name, Role.OPERATOR)
        job = collection.collection_create(cluster, request.user)
        transaction.on_commit(lambda: tasks.collect_job.delay(job.pk))
        return Response(serializers.JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
