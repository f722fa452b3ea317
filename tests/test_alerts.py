"""Alerts: a finding that opens, worsens or closes, and a job that fails, reach the
subscribed channels once, through a real HTTP receiver and a real SMTP server."""

import pytest
from django.test import Client
from django.urls import reverse

from clusters.compliance.catalogue import Detail, FindingData
from clusters.models import Channel, Delivery, Job, Role, Subscription
from clusters.services import jobs
from clusters.services.findings import findings_store
from tests import records
from tests.alert_support import MailReceiver, WebhookReceiver
from tests.factories import make_cluster, make_user

NV_CACHE = FindingData(
    "SCST_NV_CACHE_ON",
    "CRITICAL",
    "device:lun0",
    "nv_cache is not 0",
    [Detail("nv_cache is 1", "nv_cache = '1'", "store-a-n0")],
)


def fenced(severity="WARNING"):
    return FindingData("DRBD_FENCING", severity, "drbd:r0", "fencing is not resource-and-stonith")


@pytest.fixture
def webhook():
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp(settings):
    with MailReceiver() as receiver:
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", receiver.port
        yield receiver


def webhook_channel(url, name="ops-chat"):
    channel = Channel(name=name, kind=Channel.Kind.WEBHOOK)
    channel.set_url(url)
    channel.save()
    return channel


def subscribe(channel, cluster=None, min_severity="WARNING", **flags):
    return Subscription.objects.create(
        channel=channel, cluster=cluster, min_severity=min_severity, **flags
    )


def store(cluster, found, capture):
    with capture(execute=True):
        findings_store(cluster, found)


def test_new_critical_finding_posts_slack_compatible_json(
    cluster, webhook, django_capture_on_commit_callbacks
):
    subscribe(webhook_channel(webhook.url), cluster)
    store(cluster, [NV_CACHE], django_capture_on_commit_callbacks)

    assert len(webhook.bodies) == 1
    body = webhook.bodies[0]
    assert set(body) == {"text"}  # what Slack and Mattermost incoming webhooks take
    assert "[CRITICAL] store-a: SCST_NV_CACHE_ON on device:lun0 new" in body["text"]
    assert "store-a-n0: nv_cache is 1" in body["text"]
    assert webhook.headers[0]["Content-Type"] == "application/json"
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.event) == ("sent", 1, "opened")


def test_finding_sent_once_however_often_seen_or_subscribed(
    cluster, webhook, django_capture_on_commit_callbacks
):
    channel = webhook_channel(webhook.url)
    subscribe(channel, cluster)
    subscribe(channel, None, min_severity="CRITICAL")  # also matches: still one message
    for _ in range(3):
        store(cluster, [NV_CACHE], django_capture_on_commit_callbacks)
    assert len(webhook.bodies) == 1
    assert Delivery.objects.count() == 1


def test_worse_and_resolved_are_alerts_too(cluster, webhook, django_capture_on_commit_callbacks):
    subscribe(webhook_channel(webhook.url), cluster)
    store(cluster, [fenced("WARNING")], django_capture_on_commit_callbacks)
    store(cluster, [fenced("CRITICAL")], django_capture_on_commit_callbacks)
    store(cluster, [], django_capture_on_commit_callbacks)
    texts = [b["text"].splitlines()[0] for b in webhook.bodies]
    assert texts == [
        "[WARNING] store-a: DRBD_FENCING on drbd:r0 new",
        "[CRITICAL] store-a: DRBD_FENCING on drbd:r0 worse (was WARNING)",
        "[CRITICAL] store-a: DRBD_FENCING on drbd:r0 resolved",
    ]


def test_subscription_filters_cluster_and_severity(
    cluster, other_cluster, webhook, django_capture_on_commit_callbacks
):
    channel = webhook_channel(webhook.url)
    subscribe(channel, cluster, min_severity="CRITICAL")
    store(cluster, [fenced("WARNING")], django_capture_on_commit_callbacks)  # below minimum
    store(other_cluster, [NV_CACHE], django_capture_on_commit_callbacks)  # other cluster
    assert webhook.bodies == []
    store(cluster, [fenced("WARNING"), NV_CACHE], django_capture_on_commit_callbacks)
    assert len(webhook.bodies) == 1


