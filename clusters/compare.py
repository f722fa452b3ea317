"""What a node runs compared, value by value, with what the inventory wants (pure).

Values are compared as SCST holds them: an attribute absent from scst.conf has its
handler's default, so "absent" and "the default" are the same value, and a value the
node could not read is unknown, never equal. The same comparison plans a change
(which attributes change, and how), verifies it after the apply, and reports drift.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from clusters import scst
from clusters.drbd.options import JUDGED_NET_OPTIONS
from clusters.facts import COPY_MANAGER_DRIVER, NodeFacts
from clusters.scst.attributes import (
    HEX_ID_ATTRIBUTES,
    MODELLED_DEVICE_ATTRIBUTES,
    RUNTIME_ATTRIBUTES,
)


@dataclass(frozen=True)
class AttributeChange:
    """One device attribute that differs on one node; `live` None: not readable."""

    device: str
    attribute: str
    live: str | None
    wanted: str
    evidence: str = ""

    @property
    def runtime(self) -> bool:
        """Settable on the running device (scstadmin -set_dev_attr), not a re-creation."""
        return self.attribute in RUNTIME_ATTRIBUTES

    @property
    def text(self) -> str:
        live = "unreadable" if self.live is None else self.live or "empty"
        return f"{self.attribute} is {live}, inventory says {self.wanted or 'empty'}"


def wanted_value(handler: str, device: str, attrs: scst.Attributes, attr: str) -> str | None:
    """The value the configuration gives ATTR: written, else the handler's default."""
    written = attrs.get(attr)
    if written is not None:
        return written
    default = scst.default_device_attribute(handler, device, attr)
    if default is None and attr in HEX_ID_ATTRIBUTES:
        return ""  # unset: sysfs prints an empty line
    return default


def same_value(attr: str, first: str, second: str) -> bool:
    if attr in HEX_ID_ATTRIBUTES:
        return first.lower().removeprefix("0x") == second.lower().removeprefix("0x")
    return first == second


def device_attribute_changes(node: NodeFacts, want: scst.ScstConfig) -> list[AttributeChange]:
    """Modelled attributes of devices present on both sides whose values differ."""
    live_devices = set(node.device_names())
    changes = []
    for handler in want.handlers.values():
        for name, device in sorted(handler.devices.items()):
            if name not in live_devices:
                continue
            for attr in MODELLED_DEVICE_ATTRIBUTES:
                wanted = wanted_value(handler.name, name, device.attributes, attr)
                if wanted is None:
                    continue  # nothing asked (t10_dev_id left to SCST is not ours)
                have = node.device_attribute(name, attr)
                if have.value is None and device.attributes.get(attr) is None:
                    continue  # not shown by this SCST version, and only its default asked
                if have.value is None or not same_value(attr, have.value, wanted):
                    changes.append(AttributeChange(name, attr, have.value, wanted, have.evidence))
    return changes


def handler_changes(node: NodeFacts, want: scst.ScstConfig) -> list[tuple[str, str, str]]:
    """(device, live handler, wanted handler) for devices that must change handler."""
    rows = []
    live_devices = set(node.device_names())
    for handler in want.handlers.values():
        for name in sorted(handler.devices):
            live = node.device_handler(name) if name in live_devices else None
            if live is not None and live != handler.name:
                rows.append((name, live, handler.name))
    return rows


@dataclass(frozen=True)
class TargetView:
    """What a target is, as far as the portal models it."""

    enabled: str | None
    rel_tgt_id: str | None
    initiators: dict[str, frozenset[str]]  # group → initiator names


def live_targets(node: NodeFacts) -> dict[str, TargetView] | None:
    """Exporting targets by name from sysfs (else the running config); None: unknown."""
    if node.scst_live is not None:
        return {
            target.name: TargetView(
                _attr_value(target.attributes.get("enabled")),
                _attr_value(target.attributes.get("rel_tgt_id")),
                {g.name: frozenset(g.initiators) for g in target.ini_groups.values()},
            )
            for driver, targets in node.scst_live.targets.items()
            if driver != COPY_MANAGER_DRIVER
            for target in targets.values()
        }
    if node.scst_config is not None:
        return config_targets(node.scst_config)
    return None


