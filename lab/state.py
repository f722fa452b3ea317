"""A lab node's state: SCST objects and DRBD running state, JSON-serialisable.

SCST attribute defaults follow scst/README and scst/src/dev_handlers/scst_vdisk.c;
DRBD state names follow drbd-utils (drbd_strings.c).
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

SCST_VERSION = "3.7.0"
SCSTADMIN_VERSION = "SCST Configurator v3.7.0"
DRBDADM_VERSION = "9.22.0"
DRBDADM_VERSION_CODE = "0x091600"
DRBDADM_BUILDTAG = (
    "GIT-hash:\\ 409097fe02187f83790b88ac3e0d94f3c167adab\\ reproducible\\ build\\,"
    "\\ 2023-01-09\\ 14:51:18"
)
DRBD_KERNEL = {"9": ("9.2.12", "0x09020c"), "8.4": ("8.4.11", "0x08040b")}

# vdisk creation parameters (scst/README); the rest are run-time attributes.
VDISK_CREATE_PARAMS = {
    "vdisk_fileio": {
        "active",
        "async",
        "bind_alua_state",
        "blocksize",
        "cluster_mode",
        "dif_filename",
        "dif_mode",
        "dif_static_app_tag",
        "dif_type",
        "filename",
        "numa_node_id",
        "nv_cache",
        "o_direct",
        "read_only",
        "removable",
        "rotational",
        "thin_provisioned",
        "tst",
        "t10_dev_id",
        "write_through",
    },
    "vdisk_blockio": {
        "active",
        "bind_alua_state",
        "blocksize",
        "cluster_mode",
        "dif_filename",
        "dif_mode",
        "dif_static_app_tag",
        "dif_type",
        "filename",
        "numa_node_id",
        "nv_cache",
        "read_only",
        "removable",
        "rotational",
        "thin_provisioned",
        "tst",
        "t10_dev_id",
        "write_through",
    },
}
HANDLERS = ("vdisk_blockio", "vdisk_fileio")
# SCST's built-in copy manager (scst/src/scst_copy_mgr.c): scst_cm_init() registers the
# target driver SCST_CM_NAME with one target and one session; every device of a handler
# with auto_cm_assignment_possible (the vdisk handlers) gets a LUN on that target when it
# is registered and loses it when it is unregistered.
CM_DRIVER = "copy_manager"
CM_TARGET = "copy_manager_tgt"
CM_SESSION = "copy_manager_sess"
SCST_MAX_LUN = 16383  # scst.h: LUNs run 0..SCST_MAX_LUN-1
VENDOR = {"vdisk_blockio": "SCST_BIO", "vdisk_fileio": "SCST_FIO"}
# Device attribute defaults: value shown when not set ([key] appears only when set).
DEVICE_DEFAULTS = {
    "active": "1",
    "blocksize": "512",
    "cluster_mode": "0",
    "nv_cache": "0",
    "read_only": "0",
    "removable": "0",
    "rotational": "1",
    "thin_provisioned": "0",
    "write_through": "0",
}
# Attributes that are device identity, derived when not set explicitly.
IDENTITY = ("t10_dev_id", "usn", "prod_id", "t10_vend_id", "eui64_id", "naa_id")


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C = _crc32c_table()


def crc32c_raw(data: bytes, crc: int = 0) -> int:
    """Linux lib/libcrc32c `crc32c(seed, buf, len)`: no pre- or post-inversion."""
    for b in data:
        crc = _CRC32C[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


def dev_id_num(name: str, setup_id: int) -> int:
    """scst_vdisk.c vdisk_gen_dev_id_num: crc32c(name + NUL) | setup_id << 32."""
    return (setup_id << 32) | crc32c_raw(name.encode() + b"\0")


@dataclass
class PrRegistrant:
    rel_tgt_id: int
    key: int
    holder: int = 0
    transport_id: str = ""  # hex


@dataclass
class PrState:
    generation: int = 0
    reservation: tuple[int, int] | None = None  # (type, scope)
    registrants: list[PrRegistrant] = field(default_factory=list)


@dataclass
class Device:
    name: str
    handler: str
    attrs: dict[str, str] = field(default_factory=dict)  # explicitly set values
    size: int = 10 * 1024**3
    pr: PrState = field(default_factory=PrState)

    def value(self, attr: str, setup_id: int) -> str:
        """The attribute's effective value as the sysfs file shows it (first line)."""
        if attr in self.attrs:
            return self.attrs[attr]
        if attr == "t10_dev_id":
            return f"{dev_id_num(self.name, setup_id):x}-{self.name}"[:16]
        if attr == "usn":
            return f"{dev_id_num(self.name, setup_id):x}"
        if attr == "prod_id":
            return self.name[:16]
        if attr == "t10_vend_id":
            return VENDOR[self.handler]
        if attr in ("eui64_id", "naa_id"):
            return ""
        return DEVICE_DEFAULTS.get(attr, "")

    def is_key(self, attr: str) -> bool:
        if attr == "filename":
            return True
        return attr in self.attrs and (
            attr not in DEVICE_DEFAULTS or self.attrs[attr] != DEVICE_DEFAULTS[attr]
        )


