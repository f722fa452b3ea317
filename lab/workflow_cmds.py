"""Day-2 workflow commands on a lab node, answered as the real tools answer them.

- `drbdadm resize RES` (drbd-utils user/v9/drbdadm_main.c adm_resize → `drbdsetup
  resize MINOR`): the device grows to the smaller of the two backing disks while the
  peer is connected; the kernel refuses during a resync (ERR_RESIZE_RESYNC, 130) and
  when no node is Primary (ERR_NO_PRIMARY, 131). drbdsetup prints `MINOR: Failure: (N)
  TEXT` (drbdsetup.c error_messages) and drbdadm `Command '…' terminated with exit code
  10`. Disconnected, DRBD keeps the peer's last known size, so nothing grows.
- `scstadmin -resync_dev DEV` (scstadmin resyncDevice: setDeviceAttributes(DEV,
  {resync_size => 1})): writing the write-only (0200) `resync_size` makes scst_vdisk.c
  vdisk_resync_size re-read the backing size into the device's `size`. scstadmin exits
  with resyncDevice's return value, which is setAttributes' change count: 1 when it
  wrote the attribute, and 1 (TRUE) after the warning for a device that is not open;
  `issueWarning(errorString(1))` prints nothing, as %VERBOSE_ERROR has no entry 1.

Registered in lab/interpreter.py's COMMANDS by wrapping `drbdadm` and `scstadmin`: any
other sub-command goes to the existing emulation unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from lab import drbdconf, drbdrun
from lab.node import Node
from lab.scstadmin import Exit, Run

WORKFLOW_DRBDADM = {"resize", "verify", "connect", "disconnect"}
# How long a lab online verify and a lab resync run (real ones take minutes to hours).
VERIFY_SECONDS = 2.0
SYNC_SECONDS = 2.0
# drbd.h enum drbd_state_rv and drbd_strings.c drbd_state_sw_errors
SS_RESYNC_RUNNING = (-8, "Can not start OV/resync since it is already active")
SS_ALREADY_STANDALONE = (-9, "Can not disconnect a StandAlone device")
SS_NO_VERIFY_ALG = (-14, "Need a verify algorithm to start online verify")
SS_NEED_CONNECTION = (-15, "Need a connection to start verify or resync")
ERR_NET_CONFIGURED = (125, "Device has a net-config (use disconnect first)")
ERR_DISCARD_IMPOSSIBLE = (123, "--discard-my-data not allowed when primary.")
ERR_RESIZE_RESYNC = (130, "Resize not allowed during resync.")
ERR_NO_PRIMARY = (131, "Need one Primary node to resize.")
ERR_MINOR_INVALID = (127, "Device minor not allocated")


def _result(out: str = "", err: str = "", code: int = 0):
    from lab.interpreter import Result

    return Result(out, err, code)


def _drbdadm_command(args: list[str]) -> tuple[str | None, list[str], str]:
    """(sub-command, resource names, config file) of a drbdadm argv."""
    config, rest, i = "/etc/drbd.conf", [], 0
    while i < len(args):
        a = args[i]
        if a in ("-c", "--config-file") and i + 1 < len(args):
            config, i = args[i + 1], i + 2
            continue
        if a.startswith("--config-file="):
            config = a.split("=", 1)[1]
        elif not a.startswith("-"):
            rest.append(a)
        i += 1
    return (rest[0] if rest else None), rest[1:], config


def make_drbdadm(base: Callable) -> Callable:
    """`drbdadm` with the workflow sub-commands added."""

    def cmd_drbdadm(node: Node, args: list[str]):
        cmd, names, config = _drbdadm_command(args)
        if cmd not in WORKFLOW_DRBDADM or not names:
            return base(node, args)
        try:
            cfg = drbdconf.parse_config(config, node, node.info.drbd_version)
        except drbdconf.ParseError as e:
            return _result("", e.text, e.code)
        try:
            for name in names:
                if cmd == "connect":
                    connect(node, cfg, name, "--discard-my-data" in args)
                else:
                    {"resize": resize, "verify": verify, "disconnect": disconnect}[cmd](
                        node, cfg, name
                    )
        except drbdrun.DrbdError as e:
            return _result("", e.stderr, e.code)
        return _result()

    return cmd_drbdadm


def _failure(minor: int, error: tuple[int, str], call: str) -> drbdrun.DrbdError:
    number, text = error
    return drbdrun.DrbdError(
        f"{minor}: Failure: ({number}) {text}\n" + drbdrun._terminated(call, 10), 10
    )


def resize(node: Node, cfg: drbdconf.Config, name: str) -> None:
    """`drbdadm resize RES`: every volume grows to what both backing disks allow."""
    peer_name = drbdrun.peer_name(node)
    peer_state = _peer_node_state(node, peer_name)
    for r in drbdrun.my_resources(node, cfg, name):
        run = node.cluster.resources.get(r.name)
        side = run.sides.get(node.name) if run else None
        peer = run.sides.get(peer_name) if run else None
        connected = side is not None and side.cstate == "Connected" and peer is not None
        for v in drbdrun._host(node, r).volumes:
            call = f"drbdsetup resize {v.minor}"
            if side is None or not side.up:
                raise _failure(v.minor or 0, ERR_MINOR_INVALID, call)
            index = next(i for i, x in enumerate(side.volumes) if x.minor == v.minor)
            mine = side.volumes[index]
            theirs = (
                peer.volumes[index]
                if connected and peer is not None and index < len(peer.volumes)
                else None
            )
            if connected and (mine.out_of_sync_kib or (theirs and theirs.out_of_sync_kib)):
                raise _failure(v.minor or 0, ERR_RESIZE_RESYNC, call)
            if connected and peer is not None and "Primary" not in (side.role, peer.role):
                raise _failure(v.minor or 0, ERR_NO_PRIMARY, call)
            if not connected:
                continue  # the peer's last known size limits the device
            local = node.state.disks.get(v.disk or "", mine.size_kib * 1024)
            peer_disk = _peer_disk(r, peer_name, v.number or 0)
            remote = peer_state.get(peer_disk, local) if peer_disk else local
            size_kib = min(local, remote) // 1024
            if size_kib > mine.size_kib:
                mine.size_kib = size_kib
                if theirs is not None:
                    theirs.size_kib = size_kib
    node.dirty_cluster = True


def _state_failed(name: str, error: tuple[int, str], call: str) -> drbdrun.DrbdError:
    """drbdsetup's print of a refused state change: exit 11 (drbdsetup.c)."""
    number, text = error
    return drbdrun.DrbdError(
        f"{name}: State change failed: ({number}) {text}\n" + drbdrun._terminated(call, 11), 11
    )


