"""Live DRBD state from a node, normalised into ResourceState.

Four sources map into the same dataclasses:
`drbdsetup status --json` (parse_status_json), `drbdadm status` and
`drbdsetup status --verbose --statistics` (parse_status_text), `drbdsetup events2
--now` (parse_events2) and DRBD 8.4's /proc/drbd (parse_proc_drbd, then
proc_drbd_states). Out-of-sync amounts are KiB in all of them (drbdsetup divides
sectors by two; /proc/drbd's oos: is KiB).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from clusters.drbd.model import DrbdConfigError

REPLICATION_STATES_84 = frozenset(
    {
        "StartingSyncS",
        "StartingSyncT",
        "WFBitMapS",
        "WFBitMapT",
        "WFSyncUUID",
        "SyncSource",
        "SyncTarget",
        "PausedSyncS",
        "PausedSyncT",
        "VerifyS",
        "VerifyT",
        "Ahead",
        "Behind",
    }
)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,40}")


@dataclass
class DeviceState:
    """The local side of one volume."""

    volume: int
    minor: int | None
    disk: str
    # Intentionally diskless (a DRBD 9 "client": `client: true` in status --json,
    # drbdsetup.c device_status_json from is_intentional_diskless): Diskless is its
    # normal state, not a lost disk.
    client: bool = False


@dataclass
class PeerDeviceState:
    """One volume as seen over one connection."""

    volume: int
    replication: str
    peer_disk: str
    out_of_sync_kib: int | None = None
    peer_client: bool = False  # the peer is intentionally diskless (`peer-client`)
    # `percent-in-sync` of `drbdsetup status --json` (drbdsetup.c peer_device_status_json);
    # None from the other sources.
    percent_in_sync: float | None = None


@dataclass
class PeerState:
    """One connection to a peer node."""

    node_id: int | None
    name: str | None
    connection: str
    role: str
    devices: list[PeerDeviceState] = field(default_factory=list)

    @property
    def is_client(self) -> bool:
        """True when the peer is an intentionally diskless client on every volume (for
        example a DRBD 9 tiebreaker node): it holds no data and is normally Secondary."""
        return bool(self.devices) and all(d.peer_client for d in self.devices)


@dataclass
class ResourceState:
    """A resource's live state on one node, whatever the source."""

    name: str
    role: str
    suspended: bool | None = None
    node_id: int | None = None
    devices: list[DeviceState] = field(default_factory=list)
    peers: list[PeerState] = field(default_factory=list)

    def dual_primary_problems(self) -> list[str]:
        """What differs from healthy dual-primary (reference/drbd.md); empty when healthy."""
        problems = []
        if self.role != "Primary":
            problems.append(f"role is {self.role}, not Primary")
        if self.suspended:
            problems.append("I/O is suspended")
        problems += [
            f"volume {d.volume} disk is {d.disk}"
            for d in self.devices
            if d.disk != "UpToDate" and not (d.client and d.disk == "Diskless")
        ]
        if not self.devices:
            problems.append("no volumes")
        if not self.peers:
            problems.append("no peer connection")
        for peer in self.peers:
            problems += _peer_problems(peer)
        return problems

    def is_healthy_dual_primary(self) -> bool:
        """True when this node's view of the resource is healthy dual-primary."""
        return not self.dual_primary_problems()


def _peer_problems(peer: PeerState) -> list[str]:
    who = f"peer {peer.name}" if peer.name else "peer"
    if not peer.name and peer.node_id is not None:
        who = f"peer node-id {peer.node_id}"
    problems = []
    if peer.connection != "Connected":
        problems.append(f"{who} connection is {peer.connection}")
    if peer.is_client:
        return problems  # a diskless client (tiebreaker) holds no data and stays Secondary
    if peer.role != "Primary":
        problems.append(f"{who} role is {peer.role}, not Primary")
    for dev in peer.devices:
        if dev.replication != "Established":
            problems.append(f"{who} volume {dev.volume} replication is {dev.replication}")
        if dev.peer_disk != "UpToDate":
            problems.append(f"{who} volume {dev.volume} peer disk is {dev.peer_disk}")
        if dev.out_of_sync_kib:
            problems.append(f"{who} volume {dev.volume} has {dev.out_of_sync_kib} KiB out of sync")
    return problems


