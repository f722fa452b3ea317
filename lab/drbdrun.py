"""DRBD running state as drbdadm/drbdsetup 9.22 show it, and the commands
that change it (adjust, primary, secondary).

Formats follow drbd-utils' drbdsetup_main.c (status --json, show) and the
samples in tests/fixtures/drbd.
"""

from __future__ import annotations

from lab import drbdconf
from lab.node import Node
from lab.state import (
    DRBD_KERNEL,
    DrbdResourceRun,
    DrbdSideRun,
    DrbdVolumeRun,
)

# drbd_limits.h defaults: options equal to these are omitted by `drbdsetup show`.
NET_DEFAULTS = {
    "protocol": "C",
    "allow-two-primaries": "no",
    "fencing": "dont-care",
    "after-sb-0pri": "disconnect",
    "after-sb-1pri": "disconnect",
    "after-sb-2pri": "disconnect",
    "always-asbp": "no",
    "rr-conflict": "disconnect",
    "tcp-cork": "yes",
    "use-rle": "yes",
    "timeout": "60",
    "connect-int": "10",
    "ping-int": "10",
    "ping-timeout": "5",
    "max-buffers": "2048",
    "max-epoch-size": "2048",
    "ko-count": "7",
    "sndbuf-size": "0",
    "rcvbuf-size": "0",
    "on-congestion": "block",
    "discard-my-data": "no",
    "load-balance-paths": "no",
}
# Field order of net_conf (drbd_genl.h), which is the order `show` prints.
NET_ORDER = [
    "shared-secret",
    "cram-hmac-alg",
    "integrity-alg",
    "verify-alg",
    "csums-alg",
    "protocol",
    "connect-int",
    "timeout",
    "ping-int",
    "ping-timeout",
    "sndbuf-size",
    "rcvbuf-size",
    "ko-count",
    "max-buffers",
    "max-epoch-size",
    "unplug-watermark",
    "after-sb-0pri",
    "after-sb-1pri",
    "after-sb-2pri",
    "rr-conflict",
    "on-congestion",
    "congestion-fill",
    "congestion-extents",
    "allow-two-primaries",
    "discard-my-data",
    "tcp-cork",
    "always-asbp",
    "use-rle",
    "csums-after-crash-only",
    "sock-check-timeo",
    "fencing",
    "load-balance-paths",
]
DISK_DEFAULTS = {
    "on-io-error": "pass_on",
    "disk-flushes": "yes",
    "md-flushes": "yes",
    "disk-barrier": "no",
    "disk-drain": "yes",
}
CONNECTING_84 = {"Connecting": "WFConnection"}


class DrbdError(Exception):
    def __init__(self, stderr: str, code: int) -> None:
        super().__init__(stderr)
        self.stderr = stderr
        self.code = code


def peer_name(node: Node) -> str:
    return next(n for n in node.cluster.nodes if n != node.name)


def _sides(node: Node, res: DrbdResourceRun) -> tuple[DrbdSideRun, DrbdSideRun | None]:
    return res.sides[node.name], res.sides.get(peer_name(node))


def _connected(side: DrbdSideRun) -> bool:
    return side.cstate == "Connected"


def running(node: Node, name: str | None) -> list[DrbdResourceRun]:
    res = [
        r for r in node.cluster.resources.values() if node.name in r.sides and r.sides[node.name].up
    ]
    res.sort(key=lambda r: r.name)
    if name not in (None, "all"):
        res = [r for r in res if r.name == name]
    return res


