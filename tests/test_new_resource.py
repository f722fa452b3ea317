"""Adding a LUN on a new DRBD resource, against lab nodes: the wizard reads the backing
disks' sizes on the nodes, the plan shows the new .res on both nodes, the apply creates
the resource (create-md, up, new-current-uuid --clear-bitmap, primary) before SCST
exports it, and a failure takes it down again on every node."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from clusters.models import DrbdResource, DrbdVolume, Job, Role, ScstDevice
from clusters.services import changes
from lab import api
from tests.factories import make_user
from tests.test_wizard import WizardClient, entries

GIB = 1024**3
RES = "/etc/drbd.d/r9.res"


@pytest.fixture
def operator(lab_cluster):
    return make_user("op", Role.OPERATOR, lab_cluster)


@pytest.fixture
def wizard(lab_cluster, operator):
    client = Client()
    client.force_login(operator)
    return WizardClient(client, lab_cluster)


def node_names(cluster) -> list[str]:
    return [n.name for n in cluster.nodes.order_by("name")]


def new_resource(cluster, disks: dict[str, str] | None = None, **fields) -> dict:
    """The resource step's fields for a new r9 on /dev/lab/spare0 (minor 2, port 7791:
    the lab's r0 and r1 use minors 0, 1 and ports 7789, 7790)."""
    posted = {"resource": "+new", "new_name": "r9", "new_port": "7791", "new_empty": "on"}
    for name in node_names(cluster):
        posted[f"disk_{name}"] = (disks or {}).get(name, "/dev/lab/spare0")
        posted[f"minor_{name}"] = "2"
    return posted | fields


def walk(wizard: WizardClient, cluster, resource: dict) -> None:
    """Through every step to the review, the LUN as number 2 on every target."""
    steps = entries(cluster, luns={"lun": "2"}, device={"device_name": "vmfs9"})
    steps["resource"] = resource
    for step, fields in steps.items():
        assert wizard.step == step, wizard.text
        wizard.post(**fields)
    assert wizard.step == "review", wizard.text


def counts() -> tuple[int, int, int, int]:
    """Inventory rows and jobs (collections aside: a plan reads the nodes first)."""
    return (
        DrbdResource.objects.count(),
        DrbdVolume.objects.count(),
        ScstDevice.objects.count(),
        Job.objects.exclude(kind=Job.Kind.COLLECT).count(),
    )


def drbd_side(lab, node_name: str, resource: str):
    node = api.node(lab.dir, node_name)
    with node.session():
        run = node.cluster.resources.get(resource)
        return run.sides.get(node_name) if run else None


def scst_device(lab, node_name: str, name: str):
    node = api.node(lab.dir, node_name)
    with node.session():
        return node.state.scst.devices.get(name)


def res_file_on(lab, node_name: str) -> bool:
    return (lab.dir / "nodes" / node_name / "root" / RES.lstrip("/")).exists()


def plan_through_wizard(wizard, cluster) -> Job:
    walk(wizard, cluster, new_resource(cluster))
    wizard.post()
    return Job.objects.get(kind=Job.Kind.PLAN)


# --- the resource step ---------------------------------------------------------------------


def test_resource_step_offers_the_next_free_port_and_the_lowest_free_minors(wizard, lab_cluster):
    wizard.post()
    assert wizard.step == "resource"
    assert 'name="new_port" value="7791"' in wizard.text
    for name in node_names(lab_cluster):
        assert f'name="minor_{name}" value="2"' in wizard.text
    assert "The backing disks are new and empty: their contents will be discarded" in wizard.text


def plan_with_disks(wizard, cluster, **fields) -> Job:
    """Through the wizard to its plan: the plan job reads the disks on the nodes."""
    walk(wizard, cluster, new_resource(cluster, **fields))
    wizard.post()
    return Job.objects.get(kind=Job.Kind.PLAN)


def test_disks_of_different_sizes_are_refused_with_both_sizes(wizard, lab_cluster, lab):
    a, b = node_names(lab_cluster)
    api.set_disk(lab.dir, b, "/dev/lab/spare0", 5 * GIB)
    before = counts()
    plan = plan_with_disks(wizard, lab_cluster)
    assert plan.state == Job.State.REFUSED
    assert "The backing disks differ in size by more than 1 MiB" in plan.summary
    assert f"{a}: /dev/lab/spare0 is {10 * GIB} bytes (10.00 GiB)" in plan.summary
    assert f"{b}: /dev/lab/spare0 is {5 * GIB} bytes (5.00 GiB)" in plan.summary
    assert counts()[:3] == before[:3]  # no inventory row (the refused plan is a job)


