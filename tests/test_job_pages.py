"""The job page: a job's state and per-node events, visible to whoever can see its
cluster; collect-all jobs (no cluster) only to global roles and superusers."""

import pytest
from django.urls import reverse

from clusters.models import Job, JobEvent, Role
from tests import records
from tests.factories import make_user


def job_url(job) -> str:
    return reverse("job-detail", args=[job.pk])


@pytest.fixture
def finished_job(cluster):
    job = records.job(cluster, make_user("alice", Role.OPERATOR, cluster), Job.State.PARTIAL)
    first, second = cluster.nodes.order_by("name")
    JobEvent.objects.create(
        job=job, node=first, step="collect", level="ok", message="collected in 80 ms"
    )
    JobEvent.objects.create(
        job=job, node=second, step="collect", level="error", message="cannot reach node: timed out"
    )
    job.summary = "1 of 2 nodes collected"
    job.save()
    return job


def test_job_page_shows_kind_state_requester_and_events(client, cluster, finished_job):
    client.force_login(make_user("v", Role.VIEWER, cluster))
    page = client.get(job_url(finished_job)).content.decode()
    assert "Collect live state" in page
    assert "Partly failed" in page
    assert "alice" in page
    assert "1 of 2 nodes collected" in page
    assert "store-a-n0" in page and "collected in 80 ms" in page
    assert '<tr class="level-error">' in page and "cannot reach node: timed out" in page


def test_finished_job_does_not_poll(client, cluster, finished_job):
    client.force_login(make_user("v", Role.VIEWER, cluster))
    assert "hx-trigger" not in client.get(job_url(finished_job)).content.decode()


def test_running_job_polls_its_partial_every_second(client, cluster):
    job = records.job(cluster, state=Job.State.RUNNING)
    client.force_login(make_user("v", Role.VIEWER, cluster))
    page = client.get(job_url(job)).content.decode()
    assert f'hx-get="{job_url(job)}" hx-trigger="every 1s"' in page
    fragment = client.get(job_url(job), headers={"HX-Request": "true"})
    assert fragment.content.decode().lstrip().startswith(f'<section class="job" id="job-{job.pk}"')
    assert "HX-Refresh" not in fragment.headers


def test_the_poll_that_sees_the_job_finish_refreshes_the_page(client, cluster, finished_job):
    client.force_login(make_user("v", Role.VIEWER, cluster))
    response = client.get(job_url(finished_job), headers={"HX-Request": "true"})
    assert response.headers["HX-Refresh"] == "true"


def test_jobs_of_clusters_the_user_cannot_see_are_hidden(client, other_cluster, finished_job):
    client.force_login(make_user("b", Role.ADMIN, other_cluster))
    assert client.get(job_url(finished_job)).status_code == 404


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("cluster_admin", 404),
        ("global_viewer", 200),
        ("superuser", 200),
    ],
)
def test_collect_all_jobs_only_for_global_roles(client, cluster, who, status):
    users = {
        "cluster_admin": lambda: make_user("a", Role.ADMIN, cluster),
        "global_viewer": lambda: make_user("g", Role.VIEWER, None),
        "superuser": lambda: make_user("root", is_superuser=True),
    }
    client.force_login(users[who]())
    job = records.job(None)
    response = client.get(job_url(job))
    assert response.status_code == status
    if status == 200:
        assert "all clusters" in response.content.decode()
        assert "the schedule" in response.content.decode()


# --- Collect now ----------------------------------------------------------------------


def collect_url(cluster) -> str:
    return reverse("cluster-collect", args=[cluster.name])


