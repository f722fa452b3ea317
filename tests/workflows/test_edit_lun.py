"""Edit an existing LUN on the change path: the plan says per node whether each change is
a runtime set or a re-creation and what that node's initiators lose; applied through the
real worker and read back on both nodes; a node failing mid-apply rolls the other back."""

import time

import pytest
from django.urls import reverse

from clusters.models import Cluster, Job, Role
from clusters.services import changes
from clusters.services.change_kinds import EditLun
from clusters.services.labsync import inventory_sync
from lab import api
from lab.scstadmin import write_config
from tests.factories import make_user

GROUP_INITIATOR = "iqn.1998-01.com.vmware:esx1"


@pytest.fixture
def grouped_cluster(db, lab):
    """The lab cluster with an initiator group `esx` on node a exporting r0 and r1, logged
    in (its session sees r0), adopted into the inventory."""
    name = lab.manifest["clusters"][0]["name"]
    api.add_session(lab.dir, f"{name}-a", GROUP_INITIATOR, group="esx")
    node = api.node(lab.dir, f"{name}-a")
    with node.session():
        node.host_path("/etc/scst.conf").write_text(write_config(node.state, False))
    inventory_sync(lab.manifest)
    return Cluster.objects.get(name=name)


def device(lab, node_name: str, name: str = "r0"):
    node = api.node(lab.dir, node_name)
    with node.session():
        return node.state.scst.devices[name], node.state.scst.drivers["iscsi"]


def plan(cluster, user, change: EditLun) -> changes.Plan:
    job = changes.plan_now(cluster, user, change, f"Edit LUN {change.device}")
    assert job.state == Job.State.SUCCEEDED, job.summary
    return changes.Plan.from_json(job.params)


def test_plan_classifies_runtime_sets_and_re_creation_per_node(lab, grouped_cluster):
    user = make_user("op", Role.OPERATOR, grouped_cluster)
    edited = plan(grouped_cluster, user, EditLun("r0", {"prod_id": "vmfs-gold", "rotational": 0}))
    for node in edited.nodes:
        kinds = {a.attribute: a.kind for a in node.attributes}
        assert kinds == {"prod_id": "runtime set", "rotational": "re-creation"}
        assert node.runtime_sets == {"r0": {"prod_id": "vmfs-gold"}}
        assert node.recreated_devices == ["r0"]
    a = f"{grouped_cluster.name}-a"
    # What node a's logged-in initiator loses while r0 is re-created there:
    assert any(
        w.startswith(f"{a}: r0 is re-created") and GROUP_INITIATOR in w for w in edited.warnings
    )


def test_changing_the_lun_number_warns_who_loses_the_old_lun(lab, grouped_cluster):
    user = make_user("op", Role.OPERATOR, grouped_cluster)
    edited = plan(grouped_cluster, user, EditLun("r0", lun=7))
    assert any("LUN 0 (r0)" in w and GROUP_INITIATOR in w for w in edited.warnings)


def wait_for(job: Job, seconds: float = 90) -> Job:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.is_finished:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job.pk} still {job.state} after {seconds} s")


@pytest.mark.django_db(transaction=True)
def test_edit_through_the_worker_changes_both_nodes(celery_worker, client, lab, grouped_cluster):
    name = grouped_cluster.name
    client.force_login(make_user("op", Role.OPERATOR, grouped_cluster))
    page = client.get(reverse("lun-edit", args=[name, "r0"]))
    form = page.context["form"]
    data = {key: form.initial.get(key) for key in form.fields}
    group_field = next(k for k in form.fields if k.startswith("initiators_"))
    data.update(
        prod_id="vmfs-gold",
        cluster_mode=1,
        lun=5,
        **{group_field: f"{GROUP_INITIATOR}\niqn.1998-01.com.vmware:esx3"},
    )
    data = {k: "" if v is None else v for k, v in data.items()}
    assert client.post(reverse("lun-edit", args=[name, "r0"]), data).status_code == 302
    plan_job = wait_for(Job.objects.filter(kind=Job.Kind.PLAN).latest("pk"))
    assert plan_job.state == Job.State.SUCCEEDED, plan_job.summary
    response = client.post(
        reverse("plan-apply", args=[plan_job.pk]), {"reason": "rename", "confirm": "on"}
    )
    assert response.status_code == 302
    applied = wait_for(Job.objects.filter(kind=Job.Kind.APPLY).latest("pk"))
    assert applied.state == Job.State.SUCCEEDED, applied.summary
    for suffix in "ab":
        dev, targets = device(lab, f"{name}-{suffix}")
        assert (dev.attrs["prod_id"], dev.attrs["cluster_mode"]) == ("vmfs-gold", "1")
        target = next(iter(targets.values()))
        assert {k for k, v in target.luns.items() if v.device == "r0"} == {"5"}
    _, targets = device(lab, f"{name}-a")
    group = next(iter(targets.values())).groups["esx"]
    assert sorted(group.initiators) == [GROUP_INITIATOR, "iqn.1998-01.com.vmware:esx3"]
    assert {k for k, v in group.luns.items() if v.device == "r0"} == {"5"}


def test_second_node_failing_mid_apply_rolls_the_first_back(lab, grouped_cluster):
    user = make_user("op", Role.OPERATOR, grouped_cluster)
    b = f"{grouped_cluster.name}-b"
    job = changes.plan_now(grouped_cluster, user, EditLun("r0", {"prod_id": "vmfs-gold"}), "x")
    api.set_fault(lab.dir, b, fail_on="-set_dev_attr", fail_status=1, fail_stderr="EIO\n")
    lab.wait_for_faults()
    applied = changes.apply_run(changes.apply_create(job, user, "rename"))
    assert applied.state == Job.State.FAILED, applied.summary
    for suffix in "ab":
        dev, _ = device(lab, f"{grouped_cluster.name}-{suffix}")
        assert dev.attrs.get("prod_id", "r0") == "r0"  # both on the old value, both serving
