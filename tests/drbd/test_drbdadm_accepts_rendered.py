"""Every rendered variation is accepted by the real drbdadm, and its dump parses back
into the model we rendered."""

import pytest

from clusters.drbd import DrbdConfigError, dual_primary_resource, parse_dump, render_resource
from tests.drbd.support import drbdadm_dump, needs_drbdadm

pytestmark = needs_drbdadm

V4 = [("alpha", "10.0.0.1"), ("bravo", "10.0.0.2")]
V6 = [("node-a.example.com", "fd00:10::1"), ("node-b.example.com", "fd00:10::2")]
VARIATIONS = {
    "one volume ipv4": ("r0", 7789, V4, [(0, "/dev/sdb1")]),
    "one volume ipv6": ("data", 7790, V6, [(5, "/dev/vg0/lun5")]),
    "two volumes ipv4": ("r1", 7800, V4, [(10, "/dev/sdb1"), (11, "/dev/sdc1")]),
    "two volumes ipv6": ("r2", 65535, V6, [(0, "/dev/nvme0n1p1"), (1, "/dev/nvme1n1p1")]),
    "by-path disk": ("web_01", 1, V4, [(1048575, "/dev/disk/by-path/pci-0000:00:1f.2-ata-1")]),
    "mapper disk": ("db.main", 7788, V4, [(7, "/dev/mapper/vg-lv_data")]),
}
CASES = [
    pytest.param(*args, version, id=f"{name} drbd{version}")
    for name, args in VARIATIONS.items()
    for version in ("9", "8.4")
]


@pytest.mark.parametrize(("name", "port", "hosts", "volumes", "version"), CASES)
def test_real_drbdadm_accepts_and_dumps_the_same_resource(
    name, port, hosts, volumes, version, tmp_path
):
    res = dual_primary_resource(name, port, hosts, volumes, version=version)

    result = drbdadm_dump(render_resource(res, version), tmp_path, version)

    assert result.returncode == 0, result.stderr
    assert parse_dump(result.stdout) == [res]


def test_external_meta_disk_survives_the_round_trip(tmp_path):
    res = dual_primary_resource("r0", 7789, V4, [(0, "/dev/sdb1")], meta_disk="/dev/sdc1")
    result = drbdadm_dump(render_resource(res), tmp_path)
    assert result.returncode == 0, result.stderr
    assert parse_dump(result.stdout) == [res]


def test_extra_options_survive_the_round_trip(tmp_path):
    res = dual_primary_resource("r0", 7789, V4, [(0, "/dev/sdb1")])
    res.net.update({"max-buffers": "8000", "ping-timeout": "10", "verify-alg": "sha256"})
    res.disk.update({"on-io-error": "detach", "resync-rate": "100M"})
    res.handlers["split-brain"] = "/usr/lib/drbd/notify-split-brain.sh root"
    result = drbdadm_dump(render_resource(res), tmp_path)
    assert result.returncode == 0, result.stderr
    assert parse_dump(result.stdout) == [res]


def test_port_zero_is_rejected_by_drbdadm_and_by_us(tmp_path):
    good = render_resource(dual_primary_resource("r0", 7789, V4, [(0, "/dev/sdb1")]))
    bad = good.replace(":7789;", ":0;")

    result = drbdadm_dump(bad, tmp_path)

    assert result.returncode != 0
    assert "out of range" in result.stderr
    with pytest.raises(DrbdConfigError, match="out of range 1-65535"):
        parse_dump(bad)
    with pytest.raises(DrbdConfigError, match="port"):
        dual_primary_resource("r0", 0, V4, [(0, "/dev/sdb1")])


def test_invalid_protocol_is_rejected_by_drbdadm_and_by_us(tmp_path):
    good = render_resource(dual_primary_resource("r0", 7789, V4, [(0, "/dev/sdb1")]))
    bad = good.replace("protocol C;", "protocol D;")

    result = drbdadm_dump(bad, tmp_path)

    assert result.returncode != 0
    (res,) = parse_dump(bad)
    with pytest.raises(DrbdConfigError, match="protocol 'D' is invalid"):
        render_resource(res)


def test_fencing_in_disk_is_rejected_for_9_by_drbdadm_and_by_us(tmp_path):
    res = dual_primary_resource("r0", 7789, V4, [(0, "/dev/sdb1")])
    res.disk["fencing"] = res.net.pop("fencing")
    with pytest.raises(DrbdConfigError, match="fencing in the net section"):
        render_resource(res)
    # the 8.4 rendering (fencing in disk) is what drbdadm 9.22's own parser refuses
    res84 = dual_primary_resource("r0", 7789, V4, [(0, "/dev/sdb1")], version="8.4")
    text = render_resource(res84, "8.4")
    assert drbdadm_dump(text, tmp_path, "9").returncode != 0
    assert drbdadm_dump(text, tmp_path, "8.4").returncode == 0


def test_resource_options_and_startup_survive_the_round_trip(tmp_path):
    res = dual_primary_resource("r0", 7789, V4, [(0, "/dev/sdb1")])
    res.options.update({"quorum": "majority", "on-no-quorum": "io-error"})
    res.startup["wfc-timeout"] = "30"
    result = drbdadm_dump(render_resource(res), tmp_path)
    assert result.returncode == 0, result.stderr
    assert parse_dump(result.stdout) == [res]
