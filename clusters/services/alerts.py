"""Alerts: what happened (a finding opened, got worse or closed; a job failed or was
interrupted) becomes one Delivery per subscribed channel, sent by the worker.

A Delivery's (channel, key) is unique, so an event reaches a channel once however many
subscriptions match it or however often it is reported; the worker retries a failed
send with backoff, and the deliveries page shows each one's state.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from clusters.models import (
    SEVERITY_RANK,
    Channel,
    Cluster,
    Delivery,
    Finding,
    Job,
    Severity,
    Subscription,
)

log = logging.getLogger(__name__)
WEBHOOK_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Event:
    """Something worth telling people, with the key that makes it happen once."""

    key: str
    event: str  # opened, worse, closed, job_failed, job_interrupted
    cluster: Cluster | None
    severity: str
    subject: str
    text: str
    link: str

    @property
    def about_jobs(self) -> bool:
        return self.event.startswith("job_")


def _rank(severity: str) -> int:
    return SEVERITY_RANK.get(Severity(severity), 0) if severity in Severity.values else 0


def _absolute(path: str) -> str:
    return settings.PORTAL_URL.rstrip("/") + path


# --- events --------------------------------------------------------------------------------


def findings_stored(
    cluster: Cluster, kept: list[Finding], before: dict[tuple[str, str], str], gone: list[Finding]
) -> None:
    """findings_store's report: open findings now, their severities before, the resolved.

    Findings under an active mute stay quiet (a mute ends by itself when one worsens).
    """
    from clusters.services.findings import active_mutes

    muted = set(active_mutes(cluster).values_list("code", "object_ref"))
    events = []
    for finding in kept:
        if (finding.code, finding.object_ref) in muted:
            continue
        previous = before.get((finding.code, finding.object_ref))
        if previous is None:
            events.append(_finding_event(finding, "opened"))
        elif _rank(finding.severity) > _rank(previous):
            events.append(_finding_event(finding, "worse", previous))
    events += [_finding_event(f, "closed") for f in gone if (f.code, f.object_ref) not in muted]
    deliveries_create(events)


def _finding_event(finding: Finding, what: str, previous: str = "") -> Event:
    name = finding.cluster.name
    verb = {"opened": "new", "worse": f"worse (was {previous})", "closed": "resolved"}[what]
    subject = f"[{finding.severity}] {name}: {finding.code} on {finding.object_ref} {verb}"
    lines = [f"{finding.title}."]
    if what != "closed":
        lines += [
            f"{d.get('node', '')}: {d.get('text', '')}".strip(": ")
            for d in finding.details
            if isinstance(d, dict)
        ][:10]
    key = f"finding:{finding.pk}:{what}" + (f":{finding.severity}" if what == "worse" else "")
    return Event(
        key=key,
        event=what,
        cluster=finding.cluster,
        severity=finding.severity,
        subject=subject,
        text="\n".join(lines),
        link=_absolute(reverse("compliance") + f"?cluster={name}"),
    )


def job_ended(job: Job) -> None:
    """jobs._notify's report: a failed or interrupted job is an alert; an apply's is
    critical (it may have left nodes half-changed)."""
    if job.state not in (Job.State.FAILED, Job.State.INTERRUPTED):
        return
    severity = Severity.CRITICAL if job.kind == Job.Kind.APPLY else Severity.WARNING
    where = job.cluster.name if job.cluster is not None else "all clusters"
    state = job.get_state_display().lower()
    deliveries_create(
        [
            Event(
                key=f"job:{job.pk}:{job.state}",
                event=f"job_{job.state}",
                cluster=job.cluster,
                severity=severity,
                subject=f"[{severity}] {where}: {job.get_kind_display()} #{job.pk} {state}",
                text=job.summary or state,
                link=_absolute(reverse("job-detail", args=[job.pk])),
            )
        ]
    )


# --- deliveries ----------------------------------------------------------------------------


def subscribed_channels(event: Event, subscriptions: list[Subscription]) -> set[Channel]:
    """Enabled channels with a subscription covering the event's cluster, kind, severity."""
    return {
        s.channel
        for s in subscriptions
        if s.channel.enabled
        and (s.cluster_id is None or (event.cluster and s.cluster_id == event.cluster.pk))
        and (s.jobs if event.about_jobs else s.findings)
        and _rank(event.severity) >= _rank(s.min_severity)
    }