def status_json(node: Node, name: str | None) -> str:
    from lab.workflow_cmds import replication, settle

    settle(node)  # an online verify or resync that ended since
    blocks = []
    for r in running(node, name):
        me, peer = _sides(node, r)
        connected = _connected(me) and peer is not None
        node_id = node.cluster.node_ids[node.name]
        out = (
            "{\n"
            f'  "name": "{r.name}",\n'
            f'  "node-id": {node_id},\n'
            f'  "role": "{me.role}",\n'
            '  "suspended": false,\n'
            '  "write-ordering": "flush",\n'
            '  "devices": [\n'
        )
        devs = []
        for v in me.volumes:
            devs.append(
                "    {\n"
                f'      "volume": {v.volume},\n'
                f'      "minor": {v.minor},\n'
                f'      "disk-state": "{v.disk}",\n'
                '      "client": false,\n'
                '      "quorum": true,\n'
                f'      "size": {v.size_kib},\n'
                '      "read": 0,\n'
                f'      "written": {me.written_kib},\n'
                '      "al-writes": 0,\n'
                '      "bm-writes": 0,\n'
                '      "upper-pending": 0,\n'
                '      "lower-pending": 0\n'
                "    }"
            )
        out += ",\n".join(devs) + ' ],\n  "connections": [\n'
        pname = peer_name(node)
        peer_role = peer.role if connected and peer else "Unknown"
        conn = (
            "    {\n"
            f'      "peer-node-id": {node.cluster.node_ids[pname]},\n'
            f'      "name": "{pname}",\n'
            f'      "connection-state": "{me.cstate}", \n'
            '      "congested": false,\n'
            f'      "peer-role": "{peer_role}",\n'
            '      "ap-in-flight": 0,\n'
            '      "rs-in-flight": 0,\n'
            '      "peer_devices": [\n'
        )
        pds = []
        for i, v in enumerate(me.volumes):
            pdisk = peer.volumes[i].disk if connected and peer else "DUnknown"
            repl = replication(me) if connected else "Off"
            pct = 100 * (1 - v.out_of_sync_kib / v.size_kib) if v.size_kib else 0
            pds.append(
                "        {\n"
                f'          "volume": {v.volume},\n'
                f'          "replication-state": "{repl}",\n'
                f'          "peer-disk-state": "{pdisk}",\n'
                '          "peer-client": false,\n'
                '          "resync-suspended": "no",\n'
                f'          "received": {peer.written_kib if connected and peer else 0},\n'
                f'          "sent": {me.written_kib if connected else 0},\n'
                f'          "out-of-sync": {v.out_of_sync_kib},\n'
                '          "pending": 0,\n'
                '          "unacked": 0,\n'
                '          "has-sync-details": false,\n'
                '          "has-online-verify-details": false,\n'
                f'          "percent-in-sync": {pct:.2f}\n'
                "        }"
            )
        conn += ",\n".join(pds) + " ]\n    }"
        out += conn + " ]\n}"
        blocks.append(out)
    return "[\n" + "\n,\n".join(blocks) + "]\n"


def status_text(node: Node, name: str | None) -> str:
    from lab.workflow_cmds import replication, settle

    settle(node)
    out = ""
    for r in running(node, name):
        me, peer = _sides(node, r)
        connected = _connected(me) and peer is not None
        single = len(me.volumes) == 1 and me.volumes[0].volume == 0
        out += f"{r.name} role:{me.role}\n"
        for v in me.volumes:
            out += "  disk:" + v.disk + "\n" if single else f"  volume:{v.volume} disk:{v.disk}\n"
        pname = peer_name(node)
        if connected and peer:
            out += f"  {pname} role:{peer.role}\n"
            for i, v in enumerate(me.volumes):
                pdisk = peer.volumes[i].disk
                line = f"replication:{replication(me)} peer-disk:{pdisk}"
                out += f"    {line}\n" if single else f"    volume:{v.volume} {line}\n"
        else:
            out += f"  {pname} connection:{me.cstate}\n"
        out += "\n"
    return out


def _opt_line(indent: int, name: str, value: str) -> str:
    return f"{' ' * (4 * indent)}{name:<16}\t{value};\n"


def _show_value(name: str, value: str) -> str:
    if name in ("shared-secret", "cram-hmac-alg", "integrity-alg", "verify-alg", "csums-alg"):
        return f'"{value}"'
    return value


