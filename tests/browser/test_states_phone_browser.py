"""In a real browser, against lab nodes: the pages in the states an operator meets (a
split brain, one node unreachable, one node in maintenance, an adoption whose switch to
managed is running, a running job, workflow plans) fit a phone (390×844) without
page-wide horizontal scroll, and read right on a desktop (1440×900).

Screenshots go to a temporary directory; with PORTAL_SCREENSHOTS_DIR=docs/screenshots
the maintenance ones refresh those the README's maintenance step links to.
"""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from clusters import workflow_tasks
from clusters.models import Cluster, DrbdResource, DrbdVolume, Job, JobEvent, Role
from clusters.services import adoption, workflows
from clusters.services.labsync import inventory_sync
from lab import api
from tests.browser.conftest import collect_now, log_in, off_the_browser_loop
from tests.factories import make_cluster, make_user

pytestmark = pytest.mark.browser

SIZES = {"desktop": (1440, 900), "phone": (390, 844)}
ESX1, ESX2 = "iqn.1998-01.com.vmware:esx1", "iqn.1998-01.com.vmware:esx2"
# The README's maintenance step links to these (docs/screenshots/).
README_SHOTS = {"cluster-maintenance"}
MAUVE = "rgb(232, 224, 245)"  # .badge.maintenance


@pytest.fixture
def states(transactional_db, lab_factory, monkeypatch):
    """c001 healthy (sessions on both nodes, for the drain), c002 split brain on r0,
    c003 adopted and still observed, c004 with node c004-b unreachable; a factory
    cluster with a free DRBD resource for the wizard; workflow runs happen in the web
    thread."""
    lab = lab_factory(4)
    off_the_browser_loop(lambda: inventory_sync(lab.manifest))
    for node in ("c001-a", "c001-b"):
        for initiator in (ESX1, ESX2):
            api.add_session(lab.dir, node, initiator, io_rate_kb=256)
    api.split_brain(lab.dir, "c002-a", "r0")
    for name in ("c001", "c002", "c004"):
        collect_now(Cluster.objects.get(name=name))
    api.set_fault(lab.dir, "c004-b", down=True)
    lab.wait_for_faults()
    collect_now(Cluster.objects.get(name="c004"))

    admin = make_user("admin", is_superuser=True, is_staff=True)
    c003 = Cluster.objects.get(name="c003")
    c003.devices.all().delete()  # devices protect their DRBD resources
    c003.delete()
    entry = next(c for c in lab.manifest["clusters"] if c["name"] == "c003")
    nodes = [
        adoption.NodeInput(n["name"], n["host"], n["port"], "root", n["address"])
        for n in entry["nodes"]
    ]
    adopted = adoption.cluster_register(
        admin, "c003", "9", nodes, (lab.dir / "client_key").read_text()
    )
    collect_now(adopted, admin)  # host keys offered, not approved yet

    free = make_cluster("store-w")
    resource = DrbdResource.objects.create(cluster=free, name="r1", port=7800)
    for node in free.nodes.all():
        DrbdVolume.objects.create(
            resource=resource, node=node, minor=1, backing_disk="/dev/vg0/lun1"
        )
    monkeypatch.setattr(
        workflow_tasks.workflow_apply_job,
        "delay",
        lambda job_id: workflows.apply_run(Job.objects.get(pk=job_id)),
    )
    return lab


def running_job(cluster: Cluster, kind: str, user) -> Job:
    """A job still running, with the progress a worker has recorded so far."""
    job = Job.objects.create(kind=kind, cluster=cluster, requested_by=user, state="running")
    for node in cluster.nodes.order_by("name"):
        JobEvent.objects.create(job=job, node=node, step="read", message="read over SSH")
    JobEvent.objects.create(
        job=job, step="wait", message="waiting for 2 session(s) to close (10 s of 300 s)"
    )
    return job


def overflow(page: Page) -> int:
    """How far the page is wider than the window (0: no horizontal page scroll)."""
    return page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")


class Visit:
    """Each page at both sizes: its screenshot, and whether it is wider than a phone."""

    def __init__(self, page: Page, out: Path) -> None:
        self.page, self.out = page, out
        self.wide: list[str] = []
        self.seen: list[str] = []

    def __call__(self, name: str, url: str | None = None) -> None:
        if url:
            self.page.goto(url)
        self.seen.append(name)
        for size, (width, height) in SIZES.items():
            self.page.set_viewport_size({"width": width, "height": height})
            self.page.screenshot(path=self.out / f"{name}-{size}.png", full_page=True)
            if size == "phone" and overflow(self.page) > 0:
                self.wide.append(f"{name}: {overflow(self.page)} px wider than the phone")
        self.page.set_viewport_size({"width": 1440, "height": 900})


def shots_dir(tmp_path: Path) -> Path:
    target = os.environ.get("PORTAL_SCREENSHOTS_DIR")
    if target:
        return Path(target)
    return tmp_path


def plan_and_visit(page: Page, visit: Visit, name: str, start: str) -> None:
    """Open a workflow's start page from its button, plan it and see both pages."""
    page.locator(start).click()
    visit(f"{name}-start")
    page.get_by_role("button", name="Plan: read every node and judge").click()
    page.wait_for_url(re.compile(r"/workflows/\d+/$"))
    visit(f"{name}-plan")


