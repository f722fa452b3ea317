"""What the API shows of each object. Secrets never appear: credentials by name only,
host keys as fingerprints."""

from django.contrib.auth.models import User
from rest_framework import serializers

from clusters import selectors, validators
from clusters.models import (
    Cluster,
    DrbdResource,
    Finding,
    InitiatorGroup,
    Job,
    JobEvent,
    LunMapping,
    Node,
    ScstDevice,
    Severity,
    SshCredential,
    Target,
)
from clusters.services.inventory import DEVICE_FIELDS


class ClusterSerializer(serializers.ModelSerializer):
    class Meta:
        model = Cluster
        fields = ["name", "description", "drbd_version", "mode", "created_at"]


class NodeSerializer(serializers.ModelSerializer):
    credential = serializers.SlugRelatedField[SshCredential](slug_field="name", read_only=True)
    host_key_fingerprint = serializers.SerializerMethodField()
    pending_host_key_fingerprint = serializers.SerializerMethodField()
    last_collected_at = serializers.DateTimeField(read_only=True, allow_null=True)
    reachable = serializers.BooleanField(
        read_only=True, allow_null=True, help_text="At the last collection; null: never collected."
    )
    last_error = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = Node
        fields = [
            "name",
            "address",
            "ssh_port",
            "ssh_user",
            "credential",
            "drbd_node_id",
            "drbd_address",
            "host_key_fingerprint",
            "pending_host_key_fingerprint",
            "last_collected_at",
            "reachable",
            "last_error",
            "maintenance_since",
        ]

    def get_host_key_fingerprint(self, node: Node) -> str:
        return selectors.host_key_state(node).pinned

    def get_pending_host_key_fingerprint(self, node: Node) -> str:
        return selectors.host_key_state(node).pending


class LunMappingSerializer(serializers.ModelSerializer):
    target = serializers.SlugRelatedField[Target](slug_field="name", read_only=True)
    node = serializers.CharField(source="target.node.name", read_only=True)
    group = serializers.SlugRelatedField[InitiatorGroup](
        slug_field="name", read_only=True, allow_null=True
    )

    class Meta:
        model = LunMapping
        fields = ["lun", "node", "target", "group"]


class LunSerializer(serializers.ModelSerializer):
    """An exported device: its SCST identity and attributes, and where it is mapped."""

    drbd_resource = serializers.SlugRelatedField[DrbdResource](slug_field="name", read_only=True)
    mappings = LunMappingSerializer(many=True, read_only=True)

    class Meta:
        model = ScstDevice
        fields = [*DEVICE_FIELDS, "drbd_resource", "mappings"]


class FindingSerializer(serializers.ModelSerializer):
    cluster = serializers.SlugRelatedField[Cluster](slug_field="name", read_only=True)
    muted_until = serializers.DateTimeField(source="mute_until", read_only=True, allow_null=True)

    class Meta:
        model = Finding
        fields = [
            "id",
            "cluster",
            "code",
            "severity",
            "object_ref",
            "title",
            "details",
            "first_seen",
            "last_seen",
            "last_known_at",
            "expected_in_maintenance",
            "muted_until",
        ]


class FindingFilterSerializer(serializers.Serializer):
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    cluster = serializers.CharField(required=False, max_length=50)


class JobEventSerializer(serializers.ModelSerializer):
    node = serializers.SlugRelatedField[Node](slug_field="name", read_only=True, allow_null=True)

    class Meta:
        model = JobEvent
        fields = ["at", "node", "step", "level", "message"]


class JobSerializer(serializers.ModelSerializer):
    cluster = serializers.SlugRelatedField[Cluster](
        slug_field="name", read_only=True, allow_null=True
    )
    requested_by = serializers.SlugRelatedField[User](
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "cluster",
            "state",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
            "summary",
        ]


class JobDetailSerializer(JobSerializer):
    events = JobEventSerializer(many=True, read_only=True)
    warnings = serializers.SerializerMethodField(
        help_text="What the plan behind a plan or apply job warned about "
        "(initiators logged in, paths dropped while a device is re-created)."
    )

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "events", "warnings"]

    def get_warnings(self, job: Job) -> list[str]:
        from clusters.selectors import job_warnings

        return job_warnings(job)


# --- Plans and their apply (clusters.services.changes) -----------------------------------

# Ids beyond this never exist here; bounding them keeps huge numbers away from SQL.
MAX_ID = 2**31 - 1


class PlanJobSerializer(JobSerializer):
    """A plan job with the plan itself: per-node file diffs, findings and refusals."""

    plan = serializers.JSONField(source="params", read_only=True)
    status = serializers.SerializerMethodField(
        help_text="computing, refused, ready, out_of_date, expired, applying or applied, "
        "re-checked against the latest facts on every read"
    )
    status_text = serializers.SerializerMethodField()

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "plan", "status", "status_text"]

    def _status(self, job: Job):
        from clusters.services.changes import plan_status

        # The context is the dict the view passed (one per response); the stubs say Mapping.
        cache = self.context.setdefault("plan_status", {})  # type: ignore[attr-defined]
        if job.pk not in cache:
            cache[job.pk] = plan_status(job)
        return cache[job.pk]

    def get_status(self, job: Job) -> str:
        return self._status(job).code

    def get_status_text(self, job: Job) -> str:
        return self._status(job).text


class LunSetSerializer(serializers.Serializer):
    target = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="Target id.")
    group = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        allow_null=True,
        default=None,
        help_text="Initiator group id; null: the target's default LUN set.",
    )


class LunSpecSerializer(serializers.Serializer):
    """A LUN to add. Its SCSI identity is generated by the portal, never chosen here."""

    device_name = serializers.CharField(max_length=50, validators=[validators.validate_scst_name])
    resource = serializers.CharField(max_length=63, help_text="DRBD resource name.")
    handler = serializers.ChoiceField(
        choices=ScstDevice.Handler.choices, default=ScstDevice.Handler.BLOCKIO
    )
    uses_reservations = serializers.BooleanField(default=False)
    blocksize = serializers.ChoiceField(choices=validators.BLOCK_SIZES, default=512)
    lun = serializers.IntegerField(min_value=0, max_value=validators.MAX_LUN)
    lun_sets = LunSetSerializer(many=True, allow_empty=False)


class ChangeSerializer(serializers.Serializer):
    """One change: add a LUN, remove LUN mappings, or revert to a revision."""

    kind = serializers.ChoiceField(choices=["add_lun", "remove_mappings", "revert"])
    spec = LunSpecSerializer(required=False, help_text="For add_lun.")
    mapping_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        allow_empty=False,
        help_text="For remove_mappings.",
    )
    revision = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, help_text="For revert."
    )

    NEEDS = {"add_lun": "spec", "remove_mappings": "mapping_ids", "revert": "revision"}

    def validate(self, data: dict) -> dict:
        needed = self.NEEDS[data["kind"]]
        if needed not in data:
            raise serializers.ValidationError({needed: f"Required for a {data['kind']} change."})
        return data


class PlanRequestSerializer(serializers.Serializer):
    change = ChangeSerializer()
    description = serializers.CharField(max_length=300)


class ApplyRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=2000, help_text="Why this change is applied; kept in the audit trail."
    )
