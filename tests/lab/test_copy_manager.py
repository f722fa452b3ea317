"""SCST's built-in copy manager as a real node shows it.

Sources: scst/src/scst_copy_mgr.c (scst_cm_init registers driver copy_manager, target
copy_manager_tgt and session copy_manager_sess; scst_cm_dev_register gives each new
device LUN scst_cm_next_lun++, skipping LUNs in use; the only driver attribute is
allow_not_connected_copy, [key] only when not 0), scstadmin.sysfs/scstadmin
(writeConfiguration writes every driver's target LUNs; applyConfigAssignments keeps
copy_manager LUNs missing from the file quietly, and removes them with -force).
"""

from __future__ import annotations

from pathlib import Path

from lab import api
from lab.interpreter import run_command

NODE = "c001-a"
SYS = "/sys/kernel/scst_tgt"
CM = f"{SYS}/targets/copy_manager/copy_manager_tgt"
IQN = "iqn.2024-01.lab.scst:c001.c001-a"
R2 = (
    "\tDEVICE r2 {\n"
    "\t\tfilename /dev/lab/spare0\n"
    "\t\tprod_id r2\n"
    "\t\tt10_dev_id 0badcafe-r2\n"
    "\t\tusn 0badcafe\n"
    "\t}\n"
)


def sh(lab: Path, command: str):
    return run_command(api.node(lab, NODE), command)


def _write_config(lab: Path) -> str:
    assert sh(lab, "scstadmin -write_config /root/c.conf").exit_status == 0
    return sh(lab, "cat /root/c.conf").stdout


def test_write_config_has_the_copy_manager_block(lab):
    text = _write_config(lab)
    assert (
        "TARGET_DRIVER copy_manager {\n"
        "\tTARGET copy_manager_tgt {\n"
        "\t\tLUN 0 r0\n"
        "\t\tLUN 1 r1\n"
        "\t}\n"
        "}\n"
        "\n"
        "TARGET_DRIVER iscsi {\n"
    ) in text
    nonkey = sh(lab, "scstadmin -write_config /root/n.conf -nonkey")
    assert nonkey.exit_status == 0
    full = sh(lab, "cat /root/n.conf").stdout
    assert (
        "TARGET_DRIVER copy_manager {\n"
        "\t# Non-key attributes\n"
        "\tallow_not_connected_copy 0\n"
        "\n"
        "\tTARGET copy_manager_tgt {\n"
        "\t\t# Non-key attributes\n"
        "\t\taddr_method PERIPHERAL\n"
        "\t\tio_grouping_type auto\n"
        "\t\trel_tgt_id 0\n"
        "\n"
        "\t\tLUN 0 r0 {\n"
        "\t\t\t# Non-key attributes\n"
        "\t\t\tread_only 0\n"
    ) in full


def test_sysfs_tree_of_the_copy_manager(lab):
    dump = sh(lab, f"grep -r -s -Z --exclude=mgmt '' {SYS}/targets/copy_manager").stdout
    lines = {tuple(line.split("\0")) for line in dump.splitlines()}
    assert (f"{SYS}/targets/copy_manager/allow_not_connected_copy", "0") in lines
    assert (f"{CM}/rel_tgt_id", "0") in lines  # no [key]: 0 is unassigned
    assert (f"{CM}/luns/0/read_only", "0") in lines
    sess = f"{CM}/sessions/copy_manager_sess"
    assert (f"{sess}/initiator_name", "copy_manager_sess") in lines
    assert (f"{sess}/read_cmd_count", "0") in lines
    assert (f"{sess}/lun1/active_commands", "0") in lines
    paths = {p for p, _ in lines}
    assert f"{CM}/enabled" not in paths and f"{CM}/tid" not in paths
    assert f"{SYS}/targets/copy_manager/enabled" not in paths
    links = sh(lab, f"find {SYS} -type l -printf '%p\\0%l\\n'").stdout.splitlines()
    assert f"{CM}/luns/0/device\0../../../../../devices/r0" in links
    assert f"{CM}/sessions/copy_manager_sess/luns\0../../luns" in links
    # the copy manager's LUN is the device's first export
    assert (
        f"{SYS}/devices/r0/exported/export0\0../../../targets/copy_manager/{CM[-16:]}/luns/0"
        in (links)
    )
    assert f"{SYS}/devices/r1/exported/export1\0../../../targets/iscsi/{IQN}/luns/1" in links


def link_of(lab, path: str) -> str:
    """A sysfs link's target, read the way the portal reads links (find -printf)."""
    out = sh(lab, f"find {path.rsplit('/', 1)[0]} -type l -printf '%p\\0%l\\n'").stdout
    links = dict(line.split("\0", 1) for line in out.splitlines())
    return links.get(path, "")


