"""In a real browser, against lab nodes whose Pacemaker manages the DRBD resource (an
ocf:linbit:drbd promotable clone in the CIB, lab.stack's `drbd_clones`): a plan that would
run `drbdadm primary` on it is refused, naming Pacemaker and the cluster manager's own
commands, and the page offers no way to run it (issue 16, "Ownership")."""

import re

import pytest
from playwright.sync_api import Page, expect

from clusters.models import Job, Role, ScstDevice
from lab import api, stack
from tests.browser.conftest import collect_now, log_in
from tests.factories import make_user

pytestmark = pytest.mark.browser


def managed_by_pacemaker(lab, cluster, resource: str) -> None:
    """Both nodes' CIB holds the clone ms_drbd_RESOURCE (two promoted instances)."""
    for suffix in "ab":
        stack.set_stack(lab.dir, f"{cluster.name}-{suffix}", drbd_clones={resource: 2})


def walk_wizard_to_new_resource_plan(page: Page, cluster: str) -> None:
    """Add LUN → a new DRBD resource r9 on /dev/lab/spare0 → device vmfs9 → plan page."""
    page.goto(f"/clusters/{cluster}/")
    page.get_by_role("link", name="Add LUN").click()
    title = page.locator("#wizard-title")
    expect(title).to_have_text("Step 1 of 6: Cluster")
    page.get_by_role("button", name="Next").click()

    expect(title).to_have_text("Step 2 of 6: DRBD resource")
    page.get_by_label("Define a new DRBD resource").check()
    page.locator("#id_new_name").fill("r9")
    for suffix in "ab":
        page.get_by_label(f"Backing disk on {cluster}-{suffix}").fill("/dev/lab/spare0")
    page.locator("#id_new_empty").check()
    page.get_by_role("button", name="Next").click()

    expect(title).to_have_text("Step 3 of 6: Device")
    page.get_by_label("Device name").fill("vmfs9")
    question = page.get_by_role("group", name=re.compile("SCSI reservations"))
    question.get_by_label("No").check()
    page.get_by_role("button", name="Next").click()
    expect(title).to_have_text("Step 4 of 6: LUN sets and number")
    page.get_by_role("button", name="Next").click()
    expect(title).to_have_text("Step 5 of 6: Multipath")
    page.get_by_label(re.compile("MRU or Fixed on every VMware host")).check()
    page.get_by_role("button", name="Next").click()
    expect(title).to_have_text("Step 6 of 6: Review")
    page.get_by_role("button", name="Plan this change").click()
    page.wait_for_url(re.compile(r"/plans/\d+/$"))


def test_new_resource_pacemaker_manages_is_refused_with_crm_resource_and_no_apply(
    browser_page, lab_cluster, lab
):
    page, name = browser_page, lab_cluster.name
    make_user("olga", Role.OPERATOR, lab_cluster)
    managed_by_pacemaker(lab, lab_cluster, "r9")
    log_in(page, "olga")
    walk_wizard_to_new_resource_plan(page, name)

    refusals = page.locator("#refusals")
    expect(refusals).to_be_visible()
    for suffix in "ab":
        node = f"{name}-{suffix}"
        reason = refusals.locator("li", has_text=f"{node}: Pacemaker manages DRBD r9")
        expect(reason).to_contain_text("drbdadm create-md/up/primary/down")
        expect(reason).to_contain_text(f"crm_resource --resource ms_drbd_r9 --ban --node {node}")
        expect(reason).to_contain_text(f"crm_resource --resource ms_drbd_r9 --clear --node {node}")
    expect(page.get_by_role("button", name="Apply")).to_have_count(0)
    expect(page.locator("#apply")).to_contain_text("Nothing to apply: this plan was refused.")
    assert not ScstDevice.objects.filter(name="vmfs9").exists()
    assert not Job.objects.filter(kind=Job.Kind.APPLY).exists()


def test_split_brain_recovery_on_a_pacemaker_resource_is_refused_and_offers_no_run(
    browser_page, lab_cluster, lab
):
    import time

    page, name = browser_page, lab_cluster.name
    make_user("ada", Role.ADMIN, lab_cluster)
    managed_by_pacemaker(lab, lab_cluster, "r0")
    collect_now(lab_cluster)
    api.split_brain(lab.dir, f"{name}-a", "r0")
    time.sleep(1.0)
    collect_now(lab_cluster)
    log_in(page, "ada")
    page.goto(f"/clusters/{name}/")
    page.locator("#split-brain-r0").click()
    page.get_by_role("button", name="Plan: read every node and judge").click()
    page.wait_for_url(re.compile(r"/workflows/\d+/$"))

    refusals = page.locator("#refusals")
    expect(refusals).to_contain_text("Pacemaker manages DRBD r0 (ocf:linbit:drbd")
    expect(refusals).to_contain_text("drbdadm secondary/primary")
    expect(refusals).to_contain_text(f"crm_resource --resource ms_drbd_r0 --ban --node {name}-b")
    expect(page.get_by_role("button", name="Run workflow")).to_have_count(0)
    expect(page.locator("#run-unavailable")).to_contain_text("this plan was refused")
