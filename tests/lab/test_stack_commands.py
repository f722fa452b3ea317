"""The lab's cluster stack answers as corosync, Pacemaker and the DLM do, and each fault
flips what the portal's parsers read (clusters/stack.py, tested on upstream samples)."""

from clusters import stack as parse
from lab import api, stack
from lab.interpreter import run_command


def run(lab, node, command):
    return run_command(api.node(lab, node), command)


def test_a_new_node_has_a_healthy_stack(lab):
    quorum = run(lab, "c001-a", "corosync-quorumtool -s")
    assert quorum.exit_status == 0
    parsed = parse.parse_quorumtool(quorum.stdout)
    assert parsed.quorate and parsed.member_names() == {"c001-a", "c001-b"}
    status = parse.parse_crm_mon(run(lab, "c001-a", "crm_mon --one-shot --output-as=xml").stdout)
    assert status.with_quorum and status.fencing_enabled and status.fence_devices
    cib = run(lab, "c001-a", "cibadmin --query --scope resources")
    assert (
        parse.ClusterStack(primitives=parse.parse_cib_resources(cib.stdout)).drbd_primitives() == {}
    )
    assert run(lab, "c001-a", "dlm_tool ls").stdout == ""  # no cluster_mode device yet
    assert run(lab, "c001-a", "test -x /usr/lib/drbd/crm-fence-peer.9.sh").exit_status == 0


def test_cluster_mode_device_gets_its_lockspace_unless_a_fault_drops_it(lab):
    api.set_device_attr(lab, "c001-a", "r0", "cluster_mode", "1")
    spaces = parse.parse_dlm_ls(run(lab, "c001-a", "dlm_tool ls").stdout)
    (name,) = [s.name for s in spaces]
    assert name.startswith("scst-") and name.endswith("-r0")
    stack.set_stack(lab, "c001-a", missing_lockspaces=[name])
    assert parse.parse_dlm_ls(run(lab, "c001-a", "dlm_tool ls").stdout) == []


def test_faults_flip_quorum_pacemaker_dlm_and_handlers(lab):
    stack.set_stack(lab, "c001-b", quorate=False, members=["c001-b"], drbd_clones={"r0": 1})
    quorum = run(lab, "c001-b", "corosync-quorumtool -s")
    assert quorum.exit_status == 2  # EXIT_NOT_QUORATE
    assert parse.parse_quorumtool(quorum.stdout).member_names() == {"c001-b"}
    cib = run(lab, "c001-b", "cibadmin --query --scope resources").stdout
    (drbd,) = (
        parse.ClusterStack(primitives=parse.parse_cib_resources(cib)).drbd_primitives().values()
    )
    assert drbd.promoted_max == 1
    stack.set_stack(lab, "c001-b", pacemaker_running=False, dlm_running=False)
    crm = run(lab, "c001-b", "crm_mon --one-shot --output-as=xml")
    assert crm.exit_status == 102 and not parse.parse_crm_mon(crm.stdout).connected
    assert run(lab, "c001-b", "dlm_tool ls").exit_status == 1
    stack.set_handler(lab, "c001-b", "/usr/lib/drbd/crm-fence-peer.9.sh", False)
    assert run(lab, "c001-b", "test -x /usr/lib/drbd/crm-fence-peer.9.sh").exit_status == 1
    stack.set_stack(lab, "c001-b", installed=False)
    gone = run(lab, "c001-b", "crm_mon --one-shot --output-as=xml")
    assert gone.exit_status == 127 and gone.stderr == "sh: 1: crm_mon: not found\n"