def show(node: Node, name: str | None) -> str:
    runs = running(node, name)
    if not runs:
        return "# No currently configured DRBD found.\n" if name in (None, "all") else ""
    out = ""
    pname = peer_name(node)
    for r in runs:
        me, _peer = _sides(node, r)
        out += f'resource "{r.name}" {{\n'
        out += "    _this_host {\n"
        out += f"        node-id\t\t\t{node.cluster.node_ids[node.name]};\n"
        for v in me.volumes:
            out += f"        volume {v.volume} {{\n"
            out += f"            device\t\t\tminor {v.minor};\n"
            disk = me.disk_opts.get(f"_disk{v.volume}", f"/dev/lab/{r.name}_{v.volume}")
            out += f'            disk\t\t\t"{disk}";\n'
            out += "            meta-disk\t\t\tinternal;\n"
            dopts = [
                (k, val)
                for k, val in me.disk_opts.items()
                if not k.startswith("_") and DISK_DEFAULTS.get(k) != val
            ]
            if dopts:
                out += "            disk {\n"
                out += "".join(_opt_line(4, k, val) for k, val in dopts)
                out += "            }\n"
            out += "        }\n"
        out += "    }\n"
        out += "    connection {\n"
        out += f"        _peer_node_id {node.cluster.node_ids[pname]};\n"
        port = me.net.get("_port", "7789")
        out += "        path {\n"
        out += f"            _this_host ipv4 {node.cluster.addresses[node.name]}:{port};\n"
        out += f"            _remote_host ipv4 {node.cluster.addresses[pname]}:{port};\n"
        out += "        }\n"
        out += f"        _cstate {me.cstate};\n"
        out += "        net {\n"
        opts = {k: v for k, v in me.net.items() if not k.startswith("_")}
        for k in sorted(opts, key=lambda k: NET_ORDER.index(k) if k in NET_ORDER else 99):
            if NET_DEFAULTS.get(k) == opts[k]:
                continue
            out += _opt_line(3, k, _show_value(k, opts[k]))
        out += _opt_line(3, "_name", f'"{pname}"')
        out += "        }\n"
        out += "    }\n"
        out += "}\n\n"
    return out


# --- drbdsetup show of DRBD 8.4 ---------------------------------------------------
# drbd-utils user/v84/drbdsetup.c show_scmd and print_options, fields in the order of
# user/v84/config_flags.c (resource_options, CHANGEABLE_NET_OPTIONS, attach's
# CHANGEABLE_DISK_OPTIONS): `options`, `net`, `_remote_host`, then `_this_host` with its
# address and volumes. A section opens whenever the kernel sends it, even when every
# value is a default (omitted); numbers print in the field's scale (`k`, `s`) and
# carry their unit as a comment; strings are double-quoted.
NET_ORDER_84 = [
    "protocol", "timeout", "max-epoch-size", "max-buffers", "unplug-watermark",
    "connect-int", "ping-int", "sndbuf-size", "rcvbuf-size", "ko-count",
    "allow-two-primaries", "cram-hmac-alg", "shared-secret", "after-sb-0pri",
    "after-sb-1pri", "after-sb-2pri", "always-asbp", "rr-conflict", "ping-timeout",
    "data-integrity-alg", "tcp-cork", "on-congestion", "congestion-fill",
    "congestion-extents", "csums-alg", "csums-after-crash-only", "verify-alg", "use-rle",
    "socket-check-timeout",
]  # fmt: skip
DISK_ORDER_84 = [
    "size", "max-bio-bvecs", "on-io-error", "fencing", "disk-barrier", "disk-flushes",
    "disk-drain", "md-flushes", "resync-rate", "resync-after", "al-extents", "al-updates",
    "discard-zeroes-if-aligned", "disable-write-same", "c-plan-ahead", "c-delay-target",
    "c-fill-target", "c-max-rate", "c-min-rate", "disk-timeout", "read-balancing",
    "rs-discard-granularity",
]  # fmt: skip
UNITS_84 = {
    "timeout": "1/10 seconds", "connect-int": "seconds", "ping-int": "seconds",
    "sndbuf-size": "bytes", "rcvbuf-size": "bytes", "ping-timeout": "1/10 seconds",
    "congestion-fill": "bytes", "size": "bytes", "resync-rate": "bytes/second",
    "c-plan-ahead": "1/10 seconds", "c-delay-target": "1/10 seconds",
    "c-fill-target": "bytes", "c-max-rate": "bytes/second", "c-min-rate": "bytes/second",
    "disk-timeout": "1/10 seconds",
}  # fmt: skip
# drbd_limits.h *_SCALE other than '1': the kernel keeps these in KiB or sectors.
SCALES_84 = {
    "resync-rate": "k", "c-max-rate": "k", "c-min-rate": "k", "size": "s",
    "c-fill-target": "s", "congestion-fill": "s",
}  # fmt: skip
STRINGS_84 = {"cram-hmac-alg", "shared-secret", "data-integrity-alg", "csums-alg", "verify-alg"}
_BYTES = {"": 1, "s": 512, "k": 1024, "m": 1024**2, "g": 1024**3}


