"""In a real browser, against lab nodes: add a LUN through the wizard (htmx steps), review
the plan's per-node diffs, apply it and see the LUN on both nodes; and a plan refused by
an interlock, which shows why and offers no Apply."""

import re

import pytest
from playwright.sync_api import Page, expect

from clusters import tasks
from clusters.models import DrbdResource, DrbdVolume, Job, Role, ScstDevice
from clusters.services import changes
from lab import api
from tests.browser.conftest import collect_now, log_in
from tests.factories import make_cluster, make_user

pytestmark = pytest.mark.browser


@pytest.fixture
def operator_on(spare_cluster):
    make_user("olga", Role.OPERATOR, spare_cluster)
    return spare_cluster


@pytest.fixture
def apply_in_web_thread(monkeypatch):
    """No worker here: the queued apply runs synchronously where it is enqueued (after the
    request's commit). The worker path is tested with Celery elsewhere."""

    def run_now(job_id: int) -> None:
        changes.apply_run(Job.objects.get(pk=job_id))

    monkeypatch.setattr(tasks.apply_job, "delay", run_now)


def walk_wizard(page: Page, cluster: str, reservations: str) -> None:
    """Cluster page → Add LUN → every step with r1, vmfs1, the offered LUN → plan page."""
    page.goto(f"/clusters/{cluster}/")
    page.get_by_role("link", name="Add LUN").click()
    title = page.locator("#wizard-title")
    expect(title).to_have_text("Step 1 of 6: Cluster")
    page.get_by_role("button", name="Next").click()

    expect(title).to_have_text("Step 2 of 6: DRBD resource")
    expect(page.locator("#resource-r0")).to_contain_text("exported by r0")
    page.get_by_label("r1", exact=True).check()
    page.get_by_role("button", name="Next").click()

    expect(title).to_have_text("Step 3 of 6: Device")
    page.get_by_label("Device name").fill("vmfs1")
    question = page.get_by_role("group", name=re.compile("SCSI reservations"))
    question.get_by_label(reservations).check()
    page.get_by_role("button", name="Next").click()

    expect(title).to_have_text("Step 4 of 6: LUN sets and number")
    expect(page.locator("#summary-t10")).to_contain_text("-vmfs1")
    expect(page.get_by_label("LUN number")).to_have_value("1")  # offered, kept
    page.get_by_role("button", name="Next").click()

    expect(title).to_have_text("Step 5 of 6: Multipath")
    page.get_by_label(re.compile("MRU or Fixed on every VMware host")).check()
    page.get_by_role("button", name="Next").click()

    expect(title).to_have_text("Step 6 of 6: Review")
    expect(page.locator("#review-device")).to_have_text("vmfs1")
    page.get_by_role("button", name="Plan this change").click()
    page.wait_for_url(re.compile(r"/plans/\d+/$"))


def test_operator_adds_a_lun_through_the_wizard_and_applies_it(
    browser_page, operator_on, apply_in_web_thread
):
    page, name = browser_page, operator_on.name
    log_in(page, "olga")
    walk_wizard(page, name, reservations="Yes")

    expect(page.locator("#plan-description")).to_contain_text("vmfs1")
    for suffix in "ab":
        diff = page.locator(f"#diff-{name}-{suffix}")
        expect(diff.locator("span.add", has_text="write_through 1")).to_have_count(1)
        expect(diff.locator("span.add", has_text="cluster_mode 1")).to_have_count(1)
        expect(diff.locator("span.add", has_text="LUN 1 vmfs1")).to_have_count(1)
    page.get_by_label("Reason").fill("new VMware datastore")
    page.get_by_label("I have reviewed the diff for every node").check()
    page.get_by_role("button", name="Apply").click()

    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    expect(page.locator("#job-state")).to_have_text("Succeeded")
    expect(page.locator(".job")).to_contain_text("Applied:")

    page.goto(f"/clusters/{name}/")
    mappings = page.locator("#lun-mappings tbody tr", has_text="vmfs1")
    expect(mappings).to_have_count(2)
    expect(mappings.filter(has_text=f"{name}-a")).to_have_count(1)
    expect(mappings.filter(has_text=f"{name}-b")).to_have_count(1)
    live = page.locator("#device-vmfs1 tr", has_text="write_through")
    expect(live.locator("td")).to_have_text(["write_through", "1", "1"])
    expect(page.locator("#revisions")).to_contain_text("vmfs1")
    device = ScstDevice.objects.get(cluster=operator_on, name="vmfs1")
    expect(page.locator("#device-vmfs1")).to_contain_text(device.t10_dev_id)


