"""API views: parse, check the role with clusters.access, call one selector or service."""

from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
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
    Node,
    NodeSnapshot,
    Revision,
    Role,
    ScstDevice,
)
from clusters.services import changes, collection, inventory, jobs
from clusters.services.change_kinds import Change, change_from_json


def cluster_for(request: Request, cluster_name: str, minimum: Role = Role.VIEWER) -> Cluster:
    """The named cluster, checked for the role; clusters the user cannot see are 404."""
    cluster = get_object_or_404(Cluster, name=cluster_name)
    if not access.may_view(request.user, cluster):
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

    # A list, not a QuerySet: open_findings attaches each finding's rule, and DRF pages and
    # serialises a list the same way (the stubs allow only a QuerySet).
    def get_queryset(self) -> list:  # type: ignore[override]
        filters = serializers.FindingFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.open_findings(
            access.visible_clusters(self.request.user),
            severity=filters.validated_data.get("severity", ""),
            cluster_name=filters.validated_data.get("cluster", ""),
        )


def visible_jobs(user) -> QuerySet[Job]:
    """The jobs the caller may see (access.visible_jobs), with what the API shows of them."""
    return access.visible_jobs(user).select_related("cluster", "requested_by")


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
        queued = queue_or_refusal(job, tasks.collect_job)
        if queued is not None:
            return queued
        job.refresh_from_db()
        return Response(serializers.JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


# --- Plans and their apply -----------------------------------------------------------------


def parsed_change(data: dict) -> Change:
    """The request's change as its typed object (the JSON boundary); ValidationError if
    it is not one."""
    try:
        return change_from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError({"kind": f"Not a change the portal knows: {exc}"}) from exc


def change_for(cluster: Cluster, change: dict) -> Change:
    """The request's change, typed and checked against the inventory; a new LUN gets its
    identity here, once, so that the plan and its apply render the same identity."""
    kind = change["kind"]
    if kind == "add_lun":
        spec = change["spec"]
        identity = inventory.identity_generate(cluster, spec["device_name"])
        lun_sets = [(s["target"], s["group"]) for s in spec["lun_sets"]]
        lun_spec = inventory.LunSpec(
            **{
                **spec,
                "lun_sets": lun_sets,
                "identity": identity,
                "blocksize": int(spec["blocksize"]),
            }
        )
        typed = parsed_change({"kind": kind, "spec": lun_spec.as_json()})
        inventory.change_check(cluster, typed)
        return typed
    if (
        kind == "revert"
        and not Revision.objects.filter(pk=change["revision"], cluster=cluster).exists()
    ):
        raise ValidationError({"revision": f"No revision {change['revision']} of {cluster}."})
    key = "mapping_ids" if kind == "remove_mappings" else "revision"
    typed = parsed_change({"kind": kind, key: change[key]})
    inventory.change_check(cluster, typed)
    return typed


def queue_or_refusal(job: Job, task) -> Response | None:
    """Queue TASK for JOB; a 503 with the reason when the job queue is down (the job
    then ended failed)."""
    try:
        jobs.enqueue(job, task)
    except jobs.QueueUnavailable as exc:
        response = Response({"detail": [str(exc)], "job": job.pk}, status=503)
        response["Retry-After"] = "30"
        return response
    return None


def refusal(exc: Exception, status_code: int = status.HTTP_400_BAD_REQUEST) -> Response:
    """A 4xx answer: every message under "detail", and by field where one is named."""
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        fields = exc.message_dict
        messages = [f"{name}: {m}" for name, ms in fields.items() for m in ms]
        return Response({"detail": messages, "fields": fields}, status=status_code)
    messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
    return Response({"detail": messages}, status=status_code)


class PlanCreate(APIView):
    """Plan a change (operators): per-node diffs, compliance and interlocks. Nothing is
    changed; a refused plan is recorded too (state failed, refusals in the plan)."""

    @extend_schema(
        request=serializers.PlanRequestSerializer,
        responses={201: serializers.PlanJobSerializer},
    )
    def post(self, request: Request, cluster_name: str) -> Response:
        cluster = cluster_for(request, cluster_name, Role.OPERATOR)
        body = serializers.PlanRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            change = change_for(cluster, body.validated_data["change"])
            job = changes.plan_create(
                cluster, request.user, change, body.validated_data["description"]
            )
        except (ValidationError, changes.PlanRefused) as exc:
            return refusal(exc)
        queued = queue_or_refusal(job, tasks.plan_job)
        if queued is not None:
            return queued
        job.refresh_from_db()
        return Response(serializers.PlanJobSerializer(job).data, status=status.HTTP_201_CREATED)


class PlanDetail(generics.RetrieveAPIView):
    serializer_class = serializers.PlanJobSerializer
    lookup_url_kwarg = "job_id"

    def get_queryset(self) -> QuerySet[Job]:
        return visible_jobs(self.request.user).filter(kind=Job.Kind.PLAN)


class ApplyCreate(APIView):
    """Queue the apply of a plan that passed every interlock (operators; a reason)."""

    @extend_schema(
        request=serializers.ApplyRequestSerializer,
        responses={202: serializers.JobSerializer},
    )
    def post(self, request: Request, job_id: int) -> Response:
        plan = get_object_or_404(visible_jobs(request.user), pk=job_id, kind=Job.Kind.PLAN)
        if plan.cluster is None:
            raise Http404("No such plan.")
        access.require_role(request.user, plan.cluster, Role.OPERATOR)
        body = serializers.ApplyRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            job = changes.apply_create(plan, request.user, body.validated_data["reason"])
        except changes.PlanRefused as exc:
            return refusal(exc, status.HTTP_409_CONFLICT)
        queued = queue_or_refusal(job, tasks.apply_job)
        if queued is not None:
            return queued
        job.refresh_from_db()
        return Response(serializers.JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