def test_muted_finding_stays_quiet(cluster, webhook, django_capture_on_commit_callbacks):
    subscribe(webhook_channel(webhook.url), cluster)
    found = records.finding(cluster, "WARNING", code="DRBD_FENCING", object_ref="drbd:r0")
    records.mute(found, make_user("op", Role.OPERATOR, cluster))
    found.delete()
    store(cluster, [fenced("WARNING")], django_capture_on_commit_callbacks)
    assert webhook.bodies == []


def test_email_through_the_smtp_backend(cluster, smtp, django_capture_on_commit_callbacks):
    channel = Channel.objects.create(
        name="storage-team", kind=Channel.Kind.EMAIL, recipients="ops@example.com, dba@example.com"
    )
    subscribe(channel, cluster)
    store(cluster, [NV_CACHE], django_capture_on_commit_callbacks)

    assert len(smtp.messages) == 1
    recipients, message = smtp.messages[0]
    assert recipients == ["ops@example.com", "dba@example.com"]
    assert message["Subject"] == "[CRITICAL] store-a: SCST_NV_CACHE_ON on device:lun0 new"
    assert "store-a-n0: nv_cache is 1" in message.get_content()
    assert Delivery.objects.get().state == "sent"


def test_a_failing_receiver_is_retried_then_succeeds(cluster, django_capture_on_commit_callbacks):
    with WebhookReceiver(failures=2) as flaky:
        subscribe(webhook_channel(flaky.url), cluster)
        store(cluster, [NV_CACHE], django_capture_on_commit_callbacks)
        assert len(flaky.bodies) == 1
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("sent", 3, "")


