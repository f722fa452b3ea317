"""The rest of the catalogue, each rule seeded in the lab's node state and collected."""

import time
from contextlib import contextmanager
from datetime import timedelta

from django.utils import timezone

from clusters.models import Finding, NodeSnapshot
from clusters.services import collection, findings
from lab import api
from lab.state import Lun
from tests.compliance_support import findings_on_page

VMWARE = "iqn.1998-01.com.vmware:esx01-4f2a"


@contextmanager
def node_state(lab, node_name: str):
    """Edit a lab node's SCST state and the cluster's DRBD run state, saved on exit."""
    node = api.node(lab.dir, node_name)
    with node.session():
        yield node
        node.dirty_node = node.dirty_cluster = True


def collect(cluster):
    return collection.collection_run(collection.collection_create(cluster))


def codes(cluster) -> dict[str, Finding]:
    """Open findings by code, each checked to be on the compliance page."""
    return {code: found[0] for code, found in findings_on_page(cluster).items()}


def side(node, resource: str):
    return node.cluster.resources[resource].sides[node.name]


def test_protocol_other_than_c_in_the_running_resource_is_critical(lab, lab_cluster):
    with node_state(lab, f"{lab_cluster.name}-a") as node:
        for s in node.cluster.resources["r0"].sides.values():
            s.net["protocol"] = "A"
    collect(lab_cluster)
    finding = codes(lab_cluster)["DRBD_PROTOCOL_NOT_C"]
    assert finding.severity == "CRITICAL"
    assert "protocol is A, must be C" in finding.details[0]["text"]
    assert "drbdsetup show" in finding.details[0]["evidence"]


def test_allow_two_primaries_off_at_runtime_is_critical(lab, lab_cluster):
    with node_state(lab, f"{lab_cluster.name}-b") as node:
        for s in node.cluster.resources["r1"].sides.values():
            s.net["allow-two-primaries"] = "no"
    collect(lab_cluster)
    finding = codes(lab_cluster)["DRBD_TWO_PRIMARIES_OFF"]
    assert finding.object_ref == "resource:r1"
    # drbdsetup show omits a default value: the rule reads it from DRBD's defaults
    assert "allow-two-primaries is no" in finding.details[0]["text"]


def test_fencing_off_is_reported(lab, lab_cluster):
    with node_state(lab, f"{lab_cluster.name}-a") as node:
        for s in node.cluster.resources["r0"].sides.values():
            s.net.pop("fencing", None)
    collect(lab_cluster)
    assert "fencing is dont-care" in codes(lab_cluster)["DRBD_FENCING"].details[0]["text"]


def test_secondary_node_is_reported(lab, lab_cluster):
    with node_state(lab, f"{lab_cluster.name}-b") as node:
        side(node, "r0").role = "Secondary"
    collect(lab_cluster)
    finding = codes(lab_cluster)["DRBD_NOT_PRIMARY"]
    assert any("role is Secondary" in d["text"] for d in finding.details)


def test_unsafe_handler_on_a_drbd_device_is_critical():
    # The lab emulates the two vdisk handlers only, so this rule is fed a running config
    # in scstadmin's own format (a vcdrom device on a DRBD device, as in its examples).
    from clusters import scst
    from clusters.compliance import evaluate
    from clusters.facts import ClusterFacts, NodeFacts

    config = scst.parse_config(
        "HANDLER vcdrom {\n\tDEVICE cd0 {\n\t\tfilename /dev/drbd3\n\t}\n}\n"
    )
    node = NodeFacts("n1", reachable=True, scst_config=config)
    [finding] = [f for f in evaluate(ClusterFacts("c", [node])) if f.code == "SCST_HANDLER_UNSAFE"]
    assert finding.severity == "CRITICAL"
    assert finding.details[0].text == "cd0 uses vcdrom"


def test_device_on_the_backing_disk_instead_of_drbd_is_critical(lab, lab_cluster):
    with node_state(lab, f"{lab_cluster.name}-b") as node:
        node.state.scst.devices["r1"].attrs["filename"] = "/dev/lab/r1"
    collect(lab_cluster)
    finding = codes(lab_cluster)["SCST_BACKING_NOT_DRBD"]
    assert "reads /dev/lab/r1, expected /dev/drbd1" in finding.details[0]["text"]


