"""Alerts pages: channels, subscriptions and deliveries (global admins: channels hold
webhook URLs and addresses for every cluster)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from clusters import access, audit
from clusters.forms_alerts import ChannelForm, DeliveryFilterForm, SubscriptionForm
from clusters.models import Channel, Delivery, Subscription
from clusters.services import alerts
from clusters.views.htmx import page_or_partial

PAGE_SIZE = 50


def _require_global_admin(request: HttpRequest) -> None:
    if not access.is_global_admin(request.user):
        raise PermissionDenied("Alerts are managed by admins of all clusters.")


def alerts_home(request: HttpRequest) -> HttpResponse:
    _require_global_admin(request)
    context = {
        "channels": Channel.objects.all(),
        "subscriptions": Subscription.objects.select_related("channel", "cluster"),
        "deliveries": Delivery.objects.select_related("channel", "cluster")[:10],
    }
    return render(request, "clusters/alerts.html", context)


@transaction.atomic
def channel_edit(request: HttpRequest, channel_id: int | None = None) -> HttpResponse:
    _require_global_admin(request)
    channel = get_object_or_404(Channel, pk=channel_id) if channel_id else Channel()
    before = audit.snapshot(channel) if channel.pk else None
    form = ChannelForm(request.POST or None, instance=channel)
    if request.method == "POST" and form.is_valid():
        channel = form.save(commit=False)
        if channel.created_by_id is None:
            channel.created_by = request.user
        channel.save()
        action = audit.Action.CHANGE if before else audit.Action.CREATE
        audit.record(request.user, action, channel, before=before, after=audit.snapshot(channel))
        messages.success(request, f"Channel {channel.name} saved.")
        return redirect("alerts")
    return render(request, "clusters/alert_channel.html", {"form": form, "channel": channel})


@transaction.atomic
def channel_delete(request: HttpRequest, channel_id: int) -> HttpResponse:
    """GET asks first (its subscriptions and delivery history go with it); POST deletes."""
    _require_global_admin(request)
    channel = get_object_or_404(Channel, pk=channel_id)
    if request.method != "POST":
        context = {
            "channel": channel,
            "subscriptions": channel.subscriptions.select_related("cluster"),
            "deliveries": channel.deliveries.count(),
        }
        return render(request, "clusters/alert_channel_delete.html", context)
    audit.record(request.user, audit.Action.DELETE, channel, before=audit.snapshot(channel))
    channel.delete()
    messages.success(request, f"Channel {channel.name} deleted.")
    return redirect("alerts")


@require_POST
@transaction.atomic
def channel_test(request: HttpRequest, channel_id: int) -> HttpResponse:
    _require_global_admin(request)
    channel = get_object_or_404(Channel, pk=channel_id)
    alerts.channel_test(channel)
    messages.success(request, f"Test message to {channel.name} queued; see Deliveries.")
    return redirect("alert-deliveries")


@transaction.atomic
def subscription_add(request: HttpRequest) -> HttpResponse:
    _require_global_admin(request)
    form = SubscriptionForm(request.POST or None, initial=request.GET.dict())
    if request.method == "POST" and form.is_valid():
        subscription = form.save()
        audit.record(
            request.user, audit.Action.CREATE, subscription, after=audit.snapshot(subscription)
        )
        messages.success(request, f"Subscription {subscription} added.")
        return redirect("alerts")
    return render(request, "clusters/alert_subscription.html", {"form": form})


@require_POST
@transaction.atomic
def subscription_delete(request: HttpRequest, subscription_id: int) -> HttpResponse:
    _require_global_admin(request)
    subscription = get_object_or_404(Subscription, pk=subscription_id)
    audit.record(
        request.user, audit.Action.DELETE, subscription, before=audit.snapshot(subscription)
    )
    subscription.delete()
    messages.success(request, "Subscription removed.")
    return redirect("alerts")


def deliveries(request: HttpRequest) -> HttpResponse:
    """Every alert sent or being sent, newest first; the table refreshes itself."""
    _require_global_admin(request)
    form = DeliveryFilterForm(request.GET)
    rows = Delivery.objects.select_related("channel", "cluster")
    if form.is_valid() and form.cleaned_data["state"]:
        rows = rows.filter(state=form.cleaned_data["state"])
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"form": form, "page": page, "query": request.GET.urlencode()}
    return page_or_partial(request, "clusters/alert_deliveries.html", "deliveries-table", context)
