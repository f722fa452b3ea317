"""Maintenance of one node: drain it (targets disabled, sessions force-closed, optionally
DRBD demoted and disconnected) and return it; refusals (peer unhealthy, peer not serving,
both nodes), the peer failing mid-drain, and what the lab answers."""

import pytest
from django.urls import reverse

from clusters import maintenance
from clusters.models import Finding, Job, Node, NodeStep, Role
from clusters.services import jobs, workflows
from clusters.services.change_kinds import NodeDrain, NodeReturn, VerifyResource
from lab import api, interpreter, workflow_cmds
from lab import maintenance as lab_maintenance
from tests.change_support import QUEUE, hang, unhang, wait_for, wait_step
from tests.factories import make_user

ESX1, ESX2 = "iqn.1998-01.com.vmware:esx1", "iqn.1998-01.com.vmware:esx2"


@pytest.fixture
def operator(lab_cluster):
    return make_user("op", Role.OPERATOR, lab_cluster)


def names(cluster) -> tuple[str, str]:
    return f"{cluster.name}-a", f"{cluster.name}-b"


def logged_in_to_both(lab, cluster) -> None:
    """Two ESX hosts with a path to each node (multipath), doing I/O."""
    for node in names(cluster):
        for initiator in (ESX1, ESX2):
            api.add_session(lab.dir, node, initiator, io_rate_kb=512)


def node_view(lab, node_name: str) -> dict:
    """What the node runs: iSCSI targets' enabled, sessions, DRBD role/connection/disk."""
    n = api.node(lab.dir, node_name)
    with n.session():
        workflow_cmds.settle(n)
        targets = n.state.scst.drivers["iscsi"]
        return {
            "enabled": {t.name: t.enabled for t in targets.values()},
            "sessions": sorted(s for t in targets.values() for s in t.sessions),
            "drbd": {
                name: (
                    run.sides[node_name].role,
                    run.sides[node_name].cstate,
                    run.sides[node_name].volumes[0].disk,
                )
                for name, run in n.cluster.resources.items()
            },
            "devices": sorted(n.state.scst.devices),
        }


def plan(cluster, user, change) -> Job:
    return workflows.plan_run(workflows.plan_create(cluster, user, change, "maintenance"))


def target_of(lab, node_name: str) -> str:
    return next(iter(node_view(lab, node_name)["enabled"]))


# --- the lab answers as the kernel and dash do -----------------------------------------------


def test_lab_force_close_closes_a_session_and_the_initiator_waits_for_the_enable(lab):
    node = names_of_lab(lab)[1]
    api.add_session(lab.dir, node, ESX1)
    target = target_of(lab, node)
    path = f"{maintenance.ISCSI_ROOT}/{target}/sessions/{ESX1}/force_close"
    n = api.node(lab.dir, node)

    def sh(argv):
        return interpreter.run_command(n, " ".join(__import__("shlex").quote(a) for a in argv))

    # Enabled target: the initiator logs straight back in (why the drain disables first).
    assert sh(maintenance.force_close_argv(target, ESX1)).exit_status == 0
    assert node_view(lab, node)["sessions"] == [ESX1]
    read = sh(["cat", path])
    assert (read.exit_status, read.stderr) == (1, f"cat: {path}: Permission denied\n")
    sh(maintenance.enable_argv(target, False))
    assert sh(maintenance.force_close_argv(target, ESX1)).exit_status == 0
    assert node_view(lab, node)["sessions"] == []
    again = sh(maintenance.force_close_argv(target, ESX1))
    assert again.exit_status == 2
    assert again.stderr == f"sh: 1: cannot create {path}: Directory nonexistent\n"
    enabled = sh(maintenance.enable_argv(target, True))
    assert enabled.exit_status == 0, enabled.stderr
    assert node_view(lab, node)["sessions"] == [ESX1]  # logged back in


def names_of_lab(lab) -> tuple[str, str]:
    cluster = lab.manifest["clusters"][0]["name"]
    return f"{cluster}-a", f"{cluster}-b"


def test_force_close_argv_refuses_names_a_shell_would_read():
    with pytest.raises(ValueError):
        maintenance.force_close_argv("iqn.2024-01.lab:t", "iqn.x;rm -rf /")
    argv = maintenance.force_close_argv("iqn.2024-01.lab:t", ESX1)
    assert argv[:4] == ["sh", "-c", 'echo 1 > "$1"', "sh"]
    assert argv[4].endswith(f"/sessions/{ESX1}/force_close")


