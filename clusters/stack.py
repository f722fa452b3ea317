"""The node's cluster stack, parsed from its tools' output (pure: no Django, no I/O).

scst/README.dlm makes SCSI reservations safe across nodes only with a working DLM and a
cluster-membership stack with quorum and fencing; DRBD's `fencing resource-and-stonith`
only protects data when its fence-peer handler exists and the cluster manager behind it
can fence. These parsers read what that stack says about itself:

- `corosync-quorumtool -s` (corosync tools/corosync-quorumtool.c, display_quorum_data and
  display_nodes_data): quorum and membership. Exit 0 quorate, 2 not quorate (EXIT_NOT_QUORATE),
  1 when corosync does not answer ("Cannot initialize CMAP service").
- `crm_mon --one-shot --output-as=xml` (pacemaker xml/api/crm_mon-2.*.rng): quorum as the DC
  sees it, node membership, whether fencing is enabled, fence devices (`stonith:` agents).
  Not connected: `<crm-mon-disconnected>` and exit 102 (CRM_EX_DISCONNECT).
- `cibadmin --query --scope resources` (the CIB's `<resources>` section, pacemaker
  xml/resources-*.rng): which DRBD resources (ocf:linbit:drbd, parameter drbd_resource) and
  SCST targets (SCST's own ocf:scst:SCSTTarget / SCSTLun agents, iscsi-scst/resource_agents)
  Pacemaker manages, and each promotable clone's promoted-max.
- `dlm_tool ls` (dlm dlm_tool/main.c do_list/show_ls): the DLM lockspaces. dlm_controld not
  running: exit 1 with nothing printed; no lockspace: exit 0, nothing printed.

A node without a tool answers exit 127 (the shell's "not found"): that part of the stack is
absent, a known state, not an error.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

ABSENT, STOPPED, RUNNING, UNKNOWN = "absent", "stopped", "running", "unknown"
NOT_FOUND = 127  # POSIX shells: command not found
QUORUMTOOL_NOT_QUORATE = 2  # corosync-quorumtool.c EXIT_NOT_QUORATE
CRM_EX_DISCONNECT = 102  # pacemaker include/crm/common/results.h
# scst/src/scst_dlm.c get_lockspace: snprintf(lsp_name, 32, "%s%s", SCST_DLM_LOCKSPACE_PFX
# "scst-", cl_dev_id), where cl_dev_id is the vdisk's t10_dev_id: at most 31 characters.
SCST_LOCKSPACE_PREFIX = "scst-"
SCST_LOCKSPACE_MAX = 31
DRBD_AGENT = "ocf:linbit:drbd"
SCST_TARGET_AGENTS = {"ocf:scst:SCSTTarget": "iqn", "ocf:scst:SCSTLun": "target_iqn"}
# Pacemaker Explained, "Promotable clone options": promoted-max defaults to 1; master-max is
# its deprecated name, and <master> the deprecated element for a promotable clone.
PROMOTED_MAX_NAMES = ("promoted-max", "master-max")


class StackFormatError(ValueError):
    """Output that does not have the layout its tool prints."""


def scst_lockspace(t10_dev_id: str) -> str:
    """The DLM lockspace SCST uses for a cluster_mode device (scst_dlm.c get_lockspace)."""
    return (SCST_LOCKSPACE_PREFIX + t10_dev_id)[:SCST_LOCKSPACE_MAX]


# --- corosync-quorumtool -s ----------------------------------------------------------


@dataclass(frozen=True)
class QuorumMember:
    node_id: int
    votes: int | None
    name: str
    local: bool


@dataclass(frozen=True)
class Quorum:
    quorate: bool
    provider: str
    node_id: int | None
    flags: tuple[str, ...]
    members: tuple[QuorumMember, ...]

    def member_names(self) -> set[str]:
        return {m.name for m in self.members}


_MEMBER = re.compile(r"^\s*(?P<id>0x[0-9a-fA-F]+|\d+)\s+(?:(?P<votes>\d+)\s+)?(?P<rest>\S.*)$")


def parse_quorumtool(text: str) -> Quorum:
    """Parse `corosync-quorumtool -s` (display_quorum_data; names, decimal or -H node ids)."""
    fields: dict[str, str] = {}
    lines = text.splitlines()
    try:
        start = lines.index("Membership information")
    except ValueError:
        start = len(lines)
    for line in lines[:start]:
        key, sep, value = line.partition(":")
        if sep and not key.startswith(" "):
            fields.setdefault(key.strip(), value.strip())
    if "Quorate" not in fields or fields["Quorate"] not in ("Yes", "No"):
        raise StackFormatError("corosync-quorumtool -s: no 'Quorate: Yes|No' line")
    members = []
    # display_nodes_data: a header "    Nodeid      Votes Name" (Votes and a Qdevice column
    # only with votequorum), then one padded row per member, " (local)" after our own name.
    for line in lines[start + 3 :]:
        if not line.strip():
            continue
        match = _MEMBER.match(line)
        if match is None:
            raise StackFormatError(f"corosync-quorumtool -s: member line {line!r}")
        rest = match["rest"]
        if rest.split()[0] in ("NR",) or "," in rest.split()[0]:
            rest = rest.split(None, 1)[1] if len(rest.split()) > 1 else ""
        local = rest.endswith(" (local)")
        name = rest.removesuffix(" (local)").split(" [")[0].strip()
        node_id = int(match["id"], 0)
        if node_id == 0:
            continue  # VOTEQUORUM_QDEVICE_NODEID (0): the quorum device's row, not a member
        votes = int(match["votes"]) if match["votes"] else None
        members.append(QuorumMember(node_id, votes, name, local))
    own_id = fields.get("Node ID", "")
    return Quorum(
        quorate=fields["Quorate"] == "Yes",
        provider=fields.get("Quorum provider", ""),
        node_id=int(own_id, 0) if re.fullmatch(r"0x[0-9a-fA-F]+|\d+", own_id) else None,
        flags=tuple(fields.get("Flags", "").split()),
        members=tuple(members),
    )


# --- dlm_tool ls -----------------------------------------------------------------------


@dataclass(frozen=True)
class Lockspace:
    name: str
    global_id: int
    flags: str
    members: tuple[int, ...]


def parse_dlm_ls(text: str) -> list[Lockspace]:
    """Parse `dlm_tool ls` (show_ls: `name`, `id`, `flags`, `change`, `members` lines)."""
    found: list[Lockspace] = []
    current: dict[str, str] = {}

    def close() -> None:
        if not current:
            return
        if "name" not in current or "id" not in current:
            raise StackFormatError(f"dlm_tool ls: lockspace block without name or id: {current}")
        members = current.get("members", "")
        found.append(
            Lockspace(
                current["name"],
                int(current["id"], 16),
                current.get("flags", ""),
                tuple(int(n) for n in members.split() if n.isdigit()),
            )
        )
        current.clear()

    for line in text.splitlines():
        if line in ("dlm lockspaces", ""):
            close()
            continue
        key, _, value = line.partition("  ")
        key = key.strip()
        if key == "name":
            close()
        if key in ("name", "id", "flags", "change", "members"):
            current[key] = value.strip()
        # "new change", "new status", "new members", "all nodes", "nodeid …": detail of a
        # membership change in progress; the lockspace is named in its block all the same.
    close()
    return found


# --- crm_mon --output-as=xml ------------------------------------------------------------


@dataclass(frozen=True)
class PacemakerNode:
    name: str
    online: bool
    unclean: bool
    standby: bool
    type: str


@dataclass(frozen=True)
class PacemakerStatus:
    connected: bool
    description: str = ""
    with_quorum: bool | None = None
    fencing_enabled: bool | None = None
    nodes: tuple[PacemakerNode, ...] = ()
    fence_devices: tuple[str, ...] = ()  # resource ids with a stonith: agent
    promoted: dict[str, tuple[str, ...]] = field(default_factory=dict)  # clone id -> nodes


def _xml(text: str, what: str) -> ET.Element:
    # Node output is untrusted. The tools never print a DTD; refusing any leaves no entity to
    # expand or fetch (what defusedxml's forbid_dtd does), so the stdlib parser is safe here.
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise StackFormatError(f"{what}: document type declarations are not accepted")
    try:
        return ET.fromstring(text)  # noqa: S314 - DTDs refused above
    except ET.ParseError as exc:
        raise StackFormatError(f"{what}: not XML ({exc})") from exc


def _bool(value: str | None) -> bool | None:
    return None if value is None else value.lower() in ("true", "1", "yes")


def parse_crm_mon(text: str) -> PacemakerStatus:
    """Parse `crm_mon --output-as=xml` (pacemaker-result, crm_mon-2.x schema)."""
    root = _xml(text, "crm_mon --output-as=xml")
    if root.tag != "pacemaker-result":
        raise StackFormatError(f"crm_mon --output-as=xml: root element is {root.tag}")
    gone = root.find("crm-mon-disconnected")
    if gone is not None:
        return PacemakerStatus(False, gone.get("description", "not connected"))
    summary = root.find("summary")
    if summary is None:
        status = root.find("status")
        message = status.get("message", "") if status is not None else ""
        errors = [e.text or "" for e in root.iter("error")]
        return PacemakerStatus(False, "; ".join([message, *errors]).strip("; "))
    dc = summary.find("current_dc")
    options = summary.find("cluster_options")
    fencing = None
    if options is not None:
        # fencing-enabled since 3.0.2; stonith-enabled before (still printed, deprecated)
        fencing = _bool(options.get("fencing-enabled", options.get("stonith-enabled")))
    nodes = tuple(
        PacemakerNode(
            n.get("name", ""),
            _bool(n.get("online")) is True,
            _bool(n.get("unclean")) is True,
            _bool(n.get("standby")) is True,
            n.get("type", ""),
        )
        for n in root.findall("nodes/node")
    )
    resources = root.find("resources")
    fence_devices: list[str] = []
    promoted: dict[str, tuple[str, ...]] = {}
    for rsc in resources.iter("resource") if resources is not None else []:
        if rsc.get("resource_agent", "").startswith("stonith:"):
            fence_devices.append(rsc.get("id", ""))
    for clone in resources.iter("clone") if resources is not None else []:
        if _bool(clone.get("multi_state")):
            promoted[clone.get("id", "")] = tuple(
                n.get("name", "")
                for rsc in clone.iter("resource")
                if rsc.get("role") in ("Promoted", "Master")
                for n in rsc.findall("node")
            )
    return PacemakerStatus(
        True,
        with_quorum=_bool(dc.get("with_quorum")) if dc is not None else None,
        fencing_enabled=fencing,
        nodes=nodes,
        fence_devices=tuple(fence_devices),
        promoted=promoted,
    )


# --- cibadmin --query --scope resources -------------------------------------------------


@dataclass(frozen=True)
class CibPrimitive:
    """One configured primitive; clone fields are set when it is inside a clone."""

    id: str
    agent: str  # class:provider:type, or class:type
    params: dict[str, str]
    clone: str | None = None
    promotable: bool = False
    promoted_max: int | None = None  # None: not promotable
    promoted_max_evidence: str = ""


def _nvpairs(element: ET.Element, block: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for attrs in element.findall(block):
        for nv in attrs.findall("nvpair"):
            name, value = nv.get("name"), nv.get("value")
            if name is not None and value is not None:
                pairs.setdefault(name, value)
    return pairs


def _agent(primitive: ET.Element) -> str:
    parts = [primitive.get("class"), primitive.get("provider"), primitive.get("type")]
    return ":".join(p for p in parts if p)


def parse_cib_resources(text: str) -> list[CibPrimitive]:
    """Primitives of the CIB's resources section (a `<resources>` element or a whole CIB)."""
    root = _xml(text, "cibadmin --query --scope resources")
    resources = root if root.tag == "resources" else root.find("configuration/resources")
    if resources is None:
        raise StackFormatError("cibadmin --query: no <resources> section")
    found: list[CibPrimitive] = []

    def walk(element: ET.Element, clone: ET.Element | None) -> None:
        for child in element:
            if child.tag in ("clone", "master"):
                walk(child, child)
            elif child.tag == "group":
                walk(child, clone)
            elif child.tag == "primitive":
                found.append(_primitive(child, clone))

    walk(resources, None)
    return found


