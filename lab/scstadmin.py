"""`scstadmin` against a lab node's SCST state.

Follows scstadmin/scstadmin.sysfs/scstadmin (SCST repository): the same messages,
order of operations and exit codes for -write_config, -check_config, -config,
-list_device, -list_target, -clear_config, -set_dev_attr, -enable_target and
-disable_target. Writes to device attributes are checked as the vdisk handler's sysfs
store functions check them (scst/src/dev_handlers/scst_vdisk.c).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lab import scstconf
from lab.maintenance import relogin
from lab.state import (
    CM_DRIVER,
    HANDLERS,
    SCSTADMIN_VERSION,
    VDISK_CREATE_PARAMS,
    Device,
    DeviceGroup,
    IniGroup,
    Lun,
    NodeState,
    Target,
    TargetGroup,
)
from lab.sysfs import device_files

# Device attributes whose sysfs file is read-only (0444 in scst_vdisk.c's __ATTR table and
# scst_sysfs.c `type`): SCST.pm deviceAttributes marks them static, so scstadmin never
# writes them on a running device ("lacks the settable attribute"). pr_state stays here
# as the lab does not emulate writing it.
DEVICE_STATIC = {
    "blocksize",
    "nv_cache",
    "o_direct",
    "read_only",
    "removable",
    "rotational",
    "thin_provisioned",
    "tst",
    "type",
    "write_through",
    "pr_state",
}
ISCSI_DYNAMIC = {"IncomingUser", "OutgoingUser", "allowed_portal"}
ISCSI_TGT_CREATE: set[str] = set()  # iscsi-scst targets take no creation parameters
TARGET_RW = {"rel_tgt_id", "addr_method", "io_grouping_type"}


class Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def escape_meta(value: str) -> str:
    value = re.sub(r"([\\#])", r"\\\1", value)
    if " " in value:
        value = f'"{value}"'
    return value


def _sub_end(pattern: str, repl: str, s: str) -> str:
    """Perl `s/PATTERN$/REPL/`: `$` also matches before a final newline."""
    return re.sub(pattern + r"(?=\n?\Z)", repl, s, count=1)


def _perl_num(v: object) -> float:
    m = re.match(r"\s*[-+]?\d+(\.\d+)?", str(v))
    return float(m.group(0)) if m else 0.0


class Attr:
    """One attribute as SCST.pm reports it: key values or a plain value, static or not."""

    def __init__(self, value: str, key: bool, static: bool) -> None:
        self.value = value
        self.key = key
        self.static = static


def device_attributes(node: NodeState, dev: Device) -> dict[str, Attr]:
    out = {}
    for name, text in device_files(dev, node.scst.setup_id).items():
        lines = text.split("\n")
        key = "[key]" in lines
        # vdisk_fileio's size and size_mb are 0444, vdisk_blockio's 0644
        static = name in DEVICE_STATIC or (
            dev.handler == "vdisk_fileio" and name in ("size", "size_mb")
        )
        out[name] = Attr(lines[0], key, static)
    return out


def target_attributes(tgt: Target, driver: str = "iscsi") -> dict[str, Attr]:
    out = {
        "enabled": Attr(str(tgt.enabled), False, False),
        "rel_tgt_id": Attr(str(tgt.rel_tgt_id), tgt.rel_tgt_id != 0, False),
        "addr_method": Attr("PERIPHERAL", False, False),
        "io_grouping_type": Attr("auto", False, False),
        "tid": Attr(str(tgt.tid), False, True),
    }
    if driver == CM_DRIVER:  # copy_manager_tgt: no enabled (enabled_attr_not_needed), no tid
        del out["enabled"], out["tid"]
    return out


def driver_attributes(node: NodeState, driver: str) -> dict[str, Attr]:
    scst = node.scst
    if driver == CM_DRIVER:
        v = scst.cm_allow_not_connected_copy
        return {"allow_not_connected_copy": Attr(str(v), v != 0, False)}
    return {"enabled": Attr(str(scst.driver_enabled.get(driver, 0)), False, False)}


def serialize_key(prefix: str, attrs: dict, attr_filter: set | None = None) -> str:
    """serializeKeyAttr: key attributes sorted; `enabled` always."""
    result = ""
    for name in sorted(attrs):
        a = attrs[name]
        if a.static and not (attr_filter is not None and name in attr_filter):
            continue
        if isinstance(a, list):
            for v in sorted(x.value for x in a if x.value != ""):
                result += f"{prefix}{name} {escape_meta(v)}\n"
        elif a.key:
            if a.value != "":
                result += f"{prefix}{name} {escape_meta(a.value)}\n"
        elif name in ("enabled", "hw_target"):
            result += f"{prefix}{name} {a.value}\n"
    return result


def serialize_nonkey(prefix: str, attrs: dict, attr_filter: set | None = None) -> str:
    result = ""
    for name in sorted(attrs):
        a = attrs[name]
        if isinstance(a, list) or a.key or name in ("enabled", "hw_target"):
            continue
        if a.static and not (attr_filter is not None and name in attr_filter):
            continue
        if a.value != "":
            result += f"{prefix}{name} {escape_meta(a.value)}\n"
    return result


def _dyn(tgt: Target) -> dict[str, list[Attr]]:
    return {k: [Attr(v, True, False) for v in vs] for k, vs in tgt.attrs.items()}


def write_config(node: NodeState, nonkey: bool) -> str:
    """The file `scstadmin -write_config FILE [-nonkey]` writes."""
    scst = node.scst
    out = f"# Automatically generated by {SCSTADMIN_VERSION}.\n\n"
    sattrs = {"setup_id": Attr(f"0x{scst.setup_id:x}", scst.setup_id != 0, False)}
    out += serialize_key("", sattrs)
    if nonkey:
        nk = serialize_nonkey("", sattrs)
        if nk:
            out += "# Non-key attributes\n" + nk
    out += "\n"
    for handler in sorted(HANDLERS):
        create = VDISK_CREATE_PARAMS[handler]
        device_buff = ""
        for dev in sorted(
            (d for d in scst.devices.values() if d.handler == handler), key=lambda d: d.name
        ):
            device_buff += f"\tDEVICE {dev.name}"
            attrs = device_attributes(node, dev)
            ab = serialize_key("\t\t", attrs, create)
            abn = serialize_nonkey("\t\t", attrs, create) if nonkey else ""
            if ab:
                ab += "\n"
            if abn:
                abn += "\n"
                ab += "\t\t# Non-key attributes\n" + abn
            ab = _sub_end(r"\n+", "\n", ab)
            device_buff += " {\n" + ab + "\t}\n\n" if ab else "\n"
        device_buff = _sub_end(r"\n+", "\n", device_buff)
        if device_buff:
            out += f"HANDLER {handler} {{\n{device_buff}}}\n\n"
    for driver in sorted(scst.drivers):
        dattrs = driver_attributes(node, driver)
        drv_buff = serialize_key("\t", dattrs)
        drv_nk = serialize_nonkey("\t", dattrs) if nonkey else ""
        if drv_buff:
            drv_buff += "\n"
        if drv_nk:
            drv_nk += "\n"
        target_buff = ""
        for tname in sorted(scst.drivers[driver]):
            tgt = scst.drivers[driver][tname]
            target_buff += f"\tTARGET {tname}"
            tattrs: dict[str, Attr | list[Attr]] = {**target_attributes(tgt, driver), **_dyn(tgt)}
            ab = serialize_key("\t\t", tattrs, ISCSI_TGT_CREATE)
            abn = serialize_nonkey("\t\t", tattrs, ISCSI_TGT_CREATE) if nonkey else ""
            if ab:
                ab += "\n"
            if abn:
                abn += "\n"
            t_lun_buff = ""
            for lun in sorted(tgt.luns.values(), key=lambda x: x.lun):
                t_lun_buff += f"\t\tLUN {lun.lun} {lun.device}"
                la = {"read_only": Attr(lun.read_only, lun.read_only != "0", False)}
                lb = serialize_key("\t\t\t", la, {"read_only"})
                lbn = serialize_nonkey("\t\t\t", la, {"read_only"}) if nonkey else ""
                if lbn:
                    lb += "\t\t\t# Non-key attributes\n" + lbn
                t_lun_buff += " {\n" + lb + "\t\t}\n\n" if lb else "\n"
            if t_lun_buff:
                t_lun_buff += "\n"
            t_lun_buff = _sub_end(r"\n+", "\n\n", t_lun_buff)
            group_buff = ""
            for gname in sorted(tgt.groups):
                g = tgt.groups[gname]
                group_buff += f"\t\tGROUP {gname}"
                lun_buff = ""
                for lun in sorted(g.luns.values(), key=lambda x: x.lun):
                    lun_buff += f"\t\t\tLUN {lun.lun} {lun.device}"
                    la = {"read_only": Attr(lun.read_only, lun.read_only != "0", False)}
                    lb = serialize_key("\t\t\t\t", la, {"read_only"})
                    lbn = serialize_nonkey("\t\t\t\t", la, {"read_only"}) if nonkey else ""
                    if lbn:
                        lb += "\t\t\t\t# Non-key attributes\n" + lbn
                    lun_buff += " {\n" + lb + "\t\t\t}\n" if lb else "\n"
                init_buff = ""
                for ini in sorted(g.initiators):
                    init_buff += f"\n\t\t\tINITIATOR {escape_meta(ini)}\n"
                if lun_buff or init_buff:
                    group_buff += " {\n" + lun_buff + init_buff
                if group_buff and (lun_buff or init_buff):
                    group_buff += "\t\t}\n\n"
                    group_buff = _sub_end(r"\n+", "\n", group_buff)
                if group_buff:
                    group_buff += "\n"
            if abn:
                ab += "\t\t# Non-key attributes\n" + abn
            if ab or t_lun_buff or group_buff:
                target_buff += " {\n" + ab + t_lun_buff + group_buff
                target_buff = _sub_end(r"\n\n", "\n", target_buff)
                target_buff += "\t}\n\n"
            else:
                target_buff += "\n"
        if drv_nk:
            drv_buff += "\t# Non-key attributes\n" + drv_nk
        driver_buff = _sub_end(r"\n\n", "\n", drv_buff + target_buff)
        if driver_buff:
            out += f"TARGET_DRIVER {driver} {{\n{driver_buff}}}\n\n"
    for dgname in sorted(scst.device_groups):
        dg = scst.device_groups[dgname]
        devices_buff = "".join(f"\tDEVICE {d}\n" for d in dg.devices)
        if devices_buff:
            devices_buff += "\n"
        tgroup_buff = ""
        for tgname in sorted(dg.target_groups):
            tg = dg.target_groups[tgname]
            tgroup_buff += f"\tTARGET_GROUP {tgname}"
            tga = {
                "group_id": Attr(str(tg.group_id), tg.group_id != 0, False),
                "state": Attr(tg.state, True, False),
                "preferred": Attr("0", False, False),
            }
            ab = serialize_key("\t\t", tga)
            abn = serialize_nonkey("\t\t", tga) if nonkey else ""
            if ab:
                ab += "\n"
            if abn:
                abn += "\n"
            tgt_buff = ""
            for tname, rel in tg.targets.items():
                tgt_buff += f"\t\tTARGET {tname}"
                ta = {"rel_tgt_id": Attr(str(rel or 0), bool(rel), False)}
                tb = serialize_key("\t\t\t", ta)
                tbn = serialize_nonkey("\t\t\t", ta) if nonkey else ""
                if tbn:
                    tb += "\t\t\t# Non-key attributes\n" + tbn
                tgt_buff += " {\n" + tb + "\t\t}\n" if tb else "\n"
            if abn:
                ab += "\t\t# Non-key attributes\n" + abn
            if ab or tgt_buff:
                tgroup_buff += " {\n" + ab + tgt_buff
                tgroup_buff = _sub_end(r"\n\n", "\n", tgroup_buff)
                tgroup_buff += "\t}\n\n"
            else:
                tgroup_buff += "\n"
        dgroup_buff = _sub_end(r"\n\n", "\n", devices_buff + tgroup_buff)
        if dgroup_buff:
            out += f"DEVICE_GROUP {dgname} {{\n{dgroup_buff}}}\n\n"
    return out


class Run:
    """One scstadmin invocation: collects stdout, may raise Exit."""

    def __init__(
        self, node: NodeState, read_file: Callable[[str], str | None], cont_on_err: bool = False
    ) -> None:
        self.node = node
        self.scst = node.scst
        self.read_file = read_file
        self.out: list[str] = []
        self.err: list[str] = []
        self.cont_on_err = cont_on_err
        self.config: dict | None = None
        self.noprompt = False
        self.changed = False
        self.current: dict[tuple[str, str], dict[str, str]] = {}

    def read_working_config(self) -> None:
        """readWorkingConfig's snapshot of the target LUNs (%CURRENT{'assign'})."""
        self.current = {
            (driver, name): {k: lun.device for k, lun in tgt.luns.items()}
            for driver, targets in self.scst.drivers.items()
            for name, tgt in targets.items()
        }

    def p(self, text: str) -> None:
        self.out.append(text)

    def immediate_exit(self, error: str) -> None:
        self.p(f"\n\nFATAL: Received the following error:\n\n\t{error}\n\n")
        raise Exit(1)

    def issue_warning(self, error: str) -> bool:
        self.p(f"\n\nWARNING: Received the following error:\n\n\t{error}\n\n")
        return True

    def prompt(self) -> bool:
        """scstadmin's prompt(): True (abort) unless -noprompt. A lab command's stdin is
        empty, so the answer is missing and the action is aborted."""
        if self.noprompt:
            return False
        self.p(
            "Performing this action may result in lost or corrupt data, are you sure "
            "you wish to continue (y/[n]) ? Aborting action.\n"
        )
        return True

    def cond_exit(self, error: str) -> None:
        if self.cont_on_err:
            self.p(f"{error}\n")
        else:
            self.immediate_exit(error)

    # --- reading the file ---------------------------------------------------

    def read_config(self, path: str) -> dict:
        if self.config is None:
            text = self.read_file(path)
            if text is None:
                self.immediate_exit(
                    f"Unable to open configuration file '{path}': No such file or directory"
                )
            self.config = scstconf.parse(text or "")
        return self.config

    def check(self, path: str) -> bool:
        """checkConfiguration; True when the file has errors."""
        self.p(f"-> Checking configuration file '{path}' for errors.\n")
        config = self.read_config(path)
        warnings = errors = 0
        no_drivers = no_handlers = False
        if not config:
            self.p("-> WARNING: Configuration is empty or unreadable, aborting.\n\n")
            raise Exit(0)
        if not config.get("TARGET_DRIVER"):
            self.p(
                "\t-> WARNING: No TARGET_DRIVER section defined. "
                "No target drivers will be configured.\n\n"
            )
            no_drivers = True
            warnings += 1
        if not config.get("HANDLER"):
            self.p(
                "\t-> WARNING: No HANDLER section defined. "
                "Only physical media will be configured for targets.\n\n"
            )
            no_handlers = True
            warnings += 1
        if no_drivers and no_handlers:
            self.p("FATAL: No target drivers or handlers defined, aborting!\n")
            errors += 1
        if not no_drivers:
            for driver, dconf in config["TARGET_DRIVER"].items():
                if driver not in self.scst.drivers:
                    self.p(
                        f"\t-> WARNING: Target driver '{driver}' is not loaded or available.\n\n"
                    )
                    warnings += 1
                    continue
                if not dconf.get("TARGET"):
                    self.p(f"\t-> WARNING: Driver '{driver}' has no configured targets.\n\n")
                    warnings += 1
                    continue
                for tconf in dconf["TARGET"].values():
                    seen: set[str] = set()
                    for gconf in (tconf.get("GROUP") or {}).values():
                        for ini in gconf.get("INITIATOR") or {}:
                            if ini in seen:
                                self.p(
                                    f"\t-> FATAL: Initiator '{ini}' belongs to more than one "
                                    "group.\n\t     Initiators can only belong to one group at a "
                                    "time for a given target.\n"
                                )
                                errors += 1
                            seen.add(ini)
        cdevices: set[str] = set()
        for handler in sorted(config.get("HANDLER") or {}):
            if handler not in HANDLERS:
                self.p(f"\t-> WARNING: No such handler '{handler}' available, ignoring.\n")
                del config["HANDLER"][handler]
                warnings += 1
                continue
            devs = config["HANDLER"][handler].get("DEVICE") or {}
            for device in sorted(devs):
                name = device
                if device.startswith("/dev/"):
                    name = device[5:]
                    self.p(
                        f"\t-> WARNING: Device '{device}' configured for handler '{handler}' may "
                        f"not contain the full /dev path, please change to '{name}'.\n\n"
                    )
                    devs[name] = devs.pop(device)
                    warnings += 1
                elif "/" in device:
                    self.p(
                        f"\t-> FATAL: Device '{device}' configured for handler '{handler}' may "
                        "not contain character '/'.\n"
                    )
                    errors += 1
                cdevices.add(name)
        for driver, dconf in (config.get("TARGET_DRIVER") or {}).items():
            for target, tconf in (dconf.get("TARGET") or {}).items():
                if "LUN" in tconf:
                    for lun in list(tconf["LUN"]):
                        for device in list(tconf["LUN"].get(lun, {})):
                            if device not in cdevices:
                                self.p(
                                    f"\t-> WARNING: Device '{device}' associated with "
                                    f"driver/target '{driver}/{target}' at LUN {lun} is not "
                                    "defined within configuration, removing it.\n\n"
                                )
                                tconf["LUN"].pop(lun, None)
                                warnings += 1
                    if driver != CM_DRIVER and "0" not in tconf["LUN"]:
                        self.p(
                            f"\t-> WARNING: No LUN 0 defined for driver/target "
                            f"'{driver}/{target}'. Many initiators require a LUN 0 to be "
                            "defined.\n\n"
                        )
                        warnings += 1
                for group, gconf in (tconf.get("GROUP") or {}).items():
                    if "LUN" not in gconf:
                        continue
                    for lun in list(gconf["LUN"]):
                        for device in list(gconf["LUN"].get(lun, {})):
                            if device not in cdevices:
                                self.p(
                                    f"\t-> WARNING: Device '{device}' associated with "
                                    f"driver/target '{driver}/{target}' at LUN {lun} is not "
                                    "defined within configuration, removing it.\n\n"
                                )
                                gconf["LUN"].pop(lun, None)
                                warnings += 1
                    if "0" not in gconf["LUN"]:
                        self.p(
                            f"\t-> WARNING: No LUN 0 defined for driver/target/group "
                            f"'{driver}/{target}/{group}'. Many initiators require a LUN 0 "
                            "to be defined.\n\n"
                        )
                        warnings += 1
        for dgroup, dgconf in (config.get("DEVICE_GROUP") or {}).items():
            for device in list(dgconf.get("DEVICE") or {}):
                if device not in cdevices:
                    self.p(
                        f"\t-> WARNING: Device '{device}' associated with device group "
                        f"'{dgroup}' is not defined within configuration, removing it.\n\n"
                    )
                    del dgconf["DEVICE"][device]
                    warnings += 1
        if errors:
            self.p(f"\t-> Done, {errors} errors found.\n")
            return True
        self.p(f"\t-> Done, {warnings} warnings found.\n\n")
        return False

    def _attrs(self, conf: dict) -> dict:
        try:
            return scstconf.config_to_attr(conf)
        except ValueError as e:
            self.immediate_exit(str(e))
            raise

    # --- primitive changes (messages as the Perl subs print them) -------------

    def open_device(self, handler: str, name: str, create: dict) -> None:
        self.p(f"\t-> Opening device '{name}' using handler '{handler}': ")
        attrs = {k: v for k, v in create.items() if isinstance(v, str)}
        self.scst.register_device(Device(name=name, handler=handler, attrs=attrs))
        self.p("done.\n")
        self.changed = True

    def close_device(self, handler: str, name: str) -> None:
        self.p(f"\t-> Closing device '{name}' using handler '{handler}': ")
        self.scst.unregister_device(name)
        self.p("done.\n")
        self.changed = True

    def set_attributes(
        self,
        attrs: dict,
        existing: dict[str, set[str]],
        error: str,
        setter: Callable[[str, str], str | None],
        showset: bool = False,
    ) -> int:
        """setAttributes: SETTER returns an SCST.pm error text, or None when it worked."""
        changes = 0
        for attr, value in attrs.items():
            for v in value if isinstance(value, list) else [value]:
                if attr not in existing:
                    self.p(error % attr)
                    continue
                if v in existing[attr]:
                    if showset:
                        self.p(f"\t-> Attribute '{attr}' already set to value '{v}', ignoring.\n")
                    continue
                failure = setter(attr, v)
                if failure:
                    self.issue_warning(failure)
                else:
                    changes += 1
        return changes

    def set_device_attributes(self, name: str, attrs: dict, showset: bool = False) -> int:
        """setDeviceAttributes; a device that is not open is a warning counted as 1 (the
        Perl sub returns TRUE, which the caller adds to its change count)."""
        dev = self.scst.devices.get(name)
        if dev is None:
            return int(self.issue_warning(f"deviceAttributes(): Device '{name}' is not open"))
        existing = {
            k: {a.value} for k, a in device_attributes(self.node, dev).items() if not a.static
        }

        def setter(attr: str, v: str) -> str | None:
            self.p(f"\t-> Setting device attribute '{attr}' to value '{v}' for device '{name}': ")
            errno_name = store_device_attr(dev, attr, v)
            self.p("done.\n")
            if errno_name:
                # SCST.pm setAttrFailed prints the errno name on stderr
                self.err.append(f"({errno_name}) ")
                return 'Failed to set device attribute. See "dmesg" for more information.'
            self.changed = True
            return None

        error = f"\t-> WARNING: Device '{name}' lacks the settable attribute '%s', ignoring.\n\n"
        return self.set_attributes(attrs, existing, error, setter, showset)

    def set_target_enabled(self, driver: str | None, target: str, value: int) -> None:
        """enableTarget/disableTarget: setTargetAttributes(driver, target, {enabled: V})."""
        if not driver or not target:
            self.issue_warning("Too few arguments")
            return
        if driver not in self.scst.drivers:
            self.issue_warning(f"targetAttributes(): Driver '{driver}' is not available")
            return
        tgt = self.scst.drivers[driver].get(target)
        if tgt is None:
            self.issue_warning(f"targetAttributes(): Target '{target}' is not available")
            return
        attrs = target_attributes(tgt, driver)
        if "enabled" not in attrs:
            self.p(
                f"\t-> WARNING: Driver/target '{driver}/{target}' lacks the settable "
                "attribute 'enabled', ignoring.\n\n"
            )
            return
        if attrs["enabled"].value != str(value):
            self.set_target_attribute(driver, target, "enabled", str(value))

    def add_lun(
        self, driver: str, target: str, device: str, lun: str, attrs: dict, group: str | None
    ) -> None:
        tgt = self.scst.drivers[driver][target]
        if group is not None:
            self.p(
                f"\t-> Adding device '{device}' at LUN {lun} to driver/target/group "
                f"'{driver}/{target}/{group}': "
            )
            luns = tgt.groups[group].luns
        else:
            self.p(
                f"\t-> Adding device '{device}' at LUN {lun} to driver/target '{driver}/{target}': "
            )
            luns = tgt.luns
        self.p("done.\n")
        if device not in self.scst.devices:
            self.cond_exit(f"No such device '{device}' exists.")
            return
        ro = attrs.get("read_only", "0")
        luns[str(int(lun))] = Lun(
            lun=int(lun), device=device, read_only=ro if isinstance(ro, str) and ro else "0"
        )
        self.changed = True

    def remove_lun(self, driver: str, target: str, lun: str, group: str | None) -> None:
        tgt = self.scst.drivers[driver][target]
        if group:
            self.p(
                f"\t-> Removing LUN {lun} from driver/target/group '{driver}/{target}/{group}': "
            )
            tgt.groups[group].luns.pop(lun, None)
        else:
            self.p(f"\t-> Removing LUN {lun} from driver/target '{driver}/{target}': ")
            tgt.luns.pop(lun, None)
        self.p("done.\n")
        self.changed = True

    def set_target_attribute(self, driver: str, target: str, attr: str, value: str) -> None:
        tgt = self.scst.drivers[driver][target]
        if attr == "enabled":
            onoff = "Enabling" if _perl_num(value) else "Disabling"
            self.p(f"\t-> {onoff} driver/target '{driver}/{target}': ")
            tgt.enabled = 1 if _perl_num(value) else 0
            if tgt.enabled:
                relogin(tgt)
        else:
            self.p(
                f"\t-> Setting target attribute '{attr}' to value '{value}' for "
                f"driver/target '{driver}/{target}': "
            )
            if attr == "rel_tgt_id":
                tgt.rel_tgt_id = int(_perl_num(value))
        self.p("done.\n")
        self.changed = True

    # --- applyConfiguration -------------------------------------------------

    def apply(self, force: bool) -> int:
        config = self.config or {}
        changes = 0
        self.p("-> Applying configuration.\n")
        self.read_working_config()
        if force:
            changes += self.apply_assignments(config, True, only_del=True)
            self.read_working_config()
        changes += self.apply_devices(config, force)
        changes += self.apply_assignments(config, force)
        changes += self.apply_device_groups(config, force)
        changes += self.apply_enable_targets(config)
        changes += self.apply_enable_drivers(config)
        top = {
            k: v
            for k, v in config.items()
            if k not in ("HANDLER", "TARGET_DRIVER", "ALUA", "DEVICE_GROUP")
        }
        attrs = self._attrs(top)
        existing = {"setup_id": {f"0x{self.scst.setup_id:x}"}}

        def set_scst(attr: str, v: str) -> None:
            self.p(f"\t-> Setting SCST attribute '{attr}' to value '{v}': ")
            if attr == "setup_id":
                self.scst.setup_id = int(v, 0)
            self.p("done.\n")
            self.changed = True
            return None

        changes += self.set_attributes(
            attrs,
            existing,
            "\t-> WARNING: SCST lacks the settable attribute '%s', ignoring.\n\n",
            set_scst,
        )
        self.p(f"\t-> Done, {changes} change(s) made.\n")
        return changes

    def apply_devices(self, config: dict, deletions: bool) -> int:
        changes = 0
        handlers = config.get("HANDLER") or {}
        for dev in sorted(self.scst.devices.values(), key=lambda d: (d.handler, d.name)):
            if dev.name not in ((handlers.get(dev.handler) or {}).get("DEVICE") or {}):
                if deletions:
                    self.close_device(dev.handler, dev.name)
                    changes += 1
                else:
                    self.p(
                        f"\t-> Device '{dev.name}' is not in configuration. "
                        "Use -force to close it.\n"
                    )
        for handler in sorted(handlers):
            devices = handlers[handler].get("DEVICE") or {}
            possible = VDISK_CREATE_PARAMS.get(handler, set())
            for name in sorted(devices):
                all_attrs = self._attrs(devices[name])
                create = {k: v for k, v in all_attrs.items() if k in possible}
                others = {k: v for k, v in all_attrs.items() if k not in possible}
                existing = self.scst.devices.get(name)
                if existing is not None and existing.handler == handler:
                    old = {
                        k: a
                        for k, a in device_attributes(self.node, existing).items()
                        if k in possible
                    }
                    if _differs(create, old):
                        self.p(f"\t-> Device '{name}' is configured differently.\n")
                        if deletions:
                            self.p("\t  -> Closing and re-opening with new attributes.\n")
                            self.close_device(handler, name)
                            self.open_device(handler, name, create)
                            changes += 2
                            self.read_working_config()
                        else:
                            self.p(
                                "\t  -> Use -force to re-open device with new attributes. "
                                "NOTE: This will disrupt all initiators using this device.\n"
                            )
                    if others:
                        changes += self.set_device_attributes(name, others)
                    continue
                self.open_device(handler, name, create)
                changes += 1
                if others:
                    changes += self.set_device_attributes(name, others, showset=deletions)
        return changes

    def apply_assignments(self, config: dict, deletions: bool, only_del: bool = False) -> int:
        changes = 0
        drivers_conf = config.get("TARGET_DRIVER") or {}
        for driver in sorted(self.scst.drivers):
            for target in sorted(self.scst.drivers[driver]):
                tgt = self.scst.drivers[driver][target]
                def_group = ((drivers_conf.get(driver) or {}).get("TARGET") or {}).get(target) or {}
                # %CURRENT as readWorkingConfig last saw it: a LUN the copy manager gave
                # a device opened since then is not there, so it is not removed.
                seen = self.current.get((driver, target), {})
                for lun in sorted((k for k in tgt.luns if k in seen), key=int):
                    device = tgt.luns[lun].device
                    lconf = (def_group.get("LUN") or {}).get(lun) or {}
                    if device not in lconf:
                        if deletions:
                            self.remove_lun(driver, target, lun, None)
                            changes += 1
                        elif driver != CM_DRIVER:
                            self.p(
                                f"\t-> Device '{device}' at LUN '{lun}' is not in "
                                f"configuration for driver/target '{driver}/{target}'. "
                                "Use -force to remove it.\n"
                            )
                    else:
                        c = self._attrs(lconf[device])
                        c = {k: v for k, v in c.items() if k == "read_only"}
                        o = {
                            "read_only": Attr(
                                tgt.luns[lun].read_only, tgt.luns[lun].read_only != "0", False
                            )
                        }
                        if _differs(c, o):
                            self.p(
                                f"\t-> Assigned device '{device}' in target '{target}' at "
                                f"LUN '{lun}' is configured differently.\n"
                            )
                            if deletions:
                                self.p("\t  -> Re-assigning device with new attributes.\n")
                                self.remove_lun(driver, target, lun, None)
                                self.add_lun(driver, target, device, lun, c, None)
                                changes += 2
                            else:
                                self.p(
                                    "\t  -> Use -force to re-assign device with new "
                                    "attributes. NOTE: This will disrupt all initiators "
                                    "using this device.\n"
                                )
                for gname in sorted(tgt.groups):
                    g = tgt.groups[gname]
                    gconf = (def_group.get("GROUP") or {}).get(gname)
                    for lun in sorted(g.luns, key=int):
                        device = g.luns[lun].device
                        if device not in (((gconf or {}).get("LUN") or {}).get(lun) or {}):
                            if deletions:
                                self.remove_lun(driver, target, lun, gname)
                                changes += 1
                            else:
                                self.p(
                                    f"\t-> Device '{device}' at LUN '{lun}' is not in "
                                    "configuration for driver/target/group "
                                    f"'{driver}/{target}/{gname}'. Use -force to remove it.\n"
                                )
                    if gconf is None:
                        if deletions:
                            self.remove_group(driver, target, gname, force=False)
                            changes += 1
                        else:
                            self.p(
                                f"\t-> Group '{gname}' is not in configuration. "
                                "Use -force to remove.\n"
                            )
        if only_del:
            return changes
        for driver in sorted(drivers_conf):
            if driver not in self.scst.drivers:
                self.cond_exit(f"Target driver '{driver}' is not loaded or available.")
                continue
            dconf = drivers_conf[driver]
            if "TARGET" in dconf:
                changes += self.apply_targets(driver, dconf["TARGET"], deletions)
        return changes

    def remove_group(self, driver: str, target: str, group: str, force: bool) -> None:
        g = self.scst.drivers[driver][target].groups[group]
        if not force and (g.luns or g.initiators):
            self._list_group(g)
            self.immediate_exit("Group is still in use, aborting. Use -force to override.")
        self.p(f"\t-> Removing group '{group}' from driver/target '{driver}/{target}': ")
        del self.scst.drivers[driver][target].groups[group]
        self.p("done.\n")
        self.changed = True

    def _list_group(self, g: IniGroup) -> None:
        if g.luns or g.initiators:
            l_dev = max((len(v.device) for v in g.luns.values()), default=0)
            l_ini = max((len(i) for i in g.initiators), default=0)
            self.p("Assigned LUNs:\n\n")
            if g.luns:
                self.p(f"\t{'LUN':<4} {'Device':<{l_dev}}\n\t" + "-" * (l_dev + 5) + "\n")
                for lun in sorted(g.luns):
                    self.p(f"\t{lun:<4} {g.luns[lun].device:<{l_dev}}\n")
            else:
                self.p("\t(none)\n")
            self.p("\nAssigned Initiators:\n\n")
            if g.initiators:
                self.p("\tInitiator\n\t" + "-" * l_ini + "\n")
                for ini in g.initiators:
                    self.p(f"\t{ini}\n")
            else:
                self.p("\t(none)\n")

    def apply_targets(self, driver: str, targets: dict, deletions: bool) -> int:
        changes = 0
        current = self.scst.drivers[driver]
        for target in sorted(current):
            if target not in targets:
                if deletions:
                    self.p(f"\t-> Removing virtual target '{target}' from driver '{driver}': ")
                    del current[target]
                    self.p("done.\n")
                    self.changed = True
                    changes += 1
                else:
                    self.p(
                        f"\t-> Virtual target '{target}' for driver '{driver}' is not in "
                        "configuration. Use -force to remove it.\n"
                    )
        for target in sorted(targets):
            tconf = targets[target]
            if target not in current:
                self.p(f"\t-> Creating target '{target}' for driver '{driver}': ")
                tid = max((t.tid for t in current.values()), default=0) + 1
                current[target] = Target(name=target, tid=tid)
                self.p("done.\n")
                self.changed = True
                changes += 1
            tgt = current[target]
            attrs = self._attrs(
                {k: v for k, v in tconf.items() if k not in ("GROUP", "LUN", "enabled")}
            )
            changes += self.set_target_attributes(driver, tgt, attrs, deletions)
            if "LUN" in tconf:
                changes += self.apply_luns(driver, target, None, tconf["LUN"])
            if "GROUP" in tconf:
                changes += self.apply_groups(driver, target, tconf["GROUP"])
                changes += self.apply_initiators(driver, target, tconf["GROUP"], deletions)
        return changes

    def set_target_attributes(self, driver: str, tgt: Target, attrs: dict, deletions: bool) -> int:
        changes = 0
        existing: dict[str, dict[str, bool]] = {
            k: {a.value: False} for k, a in target_attributes(tgt, driver).items() if not a.static
        }
        for k, vs in tgt.attrs.items():
            existing[k] = dict.fromkeys(vs, False)
        for attr, value in attrs.items():
            for v in value if isinstance(value, list) else [value]:
                if attr == "HW_TARGET":
                    continue
                if attr not in existing and attr in ISCSI_DYNAMIC:
                    self._add_dyn(driver, tgt, attr, v)
                    changes += 1
                    continue
                if attr not in existing:
                    self.p(
                        f"\t-> WARNING: Driver/target '{driver}/{tgt.name}' lacks the "
                        f"settable attribute '{attr}', ignoring.\n\n"
                    )
                    continue
                if v in existing[attr]:
                    existing[attr][v] = True
                    continue
                if attr in ISCSI_DYNAMIC:
                    self._add_dyn(driver, tgt, attr, v)
                    changes += 1
                else:
                    self.set_target_attribute(driver, tgt.name, attr, v)
                    changes += 1
                existing[attr][v] = True
        for attr in sorted(existing):
            if attr not in ISCSI_DYNAMIC:
                continue
            for v, seen in existing[attr].items():
                if seen:
                    continue
                if deletions:
                    self.p(
                        f"\t-> Removing dynamic attribute '{attr}' with value '{v}' for "
                        f"driver/target '{driver}/{tgt.name}': done.\n"
                    )
                    tgt.attrs[attr].remove(v)
                    if not tgt.attrs[attr]:
                        del tgt.attrs[attr]
                    self.changed = True
                    changes += 1
                else:
                    self.p(
                        f"\t-> Target dynamic attribute '{attr}' with value '{v}' is not "
                        "in configuration. Use -force to remove it.\n"
                    )
        return changes

    def _add_dyn(self, driver: str, tgt: Target, attr: str, v: str) -> None:
        self.p(
            f"\t-> Adding target attribute '{attr}' with value '{v}' for driver/target "
            f"'{driver}/{tgt.name}': done.\n"
        )
        tgt.attrs.setdefault(attr, []).append(v)
        self.changed = True

    def apply_luns(self, driver: str, target: str, group: str | None, luns: dict) -> int:
        changes = 0
        tgt = self.scst.drivers[driver][target]
        current = tgt.luns if group is None else tgt.groups[group].luns
        for lun in sorted(luns):
            if lun in current:
                continue
            if len(luns[lun]) > 1:
                self.immediate_exit(
                    "Invalid configuration encountered. Driver/target/group/lun "
                    f"{driver}/{target}/{group or ''}/{lun} has multiple devices assigned."
                )
            for device in sorted(luns[lun]):
                self.add_lun(driver, target, device, lun, self._attrs(luns[lun][device]), group)
                changes += 1
        return changes

    def apply_groups(self, driver: str, target: str, groups: dict) -> int:
        changes = 0
        tgt = self.scst.drivers[driver][target]
        for gname in sorted(groups):
            if gname not in tgt.groups:
                self.p(f"\t-> Adding new group '{gname}' to driver/target '{driver}/{target}': ")
                tgt.groups[gname] = IniGroup(name=gname)
                self.p("done.\n")
                self.changed = True
                changes += 1
            if "LUN" in groups[gname]:
                changes += self.apply_luns(driver, target, gname, groups[gname]["LUN"])
        return changes

    def apply_initiators(self, driver: str, target: str, groups: dict, deletions: bool) -> int:
        changes = 0
        tgt = self.scst.drivers[driver][target]
        running = {ini: g.name for g in tgt.groups.values() for ini in g.initiators}
        configured = {
            ini: gname for gname, gc in groups.items() for ini in gc.get("INITIATOR") or {}
        }
        for ini in sorted(running):
            group = running[ini]
            if ini not in configured:
                if deletions:
                    self.p(
                        f"\t-> Removing initiator '{ini}' from driver/target/group "
                        f"'{driver}/{target}/{group}': done.\n"
                    )
                    tgt.groups[group].initiators.remove(ini)
                    self.changed = True
                    changes += 1
                else:
                    self.p(
                        f"\t-> Initiator '{ini}' is not in configuration for "
                        f"driver/target/group '{driver}/{target}/{group}'. "
                        "Use -force to remove it.\n"
                    )
            elif configured[ini] != group:
                if deletions:
                    self.p(
                        f"\t-> Moving initiator '{ini}' from group '{group}' to group "
                        f"'{configured[ini]}': done.\n"
                    )
                    tgt.groups[group].initiators.remove(ini)
                    tgt.groups[configured[ini]].initiators.append(ini)
                    self.changed = True
                    changes += 1
                else:
                    self.p(
                        f"\t-> Initiator '{ini}' is moving to group '{configured[ini]}' "
                        f"from group '{group}'. Use -force to move it.\n"
                    )
        for ini in sorted(configured):
            if ini not in running:
                self.p(
                    f"\t-> Adding new initiator '{ini}' to driver/target/group "
                    f"'{driver}/{target}/{configured[ini]}': done.\n"
                )
                tgt.groups[configured[ini]].initiators.append(ini)
                self.changed = True
                changes += 1
        return changes

    def apply_device_groups(self, config: dict, deletions: bool) -> int:
        changes = 0
        dgs_conf = config.get("DEVICE_GROUP") or {}
        for dgname in sorted(self.scst.device_groups):
            dg = self.scst.device_groups[dgname]
            if dgname not in dgs_conf:
                if deletions:
                    self.p(f"\t-> Removing device group '{dgname}': done.\n")
                    del self.scst.device_groups[dgname]
                    self.changed = True
                    changes += 1
                else:
                    self.p(
                        f"\t-> Device Group '{dgname}' is not in configuration. "
                        "Use -force to remove.\n"
                    )
                continue
            dconf = dgs_conf[dgname]
            for device in list(dg.devices):
                if device not in (dconf.get("DEVICE") or {}):
                    if deletions:
                        self.p(
                            f"\t-> Removing device '{device}' from target group '{dgname}': done.\n"
                        )
                        dg.devices.remove(device)
                        self.changed = True
                        changes += 1
                    else:
                        self.p(
                            f"\t-> Device '{device}' within device group '{dgname}' is not "
                            "in configuration. Use -force to remove.\n"
                        )
            for tgname in sorted(dg.target_groups):
                tgc = (dconf.get("TARGET_GROUP") or {}).get(tgname)
                if tgc is None:
                    if deletions:
                        self.p(
                            f"\t-> Removing target group '{tgname}' from device group "
                            f"'{dgname}': done.\n"
                        )
                        del dg.target_groups[tgname]
                        self.changed = True
                        changes += 1
                    else:
                        self.p(
                            f"\t-> Target Group '{dgname}/{tgname}' is not in "
                            "configuration. Use -force to remove.\n"
                        )
                    continue
                for tname in list(dg.target_groups[tgname].targets):
                    if tname not in (tgc.get("TARGET") or {}):
                        if deletions:
                            self.p(
                                f"\t-> Removing target group/target '{tgname}/{tname}' "
                                f"from device group '{dgname}': done.\n"
                            )
                            del dg.target_groups[tgname].targets[tname]
                            self.changed = True
                            changes += 1
                        else:
                            self.p(
                                f"\t-> Target '{dgname}/{tgname}/{tname}' is not in "
                                "configuration. Use -force to remove.\n"
                            )
        for dgname in sorted(dgs_conf):
            dconf = dgs_conf[dgname]
            if dgname not in self.scst.device_groups:
                self.p(f"\t-> Adding new device group '{dgname}': done.\n")
                self.scst.device_groups[dgname] = DeviceGroup(name=dgname)
                self.changed = True
                changes += 1
            dg = self.scst.device_groups[dgname]
            for device in sorted(dconf.get("DEVICE") or {}):
                if device not in dg.devices:
                    self.p(f"\t-> Adding new device group/device '{dgname}/{device}': done.\n")
                    dg.devices.append(device)
                    self.changed = True
                    changes += 1
            for tgname in sorted(dconf.get("TARGET_GROUP") or {}):
                tgc = dconf["TARGET_GROUP"][tgname]
                if tgname not in dg.target_groups:
                    self.p(
                        f"\t-> Adding new target group '{tgname}' to device group "
                        f"'{dgname}': done.\n"
                    )
                    dg.target_groups[tgname] = TargetGroup(name=tgname)
                    self.changed = True
                    changes += 1
                tg = dg.target_groups[tgname]
                for tname in tgc.get("TARGET") or {}:
                    if tname not in tg.targets:
                        self.p(
                            f"\t-> Adding new target group/target '{tgname}/{tname}' to "
                            f"device group '{dgname}': done.\n"
                        )
                        tg.targets[tname] = None
                        self.changed = True
                        changes += 1
                    tattrs = self._attrs(tgc["TARGET"][tname])
                    rel = tattrs.get("rel_tgt_id")
                    if isinstance(rel, str) and rel and str(tg.targets[tname] or 0) != rel:
                        self.p(
                            f"\t-> Setting target attribute 'rel_tgt_id' to value '{rel}' "
                            f"for target '{dgname}/{tgname}/{tname}': done.\n"
                        )
                        tg.targets[tname] = int(_perl_num(rel))
                        self.changed = True
                        changes += 1
                tattrs = self._attrs({k: v for k, v in tgc.items() if k != "TARGET"})
                for attr, v in tattrs.items():
                    if not isinstance(v, str):
                        continue
                    cur = {"group_id": str(tg.group_id), "state": tg.state}.get(attr)
                    if cur is None:
                        self.p(
                            f"\t-> WARNING: Target Group '{dgname}/{tgname}' lacks the "
                            f"settable attribute '{attr}', ignoring.\n\n"
                        )
                    elif cur != v:
                        self.p(
                            f"\t-> Setting Target Group attribute '{attr}' to value '{v}' "
                            f"for target group '{dgname}/{tgname}': done.\n"
                        )
                        if attr == "group_id":
                            tg.group_id = int(_perl_num(v))
                        else:
                            tg.state = v
                        self.changed = True
                        changes += 1
        return changes

    def apply_enable_targets(self, config: dict) -> int:
        changes = 0
        for driver in sorted(config.get("TARGET_DRIVER") or {}):
            targets = (config["TARGET_DRIVER"][driver] or {}).get("TARGET") or {}
            for target in sorted(targets):
                if driver == CM_DRIVER or target not in self.scst.drivers.get(driver, {}):
                    continue
                attrs = self._attrs({k: v for k, v in targets[target].items() if k == "enabled"})
                want = _perl_num(attrs.get("enabled", 0))
                if self.scst.drivers[driver][target].enabled != want:
                    self.set_target_attribute(driver, target, "enabled", str(int(want)))
                    changes += 1
        return changes

    def apply_enable_drivers(self, config: dict) -> int:
        changes = 0
        for driver in sorted(config.get("TARGET_DRIVER") or {}):
            if driver == CM_DRIVER or driver not in self.scst.drivers:
                continue  # copy_manager has no `enabled` to compare
            dconf = config["TARGET_DRIVER"][driver] or {}
            attrs = self._attrs({k: v for k, v in dconf.items() if k == "enabled"})
            want = int(_perl_num(attrs.get("enabled", 0)))
            if self.scst.driver_enabled.get(driver, 0) != want:
                onoff = "Enabling" if want else "Disabling"
                self.p(f"\t-> {onoff} driver '{driver}': done.\n")
                self.scst.driver_enabled[driver] = want
                self.changed = True
                changes += 1
        return changes

    def issue_lip(self) -> None:
        # Only fibre channel targets can issue a LIP; iSCSI targets are skipped.
        for driver in sorted(self.scst.drivers):
            for _target in sorted(self.scst.drivers[driver]):
                self.p("\t-> Driver/target is not a fibre channel target, ignoring.\n")

    def clear(self) -> None:
        self.p("-> Clearing running configuration.\n")
        for dgname in sorted(self.scst.device_groups):
            dg = self.scst.device_groups[dgname]
            for tgname in sorted(dg.target_groups):
                self.p(
                    f"\t-> Removing target group '{tgname}' from device group '{dgname}': done.\n"
                )
            for device in dg.devices:
                self.p(f"\t-> Removing device '{device}' from target group '{dgname}': done.\n")
            self.p(f"\t-> Removing device group '{dgname}': done.\n")
        self.scst.device_groups.clear()
        for driver in sorted(self.scst.drivers):
            for target in sorted(self.scst.drivers[driver]):
                tgt = self.scst.drivers[driver][target]
                for gname in sorted(tgt.groups):
                    self.p(
                        f"\t-> Removing all initiators driver/target/group "
                        f"'{driver}/{target}/{gname}': done.\n"
                    )
                    self.p(
                        f"\t-> Removing all LUNs from driver/target/group "
                        f"'{driver}/{target}/{gname}': done.\n"
                    )
                    self.p(
                        f"\t-> Removing group '{gname}' from driver/target "
                        f"'{driver}/{target}': done.\n"
                    )
                self.p(f"\t-> Removing all LUNs from driver/target '{driver}/{target}': done.\n")
                if driver == CM_DRIVER:  # a hardware target: its LUNs go, it stays
                    tgt.luns.clear()
                    continue
                self.p(f"\t-> Removing virtual target '{target}' from driver '{driver}': done.\n")
            self.scst.drivers[driver] = {
                k: t for k, t in self.scst.drivers[driver].items() if driver == CM_DRIVER
            }
        for dev in sorted(self.scst.devices.values(), key=lambda d: (d.handler, d.name)):
            self.p(f"\t-> Closing device '{dev.name}' using handler '{dev.handler}': done.\n")
        self.scst.devices.clear()
        for driver in sorted(self.scst.drivers):
            if self.scst.driver_enabled.get(driver):
                self.p(f"\t-> Disabling driver '{driver}': done.\n")
                self.scst.driver_enabled[driver] = 0
        self.p("\t-> Configuration cleared.\n")
        self.changed = True

    def list_devices(self) -> None:
        rows = []
        for handler in sorted(HANDLERS):
            devs = sorted(d.name for d in self.scst.devices.values() if d.handler == handler)
            rows.append((handler, devs or ["-"]))
        l_h = max(len(h) for h, _ in rows)
        l_d = max(len(d) for _, ds in rows for d in ds)
        self.p(f"\t{'Handler':<{l_h}}     {'Device':<{l_d}}\n\t" + "-" * (l_h + l_d + 5) + "\n")
        for handler, devs in rows:
            for i, d in enumerate(devs):
                self.p(f"\t{handler if i == 0 else '':<{l_h}}    {d:<{l_d}}\n")

    def list_device(self, name: str, nonkey: bool) -> None:
        dev = self.scst.devices.get(name)
        if dev is None:
            self.p(f"No such device '{name}' exists.\n")
            return
        attrs = device_attributes(self.node, dev)
        shown = {k: a for k, a in attrs.items() if a.key or nonkey}
        l_attr = max([9, *(len(k) for k in shown)])
        l_value = max([5, *(len(a.value) for a in shown.values())])
        self.p(
            f"\t{'Attribute':<{l_attr}}     {'Value':<{l_value}}     {'Writable':<9}     "
            f"{'KEY':<3}\n\t" + "-" * (l_attr + l_value + 27) + "\n"
        )
        for k in sorted(shown):
            a = shown[k]
            value = a.value if a.value != "" else "<not set>"
            writable = "No" if a.static else "Yes"
            self.p(
                f"\t{k:<{l_attr}}     {value:<{l_value}}     {writable:<9}     "
                f"{'Yes' if a.key else 'No':<3}\n"
            )
        if not shown:
            self.p("\t(none)\n")

    def list_targets(self, driver: str | None) -> None:
        drivers = [d for d in sorted(self.scst.drivers) if driver in (None, "", d)]
        if not drivers:
            self.p(f"No such driver '{driver}' exists.\n")
            return
        l_d = max(len(d) for d in drivers)
        l_t = max([0, *(len(t) for d in drivers for t in self.scst.drivers[d])])
        self.p(f"\t{'Driver':<{l_d}} {'Target':<{l_t}}\n\t" + "-" * (l_d + l_t + 1) + "\n")
        for d in drivers:
            for i, t in enumerate(sorted(self.scst.drivers[d])):
                self.p(f"\t{d if i == 0 else '':<{l_d}} {t:<{l_t}}\n")


