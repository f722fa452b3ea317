"""In a real browser, against lab nodes: the jobs centre (filters, a running job turning
finished by itself), the job page of a real apply with its node steps, the audit trail's
named changes; every page at phone width (390×844) without horizontal page overflow and
with Log out reachable through the collapsed menu; screenshots for docs/screenshots/."""

import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from playwright.sync_api import Page, expect

from clusters.models import DrbdResource, DrbdVolume, Finding, Job, LunMapping, Role
from clusters.services import changes, collection
from tests import records
from tests.browser.conftest import log_in, off_the_browser_loop
from tests.factories import add_lun_change, make_cluster, make_user

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
# `SCREENSHOTS=docs/screenshots pytest tests/browser/test_jobs_browser.py` refreshes the
# committed pictures; otherwise they go to a temporary directory.
SCREENSHOTS = os.environ.get("SCREENSHOTS")


@pytest.fixture
def applied(spare_cluster, lab):
    """A real history: a collection, a plan adding vmfs1 and its successful apply."""
    root = make_user("root", is_superuser=True, is_staff=True)

    def history():
        collection.collection_run(collection.collection_create(spare_cluster, root))
        description = "Add LUN 1 vmfs1 (DRBD r1) on every target"
        change = add_lun_change(spare_cluster)
        plan = changes.plan_now(spare_cluster, root, change, description)
        return plan, changes.apply_run(changes.apply_create(plan, root, "new VMware datastore"))

    plan, apply = off_the_browser_loop(history)
    assert apply.state == Job.State.SUCCEEDED, apply.summary
    return SimpleNamespace(cluster=spare_cluster, plan=plan, apply=apply, user=root)


@pytest.fixture
def free(applied):
    """A second (factory) cluster whose DRBD resource r1 exports nothing: the wizard's
    every step can be walked without nodes."""
    cluster = make_cluster("store-w")
    resource = DrbdResource.objects.create(cluster=cluster, name="r1", port=7800)
    for node in cluster.nodes.all():
        DrbdVolume.objects.create(
            resource=resource, node=node, minor=1, backing_disk="/dev/vg0/lun1"
        )
    return cluster


def walk_wizard(page: Page, cluster: str, at_each_step) -> None:
    """Every step of the wizard with valid entries, calling at_each_step(step name)."""
    page.goto(f"/clusters/{cluster}/luns/add/")
    at_each_step("cluster")
    page.get_by_role("button", name="Next").click()
    page.get_by_label("r1", exact=True).check()
    at_each_step("resource")
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Device name").fill("vmfs1")
    page.get_by_role("group", name=re.compile("SCSI reservations")).get_by_label("Yes").check()
    at_each_step("device")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#wizard-title")).to_contain_text("LUN sets")
    at_each_step("luns")
    page.get_by_role("button", name="Next").click()
    page.get_by_label(re.compile("MRU or Fixed on every VMware host")).check()
    at_each_step("multipath")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#review-device")).to_have_text("vmfs1")
    at_each_step("review")


def overflow(page: Page) -> int:
    """How far the page is wider than the window (0: no horizontal page scroll)."""
    return page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")


CULPRITS = """() => {
  const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el.getBoundingClientRect().right <= window.innerWidth) continue;
    let p = el.parentElement, inside = false;
    while (p) { if (scrolls(p)) { inside = true; break; } p = p.parentElement; }
    if (!inside && ![...el.children].some(c => c.getBoundingClientRect().right > window.innerWidth))
      out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + '.' + el.className);
  }
  return out.slice(0, 5);
}"""


def too_wide(page: Page, where: str) -> list[str]:
    """Why the page is wider than the window: the outermost-deepest elements sticking out."""
    if overflow(page) <= 0:
        return []
    return [f"{where}: {overflow(page)} px too wide: {page.evaluate(CULPRITS)}"]


def test_jobs_centre_filters_and_follows_a_running_job(browser_page, applied):
    page = browser_page
    log_in(page, "root")
    page.get_by_role("link", name="Jobs").click()
    rows = page.locator("#job-table tr.job-row")
    expect(rows.filter(has_text="Apply a change")).to_have_count(1)
    expect(rows.filter(has_text="Plan a change")).to_have_count(1)
    assert rows.filter(has_text="Collect live state").count() >= 1

    page.get_by_label("Kind").select_option("apply")
    expect(rows).to_have_count(1)
    expect(page).to_have_url(re.compile(r"/jobs/\?cluster=&kind=apply&"))
    expect(rows.first).to_contain_text(f"plan #{applied.plan.pk}: new VMware datastore")
    expect(rows.first.locator(".badge")).to_have_text("Succeeded")

    running = records.job(applied.cluster, applied.user, Job.State.RUNNING)
    page.get_by_label("Kind").select_option("")
    row = page.locator(f"#job-row-{running.pk}")
    expect(row.locator(".badge")).to_have_text("Running")
    Job.objects.filter(pk=running.pk).update(state=Job.State.SUCCEEDED, summary="2 of 2 nodes")
    expect(row.locator(".badge")).to_have_text("Succeeded")  # the table polls by itself
    expect(row).to_contain_text("2 of 2 nodes")
    expect(page.locator("#jobs")).not_to_have_attribute("hx-trigger", re.compile("every"))

    page.locator(f"#job-row-{applied.apply.pk} a").click()
    expect(page.locator("#job-reason")).to_have_text("new VMware datastore")
    expect(page.locator("#job-plan")).to_have_attribute(
        "href", reverse("plan-detail", args=[applied.plan.pk])
    )
    steps = page.locator("#job-steps tbody tr")
    expect(steps.first).to_be_visible()
    assert steps.count() >= 4  # stage, validate, apply, verify on two nodes at least
    validate = steps.filter(has_text="-check_config").first
    expect(validate).to_contain_text("scstadmin")
    expect(validate.locator(".badge", has_text=re.compile(r"^0$"))).to_have_count(1)


