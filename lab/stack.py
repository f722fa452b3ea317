"""The lab node's cluster stack: corosync, Pacemaker and the DLM, as their tools print it.

Each node answers `corosync-quorumtool -s`, `crm_mon --output-as=xml`, `cibadmin --query
--scope resources`, `dlm_tool ls` and `test -x` with the real tools' layout and exit codes
(sources: corosync tools/corosync-quorumtool.c; pacemaker xml/api/crm_mon-2.*.rng and
cts/cli/regression.crm_mon.exp; the CIB's resources section as in pacemaker's
cts/scheduler/xml/*.xml; dlm dlm_tool/main.c do_list/show_ls).

A new lab node has a healthy stack: quorate, both nodes members, STONITH enabled with a
fence device, the DLM running with a lockspace `scst-<t10_dev_id>` for every cluster_mode 1
device (scst_dlm.c get_lockspace), DRBD not managed by Pacemaker, and drbd-utils' fence-peer
handlers installed and executable. Faults flip each (`set_stack`, `set_handler`). The state
lives in LAB/nodes/NODE/stack.json (absent = the healthy default).
"""

from __future__ import annotations

import json
import os
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

from lab.node import Node
from lab.state import write_atomic

HANDLERS = (
    "/usr/lib/drbd/crm-fence-peer.9.sh",
    "/usr/lib/drbd/crm-unfence-peer.9.sh",
    "/usr/lib/drbd/crm-fence-peer.sh",
    "/usr/lib/drbd/crm-unfence-peer.sh",
)
HANDLER_TEXT = "#!/bin/sh\n# lab stand-in for the drbd-utils fence handler of this name\nexit 0\n"
PACEMAKER_API = "2.42"  # the newest xml/api/crm_mon-*.rng in pacemaker's repository
FENCE_DEVICE = "fence-ipmi"


@dataclass
class StackState:
    """One node's emulated cluster stack; every field a fault can flip."""

    installed: bool = True  # corosync, pacemaker and dlm tools present (else exit 127)
    corosync_running: bool = True
    quorate: bool = True
    members: list[str] | None = None  # corosync/Pacemaker members; None: every cluster node
    pacemaker_running: bool = True
    stonith_enabled: bool = True
    fence_device: bool = True
    dlm_running: bool = True
    missing_lockspaces: list[str] = field(default_factory=list)
    # DRBD resource -> promoted-max of the ocf:linbit:drbd clone managing it
    # (0: a plain primitive, not promotable)
    drbd_clones: dict[str, int] = field(default_factory=dict)


def _path(node_dir: Path) -> Path:
    return Path(node_dir) / "stack.json"


def load(node: Node) -> StackState:
    try:
        data = json.loads(_path(node.dir).read_text())
    except FileNotFoundError:
        return StackState()
    return StackState(**data)


def seed(node_dir: Path) -> None:
    """Install drbd-utils' fence handlers in a new node's root (executable)."""
    base = Path(node_dir) / "root" / "usr" / "lib" / "drbd"
    base.mkdir(parents=True, exist_ok=True)
    for path in HANDLERS:
        target = base / os.path.basename(path)
        target.write_text(HANDLER_TEXT)
        target.chmod(0o755)


# --- faults (Python API) ----------------------------------------------------------------


def set_stack(lab: str | Path, node_name: str, **changes: object) -> StackState:
    """Change NODE's stack state (fields of StackState); returns the new state."""
    from lab import api

    node = api.node(lab, node_name)
    with node.session():
        state = asdict(load(node)) | changes
        write_atomic(_path(node.dir), json.dumps(state))
    return StackState(**state)


def set_handler(lab: str | Path, node_name: str, path: str, executable: bool | None) -> None:
    """Make a handler executable (True), not executable (False) or remove it (None)."""
    from lab import api

    node = api.node(lab, node_name)
    with node.session():
        host = node.host_path(path)
        if executable is None:
            host.unlink(missing_ok=True)
            return
        host.parent.mkdir(parents=True, exist_ok=True)
        if not host.exists():
            host.write_text(HANDLER_TEXT)
        host.chmod(0o755 if executable else 0o644)


