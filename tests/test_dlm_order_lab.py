"""README.dlm's order on the change path, against lab nodes: a plan that writes cluster_mode
on an exported device (on or off), or creates a cluster_mode device on enabled targets,
disables the targets exporting it on that node first and enables them again after, one
node at a time; the plan says so and what initiators lose; a failure between disable and
enable rolls back in the same order and leaves the targets enabled.

Source: SCST scst/README.dlm, "Startup and shutdown ordering" ("Configure SCST while its
target ports remain disabled. Enable cluster_mode only for shared devices ... before
enabling target ports. During shutdown, disable target ports and wait for initiator
sessions and commands to drain before disabling cluster_mode.")."""

import pytest
from django.test import Client
from django.urls import reverse

from clusters.models import Job, NodeStep, Role
from clusters.services import changes
from clusters.services.change_kinds import EditLun
from lab import api
from tests.factories import add_lun_change, make_user

INITIATOR = "iqn.1998-01.com.vmware:esx1"


@pytest.fixture
def operator(lab_cluster):
    return make_user("op", Role.OPERATOR, lab_cluster)


def names(cluster) -> list[str]:
    return [n.name for n in cluster.nodes.order_by("name")]


def scst(lab, node_name: str):
    node = api.node(lab.dir, node_name)
    with node.session():
        return node.state.scst


def target_of(lab, node_name: str) -> str:
    [target] = scst(lab, node_name).drivers["iscsi"]
    return target


def plan_job(cluster, user, change) -> Job:
    job = changes.plan_now(cluster, user, change, "cluster_mode")
    assert job.state == Job.State.SUCCEEDED, job.summary
    return job


def apply(plan: Job, user) -> Job:
    return changes.apply_run(changes.apply_create(plan, user, reason="README.dlm order"))


def steps(job: Job, node: str) -> list[str]:
    return list(NodeStep.objects.filter(job=job, node_name=node).values_list("command", flat=True))


def index(commands: list[str], text: str, start: int = 0) -> int:
    return next(i for i, c in enumerate(commands) if i >= start and text in c)


def assert_dlm_order(commands: list[str], target: str, write: str) -> None:
    """disable_target (read back 0) < the cluster_mode write < enable_target."""
    disable = index(commands, f"-disable_target {target} -driver iscsi")
    read_back = f"cat /sys/kernel/scst_tgt/targets/iscsi/{target}/enabled"
    assert commands[disable + 1].endswith(read_back)  # the node log adds `timeout …`
    written = index(commands, write, disable)
    index(commands, f"-enable_target {target} -driver iscsi", written)


def logged(lab, node_name: str) -> list[str]:
    """The commands the lab node ran, as its SSH server recorded them."""
    return (lab.dir / "nodes" / node_name / "commands.log").read_text().splitlines()


def test_turning_cluster_mode_on_disables_the_targets_around_the_write_on_each_node(
    lab, lab_cluster, operator
):
    a, b = names(lab_cluster)
    api.add_session(lab.dir, a, INITIATOR)
    plan = plan_job(lab_cluster, operator, EditLun("r0", {"cluster_mode": 1}))
    stored = changes.Plan.from_json(plan.params)
    for node in stored.nodes:
        target = target_of(lab, node.node)
        assert node.dlm_targets == [["iscsi", target]]
        assert node.dlm_paths == ["r0", "r1"]  # the target exports both
    [warning_a] = [w for w in stored.warnings if w.startswith(f"{a}: cluster_mode of r0")]
    assert "README.dlm" in warning_a and "scstadmin -disable_target" in warning_a
    assert f"Initiators lose the path through {a} meanwhile" in warning_a
    assert f"logged in: {INITIATOR}." in warning_a
    before = {n: len(logged(lab, n)) for n in (a, b)}

    job = apply(plan, operator)

    assert job.state == Job.State.SUCCEEDED, job.summary
    for node in (a, b):
        target = target_of(lab, node)
        assert_dlm_order(steps(job, node), target, "-set_dev_attr r0 -attributes cluster_mode=1")
        ran = logged(lab, node)[before[node] :]  # and the node ran them in that order
        assert_dlm_order(ran, target, "-set_dev_attr r0 -attributes cluster_mode=1")
        live = scst(lab, node)
        assert live.devices["r0"].attrs["cluster_mode"] == "1"
        assert live.drivers["iscsi"][target].enabled == 1
    # One node at a time: b's targets go off only once a's are back on.
    first, second = (list(NodeStep.objects.filter(job=job, node_name=n)) for n in (a, b))
    a_enabled = next(s for s in first if "-enable_target" in s.command)
    b_disabled = next(s for s in second if "-disable_target" in s.command)
    assert a_enabled.started_at <= b_disabled.started_at
    client = Client()
    client.force_login(operator)
    pages = {
        "plan": client.get(reverse("plan-detail", args=[plan.pk])).content.decode(),
        "apply job": client.get(reverse("job-detail", args=[job.pk])).content.decode(),
    }
    for page in pages.values():
        assert f"Initiators lose the path through {a} meanwhile" in page
    order = pages["plan"].split(f'id="dlm-order-{b}"')[1].split("</p>")[0]
    assert "-disable_target" in order and target_of(lab, b) in order
    assert any("README.dlm" in w for w in client.get(f"/api/jobs/{job.pk}/").json()["warnings"])


