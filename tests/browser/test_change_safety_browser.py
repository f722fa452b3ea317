"""In a real browser: a plan that went out of date while its page was open is labelled so
and its Apply refused; an apply whose worker was killed mid-change is reconciled from its
reconcile page, through real worker processes."""

import re

import pytest
from playwright.sync_api import Page, expect

from clusters.models import Job, Role
from clusters.services import changes
from tests.browser.conftest import log_in, off_the_browser_loop
from tests.change_support import (
    CONFIG,
    QUEUE,
    apply_job,
    hang,
    node_names,
    runs,
    sigkill,
    unhang,
    wait_for,
    wait_step,
)
from tests.factories import add_lun_change, make_user

pytestmark = pytest.mark.browser


def in_thread(work, *args):
    """Run WORK outside this thread, whose event loop Playwright's sync API occupies."""
    return off_the_browser_loop(lambda: work(*args))


def test_a_plan_gone_out_of_date_is_labelled_and_its_apply_refused(browser_page, spare_cluster):
    page: Page = browser_page
    olga = make_user("olga", Role.OPERATOR, spare_cluster)
    mine = in_thread(
        changes.plan_now, spare_cluster, olga, add_lun_change(spare_cluster, "vmfs1", 1), "1"
    )
    other = in_thread(
        changes.plan_now, spare_cluster, olga, add_lun_change(spare_cluster, "vmfs2", 1), "2"
    )
    log_in(page, "olga")
    page.goto(f"/plans/{mine.pk}/")
    expect(page.locator("#plan-status")).to_contain_text("ready to apply")
    # Meanwhile a colleague applies a change that takes the same LUN number.
    applied = in_thread(changes.apply_run, changes.apply_create(other, olga, "colleague"))
    assert applied.state == Job.State.SUCCEEDED, applied.summary
    page.get_by_label("Reason").fill("datastore for the new cluster")
    page.locator("#id_confirm").check()
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#apply .refusals")).to_contain_text("Out of date")
    assert not Job.objects.filter(kind=Job.Kind.APPLY, params__plan_job=mine.pk).exists()
    page.reload()
    expect(page.locator("#plan-status")).to_contain_text("out of date")
    expect(page.locator("#apply-form")).to_have_count(0)
    expect(page.locator("#apply-unavailable")).to_contain_text("Out of date")


def test_reconcile_page_after_the_worker_was_killed_mid_change(
    browser_page, celery_worker, workers, spare_cluster, lab
):
    page: Page = browser_page
    a, b = node_names(spare_cluster)
    olga = make_user("olga", Role.OPERATOR, spare_cluster)
    doomed = workers.start()
    ready = in_thread(
        changes.plan_now, spare_cluster, olga, add_lun_change(spare_cluster), "add vmfs1"
    )
    hang(lab, b, CONFIG, 60)
    job = apply_job(ready, olga, queue=QUEUE)
    wait_step(job, b, "-noprompt -config")
    sigkill(doomed)
    unhang(lab, b)
    workers.start()  # sweeps at start-up: the job ends interrupted
    job = wait_for(job, 30)
    assert job.state == Job.State.INTERRUPTED

    log_in(page, "olga")
    page.goto(f"/jobs/{job.pk}/")
    expect(page.locator("#job-reconcile")).to_contain_text("stopped while changing nodes")
    expect(page.locator("#job-steps")).to_contain_text("scstadmin -noprompt -config")
    page.get_by_role("link", name="Reconcile page").click()
    expect(page.locator(f"#reconcile-{a}")).to_contain_text("after")
    expect(page.locator(f"#reconcile-{b}")).to_contain_text("before")
    page.get_by_label("Reason").fill("worker killed by the OOM killer")
    page.get_by_role("button", name="Plan: finish the change").click()
    page.wait_for_url(re.compile(r"/plans/\d+/$"))
    expect(page.locator("#plan-status")).to_contain_text("ready to apply", timeout=60_000)
    page.get_by_label("Reason").fill("finish the interrupted change")
    page.locator("#id_confirm").check()
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    expect(page.locator(".badge.job-succeeded")).to_be_visible(timeout=60_000)
    assert runs(lab, a, "vmfs1") and runs(lab, b, "vmfs1")
    page.goto(f"/jobs/{job.pk}/reconcile/")
    expect(page.locator("#reconcile-verdict")).to_contain_text("reconciled")
