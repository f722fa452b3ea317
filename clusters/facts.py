"""Typed facts about nodes, parsed from the raw outputs a collection stored (pure).

Data from nodes is untrusted: it is parsed here, at the boundary, with the config
libraries; whatever does not parse becomes a recorded problem and the fact stays
unknown (None), never a guess.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from clusters import drbd, scst
from clusters import stack as cluster_stack
from clusters.paths import DRBD_DIR, SCST_CONF, SCST_SYSFS_ROOT
from clusters.scst.attributes import MODELLED_DEVICE_ATTRIBUTES

DRBD_DEVICE_PREFIXES = ("/dev/drbd",)
SCST_ROOT = f"{SCST_SYSFS_ROOT}/"
SESSION_IO_COUNTERS = ("read_cmd_count", "write_cmd_count")
# SCST's built-in copy manager (scst/src/scst_copy_mgr.c: SCST_CM_NAME "copy_manager",
# target "copy_manager_tgt", session "copy_manager_sess", registered by scst_cm_init() on
# every node) serves EXTENDED COPY and maps every SCST device as a LUN by itself.
# `scstadmin -write_config` writes it too (scstadmin.sysfs/scstadmin writeConfiguration
# skips its LUNs only for pass-through devices), so a healthy node always shows
# `TARGET_DRIVER copy_manager { TARGET copy_manager_tgt { LUN 0 disk … } }`. Nobody
# exports those LUNs to an initiator: they are not ours to judge or import.
COPY_MANAGER_DRIVER = "copy_manager"


@dataclass(frozen=True)
class Value:
    """An effective value and the evidence it was read from."""

    value: str | None
    evidence: str


@dataclass
class NodeFacts:
    """What one collection learnt about one node."""

    name: str
    reachable: bool
    collected_at: datetime | None = None
    error: str = ""
    host_key_problem: str = ""
    scst_config: scst.ScstConfig | None = None
    scst_live: scst.ScstLiveState | None = None
    drbd_status: dict[str, drbd.ResourceState] | None = None
    drbd_show: dict[str, drbd.ShowResource] | None = None
    drbd_config: dict[str, drbd.ResourceConfig] | None = None
    drbd_files: dict[str, str] | None = None
    # /etc/scst.conf as it is on disk (what the next SCST start loads): None when not
    # read, "" when the node has none.
    scst_file: str | None = None
    scst_file_config: scst.ScstConfig | None = None
    versions: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    stack: cluster_stack.ClusterStack | None = None
    # (where, why) of every live name or value scst.conf cannot carry; left out of
    # scst_config and scst_file_config so that they can still be rendered
    # (see _drop_unwritable).
    unwritable: list[tuple[str, str]] = field(default_factory=list)

    @property
    def has_data(self) -> bool:
        return self.reachable and not self.error

    @property
    def pacemaker_managed_resources(self) -> set[str] | None:
        """DRBD resources Pacemaker manages on this node (ocf:linbit:drbd primitives in the
        CIB); an empty set when no Pacemaker is installed, None when that is unknown.

        A managed resource's role belongs to Pacemaker: a `drbdadm primary/secondary` or
        `down` from the portal would fight it.
        """
        if self.stack is None:
            return None
        if self.stack.cib.state == cluster_stack.RUNNING:
            return set(self.stack.drbd_primitives())
        if self.stack.cib.state == cluster_stack.ABSENT:
            return set()
        return None

    @property
    def pacemaker_managed_targets(self) -> set[str] | None:
        """IQNs of SCST targets Pacemaker manages (SCSTTarget/SCSTLun agents); as above."""
        if self.stack is None:
            return None
        if self.stack.cib.state == cluster_stack.RUNNING:
            return self.stack.scst_targets()
        if self.stack.cib.state == cluster_stack.ABSENT:
            return set()
        return None

    def device_names(self) -> list[str]:
        names: set[str] = set()
        if self.scst_live is not None:
            names |= set(self.scst_live.devices)
        if self.scst_config is not None:
            for handler in self.scst_config.handlers.values():
                names |= set(handler.devices)
        return sorted(names)

    def device_handler(self, device: str) -> str | None:
        if self.scst_live is not None and device in self.scst_live.devices:
            handler = self.scst_live.devices[device].handler
            if handler:
                return handler
        if self.scst_config is not None:
            found = self.scst_config.find_device(device)
            if found:
                return found[0].name
        return None

    def device_attribute(self, device: str, attr: str) -> Value:
        """The value in force: sysfs when read, else the running config plus SCST defaults."""
        live = self.scst_live.devices.get(device) if self.scst_live else None
        if live is not None and attr in live.attributes:
            return Value(
                live.attributes[attr].value,
                f"{SCST_ROOT}devices/{device}/{attr} = {live.attributes[attr].value!r}",
            )
        found = self.scst_config.find_device(device) if self.scst_config is not None else None
        if found is not None:
            handler, dev = found
            written = dev.attributes.get(attr)
            if written is not None:
                return Value(written, f"scstadmin -write_config: {attr} {written}")
            default = scst.default_device_attribute(handler.name, device, attr)
            if default is not None:
                return Value(
                    default,
                    f"scstadmin -write_config omits {attr}, so it has {handler.name}'s "
                    f"default {default}",
                )
        return Value(None, f"{attr} of {device} was not readable")

    def exported_luns(self) -> list[tuple[str, str, str | None, int, str]]:
        """(driver, target, group or None, LUN, device) for every LUN in the live state,
        or in the running config when sysfs was not readable."""
        rows: list[tuple[str, str, str | None, int, str]] = []
        if self.scst_live is not None:
            for driver, targets in self.scst_live.targets.items():
                if driver == COPY_MANAGER_DRIVER:
                    continue
                for target in targets.values():
                    rows += [
                        (driver, target.name, None, n, lun.device or "")
                        for n, lun in target.luns.items()
                    ]
                    for group in target.ini_groups.values():
                        rows += [
                            (driver, target.name, group.name, n, lun.device or "")
                            for n, lun in group.luns.items()
                        ]
            return rows
        if self.scst_config is not None:
            for drv in self.scst_config.drivers.values():
                if drv.name == COPY_MANAGER_DRIVER:
                    continue
                for tgt in drv.targets.values():
                    rows += [
                        (drv.name, tgt.name, None, n, lun.device) for n, lun in tgt.luns.items()
                    ]
                    for grp in tgt.groups.values():
                        rows += [
                            (drv.name, tgt.name, grp.name, n, lun.device)
                            for n, lun in grp.luns.items()
                        ]
        return rows

    def target_rel_tgt_ids(self) -> dict[str, int | None]:
        """rel_tgt_id of every exporting target, by target name; None when unassigned.

        0 means "not assigned" (scst_sysfs.c scst_rel_tgt_id_show prints it without
        [key]; scst_process_tgt_enable_store generates an id when a target with 0 is
        enabled; valid ids start at SCST_MIN_REL_TGT_ID 1), so it never clashes.
        """
        ids: dict[str, int | None] = {}
        if self.scst_live is not None:
            for driver, targets in self.scst_live.targets.items():
                if driver == COPY_MANAGER_DRIVER:
                    continue
                for target in targets.values():
                    ids[target.name] = target.rel_tgt_id or None
        elif self.scst_config is not None:
            for drv in self.scst_config.drivers.values():
                if drv.name == COPY_MANAGER_DRIVER:
                    continue
                for tgt in drv.targets.values():
                    value = tgt.attributes.get("rel_tgt_id")
                    number = int(value) if value and value.isascii() and value.isdigit() else 0
                    ids[tgt.name] = number or None
        return ids

    def sessions(self) -> list[tuple[str, scst.LiveSession]]:
        """(target name, session) for every logged-in initiator.

        The copy manager's own session (copy_manager_sess) is SCST's, not an initiator's.
        """
        if self.scst_live is None:
            return []
        return [
            (target.name, session)
            for driver, targets in self.scst_live.targets.items()
            if driver != COPY_MANAGER_DRIVER
            for target in targets.values()
            for session in target.sessions.values()
        ]

    def sessions_seeing(self, device: str) -> list[tuple[str, scst.LiveSession, list[int]]]:
        """(target, session, LUN numbers) for every initiator whose LUN set holds DEVICE."""
        if self.scst_live is None:
            return []
        targets = {
            t.name: t
            for driver, ts in self.scst_live.targets.items()
            if driver != COPY_MANAGER_DRIVER
            for t in ts.values()
        }
        rows = []
        for target_name, session in self.sessions():
            target = targets[target_name]
            group = target.ini_groups.get(session.group) if session.group else None
            luns = group.luns if group is not None else target.luns
            numbers = sorted(n for n, lun in luns.items() if lun.device == device)
            if numbers:
                rows.append((target_name, session, numbers))
        return rows

    def drbd_minor_resource(self) -> dict[int, str]:
        """DRBD minor → resource name on this node."""
        minors: dict[int, str] = {}
        for name, res in (self.drbd_status or {}).items():
            for dev in res.devices:
                if dev.minor is not None:
                    minors[dev.minor] = name
        for name, cfg in (self.drbd_config or {}).items():
            host = next((h for h in cfg.hosts if h.name == self.name), None)
            for volume in host.volumes if host else []:
                if volume.minor is not None:
                    minors.setdefault(volume.minor, name)
        return minors


def _output(raw: dict, name: str) -> tuple[str | None, str]:
    """stdout of a successful command, or (None, why it is missing)."""
    entry = raw.get(name)
    if not entry:
        return None, f"{name}: not collected"
    if entry.get("exit_status") != 0:
        stderr = (entry.get("stderr") or "").strip().splitlines()
        return None, f"`{entry.get('command')}` exited {entry.get('exit_status')}: " + (
            stderr[-1] if stderr else "no message"
        )
    return entry.get("stdout", ""), ""


def node_facts(
    name: str,
    raw: dict,
    reachable: bool,
    collected_at: datetime | None = None,
    error: str = "",
    host_key_problem: str = "",
) -> NodeFacts:
    """Parse one node's stored outputs into facts; unparseable parts become problems."""
    facts = NodeFacts(name, reachable, collected_at, error, host_key_problem)
    if not facts.has_data:
        return facts
    _parse_scst(facts, raw)
    _parse_drbd(facts, raw)
    facts.stack = cluster_stack.parse_stack(raw)
    facts.problems += [f"cluster stack: {p}" for p in facts.stack.problems]
    facts.drbd_files = _parse_files(raw.get("file_dump"), prefix=f"{DRBD_DIR}/")
    _parse_scst_file(facts, raw)
    version_text, _ = _output(raw, "drbd_version")
    for line in (version_text or "").splitlines():
        key, _, value = line.partition("=")
        if key in ("DRBDADM_VERSION", "DRBD_KERNEL_VERSION"):
            facts.versions[key] = value.strip()
    if facts.scst_live is not None and "version" in facts.scst_live.attributes:
        facts.versions["SCST"] = facts.scst_live.attributes["version"].value.splitlines()[0]
    return facts