def test_device_added_by_config_gets_the_next_copy_manager_lun_and_loses_it(lab):
    text = _write_config(lab)
    without_cm = (
        text.split("TARGET_DRIVER copy_manager")[0]
        + "TARGET_DRIVER iscsi"
        + (text.split("TARGET_DRIVER iscsi")[1])
    )
    with_r2 = without_cm.replace("HANDLER vdisk_blockio {\n", "HANDLER vdisk_blockio {\n" + R2)
    api.node(lab, NODE).write("/root/r2.conf", with_r2)
    r = sh(lab, "scstadmin -noprompt -config /root/r2.conf")
    assert r.exit_status == 0, r.stdout
    # copy_manager LUNs missing from the file are kept without a word (no -force)
    assert "copy_manager" not in r.stdout
    assert "\t-> Done, 2 change(s) made.\n" in r.stdout, r.stdout  # open + usn
    assert link_of(lab, f"{CM}/luns/2/device").endswith("devices/r2")
    assert "\t\tLUN 2 r2\n\t}\n}\n\nTARGET_DRIVER iscsi" in _write_config(lab)
    # closing r2 (file without it, -force) removes its LUN with it; with the copy_manager
    # block in the file the other LUNs stay
    api.node(lab, NODE).write("/root/orig.conf", text)
    r = sh(lab, "scstadmin -force -noprompt -config /root/orig.conf")
    assert r.exit_status == 0, r.stdout
    assert "\t-> Closing device 'r2' using handler 'vdisk_blockio': done.\n" in r.stdout
    # -force: scstadmin drops r2's copy_manager LUN (absent from the file) before closing it
    assert (
        "\t-> Removing LUN 2 from driver/target 'copy_manager/copy_manager_tgt': done.\n"
        in r.stdout
    )
    assert sh(lab, f"ls {CM}/luns").stdout.split() == ["0", "1", "mgmt"]
    # scst_cm_next_lun only grows: r2 opened again gets LUN 3
    sh(lab, "scstadmin -noprompt -config /root/r2.conf")
    assert link_of(lab, f"{CM}/luns/3/device").endswith("devices/r2")


def test_force_with_a_file_without_copy_manager_removes_its_luns(lab):
    """applyConfigAssignments calls removeLun for copy_manager too when -force is given;
    a device opened in the same run keeps the LUN it got (not in %CURRENT)."""
    text = _write_config(lab)
    without_cm = (
        text.split("TARGET_DRIVER copy_manager")[0]
        + "TARGET_DRIVER iscsi"
        + (text.split("TARGET_DRIVER iscsi")[1])
    )
    with_r2 = without_cm.replace("HANDLER vdisk_blockio {\n", "HANDLER vdisk_blockio {\n" + R2)
    api.node(lab, NODE).write("/root/r2.conf", with_r2)
    r = sh(lab, "scstadmin -force -noprompt -config /root/r2.conf")
    assert r.exit_status == 0, r.stdout
    assert (
        "\t-> Removing LUN 0 from driver/target 'copy_manager/copy_manager_tgt': done.\n"
        in r.stdout
    )
    assert sh(lab, f"ls {CM}/luns").stdout.split() == ["2", "mgmt"]
    assert "TARGET_DRIVER copy_manager {\n\tTARGET copy_manager_tgt {\n\t\tLUN 2 r2\n" in (
        _write_config(lab)
    )


def test_check_config_does_not_want_lun_0_on_copy_manager(lab):
    text = _write_config(lab).replace(
        "\t\tLUN 0 r0\n\t\tLUN 1 r1\n\t}\n}", "\t\tLUN 1 r1\n\t}\n}", 1
    )
    api.node(lab, NODE).write("/root/c1.conf", text)
    r = sh(lab, "scstadmin -check_config /root/c1.conf")
    assert r.exit_status == 0
    assert "copy_manager" not in r.stdout
    assert "\t-> Done, 0 warnings found.\n" in r.stdout


def test_clear_config_keeps_the_copy_manager_target(lab):
    r = sh(lab, "scstadmin -clear_config -force -noprompt")
    assert r.exit_status == 0, r.stdout
    assert (
        "\t-> Removing all LUNs from driver/target 'copy_manager/copy_manager_tgt': done.\n"
        in r.stdout
    )
    assert "Removing virtual target 'copy_manager_tgt'" not in r.stdout
    listing = sh(lab, "scstadmin -list_target").stdout
    assert "\tcopy_manager copy_manager_tgt\n" in listing
    assert sh(lab, f"cat {CM}/sessions/copy_manager_sess/initiator_name").stdout == (
        "copy_manager_sess\n"
    )


def test_device_removed_from_the_state_directly_leaves_no_copy_manager_lun(lab):
    node = api.node(lab, NODE)
    with node.session():
        node.state.scst.devices.pop("r1")
        node.dirty_node = True
    assert sh(lab, f"ls {CM}/luns").stdout.split() == ["0", "mgmt"]
