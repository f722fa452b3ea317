"""scstadmin -set_dev_attr, -enable_target/-disable_target and creation attributes under
-config, as scstadmin.sysfs/scstadmin and scst_vdisk.c behave, over real SSH."""

from __future__ import annotations

import pytest

from lab import api

NODE = "c001-a"
DEV = "/sys/kernel/scst_tgt/devices/r0"
TARGET = "iqn.2024-01.lab.scst:c001.c001-a"
ENABLED = f"/sys/kernel/scst_tgt/targets/iscsi/{TARGET}/enabled"
HEAD = "\nCollecting current configuration: done.\n\n"
TAIL = "\nAll done.\n"
PROMPT = (
    "Performing this action may result in lost or corrupt data, are you sure you wish "
    "to continue (y/[n]) ? Aborting action.\n"
)


def cat(served, path: str) -> str:
    return served.run(NODE, f"cat {path}").stdout


def test_runtime_attributes_are_set_and_show_as_key(served):
    r = served.run(
        NODE,
        "timeout -k 5 30 scstadmin -noprompt -set_dev_attr r0 "
        "-attributes prod_id=lun0,usn=4b1d0001,t10_dev_id=4b1d0001-lun0",
    )
    assert (r.exit_status, r.stderr) == (0, "")
    assert r.stdout == (
        HEAD + "\n-> Making requested changes.\n"
        "\t-> Setting device attribute 'prod_id' to value 'lun0' for device 'r0': done.\n"
        "\t-> Setting device attribute 't10_dev_id' to value '4b1d0001-lun0' for device 'r0': "
        "done.\n"
        "\t-> Setting device attribute 'usn' to value '4b1d0001' for device 'r0': done.\n"
        "\t-> Done, 3 change(s) made.\n" + TAIL
    )
    assert cat(served, f"{DEV}/prod_id") == "lun0\n[key]\n"
    assert cat(served, f"{DEV}/usn") == "4b1d0001\n[key]\n"
    assert cat(served, f"{DEV}/t10_dev_id") == "4b1d0001-lun0\n[key]\n"
    r = served.run(NODE, "scstadmin -noprompt -set_dev_attr r0 -attributes cluster_mode=1")
    assert "\t-> Done, 1 change(s) made.\n" in r.stdout
    assert cat(served, f"{DEV}/cluster_mode") == "1\n[key]\n"
    r = served.run(NODE, "scstadmin -noprompt -set_dev_attr r0 -attributes cluster_mode=0")
    assert cat(served, f"{DEV}/cluster_mode") == "0\n"


def test_cluster_mode_and_t10_dev_id_in_one_call_refuses_the_id(served):
    # Names are applied in sorted order (scstadmin's Perl hash order is random): once
    # cluster_mode is 1 the handler refuses t10_dev_id (EPERM). Set the id first, alone.
    r = served.run(
        NODE, "scstadmin -noprompt -set_dev_attr r0 -attributes t10_dev_id=new-id,cluster_mode=1"
    )
    assert (r.exit_status, r.stderr) == (0, "(EPERM) ")
    assert "\t-> Done, 1 change(s) made.\n" in r.stdout
    assert cat(served, f"{DEV}/t10_dev_id") != "new-id\n[key]\n"


def test_an_attribute_already_at_the_value_is_not_written(served):
    r = served.run(NODE, "scstadmin -noprompt -set_dev_attr r0 -attributes prod_id=r0")
    assert r.stdout == (
        HEAD + "\n-> Making requested changes.\n"
        "\t-> Attribute 'prod_id' already set to value 'r0', ignoring.\n"
        "\t-> Done, 0 change(s) made.\n" + TAIL
    )


@pytest.mark.parametrize(
    "attr",
    ["nv_cache", "write_through", "read_only", "thin_provisioned", "rotational", "removable",
     "blocksize", "o_direct"],
)  # fmt: skip
def test_a_creation_attribute_is_not_settable_and_stays(served, attr):
    before = served.run(NODE, f"cat {DEV}/{attr}")
    r = served.run(NODE, f"scstadmin -noprompt -set_dev_attr r0 -attributes {attr}=1")
    assert (r.exit_status, r.stderr) == (0, "")
    assert r.stdout == (
        HEAD + "\n-> Making requested changes.\n"
        f"\t-> WARNING: Device 'r0' lacks the settable attribute '{attr}', ignoring.\n\n"
        "\t-> Done, 0 change(s) made.\n" + TAIL
    )
    after = served.run(NODE, f"cat {DEV}/{attr}")
    assert (after.exit_status, after.stdout) == (before.exit_status, before.stdout)