# --- planning and refusals -------------------------------------------------------------------


def test_drain_plan_lists_disable_then_force_close_and_changes_nothing(lab, lab_cluster, operator):
    _, b = names(lab_cluster)
    logged_in_to_both(lab, lab_cluster)
    job = plan(lab_cluster, operator, NodeDrain(b, drbd=True))
    assert job.state == Job.State.SUCCEEDED, job.summary
    steps = workflows.WorkflowPlan.from_json(job.params).steps
    target = target_of(lab, b)
    assert [s["argv"] for s in steps][:3] == [
        ["scstadmin", "-noprompt", "-disable_target", target, "-driver", "iscsi"],
        maintenance.force_close_argv(target, ESX1),
        maintenance.force_close_argv(target, ESX2),
    ]
    assert [s["step"] for s in steps][3:] == (
        ["unexport"] * len(node_view(lab, b)["devices"]) + ["secondary", "disconnect"] * 2
    )
    assert all(s["node"] == b for s in steps)
    assert node_view(lab, b)["enabled"] == {target: 1}
    assert node_view(lab, b)["sessions"] == [ESX1, ESX2]


def test_drain_is_refused_when_the_peer_is_not_healthy(lab, lab_cluster, operator):
    a, b = names(lab_cluster)
    logged_in_to_both(lab, lab_cluster)
    api.outdate(lab.dir, a, "r0")
    job = plan(lab_cluster, operator, NodeDrain(b))
    assert job.state == Job.State.REFUSED
    assert f"{a}: DRBD r0 is Primary/Outdated, not Primary/UpToDate" in job.summary
    assert not job.steps.filter(writes=True).exists()


def test_drain_is_refused_when_an_initiator_has_no_path_through_the_peer(
    lab, lab_cluster, operator
):
    a, b = names(lab_cluster)
    api.add_session(lab.dir, a, ESX1)
    api.add_session(lab.dir, b, ESX1)
    api.add_session(lab.dir, b, ESX2)  # ESX2 only through b
    job = plan(lab_cluster, operator, NodeDrain(b))
    assert job.state == Job.State.REFUSED
    assert f"Initiator {ESX2} is logged in to {b} only" in job.summary


def test_drain_is_refused_when_the_peer_does_not_export_a_lun(lab, lab_cluster, operator):
    a, b = names(lab_cluster)
    logged_in_to_both(lab, lab_cluster)
    n = api.node(lab.dir, a)
    with n.session():
        for t in n.state.scst.drivers["iscsi"].values():
            for lun in [k for k, v in t.luns.items() if v.device == "r1"]:
                del t.luns[lun]
            for g in t.groups.values():
                for lun in [k for k, v in g.luns.items() if v.device == "r1"]:
                    del g.luns[lun]
        n.dirty_node = True
    job = plan(lab_cluster, operator, NodeDrain(b))
    assert job.state == Job.State.REFUSED
    assert f"{a} does not export r1 through an enabled target" in job.summary


def test_never_both_nodes_and_nothing_else_while_one_is_in_maintenance(lab, lab_cluster, operator):
    a, b = names(lab_cluster)
    Node.objects.filter(cluster=lab_cluster, name=b).update(maintenance_since=time_now())
    job = plan(lab_cluster, operator, NodeDrain(a))
    assert job.state == Job.State.REFUSED
    assert f"{b} is in maintenance" in job.summary and "never both nodes" in job.summary
    other = plan(lab_cluster, operator, VerifyResource("r0"))
    assert other.state == Job.State.REFUSED and "return it first" in other.summary
    not_in = plan(lab_cluster, operator, NodeReturn(a))
    assert not_in.state == Job.State.REFUSED
    assert f"{a} is not in maintenance" in not_in.summary


def time_now():
    from django.utils import timezone

    return timezone.now()


def test_drbd_steps_are_refused_on_resources_pacemaker_manages(lab, lab_cluster, operator):
    from lab import stack

    a, b = names(lab_cluster)
    logged_in_to_both(lab, lab_cluster)
    for node in (a, b):
        stack.set_stack(lab.dir, node, drbd_clones={"r0": 2})
    job = plan(lab_cluster, operator, NodeDrain(b, drbd=True))
    assert job.state == Job.State.REFUSED
    assert "Pacemaker manages DRBD r0" in job.summary
    assert "drbdadm secondary/disconnect" in job.summary
    assert plan(lab_cluster, operator, NodeDrain(b)).state == Job.State.SUCCEEDED


# --- drain and return, eagerly -------------------------------------------------------------


