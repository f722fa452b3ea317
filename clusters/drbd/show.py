"""Parse `drbdsetup show [--show-defaults]`: the kernel's running configuration.

Both layouts: DRBD 9's (`_this_host { node-id; volume … }` and one `connection` per
peer) and DRBD 8.4's (drbd-utils user/v84/drbdsetup.c show_scmd: `net` and
`_remote_host { address … }` at resource level, `_this_host { address …; volume … }`),
read as one connection without a node id; 8.4 keeps `fencing` in each volume's disk.

`drbdsetup show` omits options equal to their default; `--show-defaults` prints
them followed by `# default` (drbd-utils drbdsetup.c __print_options, which also
appends units such as `# 1/10 seconds`). A trailing `_is_default` word before the
`;` is accepted as the same marker. effective_net_options() fills the omitted
defaults back in, so that a missing `protocol` reads as C.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from clusters.drbd.conftext import Statement, parse_statements
from clusters.drbd.dump import parse_address
from clusters.drbd.model import Address, DrbdConfigError

# Net option defaults from drbd_limits.h, as `drbdsetup xml-help net-options` of
# drbd-utils 9.22 prints them; enum defaults (no xml default) from DRBD_*_DEF.
NET_DEFAULTS: dict[str, str] = {
    "protocol": "C",
    "timeout": "60",
    "max-epoch-size": "2048",
    "connect-int": "10",
    "ping-int": "10",
    "sndbuf-size": "0",
    "rcvbuf-size": "0",
    "ko-count": "7",
    "allow-two-primaries": "no",
    "after-sb-0pri": "disconnect",
    "after-sb-1pri": "disconnect",
    "after-sb-2pri": "disconnect",
    "always-asbp": "no",
    "rr-conflict": "disconnect",
    "ping-timeout": "5",
    "tcp-cork": "yes",
    "on-congestion": "block",
    "congestion-fill": "0",
    "congestion-extents": "1237",
    "csums-after-crash-only": "no",
    "use-rle": "yes",
    "socket-check-timeout": "0",
    "fencing": "dont-care",
    "max-buffers": "2048",
    "allow-remote-read": "yes",
}


@dataclass
class ShowOptions:
    """An option section: values plus the names marked as defaults."""

    values: dict[str, str] = field(default_factory=dict)
    defaults: set[str] = field(default_factory=set)


@dataclass
class ShowVolume:
    """`volume N { device minor M; disk "…"; meta-disk …; disk { … } }` of _this_host."""

    number: int
    minor: int | None
    disk: str | None
    meta_disk: str | None
    disk_options: ShowOptions = field(default_factory=ShowOptions)


@dataclass
class ShowPath:
    """`path { _this_host ADDR; _remote_host ADDR; }`."""

    this_host: Address | None
    remote_host: Address | None


@dataclass
class ShowConnection:
    """`connection { _peer_node_id N; path …; _cstate …; net { … } }` (DRBD 9), or the
    resource's one peer of DRBD 8.4 (no node id)."""

    peer_node_id: int | None
    paths: list[ShowPath] = field(default_factory=list)
    cstate: str | None = None
    standalone: bool = False
    net: ShowOptions = field(default_factory=ShowOptions)

    @property
    def peer_name(self) -> str | None:
        """The peer's host name (`_name` in net)."""
        return self.net.values.get("_name")

    @property
    def peer(self) -> str:
        """The peer as a page names it: host name, node id, or (8.4) its address."""
        if self.peer_name:
            return self.peer_name
        if self.peer_node_id is not None:
            return f"node-id {self.peer_node_id}"
        remote = next((p.remote_host for p in self.paths if p.remote_host), None)
        return f"{remote.ip}:{remote.port}" if remote else "the peer"


@dataclass
class ShowResource:
    """One `resource "NAME" { … }` of drbdsetup show."""

    name: str
    node_id: int | None
    options: ShowOptions = field(default_factory=ShowOptions)
    volumes: list[ShowVolume] = field(default_factory=list)
    connections: list[ShowConnection] = field(default_factory=list)


def parse_show(text: str) -> list[ShowResource]:
    """Resources in `drbdsetup show [--show-defaults]` output."""
    resources = []
    for stmt in parse_statements(text):
        if stmt.keyword != "resource" or len(stmt.args) != 1 or stmt.block is None:
            raise DrbdConfigError(f"line {stmt.line}: expected 'resource \"NAME\" {{ … }}'")
        resources.append(_resource(stmt.args[0], stmt.block))
    return resources


def effective_net_options(show: ShowConnection | ShowResource) -> dict[str, str]:
    """Running net options with drbd_limits.h defaults filled in (protocol C, …).

    For a resource, all its connections must agree; otherwise pass one connection.
    A resource without connections has only the defaults (allow-two-primaries no).
    """
    if isinstance(show, ShowResource):
        per_peer = [effective_net_options(conn) for conn in show.connections]
        if any(options != per_peer[0] for options in per_peer):
            raise DrbdConfigError(
                f"resource {show.name}: connections have different net options; "
                "check each connection"
            )
        return per_peer[0] if per_peer else dict(NET_DEFAULTS)
    running = {k: v for k, v in show.net.values.items() if not k.startswith("_")}
    return {**NET_DEFAULTS, **running}