def config_targets(cfg: scst.ScstConfig) -> dict[str, TargetView]:
    """Targets of a configuration, with enabled 0 and rel_tgt_id 0 when not written."""
    return {
        target.name: TargetView(
            target.attributes.get("enabled") or "0",
            target.attributes.get("rel_tgt_id") or "0",
            {g.name: frozenset(g.initiators) for g in target.groups.values()},
        )
        for driver in cfg.drivers.values()
        if driver.name != COPY_MANAGER_DRIVER
        for target in driver.targets.values()
    }


def _attr_value(attr) -> str | None:
    return None if attr is None else attr.value


def target_differences(node: NodeFacts, want: scst.ScstConfig) -> Iterator[tuple[str, str]]:
    """(target ref, text) for every wanted target that is missing or differs."""
    have = live_targets(node)
    if have is None:
        return
    for name, wanted in sorted(config_targets(want).items()):
        live = have.get(name)
        if live is None:
            yield f"target:{name}", f"target {name} is missing"
            continue
        if live.enabled is not None and live.enabled != wanted.enabled:
            yield f"target:{name}", f"enabled is {live.enabled}, inventory says {wanted.enabled}"
        if live.rel_tgt_id is not None and live.rel_tgt_id != wanted.rel_tgt_id:
            yield (
                f"target:{name}",
                f"rel_tgt_id is {live.rel_tgt_id}, inventory says {wanted.rel_tgt_id}",
            )
        for group in sorted(set(wanted.initiators) | set(live.initiators)):
            if wanted.initiators.get(group) != live.initiators.get(group):
                yield (
                    f"target:{name}",
                    f"group {group} initiators are "
                    f"{_names(live.initiators.get(group))}, inventory says "
                    f"{_names(wanted.initiators.get(group))}",
                )


def _names(names: frozenset[str] | None) -> str:
    if names is None:
        return "absent"
    return ", ".join(sorted(names)) or "none"


# --- a node's files against what it runs --------------------------------------------------

# Target and driver attributes whose absence from a file is a real difference (scstadmin
# writes them whenever set); for others an absent line may simply be the default.
MULTI_VALUED = frozenset({"IncomingUser", "OutgoingUser", "allowed_portal"})


def without_copy_manager(cfg: scst.ScstConfig) -> scst.ScstConfig:
    drivers = {k: v for k, v in cfg.drivers.items() if k != COPY_MANAGER_DRIVER}
    return scst.ScstConfig(cfg.attributes, cfg.handlers, drivers, cfg.alua, cfg.device_groups)


def scst_config_differences(file: scst.ScstConfig, running: scst.ScstConfig) -> list[str]:
    """What loading FILE would change in RUNNING (both as scstadmin reads them), by value."""
    diffs = _device_differences(file, running)
    file_targets, running_targets = _targets(file), _targets(running)
    for name in sorted(set(file_targets) | set(running_targets)):
        if name not in file_targets:
            diffs.append(f"target {name} runs but is not in the file")
        elif name not in running_targets:
            diffs.append(f"target {name} is in the file but does not run")
        else:
            diffs += _target_differences(name, file_targets[name], running_targets[name])
    return diffs


def _device_differences(file: scst.ScstConfig, running: scst.ScstConfig) -> list[str]:
    def devices(cfg):
        return {n: (h.name, d) for h in cfg.handlers.values() for n, d in h.devices.items()}

    diffs = []
    in_file, in_running = devices(file), devices(running)
    for name in sorted(set(in_file) | set(in_running)):
        if name not in in_file:
            diffs.append(f"device {name} runs but is not in the file")
            continue
        if name not in in_running:
            diffs.append(f"device {name} is in the file but does not run")
            continue
        (fh, fd), (rh, rd) = in_file[name], in_running[name]
        if fh != rh:
            diffs.append(f"device {name}: handler {fh} in the file, {rh} running")
        for attr in sorted(set(fd.attributes.names()) | set(rd.attributes.names())):
            fv = wanted_value(fh, name, fd.attributes, attr)
            rv = wanted_value(rh, name, rd.attributes, attr)
            if fv is None and rv is not None and attr not in rd.attributes:
                continue
            if fv is None or rv is None or not same_value(attr, fv, rv):
                diffs.append(f"device {name}: {attr} {fv or 'absent'} in the file, {rv} running")
    return diffs


