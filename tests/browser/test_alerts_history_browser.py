"""In a real browser: an admin sets up a webhook and an e-mail channel and subscribes them;
a seeded finding reaches a local HTTP receiver and a local SMTP server, and the
deliveries page says so. Then a LUN's chart, drawn from real lab collections."""

import os
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from clusters.compliance.catalogue import Detail, FindingData
from clusters.models import Cluster, Role
from clusters.services.findings import findings_store
from clusters.services.labsync import inventory_sync
from lab import api
from tests.alert_support import MailReceiver, WebhookReceiver
from tests.browser.conftest import collect_now, log_in, off_the_browser_loop
from tests.factories import make_cluster, make_user

pytestmark = pytest.mark.browser
# SCREENSHOTS=docs/screenshots pytest … refreshes the pictures in the docs.
SCREENSHOTS = Path(os.environ["SCREENSHOTS"]) if os.environ.get("SCREENSHOTS") else None

NV_CACHE = FindingData(
    "SCST_NV_CACHE_ON",
    "CRITICAL",
    "device:lun0",
    "nv_cache is not 0",
    [Detail("nv_cache is 1", "nv_cache = '1'", "store-a-n0")],
)


@pytest.fixture
def receivers(settings):
    with WebhookReceiver() as webhook, MailReceiver() as smtp:
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
        yield webhook, smtp


def add_channel(page, name: str, kind: str, **fields) -> None:
    page.goto("/alerts/")
    page.get_by_role("link", name="Add a channel").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Kind").select_option(kind)
    for label, value in fields.items():
        page.get_by_label(label).fill(value)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#channels")).to_contain_text(name)


def subscribe(page, channel: str, cluster: str, severity: str) -> None:
    page.get_by_role("link", name="Add a subscription").click()
    options = page.get_by_label("Channel").locator("option")
    value = options.filter(has_text=channel).first.get_attribute("value")
    page.get_by_label("Channel").select_option(value)
    page.get_by_label("Cluster").select_option(label=cluster)
    page.get_by_label("Minimum severity").select_option(severity)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#subscriptions")).to_contain_text(channel)


def test_webhook_and_email_received_for_a_seeded_finding(browser_page, transactional_db, receivers):
    webhook, smtp = receivers
    cluster = make_cluster("store-a")
    make_user("root", is_superuser=True, is_staff=True)
    page = browser_page
    log_in(page, "root")

    page.get_by_role("link", name="Alerts").click()
    add_channel(page, "ops-chat", "webhook", **{"Webhook URL": webhook.url})
    add_channel(page, "storage-team", "email", Recipients="storage@example.com")
    expect(page.locator("#channels")).not_to_contain_text("test-key")  # the URL is a secret
    subscribe(page, "ops-chat", "store-a", "WARNING")
    subscribe(page, "storage-team", "store-a", "CRITICAL")

    findings_store(cluster, [NV_CACHE])  # what a collection stores when nv_cache is 1

    assert len(webhook.bodies) == 1
    assert webhook.bodies[0]["text"].startswith(
        "[CRITICAL] store-a: SCST_NV_CACHE_ON on device:lun0 new"
    )
    assert len(smtp.messages) == 1
    recipients, message = smtp.messages[0]
    assert recipients == ["storage@example.com"]
    assert "SCST_NV_CACHE_ON" in message["Subject"]

    page.goto("/alerts/")
    page.get_by_role("link", name="Deliveries").first.click()
    rows = page.locator("#deliveries tr.delivery")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="ops-chat")).to_contain_text("Sent")
    expect(rows.filter(has_text="storage-team")).to_contain_text("Sent")
    if SCREENSHOTS:
        page.set_viewport_size({"width": 1440, "height": 900})
        page.screenshot(path=SCREENSHOTS / "alert-deliveries-1440.png", full_page=True)
        page.goto("/alerts/")
        page.screenshot(path=SCREENSHOTS / "alerts-1440.png", full_page=True)


@pytest.fixture
def io_through_both_nodes(transactional_db, lab):
    """The lab's cluster collected three times while one initiator writes through both
    nodes (round robin)."""
    off_the_browser_loop(lambda: inventory_sync(lab.manifest))
    cluster = Cluster.objects.get(name=lab.manifest["clusters"][0]["name"])
    for suffix in "ab":
        api.add_session(
            lab.dir, f"{cluster.name}-{suffix}", "iqn.1998-01.com.vmware:esx01", io_rate_kb=4096
        )
    for _ in range(3):
        collect_now(cluster)
        time.sleep(1.1)  # the lab's counters rise with time
    make_user("vera", Role.VIEWER, cluster)
    return cluster


def test_lun_chart_drawn_with_real_points(browser_page, io_through_both_nodes):
    name = io_through_both_nodes.name
    page = browser_page
    log_in(page, "vera")
    page.goto(f"/clusters/{name}/")
    page.get_by_role("link", name="History and charts").click()
    expect(page.locator("figure.chart").first).to_be_visible()
    page.get_by_role("link", name="r0", exact=True).click()

    writes = page.locator("figure.chart").first
    expect(writes.locator("figcaption")).to_contain_text("Writes to r0 per node")
    lines = writes.locator("g.series")
    expect(lines).to_have_count(2)
    assert {lines.nth(i).get_attribute("data-series") for i in range(2)} == {
        f"{name}-a",
        f"{name}-b",
    }
    for i in range(2):
        dots = lines.nth(i).locator("circle")
        expect(dots).to_have_count(2)  # three collections: two intervals
        box = dots.first.bounding_box()
        assert box is not None and box["width"] > 0  # drawn, not just in the markup
        heights = [float(dots.nth(j).get_attribute("cy")) for j in range(2)]
        assert all(h < 212 for h in heights)  # above the zero line: writes were seen
    expect(writes.locator(".legend")).to_contain_text("commands/min")
    if SCREENSHOTS:
        page.set_viewport_size({"width": 1440, "height": 900})
        page.screenshot(path=SCREENSHOTS / "lun-history-1440.png", full_page=True)
        page.goto(f"/clusters/{name}/history/")
        page.screenshot(path=SCREENSHOTS / "cluster-history-1440.png", full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=SCREENSHOTS / "cluster-history-390.png", full_page=True)
