"""In a real browser, against lab nodes: the day-2 workflow pages. Grow a LUN from the
cluster page: its explanation, the plan with what each node reported and the steps, the
run and its job; and a refused grow, which says why and offers no Run."""

import re

import pytest
from playwright.sync_api import Page, expect

from clusters.models import Role
from lab import workflow_cmds
from tests.browser.conftest import collect_now, log_in
from tests.factories import make_user

pytestmark = pytest.mark.browser
GIB = 1024**3


def grow_disks(lab, cluster, a: int, b: int) -> None:
    workflow_cmds.grow_disk(lab.dir, f"{cluster.name}-a", "/dev/lab/r0", a)
    workflow_cmds.grow_disk(lab.dir, f"{cluster.name}-b", "/dev/lab/r0", b)


def plan_grow(page: Page, cluster: str) -> None:
    page.goto(f"/clusters/{cluster}/")
    page.locator("#grow-r0").click()
    expect(page.locator("h1")).to_contain_text("Grow LUN r0")
    expect(page.locator("#grow-intro")).to_contain_text("drbdadm resize r0")
    page.get_by_role("button", name="Plan: read every node and judge").click()
    page.wait_for_url(re.compile(r"/workflows/\d+/$"))


def test_operator_grows_a_lun_from_the_cluster_page(
    browser_page, operator_on, lab, run_in_web_thread
):
    page, name = browser_page, operator_on.name
    grow_disks(lab, operator_on, 12 * GIB, 12 * GIB)
    log_in(page, "olga")
    plan_grow(page, name)

    expect(page.locator("#plan-status")).to_contain_text("ready to apply")
    expect(page.locator(f"#facts-{name}-a")).to_contain_text(str(12 * GIB))
    steps = page.locator("#workflow-steps li")
    expect(steps).to_have_count(3)
    expect(steps.nth(0)).to_contain_text("drbdadm resize r0")
    expect(steps.nth(2)).to_contain_text("scstadmin -noprompt -resync_dev r0")
    page.get_by_label("Reason").fill("datastore full")
    page.get_by_label(re.compile("I have reviewed every step")).check()
    page.get_by_role("button", name="Run workflow").click()

    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    expect(page.locator("#job-state")).to_have_text("Succeeded")
    expect(page.locator(".job")).to_contain_text(f"presents {12 * GIB} bytes")


def test_grow_refused_when_the_disks_differ_says_why_and_offers_no_run(
    browser_page, operator_on, lab, run_in_web_thread
):
    page, name = browser_page, operator_on.name
    grow_disks(lab, operator_on, 12 * GIB, 11 * GIB)
    log_in(page, "olga")
    plan_grow(page, name)

    expect(page.locator("#refusals")).to_contain_text("differ by more than 1 MiB")
    expect(page.get_by_role("button", name="Run workflow")).to_have_count(0)
    expect(page.locator("#run-unavailable")).to_contain_text("this plan was refused")


def test_operator_verifies_a_resource_then_resyncs_what_it_found(
    browser_page, operator_on, lab, run_in_web_thread
):
    from lab import api

    page, name = browser_page, operator_on.name
    for suffix in "ab":
        api.set_net_option(lab.dir, f"{name}-{suffix}", "r0", "verify-alg", "sha256")
    workflow_cmds.diverge(lab.dir, f"{name}-b", "r0", 64)
    log_in(page, "olga")
    page.goto(f"/clusters/{name}/")
    page.locator("#verify-r0").click()
    expect(page.locator("h1")).to_contain_text("Online verify of DRBD r0")
    page.get_by_role("button", name="Plan: read every node and judge").click()
    page.wait_for_url(re.compile(r"/workflows/\d+/$"))
    expect(page.locator(f"#facts-{name}-a")).to_contain_text("sha256")
    expect(page.locator("#workflow-steps li")).to_contain_text("drbdadm verify r0")
    page.get_by_label("Reason").fill("monthly check")
    page.get_by_label(re.compile("I have reviewed every step")).check()
    page.get_by_role("button", name="Run workflow").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    expect(page.locator("#job-state")).to_have_text("Succeeded")
    expect(page.locator(".job")).to_contain_text("found blocks out of sync")

    page.goto(f"/clusters/{name}/")
    page.locator("#resync-r0").click()
    page.get_by_role("button", name="Plan: read every node and judge").click()
    page.wait_for_url(re.compile(r"/workflows/\d+/$"))
    expect(page.locator("#plan-warnings")).to_contain_text("not replicated")
    steps = page.locator("#workflow-steps li")
    expect(steps).to_have_count(2)
    expect(steps.nth(0)).to_contain_text("drbdadm disconnect r0")
    expect(steps.nth(1)).to_contain_text("drbdadm connect r0")
    page.get_by_label("Reason").fill("repair what verify found")
    page.get_by_label(re.compile("I have reviewed every step")).check()
    page.get_by_role("button", name="Run workflow").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    expect(page.locator("#job-state")).to_have_text("Succeeded")
    expect(page.locator(".job")).to_contain_text("Resynchronised r0")


