"""Issue 11: an apply re-judges under the lock on fresh facts, verifies real values and
files, and every diff is exact. Plans and applies run in the real Celery worker against
the lab; every test reads the end state from the nodes."""

import time

import pytest
from django.urls import reverse

from clusters.models import Cluster, Finding, Job, Role
from clusters.services import changes, collection
from lab import api
from tests.change_support import apply, node_file, node_fingerprint, plan, wait_for
from tests.factories import add_lun_change, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def operator(spare_cluster):
    return make_user("op", Role.OPERATOR, spare_cluster)


def nodes_of(cluster: Cluster) -> list[str]:
    return [f"{cluster.name}-a", f"{cluster.name}-b"]


def fingerprints(lab, cluster: Cluster) -> dict:
    return {name: node_fingerprint(lab, name) for name in nodes_of(cluster)}


def open_codes(cluster: Cluster) -> set[str]:
    return set(
        Finding.objects.filter(cluster=cluster, resolved_at=None).values_list("code", flat=True)
    )


def test_split_brain_after_planning_refuses_the_apply_and_writes_nothing(
    celery_worker, spare_cluster, operator, lab
):
    ready = plan(spare_cluster, operator, add_lun_change(spare_cluster))
    assert ready.state == Job.State.SUCCEEDED, ready.summary
    before = fingerprints(lab, spare_cluster)
    job = changes.apply_create(ready, operator, "new datastore")  # ready when asked
    api.split_brain(lab.dir, f"{spare_cluster.name}-a", "r1")
    from clusters import tasks
    from clusters.services import jobs

    jobs.enqueue(job, tasks.apply_job)
    job = wait_for(job)
    print("split brain:", job.state, job.summary)
    assert job.state == Job.State.REFUSED
    assert "DRBD r1 is not healthy dual-primary" in job.summary
    assert not job.steps.filter(writes=True).exists()
    assert fingerprints(lab, spare_cluster) == before


def test_switch_to_monitored_after_planning_refuses_the_apply(
    celery_worker, spare_cluster, operator, lab
):
    ready = plan(spare_cluster, operator, add_lun_change(spare_cluster))
    before = fingerprints(lab, spare_cluster)
    job = changes.apply_create(ready, operator, "new datastore")
    Cluster.objects.filter(pk=spare_cluster.pk).update(mode=Cluster.Mode.MONITORED)
    from clusters import tasks
    from clusters.services import jobs

    jobs.enqueue(job, tasks.apply_job)
    job = wait_for(job)
    print("monitored:", job.state, job.summary)
    assert job.state == Job.State.REFUSED and "monitored" in job.summary
    assert fingerprints(lab, spare_cluster) == before


def test_a_plan_whose_lun_another_apply_took_is_out_of_date_and_refused(
    celery_worker, client, spare_cluster, operator, lab
):
    first = plan(spare_cluster, operator, add_lun_change(spare_cluster, "vmfs1", 1))
    second = plan(spare_cluster, operator, add_lun_change(spare_cluster, "vmfs2", 1))
    assert (first.state, second.state) == (Job.State.SUCCEEDED, Job.State.SUCCEEDED)
    assert apply(first, operator).state == Job.State.SUCCEEDED
    client.force_login(operator)
    page = client.get(reverse("plan-detail", args=[second.pk])).content.decode()
    assert "out of date" in page and 'id="apply-form"' not in page
    with pytest.raises(changes.PlanRefused, match="Out of date"):
        changes.apply_create(second, operator, "too late")
    after_first = fingerprints(lab, spare_cluster)
    assert all("vmfs2" not in str(devices) for devices, _ in after_first.values())


def test_an_expired_plan_is_refused_by_the_worker(
    celery_worker, client, settings, spare_cluster, operator, lab
):
    settings.PLAN_TTL_SECONDS = 2  # the plan is computed here, so its expiry is set here
    ready = changes.plan_now(spare_cluster, operator, add_lun_change(spare_cluster), "x")
    job = changes.apply_create(ready, operator, "new datastore")
    before = fingerprints(lab, spare_cluster)
    time.sleep(2.2)
    from clusters import tasks
    from clusters.services import jobs

    jobs.enqueue(job, tasks.apply_job)
    job = wait_for(job)
    print("expired:", job.state, job.summary)
    assert job.state == Job.State.REFUSED and "expired" in job.summary
    assert fingerprints(lab, spare_cluster) == before
    client.force_login(operator)
    page = client.get(reverse("plan-detail", args=[ready.pk])).content.decode()
    assert "Expired at" in page and 'id="apply-form"' not in page