def test_rel_tgt_id_clash_between_the_nodes_is_critical(lab, lab_cluster):
    with node_state(lab, f"{lab_cluster.name}-b") as node:
        next(iter(node.state.scst.drivers["iscsi"].values())).rel_tgt_id = 1
    collect(lab_cluster)
    assert codes(lab_cluster)["SCST_REL_TGT_ID_CLASH"].object_ref == "rel_tgt_id:1"


def test_lun_exported_on_one_node_only_is_reported(lab, lab_cluster):
    with node_state(lab, f"{lab_cluster.name}-b") as node:
        target = next(iter(node.state.scst.drivers["iscsi"].values()))
        target.luns = {k: v for k, v in target.luns.items() if v.device != "r1"}
    collect(lab_cluster)
    finding = codes(lab_cluster)["SCST_LUN_ONE_NODE"]
    assert finding.object_ref == "device:r1"
    assert "DRIFT_SCST" in codes(lab_cluster)


def test_two_luns_sharing_an_identity_prefix_are_critical(lab, lab_cluster):
    for suffix in "ab":
        with node_state(lab, f"{lab_cluster.name}-{suffix}") as node:
            devices = node.state.scst.devices
            devices["r1"].attrs["t10_dev_id"] = devices["r0"].attrs["t10_dev_id"][:8] + "-x"
    collect(lab_cluster)
    assert codes(lab_cluster)["SCST_IDENTITY_SHARED"].object_ref == "devices:r0,r1"


def test_vmware_initiator_on_both_nodes_is_flagged(lab, lab_cluster):
    for suffix in "ab":
        api.add_session(lab.dir, f"{lab_cluster.name}-{suffix}", VMWARE, io_rate_kb=0)
    collect(lab_cluster)
    finding = codes(lab_cluster)["VMWARE_BOTH_NODES"]
    assert finding.object_ref == f"initiator:{VMWARE}"
    assert "INITIATOR_IO_BOTH_NODES" not in codes(lab_cluster)  # logged in, but idle


def test_io_to_one_lun_through_both_nodes_is_critical(lab, lab_cluster):
    for suffix in "ab":
        api.add_session(lab.dir, f"{lab_cluster.name}-{suffix}", VMWARE, io_rate_kb=4096)
    collect(lab_cluster)
    time.sleep(1.1)  # the lab's counters rise with time, as real ones do under I/O
    collect(lab_cluster)
    finding = codes(lab_cluster)["INITIATOR_IO_BOTH_NODES"]
    assert finding.severity == "CRITICAL"
    assert {d["node"] for d in finding.details} == {
        f"{lab_cluster.name}-a",
        f"{lab_cluster.name}-b",
    }


def test_io_through_one_node_only_is_fine(lab, lab_cluster):
    api.add_session(
        lab.dir, f"{lab_cluster.name}-a", "iqn.1991-05.com.microsoft:hv1", io_rate_kb=4096
    )
    collect(lab_cluster)
    time.sleep(1.1)
    collect(lab_cluster)
    assert "INITIATOR_IO_BOTH_NODES" not in codes(lab_cluster)


def test_stale_data_is_unknown_not_healthy(lab_cluster):
    collect(lab_cluster)
    NodeSnapshot.objects.filter(node__cluster=lab_cluster).update(
        collected_at=timezone.now() - timedelta(hours=1)
    )
    findings.findings_refresh(lab_cluster)
    assert codes(lab_cluster)["DATA_STALE"].severity == "WARNING"


def test_lun_mapping_changed_by_hand_is_drift(lab, lab_cluster):
    with node_state(lab, f"{lab_cluster.name}-a") as node:
        target = next(iter(node.state.scst.drivers["iscsi"].values()))
        target.luns["7"] = Lun(lun=7, device="r0")
    collect(lab_cluster)
    finding = codes(lab_cluster)["DRIFT_SCST"]
    assert "LUN 7" in finding.details[0]["text"]


def test_two_devices_on_one_backing_device_are_critical(lab, lab_cluster):
    import dataclasses

    node_name = f"{lab_cluster.name}-a"
    with node_state(lab, node_name) as node:
        r0 = node.state.scst.devices["r0"]
        twin = dataclasses.replace(r0, name="twin", attrs={**r0.attrs, "t10_dev_id": "twin"})
        node.state.scst.devices["twin"] = twin
    collect(lab_cluster)
    found = codes(lab_cluster)["SCST_BACKING_SHARED"]
    assert found.severity == "CRITICAL"
    filename = r0.attrs.get("filename") or "/dev/drbd0"
    assert found.object_ref == f"backing:{node_name}:{filename}"
    assert "r0, twin" in found.details[0]["text"]
