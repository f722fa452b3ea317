"""The virtual /sys/kernel/scst_tgt tree, built from a node's SCST state.

Layout and attribute formats follow scst/README and scst/src/scst_sysfs.c: an
attribute holds its value, and a last line `[key]` when the value is not the
default (SCST_SYSFS_KEY_MARK). Links are relative, as sysfs creates them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from lab.state import CM_DRIVER, CM_TARGET, SCST_VERSION, Device, NodeState, Session, Target

ROOT = "/sys/kernel/scst_tgt"
KEY = "[key]\n"
TYPE_DISK = "0 - Direct-access device (e.g., magnetic disk)\n"


@dataclass
class Tree:
    files: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)
    _index: dict[str, list[str]] | None = None

    def file(self, path: str, text: str) -> None:
        self.files[path] = text
        self._parents(path)

    def link(self, path: str, target: str) -> None:
        self.links[path] = target
        self._parents(path)

    def mkdir(self, path: str) -> None:
        self.dirs.add(path)
        self._parents(path)

    def _parents(self, path: str) -> None:
        parent = path.rsplit("/", 1)[0]
        while parent.startswith(ROOT) and parent not in self.dirs:
            self.dirs.add(parent)
            parent = parent.rsplit("/", 1)[0]

    def children(self, path: str) -> list[str]:
        if self._index is None:
            index: dict[str, set[str]] = {}
            for p in (*self.files, *self.links, *self.dirs):
                parent, _, name = p.rpartition("/")
                index.setdefault(parent, set()).add(name)
            self._index = {k: sorted(v) for k, v in index.items()}
        return self._index.get(path.rstrip("/"), [])


def _attr(value: str, key: bool) -> str:
    return f"{value}\n" + (KEY if key else "")


def _rel(src: str, dst: str) -> str:
    """Relative link text from the directory of SRC to DST (both absolute)."""
    s = src.split("/")[:-1]
    d = dst.split("/")
    i = 0
    while i < min(len(s), len(d)) and s[i] == d[i]:
        i += 1
    return "/".join([".."] * (len(s) - i) + d[i:])


def session_counters(s: Session, now: float | None = None) -> dict[str, int]:
    """Counters of a session doing I/O: they rise with time when io_rate_kb > 0."""
    c = {
        "commands": s.commands,
        "active_commands": s.active_commands,
        "read_cmd_count": s.read_cmd_count,
        "write_cmd_count": s.write_cmd_count,
        "read_io_count_kb": s.read_io_count_kb,
        "write_io_count_kb": s.write_io_count_kb,
    }
    if s.io_rate_kb and s.started:
        secs = max(0.0, (now or time.time()) - s.started)
        kb = int(secs * s.io_rate_kb)
        cmds = kb // 64
        c["read_io_count_kb"] += kb // 2
        c["write_io_count_kb"] += kb - kb // 2
        c["read_cmd_count"] += cmds // 2
        c["write_cmd_count"] += cmds - cmds // 2
        c["commands"] += cmds
        c["active_commands"] = max(c["active_commands"], 1)
    return c


def pr_state_text(dev: Device) -> str:
    """scst_pres.c scst_pr_state_show serialisation."""
    pr = dev.pr
    lines = ["version 1", f"generation {pr.generation}"]
    if pr.reservation is not None:
        lines.append(f"reservation {pr.reservation[0]:02x} {pr.reservation[1]:02x}")
    for r in pr.registrants:
        tid = r.transport_id
        lines.append(f"registrant {r.rel_tgt_id} {r.key:016x} {r.holder} {len(tid) // 2} {tid}")
    return "\n".join(lines) + "\n"


def device_attr_names(dev: Device) -> list[str]:
    names = [
        "active",
        "blocksize",
        "cluster_mode",
        "eui64_id",
        "filename",
        "naa_id",
        "nv_cache",
        "prod_id",
        "read_only",
        "removable",
        "rotational",
        "size",
        "size_mb",
        "t10_dev_id",
        "t10_vend_id",
        "thin_provisioned",
        "type",
        "usn",
        "write_through",
    ]
    return names


def device_files(dev: Device, setup_id: int) -> dict[str, str]:
    """name -> file content of a vdisk device's attribute files."""
    out = {}
    for name in device_attr_names(dev):
        if name == "size":
            out[name] = f"{dev.size}\n"
        elif name == "size_mb":
            out[name] = f"{dev.size // (1024 * 1024)}\n"
        elif name == "type":
            out[name] = TYPE_DISK
        elif name == "filename":
            out[name] = _attr(dev.attrs.get("filename", ""), True)
        else:
            value = dev.value(name, setup_id)
            key = name in dev.attrs
            if name in ("eui64_id", "naa_id") and not value:
                out[name] = "\n" if not key else _attr(value, True)
            else:
                out[name] = _attr(value, key and dev.is_key(name))
    out["pr_state"] = pr_state_text(dev)
    return out


