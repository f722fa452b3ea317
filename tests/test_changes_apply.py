"""Plan → apply → verify → rollback against lab nodes, with faults.

Every test ends with every node on the old or the new configuration, never a mix, and a
job that says what happened per node.
"""

import pytest

from clusters.models import Cluster, Job, LunMapping, Role, ScstDevice
from clusters.services import changes
from lab import api
from tests.factories import add_lun_change, make_user


@pytest.fixture
def operator(spare_cluster):
    return make_user("op", Role.OPERATOR, spare_cluster)


def node_scst(lab, node_name: str):
    node = api.node(lab.dir, node_name)
    with node.session():
        return node.state.scst


def apply(plan_job: Job, user) -> Job:
    job = changes.apply_create(plan_job, user, reason="new datastore")
    return changes.apply_run(job)


def test_plan_shows_the_diff_for_both_nodes_and_changes_nothing(spare_cluster, operator, lab):
    plan_job = changes.plan_now(spare_cluster, operator, add_lun_change(spare_cluster), "add vmfs1")
    assert plan_job.state == Job.State.SUCCEEDED, plan_job.summary
    plan = changes.Plan.from_json(plan_job.params)
    assert {n.node for n in plan.nodes} == {f"{spare_cluster.name}-a", f"{spare_cluster.name}-b"}
    for node_plan in plan.nodes:
        [scst_file] = node_plan.files
        assert "+\t\tfilename /dev/drbd1" in scst_file.diff
        assert "+\t\twrite_through 1" in scst_file.diff
        assert "+\t\tcluster_mode 1" in scst_file.diff
    assert not ScstDevice.objects.filter(name="vmfs1").exists()  # planning changes nothing
    assert "vmfs1" not in node_scst(lab, f"{spare_cluster.name}-a").devices


def test_apply_exports_the_lun_on_both_nodes_and_records_a_revision(spare_cluster, operator, lab):
    plan_job = changes.plan_now(spare_cluster, operator, add_lun_change(spare_cluster), "add vmfs1")
    job = apply(plan_job, operator)
    assert job.state == Job.State.SUCCEEDED, job.summary
    device = ScstDevice.objects.get(cluster=spare_cluster, name="vmfs1")
    for suffix in "ab":
        live = node_scst(lab, f"{spare_cluster.name}-{suffix}").devices["vmfs1"]
        assert live.attrs["write_through"] == "1"
        assert live.attrs["t10_dev_id"] == device.t10_dev_id
    assert LunMapping.objects.filter(device=device).count() == 2
    assert spare_cluster.revisions.count() == 1
    steps = list(job.events.values_list("step", "level"))
    assert ("stage", "ok") in steps and ("validate", "ok") in steps and ("verify", "ok") in steps
    assert not spare_cluster.findings.filter(resolved_at=None).exists()


def assert_old_config_everywhere(lab, cluster):
    for suffix in "ab":
        assert "vmfs1" not in node_scst(lab, f"{cluster.name}-{suffix}").devices
    assert not ScstDevice.objects.filter(name="vmfs1").exists()


def test_validation_failing_on_the_second_node_changes_no_node(spare_cluster, operator, lab):
    plan_job = changes.plan_now(spare_cluster, operator, add_lun_change(spare_cluster), "add vmfs1")
    api.set_fault(lab.dir, f"{spare_cluster.name}-b", fail_on="-check_config", fail_stderr="bad\n")
    lab.wait_for_faults()
    job = apply(plan_job, operator)
    assert job.state == Job.State.FAILED
    assert "validate" in job.summary and f"{spare_cluster.name}-b" in job.summary
    assert_old_config_everywhere(lab, spare_cluster)