def _targets(cfg: scst.ScstConfig) -> dict[str, scst.Target]:
    return {
        t.name: t
        for d in cfg.drivers.values()
        if d.name != COPY_MANAGER_DRIVER
        for t in d.targets.values()
    }


def _target_differences(name: str, file: scst.Target, running: scst.Target) -> list[str]:
    diffs = _attribute_differences(f"target {name}", file.attributes, running.attributes)
    if {n: lun.device for n, lun in file.luns.items()} != {
        n: lun.device for n, lun in running.luns.items()
    }:
        diffs.append(f"target {name}: its LUNs differ")
    for group in sorted(set(file.groups) | set(running.groups)):
        fg, rg = file.groups.get(group), running.groups.get(group)
        if fg is None or rg is None:
            where = "file" if fg is not None else "running config"
            diffs.append(f"target {name}: group {group} is only in the {where}")
        elif {n: lun.device for n, lun in fg.luns.items()} != {
            n: lun.device for n, lun in rg.luns.items()
        } or set(fg.initiators) != set(rg.initiators):
            diffs.append(f"target {name}: group {group} differs (LUNs or initiators)")
    return diffs


def _attribute_differences(what: str, file: scst.Attributes, running: scst.Attributes) -> list[str]:
    diffs = []
    defaults = {"enabled": "0", "rel_tgt_id": "0"}
    for attr in sorted(set(file.names()) | set(running.names())):
        fv, rv = sorted(file.get_all(attr)), sorted(running.get_all(attr))
        if attr in defaults:
            fv, rv = fv or [defaults[attr]], rv or [defaults[attr]]
        elif not fv and attr not in MULTI_VALUED:
            continue  # running may show a value the file leaves at its default
        if fv != rv:
            diffs.append(
                f"{what}: {attr} {' '.join(fv) or 'absent'} in the file, "
                f"{' '.join(rv) or 'absent'} running"
            )
    return diffs


def drbd_net_wanted(config) -> dict[str, str]:
    """The net options a resource configuration asks for, defaults filled in."""
    from clusters import drbd

    wanted = {**drbd.NET_DEFAULTS, **config.net, "protocol": config.protocol or "C"}
    return {k: wanted[k] for k in JUDGED_NET_OPTIONS if k in wanted or k in config.net}


def drbd_running_differences(node: NodeFacts, resource: str, config) -> list[str]:
    """How the running RESOURCE (drbdsetup show) differs from CONFIG's net options and
    this node's volumes; empty when it runs as configured or is not running."""
    from clusters import drbd

    show = (node.drbd_show or {}).get(resource)
    if show is None:
        return []
    diffs = []
    wanted = drbd_net_wanted(config)
    for connection in show.connections:
        running = drbd.effective_net_options(connection)
        peer = connection.peer
        for option, value in wanted.items():
            if option == "fencing" and "fencing" not in config.net:
                continue  # DRBD 8.4 keeps fencing in disk
            if running.get(option) != value:
                diffs.append(
                    f"{resource} to {peer}: {option} {running.get(option)} running, "
                    f"{value} configured"
                )
    host = next((h for h in config.hosts if h.name == node.name), None)
    if host is not None:
        configured = {v.minor: v.disk for v in host.volumes}
        running_volumes = {v.minor: v.disk for v in show.volumes}
        if running_volumes and configured != running_volumes:
            diffs.append(f"{resource}: volumes {running_volumes} running, {configured} configured")
    return diffs