def _value_84(name: str, value: str) -> str:
    """A configured value as the 8.4 kernel hands it back (100M resync-rate: 102400k)."""
    if name in STRINGS_84:
        return f'"{value}"'
    scale = SCALES_84.get(name)
    unit = value[-1:].lower() if value[-1:].isalpha() else ""
    if scale is None or not value.rstrip("sSkKmMgG").isdigit():
        return value
    default_unit = "s" if scale == "s" else "k"  # a bare number is in the field's scale
    number = int(value.rstrip("sSkKmMgG")) * _BYTES[unit or default_unit]
    return f"{number // _BYTES[scale]}{scale}"


def _options_84(indent: int, section: str, values: dict[str, str], order: list[str]) -> str:
    pad = " " * (4 * indent)
    out = f"{pad}{section} {{\n"
    defaults = DISK_DEFAULTS if section == "disk" else NET_DEFAULTS
    for name in order:
        if name not in values or defaults.get(name) == values[name]:
            continue
        unit = f" # {UNITS_84[name]}" if name in UNITS_84 else ""
        out += f"{pad}    {name:<16}\t{_value_84(name, values[name])};{unit}\n"
    return out + f"{pad}}}\n"


def show_84(node: Node, name: str | None) -> str:
    """`drbdsetup show` of a DRBD 8.4 node (drbd-utils user/v84 show_scmd)."""
    pname = peer_name(node)
    blocks = []
    for r in running(node, name):
        me, _peer = _sides(node, r)
        port = me.net.get("_port", "7789")
        net = {k: v for k, v in me.net.items() if not k.startswith("_")}
        out = f"resource {r.name} {{\n"
        out += _options_84(1, "options", {}, [])
        out += _options_84(1, "net", net, NET_ORDER_84)
        out += "    _remote_host {\n"
        out += f"        address\t\t\tipv4 {node.cluster.addresses[pname]}:{port};\n    }}\n"
        out += "    _this_host {\n"
        out += f"        address\t\t\tipv4 {node.cluster.addresses[node.name]}:{port};\n"
        for v in me.volumes:
            disk = me.disk_opts.get(f"_disk{v.volume}", f"/dev/lab/{r.name}_{v.volume}")
            out += f"        volume {v.volume} {{\n"
            out += f"            device\t\t\tminor {v.minor};\n"
            out += f'            disk\t\t\t"{disk}";\n'
            out += "            meta-disk\t\t\tinternal;\n"
            opts = {k: val for k, val in me.disk_opts.items() if not k.startswith("_")}
            out += _options_84(3, "disk", opts, DISK_ORDER_84)
            out += "        }\n"
        blocks.append(out + "    }\n}\n")
    return "\n".join(blocks)


