"""In a real browser: an admin adds a user, gives and takes a role and deactivates them;
a user makes an API token (shown once) and revokes it; an LDAP user lands with the role
their directory group maps to; the API docs render from the vendored Swagger UI."""

import pytest
from playwright.sync_api import expect

from clusters.models import Membership, Role
from tests.browser.conftest import log_in
from tests.factories import make_cluster, make_user

pytestmark = pytest.mark.browser


@pytest.fixture
def seeded(transactional_db):
    make_cluster("store-a")
    make_user("boss", Role.ADMIN, None)


def test_admin_adds_a_user_gives_and_takes_a_role_and_deactivates(browser_page, seeded):
    page = browser_page
    log_in(page, "boss")
    page.get_by_role("link", name="People").click()
    page.get_by_role("link", name="Add or invite a user").click()
    page.get_by_label("User name").fill("dana")
    page.get_by_label("E-mail").fill("dana@example.org")
    page.get_by_label("Password").fill("dana-has-a-long-passphrase")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator(".messages")).to_contain_text("dana can now log in.")

    page.locator("#grant").get_by_label("Role").select_option("operator")
    page.locator("#grant").get_by_label("On").select_option("store-a")
    page.get_by_role("button", name="Give role").click()
    expect(page.locator(".messages")).to_contain_text("dana is now Operator on cluster store-a.")
    expect(page.locator("#roles")).to_contain_text("store-a")

    page.get_by_role("button", name="Take away Operator on store-a").click()
    expect(page.locator("#roles")).to_contain_text("No role")
    assert not Membership.objects.filter(user__username="dana").exists()

    page.get_by_label("Reason").fill("contract ended")
    page.get_by_role("button", name="Deactivate dana").click()
    expect(page.locator("#person-state")).to_have_text("deactivated")

    page.get_by_role("link", name="Audit").click()
    expect(page.locator("table.audit")).to_contain_text("contract ended")


def test_user_creates_a_token_shown_once_and_revokes_it(browser_page, seeded):
    page = browser_page
    log_in(page, "boss")
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Token name").fill("prometheus")
    page.get_by_role("button", name="Create token").click()
    key = page.locator("#token-key").inner_text()
    assert key.startswith("sdp_")
    expect(page.locator("#tokens")).to_contain_text(key[:12])

    page.reload()  # the key was shown once; the reload neither shows it nor makes another
    expect(page.locator("#token-key")).to_have_count(0)
    expect(page.locator("#tokens")).not_to_contain_text(key)
    expect(page.locator("#tokens tr.token")).to_have_count(1)

    page.get_by_role("button", name="Revoke token prometheus").click()
    expect(page.locator("#tokens")).to_contain_text("revoked")


def test_ldap_user_lands_with_the_role_their_group_maps_to(browser_page, seeded, ldap_directory):
    page = browser_page
    log_in(page, "bob", "ldap-bob")
    expect(page.locator("#cluster-store-a")).to_be_visible()
    page.get_by_role("link", name="store-a").first.click()
    expect(page.locator("h1")).to_contain_text("your role: Operator")
    expect(page.get_by_role("link", name="People")).to_have_count(0)


def test_api_docs_render_from_vendored_swagger_ui(browser_page, seeded):
    page = browser_page
    log_in(page, "boss")
    page.get_by_role("link", name="API docs").click()
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("SCST + DRBD portal API")
