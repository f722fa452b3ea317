"""The page's "Collect now" goes through Redis to a real Celery worker and back."""

import time

import pytest
from django.urls import reverse

from clusters.models import Finding, Job, NodeSnapshot, Role
from lab import api
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(job: Job, seconds: float = 60) -> Job:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.is_finished:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job.pk} still {job.state} after {seconds} s")


def test_operator_collects_from_the_page_through_the_worker(
    celery_worker, client, lab, lab_cluster
):
    api.set_device_attr(lab.dir, f"{lab_cluster.name}-a", "r0", "nv_cache", "1")
    client.force_login(make_user("op", Role.OPERATOR, lab_cluster))
    before = Job.objects.count()
    response = client.post(reverse("cluster-collect", args=[lab_cluster.name]))
    assert response.status_code == 302
    job = wait_for(Job.objects.order_by("-pk").first())
    assert Job.objects.count() == before + 1
    assert job.state == Job.State.SUCCEEDED, job.summary
    assert NodeSnapshot.objects.filter(job=job, reachable=True).count() == 2
    assert Finding.objects.filter(
        cluster=lab_cluster, code="SCST_NV_CACHE_ON", resolved_at=None
    ).exists()
    page = client.get(reverse("job-detail", args=[job.pk])).content.decode()
    assert "2 of 2 nodes collected" in page


def test_viewer_cannot_trigger_a_collection(client, lab_cluster):
    client.force_login(make_user("viewer", Role.VIEWER, lab_cluster))
    before = Job.objects.count()
    response = client.post(reverse("cluster-collect", args=[lab_cluster.name]))
    assert response.status_code == 403
    assert Job.objects.count() == before