# --- drbdsetup status --json -------------------------------------------------------------


def parse_status_json(text: str) -> list[ResourceState]:
    """`drbdsetup status --json` (a JSON list of resources) into ResourceStates."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise DrbdConfigError(f"drbdsetup status --json output is not JSON: {exc}") from None
    return [_json_resource(item) for item in _json_list(data, "top level")]


def _json_list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise DrbdConfigError(f"status JSON: {what} should be a list")
    return value


def _json_get(obj: Any, key: str, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(obj, dict):
        raise DrbdConfigError(f"status JSON: {what} should be an object")
    value = obj.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DrbdConfigError(f"status JSON: {what} has no valid '{key}'")
    return value


def _json_resource(item: Any) -> ResourceState:
    name = _json_get(item, "name", str, "resource")
    what = f"resource {name}"
    node_id = item.get("node-id")
    return ResourceState(
        name=name,
        role=_json_get(item, "role", str, what),
        suspended=_json_get(item, "suspended", bool, what),
        node_id=node_id if isinstance(node_id, int) and node_id >= 0 else None,
        devices=[_json_device(d, what) for d in _json_list(item.get("devices", []), what)],
        peers=[_json_peer(c, what) for c in _json_list(item.get("connections", []), what)],
    )


def _json_device(dev: Any, what: str) -> DeviceState:
    return DeviceState(
        volume=_json_get(dev, "volume", int, f"{what} device"),
        minor=_json_get(dev, "minor", int, f"{what} device"),
        disk=_json_get(dev, "disk-state", str, f"{what} device"),
        client=dev.get("client") is True,
    )


def _json_peer(conn: Any, what: str) -> PeerState:
    where = f"{what} connection"
    name = conn.get("name") if isinstance(conn, dict) else None
    devices = _json_list(conn.get("peer_devices", []) if isinstance(conn, dict) else None, where)
    return PeerState(
        node_id=_json_get(conn, "peer-node-id", int, where),
        name=name if isinstance(name, str) else None,
        connection=_json_get(conn, "connection-state", str, where),
        role=_json_get(conn, "peer-role", str, where),
        devices=[_json_peer_device(p, where) for p in devices],
    )


def _json_peer_device(pd: Any, where: str) -> PeerDeviceState:
    what = f"{where} peer device"
    oos = pd.get("out-of-sync") if isinstance(pd, dict) else None
    pct = pd.get("percent-in-sync") if isinstance(pd, dict) else None
    return PeerDeviceState(
        volume=_json_get(pd, "volume", int, what),
        replication=_json_get(pd, "replication-state", str, what),
        peer_disk=_json_get(pd, "peer-disk-state", str, what),
        out_of_sync_kib=oos if isinstance(oos, int) and not isinstance(oos, bool) else None,
        peer_client=pd.get("peer-client") is True,
        percent_in_sync=float(pct)
        if isinstance(pct, int | float) and not isinstance(pct, bool)
        else None,
    )


# --- drbdadm status / drbdsetup status [--verbose --statistics] --------------------------


def _key_values(tokens: list[str], line_no: int) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for token in tokens:
        key, sep, value = token.partition(":")
        if not sep or not key:
            raise DrbdConfigError(f"line {line_no}: expected key:value, got {token!r}")
        pairs[key] = value
    return pairs


@dataclass
class _TextParse:
    resources: list[ResourceState] = field(default_factory=list)
    current: dict[str, str] | None = None
    raw: list[tuple[object, dict[str, str]]] = field(default_factory=list)


def parse_status_text(text: str) -> list[ResourceState]:
    """`drbdadm status` or `drbdsetup status [--verbose] [--statistics]` text.

    Non-verbose output omits values that are normal (drbdsetup.c): a missing
    connection means Connected, a missing replication means Established when
    connected, a missing peer-disk means DUnknown, missing suspended means no.
    """
    blocks: list[list[tuple[int, int, list[str]]]] = []
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent == 0:
            blocks.append([])
        elif not blocks:
            raise DrbdConfigError(f"line {line_no}: indented line before any resource")
        blocks[-1].append((line_no, indent, line.split()))
    return [_text_resource(block) for block in blocks]


def _text_resource(lines: list[tuple[int, int, list[str]]]) -> ResourceState:
    line_no, _, tokens = lines[0]
    if ":" in tokens[0]:
        raise DrbdConfigError(f"line {line_no}: expected a resource name, got {tokens[0]!r}")
    res_kv = _key_values(tokens[1:], line_no)
    objects: list[tuple[str, dict[str, str]]] = [("resource", res_kv)]
    for line_no, indent, tokens in lines[1:]:
        kind = _text_kind(objects[-1][0], indent, tokens[0], line_no)
        if kind == "continuation":
            objects[-1][1].update(_key_values(tokens, line_no))
        elif kind == "peer" and ":" not in tokens[0]:
            objects.append(("peer", {"_name": tokens[0], **_key_values(tokens[1:], line_no)}))
        else:
            objects.append((kind, _key_values(tokens, line_no)))
    return _text_assemble(_name_token(lines[0][2][0]), objects)


def _name_token(token: str) -> str:
    """A resource or peer name token from status text, checked for plausibility."""
    if not token or any(c in token for c in "\x00\"'\\"):
        raise DrbdConfigError(f"implausible name {token!r} in status text")
    return token


def _text_kind(previous: str, indent: int, first: str, line_no: int) -> str:
    if indent == 2:
        return "device" if first.startswith(("volume:", "disk:")) else "peer"
    if indent == 4 and previous != "resource":
        if previous == "device":
            raise DrbdConfigError(f"line {line_no}: peer volume line outside a peer connection")
        return "peer-device"
    if indent >= 4:
        return "continuation"
    raise DrbdConfigError(f"line {line_no}: unexpected indentation {indent}")


def _text_assemble(name: str, objects: list[tuple[str, dict[str, str]]]) -> ResourceState:
    res_kv = objects[0][1]
    state = ResourceState(
        name=name,
        role=res_kv.get("role", "Unknown"),
        suspended=res_kv.get("suspended", "no") != "no",
        node_id=_opt_int(res_kv.get("node-id")),
    )
    for kind, kv in objects[1:]:
        if kind == "device":
            state.devices.append(
                DeviceState(
                    _opt_int(kv.get("volume")) or 0,
                    _opt_int(kv.get("minor")),
                    kv.get("disk", "DUnknown"),
                    kv.get("client") == "yes",
                )
            )
        elif kind == "peer":
            connection = kv.get("connection", "Connected")
            state.peers.append(
                PeerState(
                    _opt_int(kv.get("node-id")),
                    kv.get("_name"),
                    connection,
                    kv.get("role", "Unknown"),
                )
            )
        elif kind == "peer-device":
            peer = state.peers[-1]
            default_repl = "Established" if peer.connection == "Connected" else "Off"
            peer.devices.append(
                PeerDeviceState(
                    _opt_int(kv.get("volume")) or 0,
                    kv.get("replication", default_repl),
                    kv.get("peer-disk", "DUnknown"),
                    _opt_int(kv.get("out-of-sync")),
                    kv.get("peer-client") == "yes",
                )
            )
    return state


def _opt_int(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isascii() or not value.isdigit():
        raise DrbdConfigError(f"expected a number, got {value!r}")
    return int(value)


# --- drbdsetup events2 --now -------------------------------------------------------------

_EVENT_TYPES = ("exists", "create", "change", "destroy")
_OBJECT_TYPES = ("resource", "device", "connection", "peer-device", "path")


def parse_events2(text: str) -> list[ResourceState]:
    """`drbdsetup events2 --now` lines (`exists <object> key:value …`, ending `exists -`)."""
    resources: dict[str, ResourceState] = {}
    for line_no, line in enumerate(text.splitlines(), 1):
        tokens = line.split()
        if tokens and re.fullmatch(r"\d{4}-\d\d-\d\dT[0-9:.+-]+", tokens[0]):
            tokens = tokens[1:]  # --timestamps
        if not tokens or tokens == ["exists", "-"]:
            continue
        if len(tokens) < 2 or tokens[0] not in _EVENT_TYPES:
            if tokens[0] in ("call", "response"):
                continue  # helper invocations carry no state
            raise DrbdConfigError(f"line {line_no}: not an events2 line: {line[:80]!r}")
        if tokens[1] not in _OBJECT_TYPES:
            raise DrbdConfigError(f"line {line_no}: unknown events2 object {tokens[1]!r}")
        _apply_event(resources, tokens[0], tokens[1], _key_values(tokens[2:], line_no), line_no)
    return list(resources.values())


def _apply_event(
    resources: dict[str, ResourceState], event: str, obj: str, kv: dict[str, str], line_no: int
) -> None:
    name = kv.get("name")
    if not name:
        raise DrbdConfigError(f"line {line_no}: events2 {obj} without name:")
    if obj == "resource":
        if event == "destroy":
            resources.pop(name, None)
            return
        res = resources.setdefault(name, ResourceState(name, "Unknown"))
        res.role = kv.get("role", res.role)
        if "suspended" in kv:
            res.suspended = kv["suspended"] != "no"
        return
    existing = resources.get(name)
    if existing is None:
        raise DrbdConfigError(f"line {line_no}: events2 {obj} of unknown resource {name!r}")
    res = existing
    if obj == "device":
        _event_device(res, event, kv)
    elif obj == "connection":
        _event_connection(res, event, kv)
    elif obj == "peer-device":
        _event_peer_device(res, event, kv, line_no)


def _event_device(res: ResourceState, event: str, kv: dict[str, str]) -> None:
    volume = _opt_int(kv.get("volume")) or 0
    old = next((d for d in res.devices if d.volume == volume), None)
    if event == "destroy":
        res.devices = [d for d in res.devices if d.volume != volume]
    elif old is None:
        res.devices.append(
            DeviceState(
                volume,
                _opt_int(kv.get("minor")),
                kv.get("disk", "DUnknown"),
                kv.get("client") == "yes",
            )
        )
    else:
        old.disk = kv.get("disk", old.disk)
        old.client = kv.get("client", "yes" if old.client else "no") == "yes"


def _event_connection(res: ResourceState, event: str, kv: dict[str, str]) -> None:
    node_id = _opt_int(kv.get("peer-node-id"))
    old = next((p for p in res.peers if p.node_id == node_id), None)
    if event == "destroy":
        res.peers = [p for p in res.peers if p.node_id != node_id]
    elif old is None:
        res.peers.append(
            PeerState(
                node_id,
                kv.get("conn-name"),
                kv.get("connection", "Unknown"),
                kv.get("role", "Unknown"),
            )
        )
    else:
        old.connection = kv.get("connection", old.connection)
        old.role = kv.get("role", old.role)


def _event_peer_device(res: ResourceState, event: str, kv: dict[str, str], line_no: int) -> None:
    node_id = _opt_int(kv.get("peer-node-id"))
    peer = next((p for p in res.peers if p.node_id == node_id), None)
    if peer is None:
        raise DrbdConfigError(f"line {line_no}: peer-device of unknown connection {node_id}")
    volume = _opt_int(kv.get("volume")) or 0
    old = next((d for d in peer.devices if d.volume == volume), None)
    if event == "destroy":
        peer.devices = [d for d in peer.devices if d.volume != volume]
    elif old is None:
        peer.devices.append(
            PeerDeviceState(
                volume,
                kv.get("replication", "Off"),
                kv.get("peer-disk", "DUnknown"),
                _opt_int(kv.get("out-of-sync")),
                kv.get("peer-client") == "yes",
            )
        )
    else:
        old.peer_client = kv.get("peer-client", "yes" if old.peer_client else "no") == "yes"
        old.replication = kv.get("replication", old.replication)
        old.peer_disk = kv.get("peer-disk", old.peer_disk)
        if "out-of-sync" in kv:
            old.out_of_sync_kib = _opt_int(kv["out-of-sync"])


# --- /proc/drbd (DRBD 8.4) -----------------------------------------------------------------

_PROC_DEVICE = re.compile(r"\s*(?P<minor>\d{1,7}):\s+cs:(?P<cs>\S+)(?P<rest>.*)")


@dataclass
class ProcDrbdDevice:
    """One minor of /proc/drbd: `M: cs:… ro:L/P ds:L/P PROTO FLAGS` plus counters."""

    minor: int
    connection: str
    role: str | None = None
    peer_role: str | None = None
    disk: str | None = None
    peer_disk: str | None = None
    protocol: str | None = None
    flags: str | None = None
    counters: dict[str, str] = field(default_factory=dict)

    @property
    def out_of_sync_kib(self) -> int | None:
        """The `oos:` counter (KiB) if present."""
        return _opt_int(self.counters.get("oos"))


def parse_proc_drbd(text: str) -> list[ProcDrbdDevice]:
    """The per-minor entries of DRBD 8.4's /proc/drbd (version and GIT-hash lines skipped)."""
    devices: list[ProcDrbdDevice] = []
    for line_no, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("version:", "GIT-hash:", "srcversion:")):
            continue
        match = _PROC_DEVICE.fullmatch(line)
        if match:
            devices.append(_proc_device(match, line_no))
        elif devices and ":" in stripped and not stripped.startswith("["):
            devices[-1].counters.update(_proc_counters(stripped, line_no))
        elif devices and stripped.startswith(
            ("[", "finish:", "speed:", "resync:", "act_log:", "\t")
        ):
            continue  # resync progress bar and lines that follow it
        else:
            raise DrbdConfigError(f"line {line_no}: not a /proc/drbd line: {stripped[:80]!r}")
    return devices


