"""Celery tasks for alerts and history: load ids, call one service, record the outcome.

Imported by ClustersConfig.ready() so that every worker registers them (Celery's
autodiscovery only looks for clusters/tasks.py).
"""

from celery import shared_task
from django.conf import settings

from clusters.models import Delivery
from clusters.services import alerts, history


def backoff_seconds(retries: int) -> int:
    """Exponential backoff: base, 2×base, 4×base … capped at ALERT_RETRY_MAX_SECONDS."""
    return min(settings.ALERT_RETRY_BASE_SECONDS * 2**retries, settings.ALERT_RETRY_MAX_SECONDS)


@shared_task(bind=True, name="clusters.alert_deliver", max_retries=None)
def deliver(self, delivery_id: int) -> None:
    """Send one alert; retry with backoff, then give up as failed (shown on the page)."""
    delivery = Delivery.objects.select_related("channel").filter(pk=delivery_id).first()
    if delivery is None or alerts.delivery_attempt(delivery):
        return
    if self.request.retries >= settings.ALERT_MAX_RETRIES:
        alerts.delivery_give_up(delivery)
        return
    raise self.retry(countdown=backoff_seconds(self.request.retries))


@shared_task(name="clusters.alerts_requeue")
def alerts_requeue() -> None:
    """Beat: queue again alerts made while the broker was down."""
    alerts.requeue_pending()


@shared_task(name="clusters.history_prune")
def history_prune() -> None:
    """Beat: drop samples older than HISTORY_RETENTION_DAYS."""
    history.prune()