def _parse_scst(facts: NodeFacts, raw: dict) -> None:
    text, problem = _output(raw, "scst_running_config")
    if text is None:
        facts.problems.append(f"SCST running config unknown: {problem}")
    else:
        try:
            facts.scst_config = scst.parse_config(text)
        except scst.ScstConfigError as exc:
            facts.problems.append(f"SCST running config unreadable: {_short(str(exc))}")
        if facts.scst_config is not None:
            facts.unwritable += _drop_unwritable(facts.scst_config)
            try:
                scst.render_config(facts.scst_config)
            except ValueError as exc:  # a case _drop_unwritable missed: never crash on it
                facts.unwritable.append(("scst.conf", _short(str(exc))))
                facts.scst_config = None
    dump, problem = _output(raw, "file_dump")
    links, link_problem = _output(raw, "scst_links")
    if dump is None and not (raw.get("file_dump") or {}).get("stdout"):
        facts.problems.append(f"SCST sysfs unknown: {problem}")
        return
    # grep exits 2 when some file was unreadable but still prints the rest.
    dump = dump if dump is not None else raw["file_dump"]["stdout"]
    dump = "".join(line for line in dump.splitlines(keepends=True) if line.startswith(SCST_ROOT))
    try:
        facts.scst_live = scst.build_live_state(
            scst.parse_dump(dump), scst.parse_links(links or "")
        )
    except (scst.SysfsFormatError, ValueError) as exc:
        facts.problems.append(f"SCST sysfs unreadable: {exc}")
    if facts.scst_live is not None:
        facts.problems += [f"SCST sysfs: {_short(p)}" for p in facts.scst_live.problems]
        for name, device in sorted(facts.scst_live.devices.items()):
            bad_name = scst.name_problem(name)
            if bad_name:
                facts.unwritable.append((f"device {_shown(name)}", bad_name))
            for attr in MODELLED_DEVICE_ATTRIBUTES:
                value = device.attributes[attr].value if attr in device.attributes else None
                bad_value = scst.value_problem(value) if value else None
                if value and bad_value:
                    where = f"{SCST_ROOT}devices/{_shown(name)}/{attr} = {_shown(value)}"
                    facts.unwritable.append((where, bad_value))
            # PostgreSQL text and jsonb cannot hold NUL: a NUL a node reports is kept
            # visible as the four characters \x00 wherever the value travels (plans, jobs).
            for attr, found in list(device.attributes.items()):
                if "\0" in found.value:
                    device.attributes[attr] = scst.SysfsAttribute(
                        found.value.replace("\0", "\\x00"), found.is_key
                    )
    if link_problem:
        facts.problems.append(f"SCST sysfs links unknown: {link_problem}")


