"""Issue 12's fault matrix: real Celery worker processes (Redis broker) apply changes to
lab nodes while we kill them, restart Redis, drop PostgreSQL connections and hang nodes.

Every case asserts: each node ends on the old or the new configuration, or the cluster
carries the interrupted-apply finding and the reconcile works; the job is terminal; no
second writer ran; the cluster lock is free. Each case prints its outcome.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest
from django.db import connection
from django.urls import reverse

from clusters import locks
from clusters.models import Cluster, Finding, Job, Role
from clusters.services import changes, collection, jobs, reconcile
from tests.change_support import (
    CONFIG,
    QUEUE,
    apply,
    apply_job,
    hang,
    node_names,
    plan,
    runs,
    sigkill,
    states,
    unhang,
    wait_for,
    wait_step,
)
from tests.factories import add_lun_change, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def operator(spare_cluster):
    return make_user("op", Role.OPERATOR, spare_cluster)


def open_codes(cluster: Cluster) -> set[str]:
    return set(
        Finding.objects.filter(cluster=cluster, resolved_at=None).values_list("code", flat=True)
    )


def assert_ended_cleanly(job: Job, cluster: Cluster) -> None:
    job.refresh_from_db()
    assert job.is_finished, f"job {job.pk} is {job.state}"
    assert locks.holder_of(cluster.pk) is None, "the cluster lock is still held"


def reconcile_through(job: Job, cluster: Cluster, user, action: str) -> Job:
    """Plan and apply the reconcile (through the worker), as the reconcile page does."""
    from clusters import tasks

    planned = reconcile.reconcile_plan(job, user, action, "fault matrix")
    jobs.enqueue(planned, tasks.plan_job, queue=QUEUE)
    planned = wait_for(planned)
    assert planned.state == Job.State.SUCCEEDED, planned.summary
    return apply(planned, user, queue=QUEUE)


# --- the worker process dies ----------------------------------------------------------------


def test_worker_killed_after_node_a_applied_is_reconciled_by_finishing(
    workers, spare_cluster, operator, lab
):
    a, b = node_names(spare_cluster)
    first = workers.start()
    ready = plan(spare_cluster, operator, add_lun_change(spare_cluster), queue=QUEUE)
    hang(lab, b, CONFIG, 60)  # B's reload never answers; the worker dies meanwhile
    job = apply_job(ready, operator, queue=QUEUE)
    wait_step(job, b, "-noprompt -config")
    sigkill(first)
    unhang(lab, b)
    workers.start()  # a worker starting up sweeps: the dead one's job ends
    job = wait_for(job, 30)
    print("worker SIGKILL after A applied:", job.state, "|", job.summary)
    assert job.state == Job.State.INTERRUPTED and job.needs_reconcile
    assert_ended_cleanly(job, spare_cluster)
    assert runs(lab, a, "vmfs1") and not runs(lab, b, "vmfs1")  # the half-applied pair
    assert "APPLY_INTERRUPTED" in open_codes(spare_cluster)
    blocked = plan(spare_cluster, operator, {"kind": "enforce"}, queue=QUEUE)
    assert blocked.state == Job.State.REFUSED and "reconcile it first" in blocked.summary
    rows = {r.node: r for r in reconcile.reconcile_state(job)}
    # B died inside README.dlm's window (targets disabled before the cluster_mode 1 device
    # is created): it runs neither side, and the reconcile page says its target is off.
    assert (rows[a].runs, rows[b].runs) == ("after", "neither")
    assert any("enabled is 0, inventory says 1" in d for d in rows[b].runs_detail)
    done = reconcile_through(job, spare_cluster, operator, "finish")
    print("  reconcile finish:", done.state, "|", done.summary)
    assert done.state == Job.State.SUCCEEDED, done.summary
    assert runs(lab, a, "vmfs1") and runs(lab, b, "vmfs1")
    job.refresh_from_db()
    assert job.reconciled_at is not None and job.reconciled_by_id == done.pk
    assert not open_codes(spare_cluster) & {"APPLY_INTERRUPTED", "CONFIG_FILE_DIFFERS"}


def test_worker_killed_while_staging_leaves_every_node_as_it_was(
    workers, spare_cluster, operator, lab
):
    _a, b = node_names(spare_cluster)
    first = workers.start()
    ready = plan(spare_cluster, operator, add_lun_change(spare_cluster), queue=QUEUE)
    before = states(lab, spare_cluster)
    hang(lab, b, "-check_config", 60)
    job = apply_job(ready, operator, queue=QUEUE)
    wait_step(job, b, "-check_config")
    sigkill(first)
    unhang(lab, b)
    workers.start()
    job = wait_for(job, 30)
    print("worker SIGKILL while staging:", job.state, "|", job.summary)
    assert job.state == Job.State.INTERRUPTED and not job.needs_reconcile
    assert_ended_cleanly(job, spare_cluster)
    assert states(lab, spare_cluster) == before
    assert "APPLY_INTERRUPTED" not in open_codes(spare_cluster)


def test_worker_killed_during_verify_is_reconciled_by_rolling_back(
    workers, spare_cluster, operator, lab
):
    a, b = node_names(spare_cluster)
    first = workers.start()
    ready = plan(spare_cluster, operator, add_lun_change(spare_cluster), queue=QUEUE)
    hang(lab, a, "sha256sum", 60)  # A's read-back of its installed files
    job = apply_job(ready, operator, queue=QUEUE)
    wait_step(job, a, "sha256sum")
    sigkill(first)
    unhang(lab, a)
    workers.start()
    job = wait_for(job, 30)
    print("worker SIGKILL during verify:", job.state, "|", job.summary)
    assert job.state == Job.State.INTERRUPTED and job.needs_reconcile
    assert_ended_cleanly(job, spare_cluster)
    assert runs(lab, a, "vmfs1") and not runs(lab, b, "vmfs1")
    done = reconcile_through(job, spare_cluster, operator, "roll_back")
    print("  reconcile roll back:", done.state, "|", done.summary)
    assert done.state == Job.State.SUCCEEDED, done.summary
    assert not runs(lab, a, "vmfs1") and not runs(lab, b, "vmfs1")
    assert "APPLY_INTERRUPTED" not in open_codes(spare_cluster)


def test_pool_process_killed_like_the_oom_killer_ends_the_job(
    workers, spare_cluster, operator, lab
):
    a, b = node_names(spare_cluster)
    parent = workers.start(pool="prefork")
    ready = plan(spare_cluster, operator, add_lun_change(spare_cluster), queue=QUEUE)
    hang(lab, b, CONFIG, 60)
    job = apply_job(ready, operator, queue=QUEUE)
    wait_step(job, b, "-noprompt -config")
    job.refresh_from_db()
    child = int(job.worker.split(":")[1])
    assert child != parent.pid  # the task runs in the pool process
    os.kill(child, signal.SIGKILL)
    unhang(lab, b)
    job = wait_for(job, 30)  # the replacement pool process sweeps as it starts
    print("pool process SIGKILL:", job.state, "|", job.summary)
    assert job.state == Job.State.INTERRUPTED and job.needs_reconcile
    assert_ended_cleanly(job, spare_cluster)
    assert "APPLY_INTERRUPTED" in open_codes(spare_cluster)
    done = reconcile_through(job, spare_cluster, operator, "finish")
    assert done.state == Job.State.SUCCEEDED, done.summary
    assert runs(lab, a, "vmfs1") and runs(lab, b, "vmfs1")


# --- Redis and PostgreSQL -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_server(port: int, directory) -> subprocess.Popen:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.05)
    raise AssertionError("redis-server did not start")


def test_redis_restart_mid_apply_lets_no_second_writer_in(
    workers, spare_cluster, operator, lab, tmp_path
):
    from celery import Celery

    a, b = node_names(spare_cluster)
    port = free_port()
    redis = redis_server(port, tmp_path)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        workers.start(redis_url=url)
        first = changes.plan_now(spare_cluster, operator, add_lun_change(spare_cluster), "vmfs1")
        second = changes.plan_now(
            spare_cluster, operator, add_lun_change(spare_cluster, "vmfs2", 2), "vmfs2"
        )
        applying = changes.apply_create(first, operator, "first")
        rival = changes.apply_create(second, operator, "second")  # both were ready
        hang(lab, b, CONFIG, 4)  # a window in which B's reload runs late but within time
        broker = Celery(broker=url, set_as_current=False)
        broker.send_task("clusters.apply", args=[applying.pk], queue=QUEUE)
        wait_step(applying, b, "-noprompt -config")
        redis.terminate()
        redis.wait(10)
        changes.apply_run(rival)  # meanwhile, with the broker down, a second apply
        redis = redis_server(port, tmp_path)
        applying = wait_for(applying, 60)
    finally:
        redis.terminate()
        unhang(lab, b)
    rival.refresh_from_db()
    print("Redis restart mid-apply:", applying.state, "|", rival.state, "|", rival.summary)
    assert applying.state == Job.State.SUCCEEDED, applying.summary
    assert rival.state == Job.State.REFUSED and "holds the lock" in rival.summary
    assert not rival.steps.exists()  # the second apply never ran a command
    assert_ended_cleanly(applying, spare_cluster)
    assert runs(lab, a, "vmfs1") and runs(lab, b, "vmfs1")
    assert not runs(lab, a, "vmfs2") and not runs(lab, b, "vmfs2")


def test_redis_down_at_submit_answers_503_and_the_job_ends_failed(
    spare_cluster, operator, client, monkeypatch
):
    from celery import Celery

    from clusters import tasks

    # The page's tasks publish to a broker where nothing listens: kombu's real failure.
    down = Celery(broker=f"redis://127.0.0.1:{free_port()}/0", set_as_current=False)
    down.conf.broker_connection_timeout = 1
    for task in (tasks.plan_job, tasks.collect_job):
        publish = functools.partial(down.send_task, task.name, retry=False)
        monkeypatch.setattr(task, "delay", lambda job_id, publish=publish: publish(args=[job_id]))
    page, api_answer, cluster_page = submit_with_redis_down(spare_cluster, operator, client)
    job = Job.objects.filter(kind=Job.Kind.PLAN).get()
    print("Redis down at submit:", page.status_code, job.state, "|", job.summary)
    assert page.status_code == 503
    assert "job queue is down" in page.content.decode()
    assert job.state == Job.State.FAILED and "queue is unreachable" in job.summary
    assert api_answer.status_code == 503 and "Celery broker" in api_answer.json()["detail"][0]
    assert Job.objects.filter(kind=Job.Kind.COLLECT).order_by("-pk")[0].state == Job.State.FAILED
    assert cluster_page.status_code == 200  # pages that need no queue keep working


def submit_with_redis_down(cluster, operator, client):
    client.force_login(operator)
    page = client.post(reverse("cluster-enforce", args=[cluster.name]))
    api_answer = client.post(reverse("api:cluster-collect", args=[cluster.name]))
    return page, api_answer, client.get(reverse("cluster-detail", args=[cluster.name]))


def test_postgresql_connections_dropped_mid_apply(workers, spare_cluster, operator, lab):
    a, b = node_names(spare_cluster)
    workers.start()
    ready = plan(spare_cluster, operator, add_lun_change(spare_cluster), queue=QUEUE)
    hang(lab, b, CONFIG, 3)
    job = apply_job(ready, operator, queue=QUEUE)
    wait_step(job, b, "-noprompt -config")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        dropped = cursor.fetchone()[0]
    job = wait_for(job, 60)
    unhang(lab, b)
    print(f"PostgreSQL dropped ({dropped} connections):", job.state, "|", job.summary)
    assert dropped >= 1
    assert_ended_cleanly(job, spare_cluster)
    if job.state == Job.State.SUCCEEDED:
        assert runs(lab, a, "vmfs1") and runs(lab, b, "vmfs1")
    else:
        assert job.state == Job.State.INTERRUPTED and job.needs_reconcile, job.summary
        done = reconcile_through(job, spare_cluster, operator, "finish")
        assert done.state == Job.State.SUCCEEDED


# --- nodes and concurrency ------------------------------------------------------------------


def test_a_hung_node_is_given_up_rolled_back_and_its_late_command_never_runs(
    workers, spare_cluster, operator, lab
):
    a, b = node_names(spare_cluster)
    workers.start(NODE_COMMAND_TIMEOUT_SECONDS="2")
    ready = plan(spare_cluster, operator, add_lun_change(spare_cluster), queue=QUEUE)
    before = states(lab, spare_cluster)
    hang(lab, b, CONFIG, 6)  # longer than the node's `timeout`: killed there
    started = time.monotonic()
    job = wait_for(apply_job(ready, operator, queue=QUEUE), 90)
    print("hung node:", job.state, "|", job.summary)
    assert job.state == Job.State.FAILED
    assert "timeout" in job.summary and f"{a}: rolled back" in job.summary
    assert_ended_cleanly(job, spare_cluster)
    time.sleep(max(0.0, 7 - (time.monotonic() - started)))  # past the hang
    unhang(lab, b)
    assert states(lab, spare_cluster) == before  # the late command did not run


def test_two_applies_at_once_on_two_workers_one_writer(workers, spare_cluster, lab):
    from clusters import tasks

    a, b = node_names(spare_cluster)
    workers.start()
    workers.start()
    first = make_user("op1", Role.OPERATOR, spare_cluster)
    second = make_user("op2", Role.OPERATOR, spare_cluster)
    plans = [
        changes.plan_now(spare_cluster, first, add_lun_change(spare_cluster, "vmfs1", 1), "1"),
        changes.plan_now(spare_cluster, second, add_lun_change(spare_cluster, "vmfs2", 2), "2"),
    ]
    applies = [
        changes.apply_create(p, u, "at once") for p, u in zip(plans, (first, second), strict=True)
    ]
    for job in applies:
        jobs.enqueue(job, tasks.apply_job, queue=QUEUE)
    applies = [wait_for(job, 90) for job in applies]
    print("two applies:", [(j.state, j.summary) for j in applies])
    assert sorted(j.state for j in applies) == [Job.State.REFUSED, Job.State.SUCCEEDED]
    loser = next(j for j in applies if j.state == Job.State.REFUSED)
    assert not loser.steps.filter(writes=True).exists()
    winner, other = ("vmfs1", "vmfs2")[:: 1 if applies[0].state == Job.State.SUCCEEDED else -1]
    for node in (a, b):
        assert runs(lab, node, winner) and not runs(lab, node, other)
    assert locks.holder_of(spare_cluster.pk) is None
    collection.collection_run(collection.collection_create(spare_cluster))
    assert "APPLY_INTERRUPTED" not in open_codes(spare_cluster)
