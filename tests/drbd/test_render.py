"""The renderer emits dual-primary-safe resources and refuses anything it cannot quote."""

from dataclasses import replace

import pytest

from clusters.drbd import (
    Address,
    DrbdConfigError,
    dual_primary_resource,
    parse_dump,
    render_resource,
)
from tests.drbd.support import fixture_text

HOSTS = [("alpha", "10.0.0.1"), ("bravo", "10.0.0.2")]


def test_drbd9_default_resource_equals_the_real_dump_fixture():
    res = dual_primary_resource("r0", 7789, HOSTS, [(0, "/dev/sdb1")])
    assert [res] == parse_dump(fixture_text("drbdadm-dump-dual-primary-drbd9.txt"))


def test_drbd9_puts_fencing_in_net_and_uses_the_9_handlers():
    text = render_resource(dual_primary_resource("r0", 7789, HOSTS, [(0, "/dev/sdb1")]))
    net = text.split("net {")[1].split("}")[0]
    assert "protocol C;" in net
    assert "allow-two-primaries yes;" in net
    assert "fencing resource-and-stonith;" in net
    assert "after-sb-0pri discard-zero-changes;" in net
    assert "after-sb-1pri discard-secondary;" in net
    assert "after-sb-2pri disconnect;" in net
    assert "fence-peer /usr/lib/drbd/crm-fence-peer.9.sh;" in text
    assert "unfence-peer /usr/lib/drbd/crm-unfence-peer.9.sh;" in text
    assert "node-id 0;" in text and "node-id 1;" in text
    assert "become-primary-on" not in text


def test_drbd84_puts_fencing_in_disk_and_has_no_node_id():
    res = dual_primary_resource("r0", 7789, HOSTS, [(0, "/dev/sdb1")], version="8.4")
    text = render_resource(res, "8.4")
    assert "disk {\n        fencing resource-and-stonith;\n    }" in text
    assert "fencing" not in text.split("net {")[1].split("}")[0]
    assert "startup {\n        become-primary-on both;\n    }" in text
    assert "fence-peer /usr/lib/drbd/crm-fence-peer.sh;" in text
    # 8.4 has no unfence-peer helper; its User's Guide runs crm-unfence-peer.sh here
    assert "after-resync-target /usr/lib/drbd/crm-unfence-peer.sh;" in text
    assert "node-id" not in text


def test_several_volumes_are_numbered_blocks():
    res = dual_primary_resource("r0", 7789, HOSTS, [(3, "/dev/sdb1"), (4, "/dev/sdc1")])
    text = render_resource(res)
    assert "volume 0 {\n            device /dev/drbd3 minor 3;" in text
    assert "volume 1 {\n            device /dev/drbd4 minor 4;" in text


def test_ipv6_addresses_are_bracketed():
    res = dual_primary_resource("r0", 7790, [("a", "fd00::1"), ("b", "fd00::2")], [(0, "/dev/sdb")])
    assert "address ipv6 [fd00::1]:7790;" in render_resource(res)


def test_paths_with_colons_are_quoted():
    disk = "/dev/disk/by-path/pci-0000:00:1f.2-ata-1"
    res = dual_primary_resource("r0", 7789, HOSTS, [(0, disk)])
    assert f'disk "{disk}";' in render_resource(res)


def _default():
    return dual_primary_resource("r0", 7789, HOSTS, [(0, "/dev/sdb1")])


def _with_host(**changes):
    res = _default()
    res.hosts[0] = replace(res.hosts[0], **changes)
    return res


def _with_volume(**changes):
    res = _default()
    volume = replace(res.hosts[0].volumes[0], **changes)
    res.hosts[0] = replace(res.hosts[0], volumes=[volume])
    return res