def _primitive(element: ET.Element, clone: ET.Element | None) -> CibPrimitive:
    params = _nvpairs(element, "instance_attributes")
    if clone is None:
        return CibPrimitive(element.get("id", ""), _agent(element), params)
    meta = _nvpairs(clone, "meta_attributes")
    promotable = clone.tag == "master" or _bool(meta.get("promotable")) is True
    promoted_max, evidence = None, ""
    if promotable:
        name = next((n for n in PROMOTED_MAX_NAMES if n in meta), None)
        value = meta.get(name or "", "")
        promoted_max = int(value) if value.isdigit() else 1
        evidence = (
            f'clone {clone.get("id")}: {name}="{value}"'
            if name
            else f"clone {clone.get('id')} sets no promoted-max: Pacemaker's default 1"
        )
    return CibPrimitive(
        element.get("id", ""),
        _agent(element),
        params,
        clone.get("id"),
        promotable,
        promoted_max,
        evidence,
    )


# --- one node's stack -------------------------------------------------------------------


@dataclass
class Part:
    """One tool's answer: its state (absent, stopped, running, unknown) and why."""

    state: str
    detail: str = ""


@dataclass
class ClusterStack:
    """What a node's cluster stack says about itself; None fields were not readable."""

    corosync: Part = field(default_factory=lambda: Part(UNKNOWN))
    pacemaker: Part = field(default_factory=lambda: Part(UNKNOWN))
    cib: Part = field(default_factory=lambda: Part(UNKNOWN))
    dlm: Part = field(default_factory=lambda: Part(UNKNOWN))
    quorum: Quorum | None = None
    status: PacemakerStatus | None = None
    primitives: list[CibPrimitive] | None = None
    lockspaces: list[Lockspace] | None = None
    executables: dict[str, bool] = field(default_factory=dict)  # `test -x PATH` results
    problems: list[str] = field(default_factory=list)

    @property
    def absent(self) -> bool:
        """No cluster stack at all on this node (none of its tools installed)."""
        return all(p.state == ABSENT for p in (self.corosync, self.pacemaker, self.dlm))

    def drbd_primitives(self) -> dict[str, CibPrimitive]:
        """DRBD resource name -> the Pacemaker primitive managing it (ocf:linbit:drbd)."""
        return {
            p.params["drbd_resource"]: p
            for p in self.primitives or []
            if p.agent == DRBD_AGENT and p.params.get("drbd_resource")
        }

    def scst_targets(self) -> set[str]:
        """IQNs of SCST targets Pacemaker manages (SCST's SCSTTarget/SCSTLun agents)."""
        return {
            p.params[param]
            for p in self.primitives or []
            for agent, param in SCST_TARGET_AGENTS.items()
            if p.agent == agent and p.params.get(param)
        }

    def lockspace_names(self) -> set[str] | None:
        return None if self.lockspaces is None else {ls.name for ls in self.lockspaces}