@dataclass
class Lun:
    lun: int
    device: str
    read_only: str = "0"


@dataclass
class IniGroup:
    name: str
    luns: dict[str, Lun] = field(default_factory=dict)
    initiators: list[str] = field(default_factory=list)


@dataclass
class Session:
    initiator_name: str
    group: str | None = None  # ini group whose LUN set is in use, None = target LUNs
    commands: int = 0
    active_commands: int = 0
    read_cmd_count: int = 0
    write_cmd_count: int = 0
    read_io_count_kb: int = 0
    write_io_count_kb: int = 0
    io_rate_kb: int = 0  # counters rise by this much per second when > 0
    started: float = 0.0


@dataclass
class Target:
    name: str
    enabled: int = 0
    rel_tgt_id: int = 0
    tid: int = 1
    attrs: dict[str, list[str]] = field(default_factory=dict)
    luns: dict[str, Lun] = field(default_factory=dict)
    groups: dict[str, IniGroup] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    # Initiators whose session was force-closed while the target was disabled: they keep
    # retrying their login and are back as soon as the target is enabled (lab/maintenance.py).
    waiting_logins: dict[str, Session] = field(default_factory=dict)


@dataclass
class TargetGroup:
    name: str
    group_id: int = 0
    state: str = "active"
    targets: dict[str, int | None] = field(default_factory=dict)  # target -> rel_tgt_id


@dataclass
class DeviceGroup:
    name: str
    devices: list[str] = field(default_factory=list)
    target_groups: dict[str, TargetGroup] = field(default_factory=dict)


def cm_target() -> Target:
    """copy_manager_tgt as scst_cm_init() leaves it: no LUNs, its own session."""
    return Target(name=CM_TARGET, tid=0, sessions={CM_SESSION: Session(initiator_name=CM_SESSION)})


@dataclass
class Scst:
    setup_id: int = 0
    devices: dict[str, Device] = field(default_factory=dict)
    drivers: dict[str, dict[str, Target]] = field(
        default_factory=lambda: {CM_DRIVER: {CM_TARGET: cm_target()}, "iscsi": {}}
    )
    driver_enabled: dict[str, int] = field(default_factory=lambda: {"iscsi": 1})
    device_groups: dict[str, DeviceGroup] = field(default_factory=dict)
    cm_next_lun: int = 0  # scst_copy_mgr.c scst_cm_next_lun: never reused until reload
    cm_allow_not_connected_copy: int = 0

    def cm_luns(self) -> dict[str, Lun] | None:
        tgt = self.drivers.get(CM_DRIVER, {}).get(CM_TARGET)
        return None if tgt is None else tgt.luns

    def register_device(self, dev: Device) -> None:
        """A device opened (scst_register_virtual_device): scst_cm_on_dev_register gives
        it a LUN on copy_manager_tgt at scst_cm_next_lun++, skipping LUNs in use."""
        self.devices[dev.name] = dev
        luns = self.cm_luns()
        if luns is None or any(lun.device == dev.name for lun in luns.values()):
            return
        while True:
            lun = self.cm_next_lun
            self.cm_next_lun += 1
            if lun == SCST_MAX_LUN:
                continue
            if str(lun) not in luns:
                break
        luns[str(lun)] = Lun(lun=lun, device=dev.name)

    def unregister_device(self, name: str) -> None:
        """A device closed: every LUN of it goes, copy_manager_tgt's included
        (scst_cm_on_dev_unregister, then the acg_dev removals)."""
        self.devices.pop(name, None)
        for targets in self.drivers.values():
            for tgt in targets.values():
                for luns in [tgt.luns, *(g.luns for g in tgt.groups.values())]:
                    for k in [k for k, v in luns.items() if v.device == name]:
                        del luns[k]

    def drop_dangling_cm_luns(self) -> None:
        """copy_manager LUNs of devices that were removed from the state directly."""
        luns = self.cm_luns()
        if luns is not None:
            for k in [k for k, v in luns.items() if v.device not in self.devices]:
                del luns[k]


@dataclass
class NodeInfo:
    name: str  # host name (uname -n) = DRBD `on` name
    cluster: str
    address: str  # replication address of this node
    drbd_version: str = "9"  # "9" or "8.4"
    node_id: int = 0


@dataclass
class NodeState:
    info: NodeInfo
    scst: Scst = field(default_factory=Scst)
    disks: dict[str, int] = field(default_factory=dict)  # block device path -> size in bytes
    drbd_md: list[str] = field(default_factory=list)  # disks holding DRBD meta data


# --- DRBD running state, shared by the two nodes of a cluster -----------------


