"""Cluster-stack parsers on output laid out as the upstream tools print it.

Sources: pacemaker cts/cli/regression.crm_mon.exp and cts/scheduler/xml/bug-lf-2317.xml
(verbatim); corosync tools/corosync-quorumtool.c and dlm dlm_tool/main.c (their printf
layout); see tests/fixtures/README.md.
"""

import pytest

from clusters import stack
from tests.samples import FIXTURES

STACK = FIXTURES / "stack"


def test_crm_mon_regression_output_gives_quorum_fencing_nodes_and_fence_devices():
    status = stack.parse_crm_mon((STACK / "crm_mon-basic.xml").read_text())
    assert status.connected and status.with_quorum is True
    assert status.fencing_enabled is True
    members = {n.name: n for n in status.nodes if n.type == "member"}
    assert set(members) == {"cluster01", "cluster02"}
    assert all(n.online and not n.unclean for n in members.values())
    assert status.fence_devices == ("Fencing",)  # resource_agent="stonith:fence_xvm"
    assert status.promoted == {"promotable-clone": ("cluster02",)}


def test_crm_mon_fencing_disabled_reads_the_deprecated_attribute_too():
    text = (STACK / "crm_mon-basic.xml").read_text()
    old = text.replace(' fencing-enabled="true"', "").replace(
        'stonith-enabled="true"', 'stonith-enabled="false"'
    )
    assert stack.parse_crm_mon(old).fencing_enabled is False


def test_crm_mon_disconnected_is_not_connected():
    # tools/crm_mon.c crm_mon_disconnected_xml, finished with CRM_EX_DISCONNECT
    text = (
        '<pacemaker-result api-version="2.42" request="crm_mon --output-as=xml">\n'
        '  <crm-mon-disconnected description="Latest connection attempt failed" '
        'pacemakerd-state="shutdown_complete"/>\n'
        '  <status code="102" message="Not connected"/>\n</pacemaker-result>\n'
    )
    status = stack.parse_crm_mon(text)
    assert not status.connected
    assert status.description == "Latest connection attempt failed"


def test_a_dtd_in_node_output_is_refused():
    with pytest.raises(stack.StackFormatError):
        stack.parse_crm_mon('<!DOCTYPE x [<!ENTITY a "b">]><pacemaker-result/>')


def test_cib_promotable_drbd_clone_names_its_drbd_resource_and_promoted_max():
    primitives = stack.parse_cib_resources((STACK / "cib-bug-lf-2317.xml").read_text())
    drbd = [p for p in primitives if p.agent == "ocf:linbit:drbd"]
    assert len(drbd) == 1
    assert drbd[0].params == {"drbd_resource": "r0"}
    assert drbd[0].clone == "ms_drbd_r0" and drbd[0].promotable
    assert drbd[0].promoted_max == 2
    st = stack.ClusterStack(primitives=primitives)
    assert set(st.drbd_primitives()) == {"r0"}


def test_cib_clone_without_promoted_max_has_pacemakers_default_one():
    text = (STACK / "cib-bug-lf-2317.xml").read_text()
    text = text.replace(
        '<nvpair id="ms_drbd_r0-meta_attributes-promoted-max" name="promoted-max" value="2"/>', ""
    )
    (drbd,) = [p for p in stack.parse_cib_resources(text) if p.agent == "ocf:linbit:drbd"]
    assert drbd.promoted_max == 1
    assert "default 1" in drbd.promoted_max_evidence


def test_cib_scst_target_agents_name_the_managed_targets():
    # iscsi-scst/resource_agents/README: ocf:scst:SCSTTarget (iqn), SCSTLun (target_iqn)
    text = (
        "<resources>\n"
        '  <primitive id="ISCSI_TGT" class="ocf" provider="scst" type="SCSTTarget">\n'
        '    <instance_attributes id="ISCSI_TGT-instance_attributes">\n'
        '      <nvpair id="ISCSI_TGT-iqn" name="iqn" value="iqn.2012-02.com.example:t1"/>\n'
        "    </instance_attributes>\n  </primitive>\n</resources>\n"
    )
    st = stack.ClusterStack(primitives=stack.parse_cib_resources(text))
    assert st.scst_targets() == {"iqn.2012-02.com.example:t1"}


def test_quorumtool_quorate_two_node_cluster():
    quorum = stack.parse_quorumtool((STACK / "corosync-quorumtool-s-quorate.txt").read_text())
    assert quorum.quorate and quorum.provider == "corosync_votequorum"
    assert quorum.node_id == 1
    assert [(m.node_id, m.votes, m.name, m.local) for m in quorum.members] == [
        (1, 1, "alice", True),
        (2, 1, "bob", False),
    ]
    assert "2Node" in quorum.flags


def test_quorumtool_not_quorate_with_a_qdevice_column():
    text = (STACK / "corosync-quorumtool-s-not-quorate.txt").read_text()
    quorum = stack.parse_quorumtool(text)
    assert not quorum.quorate
    assert quorum.member_names() == {"bob"}


def test_dlm_tool_ls_lists_lockspaces_with_members():
    spaces = stack.parse_dlm_ls((STACK / "dlm_tool-ls.txt").read_text())
    assert [(s.name, s.members) for s in spaces] == [
        ("scst-1f2e3d4c-lun0", (1, 2)),
        ("scst-9a8b7c6d-lun1", (1,)),
    ]
    assert spaces[1].flags == "0x00000004 kern_stop"
    assert stack.parse_dlm_ls("") == []


def test_scst_lockspace_name_is_cut_at_31_characters():
    # scst_dlm.c get_lockspace: char lsp_name[32]; snprintf("%s%s", "scst-", t10_dev_id)
    assert stack.scst_lockspace("c88500c6-r0") == "scst-c88500c6-r0"
    assert len(stack.scst_lockspace("x" * 40)) == 31


@pytest.mark.parametrize(
    ("entry", "state"),
    [
        ({"stdout": "", "stderr": "sh: 1: dlm_tool: not found\n", "exit_status": 127}, "absent"),
        ({"stdout": "", "stderr": "", "exit_status": 1}, "stopped"),
        ({"stdout": "", "stderr": "", "exit_status": 0}, "running"),
    ],
)
def test_a_node_without_the_tool_is_a_known_state(entry, state):
    st = stack.parse_stack({"stack_dlm": {"command": "dlm_tool ls", **entry}})
    assert st.dlm.state == state
    assert not st.problems


def test_no_cluster_stack_at_all():
    missing = {"stdout": "", "stderr": "not found", "exit_status": 127}
    raw = {k: missing for k in ("stack_quorum", "stack_crm_mon", "stack_cib", "stack_dlm")}
    st = stack.parse_stack(raw)
    assert st.absent and not st.problems