def _luns(tree: Tree, base: str, luns: dict) -> None:
    tree.mkdir(f"{base}/luns")
    tree.file(f"{base}/luns/mgmt", "")
    for lun in luns.values():
        d = f"{base}/luns/{lun.lun}"
        tree.file(f"{d}/read_only", _attr(lun.read_only, lun.read_only != "0"))
        dev_path = f"{ROOT}/devices/{lun.device}"
        tree.link(f"{d}/device", _rel(f"{d}/device", dev_path))


def _sessions(tree: Tree, base: str, tgt: Target, now: float) -> None:
    tree.mkdir(f"{base}/sessions")
    for s in tgt.sessions.values():
        d = f"{base}/sessions/{s.initiator_name}"
        c = session_counters(s, now)
        tree.file(f"{d}/initiator_name", f"{s.initiator_name}\n")
        if tgt.name != CM_TARGET:  # write-only (0200): iscsi-scst has close_session
            tree.file(f"{d}/force_close", "")
        for k in (
            "active_commands",
            "commands",
            "read_cmd_count",
            "read_io_count_kb",
            "write_cmd_count",
            "write_io_count_kb",
        ):
            tree.file(f"{d}/{k}", f"{c[k]}\n")
        lun_set = tgt.luns if s.group is None else tgt.groups[s.group].luns
        luns_dir = f"{base}/luns" if s.group is None else f"{base}/ini_groups/{s.group}/luns"
        tree.link(f"{d}/luns", _rel(f"{d}/luns", luns_dir))
        for lun in lun_set.values():
            tree.file(f"{d}/lun{lun.lun}/active_commands", "0\n")