# --- what the tools print ---------------------------------------------------------------


@dataclass
class Result:
    stdout: str = ""
    stderr: str = ""
    exit_status: int = 0


def _not_found(name: str) -> Result:
    return Result("", f"sh: 1: {name}: not found\n", 127)


def _members(node: Node, st: StackState) -> list[tuple[int, str]]:
    """(corosync node id, name) of the members; corosync node ids start at 1."""
    names = node.cluster.nodes if st.members is None else st.members
    return [(node.cluster.node_ids.get(n, i) + 1, n) for i, n in enumerate(names)]


def quorumtool(node: Node, args: list[str]) -> Result:
    """`corosync-quorumtool -s`: display_quorum_data + display_nodes_data, votequorum."""
    st = load(node)
    if not st.installed:
        return _not_found("corosync-quorumtool")
    if args != ["-s"]:
        return Result("", "lab: only corosync-quorumtool -s is emulated\n", 1)
    if not st.corosync_running:
        return Result("", "Cannot initialize CMAP service\n", 1)
    members = _members(node, st)
    me = node.cluster.node_ids.get(node.name, 0) + 1
    votes = len(members)
    flags = "2Node " + ("Quorate " if st.quorate else "") + "WaitForAll "
    out = (
        "Quorum information\n------------------\n"
        f"Date:             {time.strftime('%a %b %e %H:%M:%S %Y')}\n"
        "Quorum provider:  corosync_votequorum\n"
        f"Nodes:            {len(members)}\n"
        f"Node ID:          {me}\n"
        f"Ring ID:          {min(i for i, _ in members) if members else me}.2c\n"
        f"Quorate:          {'Yes' if st.quorate else 'No'}\n"
        "\nVotequorum information\n----------------------\n"
        "Expected votes:   2\nHighest expected: 2\n"
        f"Total votes:      {votes}\n"
        f"Quorum:           1 {' ' if st.quorate else 'Activity blocked'}\n"
        f"Flags:            {flags}\n"
        "\nMembership information\n----------------------\n"
        f"{'Nodeid':>10} {'Votes':>10} Name\n"
    )
    for node_id, name in members:
        local = " (local)" if node_id == me else ""
        out += f"{node_id:>10} {1:>10} {name}{local}\n"
    return Result(out, "", 0 if st.quorate else 2)


def _cib_resources(node: Node, st: StackState) -> list[str]:
    """The CIB's resource definitions, as cibadmin prints them (two-space indent)."""
    lines = []
    if st.fence_device:
        lines += [
            f'  <primitive id="{FENCE_DEVICE}" class="stonith" type="fence_ipmilan">',
            f'    <instance_attributes id="{FENCE_DEVICE}-instance_attributes">',
            f'      <nvpair id="{FENCE_DEVICE}-instance_attributes-ip" name="ip" '
            'value="192.0.2.10"/>',
            "    </instance_attributes>",
            "  </primitive>",
        ]
    for res, promoted_max in sorted(st.drbd_clones.items()):
        prim = [
            f'    <primitive class="ocf" provider="linbit" type="drbd" id="drbd_{res}">',
            f'      <instance_attributes id="drbd_{res}-instance_attributes">',
            f'        <nvpair id="drbd_{res}-instance_attributes-drbd_resource" '
            f'name="drbd_resource" value="{res}"/>',
            "      </instance_attributes>",
            "    </primitive>",
        ]
        if promoted_max == 0:
            lines += [line[2:] for line in prim]
            continue
        lines += [
            f'  <clone id="ms_drbd_{res}">',
            f'    <meta_attributes id="ms_drbd_{res}-meta_attributes">',
            f'      <nvpair id="ms_drbd_{res}-meta_attributes-promotable" name="promotable" '
            'value="true"/>',
            f'      <nvpair id="ms_drbd_{res}-meta_attributes-promoted-max" '
            f'name="promoted-max" value="{promoted_max}"/>',
            f'      <nvpair id="ms_drbd_{res}-meta_attributes-notify" name="notify" value="true"/>',
            "    </meta_attributes>",
            *prim,
            "  </clone>",
        ]
    return lines