def proc_drbd(node: Node) -> str:
    # Header of a DRBD 8.4 module as in tests/fixtures/drbd/proc-drbd-8.4.txt.
    out = (
        "version: 8.4.0 (api:1/proto:86-100)\n"
        "GIT-hash: 09b6d528b3b3de50462cd7831c0a3791abc665c3 build by "
        "linbit@buildsystem.linbit, 2011-10-12 09:07:35\n"
    )
    rows = []
    for r in running(node, None):
        me, peer = _sides(node, r)
        connected = _connected(me) and peer is not None
        for i, v in enumerate(me.volumes):
            cs = CONNECTING_84.get(me.cstate, me.cstate)
            prole = peer.role if connected and peer else "Unknown"
            pdisk = peer.volumes[i].disk if connected and peer else "DUnknown"
            proto = me.net.get("protocol", "C")
            rows.append(
                (
                    v.minor,
                    (
                        f"{v.minor:2d}: cs:{cs} ro:{me.role}/{prole} ds:{v.disk}/{pdisk} "
                        f"{proto} r-----\n"
                        f"    ns:{me.written_kib if connected else 0} nr:0 "
                        f"dw:{me.written_kib} dr:0 "
                        f"al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:{v.out_of_sync_kib}\n"
                    ),
                )
            )
    return out + "".join(text for _, text in sorted(rows))


def version(node: Node) -> str:
    kver, kcode = DRBD_KERNEL.get(node.info.drbd_version, DRBD_KERNEL["9"])
    if node.info.drbd_version == "8.4":
        kver, kcode = "8.4.0", "0x080400"
    from lab.state import DRBDADM_BUILDTAG, DRBDADM_VERSION, DRBDADM_VERSION_CODE

    return (
        f"DRBDADM_BUILDTAG={DRBDADM_BUILDTAG}\n"
        "DRBDADM_API_VERSION=2\n"
        f"DRBD_KERNEL_VERSION_CODE={kcode}\n"
        f"DRBD_KERNEL_VERSION={kver}\n"
        f"DRBDADM_VERSION_CODE={DRBDADM_VERSION_CODE}\n"
        f"DRBDADM_VERSION={DRBDADM_VERSION}\n"
    )


# --- commands that change state ------------------------------------------------


def my_resources(node: Node, cfg: drbdconf.Config, name: str) -> list[drbdconf.Resource]:
    """Resources of CFG for this host, checked as drbdadm checks them."""
    mine = [r for r in cfg.resources if any(h.name == node.name for h in r.hosts)]
    if name != "all":
        mine = [r for r in mine if r.name == name]
        if not mine:
            raise DrbdError(f"'{name}' not defined in your config (for this host).\n", 1)
    for r in mine:
        host = next(h for h in r.hosts if h.name == node.name)
        if host.address and host.address[1] != node.info.address:
            raise DrbdError(
                f"{r.file}: in resource {r.name}, on {node.name}:\n"
                f"\tIP {host.address[1]} not found on this host.\n",
                10,
            )
    return mine


def adjust(node: Node, cfg: drbdconf.Config, name: str) -> None:
    cluster = node.cluster
    pname = peer_name(node)
    for r in my_resources(node, cfg, name):
        host = next(h for h in r.hosts if h.name == node.name)
        run = cluster.resources.setdefault(r.name, DrbdResourceRun(name=r.name))
        side = run.sides.get(node.name)
        if side is None:
            side = run.sides[node.name] = DrbdSideRun(cstate="Connecting")
        side.up = True
        net = dict((cfg.common or {}).get("net", []))
        net.update(dict(r.sections.get("net", [])))
        if host.address:
            net["_port"] = host.address[2]
        side.net = net
        disk = dict((cfg.common or {}).get("disk", []))
        disk.update(dict(r.sections.get("disk", [])))
        vols = []
        for v in host.volumes:
            old = next((x for x in side.volumes if x.minor == v.minor), None)
            number = v.number or 0
            vols.append(old or DrbdVolumeRun(volume=number, minor=v.minor or 0))
            disk[f"_disk{number}"] = v.disk or ""
        side.volumes = vols
        side.disk_opts = disk
        peer = run.sides.get(pname)
        if side.cstate == "StandAlone" or side.cstate == "Connecting":
            if run.split_brain:
                side.cstate = "StandAlone"
            elif peer is not None and peer.up and peer.cstate in ("Connecting", "Connected"):
                side.cstate = peer.cstate = "Connected"
            else:
                side.cstate = "Connecting"
    node.dirty_cluster = True


