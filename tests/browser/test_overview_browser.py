"""In a real browser: the overview's status badges, then the compliance page filtered by
severity (through htmx) and a finding expanded to its remediation."""

import pytest
from playwright.sync_api import expect

from clusters.compliance import CATALOGUE
from clusters.models import Role
from tests import records
from tests.browser.conftest import log_in
from tests.factories import make_cluster, make_user

pytestmark = pytest.mark.browser


@pytest.fixture
def seeded(transactional_db):
    troubled = records.collected(make_cluster("store-a"))
    records.finding(
        troubled,
        "CRITICAL",
        code="SCST_NV_CACHE_ON",
        title="nv_cache is not 0",
        details=[{"node": "store-a-n0", "text": "nv_cache is 1", "evidence": "nv_cache = '1'"}],
    )
    records.finding(troubled, "WARNING", code="DRBD_FENCING", object_ref="drbd:r0")
    records.collected(make_cluster("store-b"))
    make_user("alice", Role.VIEWER, None)


def test_overview_then_compliance_filter_and_expand(browser_page, seeded):
    page = browser_page
    log_in(page, "alice")

    page.goto("/clusters/")
    expect(page.locator("#cluster-store-a .badge")).to_have_text("CRITICAL")
    expect(page.locator("#cluster-store-b .badge")).to_have_text("OK")
    expect(page.locator("#cluster-store-b")).to_contain_text("2 / 2")

    page.get_by_role("link", name="Compliance").click()
    rows = page.locator("#findings tr.finding")
    expect(rows).to_have_count(2)

    page.get_by_label("Severity").select_option("CRITICAL")
    expect(rows).to_have_count(1)
    expect(page).to_have_url("/compliance/?severity=CRITICAL&code=&cluster=", ignore_case=True)
    expect(rows.first).to_contain_text("SCST_NV_CACHE_ON")

    remediation = rows.first.locator(".remediation")
    expect(remediation).to_be_hidden()
    rows.first.get_by_text("nv_cache is not 0").click()
    expect(remediation).to_be_visible()
    expect(remediation).to_contain_text(CATALOGUE["SCST_NV_CACHE_ON"].remediation[:40])
    expect(rows.first).to_contain_text("nv_cache = '1'")