def _proc_counters(text: str, line_no: int) -> dict[str, str]:
    counters = {}
    for token in text.split():
        key, sep, value = token.partition(":")
        if not sep:
            raise DrbdConfigError(f"line {line_no}: expected counter:value, got {token!r}")
        counters[key] = value
    return counters


def _proc_device(match: re.Match[str], line_no: int) -> ProcDrbdDevice:
    dev = ProcDrbdDevice(int(match.group("minor")), _checked_word(match.group("cs"), line_no))
    rest = match.group("rest").split()
    for token in rest:
        if token.startswith("ro:"):
            dev.role, dev.peer_role = _pair(token[3:], line_no)
        elif token.startswith("ds:"):
            dev.disk, dev.peer_disk = _pair(token[3:], line_no)
        elif token in ("A", "B", "C"):
            dev.protocol = token
        elif re.fullmatch(r"[a-zA-Z-]{1,12}", token):
            dev.flags = token
        else:
            raise DrbdConfigError(f"line {line_no}: unexpected /proc/drbd field {token!r}")
    return dev


def _pair(value: str, line_no: int) -> tuple[str, str]:
    local, sep, peer = value.partition("/")
    if not sep:
        raise DrbdConfigError(f"line {line_no}: expected LOCAL/PEER, got {value!r}")
    return _checked_word(local, line_no), _checked_word(peer, line_no)