def test_without_noprompt_nothing_changes(served):
    r = served.run(NODE, "scstadmin -set_dev_attr r0 -attributes prod_id=x")
    assert (r.exit_status, r.stdout) == (0, HEAD + PROMPT + TAIL)
    assert cat(served, f"{DEV}/prod_id") == "r0\n[key]\n"


def test_t10_dev_id_cannot_change_while_cluster_mode_is_on(served):
    served.run(NODE, "scstadmin -noprompt -set_dev_attr r0 -attributes cluster_mode=1")
    r = served.run(NODE, "scstadmin -noprompt -set_dev_attr r0 -attributes t10_dev_id=other")
    assert r.exit_status == 0
    assert r.stderr == "(EPERM) "
    assert r.stdout == (
        HEAD + "\n-> Making requested changes.\n"
        "\t-> Setting device attribute 't10_dev_id' to value 'other' for device 'r0': done.\n"
        "\n\nWARNING: Received the following error:\n\n"
        '\tFailed to set device attribute. See "dmesg" for more information.\n\n'
        "\t-> Done, 0 change(s) made.\n" + TAIL
    )
    assert cat(served, f"{DEV}/t10_dev_id") != "other\n[key]\n"


@pytest.mark.parametrize(
    ("attrs", "shown"),
    [("eui64_id=0x0123456789ABCDEF", {"eui64_id": "0x0123456789abcdef\n[key]\n"}),
     ("naa_id=0x6001405123456789000000000000000A",
      {"naa_id": "0x6001405123456789000000000000000a\n[key]\n"}),
     ("t10_vend_id=LAB", {"t10_vend_id": "LAB\n[key]\n"})],
)  # fmt: skip
def test_identity_attributes_show_as_the_vdisk_handler_prints_them(served, attrs, shown):
    assert (
        served.run(NODE, f"scstadmin -noprompt -set_dev_attr r0 -attributes {attrs}").stderr == ""
    )
    for attr, text in shown.items():
        assert cat(served, f"{DEV}/{attr}") == text


@pytest.mark.parametrize(
    "attrs",
    ["cluster_mode=2", "eui64_id=0x1234", "naa_id=0x1234567890123456", "prod_id=" + "p" * 17,
     "usn=" + "1" * 21, "t10_vend_id=VENDORLONG", "t10_dev_id=" + "t" * 26],
)  # fmt: skip
def test_a_value_the_handler_refuses_is_einval(served, attrs):
    r = served.run(NODE, f"scstadmin -noprompt -set_dev_attr r0 -attributes {attrs}")
    assert (r.exit_status, r.stderr) == (0, "(EINVAL) ")
    assert "\t-> Done, 0 change(s) made.\n" in r.stdout


def test_unknown_device_and_missing_attributes(served):
    r = served.run(NODE, "scstadmin -noprompt -set_dev_attr nope -attributes prod_id=x")
    assert r.stdout == (
        HEAD + "\n-> Making requested changes.\n"
        "\n\nWARNING: Received the following error:\n\n"
        "\tdeviceAttributes(): Device 'nope' is not open\n\n"
        "\t-> Done, 1 change(s) made.\n" + TAIL
    )
    r = served.run(NODE, "scstadmin -noprompt -set_dev_attr r0")
    assert (r.exit_status, r.stdout) == (1, "Please specify -attributes with -set_dev_attr.\n")


def test_disable_and_enable_a_target(served):
    r = served.run(
        NODE, f"timeout -k 5 30 scstadmin -noprompt -disable_target {TARGET} -driver iscsi"
    )
    assert (r.exit_status, r.stderr) == (0, "")
    assert r.stdout == (
        HEAD + "\n-> Making requested changes.\n"
        f"\t-> Disabling driver/target 'iscsi/{TARGET}': done.\n\t-> Done.\n" + TAIL
    )
    assert cat(served, ENABLED) == "0\n"
    r = served.run(NODE, f"scstadmin -noprompt -enable_target {TARGET} -driver iscsi")
    assert r.stdout == (
        HEAD + "\n-> Making requested changes.\n"
        f"\t-> Enabling driver/target 'iscsi/{TARGET}': done.\n\t-> Done.\n" + TAIL
    )
    assert cat(served, ENABLED) == "1\n"
    r = served.run(NODE, f"scstadmin -noprompt -enable_target {TARGET} -driver iscsi")
    assert r.stdout == HEAD + "\n-> Making requested changes.\n\t-> Done.\n" + TAIL


