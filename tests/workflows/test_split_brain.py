"""Split-brain recovery: what changed on each node since the split, the recommended
victim, the typed confirmation, a run through the real worker reading both nodes after
each step, and the survivor failing mid-workflow."""

import time

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from clusters.models import Job, NodeStep, Role
from clusters.services import collection, workflows
from clusters.services.change_kinds import SplitBrainRecovery
from clusters.services.split_brain import split_brain_report
from lab import api, workflow_cmds
from tests.factories import make_user


def names(cluster) -> tuple[str, str]:
    return f"{cluster.name}-a", f"{cluster.name}-b"


def collect(cluster) -> None:
    collection.collection_run(collection.collection_create(cluster))


def split(lab, cluster) -> None:
    """Initiators write through both nodes (a more than b); then the link breaks."""
    a, b = names(cluster)
    api.add_session(lab.dir, a, "iqn.1998-01.com.vmware:esx1", io_rate_kb=8192)
    api.add_session(lab.dir, b, "iqn.1998-01.com.vmware:esx2", io_rate_kb=256)
    collect(cluster)  # Connected, with the sessions' counters
    api.split_brain(lab.dir, a, "r0")
    time.sleep(1.0)
    collect(cluster)  # split brain, counters risen


def node_state(lab, node_name: str):
    node = api.node(lab.dir, node_name)
    with node.session():
        workflow_cmds.settle(node)
        run = node.cluster.resources["r0"]
        return run.sides[node_name], run.split_brain, set(node.state.scst.devices)


@pytest.fixture
def admin(lab_cluster):
    return make_user("adm", Role.ADMIN, lab_cluster)


def test_report_shows_writes_since_the_split_and_recommends_the_quieter_node(lab, lab_cluster):
    a, b = names(lab_cluster)
    split(lab, lab_cluster)
    report = split_brain_report(lab_cluster, "r0")
    assert report.in_split_brain
    sides = {n.node: n for n in report.nodes}
    assert sides[a].written_kib > sides[b].written_kib > 0
    assert set(sides[a].initiators) == {"iqn.1998-01.com.vmware:esx1"}
    assert sides[a].out_of_sync_kib == 4096
    assert report.recommended == b


def test_plan_says_the_victims_writes_are_discarded_and_needs_the_typed_name(
    lab, lab_cluster, admin
):
    a, b = names(lab_cluster)
    split(lab, lab_cluster)
    job = workflows.plan_run(
        workflows.plan_create(lab_cluster, admin, SplitBrainRecovery("r0", b), "recover")
    )
    assert job.state == Job.State.SUCCEEDED, job.summary
    plan = workflows.WorkflowPlan.from_json(job.params)
    assert any("is DISCARDED" in w and b in w for w in plan.warnings)
    assert [(s["node"], s["argv"]) for s in plan.steps] == [
        (b, ["scstadmin", "-noprompt", "-force", "-close_dev", "r0", "-handler", "vdisk_blockio"]),
        (b, ["drbdadm", "secondary", "r0"]),
        (b, ["drbdadm", "connect", "--discard-my-data", "r0"]),
        (a, ["drbdadm", "connect", "r0"]),
        (b, ["drbdadm", "primary", "r0"]),
        (b, ["scstadmin", "-noprompt", "-config", "/etc/scst.conf"]),
    ]
    with pytest.raises(workflows.WorkflowRefused, match="Type the resource name"):
        workflows.apply_create(job, admin, "recover", typed="r1")


def test_operators_cannot_discard_a_nodes_writes(lab, lab_cluster):
    operator = make_user("op", Role.OPERATOR, lab_cluster)
    with pytest.raises(PermissionDenied):
        workflows.plan_create(lab_cluster, operator, SplitBrainRecovery("r0", "x"), "recover")