def test_drain_and_return_without_drbd(lab, lab_cluster, operator, client):
    a, b = names(lab_cluster)
    logged_in_to_both(lab, lab_cluster)
    target = target_of(lab, b)
    drained = workflows.apply_run(
        workflows.apply_create(plan(lab_cluster, operator, NodeDrain(b)), operator, "BIOS")
    )
    assert drained.state == Job.State.SUCCEEDED, drained.summary
    assert node_view(lab, b)["enabled"] == {target: 0}
    assert node_view(lab, b)["sessions"] == []
    assert node_view(lab, a)["sessions"] == [ESX1, ESX2]
    assert Node.objects.get(cluster=lab_cluster, name=b).in_maintenance
    client.force_login(operator)
    compliance = client.get(reverse("compliance"), {"cluster": lab_cluster.name})
    assert "expected during maintenance" in compliance.content.decode()
    detail = client.get(reverse("cluster-detail", args=[lab_cluster.name])).content.decode()
    assert f"{b} in maintenance" in detail and f'id="return-{b}"' in detail
    assert f'id="drain-{a}"' not in detail  # never both nodes: the peer waits for the return
    assert f"Maintenance after {b} returns" in detail
    returned = workflows.apply_run(
        workflows.apply_create(plan(lab_cluster, operator, NodeReturn(b)), operator, "done")
    )
    assert returned.state == Job.State.SUCCEEDED, returned.summary
    assert "2 initiator(s) logged in again" in returned.summary
    assert node_view(lab, b)["enabled"] == {target: 1}
    assert node_view(lab, b)["sessions"] == [ESX1, ESX2]
    assert not Node.objects.get(cluster=lab_cluster, name=b).in_maintenance


# --- through the real worker ------------------------------------------------------------------


def queued_plan(cluster, user, change) -> Job:
    from clusters import workflow_tasks

    job = workflows.plan_create(cluster, user, change, "maintenance")
    jobs.enqueue(job, workflow_tasks.workflow_plan_job, queue=QUEUE)
    return wait_for(job)


def queued_run(plan_job: Job, user) -> Job:
    from clusters import workflow_tasks

    assert plan_job.state == Job.State.SUCCEEDED, plan_job.summary
    job = workflows.apply_create(plan_job, user, "disk replacement on b")
    jobs.enqueue(job, workflow_tasks.workflow_apply_job, queue=QUEUE)
    return job


def run_held_at(lab, cluster, user, change, node: str, pattern: str, seconds: float = 3) -> Job:
    """A workflow run through the worker whose command matching PATTERN on NODE hangs for
    SECONDS; returned once that command has started (the lab's hang fault stays set)."""
    ready = queued_plan(cluster, user, change)
    hang(lab, node, pattern, seconds)
    job = queued_run(ready, user)
    wait_step(job, node, pattern)
    return job


def read_back(job: Job, node: str, after: str, command: str, last: bool = False) -> str:
    """The output of the first COMMAND probe on NODE after JOB's (first or LAST) AFTER step."""
    steps = list(job.steps.filter(node_name=node).order_by("pk"))
    writes = [i for i, s in enumerate(steps) if s.step == after and s.writes]
    start = writes[-1] if last else writes[0]
    probe = next(s for s in steps[start + 1 :] if s.step == "probe" and command in s.command)
    return probe.output


