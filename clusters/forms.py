"""Forms: parse and validate what users type; the services do the rest."""

from datetime import timedelta
from typing import cast

from django import forms
from django.utils import timezone

from clusters import validators
from clusters.models import Cluster, Node, ScstDevice, Severity
from clusters.services import allocation

ANY = [("", "any")]


class ComplianceFilterForm(forms.Form):
    """GET filters of the compliance page; an empty field means no filter."""

    severity = forms.ChoiceField(required=False, choices=ANY + list(Severity.choices))
    code = forms.ChoiceField(required=False)
    cluster = forms.ChoiceField(required=False)

    def __init__(self, data, codes: list[str], cluster_names: list[str]) -> None:
        super().__init__(data)
        cast(forms.ChoiceField, self.fields["code"]).choices = ANY + [(c, c) for c in codes]
        cast(forms.ChoiceField, self.fields["cluster"]).choices = ANY + [
            (n, n) for n in cluster_names
        ]

    def filters(self) -> dict[str, str]:
        """The valid filters; an invalid value (a stale link) filters nothing."""
        self.is_valid()
        cleaned = getattr(self, "cleaned_data", {})
        return {
            "severity": cleaned.get("severity", ""),
            "code": cleaned.get("code", ""),
            "cluster_name": cleaned.get("cluster", ""),
        }


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M")


def default_mute_end():
    return (timezone.now() + timedelta(days=7)).replace(second=0, microsecond=0)


class MuteForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        strip=True,
        error_messages={"required": "Give a reason: the next person needs to know why."},
    )
    until = forms.DateTimeField(
        label="Muted until (UTC)",
        widget=DateTimeLocalInput(),
        initial=default_mute_end,
        error_messages={"required": "Give the date and time the mute ends."},
    )

    def until_text(self) -> str:
        """The `until` value as the datetime-local input shows it."""
        field = self["until"]
        return field.field.widget.format_value(field.value()) or ""


class HostKeyApproveForm(forms.Form):
    """Approving pins the key whose fingerprint the admin was shown, nothing else."""

    fingerprint = forms.CharField(widget=forms.HiddenInput)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="How you verified the fingerprint (console, provisioning record, …).",
        error_messages={"required": "Say how you verified the fingerprint."},
    )

    def __init__(self, *args, offered_fingerprint: str, **kwargs) -> None:
        kwargs["initial"] = {"fingerprint": offered_fingerprint}
        super().__init__(*args, **kwargs)
        self.offered_fingerprint = offered_fingerprint

    def clean_fingerprint(self) -> str:
        shown = self.cleaned_data["fingerprint"]
        if shown != self.offered_fingerprint:
            raise forms.ValidationError(
                "The node now offers a different host key than the one you were shown. "
                "Check the new fingerprint below before approving."
            )
        return shown


# --- Add-LUN wizard, plan apply, LUN removal ---------------------------------------------

YES_NO = [("no", "No"), ("yes", "Yes")]
NEW_RESOURCE = "+new"  # never a resource name: those start with a letter or digit
MIB = 1024**2


