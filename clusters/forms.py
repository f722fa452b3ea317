"""Forms: parse and validate what users type; the services do the rest."""

from datetime import timedelta
from typing import cast

from django import forms
from django.utils import timezone

from clusters import validators
from clusters.models import Cluster, DrbdResource, DrbdVolume, Node, ScstDevice, Severity

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
SHELL_OR_BLANK = set(" \t\n;&|$`'\"\\<>(){}[]*?!#~")


def no_blanks_or_shell_characters(value: str) -> None:
    """Name the offending characters; the model's pattern then says what is allowed."""
    bad = sorted({c for c in value if c in SHELL_OR_BLANK})
    if bad:
        shown = ", ".join("blank" if c.isspace() else repr(c) for c in bad)
        raise forms.ValidationError(
            f"A device name goes into scst.conf and node commands: no blanks or shell "
            f"characters ({shown})."
        )


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
        if self.cluster.drbd_version == "8.4":
            raise forms.ValidationError("New DRBD resources are created on DRBD 9 clusters only.")
        resources = DrbdResource.objects.filter(cluster=self.cluster)
        name, port = cleaned.get("new_name"), cleaned.get("new_port")
        if not name and "new_name" not in self.errors:
            self.add_error("new_name", "Name the new DRBD resource, e.g. r9.")
        elif name and resources.filter(name=name).exists():
            self.add_error("new_name", f"{self.cluster.name} already has a DRBD resource {name}.")
        if port is None and "new_port" not in self.errors:
            self.add_error("new_port", "Give the replication port (1–65535).")
        elif port is not None and resources.filter(port=port).exists():
            holder = resources.get(port=port).name
            self.add_error(
                "new_port",
                f"Port {port} is used by DRBD {holder}; the next free one is "
                f"{next_free_port(self.cluster)}.",
            )
        volumes = []
        for node in self.nodes:
            disk, minor = cleaned.get(f"disk_{node.name}"), cleaned.get(f"minor_{node.name}")
            volumes.append([node.name, minor, disk])
            on_node = DrbdVolume.objects.filter(node=node).select_related("resource")
            if not disk and f"disk_{node.name}" not in self.errors:
                self.add_error(
                    f"disk_{node.name}", f"Give the backing disk on {node.name}, e.g. /dev/sdb."
                )
            elif disk and (used := on_node.filter(backing_disk=disk).first()):
                self.add_error(
                    f"disk_{node.name}",
                    f"{disk} is the backing disk of DRBD {used.resource.name} on {node.name}.",
                )
            if minor is None and f"minor_{node.name}" not in self.errors:
                self.add_error(f"minor_{node.name}", f"Give the DRBD minor on {node.name}.")
            elif minor is not None and (used := on_node.filter(minor=minor).first()):
                self.add_error(
                    f"minor_{node.name}",
                    f"Minor {minor} is used by DRBD {used.resource.name} on {node.name}; the "
                    f"lowest free one is {lowest_free_minor(node)}.",
                )
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


def next_free_port(cluster: Cluster) -> int:
    """The port after the highest one the cluster's resources use (7789, DRBD's usual)."""
    ports = set(DrbdResource.objects.filter(cluster=cluster).values_list("port", flat=True))
    port = max(ports, default=7788) + 1
    while port in ports or port > 65535:
        port = port + 1 if port <= 65535 else 1
    return port


def lowest_free_minor(node: Node) -> int:
    used = set(DrbdVolume.objects.filter(node=node).values_list("minor", flat=True))
    return next(m for m in range(len(used) + 1) if m not in used)


class DeviceStepForm(forms.Form):
    """Step (c): the SCST device; nv_cache and write_through are fixed, not asked."""

    device_name = forms.CharField(
        label="Device name",
        max_length=50,
        validators=[no_blanks_or_shell_characters, validators.validate_scst_name],
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
        if ScstDevice.objects.filter(cluster=self.cluster, name=name).exists():
            raise forms.ValidationError(f"{self.cluster.name} already has a device {name}.")
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
        missing = sorted({s.node for s in self.sets.values()} - {s.node for s in chosen})
        if missing:
            self.add_error(
                "lun_sets",
                f"Choose a LUN set on {', '.join(missing)} too: a LUN exported by one node "
                "only loses its path when that node fails (SCST_LUN_ONE_NODE).",
            )
        lun = cleaned.get("lun")
        clashes = [f"{s.used[lun]} in {s.label}" for s in chosen if lun in s.used]
        if lun is not None and clashes:
            self.add_error(
                "lun",
                f"LUN {lun} is already used by {'; '.join(clashes)}. The lowest number free "
                f"in every chosen LUN set is {lowest_free_lun(chosen)}.",
            )
        return cleaned


def lowest_free_lun(chosen) -> int:
    """The lowest LUN number unused in every one of the chosen LUN sets."""
    used = set().union(*(s.used for s in chosen))
    return next(n for n in range(validators.MAX_LUN + 2) if n not in used)


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
