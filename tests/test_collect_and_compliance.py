"""Real collections over SSH from lab nodes, judged by the rule catalogue.

Each rule is seeded in the lab the way a real node would show it, collected, and the
finding is asserted with its evidence; a healthy lab yields no finding at all.
"""

import pytest

from clusters.models import Finding, Job, NodeSnapshot
from clusters.services import collection
from lab import api
from tests.compliance_support import findings_on_page


def collect(cluster) -> Job:
    return collection.collection_run(collection.collection_create(cluster))


def open_findings(cluster) -> dict[str, list[Finding]]:
    """Open findings by code, each checked to be on the compliance page."""
    return findings_on_page(cluster)


def test_healthy_lab_has_no_findings(lab_cluster):
    job = collect(lab_cluster)
    assert job.state == Job.State.SUCCEEDED
    assert open_findings(lab_cluster) == {}
    snapshot = NodeSnapshot.objects.filter(node__cluster=lab_cluster).first()
    assert snapshot.reachable
    assert "write_through" in snapshot.raw["file_dump"]["stdout"]
    assert snapshot.raw["drbd_status_json"]["exit_status"] == 0
    from clusters.services.facts import node_facts_for

    versions = node_facts_for(snapshot).versions
    assert versions["DRBDADM_VERSION"] and versions["SCST"]


def test_write_back_device_is_critical_with_evidence(lab, lab_cluster):
    api.set_device_attr(lab.dir, f"{lab_cluster.name}-b", "r1", "write_through", "0")
    collect(lab_cluster)
    [finding] = open_findings(lab_cluster)["SCST_WRITE_BACK"]
    assert finding.severity == "CRITICAL"
    assert finding.object_ref == "device:r1"
    [detail] = finding.details
    assert detail["node"] == f"{lab_cluster.name}-b"
    assert "write_through is 0, must be 1" in detail["text"]
    assert "write_through" in detail["evidence"]


def test_nv_cache_on_is_critical(lab, lab_cluster):
    api.set_device_attr(lab.dir, f"{lab_cluster.name}-a", "r0", "nv_cache", "1")
    collect(lab_cluster)
    [finding] = open_findings(lab_cluster)["SCST_NV_CACHE_ON"]
    assert finding.object_ref == "device:r0"


def test_identity_differing_between_nodes_is_critical(lab, lab_cluster):
    api.set_device_attr(lab.dir, f"{lab_cluster.name}-b", "r0", "t10_dev_id", "other-id")
    collect(lab_cluster)
    findings = open_findings(lab_cluster)
    [finding] = findings["SCST_IDENTITY_MISMATCH"]
    assert {d["node"] for d in finding.details} == {
        f"{lab_cluster.name}-a",
        f"{lab_cluster.name}-b",
    }
    assert "DRIFT_SCST" in findings  # the inventory holds the original identity


def test_reservations_without_cluster_mode_are_critical(lab, lab_cluster):
    api.register_reservation(lab.dir, f"{lab_cluster.name}-a", "r0", key=0x1234)
    collect(lab_cluster)
    [finding] = open_findings(lab_cluster)["SCST_CLUSTER_MODE_OFF"]
    assert finding.severity == "CRITICAL"
    assert "reservation key(s) registered" in finding.details[0]["text"]


def test_standalone_drbd_is_critical(lab, lab_cluster):
    api.drbd_standalone(lab.dir, f"{lab_cluster.name}-a", "r0")
    collect(lab_cluster)
    [finding] = open_findings(lab_cluster)["DRBD_NOT_CONNECTED"]
    assert finding.severity == "CRITICAL"
    assert finding.object_ref == "resource:r0"


def test_split_brain_shows_disconnected_and_out_of_sync(lab, lab_cluster):
    api.split_brain(lab.dir, f"{lab_cluster.name}-a", "r1")
    collect(lab_cluster)
    findings = open_findings(lab_cluster)
    assert findings["DRBD_NOT_CONNECTED"][0].object_ref == "resource:r1"


def test_outdated_disk_is_reported(lab, lab_cluster):
    api.outdate(lab.dir, f"{lab_cluster.name}-b", "r0")
    collect(lab_cluster)
    [finding] = open_findings(lab_cluster)["DRBD_DISK_NOT_UPTODATE"]
    assert any("Outdated" in d["text"] for d in finding.details)


def test_unreachable_node_is_unknown_and_does_not_block_the_other(lab, lab_cluster):
    api.set_fault(lab.dir, f"{lab_cluster.name}-b", down=True)
    lab.wait_for_faults()
    job = collect(lab_cluster)
    assert job.state == Job.State.PARTIAL
    [finding] = open_findings(lab_cluster)["NODE_UNREACHABLE"]
    assert finding.object_ref == f"node:{lab_cluster.name}-b"
    reachable = NodeSnapshot.objects.filter(job=job, reachable=True)
    assert [s.node.name for s in reachable] == [f"{lab_cluster.name}-a"]


def test_changed_host_key_stops_work_and_is_critical(lab, lab_cluster):
    api.set_fault(lab.dir, f"{lab_cluster.name}-a", changed_host_key=True)
    lab.wait_for_faults()
    collect(lab_cluster)
    [finding] = open_findings(lab_cluster)["HOST_KEY_CHANGED"]
    assert finding.severity == "CRITICAL"
    node = lab_cluster.nodes.get(name=f"{lab_cluster.name}-a")
    assert node.pending_host_key and node.pending_host_key != node.host_key
    snapshot = NodeSnapshot.objects.filter(node=node).first()
    assert snapshot.raw == {}  # nothing was run on a node we do not trust


def test_finding_resolves_when_the_node_is_fixed(lab, lab_cluster):
    node = f"{lab_cluster.name}-b"
    api.set_device_attr(lab.dir, node, "r1", "write_through", "0")
    collect(lab_cluster)
    finding = open_findings(lab_cluster)["SCST_WRITE_BACK"][0]
    api.set_device_attr(lab.dir, node, "r1", "write_through", "1")
    collect(lab_cluster)
    finding.refresh_from_db()
    assert finding.resolved_at is not None
    assert "SCST_WRITE_BACK" not in open_findings(lab_cluster)


@pytest.mark.parametrize("version", ["9"])
def test_lab_clusters_adopt_without_drift(lab_factory, db, version):
    from clusters.models import Cluster
    from clusters.services.labsync import inventory_sync

    lab = lab_factory(2, drbd_version=version)
    inventory_sync(lab.manifest)
    for cluster in Cluster.objects.all():
        assert cluster.devices.count() == 2
        assert open_findings(cluster) == {}


def test_drbd84_cluster_is_read_from_proc_drbd(lab_factory, db):
    from clusters.models import Cluster
    from clusters.services.facts import node_facts_for
    from clusters.services.labsync import inventory_sync

    lab = lab_factory(1, drbd_version="8.4")
    inventory_sync(lab.manifest)
    cluster = Cluster.objects.get()
    assert cluster.drbd_version == "8.4"
    snapshot = NodeSnapshot.objects.filter(node__cluster=cluster).first()
    assert "drbd_status_json" not in snapshot.raw  # 8.4 has no status --json
    facts = node_facts_for(snapshot)
    assert facts.drbd_status["r0"].role == "Primary"
    assert facts.drbd_status["r0"].peers[0].connection == "Connected"
    codes = set(open_findings(cluster))
    assert not codes & {"DRBD_RESOURCE_DOWN", "COLLECTION_INCOMPLETE", "DRBD_NOT_CONNECTED"}