def test_apply_failing_on_the_second_node_rolls_back_the_first(spare_cluster, operator, lab):
    plan_job = changes.plan_now(spare_cluster, operator, add_lun_change(spare_cluster), "add vmfs1")
    api.set_fault(
        lab.dir, f"{spare_cluster.name}-b", fail_on="-config /etc/scst.conf", fail_stderr="boom\n"
    )
    lab.wait_for_faults()
    job = apply(plan_job, operator)
    assert job.state == Job.State.FAILED
    assert f"{spare_cluster.name}-a: rolled back" in job.summary
    assert_old_config_everywhere(lab, spare_cluster)
    rollback = job.events.filter(step="rollback", level="ok")
    assert rollback.filter(node__name=f"{spare_cluster.name}-a").exists()


def test_connection_dropped_during_staging_changes_nothing(spare_cluster, operator, lab):
    plan_job = changes.plan_now(spare_cluster, operator, add_lun_change(spare_cluster), "add vmfs1")
    api.set_fault(lab.dir, f"{spare_cluster.name}-b", drop_on="sync /var/lib/scst-portal/staged")
    lab.wait_for_faults()
    job = apply(plan_job, operator)
    assert job.state == Job.State.FAILED
    assert_old_config_everywhere(lab, spare_cluster)


def test_node_down_before_apply_is_refused_by_the_interlock(spare_cluster, operator, lab):
    api.set_fault(lab.dir, f"{spare_cluster.name}-b", down=True)
    lab.wait_for_faults()
    from clusters.services import collection

    collection.collection_run(collection.collection_create(spare_cluster))
    plan_job = changes.plan_now(spare_cluster, operator, add_lun_change(spare_cluster), "add vmfs1")
    assert plan_job.state == Job.State.REFUSED
    assert f"{spare_cluster.name}-b is unreachable" in plan_job.summary


def test_second_apply_of_the_same_cluster_waits_for_the_lock(spare_cluster, operator, lab):
    from clusters import locks

    plan_job = changes.plan_now(spare_cluster, operator, add_lun_change(spare_cluster), "add vmfs1")
    job = changes.apply_create(plan_job, operator, reason="new datastore")
    assert locks.acquire(spare_cluster.pk, job_id=999, user="someone-else")
    try:
        changes.apply_run(job)
    finally:
        locks.release(spare_cluster.pk, 999)
    assert job.state == Job.State.REFUSED
    assert "another change holds the lock (job 999 by someone-else)" in job.summary
    assert_old_config_everywhere(lab, spare_cluster)


def test_monitored_cluster_is_never_planned(spare_cluster, operator):
    spare_cluster.mode = Cluster.Mode.MONITORED
    spare_cluster.save()
    plan_job = changes.plan_now(spare_cluster, operator, add_lun_change(spare_cluster), "add vmfs1")
    assert plan_job.state == Job.State.REFUSED
    assert "monitored" in plan_job.summary


def test_viewer_cannot_plan(spare_cluster):
    from django.core.exceptions import PermissionDenied

    viewer = make_user("v", Role.VIEWER, spare_cluster)
    with pytest.raises(PermissionDenied):
        changes.plan_now(spare_cluster, viewer, add_lun_change(spare_cluster), "add")


def test_node_going_down_mid_apply_rolls_back_and_says_what_is_unknown(
    spare_cluster, operator, lab
):
    plan_job = changes.plan_now(spare_cluster, operator, add_lun_change(spare_cluster), "add vmfs1")
    api.set_fault(lab.dir, f"{spare_cluster.name}-b", drop_on="-config /etc/scst.conf")
    lab.wait_for_faults()
    job = apply(plan_job, operator)
    assert job.state == Job.State.FAILED
    assert f"{spare_cluster.name}-a: rolled back" in job.summary
    # B's rollback retried on a fresh connection and verified the old state.
    assert f"{spare_cluster.name}-b: rolled back" in job.summary
    assert job.events.filter(step="rollback", message__contains="fresh connection").exists()
    assert_old_config_everywhere(lab, spare_cluster)


