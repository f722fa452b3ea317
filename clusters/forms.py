"""Forms: parse and validate what users type; the services do the rest."""

from datetime import timedelta

from django import forms
from django.utils import timezone

from clusters.models import Severity

ANY = [("", "any")]


class ComplianceFilterForm(forms.Form):
    """GET filters of the compliance page; an empty field means no filter."""

    severity = forms.ChoiceField(required=False, choices=ANY + list(Severity.choices))
    code = forms.ChoiceField(required=False)
    cluster = forms.ChoiceField(required=False)

    def __init__(self, data, codes: list[str], cluster_names: list[str]) -> None:
        super().__init__(data)
        self.fields["code"].choices = ANY + [(c, c) for c in codes]
        self.fields["cluster"].choices = ANY + [(n, n) for n in cluster_names]

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
        super().__init__(*args, initial={"fingerprint": offered_fingerprint}, **kwargs)
        self.offered_fingerprint = offered_fingerprint

    def clean_fingerprint(self) -> str:
        shown = self.cleaned_data["fingerprint"]
        if shown != self.offered_fingerprint:
            raise forms.ValidationError(
                "The node now offers a different host key than the one you were shown. "
                "Check the new fingerprint below before approving."
            )
        return shown
