"""Every live-state source maps into the same ResourceState."""

import pytest

from clusters.drbd import (
    DeviceState,
    DrbdConfigError,
    PeerDeviceState,
    parse_events2,
    parse_proc_drbd,
    parse_status_json,
    parse_status_text,
    proc_drbd_states,
)
from tests.drbd.support import fixture_text


def _proc_states(text):
    return proc_drbd_states(parse_proc_drbd(text))


# fixture, parser, resource names, local role, peer role of the first resource
SOURCES = [
    (
        "status-json-two-resources.json",
        parse_status_json,
        ["1-single-0", "1-single-1"],
        "Secondary",
        "Primary",
    ),
    ("drbdadm-status.txt", parse_status_text, ["home"], "Secondary", "Secondary"),
    (
        "drbdsetup-status-verbose-statistics.txt",
        parse_status_text,
        ["home"],
        "Secondary",
        "Secondary",
    ),
    ("events2-now.txt", parse_events2, ["r0"], "Secondary", "Secondary"),
    (
        "proc-drbd-8.4.txt",
        _proc_states,
        ["minor-0", "minor-1", "minor-2"],
        "Secondary",
        "Secondary",
    ),
]


@pytest.mark.parametrize(
    ("name", "parse", "resources", "role", "peer_role"), SOURCES, ids=[s[0] for s in SOURCES]
)
def test_fixture_maps_into_resource_state(name, parse, resources, role, peer_role):
    states = parse(fixture_text(name))
    assert [s.name for s in states] == resources
    first = states[0]
    assert first.role == role
    assert not first.suspended
    assert all(d.disk == "UpToDate" for d in first.devices)
    (peer,) = first.peers
    assert peer.connection == "Connected"
    assert peer.role == peer_role
    assert all(d.replication == "Established" for d in peer.devices)
    assert all(d.peer_disk == "UpToDate" for d in peer.devices)
    assert all(d.out_of_sync_kib in (0, None) for d in peer.devices)
    problems = first.dual_primary_problems()
    assert problems[0] == "role is Secondary, not Primary"
    assert len(problems) == (1 if peer_role == "Primary" else 2)


def test_status_json_keeps_peer_details():
    first = parse_status_json(fixture_text("status-json-two-resources.json"))[0]
    assert first.node_id == 2
    assert first.devices == [DeviceState(0, 2, "UpToDate")]
    peer = first.peers[0]
    assert (peer.node_id, peer.name) == (1, "SLE15-sp1-gm-drbd1145296-node1")
    assert peer.devices == [PeerDeviceState(0, "Established", "UpToDate", 0, percent_in_sync=100.0)]


def test_events2_has_two_volumes_on_both_sides():
    (res,) = parse_events2(fixture_text("events2-now.txt"))
    assert [(d.volume, d.minor) for d in res.devices] == [(0, 7), (1, 8)]
    assert [d.volume for d in res.peers[0].devices] == [0, 1]


def test_proc_drbd_reads_roles_protocol_and_oos():
    devices = parse_proc_drbd(fixture_text("proc-drbd-8.4.txt"))
    assert [(d.minor, d.role, d.peer_role) for d in devices] == [
        (0, "Secondary", "Secondary"),
        (1, "Primary", "Secondary"),
        (2, "Secondary", "Primary"),
    ]
    assert {d.protocol for d in devices} == {"C"}
    assert {d.out_of_sync_kib for d in devices} == {0}


def test_proc_drbd_minors_group_by_resource_and_fold_sync_states():
    text = (
        " 0: cs:SyncSource ro:Primary/Primary ds:UpToDate/Inconsistent C r-----\n"
        "    ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:2048\n"
        " 1: cs:Connected ro:Primary/Primary ds:UpToDate/UpToDate C r-----\n"
        "    ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0\n"
    )
    (res,) = proc_drbd_states(parse_proc_drbd(text), {0: "r0", 1: "r0"})
    peer = res.peers[0]
    assert peer.connection == "Connected"
    assert [d.replication for d in peer.devices] == ["SyncSource", "Established"]
    assert res.dual_primary_problems() == [
        "peer volume 0 replication is SyncSource",
        "peer volume 0 peer disk is Inconsistent",
        "peer volume 0 has 2048 KiB out of sync",
    ]


HEALTHY_DUAL_PRIMARY = """r0 role:Primary
  disk:UpToDate
  bravo role:Primary
    peer-disk:UpToDate
"""


def test_short_status_omits_normal_values_and_is_healthy():
    (res,) = parse_status_text(HEALTHY_DUAL_PRIMARY)
    assert res.is_healthy_dual_primary()


def test_disconnected_peer_after_split_brain_is_reported():
    text = "r0 role:Primary\n  disk:UpToDate\n  bravo connection:StandAlone\n"
    (res,) = parse_status_text(text)
    assert res.peers[0].role == "Unknown"
    assert res.dual_primary_problems() == [
        "peer bravo connection is StandAlone",
        "peer bravo role is Unknown, not Primary",
    ]


def test_status_text_without_connection_name_uses_node_id():
    text = (
        "r0 role:Primary\n"
        "  volume:0 disk:UpToDate\n"
        "  node-id:1 role:Primary\n"
        "    volume:0 peer-disk:UpToDate\n"
    )
    (res,) = parse_status_text(text)
    assert res.peers[0].node_id == 1
    assert res.is_healthy_dual_primary()


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (parse_status_json, "{"),
        (parse_status_json, '{"name": "r0"}'),
        (parse_status_json, '[{"name": "r0", "role": 1}]'),
        (
            parse_status_json,
            '[{"name": "r0", "role": "Primary", "suspended": false, "devices": 3}]',
        ),
        (parse_status_text, "  disk:UpToDate\n"),
        (parse_status_text, "r0 role\n"),
        (parse_events2, "exists device name:r0 volume:0\n"),
        (parse_events2, "hello world\n"),
        (parse_proc_drbd, " 0: cs:Connected ro:Primary ds:UpToDate/UpToDate C\n"),
        (parse_proc_drbd, "garbage\n"),
    ],
)
def test_malformed_node_output_raises_drbd_config_error(parse, text):
    with pytest.raises(DrbdConfigError):
        parse(text)
