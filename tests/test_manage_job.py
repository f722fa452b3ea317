"""Switching an adopted cluster to managed is a job: the request queues it and talks to no
node; the worker reads every node, then switches, or refuses and says why."""

import functools
import time

import pytest
from django.urls import reverse

from clusters.audit import Action, AuditEntry
from clusters.models import Cluster, Job, Membership, NodeSnapshot, Role
from clusters.services import adoption
from lab import api
from tests.change_support import hang, unhang, wait_for
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin(db):
    user = make_user("global-admin")
    Membership.objects.create(user=user, cluster=None, role=Role.ADMIN)
    return user


@pytest.fixture
def monitored(lab_cluster) -> Cluster:
    lab_cluster.mode = Cluster.Mode.MONITORED
    lab_cluster.save(update_fields=["mode"])
    return lab_cluster


def switch(client, cluster: Cluster) -> tuple[Job, str]:
    """POST the mode page's Switch to managed; the job it queued and where it went."""
    response = client.post(reverse("adoption-mode", args=[cluster.name]), {"mode": "managed"})
    assert response.status_code == 302
    job = Job.objects.filter(cluster=cluster, kind=Job.Kind.MANAGE).latest("pk")
    assert response["Location"].endswith(f"?job={job.pk}")
    return job, response["Location"]


def test_the_request_only_queues_the_switch_while_nodes_hang(
    celery_worker, client, lab, monitored, admin
):
    for suffix in "ab":
        hang(lab, f"{monitored.name}-{suffix}", "drbdadm dump", 6)
    client.force_login(admin)
    started = time.monotonic()
    job, location = switch(client, monitored)
    assert time.monotonic() - started < 3  # no SSH in the request: the nodes still hang
    job.refresh_from_db()
    assert not job.is_finished
    monitored.refresh_from_db()
    assert monitored.mode == Cluster.Mode.MONITORED
    page = client.get(location).content.decode()
    assert "Reading every node of" in page and f'hx-get="/jobs/{job.pk}/"' in page
    job = wait_for(job)
    for suffix in "ab":
        unhang(lab, f"{monitored.name}-{suffix}")
    assert job.state == Job.State.SUCCEEDED, job.summary
    assert NodeSnapshot.objects.filter(job=job, reachable=True).count() == 2
    monitored.refresh_from_db()
    assert monitored.mode == Cluster.Mode.MANAGED
    page = client.get(location).content.decode()
    assert f"{monitored.name} is managed" in page and 'id="switch-result"' in page


def test_the_worker_refuses_with_a_node_down_and_switches_once_it_is_back(
    celery_worker, client, lab, monitored, admin
):
    node_b = f"{monitored.name}-b"
    api.set_fault(lab.dir, node_b, down=True)
    lab.wait_for_faults()
    client.force_login(admin)
    job, location = switch(client, monitored)
    job = wait_for(job)
    assert job.state == Job.State.REFUSED
    assert "fresh read of every node" in job.summary and f"{node_b}:" in job.summary
    monitored.refresh_from_db()
    assert monitored.mode == Cluster.Mode.MONITORED
    page = client.get(location).content.decode()
    assert "Refused" in page and "fresh read of every node" in page
    job_page = client.get(reverse("job-detail", args=[job.pk])).content.decode()
    assert "Switch to managed" in job_page and f'mode/?job={job.pk}"' in job_page

    api.set_fault(lab.dir, node_b, down=False)
    lab.wait_for_faults()
    job, _ = switch(client, monitored)
    assert wait_for(job).state == Job.State.SUCCEEDED, job.summary
    monitored.refresh_from_db()
    assert monitored.mode == Cluster.Mode.MANAGED
    entry = AuditEntry.objects.filter(cluster=monitored, action=Action.MODE).latest("at")
    assert entry.after["mode"] == "managed" and entry.before == {"mode": "monitored"}


def test_a_switch_already_running_is_followed_not_queued_twice(client, monitored, admin):
    pending = adoption.manage_create(monitored, admin, set())  # not queued: stays pending
    client.force_login(admin)
    response = client.post(reverse("adoption-mode", args=[monitored.name]), {"mode": "managed"})
    assert response["Location"].endswith(f"?job={pending.pk}")
    assert Job.objects.filter(cluster=monitored, kind=Job.Kind.MANAGE).count() == 1
    page = client.get(response["Location"]).content.decode()
    assert "Reading every node of" in page
    assert 'value="managed" disabled' in page


def test_a_switch_run_after_the_admin_lost_the_role_is_refused(monitored):
    admin = make_user("cluster-admin", Role.ADMIN, monitored)
    job = adoption.manage_create(monitored, admin, set())
    Membership.objects.filter(user=admin).delete()
    job = adoption.manage_run(job)
    assert job.state == Job.State.REFUSED
    assert not NodeSnapshot.objects.filter(job=job).exists()  # refused before any read
    monitored.refresh_from_db()
    assert monitored.mode == Cluster.Mode.MONITORED


def test_with_the_queue_down_the_page_answers_503_and_the_cluster_stays_monitored(
    client, monitored, admin, monkeypatch
):
    from celery import Celery

    from clusters import tasks
    from tests.ldap_support import free_port

    # Publishing to a broker where nothing listens: kombu's real failure.
    down = Celery(broker=f"redis://127.0.0.1:{free_port()}/0", set_as_current=False)
    down.conf.broker_connection_timeout = 1
    publish = functools.partial(down.send_task, tasks.manage_job.name, retry=False)
    monkeypatch.setattr(tasks.manage_job, "delay", lambda job_id: publish(args=[job_id]))
    client.force_login(admin)
    page = client.post(reverse("adoption-mode", args=[monitored.name]), {"mode": "managed"})
    assert page.status_code == 503 and "job queue is down" in page.content.decode()
    job = Job.objects.get(cluster=monitored, kind=Job.Kind.MANAGE)
    assert job.state == Job.State.FAILED and "queue is unreachable" in job.summary
    monitored.refresh_from_db()
    assert monitored.mode == Cluster.Mode.MONITORED
