"""A typed view of the live SCST state, built from the collector's sysfs dump and links.

Layout (scst/README, scst_sysfs.c), relative to /sys/kernel/scst_tgt:
devices/<dev>/{<attr>, pr_state, handler -> ../../handlers/<h>, exported/exportN -> LUN},
targets/<driver>/<attr>, targets/<driver>/<tgt>/{enabled, rel_tgt_id, <attr>},
targets/<driver>/<tgt>/luns/<N>/{<attr>, device -> dev},
targets/<driver>/<tgt>/ini_groups/<g>/{luns/<N>/..., initiators/<file>},
targets/<driver>/<tgt>/sessions/<s>/{initiator_name, counters, luns -> LUN set}.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field

from clusters.scst.sysfs import (
    SCST_ROOT,
    PrState,
    SysfsAttribute,
    SysfsFormatError,
    parse_pr_state,
)

SESSION_COUNTERS = (
    "read_cmd_count",
    "write_cmd_count",
    "read_io_count_kb",
    "write_io_count_kb",
    "commands",
    "active_commands",
)


@dataclass
class LiveDevice:
    """An SCST device: handler, attributes, LUNs exporting it, PR state (None = unknown)."""

    name: str
    handler: str | None = None
    attributes: dict[str, SysfsAttribute] = field(default_factory=dict)
    exported: dict[str, str] = field(default_factory=dict)
    pr_state: PrState | None = None


@dataclass
class LiveLun:
    """A LUN of a target or initiator group and the device behind it."""

    number: int
    device: str | None = None
    attributes: dict[str, SysfsAttribute] = field(default_factory=dict)


@dataclass
class LiveInitiatorGroup:
    """ini_groups/<name>: its LUNs and initiator names (wildcards allowed)."""

    name: str
    attributes: dict[str, SysfsAttribute] = field(default_factory=dict)
    luns: dict[int, LiveLun] = field(default_factory=dict)
    initiators: list[str] = field(default_factory=list)


@dataclass
class LiveSession:
    """A logged-in initiator; `group` names the ini_group whose LUNs it sees (None = default)."""

    name: str
    attributes: dict[str, SysfsAttribute] = field(default_factory=dict)
    luns_link: str | None = None

    @property
    def initiator_name(self) -> str | None:
        """The initiator name SCST reports, or None when not collected."""
        attr = self.attributes.get("initiator_name")
        return attr.value if attr else None

    @property
    def group(self) -> str | None:
        """The ini_group whose LUN set the session uses; None for the target's own LUNs."""
        parts = (self.luns_link or "").split("/")
        return parts[parts.index("ini_groups") + 1] if "ini_groups" in parts else None

    def counter(self, name: str) -> int | None:
        """One of SESSION_COUNTERS as a number, or None when absent."""
        return _int(self.attributes.get(name), f"session {self.name} {name}")


@dataclass
class LiveTarget:
    """targets/<driver>/<name>: state, rel_tgt_id, LUNs, groups and sessions."""

    driver: str
    name: str
    attributes: dict[str, SysfsAttribute] = field(default_factory=dict)
    luns: dict[int, LiveLun] = field(default_factory=dict)
    ini_groups: dict[str, LiveInitiatorGroup] = field(default_factory=dict)
    sessions: dict[str, LiveSession] = field(default_factory=dict)

    @property
    def enabled(self) -> bool | None:
        """True/False from the `enabled` file, None when the driver has none."""
        attr = self.attributes.get("enabled")
        return None if attr is None else attr.value == "1"

    @property
    def rel_tgt_id(self) -> int | None:
        """The relative target port id, or None when absent."""
        return _int(self.attributes.get("rel_tgt_id"), f"target {self.name} rel_tgt_id")


