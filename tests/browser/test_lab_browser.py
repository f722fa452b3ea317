"""In a real browser, against lab nodes collected over SSH: the overview and compliance
page for a cluster with seeded violations, and the add-cluster (adoption) flow."""

import threading

import pytest
from playwright.sync_api import expect

from clusters.models import Cluster, Membership, Role
from clusters.services.labsync import inventory_sync
from lab import api
from tests.browser.conftest import collect_now, log_in, off_the_browser_loop
from tests.factories import make_user

pytestmark = pytest.mark.browser


@pytest.fixture
def broken_lab_cluster(transactional_db, lab):
    off_the_browser_loop(lambda: inventory_sync(lab.manifest))
    cluster = Cluster.objects.get(name=lab.manifest["clusters"][0]["name"])
    api.set_device_attr(lab.dir, f"{cluster.name}-b", "r1", "write_through", "0")
    api.drbd_standalone(lab.dir, f"{cluster.name}-a", "r0")
    collect_now(cluster)
    make_user("olga", Role.OPERATOR, cluster)
    return cluster


def test_overview_and_compliance_show_the_lab_violations(browser_page, broken_lab_cluster):
    page, name = browser_page, broken_lab_cluster.name
    log_in(page, "olga")
    page.goto("/clusters/")
    expect(page.locator(f"#cluster-{name} .badge")).to_have_text("CRITICAL")
    expect(page.locator(f"#cluster-{name}")).to_contain_text("2 / 2")

    page.goto("/compliance/")
    rows = page.locator("#findings tr.finding")
    expect(rows.filter(has_text="SCST_WRITE_BACK")).to_have_count(1)
    expect(rows.filter(has_text="DRBD_NOT_CONNECTED")).to_have_count(1)
    write_back = rows.filter(has_text="SCST_WRITE_BACK")
    write_back.get_by_text("write_through is not 1").first.click()
    expect(write_back).to_contain_text("write_through is 0, must be 1")
    expect(write_back).to_contain_text(f"{name}-b")


def _run_and_close(task, job_id: int) -> None:
    from django.db import connection

    try:
        task(job_id)
    finally:
        connection.close()  # this thread's own connection


def test_admin_adopts_a_cluster_through_the_pages(browser_page, transactional_db, lab, monkeypatch):
    # No worker here: "Collect again" runs the job in the web thread (the worker path is
    # tested in test_collect_through_celery.py).
    from clusters import tasks

    monkeypatch.setattr(tasks.collect_job, "delay", lambda job_id: tasks.collect_job(job_id))
    admin = make_user("ada")
    Membership.objects.create(user=admin, cluster=None, role=Role.ADMIN)
    entry = lab.manifest["clusters"][0]
    page = browser_page
    log_in(page, "ada")
    page.goto("/clusters/")
    page.get_by_role("link", name="Add an existing cluster…").click()
    page.get_by_role("group", name="Cluster").get_by_label("Name").fill(entry["name"])
    for i, node in enumerate(entry["nodes"], start=1):
        page.locator(f"#id_node{i}-name").fill(node["name"])
        page.locator(f"#id_node{i}-address").fill(node["host"])
        page.locator(f"#id_node{i}-ssh_port").fill(str(node["port"]))
        page.locator(f"#id_node{i}-drbd_address").fill(node["address"])
    page.get_by_label("Private key").fill((lab.dir / "client_key").read_text())
    page.get_by_role("button", name="Connect and discover").click()

    for node in entry["nodes"]:
        page.get_by_role("link", name="Review and approve the offered key").first.click()
        expect(page.locator("body")).to_contain_text(node["host_key_fingerprint"])
        page.get_by_label("Reason").fill("compared with the node's console")
        page.get_by_role("button", name="Approve").click()
        page.goto(f"/clusters/{entry['name']}/discover/")
    page.get_by_role("button", name="Collect again").click()
    page.goto(f"/clusters/{entry['name']}/discover/")
    expect(page.locator("#discovery-table")).to_contain_text("t10_dev_id")
    page.get_by_label("Confirm", exact=False).check()
    page.get_by_role("button", name="Import into the inventory").click()
    expect(page.locator("body")).to_contain_text("Imported")
    # The switch is a job: here a thread of this process plays the worker, a moment
    # later, so that the page shows the job's progress and then, polled, its outcome.
    monkeypatch.setattr(
        tasks.manage_job,
        "delay",
        lambda job_id: threading.Timer(1.0, _run_and_close, [tasks.manage_job, job_id]).start(),
    )
    page.get_by_role("button", name="Switch to managed").click()
    expect(page.locator("#switch-job")).to_contain_text("Reading every node of")
    expect(page.locator("#switch-result")).to_contain_text(f"{entry['name']} is managed")
    expect(page.locator("h1")).to_have_text(f"{entry['name']} is managed")