def set_role(node: Node, cfg: drbdconf.Config, name: str, role: str) -> None:
    pname = peer_name(node)
    targets = my_resources(node, cfg, name)
    for r in targets:
        run = node.cluster.resources.get(r.name)
        side = run.sides.get(node.name) if run else None
        if run is None or side is None or not side.up:
            raise DrbdError(
                f"{r.name}: State change failed: (-3) Device is not configured\n"
                f"Command 'drbdsetup {role.lower()} {r.name}' terminated with exit code 10\n",
                10,
            )
        if role == "Secondary" and side.role == "Primary" and _in_use(node, side):
            # SCST's vdisk_blockio holds /dev/drbdM open while the device exists.
            raise DrbdError(
                f"{r.name}: State change failed: (-12) Device is held open by someone\n"
                f"Command 'drbdsetup secondary {r.name}' terminated with exit code 11\n",
                11,
            )
        if role == "Primary":
            peer = run.sides.get(pname)
            if (
                side.cstate == "Connected"
                and peer is not None
                and peer.role == "Primary"
                and side.net.get("allow-two-primaries") != "yes"
            ):
                raise DrbdError(
                    f"{r.name}: State change failed: (-1) Multiple primaries not allowed by "
                    f"config\nCommand 'drbdsetup primary {r.name}' terminated with exit code 11\n",
                    11,
                )
            if any(v.disk != "UpToDate" for v in side.volumes):
                raise DrbdError(
                    f"{r.name}: State change failed: (-2) Need access to UpToDate data\n"
                    f"Command 'drbdsetup primary {r.name}' terminated with exit code 17\n",
                    17,
                )
        side.role = role
    node.dirty_cluster = True


# --- creating a resource: create-md, up, new-current-uuid, down ----------------
# Texts as drbd-utils 9.22's drbdadm/drbdmeta print them (tried on a loop device):
# create-md prints three lines on stdout and the bitmap line on stderr; a failing
# drbdmeta call is reported as "Command '...' terminated with exit code N".

MD_CREATED = (
    "initializing activity log\n"
    "Writing meta data...\n"
    "New drbd meta data block successfully created.\n"
)
MD_OVERWRITE = (
    "You want me to create a v09 style flexible-size internal meta data block.\n"
    "There appears to be a v09 flexible-size internal meta data block\n"
    "already in place on {disk} at byte offset {offset}\n\n"
    "Do you really want to overwrite the existing meta-data?\n"
    "*** confirmation forced via --force option ***\n"
)


def _host(node: Node, r: drbdconf.Resource) -> drbdconf.Host:
    return next(h for h in r.hosts if h.name == node.name)


def _terminated(call: str, code: int) -> str:
    return f"Command '{call}' terminated with exit code {code}\n"


