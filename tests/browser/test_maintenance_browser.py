"""In a real browser, against lab nodes: maintenance of one node. Start the drain from
the cluster page's node row (with the DRBD option), read the plan (the disable, the
force_close of each session, the demotion), run it, follow its progress on the job page,
see the node *in maintenance* on the cluster page and the overview, then return it."""

import re

import pytest
from playwright.sync_api import Page, expect

from lab import api
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser
ESX1, ESX2 = "iqn.1998-01.com.vmware:esx1", "iqn.1998-01.com.vmware:esx2"


def run_plan(page: Page, reason: str) -> None:
    expect(page.locator("#plan-status")).to_contain_text("ready to apply")
    page.get_by_label("Reason").fill(reason)
    page.get_by_label(re.compile("I have reviewed every step")).check()
    page.get_by_role("button", name="Run workflow").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    expect(page.locator("#job-state")).to_have_text("Succeeded")


def test_operator_drains_a_node_from_the_cluster_page_and_returns_it(
    browser_page, operator_on, lab, run_in_web_thread
):
    page, name = browser_page, operator_on.name
    a, b = f"{name}-a", f"{name}-b"
    for node in (a, b):
        for initiator in (ESX1, ESX2):
            api.add_session(lab.dir, node, initiator, io_rate_kb=256)
    log_in(page, "olga")
    page.goto(f"/clusters/{name}/")
    page.locator(f"#drain-{b}").click()
    expect(page.locator("h1")).to_contain_text(f"Maintenance of {b}")
    expect(page.locator("#workflow-intro")).to_contain_text("force_close")
    page.locator("#drbd-option").check()
    page.get_by_role("button", name="Plan: read every node and judge").click()
    page.wait_for_url(re.compile(r"/workflows/\d+/$"))

    expect(page.locator("#plan-description")).to_contain_text(f"drain {b} and demote DRBD")
    steps = page.locator("#workflow-steps li")
    expect(steps.nth(0)).to_contain_text("scstadmin -noprompt -disable_target")
    expect(steps.nth(1)).to_contain_text(f"sessions/{ESX1}/force_close")
    expect(steps.nth(1)).to_contain_text("""sh -c 'echo 1 > "$1"' sh /sys/""")  # as run
    expect(page.locator("#workflow-steps")).to_contain_text("drbdadm secondary r0")
    expect(page.locator("#plan-warnings")).to_contain_text("is NOT replicated")
    expect(page.locator(f"#facts-{a}")).to_contain_text(ESX2)
    run_plan(page, "replace a disk on b")
    job = page.locator(".job")
    expect(job).to_contain_text("no session, no active command")  # the drain's progress
    expect(job).to_contain_text(f"{b} is in maintenance")

    page.goto(f"/clusters/{name}/")
    expect(page.locator(f"#maintenance-{b}")).to_have_text(f"{b} in maintenance")
    expect(page.locator(f"#node-{b}")).to_contain_text("in maintenance")
    expect(page.locator("#cluster-status .badge").first).not_to_have_text("CRITICAL")
    expect(page.locator("#findings")).to_contain_text("expected during maintenance")
    page.goto("/")
    expect(page.locator(f"#cluster-{name}")).to_contain_text(f"{b} in maintenance")

    page.goto(f"/clusters/{name}/")
    page.locator(f"#return-{b}").click()
    expect(page.locator("h1")).to_contain_text(f"Return {b} from maintenance")
    page.get_by_role("button", name="Plan: read every node and judge").click()
    page.wait_for_url(re.compile(r"/workflows/\d+/$"))
    expect(page.locator("#workflow-steps")).to_contain_text("drbdadm connect r0")
    run_plan(page, "disk replaced")
    expect(page.locator(".job")).to_contain_text("2 initiator(s) logged in again")
    page.goto(f"/clusters/{name}/")
    expect(page.locator(f"#drain-{b}")).to_be_visible()
    expect(page.locator(f"#maintenance-{b}")).to_have_count(0)
