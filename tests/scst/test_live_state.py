"""build_live_state turns the collector's dump and links into devices, targets and sessions."""

from clusters.scst import build_live_state, parse_dump, parse_links

R = "/sys/kernel/scst_tgt"
T = f"{R}/targets/iscsi/iqn.2024-01.lab:store-a"

DUMP = "".join(
    f"{path}\x00{line}\n"
    for path, line in [
        (f"{R}/setup_id", "0x2"),
        (f"{R}/setup_id", "[key]"),
        (f"{R}/devices/drbd0/write_through", "1"),
        (f"{R}/devices/drbd0/write_through", "[key]"),
        (f"{R}/devices/drbd0/nv_cache", "0"),
        (f"{R}/devices/drbd0/pr_state", "version 1"),
        (f"{R}/devices/drbd0/pr_state", "generation 3"),
        (f"{R}/devices/drbd0/pr_state", "registrant 1 0000000000000001 0 2 abcd"),
        (f"{R}/devices/drbd1/nv_cache", "1"),
        (f"{R}/targets/iscsi/enabled", "1"),
        (f"{T}/enabled", "1"),
        (f"{T}/rel_tgt_id", "3"),
        (f"{T}/luns/0/read_only", "0"),
        (f"{T}/ini_groups/esx/initiators/iqn.1998-01.com.vmware:h1", "iqn.1998-01.com.vmware:h1"),
        (f"{T}/sessions/iqn.1998-01.com.vmware:h1/initiator_name", "iqn.1998-01.com.vmware:h1"),
        (f"{T}/sessions/iqn.1998-01.com.vmware:h1/read_cmd_count", "120"),
        (f"{T}/sessions/iqn.1998-01.com.vmware:h1/write_io_count_kb", "4096"),
        (f"{T}/sessions/iqn.1998-01.com.vmware:h1/active_commands", "0"),
    ]
)
LINKS = "".join(
    f"{path}\x00{target}\n"
    for path, target in [
        (f"{R}/devices/drbd0/handler", "../../handlers/vdisk_blockio"),
        (
            f"{R}/devices/drbd0/exported/export0",
            "../../../targets/iscsi/iqn.2024-01.lab:store-a/luns/0",
        ),
        (f"{T}/luns/0/device", "../../../../../devices/drbd0"),
        (f"{T}/ini_groups/esx/luns/0/device", "../../../../../../../devices/drbd1"),
        (f"{T}/sessions/iqn.1998-01.com.vmware:h1/luns", "../../ini_groups/esx/luns"),
    ]
)


def _state():
    return build_live_state(parse_dump(DUMP), parse_links(LINKS))


def test_root_attributes_include_setup_id_with_key_mark():
    assert _state().attributes["setup_id"].value == "0x2"
    assert _state().attributes["setup_id"].is_key


def test_devices_have_handler_attributes_exports_and_pr_state():
    drbd0 = _state().devices["drbd0"]
    assert drbd0.handler == "vdisk_blockio"
    assert drbd0.attributes["write_through"].is_key
    assert not drbd0.attributes["nv_cache"].is_key
    assert drbd0.exported == {"export0": "targets/iscsi/iqn.2024-01.lab:store-a/luns/0"}
    assert drbd0.pr_state is not None and drbd0.pr_state.in_use


def test_device_without_pr_state_file_has_unknown_pr_state():
    assert _state().devices["drbd1"].pr_state is None


def test_targets_report_enabled_rel_tgt_id_and_lun_devices():
    target = _state().targets["iscsi"]["iqn.2024-01.lab:store-a"]
    assert target.enabled is True
    assert target.rel_tgt_id == 3
    assert target.luns[0].device == "drbd0"
    assert target.ini_groups["esx"].luns[0].device == "drbd1"
    assert target.ini_groups["esx"].initiators == ["iqn.1998-01.com.vmware:h1"]
    assert _state().driver_attributes["iscsi"]["enabled"].value == "1"


def test_sessions_report_initiator_counters_and_lun_set():
    session = (
        _state().targets["iscsi"]["iqn.2024-01.lab:store-a"].sessions["iqn.1998-01.com.vmware:h1"]
    )
    assert session.initiator_name == "iqn.1998-01.com.vmware:h1"
    assert session.counter("read_cmd_count") == 120
    assert session.counter("write_io_count_kb") == 4096
    assert session.counter("active_commands") == 0
    assert session.counter("commands") is None
    assert session.group == "esx"
