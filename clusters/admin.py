"""Django admin for the whole inventory (superusers)."""

from django import forms
from django.contrib import admin

from clusters import models


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
        cleaned = super().clean()
        pem = cleaned.get("private_key")
        if not pem and not self.instance.is_set:
            self.add_error("private_key", "A private key is required for a new credential.")
        elif pem:
            self.instance.set_private_key(pem)
        return cleaned


@admin.register(models.SshCredential)
class SshCredentialAdmin(admin.ModelAdmin):
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
class ClusterAdmin(admin.ModelAdmin):
    list_display = ["name", "drbd_version", "description", "created_at"]
    list_filter = ["drbd_version"]
    search_fields = ["name", "description"]
    inlines = [NodeInline]


@admin.register(models.Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "cluster", "role"]
    list_filter = ["role", "cluster"]
    search_fields = ["user__username", "cluster__name"]


@admin.register(models.Node)
class NodeAdmin(admin.ModelAdmin):
    list_display = ["name", "cluster", "address", "ssh_port", "ssh_user", "drbd_node_id"]
    list_filter = ["cluster"]
    search_fields = ["name", "address", "cluster__name"]
    readonly_fields = ["host_key", "pending_host_key"]


class DrbdVolumeInline(admin.TabularInline):
    model = models.DrbdVolume
    extra = 0


@admin.register(models.DrbdResource)
class DrbdResourceAdmin(admin.ModelAdmin):
    list_display = ["name", "cluster", "port", "protocol", "allow_two_primaries"]
    list_filter = ["cluster", "protocol", "allow_two_primaries"]
    search_fields = ["name", "cluster__name"]
    inlines = [DrbdVolumeInline]


@admin.register(models.DrbdVolume)
class DrbdVolumeAdmin(admin.ModelAdmin):
    list_display = ["resource", "node", "volume", "minor", "backing_disk"]
    list_filter = ["resource__cluster", "node"]
    search_fields = ["resource__name", "node__name", "backing_disk"]


@admin.register(models.ScstDevice)
class ScstDeviceAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "cluster",
        "handler",
        "drbd_resource",
        "t10_dev_id",
        "nv_cache",
        "write_through",
        "cluster_mode",
    ]
    list_filter = ["cluster", "handler", "nv_cache", "write_through", "cluster_mode"]
    search_fields = ["name", "t10_dev_id", "usn", "prod_id", "cluster__name"]


@admin.register(models.Target)
class TargetAdmin(admin.ModelAdmin):
    list_display = ["name", "node", "cluster", "rel_tgt_id", "enabled"]
    list_filter = ["cluster", "enabled", "driver"]
    search_fields = ["name", "node__name"]


@admin.register(models.InitiatorGroup)
class InitiatorGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "target"]
    list_filter = ["target__cluster"]
    search_fields = ["name", "target__name"]


@admin.register(models.Initiator)
class InitiatorAdmin(admin.ModelAdmin):
    list_display = ["name", "group"]
    list_filter = ["group__target__cluster"]
    search_fields = ["name", "group__name"]


@admin.register(models.LunMapping)
class LunMappingAdmin(admin.ModelAdmin):
    list_display = ["lun", "device", "target", "group"]
    list_filter = ["target__cluster", "target__node"]
    search_fields = ["device__name", "target__name", "group__name"]