def test_pages_in_every_state_fit_a_phone(browser_page, states, tmp_path):
    page, out = browser_page, tmp_path
    visit = Visit(page, out)
    admin = make_user("ada", Role.ADMIN, None)
    log_in(page, "admin")
    visit("overview", "/clusters/")
    visit("cluster-healthy", "/clusters/c001/")
    visit("cluster-split-brain", "/clusters/c002/")
    expect(page.locator("#resource-row-r0")).to_have_class("h-row-critical")
    page.set_viewport_size({"width": 390, "height": 844})
    for action in ("#split-brain-r0", "#drain-c002-b", "#grow-r0"):  # not scrolled away
        box = page.locator(action).bounding_box()
        assert box["x"] + box["width"] <= 390, f"{action} is off the phone's screen"
    page.set_viewport_size({"width": 1440, "height": 900})
    visit("cluster-unreachable", "/clusters/c004/")
    visit("compliance", "/compliance/")
    page.set_viewport_size({"width": 390, "height": 844})
    first = page.locator("#findings tr.finding").first
    expect(first.locator('td[data-label="Finding"]')).to_be_in_viewport()  # rows stack
    page.set_viewport_size({"width": 1440, "height": 900})
    visit("alerts", "/alerts/")
    visit("people", "/people/")
    visit("audit", "/audit/")

    # Adoption: add, discover with unapproved host keys, approve one, the mode page with
    # its switch job running.
    visit("adoption-add", "/add-cluster/")
    expect(page.get_by_label("SSH port").first).to_have_value("22")
    expect(page.get_by_label("DRBD replication address")).to_have_count(2)
    visit("adoption-discover", "/clusters/c003/discover/")
    expect(page.locator("#import-waits")).to_contain_text("Nothing to import until")
    expect(page.locator("body")).not_to_contain_text("Both nodes run the same settings")
    visit("host-key", "/clusters/c003/nodes/c003-a/approve-host-key/")
    page.set_viewport_size({"width": 390, "height": 844})
    fingerprint = page.locator("code.fingerprint").bounding_box()
    assert fingerprint["x"] + fingerprint["width"] <= 390  # compared whole, never cut
    page.set_viewport_size({"width": 1440, "height": 900})
    c003 = Cluster.objects.get(name="c003")
    switch = running_job(c003, Job.Kind.MANAGE, admin)
    visit("adoption-mode", f"/clusters/c003/mode/?job={switch.pk}")
    expect(page.locator("#switch-job")).to_contain_text("Reading every node of c003")

    running = running_job(Cluster.objects.get(name="c001"), Job.Kind.WORKFLOW, admin)
    visit("jobs-list", "/jobs/")
    visit("job-running", f"/jobs/{running.pk}/")
    running.delete()

    # The add-LUN wizard, each step, up to its plan.
    page.goto("/clusters/store-w/luns/add/")
    visit("wizard-cluster")
    page.get_by_role("button", name="Next").click()
    page.get_by_label("r1", exact=True).check()
    visit("wizard-resource")
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Device name").fill("vmfs1")
    page.get_by_role("group", name=re.compile("SCSI reservations")).get_by_label("Yes").check()
    visit("wizard-device")
    page.get_by_role("button", name="Next").click()
    visit("wizard-luns")
    page.get_by_role("button", name="Next").click()
    page.get_by_label(re.compile("MRU or Fixed on every VMware host")).check()
    visit("wizard-multipath")
    page.get_by_role("button", name="Next").click()
    visit("wizard-review")

    # Day-2 workflows from the cluster pages: grow, verify, split brain, maintenance.
    page.goto("/clusters/c001/")
    plan_and_visit(page, visit, "grow", "#grow-r0")
    page.goto("/clusters/c001/")
    plan_and_visit(page, visit, "verify", "#verify-r1")
    page.goto("/clusters/c002/")
    plan_and_visit(page, visit, "split-brain", "#split-brain-r0")
    page.goto("/clusters/c001/")
    page.locator("#drain-c001-b").click()
    page.locator("#drbd-option").check()
    visit("maintenance-start")
    page.get_by_role("button", name="Plan: read every node and judge").click()
    page.wait_for_url(re.compile(r"/workflows/\d+/$"))
    visit("maintenance-plan")
    expect(page.locator("#plan-status")).to_contain_text("ready to apply")
    page.get_by_label("Reason").fill("replace a disk on b")
    page.get_by_label(re.compile("I have reviewed every step")).check()
    page.get_by_role("button", name="Run workflow").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    expect(page.locator("#job-state")).to_have_text("Succeeded")
    visit("maintenance-job")
    page.goto("/clusters/c001/")
    expect(page.locator("#maintenance-c001-b")).to_have_text("c001-b in maintenance")
    visit("cluster-maintenance")
    # On a desktop too (the rules at the end of portal.css once applied on phones only).
    expect(page.locator("#maintenance-c001-b")).to_have_css("background-color", MAUVE)
    expect(page.get_by_text("Menu", exact=True)).to_be_hidden()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    visit("overview-maintenance", "/clusters/")
    page.goto("/clusters/c001/")
    page.get_by_role("button", name="Bring nodes back to the inventory…").click()
    page.wait_for_url(re.compile(r"/plans/\d+/$"))
    visit("enforce-plan")  # refused while a node is in maintenance
    expect(page.locator("#plan-status")).to_contain_text("reasons, below")  # not repeated
    expect(page.locator("#refusals")).to_contain_text("c001-b is in maintenance")
    page.goto("/clusters/c001/")
    plan_and_visit(page, visit, "return", "#return-c001-b")

    assert visit.wide == [], visit.wide
    assert len(visit.seen) >= 30
    readme = shots_dir(tmp_path)
    if readme != out:
        readme.mkdir(parents=True, exist_ok=True)
        for name in README_SHOTS:
            for size in SIZES:
                shot = f"{name}-{size}.png"
                (readme / shot).write_bytes((out / shot).read_bytes())