def _run_sides(node: Node, cfg: drbdconf.Config, name: str):
    """(resource config, run, my side, peer side or None) for each resource NAME names."""
    for r in drbdrun.my_resources(node, cfg, name):
        run = node.cluster.resources.get(r.name)
        side = run.sides.get(node.name) if run else None
        if run is None or side is None or not side.up:
            minor = drbdrun._host(node, r).volumes[0].minor or 0
            raise _failure(minor, ERR_MINOR_INVALID, f"drbdsetup {name} {r.name}")
        yield r, run, side, run.sides.get(drbdrun.peer_name(node))


def verify(node: Node, cfg: drbdconf.Config, name: str) -> None:
    """`drbdadm verify RES` → `drbdsetup verify RES PEER_ID VOL` per volume: both nodes go
    VerifyS/VerifyT; when it ends, what it found is out of sync on both (the bitmap)."""
    now = time.time()
    for r, _run, side, peer in _run_sides(node, cfg, name):
        peer_id = node.cluster.node_ids[drbdrun.peer_name(node)]
        call = f"drbdsetup verify {r.name} {peer_id} {side.volumes[0].volume}"
        if side.cstate != "Connected" or peer is None:
            raise _state_failed(r.name, SS_NEED_CONNECTION, call)
        if not side.net.get("verify-alg") or not peer.net.get("verify-alg"):
            raise _state_failed(r.name, SS_NO_VERIFY_ALG, call)
        if side.repl or peer.repl:
            raise _state_failed(r.name, SS_RESYNC_RUNNING, call)
        side.repl, peer.repl = "VerifyS", "VerifyT"
        side.repl_until = peer.repl_until = now + VERIFY_SECONDS
    node.dirty_cluster = True