INVALID = {
    "resource name with space": lambda: replace(_default(), name="r 0"),
    "resource name with brace": lambda: replace(_default(), name="r0}"),
    "empty resource name": lambda: replace(_default(), name=""),
    "host name with semicolon": lambda: _with_host(name="alpha;"),
    "host name with quote": lambda: _with_host(name='al"pha'),
    "port zero": lambda: _with_host(address=Address("ipv4", "10.0.0.1", 0)),
    "port too big": lambda: _with_host(address=Address("ipv4", "10.0.0.1", 65536)),
    "bad ipv4": lambda: _with_host(address=Address("ipv4", "10.0.0.300", 7789)),
    "ipv6 as ipv4": lambda: _with_host(address=Address("ipv4", "fd00::1", 7789)),
    "ipv6 zone id": lambda: _with_host(address=Address("ipv6", "fe80::1%eth0;x", 7789)),
    "duplicate address": lambda: _with_host(address=Address("ipv4", "10.0.0.2", 7789)),
    "duplicate host": lambda: _with_host(name="bravo"),
    "node-id missing in 9": lambda: _with_host(node_id=None),
    "node-id too big": lambda: _with_host(node_id=32),
    "relative disk": lambda: _with_volume(disk="sdb1"),
    "disk with dotdot": lambda: _with_volume(disk="/dev/../etc/passwd"),
    "disk with space": lambda: _with_volume(disk="/dev/sdb 1"),
    "disk with quote": lambda: _with_volume(disk='/dev/sdb"; }'),
    "disk with dollar": lambda: _with_volume(disk="/dev/$(reboot)"),
    "device not drbd": lambda: _with_volume(device="/dev/sda"),
    "device minor mismatch": lambda: _with_volume(device="/dev/drbd1"),
    "minor too big": lambda: _with_volume(minor=1 << 20, device=None),
    "bad meta-disk": lambda: _with_volume(meta_disk="external;"),
    "protocol D": lambda: replace(_default(), protocol="D"),
    "unknown net option": lambda: replace(_default(), net={"allow-two-primary": "yes"}),
    "bad boolean": lambda: replace(_default(), net={"allow-two-primaries": "maybe"}),
    "net value out of range": lambda: replace(_default(), net={"max-buffers": "8"}),
    "protocol inside net": lambda: replace(_default(), net={"protocol": "C"}),
    "fencing in disk for 9": lambda: replace(_default(), disk={"fencing": "resource-only"}),
    "become-primary-on in 9": lambda: replace(_default(), startup={"become-primary-on": "both"}),
    "handler with shell": lambda: replace(_default(), handlers={"fence-peer": "/bin/x; reboot"}),
    "handler relative": lambda: replace(_default(), handlers={"fence-peer": "crm-fence-peer.sh"}),
    "unknown handler": lambda: replace(_default(), handlers={"fence-it": "/bin/true"}),
    "disk option value with space": lambda: replace(_default(), disk={"on-io-error": "de tach"}),
    "option name with underscore": lambda: replace(_default(), disk={"on_io_error": "detach"}),
    "one host": lambda: replace(_default(), hosts=_default().hosts[:1]),
}


@pytest.mark.parametrize("build", INVALID.values(), ids=INVALID.keys())
def test_invalid_values_are_refused_with_what_is_allowed(build):
    with pytest.raises(DrbdConfigError) as excinfo:
        render_resource(build())
    assert str(excinfo.value)


def test_node_id_is_refused_for_84():
    res = dual_primary_resource("r0", 7789, HOSTS, [(0, "/dev/sdb1")])
    with pytest.raises(DrbdConfigError, match=r"8\.4 has no node-id"):
        render_resource(res, "8.4")


def test_unknown_version_is_refused():
    with pytest.raises(DrbdConfigError, match=r"'9' or '8\.4'"):
        render_resource(_default(), "8.3")


def test_constructor_validates_too():
    with pytest.raises(DrbdConfigError, match="port"):
        dual_primary_resource("r0", 0, HOSTS, [(0, "/dev/sdb1")])