def _differs(first: dict, second: dict) -> bool:
    """compareToKeyAttribute."""
    for attr, value in first.items():
        a = second.get(attr)
        if a is None:
            if _perl_num(value) == 0:
                continue
            return True
        if a.key:
            if value != a.value:
                return True
        elif value != a.value:
            return True
    return any(a.key and attr not in first for attr, a in second.items())


OPTIONS_WITH_ARG = {"write_config", "set_dev_attr", "enable_target", "disable_target"}
OPTIONS_OPT_ARG = {
    "config",
    "check_config",
    "list_handler",
    "list_device",
    "list_target",
    "list_driver",
    "list_group",
}
FLAGS = {
    "clear_config",
    "nonkey",
    "noprompt",
    "cont_on_err",
    "force",
    "debug",
    "h",
    "help",
    "list_sessions",
    "no_lip",
}
OPTIONS_REQ = {"driver", "target", "group", "handler", "attributes", "device", "list_dev_attr"}


def main(
    node: NodeState,
    argv: list[str],
    read_file: Callable[[str], str | None],
    write_file: Callable[[str, str], bool],
) -> tuple[str, str, int, bool]:
    """Run scstadmin ARGV; returns (stdout, stderr, exit status, state changed)."""
    opts: dict[str, str | bool] = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("-"):
            i += 1
            continue
        name = a.lstrip("-")
        value = None
        if "=" in name:
            name, value = name.split("=", 1)
        if name in OPTIONS_WITH_ARG or name in OPTIONS_REQ:
            if value is None:
                if i + 1 >= len(argv):
                    return "", f"Option {name} requires an argument\n", 1, False
                value = argv[i + 1]
                i += 1
            opts[name] = value
        elif name in OPTIONS_OPT_ARG:
            if value is None and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                value = argv[i + 1]
                i += 1
            opts[name] = value or ""
        elif name in FLAGS:
            opts[name] = True
        else:
            return "", f"Unknown option: {name}\n", 1, False
        i += 1
    if "h" in opts or "help" in opts:
        return f"{SCSTADMIN_VERSION}\n\nUsage:\n", "", 0, False
    ops = [
        k
        for k in (
            "config",
            "check_config",
            "write_config",
            "clear_config",
            "set_dev_attr",
            "enable_target",
            "disable_target",
        )
        if k in opts
    ]
    queries = [
        k for k in ("list_device", "list_target", "list_handler", "list_dev_attr") if k in opts
    ]
    if len(ops) + len(queries) > 1:
        return "Please specify only one non-query operation at a time.\n", "", 1, False
    if "clear_config" in opts and "force" not in opts:
        return "Please specify -force with -clear_config.\n", "", 1, False
    if "set_dev_attr" in opts and "attributes" not in opts:
        return "Please specify -attributes with -set_dev_attr.\n", "", 1, False
    run = Run(node, read_file, cont_on_err=bool(opts.get("cont_on_err")))
    run.noprompt = bool(opts.get("noprompt"))
    run.p("\nCollecting current configuration: done.\n\n")
    force = bool(opts.get("force"))
    noprompt = bool(opts.get("noprompt"))
    rc = 0
    try:
        if "config" in opts:
            path = str(opts["config"]) or "/etc/scst.conf"
            if run.check(path):
                run.immediate_exit("Configuration has errors, aborting.")
            if force and not noprompt:
                run.p(
                    "Performing this action may result in lost or corrupt data, are you sure "
                    "you wish to continue (y/[n]) ? Aborting action.\n"
                )
            else:
                changes = run.apply(force)
                if changes and "no_lip" not in opts:
                    run.issue_lip()
        elif "check_config" in opts:
            rc = 1 if run.check(str(opts["check_config"]) or "/etc/scst.conf") else 0
        elif "write_config" in opts:
            path = str(opts["write_config"])
            text = write_config(node, bool(opts.get("nonkey")))
            if not write_file(path, text):
                run.p(f"Failed to save configuration to file '{path}': No such file or directory\n")
                rc = 1
            else:
                run.p(f"Writing current configuration to file '{path}'.. ")
        elif "clear_config" in opts:
            if not noprompt:
                run.p(
                    "Performing this action may result in lost or corrupt data, are you sure "
                    "you wish to continue (y/[n]) ? Aborting action.\n"
                )
            else:
                run.clear()
                run.issue_lip()
        elif "set_dev_attr" in opts:
            if not run.prompt():
                run.p("\n-> Making requested changes.\n")
                changes = run.set_device_attributes(
                    str(opts["set_dev_attr"]), parse_attributes(str(opts["attributes"])), True
                )
                run.p(f"\t-> Done, {changes} change(s) made.\n")
        elif "enable_target" in opts:
            run.p("\n-> Making requested changes.\n")
            run.set_target_enabled(_opt(opts, "driver"), str(opts["enable_target"]), 1)
            run.p("\t-> Done.\n")
        elif "disable_target" in opts:
            if not run.prompt():
                run.p("\n-> Making requested changes.\n")
                run.set_target_enabled(_opt(opts, "driver"), str(opts["disable_target"]), 0)
                run.p("\t-> Done.\n")
        elif "list_device" in opts:
            if opts["list_device"]:
                run.list_device(str(opts["list_device"]), bool(opts.get("nonkey")))
            else:
                run.list_devices()
        elif "list_dev_attr" in opts:
            run.list_device(str(opts["list_dev_attr"]), bool(opts.get("nonkey")))
        elif "list_target" in opts:
            run.list_targets(str(opts.get("driver") or ""))
        elif "list_handler" in opts:
            run.list_devices()
        else:
            run.p("No valid operations specified.\n")
            raise Exit(1)
    except Exit as e:
        return "".join(run.out), "".join(run.err), e.code, run.changed
    run.p("\nAll done.\n")
    return "".join(run.out), "".join(run.err), rc, run.changed


