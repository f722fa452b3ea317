"""The jobs centre: every job a user may see (the job page's rule), filtered, paginated,
polling itself while a job on it runs."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from clusters.models import Job, Role
from tests import records
from tests.factories import make_user

URL = reverse("job-list")


def shown(client, query: str = "", **headers) -> list[int]:
    response = client.get(URL + query, headers=headers)
    assert response.status_code == 200
    page = response.content.decode()
    return [int(row.split('"')[0]) for row in page.split('id="job-row-')[1:]]


@pytest.fixture
def jobs(cluster, other_cluster):
    """A collect on each cluster, a collect of all clusters, a plan and an apply."""
    alice = make_user("alice", Role.OPERATOR, cluster)
    made = {
        "mine": records.job(cluster, alice, Job.State.SUCCEEDED),
        "other": records.job(other_cluster, None, Job.State.FAILED),
        "all": records.job(None, None, Job.State.SUCCEEDED),
        "plan": Job.objects.create(
            kind=Job.Kind.PLAN,
            cluster=cluster,
            requested_by=alice,
            state=Job.State.SUCCEEDED,
            params={"description": "Add LUN 1 vmfs1 (DRBD r1) on both nodes"},
        ),
    }
    made["apply"] = Job.objects.create(
        kind=Job.Kind.APPLY,
        cluster=cluster,
        requested_by=alice,
        state=Job.State.RUNNING,
        params={"plan_job": made["plan"].pk, "reason": "new datastore"},
    )
    return made


def ids(jobs, *names) -> list[int]:
    return sorted((jobs[n].pk for n in names), reverse=True)


def test_a_cluster_viewer_sees_the_jobs_of_their_cluster_only(client, cluster, jobs):
    client.force_login(make_user("v", Role.VIEWER, cluster))
    assert shown(client) == ids(jobs, "mine", "plan", "apply")


def test_global_roles_also_see_jobs_of_all_clusters(client, jobs):
    client.force_login(make_user("g", Role.VIEWER, None))
    assert shown(client) == ids(jobs, "mine", "other", "all", "plan", "apply")


def test_no_membership_sees_no_job(client, jobs):
    client.force_login(make_user("nobody"))
    assert shown(client) == []


def test_rows_say_what_the_job_was_for(client, jobs):
    client.force_login(make_user("su", is_superuser=True))
    page = client.get(URL).content.decode()
    assert "Add LUN 1 vmfs1 (DRBD r1) on both nodes" in page
    assert f"plan #{jobs['plan'].pk}: new datastore" in page
    assert "the schedule" in page and "alice" in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?cluster=store-b", ["other"]),
        ("?kind=plan", ["plan"]),
        ("?state=failed", ["other"]),
        ("?user=alice", ["mine", "plan", "apply"]),
        ("?kind=collect&state=succeeded", ["mine", "all"]),
        ("?state=bogus&cluster=no-such", ["mine", "other", "all", "plan", "apply"]),
    ],
)
def test_filters(client, jobs, query, expected):
    client.force_login(make_user("su", is_superuser=True))
    assert shown(client, query) == ids(jobs, *expected)


def test_date_filters(client, jobs):
    old = jobs["other"]
    Job.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    client.force_login(make_user("su", is_superuser=True))
    week_ago = (timezone.now() - timedelta(days=7)).date().isoformat()
    assert old.pk not in shown(client, f"?since={week_ago}")
    assert shown(client, f"?until={week_ago}") == [old.pk]


def test_a_viewer_cannot_filter_their_way_into_another_cluster(client, cluster, jobs):
    client.force_login(make_user("v", Role.VIEWER, cluster))
    assert shown(client, "?cluster=store-b") == ids(jobs, "mine", "plan", "apply")


def test_the_table_polls_while_a_job_runs_and_stops_after(client, jobs):
    client.force_login(make_user("su", is_superuser=True))
    fragment = client.get(URL + "?kind=apply", headers={"HX-Request": "true"}).content.decode()
    assert fragment.lstrip().startswith('<div id="jobs"')
    assert 'hx-get="/jobs/?kind=apply" hx-trigger="every 2s"' in fragment
    Job.objects.filter(pk=jobs["apply"].pk).update(state=Job.State.SUCCEEDED)
    fragment = client.get(URL + "?kind=apply", headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in fragment
    assert "Succeeded" in fragment


def test_pages_of_fifty(client, cluster):
    for _ in range(55):
        records.job(cluster, state=Job.State.SUCCEEDED)
    client.force_login(make_user("su", is_superuser=True))
    assert len(shown(client)) == 50
    assert len(shown(client, "?page=2")) == 5
    assert "page 1 of 2" in client.get(URL).content.decode()


def test_times_carry_their_time_zone(client, jobs):
    client.force_login(make_user("su", is_superuser=True))
    page = client.get(URL).content.decode()
    stamp = timezone.localtime(jobs["mine"].created_at).strftime("%Y-%m-%d %H:%M:%S")
    assert f">{stamp} UTC</time>" in page
