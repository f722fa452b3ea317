"""The pages a storage admin reads at a glance, in a real browser at desktop and phone
sizes: the overview, a healthy and a split-brain cluster, and the import page.

Screenshots go to a temporary directory; with PORTAL_SCREENSHOTS_DIR=docs/screenshots
they refresh the ones the README links to.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from clusters.models import Cluster, Role
from clusters.services import adoption, hostkeys
from clusters.services.labsync import inventory_sync
from lab import api
from tests.browser.conftest import collect_now, log_in, off_the_browser_loop
from tests.factories import make_user

pytestmark = pytest.mark.browser

SIZES = {"desktop": (1440, 900), "phone": (390, 844)}


@pytest.fixture
def four_clusters(transactional_db, lab_factory):
    """c001 healthy, c002 split brain, c003 to adopt (its nodes differ), c004 unreachable
    with a last-known CRITICAL."""
    lab = lab_factory(4)
    off_the_browser_loop(lambda: inventory_sync(lab.manifest))
    api.split_brain(lab.dir, "c002-a", "r0")
    api.set_device_attr(lab.dir, "c004-b", "r1", "t10_dev_id", "deadbeef-r1")
    for name in ("c001", "c002", "c004"):
        cluster = Cluster.objects.get(name=name)
        collect_now(cluster)
    for suffix in "ab":
        api.set_fault(lab.dir, f"c004-{suffix}", down=True)
    lab.wait_for_faults()
    collect_now(Cluster.objects.get(name="c004"))

    c003 = Cluster.objects.get(name="c003")
    c003.devices.all().delete()  # devices protect their DRBD resources
    c003.delete()
    admin = make_user("admin", is_superuser=True, is_staff=True)
    api.set_device_attr(lab.dir, "c003-b", "r0", "t10_dev_id", "deadbeef-r0")
    entry = next(c for c in lab.manifest["clusters"] if c["name"] == "c003")
    nodes = [
        adoption.NodeInput(n["name"], n["host"], n["port"], "root", n["address"])
        for n in entry["nodes"]
    ]
    adopted = adoption.cluster_register(
        admin, "c003", "9", nodes, (lab.dir / "client_key").read_text()
    )
    collect_now(adopted, admin)
    for node in adopted.nodes.all():
        off_the_browser_loop(
            lambda n=node: hostkeys.host_key_approve(n, admin, "compared with the console")
        )
    collect_now(adopted, admin)
    make_user("vera", Role.VIEWER, None)
    return lab


def shots_dir(tmp_path) -> Path:
    target = os.environ.get("PORTAL_SCREENSHOTS_DIR")
    directory = Path(target) if target else tmp_path
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def test_pages_at_a_glance_on_desktop_and_phone(browser_page, four_clusters, tmp_path):
    page, out = browser_page, shots_dir(tmp_path)
    log_in(page, "admin")
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})

        page.goto("/clusters/")
        expect(page.locator("#cluster-c001 .badge")).to_have_text("OK")
        expect(page.locator("#cluster-c002 .badge")).to_have_text("CRITICAL")
        expect(page.locator("#cluster-c004 .badge")).to_have_text("UNKNOWN")
        expect(page.locator("#cluster-c004")).to_contain_text("last known CRITICAL")
        page.screenshot(path=out / f"overview-{size}.png", full_page=True)

        page.goto("/clusters/c001/")
        expect(page.locator("#resource-row-r0")).to_have_class("h-row-ok")
        page.screenshot(path=out / f"cluster-healthy-{size}.png", full_page=True)

        page.goto("/clusters/c002/")
        row = page.locator("#resource-row-r0")
        expect(row).to_have_class("h-row-critical")
        expect(row.locator(".chip.h-critical").first).to_contain_text("StandAlone")
        page.screenshot(path=out / f"cluster-split-brain-{size}.png", full_page=True)

        page.goto("/clusters/c003/discover/")
        page.locator('input[name="choice-device:r0:t10_dev_id"]').first.check()
        page.get_by_role("button", name="Preview").click()
        expect(page.locator("#import-preview")).to_contain_text("inventory says")
        page.screenshot(path=out / f"import-{size}.png", full_page=True)
