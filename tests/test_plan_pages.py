"""The plan page: per-node diffs, findings and refusals; Apply for operators only, with a
reason and a confirmation; revisions and revert on the cluster page; the lock holder."""

import pytest
from django.test import Client
from django.urls import reverse

from clusters import locks, tasks
from clusters.models import Job, LunMapping, Role
from clusters.services import changes, collection
from lab import api
from tests.factories import add_lun_change, make_cluster, make_user


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def operator(spare_cluster):
    return make_user("op", Role.OPERATOR, spare_cluster)


@pytest.fixture
def viewer(spare_cluster):
    return make_user("viewer", Role.VIEWER, spare_cluster)


@pytest.fixture
def plan_job(spare_cluster, operator):
    job = changes.plan_now(spare_cluster, operator, add_lun_change(spare_cluster), "add vmfs1")
    assert job.state == Job.State.SUCCEEDED, job.summary
    return job


def applies() -> int:
    return Job.objects.filter(kind=Job.Kind.APPLY).count()


def test_plan_page_shows_both_nodes_diffs_with_added_lines_marked(plan_job, viewer, spare_cluster):
    text = client_for(viewer).get(reverse("plan-detail", args=[plan_job.pk])).content.decode()
    assert "add vmfs1" in text
    assert "ready to apply" in text
    for suffix in "ab":
        node = f"{spare_cluster.name}-{suffix}"
        section = text.split(f'id="diff-{node}"')[1].split("</article>")[0]
        assert '<span class="file">+++ /etc/scst.conf (planned)</span>' in section
        assert '<span class="add">+\t\twrite_through 1</span>' in section
        assert '<span class="add">+\t\tcluster_mode 1</span>' in section
        assert '<span class="hunk">@@' in section
    assert "No findings: the planned configuration follows the safety rules." in text


def test_viewer_sees_the_plan_but_cannot_apply_it(plan_job, viewer):
    client = client_for(viewer)
    text = client.get(reverse("plan-detail", args=[plan_job.pk])).content.decode()
    assert 'id="apply-form"' not in text
    assert "Applying needs the operator role" in text
    url = reverse("plan-apply", args=[plan_job.pk])
    response = client.post(url, {"reason": "x", "confirm": "on"})
    assert response.status_code == 403
    assert applies() == 0


def test_plan_of_a_cluster_the_user_cannot_see_is_hidden(plan_job):
    other = make_cluster("store-z")
    outsider = make_user("outsider", Role.ADMIN, other)
    assert client_for(outsider).get(reverse("plan-detail", args=[plan_job.pk])).status_code == 404


@pytest.mark.parametrize(
    ("posted", "message"),
    [
        ({"confirm": "on"}, "Say why you apply this change."),
        ({"reason": "   ", "confirm": "on"}, "Say why you apply this change."),
        ({"reason": "new datastore"}, "Confirm that you have reviewed the diff for every node."),
    ],
)
def test_apply_needs_a_reason_and_the_confirmation(
    plan_job, operator, posted, message, monkeypatch
):
    queued = []
    monkeypatch.setattr(tasks.apply_job, "delay", queued.append)
    response = client_for(operator).post(reverse("plan-apply", args=[plan_job.pk]), posted)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert applies() == 0
    assert queued == []