def cibadmin(node: Node, args: list[str]) -> Result:
    """`cibadmin --query --scope resources`: the CIB's resources section."""
    st = load(node)
    if not st.installed:
        return _not_found("cibadmin")
    if args not in (["--query", "--scope", "resources"], ["-Q", "-o", "resources"]):
        return Result("", "lab: only cibadmin --query --scope resources is emulated\n", 1)
    if not st.pacemaker_running:
        return Result(
            "", "Could not connect to the CIB API: Transport endpoint is not connected\n", 102
        )
    body = _cib_resources(node, st)
    if not body:
        return Result("<resources/>\n")
    return Result("<resources>\n" + "\n".join(body) + "\n</resources>\n")


def _xml_bool(value: bool) -> str:
    return "true" if value else "false"


def crm_mon(node: Node, args: list[str]) -> Result:
    """`crm_mon --one-shot --output-as=xml` (crm_mon-2.42.rng; layout as in pacemaker's
    cts/cli/regression.crm_mon.exp)."""
    st = load(node)
    if not st.installed:
        return _not_found("crm_mon")
    if "--output-as=xml" not in args:
        return Result("", "lab: only crm_mon --output-as=xml is emulated\n", 1)
    request = quoteattr("crm_mon " + " ".join(args))
    head = f"<pacemaker-result api-version={quoteattr(PACEMAKER_API)} request={request}>\n"
    if not st.pacemaker_running:
        return Result(
            head + '  <crm-mon-disconnected description="Latest connection attempt failed" '
            'pacemakerd-state="shutdown_complete"/>\n'
            '  <status code="102" message="Not connected"/>\n</pacemaker-result>\n',
            "",
            102,
        )
    members = {name for _, name in _members(node, st)}
    everyone = list(node.cluster.nodes)
    dc = next((n for n in everyone if n in members), node.name)
    dc_id = node.cluster.node_ids.get(dc, 0) + 1
    n_rsc = (1 if st.fence_device else 0) + 2 * len(st.drbd_clones)
    out = head + (
        "  <summary>\n"
        '    <stack type="corosync" pacemakerd-state="running"/>\n'
        f'    <current_dc present="true" version="3.0.1" name="{dc}" id="{dc_id}" '
        f'with_quorum="{_xml_bool(st.quorate)}" mixed_version="false"/>\n'
        f'    <last_update time="{time.strftime("%a %b %e %H:%M:%S %Y")}" origin="{node.name}"/>\n'
        f'    <last_change time="{time.strftime("%a %b %e %H:%M:%S %Y")}" user="root" '
        f'client="cibadmin" origin="{dc}"/>\n'
        f'    <nodes_configured number="{len(everyone)}"/>\n'
        f'    <resources_configured number="{n_rsc}" disabled="0" blocked="0"/>\n'
        f'    <cluster_options fencing-enabled="{_xml_bool(st.stonith_enabled)}" '
        'fencing-timeout-ms="60000" symmetric-cluster="true" no-quorum-policy="stop" '
        'maintenance-mode="false" stop-all-resources="false" priority-fencing-delay-ms="0" '
        f'stonith-enabled="{_xml_bool(st.stonith_enabled)}" stonith-timeout-ms="60000"/>\n'
        "  </summary>\n  <nodes>\n"
    )
    for name in everyone:
        online = name in members
        running = (1 if st.fence_device and name == dc else 0) + len(st.drbd_clones) * online
        out += (
            f'    <node name="{name}" id="{node.cluster.node_ids.get(name, 0) + 1}" '
            f'online="{_xml_bool(online)}" standby="false" standby_onfail="false" '
            'maintenance="false" pending="false" unclean="false" health="green" '
            f'feature_set="3.20.0" shutdown="false" expected_up="true" '
            f'is_dc="{_xml_bool(name == dc)}" resources_running="{running}" type="member"/>\n'
        )
    out += "  </nodes>\n  <resources>\n"
    flags = (
        'active="true" orphaned="false" removed="false" blocked="false" maintenance="false" '
        'managed="true" failed="false" failure_ignored="false" nodes_running_on="1"'
    )
    if st.fence_device:
        out += (
            f'    <resource id="{FENCE_DEVICE}" resource_agent="stonith:fence_ipmilan" '
            f'role="Started" {flags}>\n'
            f'      <node name="{dc}" id="{dc_id}" cached="true"/>\n    </resource>\n'
        )
    for res, promoted_max in sorted(st.drbd_clones.items()):
        up = [n for n in everyone if n in members]
        out += (
            f'    <clone id="ms_drbd_{res}" multi_state="{_xml_bool(promoted_max > 0)}" '
            'unique="false" maintenance="false" managed="true" disabled="false" '
            'failed="false" failure_ignored="false">\n'
        )
        for i, name in enumerate(up):
            role = "Promoted" if i < promoted_max else "Unpromoted"
            if promoted_max == 0:
                role = "Started"
            out += (
                f'      <resource id="drbd_{res}" resource_agent="ocf:linbit:drbd" '
                f'role="{role}" {flags}>\n'
                f'        <node name="{name}" id="{node.cluster.node_ids.get(name, 0) + 1}" '
                'cached="true"/>\n      </resource>\n'
            )
        out += "    </clone>\n"
    out += '  </resources>\n  <status code="0" message="OK"/>\n</pacemaker-result>\n'
    return Result(out)