def _bitmap_kb(size: int, peers: int) -> int:
    """drbdmeta's bitmap: one bit per 4 KiB per peer, in whole 4 KiB pages."""
    bits = -(-size // 4096) * max(peers, 1)
    return -(-bits // (8 * 4096)) * 4


def create_md(node: Node, cfg: drbdconf.Config, name: str, force: bool) -> tuple[str, str]:
    """`drbdadm create-md [--force] RES`: fresh meta data on each volume's backing disk."""
    out = err = ""
    for r in my_resources(node, cfg, name):
        peers = len(r.hosts) - 1
        run = node.cluster.resources.get(r.name)
        side = run.sides.get(node.name) if run else None
        for v in _host(node, r).volumes:
            disk = v.disk or ""
            call = f"drbdmeta {v.minor} v09 {disk} internal create-md {peers}"
            call += " --force" if force else ""
            if side is not None and side.up:
                raise DrbdError(
                    err + f"Device '{v.minor}' is configured!\n" + _terminated(call, 20), 20
                )
            size = node.state.disks.get(disk)
            if size is None:
                missing = f"open({disk}) failed: No such file or directory\n"
                raise DrbdError(err + missing * 2 + _terminated(call, 20), 20)
            if disk in node.state.drbd_md:
                err += MD_OVERWRITE.format(disk=disk, offset=size - 4096)
            else:
                node.state.drbd_md.append(disk)
            err += f"initializing bitmap ({_bitmap_kb(size, peers)} KB) to all zero\n"
            out += MD_CREATED
    node.dirty_node = True
    return out, err


def up(node: Node, cfg: drbdconf.Config, name: str) -> None:
    """`drbdadm up RES`: attach the disks (Inconsistent after create-md) and connect."""
    for r in my_resources(node, cfg, name):
        host = _host(node, r)
        for v in host.volumes:
            if v.disk not in node.state.drbd_md:
                call = f"drbdmeta {v.minor} v09 {v.disk} internal apply-al"
                raise DrbdError("No valid meta data found\n" + _terminated(call, 1), 1)
        run = node.cluster.resources.setdefault(r.name, DrbdResourceRun(name=r.name))
        side = run.sides.get(node.name)
        if side is None or not side.up:
            run.sides[node.name] = DrbdSideRun(
                role="Secondary",
                cstate="Connecting",
                volumes=[
                    DrbdVolumeRun(
                        volume=v.number or 0,
                        minor=v.minor or 0,
                        disk="Inconsistent",
                        size_kib=node.state.disks[v.disk or ""] // 1024,
                    )
                    for v in host.volumes
                ],
            )
    adjust(node, cfg, name)


def down(node: Node, cfg: drbdconf.Config, name: str) -> None:
    """`drbdadm down RES`: disconnect and detach; the peer goes back to Connecting."""
    for r in my_resources(node, cfg, name):
        run = node.cluster.resources.get(r.name)
        side = run.sides.get(node.name) if run else None
        if run is None or side is None or not side.up:
            continue
        if _in_use(node, side):
            raise DrbdError(
                f"{r.name}: State change failed: (-12) Device is held open by someone\n"
                + _terminated(f"drbdsetup down {r.name}", 11),
                11,
            )
        del run.sides[node.name]
        peer = run.sides.get(peer_name(node))
        if peer is not None and peer.up:
            peer.cstate = "Connecting"
        if not run.sides:
            del node.cluster.resources[r.name]
    node.dirty_cluster = True


def _in_use(node: Node, side: DrbdSideRun) -> bool:
    """An SCST device has one of the resource's /dev/drbdM open."""
    paths = {f"/dev/drbd{v.minor}" for v in side.volumes}
    return any(d.attrs.get("filename") in paths for d in node.state.scst.devices.values())


def new_current_uuid(node: Node, cfg: drbdconf.Config, target: str, clear_bitmap: bool) -> None:
    """`drbdadm new-current-uuid --clear-bitmap RES/VOL`: both sides of a connected,
    freshly created volume become UpToDate without a sync (User's Guide,
    "Skipping initial resynchronization")."""
    name, _, number = target.partition("/")
    for r in my_resources(node, cfg, name):
        run = node.cluster.resources.get(r.name)
        side = run.sides.get(node.name) if run else None
        for v in _host(node, r).volumes:
            if number and str(v.number or 0) != number:
                continue
            call = f"drbdsetup new-current-uuid {v.minor}"
            call += " --clear-bitmap" if clear_bitmap else ""
            if run is None or side is None or not side.up:
                raise DrbdError(
                    f"{v.minor}: Failure: (127) Device minor not allocated\n"
                    + _terminated(call, 10),
                    10,
                )
            if not clear_bitmap:
                continue
            index = next(i for i, x in enumerate(side.volumes) if x.minor == v.minor)
            side.volumes[index].disk = "UpToDate"
            side.volumes[index].out_of_sync_kib = 0
            peer = run.sides.get(peer_name(node))
            if _connected(side) and peer is not None and index < len(peer.volumes):
                peer.volumes[index].disk = "UpToDate"
                peer.volumes[index].out_of_sync_kib = 0
    node.dirty_cluster = True
