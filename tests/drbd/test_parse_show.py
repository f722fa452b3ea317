"""parse_show reads the kernel's running configuration; effective_net_options fills in
the defaults drbdsetup leaves out."""

import pytest

from clusters.drbd import Address, DrbdConfigError, effective_net_options, parse_show
from tests.drbd.support import fixture_text


def test_show_fixture_is_read_completely():
    (res,) = parse_show(fixture_text("drbdsetup-show-drbd9.txt"))
    assert res.name == "lb-tcp-20251117-171820"
    assert res.node_id == 0
    (volume,) = res.volumes
    assert (volume.number, volume.minor) == (0, 1)
    assert volume.disk == "/dev/scratch/lb-tcp-20251117-171820-disk0"
    assert volume.meta_disk == "internal"
    assert volume.disk_options.values == {"disk-flushes": "no", "md-flushes": "no"}
    (conn,) = res.connections
    assert conn.peer_node_id == 1
    assert conn.cstate == "Connecting"
    assert conn.peer_name == "f43-2"
    assert [p.remote_host for p in conn.paths] == [
        Address("ipv4", "192.168.122.36", 7789),
        Address("ipv4", "10.255.0.162", 7789),
    ]


def test_omitted_protocol_means_c_and_two_primaries_default_to_no():
    (res,) = parse_show(fixture_text("drbdsetup-show-drbd9.txt"))
    options = effective_net_options(res)
    assert options["protocol"] == "C"
    assert options["allow-two-primaries"] == "no"
    assert options["fencing"] == "dont-care"
    assert options["load-balance-paths"] == "yes"
    assert "_name" not in options


DUAL_PRIMARY_SHOW = """resource "r0" {
    _this_host {
        node-id\t\t\t0;
        volume 0 {
            device\t\t\tminor 0;
            disk\t\t\t"/dev/sdb1";
            meta-disk\t\t\tinternal;
        }
    }
    connection {
        _peer_node_id 1;
        path {
            _this_host ipv6 [fd00::1]:7789;
            _remote_host ipv6 [fd00::2]:7789;
        }
        net {
            allow-two-primaries\tyes;
            after-sb-0pri   \tdiscard-zero-changes;
            fencing         \tresource-and-stonith;
            _name           \t"bravo";
        }
    }
}
"""


def test_running_dual_primary_options_are_effective():
    options = effective_net_options(parse_show(DUAL_PRIMARY_SHOW)[0].connections[0])
    assert options["protocol"] == "C"
    assert options["allow-two-primaries"] == "yes"
    assert options["fencing"] == "resource-and-stonith"
    assert options["after-sb-1pri"] == "disconnect"


# drbdsetup.c __print_options: "NAME\tVALUE;" then " # UNIT, default" with --show-defaults
SHOW_DEFAULTS = """resource "r0" {
    _this_host {
        node-id\t\t\t1;
    }
    connection {
        _peer_node_id 0;
        net {
            protocol        \tC; # default
            timeout         \t60; # 1/10 seconds, default
            allow-two-primaries\tyes;
            ko-count        \t7 _is_default;
        }
    }
}
"""


def test_show_defaults_markers_are_recorded():
    (conn,) = parse_show(SHOW_DEFAULTS)[0].connections
    assert conn.net.values["protocol"] == "C"
    assert conn.net.values["ko-count"] == "7"
    assert conn.net.defaults == {"protocol", "timeout", "ko-count"}
    assert effective_net_options(conn)["allow-two-primaries"] == "yes"


def test_connections_that_disagree_must_be_checked_one_by_one():
    text = DUAL_PRIMARY_SHOW.replace(
        "    }\n}\n", "    }\n    connection {\n        _peer_node_id 2;\n    }\n}\n"
    )
    (res,) = parse_show(text)
    assert len(res.connections) == 2
    with pytest.raises(DrbdConfigError, match="different net options"):
        effective_net_options(res)


@pytest.mark.parametrize(
    "text",
    ['resource "r0" { bogus; }', 'resource "r0" { connection { net { } } }', "net { }"],
)
def test_unexpected_show_text_is_an_error(text):
    with pytest.raises(DrbdConfigError):
        parse_show(text)


# DRBD 8.4's layout, as drbd-utils user/v84/drbdsetup.c show_scmd and print_options print
# it (fields in config_flags.c order, `%-16s\t%s;`, units as comments, resync-rate in
# its `k` scale): net and the peer's address at resource level, fencing in the volume's
# disk options. No captured sample exists (it needs an 8.4 kernel module).
SHOW_84 = """resource r0 {
    options {
    }
    net {
        allow-two-primaries\tyes;
        after-sb-0pri   \tdiscard-zero-changes;
        ping-timeout    \t10; # 1/10 seconds
    }
    _remote_host {
        address\t\t\tipv4 10.1.0.2:7789;
    }
    _this_host {
        address\t\t\tipv4 10.1.0.1:7789;
        volume 0 {
            device\t\t\tminor 0;
            disk\t\t\t"/dev/lab/r0";
            meta-disk\t\t\tinternal;
            disk {
                resync-rate     \t102400k; # bytes/second
                fencing         \tresource-and-stonith;
            }
        }
    }
}
"""


def test_drbd84_layout_is_one_peer_with_fencing_in_the_volume():
    (res,) = parse_show(SHOW_84)
    assert res.node_id is None
    (volume,) = res.volumes
    assert (volume.minor, volume.disk) == (0, "/dev/lab/r0")
    assert volume.disk_options.values["fencing"] == "resource-and-stonith"
    (conn,) = res.connections
    assert conn.peer_node_id is None and conn.peer == "10.1.0.2:7789"
    assert [(p.this_host, p.remote_host) for p in conn.paths] == [
        (Address("ipv4", "10.1.0.1", 7789), Address("ipv4", "10.1.0.2", 7789))
    ]
    options = effective_net_options(res)
    assert (options["allow-two-primaries"], options["protocol"]) == ("yes", "C")
    assert options["ping-timeout"] == "10"
    assert options["fencing"] == "dont-care"  # not a net option in 8.4: see the volume