def _lockspaces(node: Node, st: StackState) -> list[str]:
    """scst-<t10_dev_id> (31 characters at most) for every cluster_mode 1 device."""
    scst = node.state.scst
    names = []
    for dev in scst.devices.values():
        if dev.attrs.get("cluster_mode") == "1":
            name = ("scst-" + dev.value("t10_dev_id", scst.setup_id))[:31]
            if name not in st.missing_lockspaces:
                names.append(name)
    return sorted(names)


def dlm_tool(node: Node, args: list[str]) -> Result:
    """`dlm_tool ls` (do_list, show_ls); dlm_controld down: exit 1, nothing printed."""
    st = load(node)
    if not st.installed:
        return _not_found("dlm_tool")
    if args != ["ls"]:
        return Result("", "lab: only dlm_tool ls is emulated\n", 1)
    if not st.dlm_running:
        return Result("", "", 1)
    names = _lockspaces(node, st)
    if not names:
        return Result()
    members = _members(node, st)
    ids = " ".join(str(i) for i, _ in members)
    out = "dlm lockspaces\n"
    for name in names:
        # dlm_controld derives the global id from a hash of the name; any stable id will do
        global_id = zlib.crc32(name.encode())
        out += (
            f"name          {name}\n"
            f"id            0x{global_id:08x}\n"
            "flags         0x00000000 \n"
            f"change        member {len(members)} joined 1 remove 0 failed 0 seq 1,1\n"
            f"members       {ids} \n\n"
        )
    return Result(out)


def make_test(original):
    """`test`, adding `-x FILE` (executable by the caller) to the interpreter's own."""

    def cmd_test(node: Node, args: list[str]):
        if len(args) == 2 and args[0] == "-x" and not args[1].startswith("/sys/"):
            host = node.host_path(args[1])
            ok = host.is_file() and os.access(host, os.X_OK)
            return Result("", "", 0 if ok else 1)
        return original(node, args)

    return cmd_test


COMMANDS = {
    "corosync-quorumtool": quorumtool,
    "crm_mon": crm_mon,
    "cibadmin": cibadmin,
    "dlm_tool": dlm_tool,
}