def test_recovery_is_refused_when_the_resource_is_connected(lab, lab_cluster, admin):
    job = workflows.plan_run(
        workflows.plan_create(
            lab_cluster, admin, SplitBrainRecovery("r0", names(lab_cluster)[1]), "recover"
        )
    )
    assert job.state == Job.State.REFUSED
    assert "it is not in split brain" in job.summary


def wait_for(job: Job, seconds: float = 90) -> Job:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.is_finished:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job.pk} still {job.state} after {seconds} s")


@pytest.mark.django_db(transaction=True)
def test_recovery_through_the_worker_discards_the_victim_and_serves_again(
    celery_worker, client, lab, lab_cluster
):
    a, b = names(lab_cluster)
    split(lab, lab_cluster)
    client.force_login(make_user("adm", Role.ADMIN, lab_cluster))
    page = client.get(reverse("resource-split-brain", args=[lab_cluster.name, "r0"]))
    assert "recommended victim" in page.content.decode()
    response = client.post(
        reverse("resource-split-brain", args=[lab_cluster.name, "r0"]), {"victim": b}
    )
    assert response.status_code == 302
    plan_job = wait_for(Job.objects.filter(kind=Job.Kind.WORKFLOW_PLAN).latest("pk"))
    assert plan_job.state == Job.State.SUCCEEDED, plan_job.summary
    response = client.post(
        reverse("workflow-apply", args=[plan_job.pk]),
        {"reason": "split brain after switch failure", "confirm": "on", "typed_name": "r0"},
    )
    assert response.status_code == 302
    run = wait_for(Job.objects.filter(kind=Job.Kind.WORKFLOW).latest("pk"))
    assert run.state == Job.State.SUCCEEDED, run.summary
    for node in (a, b):
        side, split_brain, devices = node_state(lab, node)
        assert (side.role, side.cstate, side.volumes[0].disk) == (
            "Primary",
            "Connected",
            "UpToDate",
        )
        assert side.volumes[0].out_of_sync_kib == 0 and not split_brain
        assert "r0" in devices
    steps = list(NodeStep.objects.filter(job=run).order_by("pk").values_list("step", flat=True))
    assert steps.index("discard") < steps.index("connect") < steps.index("primary")
    assert "probe" in steps[steps.index("secondary") :]  # read back after the steps


def test_survivor_failing_to_connect_stops_with_the_survivor_serving_and_says_so(
    lab, lab_cluster, admin
):
    a, b = names(lab_cluster)
    split(lab, lab_cluster)
    job = workflows.plan_run(
        workflows.plan_create(lab_cluster, admin, SplitBrainRecovery("r0", b), "recover")
    )
    api.set_fault(lab.dir, a, fail_on="drbdadm connect r0", fail_status=10)
    lab.wait_for_faults()
    run = workflows.apply_run(workflows.apply_create(job, admin, "recover", typed="r0"))
    assert run.state == Job.State.FAILED, run.summary
    assert f"{b}: " in run.summary and "SCST exports none of its devices" in run.summary
    survivor, _, devices = node_state(lab, a)
    assert survivor.role == "Primary" and "r0" in devices  # a still serves r0
    victim, _, devices = node_state(lab, b)
    assert victim.role == "Secondary" and "r0" not in devices  # clearly not serving


def test_a_resource_pacemaker_manages_is_never_demoted_by_the_portal(lab, lab_cluster, admin):
    from lab import stack

    for node in names(lab_cluster):
        stack.set_stack(lab.dir, node, drbd_clones={"r0": 2})
    split(lab, lab_cluster)
    job = workflows.plan_run(
        workflows.plan_create(
            lab_cluster, admin, SplitBrainRecovery("r0", names(lab_cluster)[1]), "recover"
        )
    )
    assert job.state == Job.State.REFUSED
    assert "Pacemaker manages DRBD r0 (ocf:linbit:drbd, resource ms_drbd_r0)" in job.summary
    assert "`crm_resource --resource ms_drbd_r0 --ban --node" in job.summary
    assert "drbdadm secondary/primary" in job.summary
    assert not job.steps.exists()