def _opt(opts: dict[str, str | bool], name: str) -> str | None:
    value = opts.get(name)
    return value if isinstance(value, str) else None


def parse_attributes(text: str) -> dict[str, str]:
    """getArgs' -attributes: `split(/\\,/)` (trailing empty fields dropped), then
    `name=value` split at the first `=`; a name alone means 1. A repeated name keeps its
    last value (a Perl hash); names are applied in sorted order (Perl's is random)."""
    fields = text.split(",")
    while fields and fields[-1] == "":
        fields.pop()
    attrs: dict[str, str] = {}
    for f in fields:
        name, eq, value = f.partition("=")
        attrs[name] = value if eq else "1"
    return dict(sorted(attrs.items()))


def _kstrtol(text: str) -> int | None:
    """Linux kstrtol(s, 0, &v): sign, 0x (hex) or 0 (octal) prefix, one trailing newline."""
    t = text[:-1] if text.endswith("\n") else text
    m = re.fullmatch(r"([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)", t)
    if not m:
        return None
    body = m.group(2)
    if body[:2].lower() == "0x":
        v = int(body, 16)
    else:
        v = int(body, 8) if body.startswith("0") else int(body)
    return -v if m.group(1) == "-" else v


def _hex_id(value: str) -> str | None:
    """eui64_id/naa_id store: blanks trimmed, a `0x` prefix dropped, hex digits."""
    h = value.strip()
    if h.startswith("0x"):
        h = h[2:]
    return h if re.fullmatch(r"[0-9a-fA-F]*", h) else None


