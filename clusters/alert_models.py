"""Alerts as data: where to send (Channel), what to send there (Subscription), and the
record of every message (Delivery), which is also what deduplicates them."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.db.models import Q

from clusters import secrets


class Channel(models.Model):
    """A webhook (Slack/Mattermost-compatible JSON) or a list of e-mail recipients."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "Webhook (Slack/Mattermost-compatible JSON)"
        EMAIL = "email", "E-mail"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # A Slack or Mattermost webhook URL is itself the credential: kept encrypted, shown
    # only as scheme://host/… once saved.
    url_encrypted = models.TextField(blank=True, editable=False)
    url_shown = models.CharField(max_length=300, blank=True, editable=False)
    recipients = models.TextField(blank=True, help_text="E-mail addresses, comma-separated.")
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "clusters"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["webhook", "email"]), name="channel_kind_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def set_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError({"url": "A webhook URL starts with http:// or https://."})
        self.url_encrypted = secrets.encrypt(url)
        port = f":{parts.port}" if parts.port else ""
        self.url_shown = f"{parts.scheme}://{parts.hostname}{port}/…"

    def url(self) -> str:
        return secrets.decrypt(self.url_encrypted) if self.url_encrypted else ""

    def recipient_list(self) -> list[str]:
        return [r.strip() for r in self.recipients.split(",") if r.strip()]

    def clean(self) -> None:
        if self.kind == self.Kind.EMAIL:
            if not self.recipient_list():
                raise ValidationError({"recipients": "Give at least one e-mail address."})
            for address in self.recipient_list():
                validate_email(address)
        if self.kind == self.Kind.WEBHOOK and not self.url_encrypted:
            raise ValidationError({"url": "A webhook channel needs its URL."})

    @property
    def target(self) -> str:
        return self.url_shown if self.kind == self.Kind.WEBHOOK else self.recipients


class Subscription(models.Model):
    """Send a cluster's (or every cluster's) alerts of at least a severity to a channel."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="subscriptions")
    cluster = models.ForeignKey(
        "clusters.Cluster",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="alert_subscriptions",
        help_text="Empty: every cluster.",
    )
    min_severity = models.CharField(
        max_length=8,
        choices=[("CRITICAL", "Critical"), ("WARNING", "Warning"), ("INFO", "Info")],
        default="CRITICAL",
    )
    findings = models.BooleanField(default=True, help_text="Findings opened, worse or closed.")
    jobs = models.BooleanField(default=True, help_text="Jobs that failed or were interrupted.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "clusters"
        ordering = ["channel__name", "cluster__name", "pk"]

    def __str__(self) -> str:
        where = self.cluster.name if self.cluster is not None else "all clusters"
        return f"{self.channel.name}: {where}, {self.min_severity} and worse"


class Delivery(models.Model):
    """One alert for one channel. (channel, key) is unique: an event is sent once."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RETRYING = "retrying", "Retrying"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    cluster = models.ForeignKey("clusters.Cluster", on_delete=models.CASCADE, null=True, blank=True)
    key = models.CharField(max_length=200, help_text="What happened, e.g. finding:12:opened.")
    event = models.CharField(max_length=20)
    severity = models.CharField(max_length=8)
    subject = models.CharField(max_length=300)
    text = models.TextField()
    link = models.CharField(max_length=300, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "clusters"
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "key"], name="delivery_once_per_channel")
        ]

    def __str__(self) -> str:
        return f"{self.key} → {self.channel.name} ({self.state})"
