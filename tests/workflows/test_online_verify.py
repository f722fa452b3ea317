"""Online verify and the disconnect/connect resync it may call for: refusals, a run
through the real worker reading both nodes after each step, the finding, the schedule,
and a peer failing mid-workflow."""

import time

import pytest
from django.test import override_settings
from django.urls import reverse

from clusters.models import Finding, Job, NodeStep, Role
from clusters.services import workflows
from clusters.services.change_kinds import ResyncResource, VerifyResource
from lab import api, workflow_cmds
from tests.factories import make_user


@pytest.fixture
def operator(lab_cluster):
    return make_user("op", Role.OPERATOR, lab_cluster)


def names(cluster) -> tuple[str, str]:
    return f"{cluster.name}-a", f"{cluster.name}-b"


def with_verify_alg(lab, cluster) -> None:
    for node in names(cluster):
        api.set_net_option(lab.dir, node, "r0", "verify-alg", "sha256")


def side(lab, node_name: str):
    """The node's running view of r0 (replication state, out-of-sync, connection)."""
    node = api.node(lab.dir, node_name)
    with node.session():
        workflow_cmds.settle(node)
        return node.cluster.resources["r0"].sides[node_name]


def plan(cluster, user, change) -> Job:
    return workflows.plan_run(workflows.plan_create(cluster, user, change, "day-2"))


def run(plan_job: Job, user) -> Job:
    return workflows.apply_run(workflows.apply_create(plan_job, user, "weekly check"))


def test_verify_is_refused_without_a_verify_alg(lab, lab_cluster, operator):
    job = plan(lab_cluster, operator, VerifyResource("r0"))
    assert job.state == Job.State.REFUSED
    assert "has no verify-alg in force" in job.summary


def test_verify_is_refused_when_the_peer_is_not_connected(lab, lab_cluster, operator):
    with_verify_alg(lab, lab_cluster)
    api.drbd_standalone(lab.dir, names(lab_cluster)[1], "r0")
    job = plan(lab_cluster, operator, VerifyResource("r0"))
    assert job.state == Job.State.REFUSED
    assert "online verify needs both nodes Connected and UpToDate" in job.summary


def test_verify_that_finds_nothing_says_so(lab, lab_cluster, operator):
    with_verify_alg(lab, lab_cluster)
    job = plan(lab_cluster, operator, VerifyResource("r0"))
    assert job.state == Job.State.SUCCEEDED, job.summary
    done = run(job, operator)
    assert done.state == Job.State.SUCCEEDED, done.summary
    assert "no block differs" in done.summary
    writes = NodeStep.objects.filter(job=done, writes=True)
    assert [s.command for s in writes] == ["drbdadm verify r0"]


def test_resync_is_refused_when_nothing_is_out_of_sync(lab, lab_cluster, operator):
    job = plan(lab_cluster, operator, ResyncResource("r0"))
    assert job.state == Job.State.REFUSED
    assert "Nothing to resync" in job.summary


def wait_for(job: Job, seconds: float = 90) -> Job:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.is_finished:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job.pk} still {job.state} after {seconds} s")


def plan_and_run_through_pages(client, url: str) -> Job:
    assert client.post(url).status_code == 302
    plan_job = wait_for(Job.objects.filter(kind=Job.Kind.WORKFLOW_PLAN).latest("pk"))
    assert plan_job.state == Job.State.SUCCEEDED, plan_job.summary
    response = client.post(
        reverse("workflow-apply", args=[plan_job.pk]), {"reason": "weekly", "confirm": "on"}
    )
    assert response.status_code == 302
    return wait_for(Job.objects.filter(kind=Job.Kind.WORKFLOW).latest("pk"))


@pytest.mark.django_db(transaction=True)
def test_verify_finds_blocks_then_the_resync_repairs_them_through_the_worker(
    celery_worker, client, lab, lab_cluster
):
    a, b = names(lab_cluster)
    client.force_login(make_user("op", Role.OPERATOR, lab_cluster))
    with_verify_alg(lab, lab_cluster)
    workflow_cmds.diverge(lab.dir, b, "r0", 64)  # a lost write on b, unknown to DRBD

    verified = plan_and_run_through_pages(
        client, reverse("resource-verify", args=[lab_cluster.name, "r0"])
    )
    assert verified.state == Job.State.SUCCEEDED, verified.summary
    assert "found blocks out of sync" in verified.summary
    assert side(lab, a).volumes[0].out_of_sync_kib == 64
    assert side(lab, b).volumes[0].out_of_sync_kib == 64
    events = [e.message for e in verified.events.filter(step="verify")]
    assert any("VerifyS" in m or "VerifyT" in m for m in events)  # progress while it ran
    # The collection after the run raises the out-of-sync finding.
    assert Finding.objects.filter(cluster=lab_cluster, resolved_at=None, code__contains="SYNC")

    resynced = plan_and_run_through_pages(
        client, reverse("resource-resync", args=[lab_cluster.name, "r0"])
    )
    assert resynced.state == Job.State.SUCCEEDED, resynced.summary
    writes = [s.command for s in NodeStep.objects.filter(job=resynced, writes=True)]
    assert writes == ["drbdadm disconnect r0", "drbdadm connect r0"]
    for node in (a, b):
        now = side(lab, node)
        assert (now.cstate, now.repl, now.volumes[0].out_of_sync_kib) == ("Connected", "", 0)
        assert (now.role, now.volumes[0].disk) == ("Primary", "UpToDate")
    assert not Finding.objects.filter(
        cluster=lab_cluster, resolved_at=None, code__contains="SYNC"
    ).exists()


def test_resync_whose_connect_fails_stops_and_flags_the_unreplicated_resource(
    lab, lab_cluster, operator
):
    a, b = names(lab_cluster)
    with_verify_alg(lab, lab_cluster)
    workflow_cmds.diverge(lab.dir, b, "r0", 64)
    assert run(plan(lab_cluster, operator, VerifyResource("r0")), operator).state == "succeeded"
    job = plan(lab_cluster, operator, ResyncResource("r0"))
    assert job.state == Job.State.SUCCEEDED, job.summary
    api.set_fault(lab.dir, a, fail_on="drbdadm connect", fail_status=10)
    lab.wait_for_faults()
    done = run(job, operator)
    assert done.state == Job.State.FAILED, done.summary
    assert "is NOT replicated now while both nodes serve" in done.summary
    assert side(lab, a).cstate == "StandAlone"
    assert side(lab, a).role == side(lab, b).role == "Primary"  # both still serving


def test_schedule_is_off_by_default_and_verifies_each_resource_once_per_interval(lab, lab_cluster):
    with_verify_alg(lab, lab_cluster)
    assert workflows.verify_due() == []
    with override_settings(DRBD_VERIFY_INTERVAL_HOURS=24):
        started = workflows.verify_due()
        assert [j.state for j in started] == [Job.State.SUCCEEDED]  # r0; r1 has no verify-alg
        assert workflows.verify_due() == []  # not again within the interval
    refused = workflows.last_verify(lab_cluster, "r1")
    assert refused.state == Job.State.REFUSED
