"""Beat's tick fans out: one collection job and task per cluster, on the `collect` queue,
expiring after one interval; a failure in one cluster stays in that cluster."""

import time
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from clusters import tasks
from clusters.models import Cluster, Finding, Job
from clusters.services import collection
from clusters.services.labsync import inventory_sync
from lab import api
from portal.celery import app


def open_codes(cluster: Cluster) -> set[tuple[str, str]]:
    return set(
        Finding.objects.filter(cluster=cluster, resolved_at=None).values_list("code", "object_ref")
    )


@pytest.fixture
def two_lab_clusters(db, lab_factory) -> list[Cluster]:
    lab = lab_factory(2)
    inventory_sync(lab.manifest)
    api.set_device_attr(
        lab.dir, lab.manifest["clusters"][1]["nodes"][0]["name"], "r0", "nv_cache", "1"
    )
    names = [c["name"] for c in lab.manifest["clusters"]]
    return [Cluster.objects.get(name=name) for name in names]


def test_the_tick_collects_each_cluster_in_its_own_job(two_lab_clusters):
    before = Job.objects.count()
    tasks.collect_all.delay()
    new = list(Job.objects.order_by("pk")[before:])
    assert [job.cluster for job in new] == two_lab_clusters
    assert {(job.kind, job.state, job.summary) for job in new} == {
        (Job.Kind.COLLECT, Job.State.SUCCEEDED, "2 of 2 nodes collected")
    }
    healthy, write_back = two_lab_clusters
    assert ("SCST_NV_CACHE_ON", "device:r0") in open_codes(write_back)
    assert not any(code == "SCST_NV_CACHE_ON" for code, _ in open_codes(healthy))


def test_a_failure_in_one_cluster_is_its_own_and_never_stops_the_others(
    two_lab_clusters, monkeypatch
):
    broken, fine = two_lab_clusters
    from clusters import compliance

    evaluate = compliance.evaluate

    def evaluate_or_fail(facts):
        if facts.name == broken.name:
            raise ValueError("cannot write value 'x}'")
        return evaluate(facts)

    monkeypatch.setattr(compliance, "evaluate", evaluate_or_fail)
    before = Job.objects.count()
    tasks.collect_all.delay()
    jobs = {job.cluster: job for job in Job.objects.order_by("pk")[before:]}
    assert jobs[broken].state == Job.State.FAILED
    assert "ValueError: cannot write value 'x}'" in jobs[broken].summary
    assert jobs[broken].events.filter(level="error", message__contains="x}").exists()
    assert jobs[fine].state == Job.State.SUCCEEDED
    incomplete = Finding.objects.get(
        cluster=broken, code="COLLECTION_INCOMPLETE", object_ref=f"cluster:{broken.name}"
    )
    assert incomplete.resolved_at is None
    assert "cannot write value" in incomplete.details[0]["evidence"]
    assert not Finding.objects.filter(cluster=fine, code="COLLECTION_INCOMPLETE").exists()

    monkeypatch.setattr(compliance, "evaluate", evaluate)
    tasks.collect_all.delay()  # a complete evaluation resolves it
    incomplete.refresh_from_db()
    assert incomplete.resolved_at is not None


def test_a_cluster_already_being_collected_is_not_queued_again(db, cluster, other_cluster):
    running = Job.objects.create(kind=Job.Kind.COLLECT, cluster=cluster, state=Job.State.RUNNING)
    due = collection.collections_due()
    assert [job.cluster for job in due] == [other_cluster]
    assert collection.collections_due() == []  # its job is queued now
    running.state = Job.State.SUCCEEDED
    running.save()
    Job.objects.filter(pk=due[0].pk).update(created_at=timezone.now() - timedelta(hours=1))
    # A job queued longer than an interval has an expired task: both are due again.
    assert {job.cluster for job in collection.collections_due()} == {cluster, other_cluster}


def test_each_collection_task_expires_after_one_interval(db, cluster, other_cluster, settings):
    settings.COLLECT_INTERVAL_SECONDS = 45
    with mock.patch.object(tasks.collect_job, "apply_async") as apply_async:
        tasks.collect_all()
    assert apply_async.call_count == 2
    assert {call.kwargs["expires"] for call in apply_async.call_args_list} == {45}
    queued = {call.kwargs["args"][0] for call in apply_async.call_args_list}
    assert queued == set(Job.objects.filter(cluster__isnull=False).values_list("pk", flat=True))


@pytest.mark.parametrize(
    "task, queue",
    [
        ("clusters.collect_all", "collect"),
        ("clusters.collect", "collect"),
        ("clusters.plan", "changes"),
        ("clusters.apply", "changes"),
        ("clusters.sweep_jobs", "changes"),
    ],
)
def test_collections_and_changes_go_to_their_own_queues(task, queue):
    assert app.amqp.router.route({}, task)["queue"].name == queue


def test_a_worker_without_q_consumes_both_queues():
    assert {q.name for q in app.amqp.queues.consume_from.values()} >= {"collect", "changes"}


@pytest.mark.django_db(transaction=True)
def test_an_expired_collection_task_ends_its_job_at_once(celery_worker, cluster):
    job = collection.collection_create(cluster)
    tasks.collect_job.apply_async(args=[job.pk], expires=timezone.now() - timedelta(seconds=1))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not job.is_finished:
        time.sleep(0.2)
        job.refresh_from_db()
    assert job.state == Job.State.INTERRUPTED
    assert "waited longer than one collection interval" in job.summary
