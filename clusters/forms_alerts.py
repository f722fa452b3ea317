"""Forms of the alerts pages: channels and subscriptions."""

from django import forms
from django.core.exceptions import ValidationError

from clusters.models import Channel, Cluster, Delivery, Subscription


class ChannelForm(forms.ModelForm):
    url = forms.URLField(
        required=False,
        max_length=1000,
        assume_scheme="https",
        label="Webhook URL",
        help_text="Slack or Mattermost incoming webhook (or any receiver of JSON "
        '{"text": …}). Kept encrypted; leave empty to keep the current one.',
    )

    class Meta:
        model = Channel
        fields = ["name", "kind", "url", "recipients", "enabled"]
        widgets = {"recipients": forms.TextInput(attrs={"placeholder": "ops@example.com"})}

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
        url = cleaned.get("url")
        if url:
            try:
                self.instance.set_url(url)
            except ValidationError as exc:
                self.add_error("url", exc.message_dict["url"])
        return cleaned


class SubscriptionForm(forms.ModelForm):
    cluster = forms.ModelChoiceField(
        queryset=Cluster.objects.all(), required=False, empty_label="every cluster"
    )

    class Meta:
        model = Subscription
        fields = ["channel", "cluster", "min_severity", "findings", "jobs"]
        labels = {"min_severity": "Minimum severity"}


class DeliveryFilterForm(forms.Form):
    state = forms.ChoiceField(required=False, choices=[("", "any"), *list(Delivery.State.choices)])