@pytest.mark.django_db(transaction=True)
def test_drain_with_drbd_and_return_through_the_worker(workers, lab, lab_cluster):
    a, b = names(lab_cluster)
    operator = make_user("op", Role.OPERATOR, lab_cluster)
    logged_in_to_both(lab, lab_cluster)
    target = target_of(lab, b)
    workers.start()

    drain = wait_for(queued_run(queued_plan(lab_cluster, operator, NodeDrain(b, True)), operator))
    assert drain.state == Job.State.SUCCEEDED, drain.summary
    assert f"{b} is in maintenance" in drain.summary
    mine, peer = node_view(lab, b), node_view(lab, a)
    assert mine["enabled"] == {target: 0} and mine["sessions"] == []
    assert mine["devices"] == []  # SCST closed them: DRBD could be demoted
    assert mine["drbd"] == {r: ("Secondary", "StandAlone", "UpToDate") for r in ("r0", "r1")}
    assert peer["sessions"] == [ESX1, ESX2]  # the initiators continue through a
    assert all(state[0] == "Primary" and state[2] == "UpToDate" for state in peer["drbd"].values())
    writes = [s.command for s in NodeStep.objects.filter(job=drain, writes=True).order_by("pk")]
    assert writes[0] == f"scstadmin -noprompt -disable_target {target} -driver iscsi"
    assert writes[1].startswith("sh -c 'echo 1 > \"$1\"' sh ") and ESX1 in writes[1]
    assert writes[-2:] == ["drbdadm secondary r1", "drbdadm disconnect r1"]
    # After each step the job read the node back (journaled probes), showing its effect.
    assert f"{target}/enabled:0" in read_back(drain, b, "disable", "grep -r")
    assert ESX1 not in read_back(drain, b, "close_session", "grep -r", last=True)
    assert "Secondary" in read_back(drain, b, "secondary", "drbdsetup status")
    assert "StandAlone" in read_back(drain, b, "disconnect", "drbdsetup status")
    assert drain.events.filter(step="drain", message__contains="no session").exists()
    node = Node.objects.get(cluster=lab_cluster, name=b)
    assert node.in_maintenance and node.maintenance_job_id == drain.pk
    # The drained node's findings are expected, not alarms: the cluster is not CRITICAL.
    expected = Finding.objects.filter(cluster=lab_cluster, resolved_at=None)
    assert expected.filter(expected_in_maintenance=True).exists()
    from clusters import selectors

    row = selectors.cluster_overview(type(lab_cluster).objects.filter(pk=lab_cluster.pk))[0]
    assert row.maintenance == [b] and row.expected > 0
    assert row.status != "CRITICAL", row

    # a takes writes while b is away: b resyncs on its return.
    lab_maintenance.write_while_away(lab.dir, a, "r0", 8192)
    back = wait_for(queued_run(queued_plan(lab_cluster, operator, NodeReturn(b)), operator))
    assert back.state == Job.State.SUCCEEDED, back.summary
    assert "2 initiator(s) logged in again" in back.summary
    for node_name in (a, b):
        view = node_view(lab, node_name)
        assert view["drbd"] == {r: ("Primary", "Connected", "UpToDate") for r in ("r0", "r1")}
        assert view["enabled"] == {target_of(lab, node_name): 1}
        assert view["sessions"] == [ESX1, ESX2]
    writes = [s.command for s in NodeStep.objects.filter(job=back, writes=True).order_by("pk")]
    assert writes == [
        "drbdadm connect r0",
        "drbdadm connect r1",
        "drbdadm primary r0",
        "drbdadm primary r1",
        "scstadmin -noprompt -config /etc/scst.conf",
        f"scstadmin -noprompt -enable_target {target} -driver iscsi",
    ]
    assert back.events.filter(step="resync", message__contains="SyncSource").exists()
    assert "Primary" in read_back(back, b, "primary", "drbdsetup status")
    assert f"{target}/enabled:1" in read_back(back, b, "enable", "grep -r")
    assert not Node.objects.get(cluster=lab_cluster, name=b).in_maintenance
    assert not Finding.objects.filter(
        cluster=lab_cluster, resolved_at=None, expected_in_maintenance=True
    ).exists()


@pytest.mark.django_db(transaction=True)
def test_peer_failing_mid_drain_re_enables_this_node_and_stops(workers, lab, lab_cluster):
    a, b = names(lab_cluster)
    operator = make_user("op", Role.OPERATOR, lab_cluster)
    logged_in_to_both(lab, lab_cluster)
    target = target_of(lab, b)
    workers.start()
    job = run_held_at(lab, lab_cluster, operator, NodeDrain(b), b, "force_close")
    api.outdate(lab.dir, a, "r0")  # the peer loses its good data mid-drain
    job = wait_for(job)
    unhang(lab, b)
    assert job.state == Job.State.FAILED, job.summary
    assert f"{a}: DRBD r0 is Primary/Outdated" in job.summary
    assert f"{b}'s targets ({target}) are enabled again" in job.summary
    assert node_view(lab, b)["enabled"] == {target: 1}  # b serves again
    assert ESX2 in node_view(lab, b)["sessions"]  # its initiators log back in
    assert not Node.objects.get(cluster=lab_cluster, name=b).in_maintenance
    re_enable = job.steps.filter(step="re-enable", writes=True).get()
    assert re_enable.exit_status == 0