def build(node: NodeState, now: float | None = None) -> Tree:
    """The whole tree for NODE."""
    now = now or time.time()
    scst = node.scst
    tree = Tree()
    tree.mkdir(ROOT)
    tree.file(f"{ROOT}/version", f"{SCST_VERSION}\n")
    tree.file(f"{ROOT}/setup_id", _attr(f"0x{scst.setup_id:x}", scst.setup_id != 0))
    tree.file(f"{ROOT}/last_sysfs_mgmt_res", "0\n")
    tree.mkdir(f"{ROOT}/sgv")
    # handlers
    for handler in ("vdisk_blockio", "vdisk_fileio"):
        h = f"{ROOT}/handlers/{handler}"
        tree.file(f"{h}/mgmt", "")
        tree.file(f"{h}/type", TYPE_DISK)
    # devices
    exported: dict[str, list[str]] = {}
    for driver, targets in scst.drivers.items():
        for tgt in targets.values():
            t = f"{ROOT}/targets/{driver}/{tgt.name}"
            for lun in tgt.luns.values():
                exported.setdefault(lun.device, []).append(f"{t}/luns/{lun.lun}")
            for g in tgt.groups.values():
                for lun in g.luns.values():
                    exported.setdefault(lun.device, []).append(
                        f"{t}/ini_groups/{g.name}/luns/{lun.lun}"
                    )
    for dev in scst.devices.values():
        d = f"{ROOT}/devices/{dev.name}"
        for name, text in device_files(dev, scst.setup_id).items():
            tree.file(f"{d}/{name}", text)
        h = f"{ROOT}/handlers/{dev.handler}"
        tree.link(f"{d}/handler", _rel(f"{d}/handler", h))
        tree.link(f"{h}/{dev.name}", _rel(f"{h}/{dev.name}", d))
        tree.mkdir(f"{d}/exported")
        for i, lun_dir in enumerate(exported.get(dev.name, [])):
            tree.link(f"{d}/exported/export{i}", _rel(f"{d}/exported/export{i}", lun_dir))
    # targets
    for driver, targets in scst.drivers.items():
        dd = f"{ROOT}/targets/{driver}"
        cm = driver == CM_DRIVER
        if cm:
            # scst_copy_mgr.c: the template's only attribute (tgtt_attrs), "%d\n" plus
            # [key] when not SCST_ALLOW_NOT_CONN_COPY_DEF; enabled_attr_not_needed, and no
            # add_target, so neither `enabled` nor `mgmt`.
            v = scst.cm_allow_not_connected_copy
            tree.file(f"{dd}/allow_not_connected_copy", _attr(str(v), v != 0))
        else:
            tree.file(f"{dd}/mgmt", "")
            tree.file(f"{dd}/enabled", f"{scst.driver_enabled.get(driver, 0)}\n")
        for tgt in targets.values():
            t = f"{dd}/{tgt.name}"
            if not cm:
                tree.file(f"{t}/enabled", f"{tgt.enabled}\n")
            tree.file(f"{t}/rel_tgt_id", _attr(str(tgt.rel_tgt_id), tgt.rel_tgt_id != 0))
            tree.file(f"{t}/addr_method", "PERIPHERAL\n")
            tree.file(f"{t}/io_grouping_type", "auto\n")
            if not cm:  # tid is iscsi-scst's target attribute
                tree.file(f"{t}/tid", f"{tgt.tid}\n")
            for attr, values in sorted(tgt.attrs.items()):
                for i, value in enumerate(values):
                    name = attr if i == 0 else f"{attr}{i}"
                    tree.file(f"{t}/{name}", _attr(value, True))
            _luns(tree, t, tgt.luns)
            tree.file(f"{t}/ini_groups/mgmt", "")
            for g in tgt.groups.values():
                gd = f"{t}/ini_groups/{g.name}"
                _luns(tree, gd, g.luns)
                tree.file(f"{gd}/initiators/mgmt", "")
                for ini in g.initiators:
                    tree.file(f"{gd}/initiators/{ini}", f"{ini}\n")
            _sessions(tree, t, tgt, now)
    # ALUA
    tree.file(f"{ROOT}/device_groups/mgmt", "")
    for dg in scst.device_groups.values():
        dgd = f"{ROOT}/device_groups/{dg.name}"
        tree.file(f"{dgd}/devices/mgmt", "")
        for dev_name in dg.devices:
            tree.link(
                f"{dgd}/devices/{dev_name}", _rel(f"{dgd}/devices/x", f"{ROOT}/devices/{dev_name}")
            )
        tree.file(f"{dgd}/target_groups/mgmt", "")
        for tg in dg.target_groups.values():
            tgd = f"{dgd}/target_groups/{tg.name}"
            tree.file(f"{tgd}/group_id", _attr(str(tg.group_id), tg.group_id != 0))
            tree.file(f"{tgd}/state", _attr(tg.state, True))
            tree.file(f"{tgd}/mgmt", "")
            for tname, rel in tg.targets.items():
                tree.file(f"{tgd}/{tname}/rel_tgt_id", _attr(str(rel or 0), bool(rel)))
    return tree


def grep_dump(tree: Tree, top: str) -> str:
    """`grep -r -s -Z --exclude=mgmt '' TOP`: PATH NUL LINE per line of each file."""
    out: list[str] = []

    def walk(path: str) -> None:
        if path in tree.files:
            if path.rsplit("/", 1)[1] == "mgmt":
                return
            text = tree.files[path]
            if not text:
                return
            lines = text.split("\n")
            if lines[-1] == "":
                lines.pop()
            out.extend(f"{path}\0{line}\n" for line in lines)
            return
        if path in tree.dirs:
            for name in tree.children(path):
                walk(f"{path}/{name}")

    walk(top.rstrip("/") or "/")
    return "".join(out)


def find_links(tree: Tree, top: str) -> str:
    """`find TOP -type l -printf '%p\\0%l\\n'`."""
    top = top.rstrip("/")
    out: list[str] = []

    def walk(path: str) -> None:
        if path in tree.links:
            out.append(f"{path}\0{tree.links[path]}\n")
            return
        if path in tree.dirs:
            for name in tree.children(path):
                walk(f"{path}/{name}")

    walk(top)
    return "".join(out)
