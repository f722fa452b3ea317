"""Rules judged as the seed means them: writes make round-robin, any LUN of both nodes
needs a safe handler, differing identities split the reservations."""

from clusters.models import Finding
from clusters.services import collection
from lab import api
from lab.state import Device, Lun

VMWARE = "iqn.1998-01.com.vmware:esx01-4f2a"
# The lab knows the vendor default of blockio and fileio only: set one explicitly.
NULLIO_ATTRS = {"t10_vend_id": "NULLTEST"}


def collect(cluster):
    return collection.collection_run(collection.collection_create(cluster))


def open_codes(cluster) -> dict[str, Finding]:
    return {f.code: f for f in Finding.objects.filter(cluster=cluster, resolved_at=None)}


def logged_in_to_both(lab, cluster) -> None:
    for suffix in "ab":
        api.add_session(lab.dir, f"{cluster.name}-{suffix}", VMWARE, io_rate_kb=0)


def test_vmware_logged_in_to_both_nodes_is_information(lab, lab_cluster):
    logged_in_to_both(lab, lab_cluster)
    collect(lab_cluster)
    finding = open_codes(lab_cluster)["VMWARE_BOTH_NODES"]
    assert finding.severity == "INFO"


def test_reads_through_both_nodes_are_not_round_robin(lab, lab_cluster):
    logged_in_to_both(lab, lab_cluster)
    collect(lab_cluster)
    api.session_io(lab.dir, f"{lab_cluster.name}-a", VMWARE, reads=100, writes=100)
    api.session_io(lab.dir, f"{lab_cluster.name}-b", VMWARE, reads=100)  # MRU: reads only
    collect(lab_cluster)
    found = open_codes(lab_cluster)
    assert "INITIATOR_IO_BOTH_NODES" not in found
    assert found["VMWARE_BOTH_NODES"].severity == "INFO"


def test_writes_through_both_nodes_are_round_robin(lab, lab_cluster):
    logged_in_to_both(lab, lab_cluster)
    collect(lab_cluster)
    for suffix in "ab":
        api.session_io(lab.dir, f"{lab_cluster.name}-{suffix}", VMWARE, writes=50)
    collect(lab_cluster)
    found = open_codes(lab_cluster)
    assert found["INITIATOR_IO_BOTH_NODES"].severity == "CRITICAL"
    assert "write command counter rose" in found["INITIATOR_IO_BOTH_NODES"].details[0]["text"]
    assert found["VMWARE_BOTH_NODES"].severity == "WARNING"


def test_nullio_lun_exported_by_both_nodes_is_an_unsafe_handler(lab, lab_cluster):
    for suffix in "ab":
        node = api.node(lab.dir, f"{lab_cluster.name}-{suffix}")
        with node.session():
            node.state.scst.register_device(
                Device(name="null0", handler="vdisk_nullio", attrs=NULLIO_ATTRS)
            )
            target = next(iter(node.state.scst.drivers["iscsi"].values()))
            target.luns["5"] = Lun(lun=5, device="null0")
            node.dirty_node = True
    collect(lab_cluster)
    finding = Finding.objects.get(
        cluster=lab_cluster, code="SCST_HANDLER_UNSAFE", object_ref="device:null0", resolved_at=None
    )
    assert finding.severity == "CRITICAL"
    assert {d["node"] for d in finding.details} == {f"{lab_cluster.name}-{s}" for s in "ab"}
    assert "vdisk_nullio" in finding.details[0]["text"]


def test_differing_identity_with_cluster_mode_says_reservations_are_not_shared(lab, lab_cluster):
    for suffix in "ab":
        api.set_device_attr(lab.dir, f"{lab_cluster.name}-{suffix}", "r0", "cluster_mode", "1")
    api.set_device_attr(lab.dir, f"{lab_cluster.name}-b", "r0", "t10_dev_id", "deadbeef-r0")
    collect(lab_cluster)
    finding = Finding.objects.get(
        cluster=lab_cluster, code="SCST_IDENTITY_MISMATCH", object_ref="device:r0", resolved_at=None
    )
    texts = " ".join(d["text"] for d in finding.details)
    assert "lockspace scst-deadbeef-r0" in texts
    assert "reservations are then not shared" in texts
