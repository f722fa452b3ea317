"""The inventory: what the portal wants every node of every cluster to run.

Validation lives in three layers: field validators (forms and full_clean), clean() for
rules that span fields, and database constraints so that nothing bypasses them.
"""

import json
import zlib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from clusters import secrets, validators


def _regex_check(field: str, pattern: str, name: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=Q(**{f"{field}__regex": pattern}), name=name)


def _range_check(field: str, low: int, high: int, name: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{field}__gte": low, f"{field}__lte": high}), name=name
    )


PORT_VALIDATORS = [MinValueValidator(1), MaxValueValidator(65535)]


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    OPERATOR = "operator", "Operator"
    ADMIN = "admin", "Admin"


class Cluster(models.Model):
    class DrbdVersion(models.TextChoices):
        V9 = "9", "DRBD 9"
        V84 = "8.4", "DRBD 8.4"

    name = models.CharField(
        max_length=50,
        unique=True,
        validators=[validators.validate_scst_name],
        help_text="Short name, e.g. store-a.",
    )
    description = models.CharField(max_length=200, blank=True)

    class Mode(models.TextChoices):
        MONITORED = "monitored", "Monitored (read-only: the portal never writes to the nodes)"
        MANAGED = "managed", "Managed (the portal plans and applies changes)"

    drbd_version = models.CharField(
        max_length=3, choices=DrbdVersion.choices, default=DrbdVersion.V9
    )
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.MONITORED)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            _regex_check("name", validators.SCST_NAME_PATTERN, "cluster_name_valid"),
            models.CheckConstraint(
                condition=Q(drbd_version__in=["9", "8.4"]), name="cluster_drbd_version_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role on one cluster, or on every cluster when cluster is empty."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    cluster = models.ForeignKey(
        Cluster,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="memberships",
        help_text="Leave empty to grant the role on all clusters.",
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    # LDAP memberships follow the directory's groups at every login; local ones stay put.
    source = models.CharField(
        max_length=10,
        choices=[("local", "Granted in the portal"), ("ldap", "From an LDAP group")],
        default="local",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "cluster"], name="membership_one_role_per_cluster"
            ),
            models.UniqueConstraint(
                fields=["user"], condition=Q(cluster__isnull=True), name="membership_one_global"
            ),
            models.CheckConstraint(
                condition=Q(role__in=[r.value for r in Role]), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} on {self.cluster or 'all clusters'}"


class SshCredential(models.Model):
    """An SSH private key, encrypted at rest; write-only everywhere in the UI."""

    name = models.CharField(max_length=100, unique=True)
    private_key_encrypted = models.TextField(editable=False)
    public_key = models.TextField(editable=False, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def set_private_key(self, pem: str) -> None:
        """Validate an OpenSSH/PEM private key, store it encrypted, keep its public half."""
        import asyncssh

        try:
            key = asyncssh.import_private_key(pem)
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise ValidationError(
                {"private_key": "Not a usable unencrypted SSH private key (OpenSSH or PEM)."}
            ) from exc
        self.private_key_encrypted = secrets.encrypt(pem)
        self.public_key = key.export_public_key().decode().strip()

    def private_key(self) -> str:
        return secrets.decrypt(self.private_key_encrypted)

    @property
    def is_set(self) -> bool:
        return bool(self.private_key_encrypted)


class Node(models.Model):
    """One storage node; `name` is its DRBD host name (uname -n)."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="nodes")
    name = models.CharField(max_length=253, validators=[validators.validate_hostname])
    address = models.CharField(
        max_length=253,
        validators=[validators.validate_address],
        help_text="Management address the portal connects to over SSH.",
    )
    ssh_port = models.PositiveIntegerField(default=22, validators=PORT_VALIDATORS)
    ssh_user = models.CharField(
        max_length=32, default="root", validators=[validators.validate_unix_user]
    )
    credential = models.ForeignKey(
        SshCredential, on_delete=models.PROTECT, related_name="nodes", null=True, blank=True
    )
    drbd_node_id = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(31)], help_text="DRBD 9 node-id (0–31)."
    )
    drbd_address = models.GenericIPAddressField(
        help_text="Replication address DRBD listens on (the `address` in the .res file)."
    )
    host_key = models.TextField(
        blank=True, help_text="Pinned SSH host key (OpenSSH public key line), approved by an admin."
    )
    pending_host_key = models.TextField(
        blank=True, help_text="Host key offered by the node and waiting for an admin's approval."
    )
    # Set when a change could not tell what it left on the node (a dropped connection,
    # a failed rollback); no change is applied until a collection reads the node again.
    outcome_unknown_since = models.DateTimeField(null=True, blank=True)
    outcome_unknown_job = models.ForeignKey(
        "Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Set by a maintenance drain (docs/workflows.md), cleared by its return: the node's
    # targets are disabled on purpose, and its new findings are expected, not alarms.
    maintenance_since = models.DateTimeField(null=True, blank=True)
    maintenance_job = models.ForeignKey(
        "Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["cluster__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "name"], name="node_name_unique"),
            models.UniqueConstraint(fields=["cluster", "drbd_node_id"], name="node_id_unique"),
            models.UniqueConstraint(fields=["address", "ssh_port"], name="node_endpoint_unique"),
            _regex_check("name", validators.HOSTNAME_PATTERN, "node_name_valid"),
            _range_check("ssh_port", 1, 65535, "node_ssh_port_valid"),
            _range_check("drbd_node_id", 0, 31, "node_drbd_node_id_valid"),
            _regex_check("ssh_user", validators.UNIX_USER_PATTERN, "node_ssh_user_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.cluster.name}/{self.name}"

    @property
    def in_maintenance(self) -> bool:
        return self.maintenance_since is not None


class DrbdResource(models.Model):
    class Protocol(models.TextChoices):
        A = "A", "A (asynchronous)"
        B = "B", "B (memory synchronous)"
        C = "C", "C (synchronous; required for dual-primary)"

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="drbd_resources")
    name = models.CharField(max_length=63, validators=[validators.validate_drbd_resource_name])
    port = models.PositiveIntegerField(validators=PORT_VALIDATORS, help_text="Replication port.")
    protocol = models.CharField(max_length=1, choices=Protocol.choices, default=Protocol.C)
    allow_two_primaries = models.BooleanField(default=True)
    # The other option sections as the nodes run them ({"net": {…}, "disk": {…},
    # "handlers": {…}, "startup": {…}, "options": {…}}), set by adoption; empty means the
    # portal's dual-primary-safe defaults (desired.drbd_resource_config).
    options = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["cluster__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "name"], name="drbd_resource_name_unique"),
            models.UniqueConstraint(fields=["cluster", "port"], name="drbd_resource_port_unique"),
            _regex_check("name", validators.DRBD_RESOURCE_PATTERN, "drbd_resource_name_valid"),
            _range_check("port", 1, 65535, "drbd_resource_port_valid"),
            models.CheckConstraint(
                condition=Q(protocol__in=["A", "B", "C"]), name="drbd_resource_protocol_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cluster.name}/{self.name}"


class DrbdVolume(models.Model):
    """A resource's volume on one node: its /dev/drbdM minor and backing disk."""

    resource = models.ForeignKey(DrbdResource, on_delete=models.CASCADE, related_name="volumes")
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="drbd_volumes")
    volume = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(65534)])
    minor = models.PositiveIntegerField(validators=[MaxValueValidator(1048575)])
    backing_disk = models.CharField(max_length=200, validators=[validators.validate_device_path])
    meta_disk = models.CharField(
        max_length=200,
        default="internal",
        help_text="`internal`, or an absolute path to an external meta-data device.",
    )

    class Meta:
        ordering = ["resource__name", "node__name", "volume"]
        constraints = [
            models.UniqueConstraint(
                fields=["resource", "node", "volume"], name="drbd_volume_unique"
            ),
            models.UniqueConstraint(fields=["node", "minor"], name="drbd_minor_unique_per_node"),
            _regex_check("backing_disk", validators.DEVICE_PATH_PATTERN, "drbd_volume_disk_valid"),
            _range_check("minor", 0, 1048575, "drbd_volume_minor_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.resource.name}/{self.volume} on {self.node.name}"

    @property
    def device(self) -> str:
        return f"/dev/drbd{self.minor}"

    def clean(self) -> None:
        if self.meta_disk != "internal":
            validators.validate_device_path(self.meta_disk)
        if self.node_id and self.resource_id and self.node.cluster_id != self.resource.cluster_id:
            raise ValidationError({"node": "The node belongs to another cluster."})


class ScstDevice(models.Model):
    """An exported LUN's SCST device, identical on both nodes of its cluster."""

    class Handler(models.TextChoices):
        BLOCKIO = "vdisk_blockio", "vdisk_blockio (recommended for DRBD)"
        FILEIO = "vdisk_fileio", "vdisk_fileio"

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="devices")
    name = models.CharField(max_length=50, validators=[validators.validate_scst_name])
    handler = models.CharField(max_length=20, choices=Handler.choices, default=Handler.BLOCKIO)
    drbd_resource = models.ForeignKey(
        DrbdResource, on_delete=models.PROTECT, related_name="devices", null=True, blank=True
    )
    drbd_volume = models.PositiveSmallIntegerField(default=0)
    # SCSI identity: generated once, rendered identically on both nodes, never changed.
    t10_dev_id = models.CharField(max_length=24, validators=[validators.validate_t10_dev_id])
    usn = models.CharField(max_length=20, validators=[validators.validate_usn])
    prod_id = models.CharField(max_length=16, validators=[validators.validate_prod_id])
    t10_vend_id = models.CharField(
        max_length=8, blank=True, validators=[validators.validate_t10_vend_id]
    )
    eui64_id = models.CharField(
        max_length=32, blank=True, validators=[validators.validate_eui64_id]
    )
    naa_id = models.CharField(max_length=32, blank=True, validators=[validators.validate_naa_id])
    # Attributes: the safe values are the defaults; anything else is flagged by compliance.
    nv_cache = models.PositiveSmallIntegerField(default=0, choices=[(0, "0"), (1, "1")])
    write_through = models.PositiveSmallIntegerField(default=1, choices=[(0, "0"), (1, "1")])
    cluster_mode = models.PositiveSmallIntegerField(default=0, choices=[(0, "0"), (1, "1")])
    blocksize = models.PositiveIntegerField(
        default=512, validators=[validators.validate_block_size]
    )
    rotational = models.PositiveSmallIntegerField(default=1, choices=[(0, "0"), (1, "1")])
    uses_reservations = models.BooleanField(
        default=False,
        help_text="Initiators use SCSI reservations (VMware, Windows failover clustering).",
    )

    class Meta:
        ordering = ["cluster__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "name"], name="device_name_unique"),
            models.UniqueConstraint(fields=["cluster", "t10_dev_id"], name="device_t10_unique"),
            models.UniqueConstraint(fields=["cluster", "usn"], name="device_usn_unique"),
            _regex_check("name", validators.SCST_NAME_PATTERN, "device_name_valid"),
            _regex_check("t10_dev_id", validators.T10_DEV_ID_PATTERN, "device_t10_valid"),
            _regex_check("usn", validators.USN_PATTERN, "device_usn_valid"),
            _regex_check("prod_id", validators.PROD_ID_PATTERN, "device_prod_id_valid"),
            models.CheckConstraint(
                condition=Q(handler__in=["vdisk_blockio", "vdisk_fileio"]),
                name="device_handler_valid",
            ),
            models.CheckConstraint(
                condition=Q(blocksize__in=validators.BLOCK_SIZES), name="device_blocksize_valid"
            ),
            models.CheckConstraint(
                condition=Q(nv_cache__in=[0, 1])
                & Q(write_through__in=[0, 1])
                & Q(cluster_mode__in=[0, 1])
                & Q(rotational__in=[0, 1]),
                name="device_flags_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cluster.name}/{self.name}"

    def clean(self) -> None:
        if self.drbd_resource is not None and self.drbd_resource.cluster_id != self.cluster_id:
            raise ValidationError(
                {"drbd_resource": "The DRBD resource belongs to another cluster."}
            )
        if self.t10_dev_id and self.cluster_id:
            clash = (
                ScstDevice.objects.filter(cluster_id=self.cluster_id)
                .exclude(pk=self.pk)
                .filter(t10_dev_id__startswith=self.t10_dev_id[:8])
            )
            if clash.exists():
                raise ValidationError(
                    {
                        "t10_dev_id": "The first 8 characters must be unique in the cluster: "
                        "ESXi and Hyper-V compare only those and would merge the LUNs."
                    }
                )


class Target(models.Model):
    """An iSCSI target on one node; rel_tgt_id is unique across the cluster."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="targets")
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="targets")
    driver = models.CharField(max_length=20, default="iscsi", choices=[("iscsi", "iscsi")])
    name = models.CharField(
        max_length=223,
        validators=[validators.validate_iscsi_name, validators.validate_iscsi_name_length],
        help_text="IQN, e.g. iqn.2024-01.com.example:store-a.node1",
    )
    rel_tgt_id = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["cluster__name", "node__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["node", "name"], name="target_name_unique_per_node"),
            models.UniqueConstraint(
                fields=["cluster", "rel_tgt_id"], name="target_rel_tgt_id_unique"
            ),
            _regex_check("name", validators.IQN_PATTERN, "target_name_valid"),
            _range_check("rel_tgt_id", 1, 65535, "target_rel_tgt_id_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.node.name}:{self.name}"

    def clean(self) -> None:
        if self.node_id and self.cluster_id and self.node.cluster_id != self.cluster_id:
            raise ValidationError({"node": "The node belongs to another cluster."})


class InitiatorGroup(models.Model):
    """An SCST GROUP under a target: the LUNs these initiators see."""

    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=50, validators=[validators.validate_scst_name])

    class Meta:
        ordering = ["target__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["target", "name"], name="group_name_unique"),
            _regex_check("name", validators.SCST_NAME_PATTERN, "group_name_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.target}/{self.name}"


class Initiator(models.Model):
    group = models.ForeignKey(InitiatorGroup, on_delete=models.CASCADE, related_name="initiators")
    name = models.CharField(max_length=223, validators=[validators.validate_initiator_name])

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["group", "name"], name="initiator_unique"),
            _regex_check("name", validators.INITIATOR_PATTERN, "initiator_name_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class LunMapping(models.Model):
    """A device exported as LUN N by a target (default LUN set) or by one of its groups."""

    device = models.ForeignKey(ScstDevice, on_delete=models.CASCADE, related_name="mappings")
    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="lun_mappings")
    group = models.ForeignKey(
        InitiatorGroup,
        on_delete=models.CASCADE,
        related_name="lun_mappings",
        null=True,
        blank=True,
        help_text="Empty: the target's default LUN set.",
    )
    lun = models.PositiveIntegerField(validators=[MaxValueValidator(validators.MAX_LUN)])

    class Meta:
        ordering = ["target__name", "lun"]
        constraints = [
            models.UniqueConstraint(
                fields=["target", "lun"],
                condition=Q(group__isnull=True),
                name="lun_unique_per_target",
            ),
            models.UniqueConstraint(fields=["group", "lun"], name="lun_unique_per_group"),
            models.UniqueConstraint(
                fields=["target", "group", "device"], name="lun_device_once_per_lun_set"
            ),
            _range_check("lun", 0, validators.MAX_LUN, "lun_number_valid"),
        ]

    def __str__(self) -> str:
        where = f"{self.target}/{self.group.name}" if self.group is not None else str(self.target)
        return f"LUN {self.lun} → {self.device.name} on {where}"

    def clean(self) -> None:
        if self.group is not None and self.target_id and self.group.target_id != self.target_id:
            raise ValidationError({"group": "The group belongs to another target."})
        if self.device_id and self.target_id and self.device.cluster_id != self.target.cluster_id:
            raise ValidationError({"device": "The device belongs to another cluster."})
        if self.lun is None or not self.target_id:
            return
        same_set = LunMapping.objects.filter(
            target_id=self.target_id, group_id=self.group_id, lun=self.lun
        ).exclude(pk=self.pk)
        if same_set.exists():
            raise ValidationError({"lun": f"LUN {self.lun} is already used in this LUN set."})


# --- Records: what the portal saw and did -------------------------------------------


class Severity(models.TextChoices):
    CRITICAL = "CRITICAL", "Critical"
    WARNING = "WARNING", "Warning"
    INFO = "INFO", "Info"


SEVERITY_RANK = {Severity.CRITICAL: 3, Severity.WARNING: 2, Severity.INFO: 1}


class NodeSnapshot(models.Model):
    """One collection from one node: raw outputs as evidence, parsed facts, outcome."""

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="snapshots")
    job = models.ForeignKey("Job", on_delete=models.SET_NULL, null=True, related_name="snapshots")
    collected_at = models.DateTimeField(db_index=True)
    reachable = models.BooleanField()
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    # Command outputs, keyed by what they are, as zlib-compressed JSON: the sysfs dump is
    # NUL-separated, and PostgreSQL text/jsonb cannot hold NUL characters.
    raw_compressed = models.BinaryField(default=bytes)
    facts = models.JSONField(default=dict, help_text="Parsed summary shown on the pages.")

    class Meta:
        ordering = ["-collected_at"]
        indexes = [models.Index(fields=["node", "-collected_at"])]

    def __str__(self) -> str:
        state = "reachable" if self.reachable else "unreachable"
        return f"{self.node} at {self.collected_at:%Y-%m-%d %H:%M:%S} ({state})"

    @property
    def raw(self) -> dict:
        return json.loads(zlib.decompress(self.raw_compressed)) if self.raw_compressed else {}

    @raw.setter
    def raw(self, outputs: dict) -> None:
        self.raw_compressed = zlib.compress(json.dumps(outputs).encode(), 6)


class Finding(models.Model):
    """A rule violation on one object, kept while it lasts (first/last seen)."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="findings")
    code = models.CharField(max_length=40, db_index=True)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    object_ref = models.CharField(max_length=300, help_text="e.g. device:lun0 or node:n1")
    title = models.CharField(max_length=200)
    details = models.JSONField(default=list, help_text="Detail lines with their evidence.")
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Set while the finding's evidence cannot be read again (its node unreachable): the
    # finding stays open, *last known*, and this is when its nodes were last read.
    last_known_at = models.DateTimeField(null=True, blank=True)
    # First seen while a node it was read from is in maintenance: shown as expected, not
    # counted in the cluster's status (clusters/services/findings.py).
    expected_in_maintenance = models.BooleanField(default=False)

    class Meta:
        ordering = ["cluster__name", "code", "object_ref"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "code", "object_ref"],
                condition=Q(resolved_at__isnull=True),
                name="finding_open_once",
            ),
            models.CheckConstraint(
                condition=Q(severity__in=["CRITICAL", "WARNING", "INFO"]),
                name="finding_severity_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.severity} {self.code} {self.object_ref}"


class Mute(models.Model):
    """An operator's decision to accept one finding code on one object until a time."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="mutes")
    code = models.CharField(max_length=40)
    object_ref = models.CharField(max_length=300)
    severity_at_mute = models.CharField(max_length=8, choices=Severity.choices)
    reason = models.TextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)
    until = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"mute {self.code} {self.object_ref} until {self.until:%Y-%m-%d}"


class Job(models.Model):
    """A collection, plan or apply run, with per-node steps recorded as JobEvents."""

    class Kind(models.TextChoices):
        COLLECT = "collect", "Collect live state"
        PLAN = "plan", "Plan a change"
        APPLY = "apply", "Apply a change"
        WORKFLOW_PLAN = "wf_plan", "Plan a workflow"
        WORKFLOW = "workflow", "Run a workflow"
        MANAGE = "manage", "Switch to managed"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        PARTIAL = "partial", "Partly failed"
        REFUSED = "refused", "Refused"  # an interlock said no; nothing was written
        INTERRUPTED = "interrupted", "Interrupted"  # the process running it died

    FINISHED = frozenset({"succeeded", "failed", "partial", "refused", "interrupted"})

    kind = models.CharField(max_length=10, choices=Kind.choices)
    cluster = models.ForeignKey(
        Cluster, on_delete=models.CASCADE, related_name="jobs", null=True, blank=True
    )
    state = models.CharField(max_length=12, choices=State.choices, default=State.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    summary = models.TextField(blank=True)
    params = models.JSONField(default=dict, blank=True)
    # Liveness: the process running the job (host:pid) and when it last showed life.
    # The sweeper ends a running job whose process is gone or whose heartbeat stopped.
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # An apply interrupted after it wrote to a node blocks its cluster until reconciled.
    needs_reconcile = models.BooleanField(default=False)
    reconciled_at = models.DateTimeField(null=True, blank=True)
    reconciled_by = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="reconciles"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "kind"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED

    def acting_cluster(self) -> Cluster:
        """The cluster a plan, apply or workflow acts on (only fleet-wide jobs have none)."""
        if self.cluster is None:
            raise ValueError(f"{self} acts on no cluster")
        return self.cluster


class JobEvent(models.Model):
    """One step of a job on one node (or the whole cluster when node is empty)."""

    class Level(models.TextChoices):
        INFO = "info", "Info"
        OK = "ok", "OK"
        ERROR = "error", "Error"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    node = models.ForeignKey(Node, on_delete=models.SET_NULL, null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True)
    step = models.CharField(max_length=40)
    level = models.CharField(max_length=5, choices=Level.choices, default=Level.INFO)
    message = models.TextField()

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.step}: {self.message}"


class NodeStep(models.Model):
    """One remote command of a change on one node, written before it runs and again after.

    A step with no finish is a command whose outcome nobody saw: the reconcile page and
    the sweeper read these to tell what an interrupted apply may have done.
    """

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="steps")
    node = models.ForeignKey(Node, on_delete=models.SET_NULL, null=True, blank=True)
    node_name = models.CharField(max_length=253)
    step = models.CharField(max_length=40)
    command = models.TextField()
    writes = models.BooleanField(default=False, help_text="The command changes the node.")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_status = models.IntegerField(null=True, blank=True)
    output = models.TextField(blank=True, help_text="The end of stdout and stderr.")
    error = models.TextField(blank=True, help_text="Why no exit status was seen.")

    class Meta:
        ordering = ["started_at", "pk"]

    def __str__(self) -> str:
        return f"{self.node_name}: {self.command}"


class ClusterLock(models.Model):
    """The one-writer lock of a cluster: a row per cluster, taken by a job with a lease.

    Taking and renewing are single UPDATEs conditioned on the current holder, so
    PostgreSQL (not the broker) decides who writes; the job id is the fencing token
    every node step checks.
    """

    cluster = models.OneToOneField(
        Cluster, on_delete=models.CASCADE, primary_key=True, related_name="lock"
    )
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True)
    holder = models.CharField(max_length=150, blank=True)
    acquired_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"lock of {self.cluster_id}: job {self.job_id or '—'}"


class Revision(models.Model):
    """What an applied change left on every node, kept so that it can be restored."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="revisions")
    job = models.OneToOneField(Job, on_delete=models.PROTECT, related_name="revision")
    created_at = models.DateTimeField(auto_now_add=True)
    description = models.CharField(max_length=300)
    files = models.JSONField(help_text="{node name: {path: content}} as applied.")
    inventory = models.JSONField(help_text="The cluster's inventory at that revision.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.cluster.name} revision {self.pk}: {self.description}"


from clusters.alert_models import Channel, Delivery, Subscription  # noqa: E402,F401
from clusters.audit import AuditEntry  # noqa: E402,F401


class ApiToken(models.Model):
    """A named API token. Only its SHA-256 digest is stored: the key is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. prometheus.")
    prefix = models.CharField(max_length=12, help_text="The key's first characters.")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"token {self.name} ({self.prefix}…) of {self.user}"


class LdapAccount(models.Model):
    """Marks a user as coming from LDAP: their DN and groups at the last login."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ldap_account"
    )
    dn = models.CharField(max_length=500)
    groups = models.JSONField(default=list)
    synced_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.user} from LDAP ({self.dn})"


from clusters.history_models import Sample  # noqa: E402,F401