@dataclass
class DrbdVolumeRun:
    volume: int
    minor: int
    disk: str = "UpToDate"
    size_kib: int = 10 * 1024**2
    out_of_sync_kib: int = 0  # what this node's bitmap says about the peer
    diverged_kib: int = 0  # data differing from the peer unknown to DRBD (online verify finds it)


@dataclass
class DrbdSideRun:
    """One node's running view of one resource."""

    up: bool = True
    role: str = "Secondary"
    cstate: str = "Connected"  # this node's connection state towards the peer
    volumes: list[DrbdVolumeRun] = field(default_factory=list)
    net: dict[str, str] = field(default_factory=dict)  # net options in force
    disk_opts: dict[str, str] = field(default_factory=dict)
    written_kib: int = 0
    # A running online verify or resync (lab/workflow_cmds.py): VerifyS/VerifyT or
    # SyncSource/SyncTarget until the time repl_until (time.time()), then Established.
    repl: str = ""
    repl_until: float = 0.0
    discard_my_data: bool = False  # `connect --discard-my-data` waiting for the peer


@dataclass
class DrbdResourceRun:
    name: str
    sides: dict[str, DrbdSideRun] = field(default_factory=dict)  # node name -> side
    split_brain: bool = False  # reconnecting detects it again until resolved


@dataclass
class ClusterState:
    name: str
    nodes: list[str]
    node_ids: dict[str, int] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)
    resources: dict[str, DrbdResourceRun] = field(default_factory=dict)


# --- (de)serialisation --------------------------------------------------------


def to_json(obj: DataclassInstance) -> str:
    return json.dumps(dataclasses.asdict(obj), separators=(",", ":"))


def _lun(d: dict) -> Lun:
    return Lun(**d)


def node_from_dict(d: dict) -> NodeState:
    s = d["scst"]
    devices = {}
    for name, dev in s["devices"].items():
        pr = dev.get("pr") or {}
        res = pr.get("reservation")
        devices[name] = Device(
            name=dev["name"],
            handler=dev["handler"],
            attrs=dev["attrs"],
            size=dev["size"],
            pr=PrState(
                generation=pr.get("generation", 0),
                reservation=tuple(res) if res else None,
                registrants=[PrRegistrant(**r) for r in pr.get("registrants", [])],
            ),
        )
    drivers: dict[str, dict[str, Target]] = {}
    for drv, targets in s["drivers"].items():
        drivers[drv] = {}
        for tname, t in targets.items():
            drivers[drv][tname] = Target(
                name=t["name"],
                enabled=t["enabled"],
                rel_tgt_id=t["rel_tgt_id"],
                tid=t.get("tid", 1),
                attrs=t.get("attrs", {}),
                luns={k: _lun(v) for k, v in t["luns"].items()},
                groups={
                    g: IniGroup(
                        name=gv["name"],
                        luns={k: _lun(v) for k, v in gv["luns"].items()},
                        initiators=gv["initiators"],
                    )
                    for g, gv in t["groups"].items()
                },
                sessions={k: Session(**v) for k, v in t["sessions"].items()},
                waiting_logins={k: Session(**v) for k, v in t.get("waiting_logins", {}).items()},
            )
    if CM_DRIVER not in drivers:
        # A state written before the copy manager was emulated: register the devices now.
        cm = cm_target()
        for i, name in enumerate(sorted(devices)):
            cm.luns[str(i)] = Lun(lun=i, device=name)
        drivers = {CM_DRIVER: {CM_TARGET: cm}, **drivers}
        s = {**s, "cm_next_lun": len(devices)}
    dgs = {}
    for name, dg in s["device_groups"].items():
        dgs[name] = DeviceGroup(
            name=dg["name"],
            devices=dg["devices"],
            target_groups={k: TargetGroup(**v) for k, v in dg["target_groups"].items()},
        )
    return NodeState(
        info=NodeInfo(**d["info"]),
        disks=d.get("disks", {}),
        drbd_md=d.get("drbd_md", []),
        scst=Scst(
            setup_id=s["setup_id"],
            devices=devices,
            drivers=drivers,
            driver_enabled=s["driver_enabled"],
            device_groups=dgs,
            cm_next_lun=s.get("cm_next_lun", 0),
            cm_allow_not_connected_copy=s.get("cm_allow_not_connected_copy", 0),
        ),
    )


def cluster_from_dict(d: dict) -> ClusterState:
    resources = {}
    for name, r in d["resources"].items():
        sides = {}
        for node, sd in r["sides"].items():
            sd = dict(sd)
            sd["volumes"] = [DrbdVolumeRun(**v) for v in sd["volumes"]]
            sides[node] = DrbdSideRun(**sd)
        resources[name] = DrbdResourceRun(
            name=r["name"], sides=sides, split_brain=r.get("split_brain", False)
        )
    return ClusterState(
        name=d["name"],
        nodes=d["nodes"],
        node_ids=d["node_ids"],
        addresses=d["addresses"],
        resources=resources,
    )


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive flock on PATH (created if missing) for the duration."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