def disconnect(node: Node, cfg: drbdconf.Config, name: str) -> None:
    """`drbdadm disconnect RES`: this node StandAlone, the peer waits (Connecting)."""
    for r, _run, side, peer in _run_sides(node, cfg, name):
        peer_id = node.cluster.node_ids[drbdrun.peer_name(node)]
        if side.cstate == "StandAlone":
            raise _state_failed(
                r.name, SS_ALREADY_STANDALONE, f"drbdsetup disconnect {r.name} {peer_id}"
            )
        side.cstate, side.repl, side.repl_until = "StandAlone", "", 0.0
        if peer is not None and peer.up:
            peer.cstate, peer.repl, peer.repl_until = "Connecting", "", 0.0
    node.dirty_cluster = True


def connect(node: Node, cfg: drbdconf.Config, name: str, discard: bool = False) -> None:
    """`drbdadm connect [--discard-my-data] RES`: Connected when the peer waits;
    out-of-sync blocks resync (this node SyncTarget). After a split brain the nodes
    disconnect again (StandAlone) unless one of them connects with --discard-my-data:
    that node (Secondary; ERR_DISCARD_IMPOSSIBLE when Primary) becomes SyncTarget and
    receives every block either node changed since the split."""
    now = time.time()
    for r, run, side, peer in _run_sides(node, cfg, name):
        peer_id = node.cluster.node_ids[drbdrun.peer_name(node)]
        call = f"drbdsetup connect {r.name} {peer_id}"
        minor = side.volumes[0].minor if side.volumes else 0
        if side.cstate != "StandAlone":
            raise _failure(minor, ERR_NET_CONFIGURED, call)
        if discard and side.role == "Primary":
            raise _failure(minor, ERR_DISCARD_IMPOSSIBLE, call + " --discard-my-data")
        side.cstate, side.discard_my_data = "Connecting", discard
        if peer is None or not peer.up or peer.cstate != "Connecting":
            continue
        if run.split_brain:
            victim = side if side.discard_my_data else peer if peer.discard_my_data else None
            if victim is None:  # detected again: both drop the connection
                side.cstate = peer.cstate = "StandAlone"
                continue
            survivor = peer if victim is side else side
            run.split_brain = False
            for a, b in zip(victim.volumes, survivor.volumes, strict=False):
                a.out_of_sync_kib = b.out_of_sync_kib = a.out_of_sync_kib + b.out_of_sync_kib
        else:
            victim, survivor = side, peer
        side.cstate = peer.cstate = "Connected"
        side.discard_my_data = peer.discard_my_data = False
        if any(v.out_of_sync_kib for v in victim.volumes + survivor.volumes):
            victim.repl, survivor.repl = "SyncTarget", "SyncSource"
            victim.repl_until = survivor.repl_until = now + SYNC_SECONDS
            for v in victim.volumes:
                v.disk = "Inconsistent"  # until the resync ends
    node.dirty_cluster = True


def replication(side) -> str:
    """The replication state a connected side shows (drbdrun.status_json)."""
    return side.repl or "Established"


def settle(node: Node) -> None:
    """End the verifies and resyncs whose time is up: a verify marks what it found out of
    sync on both nodes; a resync leaves nothing out of sync."""
    now = time.time()
    for run in node.cluster.resources.values():
        sides = [s for s in run.sides.values() if s.repl and s.repl_until <= now]
        if not sides:
            continue
        verify_done = any(s.repl.startswith("Verify") for s in sides)
        all_volumes = list(zip(*(s.volumes for s in run.sides.values()), strict=False))
        for volumes in all_volumes:
            if verify_done:
                found = max(v.diverged_kib for v in volumes)
                for v in volumes:
                    v.out_of_sync_kib += found
                    v.diverged_kib = 0
            else:
                for v in volumes:
                    v.out_of_sync_kib, v.disk = 0, "UpToDate"
        for s in sides:
            s.repl, s.repl_until = "", 0.0
        node.dirty_cluster = True