def test_plan_and_apply_are_in_the_audit_trail(spare_cluster, operator, lab):
    from clusters.audit import Action, AuditEntry

    plan_job = changes.plan_now(spare_cluster, operator, add_lun_change(spare_cluster), "add vmfs1")
    job = apply(plan_job, operator)
    assert job.state == Job.State.SUCCEEDED
    plan_entry = AuditEntry.objects.get(action=Action.PLAN)
    assert plan_entry.after["change"]["spec"]["device_name"] == "vmfs1"
    assert plan_entry.reason == "add vmfs1" and plan_entry.user == operator
    applied = AuditEntry.objects.filter(action=Action.APPLY).order_by("at")
    assert [e.reason for e in applied] == ["new datastore", "new datastore"]
    revision_entry = applied.last()
    assert not any(d["name"] == "vmfs1" for d in revision_entry.before["devices"])
    assert any(d["name"] == "vmfs1" for d in revision_entry.after["devices"])


@pytest.mark.django_db(transaction=True)
def test_two_operators_applying_at_once_one_waits_nothing_mixes(spare_cluster, lab):
    import threading

    from django.db import connection

    first, second = (
        make_user("op1", Role.OPERATOR, spare_cluster),
        make_user("op2", Role.OPERATOR, spare_cluster),
    )
    plans = [
        changes.plan_now(
            spare_cluster, first, add_lun_change(spare_cluster, "vmfs1", 1), "add vmfs1"
        ),
        changes.plan_now(
            spare_cluster, second, add_lun_change(spare_cluster, "vmfs2", 2), "add vmfs2"
        ),
    ]
    jobs = [
        changes.apply_create(p, u, "at once") for p, u in zip(plans, (first, second), strict=True)
    ]
    start = threading.Barrier(2)

    def run(job):
        start.wait()
        try:
            changes.apply_run(job)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    states = sorted(Job.objects.get(pk=j.pk).state for j in jobs)
    summaries = " ".join(Job.objects.get(pk=j.pk).summary for j in jobs)
    assert states == [Job.State.REFUSED, Job.State.SUCCEEDED], summaries
    assert "another change holds the lock" in summaries or "inventory changed" in summaries
    added = set(
        ScstDevice.objects.filter(name__in=["vmfs1", "vmfs2"]).values_list("name", flat=True)
    )
    assert len(added) == 1
    for suffix in "ab":
        live = set(node_scst(lab, f"{spare_cluster.name}-{suffix}").devices) & {"vmfs1", "vmfs2"}
        assert live == added  # every node runs exactly the change that won


def test_drift_is_overwritten_only_by_an_explicit_enforce_plan(lab_cluster, lab):
    from clusters.models import Finding
    from clusters.services import collection

    operator = make_user("op", Role.OPERATOR, lab_cluster)
    node = f"{lab_cluster.name}-b"
    api.set_device_attr(lab.dir, node, "r1", "write_through", "0")  # changed by hand
    collection.collection_run(collection.collection_create(lab_cluster))
    blocked = changes.plan_now(lab_cluster, operator, add_lun_change(lab_cluster, "x", 5), "add")
    assert "drifted" in blocked.summary
    plan_job = changes.plan_now(lab_cluster, operator, {"kind": "enforce"}, "enforce")
    assert plan_job.state == Job.State.SUCCEEDED, plan_job.summary
    plans = {p.node: p for p in changes.Plan.from_json(plan_job.params).nodes}
    assert plans[f"{lab_cluster.name}-a"].files == []  # already runs the inventory
    assert "+\t\twrite_through 1" in plans[node].files[0].diff
    job = apply(plan_job, operator)
    assert job.state == Job.State.SUCCEEDED, job.summary
    assert node_scst(lab, node).devices["r1"].attrs["write_through"] == "1"
    open_codes = set(
        Finding.objects.filter(cluster=lab_cluster, resolved_at=None).values_list("code", flat=True)
    )
    assert open_codes == set()