@pytest.mark.django_db(transaction=True)
def test_a_session_that_logs_out_by_itself_during_the_drain_counts_as_closed(
    workers, lab, lab_cluster
):
    # Initiators come and go: ESX2 leaves b on its own while the drain closes ESX1, so
    # its force_close file is gone when the drain writes it. Not a failure: it is closed.
    a, b = names(lab_cluster)
    operator = make_user("op", Role.OPERATOR, lab_cluster)
    logged_in_to_both(lab, lab_cluster)
    target = target_of(lab, b)
    workers.start()
    job = run_held_at(lab, lab_cluster, operator, NodeDrain(b), b, f"sessions/{ESX1}/force_close")
    node = api.node(lab.dir, b)
    with node.session():
        node.state.scst.drivers["iscsi"][target].sessions.pop(ESX2)
        node.dirty_node = True
    job = wait_for(job)
    unhang(lab, b)
    assert job.state == Job.State.SUCCEEDED, job.summary
    assert "2 session(s) closed" in job.summary
    gone = job.steps.filter(node_name=b, step="close_session", command__contains=ESX2)
    assert [s.exit_status for s in gone if s.writes] == [2]  # dash: cannot create
    assert any(f"{ESX2} on {target} had gone" in e.message for e in job.events.all())
    drained = node_view(lab, b)
    assert drained["enabled"] == {target: 0} and drained["sessions"] == []
    assert node_view(lab, a)["sessions"] == [ESX1, ESX2]


def test_only_new_findings_read_from_the_drained_node_are_expected():
    from datetime import timedelta

    from clusters.services.findings import expected_in_maintenance

    since = time_now()
    drained = {"n-b": since}

    def finding(nodes, first_seen):
        return Finding(details=[{"node": n, "text": "x"} for n in nodes], first_seen=first_seen)

    later = since + timedelta(seconds=5)
    assert expected_in_maintenance(finding(["n-b"], later), drained)
    assert expected_in_maintenance(finding(["n-a", "n-b"], later), drained)  # both sides
    assert not expected_in_maintenance(finding(["n-a"], later), drained)  # the peer: alarm
    assert not expected_in_maintenance(finding([], later), drained)  # whole cluster
    assert not expected_in_maintenance(finding(["n-b"], since - timedelta(1)), drained)
    assert not expected_in_maintenance(finding(["n-b"], later), {})


def test_a_failing_disable_stops_the_drain_and_leaves_the_node_serving(lab, lab_cluster, operator):
    _, b = names(lab_cluster)
    logged_in_to_both(lab, lab_cluster)
    target = target_of(lab, b)
    ready = plan(lab_cluster, operator, NodeDrain(b))
    assert ready.state == Job.State.SUCCEEDED, ready.summary
    # Both scstadmin -disable_target and -enable_target fail on b (after disabling).
    api.set_fault(lab.dir, b, fail_on="able_target", fail_status=1, fail_stderr="I/O error\n")
    lab.wait_for_faults()
    run = workflows.apply_run(workflows.apply_create(ready, operator, "BIOS"))
    assert run.state == Job.State.FAILED, run.summary
    assert "Re-enabling" in run.summary and "are still DISABLED" in run.summary
    assert f"`scstadmin -enable_target TARGET -driver iscsi` on {b} now" in run.summary
    b_node = Node.objects.get(cluster=lab_cluster, name=b)
    assert node_view(lab, b)["enabled"] == {target: 1}  # the fault failed the command itself
    assert not b_node.in_maintenance  # nothing was left disabled: not flagged


@pytest.mark.django_db(transaction=True)
def test_peer_failing_while_this_node_cannot_be_re_enabled_is_flagged_loudly(
    workers, lab, lab_cluster
):
    a, b = names(lab_cluster)
    operator = make_user("op", Role.OPERATOR, lab_cluster)
    logged_in_to_both(lab, lab_cluster)
    target = target_of(lab, b)
    workers.start()
    job = run_held_at(lab, lab_cluster, operator, NodeDrain(b), b, "force_close")
    api.set_fault(lab.dir, b, fail_on="enable_target", fail_status=1, fail_stderr="I/O error\n")
    api.outdate(lab.dir, a, "r0")
    job = wait_for(job)
    api.set_fault(lab.dir, b, hang_on=None, hang_seconds=0.0, fail_on=None)
    lab.wait_for_faults()
    assert job.state == Job.State.FAILED, job.summary
    assert f"{target} on {b} are still DISABLED" in job.summary
    assert "NEITHER node serves them" in job.summary
    assert node_view(lab, b)["enabled"] == {target: 0}
    flagged = Node.objects.get(cluster=lab_cluster, name=b)
    assert flagged.in_maintenance and flagged.maintenance_job_id == job.pk
    assert f"{b} is flagged in maintenance" in job.summary