def _peer_disk(r: drbdconf.Resource, peer: str, number: int) -> str | None:
    host = next((h for h in r.hosts if h.name == peer), None)
    volume = next((v for v in host.volumes if (v.number or 0) == number), None) if host else None
    return volume.disk if volume else None


def _peer_node_state(node: Node, peer: str) -> dict[str, int]:
    """The peer's block device sizes (its node.json; the cluster lock is held)."""
    import json

    path = node.dir.parent / peer / "node.json"
    try:
        return dict(json.loads(path.read_text()).get("disks", {}))
    except (OSError, ValueError):
        return {}


def make_scstadmin(base: Callable) -> Callable:
    """`scstadmin` with -resync_dev added."""

    def cmd_scstadmin(node: Node, args: list[str]):
        names = [a.lstrip("-").split("=", 1)[0] for a in args if a.startswith("-")]
        if "resync_dev" in names:
            return resync_dev(node, args)
        if "close_dev" in names:
            return close_dev(node, args, names)
        return base(node, args)

    return cmd_scstadmin


def resync_dev(node: Node, args: list[str]):
    """scstadmin's `defined($resyncDev)` branch: print, setDeviceAttributes, print."""
    device = None
    for i, a in enumerate(args):
        if a.lstrip("-").startswith("resync_dev"):
            if "=" in a:
                device = a.split("=", 1)[1]
            elif i + 1 < len(args):
                device = args[i + 1]
    if device is None:
        return _result("", "Option resync_dev requires an argument\n", 1)
    run = Run(node.state, node.read)
    run.p("\nCollecting current configuration: done.\n\n")
    try:
        run.p("\n-> Making requested changes.\n")
        dev = node.state.scst.devices.get(device)
        if dev is None:
            run.issue_warning(f"deviceAttributes(): Device '{device}' is not open")
        else:
            run.p(
                f"\t-> Setting device attribute 'resync_size' to value '1' for device "
                f"'{device}': done.\n"
            )
            size = backing_size(node, dev.attrs.get("filename", ""))
            if size is not None and size != dev.size:
                dev.size = size
                node.dirty_node = True
        run.p("\t-> Done.\n")
    except Exit as e:
        return _result("".join(run.out), "".join(run.err), e.code)
    run.p("\nAll done.\n")
    return _result("".join(run.out), "".join(run.err), 1)


def _option(args: list[str], name: str) -> str | None:
    for i, a in enumerate(args):
        if a.lstrip("-").split("=", 1)[0] == name:
            if "=" in a:
                return a.split("=", 1)[1]
            return args[i + 1] if i + 1 < len(args) else None
    return None


def close_dev(node: Node, args: list[str], names: list[str]):
    """scstadmin `-close_dev DEV -handler H` (closeDevice): refused while the device is
    exported unless -force; closing drops every LUN of it (scstadmin.sysfs/scstadmin)."""
    device, handler = _option(args, "close_dev"), _option(args, "handler")
    if device is None:
        return _result("", "Option close_dev requires an argument\n", 1)
    if handler is None:
        return _result("Please specify -handler with -open_dev/-close_dev.\n", "", 1)
    run = Run(node.state, node.read)
    run.noprompt = "noprompt" in names
    run.p("\nCollecting current configuration: done.\n\n")
    try:
        if run.prompt():
            run.p("\nAll done.\n")
            return _result("".join(run.out), "", 0)
        run.p("\n-> Making requested changes.\n")
        dev = node.state.scst.devices.get(device)
        exported = _exported(node, device)
        if dev is not None and exported and "force" not in names:
            _list_exported(run, device, exported)
            run.immediate_exit(f"Device '{device}' still in use, aborting. Use -force to override.")
        run.p(f"\t-> Closing device '{device}' using handler '{handler}': ")
        if dev is None or dev.handler != handler:
            run.p("done.\n")
            missing = "No such device exists." if dev is not None or handler in (
                "vdisk_blockio", "vdisk_fileio") else "No such handler exists."  # fmt: skip
            run.immediate_exit(missing)
        node.state.scst.unregister_device(device)
        node.dirty_node = True
        run.p("done.\n")
        run.p("\t-> Done.\n")
    except Exit as e:
        return _result("".join(run.out), "".join(run.err), e.code)
    run.p("\nAll done.\n")
    return _result("".join(run.out), "".join(run.err), 0)


