"""Forms of the add-cluster (adoption) flow."""

from typing import cast

from django import forms

from clusters import validators
from clusters.models import Cluster


class NodeFields(forms.Form):
    name = forms.CharField(
        max_length=253,
        validators=[validators.validate_hostname],
        help_text="The node's host name as `uname -n` prints it (DRBD's `on` name).",
    )
    address = forms.CharField(
        label="SSH address",
        max_length=253,
        validators=[validators.validate_address],
        help_text="Host name or IP address the portal connects to.",
    )
    ssh_port = forms.IntegerField(label="SSH port", min_value=1, max_value=65535, initial=22)
    ssh_user = forms.CharField(
        label="SSH user", max_length=32, initial="root", validators=[validators.validate_unix_user]
    )
    drbd_address = forms.GenericIPAddressField(
        label="DRBD replication address",
        required=False,
        help_text="The `address` in the node's .res file; empty: the SSH address.",
    )


class ClusterAddForm(forms.Form):
    """A cluster of two nodes reached with one SSH key."""

    name = forms.CharField(max_length=50, validators=[validators.validate_scst_name])
    drbd_version = forms.ChoiceField(choices=Cluster.DrbdVersion.choices, initial="9")
    private_key = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5, "autocomplete": "off"}),
        strip=False,
        help_text="Unencrypted OpenSSH or PEM private key whose public half is in the SSH "
        "user's authorized_keys on both nodes. Stored encrypted; never shown again.",
    )

    def __init__(self, data=None) -> None:
        super().__init__(data)
        self.node_forms = [NodeFields(data, prefix=f"node{i}") for i in (1, 2)]

    def is_valid(self) -> bool:
        valid = super().is_valid()
        return all([valid] + [f.is_valid() for f in self.node_forms])

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if Cluster.objects.filter(name=name).exists():
            raise forms.ValidationError(f"A cluster named {name} exists already.")
        return name


class ModeSwitchForm(forms.Form):
    """Managed needs a decision for every difference between inventory and nodes."""

    accepted = forms.TypedMultipleChoiceField(
        coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, data=None, drift=()) -> None:
        super().__init__(data)
        cast(forms.ChoiceField, self.fields["accepted"]).choices = [
            (f.pk, _difference(f)) for f in drift
        ]


def _difference(finding) -> str:
    """The finding's object and each node's difference, e.g. `device:r0@a: nv_cache is 1,
    inventory says 0`: the admin accepts a difference seen, not a title."""
    lines = [
        f"{d.get('node') or ''}: {d.get('text', '')}".strip(": ")
        for d in finding.details or []
        if isinstance(d, dict)
    ]
    return f"{finding.object_ref}: " + ("; ".join(lines) or finding.title)