def test_turning_cluster_mode_off_disables_the_targets_first(lab, lab_cluster, operator):
    on = apply(plan_job(lab_cluster, operator, EditLun("r0", {"cluster_mode": 1})), operator)
    assert on.state == Job.State.SUCCEEDED, on.summary
    plan = plan_job(lab_cluster, operator, EditLun("r0", {"cluster_mode": 0}))
    job = apply(plan, operator)
    assert job.state == Job.State.SUCCEEDED, job.summary
    for node in names(lab_cluster):
        target = target_of(lab, node)
        assert_dlm_order(steps(job, node), target, "-set_dev_attr r0 -attributes cluster_mode=0")
        assert scst(lab, node).devices["r0"].attrs["cluster_mode"] == "0"
        assert scst(lab, node).drivers["iscsi"][target].enabled == 1


def test_a_change_that_writes_no_cluster_mode_leaves_the_targets_alone(lab, lab_cluster, operator):
    plan = plan_job(lab_cluster, operator, EditLun("r0", {"prod_id": "vmfs-gold"}))
    assert all(not n.dlm_targets for n in changes.Plan.from_json(plan.params).nodes)
    job = apply(plan, operator)
    assert job.state == Job.State.SUCCEEDED, job.summary
    assert not NodeStep.objects.filter(job=job, command__contains="_target").exists()


def test_a_new_cluster_mode_device_on_enabled_targets_is_created_with_them_disabled(
    lab, spare_cluster
):
    user = make_user("op", Role.OPERATOR, spare_cluster)
    plan = plan_job(spare_cluster, user, add_lun_change(spare_cluster))
    job = apply(plan, user)
    assert job.state == Job.State.SUCCEEDED, job.summary
    for node in names(spare_cluster):
        target = target_of(lab, node)
        assert_dlm_order(steps(job, node), target, "-config /etc/scst.conf")
        live = scst(lab, node)
        assert live.devices["vmfs1"].attrs["cluster_mode"] == "1"
        assert live.drivers["iscsi"][target].enabled == 1


def test_a_failure_between_disable_and_enable_rolls_back_and_re_enables_the_targets(
    lab, lab_cluster, operator
):
    a, b = names(lab_cluster)
    plan = plan_job(lab_cluster, operator, EditLun("r0", {"cluster_mode": 1}))
    # b's cluster_mode write fails after its targets went off (a has applied by then).
    api.set_fault(lab.dir, b, fail_on="cluster_mode=1", fail_stderr="dlm: no lockspace\n")
    lab.wait_for_faults()

    job = apply(plan, operator)

    assert job.state == Job.State.FAILED
    for node in (a, b):
        target = target_of(lab, node)
        live = scst(lab, node)
        assert live.devices["r0"].value("cluster_mode", live.setup_id) == "0"  # as it was
        assert live.drivers["iscsi"][target].enabled == 1  # and serving again
        commands = steps(job, node)
        restore = index(commands, "-disable_target", index(commands, "cluster_mode=1") + 1)
        index(commands, f"-enable_target {target}", restore)
    failed = steps(job, b)
    assert index(failed, "-disable_target") < index(failed, "cluster_mode=1")
    rolled = job.summary
    assert "rolled back" in rolled, rolled