class ResourceStepForm(forms.Form):
    """Step (b): a DRBD resource of the cluster that no device exports yet, or a new one
    (name, port, and per node its backing disk and minor)."""

    resource = forms.ChoiceField(
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose the DRBD resource the new LUN exports.",
            "invalid_choice": "%(value)s is not a DRBD resource of this cluster that is free "
            "to export; choose one from the list.",
        },
    )
    new_name = forms.CharField(
        label="Name",
        required=False,
        max_length=63,
        validators=[validators.validate_drbd_resource_name],
    )
    new_port = forms.IntegerField(
        label="Replication port", required=False, min_value=1, max_value=65535
    )
    new_empty = forms.BooleanField(
        label="The backing disks are new and empty: their contents will be discarded",
        required=False,
    )

    def __init__(self, *args, free: list[str], cluster: Cluster | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cluster = cluster
        choices = [(name, name) for name in free]
        self.nodes: list[Node] = list(cluster.nodes.order_by("name")) if cluster else []
        if self.nodes:
            choices.append((NEW_RESOURCE, "Define a new DRBD resource"))
        cast(forms.ChoiceField, self.fields["resource"]).choices = choices
        for node in self.nodes:
            # The table's column headers label these visually; aria-label names each input.
            disk_label, minor_label = f"Backing disk on {node.name}", f"Minor on {node.name}"
            self.fields[f"disk_{node.name}"] = forms.CharField(
                label=disk_label,
                required=False,
                max_length=200,
                validators=[validators.validate_device_path],
                widget=forms.TextInput(attrs={"aria-label": disk_label}),
            )
            self.fields[f"minor_{node.name}"] = forms.IntegerField(
                label=minor_label,
                required=False,
                min_value=0,
                max_value=1048575,
                widget=forms.NumberInput(attrs={"aria-label": minor_label}),
            )

    def node_fields(self) -> list[tuple[Node, forms.BoundField, forms.BoundField]]:
        return [(n, self[f"disk_{n.name}"], self[f"minor_{n.name}"]) for n in self.nodes]

    def clean(self) -> dict:
        super().clean()
        cleaned = self.cleaned_data
        if cleaned.get("resource") != NEW_RESOURCE or self.cluster is None:
            return cleaned  # a new resource is offered only on a cluster with nodes
        refusal = allocation.new_resource_refusal(self.cluster)
        if refusal:
            raise forms.ValidationError(refusal)
        name, port = cleaned.get("new_name"), cleaned.get("new_port")
        if not name and "new_name" not in self.errors:
            self.add_error("new_name", "Name the new DRBD resource, e.g. r9.")
        if port is None and "new_port" not in self.errors:
            self.add_error("new_port", "Give the replication port (1–65535).")
        volumes, on_nodes = [], []
        for node in self.nodes:
            disk, minor = cleaned.get(f"disk_{node.name}"), cleaned.get(f"minor_{node.name}")
            volumes.append([node.name, minor, disk])
            on_nodes.append((node, disk, minor))
            if not disk and f"disk_{node.name}" not in self.errors:
                self.add_error(
                    f"disk_{node.name}", f"Give the backing disk on {node.name}, e.g. /dev/sdb."
                )
            if minor is None and f"minor_{node.name}" not in self.errors:
                self.add_error(f"minor_{node.name}", f"Give the DRBD minor on {node.name}.")
        clashes = allocation.new_resource_clashes(self.cluster, name, port, on_nodes)
        for field, message in clashes.items():
            self.add_error(field, message)
        if not cleaned.get("new_empty"):
            self.add_error(
                "new_empty",
                "Confirm that the backing disks are new and empty: creating the resource "
                "writes DRBD meta data to them and discards their contents.",
            )
        if not self.errors:
            cleaned["resource"] = name
            cleaned["new_resource"] = {"name": name, "port": port, "volumes": volumes}
        return cleaned


class DeviceStepForm(forms.Form):
    """Step (c): the SCST device; nv_cache and write_through are fixed, not asked."""

    device_name = forms.CharField(
        label="Device name",
        max_length=50,
        validators=[validators.no_blanks_or_shell_characters, validators.validate_scst_name],
        error_messages={"required": "Give the device a name, e.g. vmfs1."},
    )
    handler = forms.ChoiceField(
        choices=ScstDevice.Handler.choices,
        initial=ScstDevice.Handler.BLOCKIO,
        widget=forms.RadioSelect,
    )
    uses_reservations = forms.ChoiceField(
        label="Will initiators use SCSI reservations — e.g. VMware, Windows failover clustering?",
        choices=YES_NO,
        widget=forms.RadioSelect,
        error_messages={"required": "Answer whether initiators use SCSI reservations."},
    )
    blocksize = forms.TypedChoiceField(
        label="Block size (bytes)",
        coerce=int,
        choices=[(size, str(size)) for size in validators.BLOCK_SIZES],
        initial=512,
    )

    def __init__(self, *args, cluster: Cluster, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cluster = cluster

    def clean_device_name(self) -> str:
        name = self.cleaned_data["device_name"]
        clash = allocation.device_name_clash(self.cluster, name)
        if clash:
            raise forms.ValidationError(clash)
        return name


class LunStepForm(forms.Form):
    """Step (d): the LUN sets (target default sets or initiator groups) and the number."""

    lun_sets = forms.MultipleChoiceField(
        label="LUN sets",
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one LUN set on every node."},
    )
    lun = forms.IntegerField(
        label="LUN number",
        min_value=0,
        max_value=validators.MAX_LUN,
        error_messages={"required": "Give the LUN number."},
    )

    def __init__(self, *args, lun_sets: list, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sets = {s.code: s for s in lun_sets}
        cast(forms.ChoiceField, self.fields["lun_sets"]).choices = [
            (s.code, s.label) for s in lun_sets
        ]

    def clean(self) -> dict:
        super().clean()
        cleaned = self.cleaned_data
        chosen = [self.sets[code] for code in cleaned.get("lun_sets", [])]
        if not chosen:
            return cleaned
        problems = allocation.lun_choice_problems(
            list(self.sets.values()), chosen, cleaned.get("lun")
        )
        for field, message in problems.items():
            self.add_error(field, message)
        return cleaned


class MultipathStepForm(forms.Form):
    """Step (e): VMware's path policy, which the portal cannot set for the operator."""

    multipath_ack = forms.BooleanField(
        label="I will set the path policy of this LUN to MRU or Fixed on every VMware host, "
        "never Round Robin.",
        error_messages={"required": "Acknowledge the multipath note to go on."},
    )


class ApplyForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        strip=True,
        help_text="Goes to the audit trail and the job record.",
        error_messages={"required": "Say why you apply this change."},
    )
    confirm = forms.BooleanField(
        label="I have reviewed the diff for every node",
        error_messages={"required": "Confirm that you have reviewed the diff for every node."},
    )


class LunRemoveForm(forms.Form):
    mapping_ids = forms.TypedMultipleChoiceField(
        label="Mappings to remove",
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one mapping to remove."},
    )

    def __init__(self, *args, mappings, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["mapping_ids"]).choices = [
            (m.pk, str(m)) for m in mappings
        ]
        self.fields["mapping_ids"].initial = [m.pk for m in mappings]


class WorkflowApplyForm(forms.Form):
    """Run an approved day-2 workflow: a reason and a confirmation of its steps."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        strip=True,
        help_text="Goes to the audit trail and the job record.",
        error_messages={"required": "Say why you run this workflow."},
    )
    confirm = forms.BooleanField(
        label="I have reviewed every step and what each node's initiators see meanwhile",
        error_messages={"required": "Confirm that you have reviewed the steps."},
    )
    typed_name = forms.CharField(
        label="Type the resource name to confirm",
        required=False,
        strip=True,
        help_text="Split-brain recovery only: the victim's writes since the split are discarded.",
    )


class SplitBrainForm(forms.Form):
    """Choose the split-brain victim: the node whose writes since the split are discarded."""

    victim = forms.ChoiceField(
        label="Victim (its writes since the split are discarded)",
        widget=forms.RadioSelect,
        error_messages={"required": "Choose the node whose writes are discarded."},
    )

    def __init__(self, *args, nodes: list[str], recommended: str | None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["victim"]).choices = [
            (n, f"{n} (recommended: fewer writes since the split)" if n == recommended else n)
            for n in nodes
        ]
        if recommended:
            self.fields["victim"].initial = recommended


class LunEditForm(forms.Form):
    """Edit an exported device; the groups that export it get one initiator list each."""

    t10_dev_id = forms.CharField(label="t10_dev_id", max_length=24)
    usn = forms.CharField(label="usn", max_length=20)
    prod_id = forms.CharField(label="prod_id", max_length=16)
    cluster_mode = forms.TypedChoiceField(
        label="cluster_mode", choices=[("0", "0"), ("1", "1")], coerce=int
    )
    rotational = forms.TypedChoiceField(
        label="rotational", choices=[("0", "0"), ("1", "1")], coerce=int
    )
    lun = forms.IntegerField(label="LUN number", min_value=0, required=False)

    def __init__(self, *args, groups: list, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.groups = groups
        for group in groups:
            self.fields[f"initiators_{group.pk}"] = forms.CharField(
                label=f"Initiators of {group.target.node.name} {group.name}",
                widget=forms.Textarea(attrs={"rows": 3}),
                required=False,
                help_text="One initiator name per line.",
            )

    def initiators(self) -> dict[int, list[str]]:
        return {
            g.pk: sorted({n.strip() for n in self.cleaned_data[f"initiators_{g.pk}"].split()})
            for g in self.groups
        }