def test_delivery_gives_up_and_shows_why(
    cluster, settings, personas, django_capture_on_commit_callbacks
):
    settings.ALERT_MAX_RETRIES = 2
    with WebhookReceiver(failures=10) as down:
        subscribe(webhook_channel(down.url), cluster)
        store(cluster, [NV_CACHE], django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("failed", 3)
    assert "HTTP 500" in delivery.last_error

    client = Client()
    client.force_login(personas["superuser"])
    page = client.get(reverse("alert-deliveries") + "?state=failed").content.decode()
    assert "Failed" in page and "the webhook answered HTTP 500" in page


def test_unreachable_webhook_is_a_recorded_failure(
    cluster, settings, django_capture_on_commit_callbacks
):
    settings.ALERT_MAX_RETRIES = 0
    with WebhookReceiver() as gone:
        url = gone.url
    subscribe(webhook_channel(url), cluster)
    store(cluster, [NV_CACHE], django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get()
    assert delivery.state == "failed"
    assert "could not be reached" in delivery.last_error


@pytest.mark.parametrize("state", [Job.State.FAILED, Job.State.INTERRUPTED])
def test_failed_or_interrupted_job_alerts(
    cluster, webhook, state, django_capture_on_commit_callbacks
):
    subscribe(webhook_channel(webhook.url), cluster)
    job = records.job(cluster, state=Job.State.RUNNING)
    with django_capture_on_commit_callbacks(execute=True):
        if state == Job.State.FAILED:
            jobs.job_finish(job, Job.State.FAILED, "Failed: every node unreachable")
        else:
            jobs.interrupt(job.pk, "its worker process is gone")
    assert len(webhook.bodies) == 1
    first = webhook.bodies[0]["text"].splitlines()[0]
    assert first.startswith(f"[WARNING] store-a: Collect live state #{job.pk} ")
    assert f"/jobs/{job.pk}/" in webhook.bodies[0]["text"]


def test_succeeded_job_and_job_less_subscription_stay_quiet(
    cluster, webhook, django_capture_on_commit_callbacks
):
    subscribe(webhook_channel(webhook.url), cluster, jobs=False)
    with django_capture_on_commit_callbacks(execute=True):
        jobs.job_finish(records.job(cluster), Job.State.FAILED, "Failed")
        jobs.job_finish(records.job(cluster), Job.State.SUCCEEDED, "2 of 2 nodes collected")
    assert webhook.bodies == []


def test_alert_hook_never_fails_a_job(cluster, monkeypatch):
    from clusters.services import alerts

    def broken(job):
        raise RuntimeError("alerts broken")

    monkeypatch.setattr(alerts, "job_ended", broken)
    job = records.job(cluster)
    jobs.job_finish(job, Job.State.FAILED, "Failed")
    job.refresh_from_db()
    assert job.state == Job.State.FAILED


# --- the pages ---------------------------------------------------------------------------


def test_admin_adds_webhook_channel_and_subscription(personas, cluster, webhook):
    client = Client()
    client.force_login(personas["superuser"])
    response = client.post(
        reverse("alert-channel-add"),
        {"name": "chat", "kind": "webhook", "url": webhook.url, "enabled": "on"},
    )
    assert response.status_code == 302
    channel = Channel.objects.get(name="chat")
    assert channel.url() == webhook.url
    assert "test-key" not in channel.url_shown  # the URL is the credential: never shown
    response = client.post(
        reverse("alert-subscription-add"),
        {"channel": channel.pk, "cluster": cluster.pk, "min_severity": "CRITICAL", "jobs": "on"},
    )
    assert response.status_code == 302
    page = client.get(reverse("alerts")).content.decode()
    assert "chat" in page and "CRITICAL" in page and "test-key" not in page
    from clusters.audit import AuditEntry

    assert AuditEntry.objects.filter(object_type="clusters.channel", action="create").exists()


def test_channel_form_refuses_bad_values(personas):
    client = Client()
    client.force_login(personas["superuser"])
    page = client.post(
        reverse("alert-channel-add"), {"name": "m", "kind": "email", "recipients": "not-mail"}
    ).content.decode()
    assert "Enter a valid email address" in page
    page = client.post(reverse("alert-channel-add"), {"name": "w", "kind": "webhook"})
    assert "A webhook channel needs its URL" in page.content.decode()
    assert not Channel.objects.exists()


def test_test_message_from_the_page(personas, webhook, django_capture_on_commit_callbacks):
    channel = webhook_channel(webhook.url)
    client = Client()
    client.force_login(personas["superuser"])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("alert-channel-test", args=[channel.pk]))
    assert "Test message" in webhook.bodies[0]["text"]


def test_cluster_admin_may_not_manage_alerts(personas):
    client = Client()
    client.force_login(personas["admin"])
    assert client.get(reverse("alerts")).status_code == 403
    assert "Alerts" not in client.get(reverse("cluster-list")).content.decode()


def test_rotate_secrets_reencrypts_webhook_urls(db, webhook, settings):
    from django.core.management import call_command

    settings.PORTAL_SECRETS_KEY = "old-key"
    channel = webhook_channel(webhook.url)
    settings.PORTAL_SECRETS_KEY = "new-key,old-key"
    call_command("rotate_secrets")
    settings.PORTAL_SECRETS_KEY = "new-key"
    channel.refresh_from_db()
    assert channel.url() == webhook.url


@pytest.mark.django_db(transaction=True)
def test_sent_by_the_real_worker(celery_worker, webhook):
    """Through Redis and a worker process: the page's request only records and queues."""
    cluster = make_cluster("store-w")
    subscribe(webhook_channel(webhook.url), cluster)
    findings_store(cluster, [NV_CACHE])
    import time

    deadline = time.monotonic() + 30
    while not webhook.bodies and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(webhook.bodies) == 1
    assert Delivery.objects.get().state == "sent"


def test_alerts_made_while_the_broker_was_down_are_queued_again(cluster, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from clusters import alert_tasks
    from clusters.services import alerts

    channel = Channel.objects.create(name="m", kind="email", recipients="ops@example.com")
    old = Delivery.objects.create(
        channel=channel,
        key="finding:1:opened",
        event="opened",
        severity="CRITICAL",
        subject="s",
        text="t",
    )
    Delivery.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    Delivery.objects.create(
        channel=channel,
        key="finding:2:opened",
        event="opened",
        severity="CRITICAL",
        subject="s",
        text="t",
    )  # just made: queued
    queued = []
    monkeypatch.setattr(alert_tasks.deliver, "delay", queued.append)
    assert alerts.requeue_pending() == 1
    assert queued == [old.pk]


def test_deleting_a_channel_asks_first_and_says_what_goes_with_it(personas, cluster):
    client = Client()
    client.force_login(personas["superuser"])
    channel = webhook_channel("http://127.0.0.1:9/hook")
    subscribe(channel, cluster)
    url = reverse("alert-channel-delete", args=[channel.pk])
    assert f'href="{url}"' in client.get(reverse("alerts")).content.decode()  # a link, no POST

    page = client.get(url).content.decode()
    assert Channel.objects.filter(pk=channel.pk).exists()
    assert f"nobody is told through it any more about\n    {cluster.name}" in page
    assert "Delete channel ops-chat</button>" in page

    assert client.post(url).status_code == 302
    assert not Channel.objects.filter(pk=channel.pk).exists()
    assert not Subscription.objects.filter(channel_id=channel.pk).exists()
