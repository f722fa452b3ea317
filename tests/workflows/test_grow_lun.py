"""Grow a LUN: plan → run through the real worker → read both nodes after each step;
refusals (disks not grown, not matching, shrunk, unhealthy pair) and a peer failing
mid-workflow."""

import time

import pytest
from django.urls import reverse

from clusters.models import Job, NodeStep, Role
from clusters.services import workflows
from clusters.services.change_kinds import GrowLun
from lab import api, workflow_cmds
from tests.factories import make_user

GIB = 1024**3


@pytest.fixture
def operator(lab_cluster):
    return make_user("op", Role.OPERATOR, lab_cluster)


def names(cluster) -> tuple[str, str]:
    return f"{cluster.name}-a", f"{cluster.name}-b"


def sizes(lab, node_name: str) -> tuple[int, int, int]:
    """(backing disk bytes, DRBD r0 KiB, SCST r0 size bytes) as the node holds them."""
    node = api.node(lab.dir, node_name)
    with node.session():
        side = node.cluster.resources["r0"].sides[node_name]
        return (
            node.state.disks["/dev/lab/r0"],
            side.volumes[0].size_kib,
            node.state.scst.devices["r0"].size,
        )


def grow_disks(lab, cluster, a_bytes: int, b_bytes: int) -> None:
    a, b = names(cluster)
    workflow_cmds.grow_disk(lab.dir, a, "/dev/lab/r0", a_bytes)
    workflow_cmds.grow_disk(lab.dir, b, "/dev/lab/r0", b_bytes)


def plan(cluster, user) -> Job:
    job = workflows.plan_create(cluster, user, GrowLun("r0"), "Grow LUN r0")
    return workflows.plan_run(job)


def test_grow_is_refused_until_both_backing_disks_grew(lab, lab_cluster, operator):
    job = plan(lab_cluster, operator)
    assert job.state == Job.State.REFUSED
    assert "Nothing to grow" in job.summary
    a, _ = names(lab_cluster)
    workflow_cmds.grow_disk(lab.dir, a, "/dev/lab/r0", 12 * GIB)
    job = plan(lab_cluster, operator)
    assert job.state == Job.State.REFUSED
    assert "differ by more than 1 MiB" in job.summary


def test_shrinking_is_refused(lab, lab_cluster, operator):
    grow_disks(lab, lab_cluster, 8 * GIB, 8 * GIB)
    job = plan(lab_cluster, operator)
    assert job.state == Job.State.REFUSED
    assert "shrinking is refused" in job.summary


def test_grow_is_refused_when_the_pair_is_not_healthy(lab, lab_cluster, operator):
    grow_disks(lab, lab_cluster, 12 * GIB, 12 * GIB)
    api.drbd_standalone(lab.dir, names(lab_cluster)[1], "r0")
    job = plan(lab_cluster, operator)
    assert job.state == Job.State.REFUSED
    assert "needs both nodes Connected and UpToDate" in job.summary