def test_plan_refused_by_an_interlock_shows_why_and_offers_no_apply(
    browser_page, operator_on, lab, apply_in_web_thread
):
    page, name = browser_page, operator_on.name
    api.set_fault(lab.dir, f"{name}-b", down=True)
    lab.wait_for_faults()
    collect_now(operator_on)
    log_in(page, "olga")
    walk_wizard(page, name, reservations="No")

    refusals = page.locator("#refusals")
    expect(refusals).to_be_visible()
    expect(refusals).to_contain_text(f"{name}-b is unreachable")
    expect(page.get_by_role("button", name="Apply")).to_have_count(0)
    expect(page.locator("#apply")).to_contain_text("Nothing to apply: this plan was refused.")
    assert not ScstDevice.objects.filter(name="vmfs1").exists()


@pytest.fixture
def free_cluster(transactional_db):
    """A factory cluster (no lab) whose DRBD resource r1 exports nothing yet."""
    cluster = make_cluster("store-w")
    resource = DrbdResource.objects.create(cluster=cluster, name="r1", port=7800)
    for node in cluster.nodes.all():
        DrbdVolume.objects.create(
            resource=resource, node=node, minor=1, backing_disk="/dev/vg0/lun1"
        )
    make_user("olga", Role.OPERATOR, cluster)
    return cluster


def test_browser_back_and_forward_move_between_steps_keeping_the_entries(
    browser_page, free_cluster
):
    page, title = browser_page, browser_page.locator("#wizard-title")
    log_in(page, "olga")
    page.goto(f"/clusters/{free_cluster.name}/luns/add/")
    expect(page).to_have_url(re.compile(r"\?run=[\w-]+&step=cluster$"))
    page.get_by_role("button", name="Next").click()
    expect(page).to_have_url(re.compile(r"&step=resource$"))
    page.get_by_label("r1", exact=True).check()
    page.get_by_role("button", name="Next").click()
    expect(title).to_have_text("Step 3 of 6: Device")
    page.get_by_label("Device name").fill("vmfs1")
    reservations = page.get_by_role("group", name=re.compile("SCSI reservations"))
    reservations.get_by_label("Yes").check()
    page.get_by_role("button", name="Next").click()
    expect(title).to_have_text("Step 4 of 6: LUN sets and number")
    identity = page.locator("#summary-t10").inner_text()

    page.go_back()  # the browser's button, not the wizard's
    expect(title).to_have_text("Step 3 of 6: Device")
    expect(page).to_have_url(re.compile(r"&step=device$"))
    expect(page.get_by_label("Device name")).to_have_value("vmfs1")
    expect(reservations.get_by_label("Yes")).to_be_checked()
    expect(page.locator("#summary-t10")).to_have_text(identity)

    page.go_back()
    expect(title).to_have_text("Step 2 of 6: DRBD resource")
    expect(page.get_by_label("r1", exact=True)).to_be_checked()

    page.go_forward()
    expect(title).to_have_text("Step 3 of 6: Device")  # each restore lands before the next
    page.go_forward()
    expect(title).to_have_text("Step 4 of 6: LUN sets and number")
    expect(page.locator("#summary-t10")).to_have_text(identity)  # the same identity
    page.get_by_role("button", name="Next").click()  # and the wizard goes on from there
    expect(title).to_have_text("Step 5 of 6: Multipath")