def test_sizes_within_one_mib_are_accepted(wizard, lab_cluster, lab):
    _, b = node_names(lab_cluster)
    api.set_disk(lab.dir, b, "/dev/lab/spare0", 10 * GIB - 512 * 1024)
    plan = plan_with_disks(wizard, lab_cluster)
    assert plan.state == Job.State.SUCCEEDED, plan.summary


def test_a_disk_missing_on_a_node_is_refused_with_the_node_s_answer(wizard, lab_cluster):
    _, b = node_names(lab_cluster)
    before = counts()
    plan = plan_with_disks(wizard, lab_cluster, disks={b: "/dev/lab/nope"})
    assert plan.state == Job.State.REFUSED
    assert f"{b}: cannot read the size of /dev/lab/nope (no block device at this path)" in (
        plan.summary
    )
    assert counts()[:3] == before[:3]  # no inventory row (the refused plan is a job)


def test_the_disk_probe_opens_block_devices_under_dev_only(lab_cluster, lab):
    from asgiref.sync import async_to_sync

    from clusters import probe
    from clusters.services.collection import endpoint_for

    _, b = node_names(lab_cluster)
    endpoint = endpoint_for(lab_cluster.nodes.get(name=b))
    disks = ["/etc/shadow", "/dev/lab/../../etc/shadow", "/dev/null-not-there", "/dev/lab/spare0"]
    sizes = async_to_sync(probe.disk_sizes)([(endpoint, d) for d in disks])
    assert [s.error for s in sizes[:3]] == [
        "not a path under /dev/",
        "not a path under /dev/",
        "no block device at this path",  # `test -b` said no: blockdev never opened it
    ]
    assert sizes[3].size == 10 * GIB


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"new_empty": ""}, "Confirm that the backing disks are new and empty"),
        ({"new_name": "r0"}, "already has a DRBD resource r0."),
        ({"new_name": "r 9"}, "Use 1–63 characters"),
        ({"new_port": "7789"}, "Port 7789 is used by DRBD r0; the next free one is 7791."),
        ({"new_port": "70000"}, "Ensure this value is less than or equal to 65535."),
    ],
)
def test_bad_new_resource_entries_are_refused(wizard, lab_cluster, fields, message):
    wizard.post()
    before = counts()
    wizard.post(**new_resource(lab_cluster, **fields))
    assert wizard.step == "resource"
    assert message in wizard.text.replace("&#x27;", "'")
    assert counts()[:3] == before[:3]  # no inventory row (the refused plan is a job)


def test_a_taken_minor_or_disk_is_refused(wizard, lab_cluster):
    a, _ = node_names(lab_cluster)
    wizard.post()
    wizard.post(**new_resource(lab_cluster, disks={a: "/dev/lab/r0"}, **{f"minor_{a}": "1"}))
    assert wizard.step == "resource"
    assert f"/dev/lab/r0 is the backing disk of DRBD r0 on {a}." in wizard.text
    assert f"Minor 1 is used by DRBD r1 on {a}; the lowest free one is 2." in wizard.text


# --- plan and apply ---------------------------------------------------------------------------


def test_the_plan_shows_the_new_resource_file_on_both_nodes(wizard, lab_cluster, lab):
    before = counts()
    plan_job = plan_through_wizard(wizard, lab_cluster)
    assert plan_job.state == Job.State.SUCCEEDED, plan_job.summary
    assert "new DRBD r9, port 7791" in plan_job.summary
    plan = changes.Plan.from_json(plan_job.params)
    assert plan.change["new_resource"]["name"] == "r9"
    for node_plan in plan.nodes:
        assert node_plan.new_drbd_resources == ["r9"]
        assert node_plan.drbd_adjust == []
        res = next(f for f in node_plan.files if f.path == RES)
        assert res.before == ""
        assert "resource r9" in res.after and "/dev/lab/spare0" in res.after
        assert ":7791" in res.after and "minor 2" in res.after
    page = wizard.client.get(reverse("plan-detail", args=[plan_job.pk])).content.decode()
    assert page.count("New DRBD resources created: r9") == 2
    assert counts() == (before[0], before[1], before[2], before[3] + 1)  # a plan, nothing else
    assert not res_file_on(lab, node_names(lab_cluster)[0])