def _resource(name: str, block: list[Statement]) -> ShowResource:
    res = ShowResource(name, None)
    peer_84: ShowConnection | None = None  # DRBD 8.4: net and _remote_host here
    this_84: Address | None = None
    for stmt in block:
        if stmt.keyword == "options":
            res.options = _options(stmt)
        elif stmt.keyword == "_this_host":
            res.node_id, res.volumes, this_84 = _this_host(stmt)
        elif stmt.keyword == "connection":
            res.connections.append(_connection(stmt))
        elif stmt.keyword in ("net", "_remote_host") and stmt.block is not None:
            peer_84 = peer_84 or ShowConnection(None)
            if stmt.keyword == "net":
                peer_84.net = _options(stmt)
            else:
                peer_84.paths = [ShowPath(None, _address_of(stmt))]
        else:
            raise DrbdConfigError(f"line {stmt.line}: unexpected '{stmt.keyword}' in resource")
    if peer_84 is not None:
        peer_84.paths = [ShowPath(this_84, p.remote_host) for p in peer_84.paths]
        res.connections.append(peer_84)
    return res


def _address_of(stmt: Statement) -> Address:
    """The one `address AF IP:PORT;` of an 8.4 `_remote_host` block."""
    found = [c for c in stmt.block or [] if c.keyword == "address"]
    if len(found) != 1 or len(found) != len(stmt.block or []):
        raise DrbdConfigError(f"line {stmt.line}: expected one 'address' in {stmt.keyword}")
    return parse_address(found[0].args, found[0].line)


def _options(stmt: Statement) -> ShowOptions:
    if stmt.block is None:
        raise DrbdConfigError(f"line {stmt.line}: '{stmt.keyword}' needs a {{ … }} block")
    options = ShowOptions()
    for opt in stmt.block:
        words = list(opt.args)
        is_default = bool(words) and words[-1] == "_is_default"
        if is_default:
            words.pop()
        if opt.block is not None or len(words) != 1:
            raise DrbdConfigError(f"line {opt.line}: expected 'NAME VALUE;' in {stmt.keyword}")
        options.values[opt.keyword] = words[0]
        if is_default or "default" in opt.comment.replace(",", " ").split():
            options.defaults.add(opt.keyword)
    return options


def _number(stmt: Statement, value: str) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        raise DrbdConfigError(f"line {stmt.line}: {stmt.keyword} {value!r} is not a number")
    return int(value)


def _single(stmt: Statement) -> str:
    if len(stmt.args) != 1 or stmt.block is not None:
        raise DrbdConfigError(f"line {stmt.line}: '{stmt.keyword}' takes one value")
    return stmt.args[0]


def _this_host(stmt: Statement) -> tuple[int | None, list[ShowVolume], Address | None]:
    """(node-id of DRBD 9, volumes, address of DRBD 8.4)."""
    node_id, volumes, address = None, [], None
    for child in stmt.block or []:
        if child.keyword == "node-id":
            node_id = _number(child, _single(child))
        elif child.keyword == "address" and child.block is None:
            address = parse_address(child.args, child.line)
        elif child.keyword == "volume" and child.block is not None and len(child.args) == 1:
            volumes.append(_volume(_number(child, child.args[0]), child.block))
        else:
            raise DrbdConfigError(f"line {child.line}: unexpected '{child.keyword}' in _this_host")
    return node_id, volumes, address


def _volume(number: int, block: list[Statement]) -> ShowVolume:
    vol = ShowVolume(number, None, None, None)
    for stmt in block:
        if stmt.keyword == "device":
            if len(stmt.args) != 2 or stmt.args[0] != "minor":
                raise DrbdConfigError(f"line {stmt.line}: expected 'device minor N'")
            vol.minor = _number(stmt, stmt.args[1])
        elif stmt.keyword == "disk" and stmt.block is not None:
            vol.disk_options = _options(stmt)
        elif stmt.keyword == "disk":
            vol.disk = _single(stmt)
        elif stmt.keyword == "meta-disk" and stmt.args and stmt.block is None:
            vol.meta_disk = " ".join(stmt.args)
        else:
            raise DrbdConfigError(f"line {stmt.line}: unexpected '{stmt.keyword}' in volume")
    return vol


def _connection(stmt: Statement) -> ShowConnection:
    conn: ShowConnection | None = None
    rest: list[Statement] = []
    for child in stmt.block or []:
        if child.keyword == "_peer_node_id":
            conn = ShowConnection(_number(child, _single(child)))
        else:
            rest.append(child)
    if conn is None:
        raise DrbdConfigError(f"line {stmt.line}: connection without _peer_node_id")
    for child in rest:
        _connection_item(conn, child)
    return conn


def _connection_item(conn: ShowConnection, stmt: Statement) -> None:
    if stmt.keyword == "path" and stmt.block is not None:
        addresses = {c.keyword: parse_address(c.args, c.line) for c in stmt.block}
        unknown = set(addresses) - {"_this_host", "_remote_host"}
        if unknown:
            raise DrbdConfigError(f"line {stmt.line}: unexpected {sorted(unknown)} in path")
        conn.paths.append(ShowPath(addresses.get("_this_host"), addresses.get("_remote_host")))
    elif stmt.keyword == "_cstate":
        conn.cstate = _single(stmt)
    elif stmt.keyword == "_is_standalone" and not stmt.args:
        conn.standalone = True
    elif stmt.keyword == "net":
        conn.net = _options(stmt)
    elif stmt.keyword == "volume" and stmt.block is not None:
        return  # per-peer-device disk options; not needed for compliance
    else:
        raise DrbdConfigError(f"line {stmt.line}: unexpected '{stmt.keyword}' in connection")
