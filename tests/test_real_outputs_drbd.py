"""Real DRBD 9 outputs the lab does not produce: a diskless tiebreaker, several
connections, global_common.conf in `drbdadm dump`.

Samples are laid out with the printing code of drbd-utils (LINBIT/drbd-utils):
- `drbdsetup status --json`: user/v9/drbdsetup.c resource_status_json,
  device_status_json, connection_status_json, peer_device_status_json (`suspended` and
  `client`/`peer-client`/`quorum` as JSON booleans, `resync-suspended` a string,
  `percent-in-sync` printed with %.2f, the stray blank after the connection-state
  comma);
- `drbdadm dump`: user/v9/drbdadm_dump.c dump_global_info, dump_common_info, adm_dump
  (printA: name padded to 24 - 4 * indent, value right-aligned in 3, then `;`);
  plain dump does not expand `common` into the resources (drbdadm_main.c).
"""

import json

from clusters import compliance, drbd
from clusters.facts import ClusterFacts, node_facts
from clusters.selectors import _drbd_values


def peer_device(volume, repl, disk, client, oos=0):
    return (
        "        {\n"
        f'          "volume": {volume},\n'
        f'          "replication-state": "{repl}",\n'
        f'          "peer-disk-state": "{disk}",\n'
        f'          "peer-client": {"true" if client else "false"},\n'
        '          "resync-suspended": "no",\n'
        '          "received": 0,\n'
        '          "sent": 18432,\n'
        f'          "out-of-sync": {oos},\n'
        '          "pending": 0,\n'
        '          "unacked": 0,\n'
        '          "has-sync-details": false,\n'
        '          "has-online-verify-details": false,\n'
        f'          "percent-in-sync": {100.0:.2f}\n'
        "        }"
    )


def connection(node_id, name, role, devices):
    return (
        "    {\n"
        f'      "peer-node-id": {node_id},\n'
        f'      "name": "{name}",\n'
        '      "connection-state": "Connected", \n'
        '      "congested": false,\n'
        f'      "peer-role": "{role}",\n'
        '      "ap-in-flight": 0,\n'
        '      "rs-in-flight": 0,\n'
        '      "peer_devices": [\n' + ",\n".join(devices) + " ]\n    }"
    )


def status_json(node_id, peer, peer_id, client=False):
    device = (
        "    {\n"
        '      "volume": 0,\n'
        '      "minor": 0,\n'
        f'      "disk-state": "{"Diskless" if client else "UpToDate"}",\n'
        f'      "client": {"true" if client else "false"},\n'
        '      "quorum": true,\n'
        '      "size": 1048576,\n'
        '      "read": 10,\n'
        '      "written": 20,\n'
        '      "al-writes": 1,\n'
        '      "bm-writes": 0,\n'
        '      "upper-pending": 0,\n'
        '      "lower-pending": 0\n'
        "    }"
    )
    connections = [
        connection(peer_id, peer, "Primary", [peer_device(0, "Established", "UpToDate", False)]),
        connection(2, "witness", "Secondary", [peer_device(0, "Established", "Diskless", True)]),
    ]
    return (
        "[\n{\n"
        '  "name": "r0",\n'
        f'  "node-id": {node_id},\n'
        '  "role": "Primary",\n'
        '  "suspended": false,\n'
        '  "write-ordering": "flush",\n'
        '  "devices": [\n' + device + " ],\n"
        '  "connections": [\n' + ",\n".join(connections) + " ]\n"
        "}\n]\n"
    )


def show(node_id, peer, peer_id, witness_extra=""):
    return f"""resource "r0" {{
    options {{
        quorum                  majority;
    }}
    _this_host {{
        node-id                 {node_id};
        volume 0 {{
            device                      minor 0;
            disk                        "/dev/sdb1";
            meta-disk                   internal;
        }}
    }}
    connection {{
        _peer_node_id {peer_id};
        path {{
            _this_host ipv4 10.0.0.{node_id + 1}:7789;
            _remote_host ipv4 10.0.0.{peer_id + 1}:7789;
        }}
        _cstate Connected;
        net {{
            allow-two-primaries yes;
            fencing             resource-and-stonith;
            _name               "{peer}";
        }}
    }}
    connection {{
        _peer_node_id 2;
        path {{
            _this_host ipv4 10.0.0.{node_id + 1}:7789;
            _remote_host ipv4 10.0.0.3:7789;
        }}
        _cstate Connected;
        net {{
            allow-two-primaries yes;
            fencing             resource-and-stonith;{witness_extra}
            _name               "witness";
        }}
        volume 0 {{
            disk {{
                bitmap          no;
            }}
        }}
    }}
}}
"""


def a(name, value, indent):
    """drbdadm_dump.c printA."""
    return f"{' ' * 4 * indent}{name:<{24 - 4 * indent}} {value:>3};\n"


