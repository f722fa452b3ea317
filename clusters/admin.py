"""Django admin for the whole inventory (superusers); every change lands in the audit trail."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction

from clusters import audit, models
from clusters.scst.attributes import SAFETY_ATTRIBUTES
from clusters.services import inventory


class AuditedAdmin(admin.ModelAdmin):
    """Record every save and delete, and those of its inlines, with before/after.

    The admin's add/change/delete views already run in one transaction, so an entry is
    written if and only if its change is; the bulk delete action is wrapped here.
    """

    def save_model(self, request, obj, form, change):
        before = _stored_snapshot(obj) if change else None
        super().save_model(request, obj, form, change)
        action = audit.Action.CHANGE if change else audit.Action.CREATE
        audit.record(request.user, action, obj, before=before, after=audit.snapshot(obj))

    def delete_model(self, request, obj):
        _record_delete(request.user, obj)
        super().delete_model(request, obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for obj in queryset:
            _record_delete(request.user, obj)
        super().delete_queryset(request, queryset)

    def save_formset(self, request, form, formset, change):
        for obj in [f.instance for f in formset.deleted_forms if f.instance.pk]:
            _record_delete(request.user, obj)
        changed = [f.instance for f in formset.initial_forms if f.instance.pk and f.has_changed()]
        before = {obj.pk: _stored_snapshot(obj) for obj in changed}
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            audit.record(request.user, audit.Action.CREATE, obj, after=audit.snapshot(obj))
        for obj, _fields in formset.changed_objects:
            after = audit.snapshot(obj)
            audit.record(
                request.user, audit.Action.CHANGE, obj, before=before.get(obj.pk), after=after
            )


def _stored_snapshot(obj) -> dict | None:
    """The object as the database holds it (the form has already changed `obj`)."""
    stored = type(obj).objects.filter(pk=obj.pk).first()
    return audit.snapshot(stored) if stored is not None else None


def _record_delete(user, obj) -> None:
    audit.record(user, audit.Action.DELETE, obj, before=audit.snapshot(obj))


class SshCredentialForm(forms.ModelForm):
    """The private key is write-only: shown as set/not set, never echoed back."""

    private_key = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "autocomplete": "off"}),
        required=False,
        strip=False,
        help_text="Paste an unencrypted OpenSSH or PEM private key. Leave empty to keep the "
        "current key.",
    )

    class Meta:
        model = models.SshCredential
        fields = ["name"]

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
        pem = cleaned.get("private_key")
        if not pem and not self.instance.is_set:
            self.add_error("private_key", "A private key is required for a new credential.")
        elif pem:
            self.instance.set_private_key(pem)
        return cleaned


@admin.register(models.SshCredential)
class SshCredentialAdmin(AuditedAdmin):
    form = SshCredentialForm
    list_display = ["name", "key_is_set", "updated_at"]
    search_fields = ["name"]
    readonly_fields = ["public_key", "updated_at"]

    @admin.display(boolean=True, description="private key set")
    def key_is_set(self, obj: models.SshCredential) -> bool:
        return obj.is_set


class NodeInline(admin.TabularInline):
    model = models.Node
    extra = 0
    fields = ["name", "address", "ssh_port", "ssh_user", "credential", "drbd_node_id"]


@admin.register(models.Cluster)
class ClusterAdmin(AuditedAdmin):
    list_display = ["name", "drbd_version", "description", "created_at"]
    list_filter = ["drbd_version"]
    search_fields = ["name", "description"]
    inlines = [NodeInline]


@admin.register(models.Membership)
class MembershipAdmin(AuditedAdmin):
    list_display = ["user", "cluster", "role", "source"]
    list_filter = ["role", "source", "cluster"]
    readonly_fields = ["source"]  # set by the portal: local here, ldap at an LDAP login
    search_fields = ["user__username", "cluster__name"]


@admin.register(models.Node)
class NodeAdmin(AuditedAdmin):
    list_display = ["name", "cluster", "address", "ssh_port", "ssh_user", "drbd_node_id"]
    list_filter = ["cluster"]
    search_fields = ["name", "address", "cluster__name"]
    readonly_fields = ["host_key", "pending_host_key"]


class DrbdVolumeInline(admin.TabularInline):
    model = models.DrbdVolume
    extra = 0


@admin.register(models.DrbdResource)
class DrbdResourceAdmin(AuditedAdmin):
    list_display = ["name", "cluster", "port", "protocol", "allow_two_primaries"]
    list_filter = ["cluster", "protocol", "allow_two_primaries"]
    search_fields = ["name", "cluster__name"]
    inlines = [DrbdVolumeInline]
    # Imported from the nodes by adoption and checked by rendering; not hand-edited JSON.
    readonly_fields = ["options"]


@admin.register(models.DrbdVolume)
class DrbdVolumeAdmin(AuditedAdmin):
    list_display = ["resource", "node", "volume", "minor", "backing_disk"]
    list_filter = ["resource__cluster", "node"]
    search_fields = ["resource__name", "node__name", "backing_disk"]


class ScstDeviceForm(forms.ModelForm):
    """The admin passes the services' rules: the fields' own (the renderers' rules), then
    one backing device, one identity."""

    class Meta:
        model = models.ScstDevice
        exclude: list[str] = []

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
        probe = models.ScstDevice(
            pk=self.instance.pk,
            drbd_resource=cleaned.get("drbd_resource"),
            drbd_volume=cleaned.get("drbd_volume") or 0,
        )
        try:
            inventory.device_backing_check(probe)
        except ValidationError as exc:
            self.add_error(None, exc)
        return cleaned


@admin.register(models.ScstDevice)
class ScstDeviceAdmin(AuditedAdmin):
    form = ScstDeviceForm
    list_display = [
        "name",
        "cluster",
        "handler",
        "drbd_resource",
        "t10_dev_id",
        *SAFETY_ATTRIBUTES,
    ]
    list_filter = ["cluster", "handler", *SAFETY_ATTRIBUTES]
    search_fields = ["name", "t10_dev_id", "usn", "prod_id", "cluster__name"]


@admin.register(models.Target)
class TargetAdmin(AuditedAdmin):
    list_display = ["name", "node", "cluster", "rel_tgt_id", "enabled"]
    list_filter = ["cluster", "enabled", "driver"]
    search_fields = ["name", "node__name"]


@admin.register(models.InitiatorGroup)
class InitiatorGroupAdmin(AuditedAdmin):
    list_display = ["name", "target"]
    list_filter = ["target__cluster"]
    search_fields = ["name", "target__name"]


@admin.register(models.Initiator)
class InitiatorAdmin(AuditedAdmin):
    list_display = ["name", "group"]
    list_filter = ["group__target__cluster"]
    search_fields = ["name", "group__name"]


@admin.register(models.LunMapping)
class LunMappingAdmin(AuditedAdmin):
    list_display = ["lun", "device", "target", "group"]
    list_filter = ["target__cluster", "target__node"]
    search_fields = ["device__name", "target__name", "group__name"]


class RecordAdmin(admin.ModelAdmin):
    """What the portal saw and did is evidence: readable here, changed only by the portal."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(audit.AuditEntry)
class AuditEntryAdmin(RecordAdmin):
    """The trail is evidence: superusers may read it here, nobody may add, edit or delete."""

    list_display = ["at", "username", "action", "cluster_name", "object_type", "object_repr"]
    list_filter = ["action", "object_type", "cluster"]
    search_fields = ["username", "object_repr", "reason", "request_id"]
    date_hierarchy = "at"


@admin.register(models.NodeSnapshot)
class NodeSnapshotAdmin(RecordAdmin):
    list_display = ["node", "collected_at", "reachable", "duration_ms", "error"]
    list_filter = ["reachable", "node__cluster"]
    search_fields = ["node__name", "error"]
    exclude = ["raw_compressed"]
    date_hierarchy = "collected_at"


@admin.register(models.Finding)
class FindingAdmin(RecordAdmin):
    list_display = [
        "cluster",
        "severity",
        "code",
        "object_ref",
        "first_seen",
        "last_seen",
        "resolved_at",
    ]
    list_filter = ["severity", "code", "cluster"]
    search_fields = ["code", "object_ref", "title"]


@admin.register(models.Mute)
class MuteAdmin(RecordAdmin):
    list_display = ["cluster", "code", "object_ref", "created_by", "until", "ended_at"]
    list_filter = ["cluster", "code"]
    search_fields = ["code", "object_ref", "reason"]


class JobEventInline(admin.TabularInline):
    model = models.JobEvent
    extra = 0
    can_delete = False
    fields = readonly_fields = ("at", "node", "step", "level", "message")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(models.Job)
class JobAdmin(RecordAdmin):
    list_display = ["pk", "kind", "cluster", "state", "requested_by", "created_at", "summary"]
    list_filter = ["kind", "state", "cluster"]
    search_fields = ["summary"]
    inlines = [JobEventInline]


@admin.register(models.Revision)
class RevisionAdmin(RecordAdmin):
    list_display = ["cluster", "created_at", "description", "job"]
    list_filter = ["cluster"]
    search_fields = ["description"]
