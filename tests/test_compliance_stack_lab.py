"""Cluster-stack rules (issue 16), each seeded in the lab, collected over SSH and read on
the compliance page."""

import pytest

from clusters.services import collection
from clusters.services.facts import latest_snapshots, node_facts_for
from lab import api, stack
from tests.compliance_support import findings_on_page

STACK_CODES = {
    "DLM_LOCKSPACE_MISSING",
    "DLM_MISSING_FOR_RESERVATIONS",
    "CLUSTER_NOT_QUORATE",
    "CLUSTER_NODE_NOT_MEMBER",
    "FENCING_NOT_EFFECTIVE",
    "PACEMAKER_ONE_PROMOTED",
}
HANDLER = "/usr/lib/drbd/crm-fence-peer.9.sh"


def collect(cluster):
    return collection.collection_run(collection.collection_create(cluster))


def codes(cluster):
    return {code: found[0] for code, found in findings_on_page(cluster).items()}


def node_facts(cluster, name):
    return node_facts_for(latest_snapshots(cluster)[name][0])


def texts(finding) -> list[str]:
    return [d["text"] for d in finding.details]


def cluster_mode_on(lab, cluster, device="r0"):
    for side in "ab":
        api.set_device_attr(lab.dir, f"{cluster.name}-{side}", device, "cluster_mode", "1")


def test_a_healthy_lab_stack_raises_nothing_and_manages_no_drbd(lab, lab_cluster):
    cluster_mode_on(lab, lab_cluster)
    collect(lab_cluster)
    assert not STACK_CODES & set(codes(lab_cluster))
    facts = node_facts(lab_cluster, f"{lab_cluster.name}-a")
    assert facts.stack.quorum.quorate
    assert facts.stack.lockspace_names() == {
        "scst-" + facts.device_attribute("r0", "t10_dev_id").value
    }
    assert facts.pacemaker_managed_resources == set()


def test_cluster_mode_device_without_its_lockspace_is_critical(lab, lab_cluster):
    cluster_mode_on(lab, lab_cluster)
    a = f"{lab_cluster.name}-a"
    t10 = node_facts(lab_cluster, a).device_attribute("r0", "t10_dev_id").value
    stack.set_stack(lab.dir, a, missing_lockspaces=[f"scst-{t10}"])
    collect(lab_cluster)
    finding = codes(lab_cluster)["DLM_LOCKSPACE_MISSING"]
    assert finding.severity == "CRITICAL" and finding.object_ref == "device:r0"
    assert texts(finding) == [f"lockspace scst-{t10} is missing"]
    assert finding.details[0]["node"] == a
    assert "dlm_tool ls" in finding.details[0]["evidence"]


def test_reservations_on_a_node_without_dlm_are_critical(lab, lab_cluster):
    b = f"{lab_cluster.name}-b"
    api.register_reservation(lab.dir, b, "r1", 0x1234)
    stack.set_stack(lab.dir, b, dlm_running=False)
    collect(lab_cluster)
    finding = codes(lab_cluster)["DLM_MISSING_FOR_RESERVATIONS"]
    assert finding.severity == "CRITICAL" and finding.object_ref == "device:r1"
    assert "1 reservation key(s) registered, no DLM" in texts(finding)[0]
    assert "pr_state" in finding.details[0]["evidence"]


def test_lost_quorum_and_a_missing_member_are_critical(lab, lab_cluster):
    a, b = f"{lab_cluster.name}-a", f"{lab_cluster.name}-b"
    stack.set_stack(lab.dir, a, quorate=False, members=[a])
    collect(lab_cluster)
    found = codes(lab_cluster)
    quorum = found["CLUSTER_NOT_QUORATE"]
    assert quorum.severity == "CRITICAL" and quorum.object_ref == f"node:{a}"
    assert "corosync is not quorate" in texts(quorum)
    assert "Pacemaker's DC has no quorum" in texts(quorum)
    member = found["CLUSTER_NODE_NOT_MEMBER"]
    assert member.object_ref == f"node:{b}"
    assert f"{b} is not in corosync's membership" in texts(member)
    assert f"Pacemaker shows {b} offline" in texts(member)


@pytest.mark.parametrize(
    ("fault", "text"),
    [
        ({"stonith_enabled": False}, "STONITH is disabled in Pacemaker"),
        ({"fence_device": False}, "no fence device is configured in Pacemaker"),
        ({"pacemaker_running": False}, "no cluster manager can fence: Pacemaker is not running"),
        ({"installed": False}, "no cluster manager can fence: Pacemaker is not running"),
    ],
)
def test_resource_and_stonith_that_cannot_fence_is_critical(lab, lab_cluster, fault, text):
    b = f"{lab_cluster.name}-b"
    stack.set_stack(lab.dir, b, **fault)
    collect(lab_cluster)
    finding = codes(lab_cluster)["FENCING_NOT_EFFECTIVE"]
    assert finding.severity == "CRITICAL"
    assert {d["node"] for d in finding.details} == {b}
    assert any(t.startswith(text) for t in texts(finding))


@pytest.mark.parametrize("executable", [False, None])
def test_a_missing_or_not_executable_fence_peer_handler_is_critical(lab, lab_cluster, executable):
    a = f"{lab_cluster.name}-a"
    stack.set_handler(lab.dir, a, HANDLER, executable)
    collect(lab_cluster)
    finding = codes(lab_cluster)["FENCING_NOT_EFFECTIVE"]
    assert {f.object_ref for f in findings_on_page(lab_cluster)["FENCING_NOT_EFFECTIVE"]} == {
        "resource:r0",
        "resource:r1",
    }
    assert any(
        f"fence-peer handler {HANDLER} is missing or not executable" in t for t in texts(finding)
    )
    assert f"test -x {HANDLER}" in finding.details[0]["evidence"]


def test_pacemaker_clone_with_one_promoted_instance_is_critical(lab, lab_cluster):
    for side in "ab":
        stack.set_stack(lab.dir, f"{lab_cluster.name}-{side}", drbd_clones={"r0": 1, "r1": 2})
    collect(lab_cluster)
    finding = codes(lab_cluster)["PACEMAKER_ONE_PROMOTED"]
    assert finding.severity == "CRITICAL" and finding.object_ref == "resource:r0"
    assert texts(finding) == ["clone ms_drbd_r0 allows 1 promoted instance"]
    assert 'promoted-max="1"' in finding.details[0]["evidence"]
    facts = node_facts(lab_cluster, f"{lab_cluster.name}-a")
    assert facts.pacemaker_managed_resources == {"r0", "r1"}


def test_a_node_without_any_cluster_stack_is_known_not_incomplete(lab, lab_cluster):
    for side in "ab":
        stack.set_stack(lab.dir, f"{lab_cluster.name}-{side}", installed=False)
    collect(lab_cluster)
    found = codes(lab_cluster)
    assert "COLLECTION_INCOMPLETE" not in found
    facts = node_facts(lab_cluster, f"{lab_cluster.name}-a")
    assert facts.stack.absent and facts.pacemaker_managed_resources == set()