# dump_volume: "device" padded by -19 + 4 * indent, then path and minor.
VOLUME = "            device       /dev/drbd0 minor 0;\n" + a("disk", "/dev/sdb1", 3)
VOLUME += a("meta-disk", "internal", 3)
COMMON_DUMP = (
    "# /etc/drbd.conf\n"
    "global {\n"
    "    usage-count yes;\n"
    "}\n"
    "\n"
    "common {\n"
    "    net {\n"
    + a("protocol", "C", 2)
    + a("allow-two-primaries", "yes", 2)
    + a("fencing", "resource-and-stonith", 2)
    + "    }\n"
    "    handlers {\n"
    + a("fence-peer", "/usr/lib/drbd/crm-fence-peer.9.sh", 2)
    + a("unfence-peer", "/usr/lib/drbd/crm-unfence-peer.9.sh", 2)
    + "    }\n"
    "}\n"
    "\n"
    "# resource r0 on alpha: not ignored, not stacked\n"
    "# defined at /etc/drbd.d/r0.res:1\n"
    "resource r0 {\n"
    "    on alpha {\n"
    "        node-id 0;\n"
    "        volume 0 {\n"
    + VOLUME
    + "        }\n"
    "        address          ipv4 10.0.0.1:7789;\n"
    "    }\n"
    "    on bravo {\n"
    "        node-id 1;\n"
    "        volume 0 {\n"
    + VOLUME
    + "        }\n"
    "        address          ipv4 10.0.0.2:7789;\n"
    "    }\n"
    "    net {\n" + a("after-sb-0pri", "discard-zero-changes", 2) + "    }\n"
    "}\n"
    "\n"
)  # fmt: skip


def ok(stdout):
    return {"command": "x", "stdout": stdout, "stderr": "", "exit_status": 0}


def raw(node, node_id, peer, peer_id, witness_extra=""):
    return {
        "scst_running_config": ok("# Automatically generated by SCST Configurator v3.7.0.\n\n"),
        "file_dump": ok(""),
        "scst_links": ok(""),
        "drbd_status_json": ok(status_json(node_id, peer, peer_id)),
        "drbd_show": ok(show(node_id, peer, peer_id, witness_extra)),
        "drbd_dump": ok(COMMON_DUMP),
    }


def cluster(witness_extra=""):
    nodes = [
        node_facts("alpha", raw("alpha", 0, "bravo", 1, witness_extra), True),
        node_facts("bravo", raw("bravo", 1, "alpha", 0, witness_extra), True),
    ]
    return ClusterFacts("store", nodes)


def test_status_json_from_drbdsetup_printing_code_parses():
    text = status_json(0, "bravo", 1)
    json.loads(text)  # what drbdsetup prints is JSON
    (res,) = drbd.parse_status_json(text)
    assert res.suspended is False and res.devices[0].client is False
    witness = res.peers[1]
    assert witness.is_client and witness.devices[0].peer_client
    assert not res.peers[0].is_client
    assert res.dual_primary_problems() == []


def test_a_local_diskless_client_is_not_a_lost_disk():
    (res,) = drbd.parse_status_json(status_json(0, "bravo", 1, client=True))
    assert res.devices[0].client and res.devices[0].disk == "Diskless"
    assert res.dual_primary_problems() == []


def test_diskless_tiebreaker_peer_raises_no_disk_or_role_finding():
    findings = compliance.evaluate(cluster())
    drbd_codes = [f for f in findings if f.code.startswith("DRBD")]
    assert drbd_codes == [], [(f.code, f.details) for f in drbd_codes]


def test_connections_with_different_net_options_do_not_crash_evaluation_or_pages():
    facts = cluster(witness_extra="\n            max-buffers         8000;")
    with_different = facts.nodes[0].drbd_show["r0"]
    assert len(with_different.connections) == 2
    assert compliance.evaluate(facts) is not None
    values = _drbd_values(facts.nodes[0], "r0")  # the comparison page reports, not crashes
    assert "different net options" in values["protocol"].evidence


def test_every_connection_is_judged_for_the_net_options():
    facts = cluster(witness_extra="\n            protocol            A;")
    findings = [f for f in compliance.evaluate(facts) if f.code == "DRBD_PROTOCOL_NOT_C"]
    assert len(findings) == 1
    assert all("witness" in d.evidence for d in findings[0].details)
    assert {d.node for d in findings[0].details} == {"alpha", "bravo"}


def test_drbdadm_dump_with_global_common_has_the_common_options_in_force():
    (res,) = drbd.parse_dump(COMMON_DUMP)
    assert res.protocol == "C"
    assert res.net["allow-two-primaries"] == "yes"
    assert res.net["after-sb-0pri"] == "discard-zero-changes"
    assert res.fencing == "resource-and-stonith"
    assert res.handlers["fence-peer"] == "/usr/lib/drbd/crm-fence-peer.9.sh"
    assert [h.name for h in res.hosts] == ["alpha", "bravo"]


def test_a_resource_value_wins_over_common():
    text = COMMON_DUMP.replace(
        a("after-sb-0pri", "discard-zero-changes", 2),
        a("after-sb-0pri", "discard-zero-changes", 2) + a("allow-two-primaries", "no", 2),
    )
    (res,) = drbd.parse_dump(text)
    assert res.net["allow-two-primaries"] == "no"


def test_debian_default_global_common_dumps_an_empty_common():
    # global_common.conf as shipped has every option commented out: dump_common_info
    # prints `common {` and `}` with no section in between.
    text = COMMON_DUMP.replace(
        COMMON_DUMP[COMMON_DUMP.index("common {") : COMMON_DUMP.index("# resource")],
        "common {\n}\n\n",
    )
    (res,) = drbd.parse_dump(text)
    assert res.net == {"after-sb-0pri": "discard-zero-changes"} and res.handlers == {}


def test_fencing_from_common_counts_when_the_resource_is_not_running():
    facts = cluster()
    for node in facts.nodes:
        node.drbd_show = {}
    assert not [f for f in compliance.evaluate(facts) if f.code == "DRBD_FENCING"]