def _checked_word(word: str, line_no: int) -> str:
    if not _WORD.fullmatch(word):
        raise DrbdConfigError(f"line {line_no}: implausible state {word!r}")
    return word


def proc_drbd_states(
    devices: list[ProcDrbdDevice], resource_of_minor: dict[int, str] | None = None
) -> list[ResourceState]:
    """Group /proc/drbd minors into ResourceStates (named by `resource_of_minor`, else
    "minor-N"). 8.4 folds replication into cs:, so SyncSource etc. become Connected
    with that replication state, and Connected becomes Established."""
    states: dict[str, ResourceState] = {}
    for dev in devices:
        name = (resource_of_minor or {}).get(dev.minor, f"minor-{dev.minor}")
        state = states.setdefault(name, ResourceState(name, dev.role or "Unknown"))
        volume = len(state.devices)
        state.devices.append(DeviceState(volume, dev.minor, dev.disk or "Diskless"))
        if dev.connection in ("Unconfigured", "StandAlone") and dev.peer_role is None:
            continue
        replication, connection = _fold_84(dev.connection)
        if not state.peers:
            state.peers.append(PeerState(None, None, connection, dev.peer_role or "Unknown"))
        state.peers[0].devices.append(
            PeerDeviceState(volume, replication, dev.peer_disk or "DUnknown", dev.out_of_sync_kib)
        )
    return list(states.values())


def _fold_84(cs: str) -> tuple[str, str]:
    if cs in REPLICATION_STATES_84:
        return cs, "Connected"
    if cs == "Connected":
        return "Established", "Connected"
    return "Off", cs