def test_nv_cache_on_one_node_is_fixed_by_recreating_the_device(celery_worker, lab_cluster, lab):
    operator = make_user("op", Role.OPERATOR, lab_cluster)
    b = f"{lab_cluster.name}-b"
    api.set_device_attr(lab.dir, b, "r0", "nv_cache", "1")
    collection.collection_run(collection.collection_create(lab_cluster))
    assert "SCST_NV_CACHE_ON" in open_codes(lab_cluster)
    enforce = plan(lab_cluster, operator, {"kind": "enforce"}, "bring back")
    assert enforce.state == Job.State.SUCCEEDED, enforce.summary
    node_plans = {p.node: p for p in changes.Plan.from_json(enforce.params).nodes}
    [change] = node_plans[b].attributes
    assert (change.device, change.attribute, change.live, change.wanted) == (
        "r0",
        "nv_cache",
        "1",
        "0",
    )
    assert change.kind == "re-creation" and node_plans[b].recreated_devices == ["r0"]
    assert any("r0 is re-created" in w for w in node_plans[b].warnings)
    assert not node_plans[f"{lab_cluster.name}-a"].changes_anything
    job = apply(enforce, operator)
    print("nv_cache re-creation:", job.state, job.summary)
    assert job.state == Job.State.SUCCEEDED, job.summary
    device = api.node(lab.dir, b)
    with device.session():
        assert device.state.scst.devices["r0"].attrs.get("nv_cache", "0") == "0"
    assert job.events.filter(step="serving", level="ok").exists()  # the peer served r0
    assert "SCST_NV_CACHE_ON" not in open_codes(lab_cluster)


def test_a_config_file_that_differs_from_what_runs_is_found_and_fixed_by_enforce(
    celery_worker, lab_cluster, lab
):
    operator = make_user("op", Role.OPERATOR, lab_cluster)
    b = f"{lab_cluster.name}-b"
    conf = lab.dir / "nodes" / b / "root" / "etc/scst.conf"
    running_before = node_fingerprint(lab, b)[0]
    conf.write_text(conf.read_text().replace("LUN 0 r0", "LUN 0 r0\n\t\tLUN 7 r1"))
    collection.collection_run(collection.collection_create(lab_cluster))
    finding = Finding.objects.get(cluster=lab_cluster, code="CONFIG_FILE_DIFFERS", resolved_at=None)
    assert finding.severity == "CRITICAL" and finding.object_ref == f"file:/etc/scst.conf@{b}"
    assert "LUN 7 r1" in finding.details[0]["evidence"]  # the diff, as evidence
    enforce = plan(lab_cluster, operator, {"kind": "enforce"}, "bring back")
    assert enforce.state == Job.State.SUCCEEDED, enforce.summary
    node_plan = {p.node: p for p in changes.Plan.from_json(enforce.params).nodes}[b]
    assert [f.path for f in node_plan.files] == ["/etc/scst.conf"]
    assert not node_plan.scst_reload  # what runs is right: the file is replaced, not loaded
    job = apply(enforce, operator)
    assert job.state == Job.State.SUCCEEDED, job.summary
    assert "LUN 7 r1" not in node_file(lab, b, "/etc/scst.conf")
    assert node_fingerprint(lab, b)[0] == running_before
    assert "CONFIG_FILE_DIFFERS" not in open_codes(lab_cluster)


def test_after_an_apply_the_same_inventory_plans_nothing(
    celery_worker, spare_cluster, operator, lab
):
    assert apply(plan(spare_cluster, operator, add_lun_change(spare_cluster)), operator).state == (
        Job.State.SUCCEEDED
    )
    again = plan(spare_cluster, operator, {"kind": "enforce"}, "anything left?")
    print("no phantom diff:", again.state, again.summary)
    assert again.state == Job.State.REFUSED
    assert again.summary == changes.NOTHING_TO_CHANGE
    assert all(not p.files and not p.attributes for p in changes.Plan.from_json(again.params).nodes)
    assert open_codes(spare_cluster) == set()