def test_apply_queues_the_job_after_commit_and_opens_its_page(
    plan_job, operator, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(tasks.apply_job, "delay", queued.append)
    url = reverse("plan-apply", args=[plan_job.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(operator).post(url, {"reason": "new datastore", "confirm": "on"})
    job = Job.objects.get(kind=Job.Kind.APPLY)
    assert response.status_code == 302
    assert response["Location"] == reverse("job-detail", args=[job.pk])
    assert queued == [job.pk]
    assert job.params == {"plan_job": plan_job.pk, "reason": "new datastore"}
    text = client_for(operator).get(reverse("plan-detail", args=[plan_job.pk])).content.decode()
    assert f"Apply job #{job.pk}" in text
    assert 'id="apply-form"' not in text


def test_htmx_apply_errors_swap_the_form_and_success_redirects_the_page(
    plan_job, operator, monkeypatch
):
    monkeypatch.setattr(tasks.apply_job, "delay", lambda pk: None)
    client = client_for(operator)
    url = reverse("plan-apply", args=[plan_job.pk])
    bad = client.post(url, {"confirm": "on"}, HTTP_HX_REQUEST="true").content.decode()
    assert bad.lstrip().startswith('<section id="apply"')
    assert "Say why you apply this change." in bad
    good = client.post(url, {"reason": "r", "confirm": "on"}, HTTP_HX_REQUEST="true")
    job = Job.objects.get(kind=Job.Kind.APPLY)
    assert good["HX-Redirect"] == reverse("job-detail", args=[job.pk])


def test_refused_plan_shows_the_interlock_reason_and_no_apply(spare_cluster, operator, lab):
    api.set_fault(lab.dir, f"{spare_cluster.name}-b", down=True)
    lab.wait_for_faults()
    collection.collection_run(collection.collection_create(spare_cluster))
    job = changes.plan_now(spare_cluster, operator, add_lun_change(spare_cluster), "add")
    client = client_for(operator)
    text = client.get(reverse("plan-detail", args=[job.pk])).content.decode()
    refusals = text.split('id="refusals"')[1].split("</section>")[0]
    assert f"{spare_cluster.name}-b is unreachable" in refusals
    assert 'id="apply-form"' not in text
    response = client.post(reverse("plan-apply", args=[job.pk]), {"reason": "r", "confirm": "on"})
    assert "Only a plan that passed every interlock can be applied." in response.content.decode()
    assert applies() == 0


def test_monitored_cluster_and_running_change_are_shown_as_refusals(spare_cluster, operator):
    spare_cluster.mode = spare_cluster.Mode.MONITORED
    spare_cluster.save()
    assert locks.acquire(spare_cluster.pk, job_id=999, user="someone-else")
    try:
        job = changes.plan_now(spare_cluster, operator, add_lun_change(spare_cluster), "add")
        client = client_for(operator)
        text = client.get(reverse("plan-detail", args=[job.pk])).content.decode()
        lock = client.get(reverse("cluster-lock", args=[spare_cluster.name])).content.decode()
    finally:
        locks.release(spare_cluster.pk, 999)
    assert f"{spare_cluster.name} is monitored" in text
    assert "Another change (job 999 by someone-else) is running." in text
    assert "A change is running: job" in lock and "#999</a> by someone-else" in lock


def test_findings_of_the_planned_configuration_are_listed(db):
    cluster = make_cluster("store-f")
    viewer = make_user("v", Role.VIEWER, cluster)
    finding = {
        "code": "SCST_WRITE_BACK",
        "severity": "CRITICAL",
        "object": "device:lun9",
        "title": "write_through is 0",
    }
    plan = changes.Plan("sample", {"kind": "add_lun"}, findings=[finding])
    plan.refusals = ["The planned configuration itself breaks safety rules (see findings)."]
    from dataclasses import asdict

    job = Job.objects.create(
        cluster=cluster, kind=Job.Kind.PLAN, state=Job.State.FAILED, params=asdict(plan)
    )
    text = client_for(viewer).get(reverse("plan-detail", args=[job.pk])).content.decode()
    assert "SCST_WRITE_BACK" in text and "write_through is 0" in text
    assert "breaks safety rules" in text.split('id="refusals"')[1]


def test_revisions_are_listed_and_revert_plans_the_old_inventory(spare_cluster, operator):
    first = changes.plan_now(spare_cluster, operator, add_lun_change(spare_cluster), "add")
    assert changes.apply_run(changes.apply_create(first, operator, "one")).state == "succeeded"
    vmfs = LunMapping.objects.filter(device__name="vmfs1").values_list("pk", flat=True)
    change = {"kind": "remove_mappings", "mapping_ids": list(vmfs)}
    second = changes.plan_now(spare_cluster, operator, change, "remove")
    assert changes.apply_run(changes.apply_create(second, operator, "two")).state == "succeeded"
    old, current = spare_cluster.revisions.order_by("pk")
    client = client_for(operator)
    page = client.get(reverse("cluster-detail", args=[spare_cluster.name])).content.decode()
    assert f'id="revision-{old.pk}"' in page and f'id="revision-{current.pk}"' in page
    assert reverse("revision-revert", args=[spare_cluster.name, old.pk]) in page
    assert reverse("revision-revert", args=[spare_cluster.name, current.pk]) not in page
    response = client.post(reverse("revision-revert", args=[spare_cluster.name, old.pk]))
    plan = Job.objects.filter(kind=Job.Kind.PLAN).latest("pk")
    assert response["Location"] == reverse("plan-detail", args=[plan.pk])
    assert plan.params["change"] == {"kind": "revert", "revision": old.pk}
    text = client.get(response["Location"]).content.decode()
    assert f"Revert to revision {old.pk}" in text
    assert '<span class="add">+' in text  # the removed LUN comes back


def test_viewer_cannot_revert(spare_cluster, viewer):
    job = Job.objects.create(cluster=spare_cluster, kind=Job.Kind.APPLY)
    revision = spare_cluster.revisions.create(job=job, description="x", files={}, inventory={})
    url = reverse("revision-revert", args=[spare_cluster.name, revision.pk])
    assert client_for(viewer).post(url).status_code == 403
    assert not Job.objects.filter(kind=Job.Kind.PLAN).exists()


def test_cluster_page_offers_add_and_remove_to_operators_only(spare_cluster, operator, viewer):
    url = reverse("cluster-detail", args=[spare_cluster.name])
    as_operator = client_for(operator).get(url).content.decode()
    as_viewer = client_for(viewer).get(url).content.decode()
    add = reverse("lun-add", args=[spare_cluster.name])
    assert add in as_operator and add not in as_viewer
    assert ">Remove</a>" in as_operator and ">Remove</a>" not in as_viewer
    assert reverse("cluster-lock", args=[spare_cluster.name]) in as_viewer
