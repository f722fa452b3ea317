"""parse_dump reads `drbdadm dump` output and ordinary .res files."""

import pytest

from clusters.drbd import Address, DrbdConfigError, VolumeConfig, parse_dump
from tests.drbd.support import fixture_text


@pytest.mark.parametrize("name", ["drbdadm-dump-dual-primary-drbd9.txt", "dual-primary-drbd9.res"])
def test_dual_primary_fixture_is_read_completely(name):
    (res,) = parse_dump(fixture_text(name))
    assert res.name == "r0"
    assert res.protocol == "C"
    assert res.net["allow-two-primaries"] == "yes"
    assert res.fencing == "resource-and-stonith"
    assert res.handlers["fence-peer"] == "/usr/lib/drbd/crm-fence-peer.9.sh"
    alpha = res.host("alpha")
    assert alpha.node_id == 0
    assert alpha.address == Address("ipv4", "10.0.0.1", 7789)
    assert alpha.volumes == [VolumeConfig(None, "/dev/drbd0", 0, "/dev/sdb1", "internal")]


def test_res_file_and_its_dump_are_the_same_model():
    assert parse_dump(fixture_text("dual-primary-drbd9.res")) == parse_dump(
        fixture_text("drbdadm-dump-dual-primary-drbd9.txt")
    )


HAND_WRITTEN = """
# /etc/drbd.d/global_common.conf style sections are skipped
global { usage-count no; }
common {
    net { protocol C; }  # trailing comment
}
resource "r9" {
    protocol C;
    device minor 4;
    meta-disk internal;
    disk { on-io-error detach; }
    on alpha {
        node-id 0;
        disk "/dev/vg/lv data";     # quoted, with a space
        address 192.168.1.1:7001;
    }
    on bravo {
        node-id 1;
        volume 0 { device /dev/drbd4 minor 4; disk /dev/sdb; meta-disk /dev/sdc1; }
        volume 1 { device /dev/drbd5; disk none; }
        address ipv6 [fd00::2]:7001;
    }
    connection-mesh { hosts alpha bravo; }
    connection {
        host alpha address 192.168.1.1:7001;
        host bravo address ipv6 [fd00::2]:7001;
        net { allow-two-primaries; }
    }
}
"""


def test_hand_written_res_with_comments_quotes_volumes_and_connections():
    (res,) = parse_dump(HAND_WRITTEN)
    assert res.name == "r9"
    assert res.disk == {"on-io-error": "detach"}
    alpha, bravo = res.hosts
    assert alpha.volumes == [VolumeConfig(None, None, 4, "/dev/vg/lv data", "internal")]
    assert alpha.address == Address("ipv4", "192.168.1.1", 7001)
    assert bravo.volumes == [
        VolumeConfig(0, "/dev/drbd4", 4, "/dev/sdb", "/dev/sdc1"),
        VolumeConfig(1, "/dev/drbd5", 5, "none", "internal"),
    ]
    assert bravo.address == Address("ipv6", "fd00::2", 7001)
    assert res.connection_mesh == ["alpha", "bravo"]
    (conn,) = res.connections
    assert conn.hosts[1] == ("bravo", Address("ipv6", "fd00::2", 7001))
    assert conn.net == {"allow-two-primaries": "yes"}


ERRORS = {
    "missing brace": ("resource r0 {\n  on a {\n    node-id 0;\n", "line 3: missing '}'"),
    "extra brace": ("resource r0 { }\n}\n", "line 2: unbalanced '}'"),
    "missing semicolon": ("resource r0 {\n  net { protocol C }\n}", "line 2: statement"),
    "unterminated string": ('resource r0 {\n  on "a {\n}', "line 2: unterminated"),
    "bad port": ("resource r0 {\n on a {\n  address 1.2.3.4:99999;\n }\n}", "line 3: port"),
    "bad address": ("resource r0 {\n on a {\n  address 1.2.3.4;\n }\n}", "line 3: address"),
    "bad node-id": ("resource r0 {\n on a {\n  node-id x;\n }\n}", "line 3: node-id"),
    "unknown keyword": ("resource r0 {\n  bogus 1;\n}", "line 2: unsupported 'bogus'"),
    "top-level junk": ("hello world;", "line 1: expected 'resource'"),
    "device without minor": ("resource r0 {\n on a {\n  device foo bar;\n }\n}", "line 3"),
}


@pytest.mark.parametrize(("text", "message"), ERRORS.values(), ids=ERRORS.keys())
def test_errors_name_the_line(text, message):
    with pytest.raises(DrbdConfigError, match=message):
        parse_dump(text)