def test_audit_trail_names_the_fields_an_apply_changed(browser_page, applied):
    page = browser_page
    log_in(page, "root")
    page.goto("/audit/?action=apply")
    entry = page.locator("tr.audit-entry").first
    expect(entry).to_contain_text("device vmfs1")
    expect(entry).to_contain_text("added")
    expect(entry).to_contain_text("LUN 1 (default set)")
    expect(entry).not_to_contain_text("{'")
    expect(page.locator("#audit-csv")).to_have_attribute("href", re.compile(r"/audit/export\.csv"))


def other_samples(cluster) -> dict:
    """Objects of the people, alert and history pages."""
    from clusters.models import Channel, Subscription
    from clusters.services import people

    root = get_user_model().objects.get(username="root")
    member = make_user("pat", Role.VIEWER, cluster)
    token = people.token_create(root, root, "phone")[0]
    channel = Channel.objects.create(name="ops", kind="email", recipients="ops@example.com")
    subscription = Subscription.objects.create(channel=channel, cluster=cluster)
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    return {
        "uidb64": urlsafe_base64_encode(force_bytes(member.pk)),  # the invite link's page
        "token": default_token_generator.make_token(member),
        "user_id": member.pk,
        "membership_id": cluster.memberships.get(user=member).pk,
        "token_id": token.pk,
        "device_name": cluster.devices.order_by("name").first().name,
        "channel_id": channel.pk,
        "subscription_id": subscription.pk,
        "device": cluster.devices.order_by("name").first().name,  # day-2 workflows
        "resource": cluster.drbd_resources.order_by("name").first().name,
        "workflow_id": 0,  # no workflow plan yet: answers 404 and is left out
    }


def page_urls(applied) -> list[str]:
    """A URL for every page of the portal (not the API, the admin or POST-only actions)."""
    cluster = applied.cluster
    node = cluster.nodes.order_by("name").first()
    records.finding(cluster, "WARNING", code="DRBD_FENCING", object_ref="drbd:r0")
    values = {
        "cluster_name": cluster.name,
        "node_name": node.name,
        "job_id": applied.apply.pk,
        "mapping_id": LunMapping.objects.filter(target__cluster=cluster).first().pk,
        "revision_id": applied.apply.revision.pk,
        "finding_id": Finding.objects.filter(cluster=cluster).first().pk,
        **other_samples(cluster),
    }
    skip = {"logout", "login", "metrics", "home", "audit-export"}  # no page: a CSV
    urls, unknown = [], []

    def walk(patterns, namespace=""):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                if entry.namespace in (None, "") or entry.namespace not in ("admin", "api"):
                    walk(entry.url_patterns, namespace)
            elif isinstance(entry, URLPattern) and entry.name and entry.name not in skip:
                params = entry.pattern.regex.groupindex
                if set(params) - set(values):  # a page of objects this history lacks
                    unknown.append(entry.name)
                    continue
                urls.append(reverse(entry.name, kwargs={p: values[p] for p in params}))

    walk(get_resolver().url_patterns)
    urls.append(reverse("plan-detail", args=[applied.plan.pk]))
    # Pages named by objects not in `values` are listed here, so that they are added there.
    assert unknown == [], f"add a sample value for the parameters of {unknown}"
    return urls


def test_every_page_fits_a_phone_and_log_out_is_reachable(browser, live_server, applied, free):
    context = browser.new_context(base_url=live_server.url, viewport=PHONE)
    page = context.new_page()
    log_in(page, "root")
    checked, wide = [], []
    for url in page_urls(applied):
        if page.request.get(url, max_redirects=0).status != 200:  # POST-only actions: 405
            continue
        page.goto(url)
        checked.append(url)
        wide += too_wide(page, url)

    def check(step: str) -> None:
        checked.append(page.url)
        wide.extend(too_wide(page, f"wizard step {step}"))

    walk_wizard(page, free.name, check)
    assert wide == [], "\n".join(wide)
    assert {"/jobs/", "/audit/", "/compliance/", "/clusters/"} <= set(checked), checked

    logout = page.get_by_role("button", name="Log out")
    expect(logout).to_be_hidden()  # collapsed behind the menu on a phone
    page.get_by_text("Menu", exact=True).click()
    expect(logout).to_be_visible()
    logout.click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    assert overflow(page) <= 0  # the login page too
    context.close()


@pytest.mark.parametrize(("size", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_screenshots(browser, live_server, applied, free, tmp_path, size, viewport):
    out = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(base_url=live_server.url, viewport=viewport)
    page = context.new_page()
    log_in(page, "root")
    shots = {
        "jobs-list": "/jobs/",
        "jobs-detail": reverse("job-detail", args=[applied.apply.pk]),
        "audit-trail": "/audit/",
    }
    for name, url in shots.items():
        page.goto(url)
        page.screenshot(path=out / f"{name}-{size}.png", full_page=True)
        assert overflow(page) <= 0

    def shoot(step: str) -> None:
        if step in ("resource", "device", "review"):
            page.screenshot(path=out / f"wizard-{step}-{size}.png", full_page=True)

    walk_wizard(page, free.name, shoot)
    if size == "phone":
        page.get_by_text("Menu", exact=True).click()
        page.screenshot(path=out / "wizard-menu-phone.png")
    context.close()
