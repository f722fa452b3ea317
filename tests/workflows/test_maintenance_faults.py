"""Maintenance of one node under hostile conditions: the worker running a drain or a
return is SIGKILLed, the drained node dies mid-drain or during its return, the job queue
is down when the operator runs a drain. Real worker processes (Redis, PostgreSQL)
against lab nodes.

Every case asserts the product's rules: the job ends (interrupted, failed or refused,
never left running or queued), a node left not serving is flagged in maintenance, its
targets' real state is what the portal shows, and the peer keeps serving.
"""

from __future__ import annotations

import functools

import pytest
from django.urls import reverse

from clusters import locks
from clusters.models import Job, Node, Role
from clusters.services import collection, workflows
from clusters.services.change_kinds import NodeDrain, NodeReturn
from lab import api, workflow_cmds
from lab import maintenance as lab_maintenance
from tests.change_support import sigkill, unhang, wait_for
from tests.factories import make_user
from tests.workflows.test_maintenance import (
    ESX1,
    ESX2,
    logged_in_to_both,
    names,
    node_view,
    queued_plan,
    queued_run,
    run_held_at,
    target_of,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def operator(lab_cluster):
    return make_user("op", Role.OPERATOR, lab_cluster)


def node_row(cluster, name: str) -> Node:
    return Node.objects.get(cluster=cluster, name=name)


def assert_ended(job: Job, cluster) -> None:
    job.refresh_from_db()
    assert job.is_finished, f"job {job.pk} is {job.state}"
    assert locks.holder_of(cluster.pk) is None, "the cluster lock is still held"


def wait_event(job: Job, step: str, seconds: float = 60) -> None:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if job.events.filter(step=step).exists():
            return
        job.refresh_from_db()
        assert not job.is_finished, f"job ended before its {step}: {job.summary}"
        time.sleep(0.05)
    raise AssertionError(f"no {step} event within {seconds} s")


def drained_with_drbd(lab, cluster, operator) -> Job:
    """b drained with DRBD demoted and disconnected (through the worker), a serving."""
    _a, b = names(cluster)
    drain = wait_for(queued_run(queued_plan(cluster, operator, NodeDrain(b, True)), operator))
    assert drain.state == Job.State.SUCCEEDED, drain.summary
    return drain


def assert_back(lab, cluster) -> None:
    """Both nodes Primary/Connected/UpToDate, every target enabled, both initiators in."""
    for node in names(cluster):
        view = node_view(lab, node)
        assert view["drbd"] == {r: ("Primary", "Connected", "UpToDate") for r in ("r0", "r1")}
        assert view["enabled"] == {target_of(lab, node): 1}
        assert view["sessions"] == [ESX1, ESX2]


# --- the worker dies ----------------------------------------------------------------------


def test_worker_killed_mid_drain_ends_interrupted_and_leaves_the_node_flagged(
    workers, lab, lab_cluster, operator, client
):
    a, b = names(lab_cluster)
    logged_in_to_both(lab, lab_cluster)
    target = target_of(lab, b)
    first = workers.start()
    # b's first force_close never answers; the worker dies
    job = run_held_at(lab, lab_cluster, operator, NodeDrain(b), b, "force_close", 60)
    sigkill(first)
    unhang(lab, b)
    workers.start()  # a worker starting up sweeps: the dead one's job ends
    job = wait_for(job, 30)
    print("worker SIGKILL mid-drain:", job.state, "|", job.summary)
    assert job.state == Job.State.INTERRUPTED, job.summary
    assert_ended(job, lab_cluster)
    # b's target was disabled before the worker died: b serves no new login. It must not
    # be silently half-drained: it is flagged in maintenance, by this job.
    assert node_view(lab, b)["enabled"] == {target: 0}
    flagged = node_row(lab_cluster, b)
    assert flagged.in_maintenance and flagged.maintenance_job_id == job.pk
    assert not node_row(lab_cluster, a).in_maintenance
    assert node_view(lab, a)["enabled"] == {target_of(lab, a): 1}  # a serves every path
    # The portal shows b's real state once a collection reads it (one is queued for it).
    assert Job.objects.filter(kind=Job.Kind.COLLECT, cluster=lab_cluster, pk__gt=job.pk).exists()
    collection.collection_run(collection.collection_create(lab_cluster))
    client.force_login(operator)
    page = client.get(reverse("cluster-detail", args=[lab_cluster.name])).content.decode()
    assert f"{b} in maintenance" in page and f'id="return-{b}"' in page
    assert f"job #{job.pk}" in page
    # b's target as b runs it: drift the drain explains, expected during maintenance.
    assert f"target:{target}@{b}" in page and "expected during maintenance" in page
    compliance = client.get(reverse("compliance"), {"cluster": lab_cluster.name})
    assert "enabled is 0, inventory says 1" in compliance.content.decode()
    assert f'id="drain-{a}"' not in page  # never both nodes

    back = wait_for(queued_run(queued_plan(lab_cluster, operator, NodeReturn(b)), operator))
    print("  return:", back.state, "|", back.summary)
    assert back.state == Job.State.SUCCEEDED, back.summary
    assert node_view(lab, b)["enabled"] == {target: 1}
    assert ESX1 in node_view(lab, b)["sessions"] and ESX2 in node_view(lab, b)["sessions"]
    assert not node_row(lab_cluster, b).in_maintenance


def test_worker_killed_during_the_return_resync_leaves_the_node_in_maintenance(
    workers, lab, lab_cluster, operator, monkeypatch
):
    a, b = names(lab_cluster)
    logged_in_to_both(lab, lab_cluster)
    first = workers.start()
    drain = drained_with_drbd(lab, lab_cluster, operator)
    lab_maintenance.write_while_away(lab.dir, a, "r0", 8192)
    monkeypatch.setattr(workflow_cmds, "SYNC_SECONDS", 30.0)  # the lab's resync lasts
    job = queued_run(queued_plan(lab_cluster, operator, NodeReturn(b)), operator)
    wait_event(job, "resync")  # the return follows the resync: the worker dies there
    sigkill(first)
    monkeypatch.setattr(workflow_cmds, "SYNC_SECONDS", 2.0)
    workers.start()
    job = wait_for(job, 30)
    print("worker SIGKILL during the return's resync:", job.state, "|", job.summary)
    assert job.state == Job.State.INTERRUPTED, job.summary
    assert_ended(job, lab_cluster)
    flagged = node_row(lab_cluster, b)
    assert flagged.in_maintenance and flagged.maintenance_job_id == drain.pk
    view = node_view(lab, b)
    assert view["enabled"] == {target_of(lab, b): 0} and view["sessions"] == []
    assert node_view(lab, a)["sessions"] == [ESX1, ESX2]  # a kept serving

    again = wait_for(queued_run(queued_plan(lab_cluster, operator, NodeReturn(b)), operator))
    print("  second return:", again.state, "|", again.summary)
    assert again.state == Job.State.SUCCEEDED, again.summary
    # b was Connected already (no connect this time): the return still followed the
    # resync the first one left running before `drbdadm primary`.
    assert not again.steps.filter(command__startswith="drbdadm connect").exists()
    assert again.events.filter(step="resync", level="ok", message__contains="r0").exists()
    assert_back(lab, lab_cluster)
    assert not node_row(lab_cluster, b).in_maintenance


# --- the drained node dies ----------------------------------------------------------------


def test_drained_node_dying_during_its_return_fails_naming_it_and_the_peer_serves(
    workers, lab, lab_cluster, operator
):
    a, b = names(lab_cluster)
    logged_in_to_both(lab, lab_cluster)
    workers.start()
    drain = drained_with_drbd(lab, lab_cluster, operator)
    job = run_held_at(lab, lab_cluster, operator, NodeReturn(b), b, "drbdadm connect r0")
    # b dies: its connections drop at the next DRBD command, new ones are refused.
    api.set_fault(lab.dir, b, drop_on="drbd", down=True)
    lab.wait_for_faults()
    try:
        job = wait_for(job, 90)
    finally:
        api.set_fault(lab.dir, b, clear=True)
        lab.wait_for_faults()
    print("drained node dies during its return:", job.state, "|", job.summary)
    assert job.state == Job.State.FAILED, job.summary
    assert job.summary.startswith("Stopped:") and b in job.summary
    assert f"{b} stays in maintenance" in job.summary
    assert_ended(job, lab_cluster)
    flagged = node_row(lab_cluster, b)
    assert flagged.in_maintenance and flagged.maintenance_job_id == drain.pk
    peer = node_view(lab, a)
    assert peer["enabled"] == {target_of(lab, a): 1}  # the return never touched a
    assert peer["sessions"] == [ESX1, ESX2]
    assert all(s[0] == "Primary" and s[2] == "UpToDate" for s in peer["drbd"].values())
    assert not job.steps.filter(node_name=a, writes=True).exists()


def test_node_dying_mid_drain_fails_flagged_and_returns_once_it_is_back(
    workers, lab, lab_cluster, operator
):
    a, b = names(lab_cluster)
    logged_in_to_both(lab, lab_cluster)
    target = target_of(lab, b)
    workers.start()
    job = run_held_at(lab, lab_cluster, operator, NodeDrain(b), b, "force_close")
    api.set_fault(lab.dir, b, drop_on=" ", down=True)  # every command drops, no new SSH
    lab.wait_for_faults()
    try:
        job = wait_for(job, 90)
    finally:
        api.set_fault(lab.dir, b, clear=True)
        lab.wait_for_faults()
    print("drained node dies mid-drain:", job.state, "|", job.summary)
    assert job.state == Job.State.FAILED, job.summary
    assert job.summary.startswith(f"Stopped: {b}") and f"{b}: unreadable" in job.summary
    assert f"{b} is flagged in maintenance" in job.summary
    assert_ended(job, lab_cluster)
    # b's target stays disabled (it could not be enabled again): flagged, never silent.
    assert node_view(lab, b)["enabled"] == {target: 0}
    flagged = node_row(lab_cluster, b)
    assert flagged.in_maintenance and flagged.maintenance_job_id == job.pk
    assert node_view(lab, a)["enabled"] == {target_of(lab, a): 1}
    assert node_view(lab, a)["sessions"] == [ESX1, ESX2]

    back = wait_for(queued_run(queued_plan(lab_cluster, operator, NodeReturn(b)), operator))
    assert back.state == Job.State.SUCCEEDED, back.summary
    assert node_view(lab, b)["enabled"] == {target: 1}
    assert not node_row(lab_cluster, b).in_maintenance


# --- the job queue is down ----------------------------------------------------------------


def test_queue_down_when_running_a_drain_answers_503_and_changes_nothing(
    lab, lab_cluster, operator, client, monkeypatch
):
    from celery import Celery

    from clusters import workflow_tasks
    from tests.test_fault_matrix import free_port

    _a, b = names(lab_cluster)
    logged_in_to_both(lab, lab_cluster)
    before = node_view(lab, b)
    ready = workflows.plan_run(
        workflows.plan_create(lab_cluster, operator, NodeDrain(b), "maintenance")
    )
    assert ready.state == Job.State.SUCCEEDED, ready.summary
    down = Celery(broker=f"redis://127.0.0.1:{free_port()}/0", set_as_current=False)
    down.conf.broker_connection_timeout = 1
    task = workflow_tasks.workflow_apply_job
    publish = functools.partial(down.send_task, task.name, retry=False)
    monkeypatch.setattr(task, "delay", lambda job_id: publish(args=[job_id]))
    client.force_login(operator)
    url = reverse("workflow-apply", args=[ready.pk])
    page = client.post(url, {"reason": "BIOS update", "confirm": "on"})
    run = Job.objects.get(kind=Job.Kind.WORKFLOW, params__plan_job=ready.pk)
    print("queue down at a drain:", page.status_code, run.state, "|", run.summary)
    assert page.status_code == 503 and page["Retry-After"] == "30"
    assert "job queue is down" in page.content.decode()
    assert run.state == Job.State.FAILED and "queue is unreachable" in run.summary
    assert not run.steps.exists() and run.started_at is None
    assert node_view(lab, b) == before  # nothing on the node changed
    assert not node_row(lab_cluster, b).in_maintenance
    assert locks.holder_of(lab_cluster.pk) is None
    # The plan did not run: it reads as ready again, and runs once the queue is back.
    assert workflows.plan_status(ready).code == "ready", workflows.plan_status(ready)
    monkeypatch.undo()
    again = workflows.apply_run(workflows.apply_create(ready, operator, "queue back"))
    assert again.state == Job.State.SUCCEEDED, again.summary
    assert node_row(lab_cluster, b).in_maintenance