def test_disable_target_prompts_without_noprompt(served):
    r = served.run(NODE, f"scstadmin -disable_target {TARGET} -driver iscsi")
    assert (r.exit_status, r.stdout) == (0, HEAD + PROMPT + TAIL)
    assert cat(served, ENABLED) == "1\n"


def test_enable_an_unknown_target(served):
    r = served.run(NODE, "scstadmin -noprompt -enable_target nope -driver iscsi")
    assert r.exit_status == 0
    assert "\ttargetAttributes(): Target 'nope' is not available\n" in r.stdout


def _conf_with(served, old: str, new: str) -> None:
    text = served.run(NODE, "cat /etc/scst.conf").stdout
    assert old in text
    node = api.node(served.dir, NODE)
    (node.root / "root/new.conf").write_text(text.replace(old, new, 1))


def test_config_without_force_leaves_a_creation_attribute_as_it_runs(served):
    _conf_with(served, "\t\tfilename /dev/drbd0\n", "\t\tfilename /dev/drbd0\n\t\tnv_cache 1\n")
    r = served.run(NODE, "timeout -k 5 30 scstadmin -noprompt -config /root/new.conf")
    assert r.exit_status == 0
    assert (
        "\t-> Device 'r0' is configured differently.\n"
        "\t  -> Use -force to re-open device with new attributes. NOTE: This will disrupt "
        "all initiators using this device.\n"
    ) in r.stdout
    assert cat(served, f"{DEV}/nv_cache") == "0\n"


def test_config_with_force_recreates_the_device(served):
    _conf_with(served, "\t\tfilename /dev/drbd0\n", "\t\tfilename /dev/drbd0\n\t\tnv_cache 1\n")
    r = served.run(NODE, "timeout -k 5 30 scstadmin -noprompt -force -config /root/new.conf")
    assert r.exit_status == 0
    assert (
        "\t-> Device 'r0' is configured differently.\n"
        "\t  -> Closing and re-opening with new attributes.\n"
        "\t-> Closing device 'r0' using handler 'vdisk_blockio': done.\n"
        "\t-> Opening device 'r0' using handler 'vdisk_blockio': done.\n"
    ) in r.stdout
    assert cat(served, f"{DEV}/nv_cache") == "1\n[key]\n"
    luns = f"/sys/kernel/scst_tgt/targets/iscsi/{TARGET}/luns"
    links = served.run(NODE, f"find {luns} -type l -printf '%p\\0%l\\n'").stdout
    assert f"{luns}/0/device\0../../../../../devices/r0\n" in links  # LUN 0 is back


def test_cluster_mode_is_written_on_a_device_in_use_and_without_a_running_dlm(served):
    # scst_vdisk.c vdev_sysfs_process_cluster_mode_store suspends SCST activity around the
    # write instead of refusing it while targets are enabled or sessions logged in; and
    # scst_dlm.c scst_pr_dlm_init ignores a lockspace it cannot create (no dlm_controld).
    from lab import stack

    api.add_session(served.dir, NODE, "iqn.1998-01.com.vmware:esx1")
    stack.set_stack(served.dir, NODE, dlm_running=False)
    assert cat(served, ENABLED) == "1\n"
    r = served.run(NODE, "scstadmin -noprompt -set_dev_attr r0 -attributes cluster_mode=1")
    assert (r.exit_status, r.stderr) == (0, "")
    assert "\t-> Done, 1 change(s) made.\n" in r.stdout
    assert cat(served, f"{DEV}/cluster_mode") == "1\n[key]\n"


def test_a_disabled_iscsi_target_keeps_its_logged_in_sessions(served):
    # iscsi-scst/usr/event.c E_DISABLE_TARGET only sets tgt_enabled = 0: no new logins.
    initiator = "iqn.1998-01.com.vmware:esx1"
    api.add_session(served.dir, NODE, initiator)
    served.run(NODE, f"scstadmin -noprompt -disable_target {TARGET} -driver iscsi")
    assert cat(served, ENABLED) == "0\n"
    node = api.node(served.dir, NODE)
    with node.session():
        assert initiator in node.state.scst.drivers["iscsi"][TARGET].sessions