def deliveries_create(events: list[Event]) -> list[Delivery]:
    """A Delivery per event and channel (once: the key is unique per channel), queued for
    the worker when the caller's transaction commits."""
    if not events:
        return []
    subscriptions = list(Subscription.objects.select_related("channel"))
    created = []
    for event in events:
        for channel in sorted(subscribed_channels(event, subscriptions), key=lambda c: c.pk):
            delivery, new = Delivery.objects.get_or_create(
                channel=channel,
                key=event.key,
                defaults={
                    "cluster": event.cluster,
                    "event": event.event,
                    "severity": event.severity,
                    "subject": event.subject[:300],
                    "text": event.text,
                    "link": event.link[:300],
                },
            )
            if new:
                created.append(delivery)
    ids = [d.pk for d in created]
    if ids:
        transaction.on_commit(lambda: queue(ids))
    return created


def queue(delivery_ids: list[int]) -> None:
    """Hand deliveries to the worker; with the broker down they stay pending and the
    beat task alerts_requeue queues them again."""
    from clusters.alert_tasks import deliver

    for delivery_id in delivery_ids:
        try:
            deliver.delay(delivery_id)
        except Exception as exc:  # kombu/redis raise several kinds; all mean "not queued"
            log.warning("alert delivery %s not queued (broker down?): %s", delivery_id, exc)


def requeue_pending(older_than_seconds: int = 300) -> int:
    """Queue again deliveries never attempted (the broker was down when they were made)."""
    since = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(
        Delivery.objects.filter(
            state=Delivery.State.PENDING, attempts=0, created_at__lt=since
        ).values_list("pk", flat=True)
    )
    queue(ids)
    return len(ids)


class SendError(Exception):
    """A channel refused or did not answer; the worker retries."""


def send(delivery: Delivery) -> None:
    """Send one delivery through its channel; SendError says why it did not arrive."""
    channel = delivery.channel
    if channel.kind == Channel.Kind.WEBHOOK:
        _send_webhook(channel.url(), webhook_body(delivery))
    else:
        _send_email(channel.recipient_list(), delivery)


def webhook_body(delivery: Delivery) -> dict:
    """Slack's and Mattermost's incoming-webhook body: a JSON object with `text`."""
    text = f"{delivery.subject}\n{delivery.text}"
    if delivery.link:
        text += f"\n{delivery.link}"
    return {"text": text}


def _send_webhook(url: str, body: dict) -> None:
    request = urllib.request.Request(  # noqa: S310 (the URL is checked to be http/https)
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "scst-drbd-portal"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:  # noqa: S310
            response.read(1024)
    except urllib.error.HTTPError as exc:
        raise SendError(f"the webhook answered HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SendError(f"the webhook could not be reached: {reason}") from exc


def _send_email(recipients: list[str], delivery: Delivery) -> None:
    body = delivery.text + (f"\n\n{delivery.link}" if delivery.link else "")
    try:
        connection = mail.get_connection(settings.ALERT_EMAIL_BACKEND)
        mail.EmailMessage(
            delivery.subject, body, settings.DEFAULT_FROM_EMAIL, recipients, connection=connection
        ).send()
    except (OSError, mail.BadHeaderError) as exc:  # smtplib errors are OSErrors
        raise SendError(f"the mail server refused or did not answer: {exc}") from exc


def delivery_attempt(delivery: Delivery) -> bool:
    """One try: True when sent (or sent already); False when it failed (recorded)."""
    if delivery.state == Delivery.State.SENT:
        return True
    delivery.attempts += 1
    try:
        send(delivery)
    except SendError as exc:
        delivery.state, delivery.last_error = Delivery.State.RETRYING, str(exc)
        delivery.save(update_fields=["state", "last_error", "attempts"])
        return False
    delivery.state, delivery.sent_at, delivery.last_error = Delivery.State.SENT, timezone.now(), ""
    delivery.save(update_fields=["state", "sent_at", "last_error", "attempts"])
    return True


def delivery_give_up(delivery: Delivery) -> None:
    delivery.state = Delivery.State.FAILED
    delivery.save(update_fields=["state"])
    log.warning("alert %s to %s failed: %s", delivery.key, delivery.channel, delivery.last_error)


def channel_test(channel: Channel) -> list[Delivery]:
    """A test message to one channel (each test is its own event)."""
    delivery = Delivery.objects.create(
        channel=channel,
        key=f"test:{timezone.now().isoformat()}",
        event="test",
        severity=Severity.INFO,
        subject=f"[INFO] Test message from the SCST + DRBD portal to {channel.name}",
        text="If you read this, alerts reach this channel.",
        link=_absolute(reverse("alerts")),
    )
    transaction.on_commit(lambda: queue([delivery.pk]))
    return [delivery]