@dataclass
class ScstLiveState:
    """Everything the dump and link list say about one node's SCST."""

    attributes: dict[str, SysfsAttribute] = field(default_factory=dict)
    devices: dict[str, LiveDevice] = field(default_factory=dict)
    driver_attributes: dict[str, dict[str, SysfsAttribute]] = field(default_factory=dict)
    targets: dict[str, dict[str, LiveTarget]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _int(attr: SysfsAttribute | None, what: str) -> int | None:
    if attr is None:
        return None
    if not attr.value.isascii() or not attr.value.isdigit():
        raise SysfsFormatError(f"{what}: expected a decimal number, got {attr.value!r}")
    return int(attr.value)


def _relative(path: str, root: str) -> list[str] | None:
    prefix = root.rstrip("/") + "/"
    return path[len(prefix) :].split("/") if path.startswith(prefix) else None


def build_live_state(
    dump: Mapping[str, SysfsAttribute], links: Mapping[str, str], root: str = SCST_ROOT
) -> ScstLiveState:
    """Build the typed view from parse_dump() and parse_links() results."""
    state = ScstLiveState()
    for path, attr in dump.items():
        parts = _relative(path, root)
        if parts:
            _add_file(state, parts, attr)
    for path, target in links.items():
        parts = _relative(path, root)
        if parts:
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
            _add_link(state, parts, "/".join(_relative(resolved, root) or [resolved]))
    return state


def _device(state: ScstLiveState, name: str) -> LiveDevice:
    return state.devices.setdefault(name, LiveDevice(name))


def _target(state: ScstLiveState, driver: str, name: str) -> LiveTarget:
    return state.targets.setdefault(driver, {}).setdefault(name, LiveTarget(driver, name))


def _lun(luns: dict[int, LiveLun], number: str) -> LiveLun | None:
    if not number.isascii() or not number.isdigit():
        return None
    return luns.setdefault(int(number), LiveLun(int(number)))


def _add_file(state: ScstLiveState, parts: list[str], attr: SysfsAttribute) -> None:
    if len(parts) == 1:
        state.attributes[parts[0]] = attr
    elif parts[0] == "devices" and len(parts) == 3:
        device = _device(state, parts[1])
        if parts[2] == "pr_state":
            # One device's unreadable pr_state (another format version) leaves its
            # reservation state unknown; it must not discard every other fact.
            try:
                device.pr_state = parse_pr_state(attr.value)
            except SysfsFormatError as exc:
                state.problems.append(f"devices/{parts[1]}/pr_state: {exc}")
        else:
            device.attributes[parts[2]] = attr
    elif parts[0] == "targets" and len(parts) == 3:
        state.driver_attributes.setdefault(parts[1], {})[parts[2]] = attr
    elif parts[0] == "targets" and len(parts) > 3:
        _add_target_file(_target(state, parts[1], parts[2]), parts[3:], attr)


def _add_target_file(target: LiveTarget, rest: list[str], attr: SysfsAttribute) -> None:
    if len(rest) == 1:
        target.attributes[rest[0]] = attr
    elif rest[0] == "luns" and len(rest) == 3:
        lun = _lun(target.luns, rest[1])
        if lun:
            lun.attributes[rest[2]] = attr
    elif rest[0] == "sessions" and len(rest) == 3:
        session = target.sessions.setdefault(rest[1], LiveSession(rest[1]))
        session.attributes[rest[2]] = attr
    elif rest[0] == "ini_groups" and len(rest) >= 3:
        _add_group_file(
            target.ini_groups.setdefault(rest[1], LiveInitiatorGroup(rest[1])), rest[2:], attr
        )


def _add_group_file(group: LiveInitiatorGroup, rest: list[str], attr: SysfsAttribute) -> None:
    if len(rest) == 1:
        group.attributes[rest[0]] = attr
    elif rest[0] == "initiators" and len(rest) == 2:
        # The file is named after the initiator; its content is the exact name.
        group.initiators.append(attr.value)
    elif rest[0] == "luns" and len(rest) == 3:
        lun = _lun(group.luns, rest[1])
        if lun:
            lun.attributes[rest[2]] = attr


def _add_link(state: ScstLiveState, parts: list[str], target: str) -> None:
    if parts[0] == "devices" and len(parts) == 3 and parts[2] == "handler":
        _device(state, parts[1]).handler = posixpath.basename(target)
    elif parts[0] == "devices" and len(parts) == 4 and parts[2] == "exported":
        _device(state, parts[1]).exported[parts[3]] = target
    elif parts[0] == "targets" and len(parts) > 3:
        _add_target_link(_target(state, parts[1], parts[2]), parts[3:], target)


def _add_target_link(target: LiveTarget, rest: list[str], link: str) -> None:
    if rest[0] == "luns" and len(rest) == 3 and rest[2] == "device":
        lun = _lun(target.luns, rest[1])
        if lun:
            lun.device = posixpath.basename(link)
    elif rest[0] == "ini_groups" and len(rest) == 5 and rest[2] == "luns" and rest[4] == "device":
        group = target.ini_groups.setdefault(rest[1], LiveInitiatorGroup(rest[1]))
        lun = _lun(group.luns, rest[3])
        if lun:
            lun.device = posixpath.basename(link)
    elif rest[0] == "sessions" and len(rest) == 3 and rest[2] == "luns":
        target.sessions.setdefault(rest[1], LiveSession(rest[1])).luns_link = link