SHOWN = 80


def _shown(value: str) -> str:
    """A node's value as it may be shown: repr-escaped and at most SHOWN characters."""
    text = repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 4] + "...'"


def _short(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


def _drop_unwritable(cfg: scst.ScstConfig) -> list[tuple[str, str]]:
    """Remove from a parsed running config every name and value scst.conf cannot carry
    (the renderer's own rules), so that it still renders; return (where, why) of each."""
    dropped: list[tuple[str, str]] = []

    def attrs(attributes: scst.Attributes, where: str) -> scst.Attributes:
        kept = scst.Attributes()
        for item in attributes:
            problem = scst.name_problem(item.name) or (
                scst.value_problem(item.value) if item.value else None
            )
            if problem:
                dropped.append((f"{where}: {_shown(item.name)} {_shown(item.value)}", problem))
            else:
                kept.add(*item)
        return kept

    def named(children: dict, where: str, kind: str) -> None:
        for key in list(children):
            problem = scst.name_problem(key) if isinstance(key, str) else None
            if problem:
                dropped.append((f"{where}{kind} {_shown(key)}", problem))
                del children[key]

    def luns(section, where: str) -> None:
        for number, lun in list(section.luns.items()):
            problem = scst.name_problem(lun.device)
            if problem:
                dropped.append((f"{where}LUN {number} {_shown(lun.device)}", problem))
                del section.luns[number]
            else:
                lun.attributes = attrs(lun.attributes, f"{where}LUN {number}")

    cfg.attributes = attrs(cfg.attributes, "SCST")
    cfg.alua = attrs(cfg.alua, "ALUA")
    named(cfg.handlers, "", "HANDLER")
    for handler in cfg.handlers.values():
        handler.attributes = attrs(handler.attributes, f"HANDLER {handler.name}")
        named(handler.devices, f"HANDLER {handler.name} ", "DEVICE")
        for device in handler.devices.values():
            device.attributes = attrs(device.attributes, f"DEVICE {device.name}")
    named(cfg.drivers, "", "TARGET_DRIVER")
    for driver in cfg.drivers.values():
        driver.attributes = attrs(driver.attributes, f"TARGET_DRIVER {driver.name}")
        named(driver.targets, f"TARGET_DRIVER {driver.name} ", "TARGET")
        for target in driver.targets.values():
            where = f"TARGET {target.name} "
            target.attributes = attrs(target.attributes, where.strip())
            luns(target, where)
            named(target.groups, where, "GROUP")
            for group in target.groups.values():
                inner = f"{where}GROUP {group.name} "
                group.attributes = attrs(group.attributes, inner.strip())
                luns(group, inner)
                for name in list(group.initiators):
                    problem = scst.value_problem(name) if name else "an empty name"
                    if problem:
                        dropped.append((f"{inner}INITIATOR {_shown(name)}", problem))
                        del group.initiators[name]
                    else:
                        ini = group.initiators[name]
                        ini.attributes = attrs(ini.attributes, f"{inner}INITIATOR {name}")
    named(cfg.device_groups, "", "DEVICE_GROUP")
    for dgroup in cfg.device_groups.values():
        dgroup.attributes = attrs(dgroup.attributes, f"DEVICE_GROUP {dgroup.name}")
        for name in sorted(dgroup.devices):
            if scst.name_problem(name):
                dropped.append((f"DEVICE_GROUP {dgroup.name} DEVICE {_shown(name)}", "name"))
                dgroup.devices.discard(name)
        named(dgroup.target_groups, f"DEVICE_GROUP {dgroup.name} ", "TARGET_GROUP")
        for tgroup in dgroup.target_groups.values():
            tgroup.attributes = attrs(tgroup.attributes, f"TARGET_GROUP {tgroup.name}")
            named(tgroup.targets, f"TARGET_GROUP {tgroup.name} ", "TARGET")
            for member in tgroup.targets.values():
                member.attributes = attrs(member.attributes, f"TARGET {member.name}")
    return dropped


def _parse_scst_file(facts: NodeFacts, raw: dict) -> None:
    entry = raw.get("file_dump")
    files = _parse_files(entry, prefix=SCST_CONF)
    if files is None or SCST_CONF not in (entry or {}).get("command", ""):
        return  # not read (collections before the file was read had no such path)
    facts.scst_file = files.get(SCST_CONF, "")
    try:
        facts.scst_file_config = scst.parse_config(facts.scst_file)
    except scst.ScstConfigError as exc:
        facts.problems.append(f"{SCST_CONF} unreadable: {_short(str(exc))}")
    if facts.scst_file_config is not None:
        dropped = _drop_unwritable(facts.scst_file_config)
        facts.unwritable += [(f"{SCST_CONF}: {where}", why) for where, why in dropped]
        try:
            scst.render_config(facts.scst_file_config)
        except ValueError as exc:
            facts.unwritable.append((SCST_CONF, _short(str(exc))))
            facts.scst_file_config = None


def _parse_drbd(facts: NodeFacts, raw: dict) -> None:
    parsers: dict[str, tuple[str, Callable[[str], Iterable[Any]]]] = {
        "drbd_status_json": ("drbd_status", drbd.parse_status_json),
        "drbd_show": ("drbd_show", drbd.parse_show),
        "drbd_dump": ("drbd_config", drbd.parse_dump),
    }
    for output, (attr, parse) in parsers.items():
        text, problem = _output(raw, output)
        if output == "drbd_status_json" and text is None and _parse_proc(facts, raw):
            continue  # a DRBD 8.4 node: /proc/drbd gave the live state
        if text is None:
            facts.problems.append(f"DRBD {output.removeprefix('drbd_')} unknown: {problem}")
            continue
        try:
            setattr(facts, attr, {item.name: item for item in parse(text)})
        except drbd.DrbdConfigError as exc:
            facts.problems.append(f"DRBD {output.removeprefix('drbd_')} unreadable: {exc}")


def _parse_proc(facts: NodeFacts, raw: dict) -> bool:
    """Live state from /proc/drbd (DRBD 8.4), resources named from `drbdadm dump`."""
    text, _ = _output(raw, "proc_drbd")
    if not text or " cs:" not in text:
        return False
    dump, _ = _output(raw, "drbd_dump")
    minors: dict[int, str] = {}
    try:
        for res in drbd.parse_dump(dump or ""):
            host = next((h for h in res.hosts if h.name == facts.name), None)
            minors |= {
                v.minor: res.name for v in (host.volumes if host else []) if v.minor is not None
            }
        states = drbd.proc_drbd_states(drbd.parse_proc_drbd(text), minors)
    except drbd.DrbdConfigError as exc:
        facts.problems.append(f"DRBD /proc/drbd unreadable: {exc}")
        return True
    facts.drbd_status = {state.name: state for state in states}
    return True


def _parse_files(entry: dict | None, prefix: str) -> dict[str, str] | None:
    """Files under `prefix` from `grep -r -Z '' DIR…` (PATH NUL LINE per line); None when
    not read. grep exits 1 when it found no line at all, 2 when some file was unreadable.
    """
    if not entry or entry.get("exit_status") not in (0, 1, 2):
        return None
    files: dict[str, list[str]] = {}
    for record in entry.get("stdout", "").splitlines():
        path, sep, line = record.partition("\0")
        if sep and path.startswith(prefix):
            files.setdefault(path, []).append(line)
    return {path: "\n".join(lines) + "\n" for path, lines in files.items()}


@dataclass
class ClusterFacts:
    """Everything the compliance rules judge one cluster by."""

    name: str
    nodes: list[NodeFacts]
    previous: dict[str, NodeFacts] = field(default_factory=dict)
    desired: dict[str, DesiredNode] | None = None
    reservations_expected: set[str] = field(default_factory=set)
    # Apply jobs interrupted mid-change and not reconciled yet: (job id, summary, nodes).
    interrupted_applies: list[tuple[int, str, list[str]]] = field(default_factory=list)
    now: datetime | None = None
    stale_after: timedelta = timedelta(minutes=3)

    def with_data(self) -> list[NodeFacts]:
        return [n for n in self.nodes if n.has_data]


@dataclass
class DesiredNode:
    """What the inventory wants on one node (see desired.py)."""

    scst_config: scst.ScstConfig
    drbd_resources: dict[str, drbd.ResourceConfig]
    drbd_files: dict[str, str] = field(default_factory=dict)
    scst_file: str = ""