def store_device_attr(dev: Device, attr: str, value: str) -> str | None:
    """Write VALUE to the device's sysfs attribute as scst_vdisk.c's store functions do;
    returns the errno name of a refused write (SCST.pm prints it), None when written."""
    if attr in ("cluster_mode", "active"):
        # vdev_sysfs_process_{cluster_mode,active}_store: kstrtol, then 0 or 1. Accepted
        # with targets enabled and sessions logged in (the store suspends SCST activity
        # around it) and without a running DLM (scst_pr_dlm_init ignores a lockspace it
        # cannot create; lab.stack then lists no lockspace for the device).
        n = _kstrtol(value)
        if n is None or n not in (0, 1):
            return "EINVAL"
        dev.attrs[attr] = str(n)
    elif attr == "t10_dev_id":
        if dev.value("cluster_mode", 0) != "0":
            return "EPERM"  # vdev_sysfs_t10_dev_id_store: not while cluster_mode is on
        if len(value) > 25:  # char t10_dev_id[16 + 8 + 2], written without a newline
            return "EINVAL"
        dev.attrs[attr] = value.split("\n")[0]
    elif attr in ("usn", "prod_id", "t10_vend_id"):
        # char usn[20 + 1], prod_id[16 + 1], t10_vend_id[8 + 1]
        limit = {"usn": 20, "prod_id": 16, "t10_vend_id": 8}[attr]
        text = value.split("\n")[0]
        if len(text) > limit:
            return "EINVAL"
        dev.attrs[attr] = text
    elif attr in ("eui64_id", "naa_id"):
        h = _hex_id(value)
        if h is None:
            return "EINVAL"
        if attr == "eui64_id" and len(h) not in (0, 16, 24, 32):
            return "EINVAL"
        if attr == "naa_id" and not (
            len(h) == 0 or (len(h) == 16 and h[0] in "235") or (len(h) == 32 and h[0] == "6")
        ):
            return "EINVAL"
        if h:
            dev.attrs[attr] = "0x" + h.lower()  # the show functions print %02x bytes
        else:
            dev.attrs.pop(attr, None)
    elif attr in ("size", "size_mb"):
        n = _kstrtol(value)
        if n is None or n < 0:
            return "EINVAL"
        dev.size = n * (1024 * 1024 if attr == "size_mb" else 1)
    elif attr == "filename":
        dev.attrs[attr] = value
    else:
        return "EINVAL"
    return None