def test_apply_creates_the_resource_dual_primary_and_exports_the_lun(wizard, lab_cluster, lab):
    plan_job = plan_through_wizard(wizard, lab_cluster)
    job = changes.apply_run(changes.apply_create(plan_job, plan_job.requested_by, "datastore 9"))
    assert job.state == Job.State.SUCCEEDED, job.summary
    a, b = node_names(lab_cluster)
    for name in (a, b):
        side = drbd_side(lab, name, "r9")
        assert (side.role, side.cstate) == ("Primary", "Connected")
        assert [v.disk for v in side.volumes] == ["UpToDate"]
        device = scst_device(lab, name, "vmfs9")
        assert device.attrs["write_through"] == "1"
        assert device.attrs["filename"] == "/dev/drbd2"
        assert res_file_on(lab, name)
    resource = DrbdResource.objects.get(cluster=lab_cluster, name="r9")
    assert (resource.port, resource.volumes.count()) == (7791, 2)
    assert ScstDevice.objects.get(cluster=lab_cluster, name="vmfs9").drbd_resource == resource
    steps = list(job.events.values_list("node__name", "step", "level"))
    assert (a, "new-current-uuid", "ok") in steps
    assert (b, "new-current-uuid", "ok") not in steps  # one node only
    assert (a, "primary", "ok") in steps and (b, "primary", "ok") in steps
    assert not lab_cluster.findings.filter(resolved_at=None).exists(), list(
        lab_cluster.findings.filter(resolved_at=None).values_list("code", "object_ref")
    )


def test_create_md_failing_on_the_second_node_takes_the_resource_down_everywhere(
    wizard, lab_cluster, lab
):
    plan_job = plan_through_wizard(wizard, lab_cluster)
    a, b = node_names(lab_cluster)
    api.set_fault(lab.dir, b, fail_on="create-md", fail_stderr="create-md: disk is busy\n")
    lab.wait_for_faults()
    job = changes.apply_run(changes.apply_create(plan_job, plan_job.requested_by, "datastore 9"))
    assert job.state == Job.State.FAILED
    assert re.search(rf"{b}: create-md: `drbdadm create-md --force r9` exited 1", job.summary)
    assert f"{a}: rolled back" in job.summary and f"{b}: rolled back" in job.summary
    for name in (a, b):
        side = drbd_side(lab, name, "r9")
        assert side is None or not side.up
        assert not res_file_on(lab, name)
        assert scst_device(lab, name, "vmfs9") is None
    assert not DrbdResource.objects.filter(name="r9").exists()
    assert not ScstDevice.objects.filter(name="vmfs9").exists()
    rollback = job.events.filter(step="rollback", level="ok")
    assert {e.node.name for e in rollback} == {a, b}


def test_scst_failing_after_the_resource_is_up_removes_the_export_then_the_resource(
    wizard, lab_cluster, lab
):
    plan_job = plan_through_wizard(wizard, lab_cluster)
    a, b = node_names(lab_cluster)
    api.set_fault(lab.dir, b, fail_on="-config /etc/scst.conf", fail_stderr="boom\n")
    lab.wait_for_faults()
    job = changes.apply_run(changes.apply_create(plan_job, plan_job.requested_by, "datastore 9"))
    assert job.state == Job.State.FAILED
    assert f"{a}: rolled back" in job.summary and f"{b}: rolled back" in job.summary
    for name in (a, b):
        # SCST let go of /dev/drbd2 first: the lab refuses `drbdadm down` of an open device.
        assert scst_device(lab, name, "vmfs9") is None
        side = drbd_side(lab, name, "r9")
        assert side is None or not side.up
        assert not res_file_on(lab, name)
        assert drbd_side(lab, name, "r0").role == "Primary"  # the rest is untouched


def test_a_resource_already_on_a_node_refuses_the_plan(wizard, lab_cluster, lab):
    a, _ = node_names(lab_cluster)
    (lab.dir / "nodes" / a / "root" / RES.lstrip("/")).write_text("# made by hand\n")
    plan_job = plan_through_wizard(wizard, lab_cluster)
    assert plan_job.state == Job.State.REFUSED
    assert f"{a}: {RES} already exists on the node." in plan_job.summary


def test_a_resource_name_pacemaker_manages_is_never_brought_up_by_the_portal(
    wizard, lab_cluster, lab
):
    from lab import stack

    for node in node_names(lab_cluster):
        stack.set_stack(lab.dir, node, drbd_clones={"r9": 2})  # the CIB already has it
    plan = plan_with_disks(wizard, lab_cluster)
    assert plan.state == Job.State.REFUSED
    assert "Pacemaker manages DRBD r9 (ocf:linbit:drbd, resource ms_drbd_r9)" in plan.summary
    for node in node_names(lab_cluster):
        assert f"`crm_resource --resource ms_drbd_r9 --ban --node {node}`" in plan.summary
        assert f"`crm_resource --resource ms_drbd_r9 --clear --node {node}`" in plan.summary