def _entry(raw: dict, name: str) -> tuple[str, str, int | None]:
    entry = raw.get(name) or {}
    return entry.get("stdout", ""), entry.get("stderr", ""), entry.get("exit_status")


def _why(command: str, stderr: str, status: int | None) -> str:
    last = stderr.strip().splitlines()[-1] if stderr.strip() else "no message"
    return f"`{command}` exited {status}: {last}"


def parse_stack(raw: dict) -> ClusterStack:
    """A node's stack from its stored outputs (keys as collect.STACK_READS names them)."""
    stack = ClusterStack()

    def part(name: str, command: str, ok: tuple[int, ...], parse, stopped: tuple[int, ...]):
        stdout, stderr, status = _entry(raw, name)
        if status is None:
            return Part(UNKNOWN, f"{command}: not collected"), None
        if status == NOT_FOUND:
            return Part(ABSENT, f"{command}: not installed"), None
        if status in ok or (status in stopped and stdout.lstrip().startswith("<")):
            try:
                value = parse(stdout)
            except StackFormatError as exc:
                stack.problems.append(str(exc))
                return Part(UNKNOWN, str(exc)), None
            return Part(RUNNING, command), value
        if status in stopped:
            return Part(STOPPED, _why(command, stderr, status)), None
        stack.problems.append(_why(command, stderr, status))
        return Part(UNKNOWN, _why(command, stderr, status)), None

    stack.corosync, stack.quorum = part(
        "stack_quorum",
        "corosync-quorumtool -s",
        (0, QUORUMTOOL_NOT_QUORATE),
        parse_quorumtool,
        (1,),
    )
    stack.pacemaker, stack.status = part(
        "stack_crm_mon", "crm_mon --output-as=xml", (0,), parse_crm_mon, (CRM_EX_DISCONNECT, 1)
    )
    if stack.status is not None and not stack.status.connected:
        stack.pacemaker = Part(STOPPED, stack.status.description)
    stack.cib, stack.primitives = part(
        "stack_cib",
        "cibadmin --query --scope resources",
        (0,),
        parse_cib_resources,
        (1, CRM_EX_DISCONNECT),
    )
    stack.dlm, stack.lockspaces = part("stack_dlm", "dlm_tool ls", (0,), parse_dlm_ls, (1,))
    prefix = "fence_handler:"
    for name, entry in raw.items():
        if name.startswith(prefix) and entry.get("exit_status") in (0, 1):
            stack.executables[name[len(prefix) :]] = entry["exit_status"] == 0
    return stack