def test_plan_lists_the_steps_and_changes_nothing(lab, lab_cluster, operator):
    grow_disks(lab, lab_cluster, 12 * GIB, 12 * GIB)
    job = plan(lab_cluster, operator)
    assert job.state == Job.State.SUCCEEDED, job.summary
    steps = workflows.WorkflowPlan.from_json(job.params).steps
    assert [s["argv"] for s in steps] == [
        ["drbdadm", "resize", "r0"],
        ["scstadmin", "-noprompt", "-resync_dev", "r0"],
        ["scstadmin", "-noprompt", "-resync_dev", "r0"],
    ]
    for node in names(lab_cluster):
        assert sizes(lab, node) == (12 * GIB, 10 * GIB // 1024, 10 * GIB)


def test_run_refuses_when_the_nodes_changed_since_the_plan(lab, lab_cluster, operator):
    grow_disks(lab, lab_cluster, 12 * GIB, 12 * GIB)
    job = plan(lab_cluster, operator)
    grow_disks(lab, lab_cluster, 14 * GIB, 14 * GIB)
    run = workflows.apply_run(workflows.apply_create(job, operator, "more room"))
    assert run.state == Job.State.REFUSED, run.summary
    assert "changed since the plan" in run.summary
    assert not NodeStep.objects.filter(job=run, writes=True).exists()
    assert workflows.plan_status(job).code == "out_of_date"  # plan again
    for node in names(lab_cluster):
        assert sizes(lab, node)[1:] == (10 * GIB // 1024, 10 * GIB)


def wait_for(job: Job, seconds: float = 90) -> Job:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.is_finished:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job.pk} still {job.state} after {seconds} s")


@pytest.mark.django_db(transaction=True)
def test_grow_through_the_worker_grows_drbd_then_scst_on_both_nodes(
    celery_worker, client, lab, lab_cluster
):
    client.force_login(make_user("op", Role.OPERATOR, lab_cluster))
    grow_disks(lab, lab_cluster, 12 * GIB, 12 * GIB + 4096)
    response = client.post(reverse("lun-grow", args=[lab_cluster.name, "r0"]))
    assert response.status_code == 302
    plan_job = wait_for(Job.objects.filter(kind=Job.Kind.WORKFLOW_PLAN).latest("pk"))
    assert plan_job.state == Job.State.SUCCEEDED, plan_job.summary
    response = client.post(
        reverse("workflow-apply", args=[plan_job.pk]),
        {"reason": "datastore full", "confirm": "on"},
    )
    assert response.status_code == 302
    run = wait_for(Job.objects.filter(kind=Job.Kind.WORKFLOW).latest("pk"))
    assert run.state == Job.State.SUCCEEDED, run.summary
    for node in names(lab_cluster):
        assert sizes(lab, node) == (
            12 * GIB if node.endswith("a") else 12 * GIB + 4096,
            12 * GIB // 1024,
            12 * GIB,
        )
    writes = [s.command for s in NodeStep.objects.filter(job=run, writes=True).order_by("pk")]
    assert writes == [
        "drbdadm resize r0",
        "scstadmin -noprompt -resync_dev r0",
        "scstadmin -noprompt -resync_dev r0",
    ]
    # After each step the nodes were read back (probes journaled between the writes).
    steps = list(NodeStep.objects.filter(job=run).order_by("pk").values_list("step", flat=True))
    first_write = steps.index("resize")
    assert "probe" in steps[first_write + 1 :]
    page = client.get(reverse("job-detail", args=[run.pk])).content.decode()
    assert "presents 12884901888 bytes (12.00 GiB)" in page  # exact, and for the eye


def test_peer_failing_mid_workflow_stops_with_both_nodes_serving(lab, lab_cluster, operator):
    a, b = names(lab_cluster)
    grow_disks(lab, lab_cluster, 12 * GIB, 12 * GIB)
    job = plan(lab_cluster, operator)
    assert job.state == Job.State.SUCCEEDED, job.summary
    api.set_fault(lab.dir, b, fail_on="resync_dev", fail_status=2, fail_stderr="I/O error\n")
    lab.wait_for_faults()
    run = workflows.apply_run(workflows.apply_create(job, operator, "datastore full"))
    assert run.state == Job.State.FAILED, run.summary
    assert f"{b}" in run.summary and "Both nodes keep serving" in run.summary
    assert sizes(lab, a)[1:] == (12 * GIB // 1024, 12 * GIB)
    assert sizes(lab, b)[1:] == (12 * GIB // 1024, 10 * GIB)  # clearly flagged, still serving
    for node in (a, b):
        n = api.node(lab.dir, node)
        with n.session():
            assert all(t.enabled for t in n.state.scst.drivers["iscsi"].values())
    # Once the fault is gone, planning again finishes the job: SCST resync only.
    api.set_fault(lab.dir, b, fail_on=None)
    lab.wait_for_faults()
    again = plan(lab_cluster, operator)
    assert again.state == Job.State.SUCCEEDED, again.summary
    steps = workflows.WorkflowPlan.from_json(again.params).steps
    assert [s["step"] for s in steps] == ["resync_size", "resync_size"]
    run = workflows.apply_run(workflows.apply_create(again, operator, "finish the grow"))
    assert run.state == Job.State.SUCCEEDED, run.summary
    assert sizes(lab, b)[2] == 12 * GIB