def test_operator_collect_now_queues_a_job_and_enqueues_it_after_commit(
    client, cluster, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr("clusters.tasks.collect_job.delay", queued.append)
    client.force_login(make_user("op", Role.OPERATOR, cluster))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(collect_url(cluster))
    job = Job.objects.get()
    assert (job.kind, job.cluster, job.requested_by.username) == ("collect", cluster, "op")
    assert queued == [job.pk]
    assert response.status_code == 302 and response.headers["Location"] == job_url(job)


def test_htmx_collect_now_shows_the_job_in_place_and_polls_it(client, cluster, monkeypatch):
    monkeypatch.setattr("clusters.tasks.collect_job.delay", lambda pk: None)
    client.force_login(make_user("op", Role.OPERATOR, cluster))
    response = client.post(collect_url(cluster), headers={"HX-Request": "true"})
    job = Job.objects.get()
    fragment = response.content.decode()
    assert fragment.lstrip().startswith(f'<section class="job" id="job-{job.pk}"')
    assert 'hx-trigger="every 1s"' in fragment and "Queued" in fragment


def test_viewer_cannot_collect(client, cluster):
    client.force_login(make_user("v", Role.VIEWER, cluster))
    assert client.post(collect_url(cluster)).status_code == 403
    assert not Job.objects.exists()


def test_collect_button_only_for_operators(client, cluster):
    page_url = reverse("cluster-detail", args=[cluster.name])
    client.force_login(make_user("v", Role.VIEWER, cluster))
    assert "Collect now" not in client.get(page_url).content.decode()
    client.force_login(make_user("op", Role.OPERATOR, cluster))
    assert "Collect now" in client.get(page_url).content.decode()


def test_apply_job_page_shows_reason_plan_and_every_node_step(client, cluster):
    from django.utils import timezone

    from clusters.models import NodeStep

    plan = Job.objects.create(kind=Job.Kind.PLAN, cluster=cluster, state=Job.State.SUCCEEDED)
    job = Job.objects.create(
        kind=Job.Kind.APPLY,
        cluster=cluster,
        state=Job.State.FAILED,
        params={"plan_job": plan.pk, "reason": "new VMware datastore"},
    )
    node = cluster.nodes.order_by("name").first()
    now = timezone.now()
    NodeStep.objects.create(
        job=job,
        node=node,
        node_name=node.name,
        step="validate",
        command="timeout -k 5 60 scstadmin -check_config /etc/scst.conf.new",
        started_at=now,
        finished_at=now,
        exit_status=1,
        output="Checking configuration file '/etc/scst.conf.new' for errors.\nfailed",
    )
    NodeStep.objects.create(
        job=job, node=node, node_name=node.name, step="apply", command="true", started_at=now
    )
    client.force_login(make_user("v", Role.VIEWER, cluster))
    page = client.get(job_url(job)).content.decode()
    assert '<dd id="job-reason">new VMware datastore</dd>' in page
    assert f'href="{reverse("plan-detail", args=[plan.pk])}" id="job-plan"' in page
    assert "timeout -k 5 60 scstadmin -check_config /etc/scst.conf.new" in page
    assert '<span class="badge critical">1</span>' in page
    assert "<details open><summary>2 lines</summary>" in page
    assert '<span class="badge critical">no answer</span>' in page  # never finished


def test_job_list_links_to_the_job_page(client, cluster, finished_job):
    client.force_login(make_user("v", Role.VIEWER, cluster))
    page = client.get(reverse("job-list")).content.decode()
    assert f'<a href="{job_url(finished_job)}">#{finished_job.pk}</a>' in page


def test_a_probe_answering_with_a_non_zero_exit_is_not_shown_as_a_failure(client, cluster):
    from django.utils import timezone

    from clusters.models import NodeStep

    job = Job.objects.create(kind=Job.Kind.WORKFLOW, cluster=cluster, state="succeeded")
    node, now = cluster.nodes.order_by("name").first(), timezone.now()
    closed = "cat /sys/kernel/scst_tgt/devices/r0/size"  # absent: the device is closed
    for step, command in (("probe", closed), ("unexport", "scstadmin -close_dev r0")):
        NodeStep.objects.create(
            job=job, node=node, node_name=node.name, step=step, command=command,
            started_at=now, finished_at=now, exit_status=1,
        )  # fmt: skip
    client.force_login(make_user("v", Role.VIEWER, cluster))
    rows = client.get(job_url(job)).content.decode().split('<tr class="node-step')[1:]
    assert '<span class="badge unknown" title="A workflow\'s read' in rows[0]
    assert '<span class="badge critical">1</span>' in rows[1]  # a command that failed