def test_verify_without_a_verify_alg_is_refused_and_says_what_to_add(
    browser_page, operator_on, run_in_web_thread
):
    page, name = browser_page, operator_on.name
    log_in(page, "olga")
    page.goto(f"/clusters/{name}/resources/r0/verify/")
    page.get_by_role("button", name="Plan: read every node and judge").click()
    page.wait_for_url(re.compile(r"/workflows/\d+/$"))
    expect(page.locator("#refusals")).to_contain_text("verify-alg sha256;")
    expect(page.get_by_role("button", name="Run workflow")).to_have_count(0)


def test_admin_recovers_from_split_brain_typing_the_resource_name(
    browser_page, lab_cluster, lab, run_in_web_thread
):
    import time

    from lab import api

    page, name = browser_page, lab_cluster.name
    make_user("ada", Role.ADMIN, lab_cluster)
    api.add_session(lab.dir, f"{name}-a", "iqn.1998-01.com.vmware:esx1", io_rate_kb=8192)
    collect_now(lab_cluster)
    api.split_brain(lab.dir, f"{name}-a", "r0")
    time.sleep(1.0)
    collect_now(lab_cluster)
    log_in(page, "ada")
    page.goto(f"/clusters/{name}/")
    page.locator("#split-brain-r0").click()
    expect(page.locator(f"#side-{name}-a")).to_contain_text("iqn.1998-01.com.vmware:esx1")
    expect(page.locator(f"#side-{name}-b")).to_contain_text("recommended victim")
    expect(page.get_by_label(re.compile(f"{name}-b .recommended"))).to_be_checked()
    page.get_by_role("button", name="Plan: read every node and judge").click()
    page.wait_for_url(re.compile(r"/workflows/\d+/$"))
    expect(page.locator("#plan-warnings")).to_contain_text("is DISCARDED")
    expect(page.locator("#workflow-steps li").nth(2)).to_contain_text("--discard-my-data")
    page.get_by_label("Reason").fill("split brain after a switch failure")
    page.get_by_label(re.compile("I have reviewed every step")).check()
    page.get_by_label(re.compile("Type the resource name")).fill("r1")
    page.get_by_role("button", name="Run workflow").click()
    expect(page.locator("#run .refusals")).to_contain_text("Type the resource name (r0)")
    page.get_by_label("Reason").fill("split brain after a switch failure")
    page.get_by_label(re.compile("I have reviewed every step")).check()
    page.get_by_label(re.compile("Type the resource name")).fill("r0")
    page.get_by_role("button", name="Run workflow").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    expect(page.locator("#job-state")).to_have_text("Succeeded")
    expect(page.locator(".job")).to_contain_text("Recovered r0 from split brain")


def test_operator_edits_a_lun_and_the_plan_says_runtime_set_or_re_creation(
    browser_page, operator_on
):
    page, name = browser_page, operator_on.name
    log_in(page, "olga")
    page.goto(f"/clusters/{name}/")
    page.locator("#edit-r0").click()
    expect(page.locator("h1")).to_contain_text("Edit LUN r0")
    expect(page.get_by_label("prod_id")).to_have_value("r0")
    page.get_by_label("prod_id").fill("vmfs-gold")
    page.get_by_label("rotational").select_option("0")
    page.get_by_role("button", name="Plan this edit").click()
    page.wait_for_url(re.compile(r"/plans/\d+/$"))
    row = page.locator(f"#diff-{name}-a .attribute-changes tr", has_text="prod_id")
    expect(row).to_contain_text("runtime set")
    row = page.locator(f"#diff-{name}-a .attribute-changes tr", has_text="rotational")
    expect(row).to_contain_text("re-creation")
    expect(page.locator("#plan-warnings")).to_contain_text("r0 is re-created")
