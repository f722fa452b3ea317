"""Create, inspect and change a lab: the Python API behind `python -m lab`.

A lab is a directory (layout in docs/lab.md). Functions here change state files
under the cluster lock; a running server notices changed files before the next
command (state) or within CONTROL_POLL seconds (faults, node down, host key).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import asyncssh

from lab import stack
from lab.node import Node
from lab.scstadmin import write_config
from lab.state import (
    ClusterState,
    Device,
    DrbdResourceRun,
    DrbdSideRun,
    DrbdVolumeRun,
    IniGroup,
    Lun,
    NodeInfo,
    NodeState,
    PrRegistrant,
    Session,
    Target,
    crc32c_raw,
    to_json,
    write_atomic,
)

DEBIAN_GLOBAL_COMMON = Path("/etc/drbd.d/global_common.conf")
FALLBACK_GLOBAL_COMMON = "global {\n\tusage-count no;\n}\ncommon {\n}\n"
DRBD_CONF = (
    "# You can find an example in  /usr/share/doc/drbd.../drbd.conf.example\n\n"
    'include "drbd.d/global_common.conf";\ninclude "drbd.d/*.res";\n'
)
RESOURCES: tuple[str, ...] = ("r0", "r1")
# Every node's block devices: the backing disks of r0/r1 (with DRBD meta data) and an
# empty spare disk for defining a new resource; same sizes on both nodes.
DISK_SIZE = 10 * 1024**3
SPARE_DISKS = ("/dev/lab/spare0",)
NET = [
    ("protocol", "C"),
    ("allow-two-primaries", "yes"),
    ("after-sb-0pri", "discard-zero-changes"),
    ("after-sb-1pri", "discard-secondary"),
    ("after-sb-2pri", "disconnect"),
    ("fencing", "resource-and-stonith"),
]


@dataclass
class Fault:
    """Per-node faults; all off by default."""

    latency: float = 0.0  # seconds before each reply
    drop_after_bytes: int | None = None  # close the connection after K bytes of output
    drop_on: str | None = None  # substring of a command that closes the connection
    fail_on: str | None = None  # substring of a command that fails...
    fail_status: int = 1  # ...with this exit status
    fail_stderr: str = ""  # ...and this stderr
    down: bool = False  # listener closed: connection refused
    changed_host_key: bool = False  # serve a different host key than the manifest's
    hang_on: str | None = None  # regex searched in a command line: a match hangs...
    hang_seconds: float = 0.0  # ...this long, then runs; a shorter `timeout` kills it (124)


def res_file(
    cluster: str, res: str, index: int, nodes: list[tuple[str, str]], drbd_version: str = "9"
) -> str:
    """The resource as an admin writes it for the nodes' DRBD version. DRBD 8.4 (User's
    Guide 8.4, "Resource-level fencing using the Cluster Information Base"): no node-id,
    fencing in disk, crm-fence-peer.sh with crm-unfence-peer.sh as after-resync-target."""
    v84 = drbd_version == "8.4"
    on = ""
    for node_id, (name, addr) in enumerate(nodes):
        on += (
            f"  on {name} {{\n"
            + ("" if v84 else f"    node-id {node_id};\n")
            + f"    device /dev/drbd{index} minor {index};\n"
            f"    disk /dev/lab/{res};\n    meta-disk internal;\n"
            f"    address {addr}:{7789 + index};\n  }}\n"
        )
    net = "".join(f"    {k} {v};\n" for k, v in NET if not (v84 and k == "fencing"))
    disk = "  disk {\n    fencing resource-and-stonith;\n  }\n" if v84 else ""
    handlers = (
        '    fence-peer "/usr/lib/drbd/crm-fence-peer.sh";\n'
        '    after-resync-target "/usr/lib/drbd/crm-unfence-peer.sh";\n'
        if v84
        else '    fence-peer "/usr/lib/drbd/crm-fence-peer.9.sh";\n'
        '    unfence-peer "/usr/lib/drbd/crm-unfence-peer.9.sh";\n'
    )
    return f"resource {res} {{\n  net {{\n{net}  }}\n{disk}  handlers {{\n{handlers}  }}\n{on}}}\n"


def _identity(cluster: str, res: str) -> dict[str, str]:
    crc = crc32c_raw(f"{cluster}/{res}".encode())
    return {"t10_dev_id": f"{crc:08x}-{res}"[:16], "usn": f"{crc:08x}", "prod_id": res}


def _node_state(cluster: str, name: str, index: int, address: str, drbd: str) -> NodeState:
    st = NodeState(
        info=NodeInfo(name=name, cluster=cluster, address=address, drbd_version=drbd, node_id=index)
    )
    tgt = Target(
        name=f"iqn.2024-01.lab.scst:{cluster}.{name}", enabled=1, rel_tgt_id=index + 1, tid=1
    )
    for i, res in enumerate(RESOURCES):
        attrs = {
            "filename": f"/dev/drbd{i}",
            "nv_cache": "0",
            "write_through": "1",
            **_identity(cluster, res),
        }
        st.scst.register_device(Device(name=res, handler="vdisk_blockio", attrs=attrs))
        tgt.luns[str(i)] = Lun(lun=i, device=res)
    st.scst.drivers["iscsi"][tgt.name] = tgt
    for res in RESOURCES:
        st.disks[f"/dev/lab/{res}"] = DISK_SIZE
        st.drbd_md.append(f"/dev/lab/{res}")
    for disk in SPARE_DISKS:
        st.disks[disk] = DISK_SIZE
    return st


def _cluster_state(
    cluster: str, nodes: list[tuple[str, str]], drbd_version: str = "9"
) -> ClusterState:
    cs = ClusterState(
        name=cluster,
        nodes=[n for n, _ in nodes],
        node_ids={n: i for i, (n, _) in enumerate(nodes)},
        addresses=dict(nodes),
    )
    # As `drbdadm adjust` of res_file leaves it: DRBD 8.4 keeps fencing in the disk options.
    net = dict(NET)
    disk = {"fencing": net.pop("fencing")} if drbd_version == "8.4" else {}
    for i, res in enumerate(RESOURCES):
        run = DrbdResourceRun(name=res)
        for name, _addr in nodes:
            run.sides[name] = DrbdSideRun(
                role="Primary",
                cstate="Connected",
                volumes=[DrbdVolumeRun(volume=0, minor=i)],
                net={**net, "_port": str(7789 + i)},
                disk_opts={**disk, "_disk0": f"/dev/lab/{res}"},
            )
        cs.resources[res] = run
    return cs


def _openssh_public(key: asyncssh.SSHKey) -> str:
    return key.export_public_key("openssh").decode().strip()


def create_lab(
    directory: str | Path, clusters: int = 1, drbd_version: str = "9", base_port: int = 0
) -> Path:
    """Create a lab of CLUSTERS clusters x 2 nodes, healthy dual-primary, in DIRECTORY."""
    lab = Path(directory)
    (lab / "nodes").mkdir(parents=True, exist_ok=True)
    (lab / "clusters").mkdir(exist_ok=True)
    client = asyncssh.generate_private_key("ssh-ed25519", comment="lab-client")
    client.write_private_key(lab / "client_key")
    os.chmod(lab / "client_key", 0o600)
    (lab / "client_key.pub").write_text(_openssh_public(client) + "\n")
    (lab / "authorized_keys").write_text(_openssh_public(client) + "\n")
    global_common = (
        DEBIAN_GLOBAL_COMMON.read_text()
        if DEBIAN_GLOBAL_COMMON.is_file()
        else FALLBACK_GLOBAL_COMMON
    )
    manifest: dict = {
        "lab_dir": str(lab.resolve()),
        "client_key": str((lab / "client_key").resolve()),
        "user": "root",
        "clusters": [],
    }
    port = base_port
    for c in range(clusters):
        cname = f"c{c + 1:03d}"
        nodes = [
            (f"{cname}-{s}", f"10.{1 + c // 250}.{c % 250}.{i + 1}") for i, s in enumerate("ab")
        ]
        cdir = lab / "clusters" / cname
        cdir.mkdir(exist_ok=True)
        write_atomic(cdir / "cluster.json", to_json(_cluster_state(cname, nodes, drbd_version)))
        centry: dict = {"name": cname, "drbd_version": drbd_version, "nodes": []}
        for i, (name, addr) in enumerate(nodes):
            ndir = lab / "nodes" / name
            root = ndir / "root"
            ndir.mkdir(exist_ok=True)
            # parents first, one mkdir each: this is most of the creation time for 500 nodes
            for d in ("", "etc", "etc/drbd.d", "var", "var/lib", "var/lib/scst-portal", "root"):
                with contextlib.suppress(FileExistsError):
                    os.mkdir(root / d)
            st = _node_state(cname, name, i, addr, drbd_version)
            write_atomic(ndir / "node.json", to_json(st))
            (root / "etc/drbd.conf").write_text(DRBD_CONF)
            (root / "etc/drbd.d/global_common.conf").write_text(global_common)
            for ri, res in enumerate(RESOURCES):
                (root / f"etc/drbd.d/{res}.res").write_text(
                    res_file(cname, res, ri, nodes, drbd_version)
                )
            (root / "etc/scst.conf").write_text(write_config(st, False))
            key = asyncssh.generate_private_key("ssh-ed25519", comment=name)
            key.write_private_key(ndir / "host_key")
            (ndir / "faults.json").write_text(json.dumps(asdict(Fault())))
            stack.seed(ndir)  # drbd-utils' fence handlers; the cluster stack's defaults
            centry["nodes"].append(
                {
                    "name": name,
                    "host": "127.0.0.1",
                    "port": port + len(manifest["clusters"]) * 2 + i if base_port else 0,
                    "address": addr,
                    "host_key": _openssh_public(key),
                    "host_key_fingerprint": key.get_fingerprint("sha256"),
                }
            )
        manifest["clusters"].append(centry)
    write_atomic(lab / "manifest.json", json.dumps(manifest, indent=2))
    touch_control(lab)
    return lab


def load_manifest(lab: str | Path) -> dict:
    return json.loads((Path(lab) / "manifest.json").read_text())


def node_names(lab: str | Path) -> list[str]:
    return [n["name"] for c in load_manifest(lab)["clusters"] for n in c["nodes"]]


def touch_control(lab: str | Path) -> None:
    """Tell a running server to re-read faults (it polls this file's mtime)."""
    write_atomic(Path(lab) / "control.stamp", str(time.time()))


# --- faults -----------------------------------------------------------------------


def read_fault(lab: str | Path, node: str) -> Fault:
    path = Path(lab) / "nodes" / node / "faults.json"
    try:
        return Fault(**json.loads(path.read_text()))
    except FileNotFoundError:
        return Fault()


def set_fault(lab: str | Path, node: str, **changes: object) -> Fault:
    """Change NODE's faults (keyword = Fault field); `clear=True` resets all first."""
    fault = Fault() if changes.pop("clear", False) else read_fault(lab, node)
    for k, v in changes.items():
        if not hasattr(fault, k):
            raise ValueError(f"unknown fault {k!r}; known: {', '.join(asdict(Fault()))}")
        setattr(fault, k, v)
    if fault.hang_on is not None:
        try:
            re.compile(fault.hang_on)
        except re.error as e:
            raise ValueError(f"hang_on {fault.hang_on!r} is not a regular expression: {e}") from e
    write_atomic(Path(lab) / "nodes" / node / "faults.json", json.dumps(asdict(fault)))
    touch_control(lab)
    return fault


# --- state changes ----------------------------------------------------------------


def node(lab: str | Path, name: str) -> Node:
    n = Node(Path(lab) / "nodes" / name)
    if not n.state_path.is_file():
        raise KeyError(f"no node {name!r} in lab {lab}")
    return n


def set_device_attr(lab: str | Path, node_name: str, device: str, attr: str, value: str) -> None:
    n = node(lab, node_name)
    with n.session():
        n.state.scst.devices[device].attrs[attr] = value
        n.dirty_node = True


def set_disk(lab: str | Path, node_name: str, path: str, size: int | None) -> None:
    """Give NODE a block device PATH of SIZE bytes (None: remove it), empty."""
    n = node(lab, node_name)
    with n.session():
        n.state.disks.pop(path, None)
        if path in n.state.drbd_md:
            n.state.drbd_md.remove(path)
        if size is not None:
            n.state.disks[path] = size
        n.dirty_node = True


def _res(n: Node, resource: str) -> DrbdResourceRun:
    return n.cluster.resources[resource]


def drbd_standalone(lab: str | Path, node_name: str, resource: str) -> None:
    """NODE goes StandAlone (e.g. `drbdadm disconnect`); its peer keeps trying to connect."""
    n = node(lab, node_name)
    with n.session():
        run = _res(n, resource)
        for name, side in run.sides.items():
            side.cstate = "StandAlone" if name == node_name else "Connecting"
        n.dirty_cluster = True


def split_brain(lab: str | Path, cluster_node: str, resource: str, oos_kib: int = 4096) -> None:
    """Both nodes of the cluster StandAlone after a split brain, with diverged data."""
    n = node(lab, cluster_node)
    with n.session():
        run = _res(n, resource)
        run.split_brain = True
        for side in run.sides.values():
            side.cstate = "StandAlone"
            for v in side.volumes:
                v.out_of_sync_kib = oos_kib
        n.dirty_cluster = True


def set_net_option(
    lab: str | Path, node_name: str, resource: str, option: str, value: str | None
) -> None:
    """Change a net option in force on NODE only (like `drbdadm net-options`); None removes it.

    The .res file is untouched, so `drbdsetup show` and the file differ until `adjust`.
    """
    n = node(lab, node_name)
    with n.session():
        net = _res(n, resource).sides[node_name].net
        if value is None:
            net.pop(option, None)
        else:
            net[option] = value
        n.dirty_cluster = True


def outdate(lab: str | Path, node_name: str, resource: str) -> None:
    n = node(lab, node_name)
    with n.session():
        for v in _res(n, resource).sides[node_name].volumes:
            v.disk = "Outdated"
        n.dirty_cluster = True


def heal(lab: str | Path, cluster_node: str, resource: str) -> None:
    """Back to healthy: connected, UpToDate, nothing out of sync."""
    n = node(lab, cluster_node)
    with n.session():
        run = _res(n, resource)
        run.split_brain = False
        for side in run.sides.values():
            side.cstate = "Connected"
            for v in side.volumes:
                v.disk = "UpToDate"
                v.out_of_sync_kib = 0
        n.dirty_cluster = True


def add_session(
    lab: str | Path,
    node_name: str,
    initiator: str,
    group: str | None = None,
    io_rate_kb: int = 1024,
    target: str | None = None,
) -> None:
    """An initiator logs in to NODE's target and does I/O (counters rise with time)."""
    n = node(lab, node_name)
    with n.session():
        targets = n.state.scst.drivers["iscsi"]
        tgt = targets[target] if target else next(iter(targets.values()))
        if group is not None and group not in tgt.groups:
            tgt.groups[group] = IniGroup(name=group, luns=dict(tgt.luns), initiators=[initiator])
        tgt.sessions[initiator] = Session(
            initiator_name=initiator, group=group, io_rate_kb=io_rate_kb, started=time.time()
        )
        n.dirty_node = True


def register_reservation(
    lab: str | Path,
    node_name: str,
    device: str,
    key: int,
    reserve: bool = True,
    rel_tgt_id: int | None = None,
    initiator: str = "iqn.1998-01.com.vmware:esx01",
) -> None:
    """PERSISTENT RESERVE OUT REGISTER (+ RESERVE, type 5 = WE_RO) on NODE's DEVICE."""
    n = node(lab, node_name)
    with n.session():
        dev = n.state.scst.devices[device]
        tgt = next(iter(n.state.scst.drivers["iscsi"].values()))
        tid = initiator.encode().hex()
        # iSCSI TransportID (SPC-4 7.6.4.6): format 0x00, protocol 5, length, name + NUL
        body = initiator.encode() + b"\0"
        body += b"\0" * ((-len(body)) % 4)
        tid = (bytes([0x05, 0x00]) + len(body).to_bytes(2, "big") + body).hex()
        dev.pr.registrants.append(
            PrRegistrant(
                rel_tgt_id=rel_tgt_id or tgt.rel_tgt_id,
                key=key,
                holder=1 if reserve else 0,
                transport_id=tid,
            )
        )
        dev.pr.generation += 1
        if reserve:
            dev.pr.reservation = (5, 0)
        n.dirty_node = True


def session_io(
    lab: str | Path, node_name: str, initiator: str, reads: int = 0, writes: int = 0
) -> None:
    """The initiator's session on NODE completes READS read and WRITES write commands
    (sessions/*/read_cmd_count, write_cmd_count rise by that much)."""
    n = node(lab, node_name)
    with n.session():
        for target in n.state.scst.drivers["iscsi"].values():
            session = target.sessions.get(initiator)
            if session is not None:
                session.read_cmd_count += reads
                session.write_cmd_count += writes
                session.commands += reads + writes
                session.read_io_count_kb += reads * 4
                session.write_io_count_kb += writes * 4
        n.dirty_node = True