def _exported(node: Node, device: str) -> list[tuple[str, str, str, str]]:
    """(driver, target, group or "", LUN) of every LUN of DEVICE but copy_manager's."""
    rows = []
    for driver, targets in node.state.scst.drivers.items():
        if driver == "copy_manager":
            continue
        for target in targets.values():
            rows += [
                (driver, target.name, "", k) for k, v in target.luns.items() if v.device == device
            ]
            for group in target.groups.values():
                rows += [
                    (driver, target.name, group.name, k)
                    for k, v in group.luns.items()
                    if v.device == device
                ]
    return sorted(rows)


def _list_exported(run: Run, device: str, rows) -> None:
    """scstadmin listExported's table."""
    ld = max([len("Driver"), *(len(r[0]) for r in rows)])
    lt = max([len("Target"), *(len(r[1]) for r in rows)])
    lg = max([len("Group"), *(len(r[2]) for r in rows)])

    def line(a: str, b: str, c: str, d: str) -> str:
        return f"\t{a:<{ld}} {b:<{lt}} {c:<{lg}} {d:<4}\n"

    run.p(f"Device '{device}' is currently in use by the following:\n\n")
    run.p(line("Driver", "Target", "Group", "Lun"))
    run.p(line("-" * ld, "-" * lt, "-" * lg, "-" * 4))
    for row in rows:
        run.p(line(*row))


def backing_size(node: Node, filename: str) -> int | None:
    """What vdisk_get_file_size reads: a DRBD device's size, or a plain disk's."""
    if filename.startswith("/dev/drbd") and filename[9:].isdigit():
        minor = int(filename[9:])
        for run in node.cluster.resources.values():
            side = run.sides.get(node.name)
            for v in side.volumes if side and side.up else []:
                if v.minor == minor:
                    return v.size_kib * 1024
        return None
    return node.state.disks.get(filename)


# --- scripting the lab (tests, demos) ------------------------------------------------------


def grow_disk(lab: str | Path, node_name: str, path: str, size: int) -> None:
    """The admin grew NODE's block device PATH to SIZE bytes (an LV extended): its data
    and DRBD meta data stay, unlike lab.api.set_disk which gives a new empty disk."""
    from lab import api

    n = api.node(lab, node_name)
    with n.session():
        if path not in n.state.disks:
            raise KeyError(f"{node_name} has no block device {path}")
        n.state.disks[path] = size
        n.dirty_node = True


def parse_size(text: str) -> int:
    """`12G` → bytes (K, M, G, T: powers of 1024); a plain number is bytes."""
    units = {"K": 1, "M": 2, "G": 3, "T": 4}
    suffix = text[-1:].upper()
    if suffix in units:
        return int(text[:-1]) * 1024 ** units[suffix]
    return int(text)


def diverge(lab: str | Path, node_name: str, resource: str, kib: int) -> None:
    """KIB of NODE's copy of RESOURCE differ from the peer's without DRBD knowing (a lost
    write, a flipped bit): what an online verify finds."""
    from lab import api

    n = api.node(lab, node_name)
    with n.session():
        n.cluster.resources[resource].sides[node_name].volumes[0].diverged_kib = kib
        n.dirty_cluster = True
