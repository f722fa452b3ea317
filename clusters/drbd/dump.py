"""Parse `drbdadm dump` output and ordinary .res files into ResourceConfig objects.

Accepted: comments, quoted strings, `address [family] IP:PORT`, `volume N { }`,
resource-level device/disk/meta-disk defaults, `connection`/`connection-mesh`,
old-style resource-level `protocol`. `global` is skipped. Options of `common` are
merged into every resource the way drbdadm's expand_common() does (a resource's own
value wins): plain `drbdadm dump` does not expand them (drbdadm_main.c runs
expand_common() only `if (!is_dump || dry_run || verbose)`) and prints `common { … }`
apart (drbdadm_dump.c dump_common_info), yet `drbdadm adjust` applies them, so a
resource whose protocol or allow-two-primaries lives in global_common.conf has them.
"""

from __future__ import annotations

import re

from clusters.drbd.conftext import Statement, options_of, parse_statements
from clusters.drbd.model import (
    Address,
    ConnectionConfig,
    DrbdConfigError,
    HostSection,
    PathConfig,
    ResourceConfig,
    VolumeConfig,
)
from clusters.drbd.options import OPTION_SECTIONS

_ADDRESS = re.compile(r"(?:\[(?P<ip6>[^\]]*)\]|(?P<ip>[^\[\]:]+)):(?P<port>[0-9]{1,5})")
_FAMILIES = ("ipv4", "ipv6", "ssocks", "sdp", "sci")
_SKIPPED_TOP = ("global", "common", "skip")
_VOLUME_KEYS = ("device", "disk", "meta-disk", "flexible-meta-disk")


def parse_dump(text: str) -> list[ResourceConfig]:
    """Resources in `drbdadm dump` output or a .res file; DrbdConfigError with line numbers."""
    statements = parse_statements(text)
    common: dict[str, dict[str, str]] = {}
    for stmt in statements:
        if stmt.keyword == "common" and stmt.block is not None:
            for child in stmt.block:
                if child.keyword in OPTION_SECTIONS:
                    common.setdefault(child.keyword, {}).update(_section(child))
    resources: list[ResourceConfig] = []
    for stmt in statements:
        if stmt.keyword in _SKIPPED_TOP or stmt.keyword == "include":
            continue
        if stmt.keyword != "resource":
            raise DrbdConfigError(
                f"line {stmt.line}: expected 'resource', 'global' or 'common', got '{stmt.keyword}'"
            )
        resources.append(_resource(stmt, common))
    return resources


def _resource(stmt: Statement, common: dict[str, dict[str, str]] | None = None) -> ResourceConfig:
    if len(stmt.args) != 1 or stmt.block is None:
        raise DrbdConfigError(f"line {stmt.line}: expected 'resource NAME {{ … }}'")
    res = ResourceConfig(name=stmt.args[0], hosts=[])
    defaults: dict[str, Statement] = {}
    default_volumes: list[Statement] = []
    host_stmts: list[Statement] = []
    own_protocol = False
    for child in stmt.block:
        key = child.keyword
        if key == "on":
            host_stmts.append(child)
        elif key in OPTION_SECTIONS:
            getattr(res, key).update(_section(child))
        elif key == "protocol":
            res.protocol = _single(child)
            own_protocol = True
        elif key in _VOLUME_KEYS and child.block is None:
            defaults[key] = child
        elif key == "volume":
            default_volumes.append(child)
        elif key == "connection":
            res.connections.append(_connection(child))
        elif key == "connection-mesh":
            res.connection_mesh = _mesh_hosts(child)
        else:
            raise DrbdConfigError(f"line {child.line}: unsupported '{key}' in resource {res.name}")
    own_protocol = own_protocol and "protocol" not in res.net
    for section, options in (common or {}).items():
        setattr(res, section, {**options, **getattr(res, section)})
    if "protocol" in res.net:
        protocol = res.net.pop("protocol")
        if not own_protocol:
            res.protocol = protocol
    res.hosts = [_host(h, defaults, default_volumes) for h in host_stmts]
    return res


def _section(stmt: Statement) -> dict[str, str]:
    if stmt.block is None:
        raise DrbdConfigError(f"line {stmt.line}: '{stmt.keyword}' needs a {{ … }} block")
    return options_of(stmt.block, stmt.keyword)


def _single(stmt: Statement) -> str:
    if len(stmt.args) != 1 or stmt.block is not None:
        raise DrbdConfigError(f"line {stmt.line}: '{stmt.keyword}' takes exactly one value")
    return stmt.args[0]


def _int(value: str, stmt: Statement, low: int, high: int) -> int:
    if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
        raise DrbdConfigError(
            f"line {stmt.line}: {stmt.keyword} value {value!r} is not a number {low}-{high}"
        )
    return int(value)


def _host(
    stmt: Statement, defaults: dict[str, Statement], default_volumes: list[Statement]
) -> HostSection:
    if len(stmt.args) != 1 or stmt.block is None:
        raise DrbdConfigError(f"line {stmt.line}: expected 'on HOST {{ … }}'")
    node_id: int | None = None
    address: Address | None = None
    plain = dict(defaults)
    volume_stmts: list[Statement] = []
    for child in stmt.block:
        if child.keyword == "node-id":
            node_id = _int(_single(child), child, 0, 32)
        elif child.keyword == "address":
            address = parse_address(child.args, child.line)
        elif child.keyword == "volume":
            volume_stmts.append(child)
        elif child.keyword in _VOLUME_KEYS and child.block is None:
            plain[child.keyword] = child
        else:
            raise DrbdConfigError(
                f"line {child.line}: unsupported '{child.keyword}' in 'on {stmt.args[0]}'"
            )
    volumes = [_volume(v, plain) for v in (volume_stmts or default_volumes)]
    if not volumes and plain:
        volumes = [_volume_from(None, plain, stmt.line)]
    return HostSection(stmt.args[0], node_id, volumes, address)


def _volume(stmt: Statement, inherited: dict[str, Statement]) -> VolumeConfig:
    if len(stmt.args) != 1 or stmt.block is None:
        raise DrbdConfigError(f"line {stmt.line}: expected 'volume N {{ … }}'")
    number = _int(stmt.args[0], stmt, 0, 65535)
    keys = {k: v for k, v in inherited.items() if k != "device"}
    for child in stmt.block:
        if child.keyword in _VOLUME_KEYS and child.block is None:
            keys[child.keyword] = child
        elif child.keyword == "disk" and child.block is not None:
            continue  # per-volume disk options; not modelled
        else:
            raise DrbdConfigError(f"line {child.line}: unsupported '{child.keyword}' in volume")
    return _volume_from(number, keys, stmt.line)


def _volume_from(number: int | None, keys: dict[str, Statement], line: int) -> VolumeConfig:
    if "device" not in keys:
        raise DrbdConfigError(f"line {line}: volume without a 'device'")
    device, minor = _device(keys["device"])
    disk = _single(keys["disk"]) if "disk" in keys else "none"
    meta_stmt = keys.get("meta-disk") or keys.get("flexible-meta-disk")
    meta = " ".join(meta_stmt.args) if meta_stmt is not None else "internal"
    if not meta:
        raise DrbdConfigError(f"line {meta_stmt.line if meta_stmt else line}: empty meta-disk")
    return VolumeConfig(number, device, minor, disk, meta)


def _device(stmt: Statement) -> tuple[str | None, int | None]:
    args = stmt.args
    if len(args) == 2 and args[0] == "minor":
        return None, _int(args[1], stmt, 0, (1 << 20) - 1)
    if len(args) == 3 and args[1] == "minor":
        return args[0], _int(args[2], stmt, 0, (1 << 20) - 1)
    if len(args) == 1:
        match = re.fullmatch(r"/dev/drbd([0-9]{1,7})", args[0])
        return args[0], int(match.group(1)) if match else None
    raise DrbdConfigError(f"line {stmt.line}: expected 'device [PATH] [minor N]'")


def parse_address(args: list[str], line: int) -> Address:
    """`[family] IP:PORT` (IPv6 as [IP]:PORT) into an Address; family defaults to ipv4."""
    if len(args) == 2 and args[0] in _FAMILIES:
        family, value = args
    elif len(args) == 1:
        family, value = "", args[0]
    else:
        raise DrbdConfigError(f"line {line}: expected 'address [FAMILY] IP:PORT'")
    match = _ADDRESS.fullmatch(value)
    if match is None:
        raise DrbdConfigError(f"line {line}: address {value!r} is not IP:PORT or [IPv6]:PORT")
    port = int(match.group("port"))
    if not 1 <= port <= 65535:
        raise DrbdConfigError(f"line {line}: port {port} is out of range 1-65535")
    ip = match.group("ip6") if match.group("ip6") is not None else match.group("ip")
    if not family:
        family = "ipv6" if match.group("ip6") is not None else "ipv4"
    return Address(family, ip, port)


def _connection(stmt: Statement) -> ConnectionConfig:
    if stmt.block is None or len(stmt.args) > 1:
        raise DrbdConfigError(f"line {stmt.line}: expected 'connection [NAME] {{ … }}'")
    conn = ConnectionConfig(stmt.args[0] if stmt.args else None, hosts=[])
    for child in stmt.block:
        if child.keyword == "host" and child.block is None:
            conn.hosts.append(_connection_host(child))
        elif child.keyword == "path" and child.block is not None:
            hosts = [_connection_host(h) for h in child.block if h.keyword == "host"]
            conn.paths.append(PathConfig(hosts))
        elif child.keyword == "net":
            conn.net.update(_section(child))
        elif child.keyword in ("disk", "volume"):
            continue  # per-connection peer-device options; not modelled
        else:
            raise DrbdConfigError(f"line {child.line}: unsupported '{child.keyword}' in connection")
    return conn


def _connection_host(stmt: Statement) -> tuple[str, Address | None]:
    args = stmt.args
    if len(args) == 1:
        return args[0], None
    if len(args) >= 3 and args[1] == "address":
        return args[0], parse_address(args[2:], stmt.line)
    if len(args) == 3 and args[1] == "port":
        return args[0], None
    raise DrbdConfigError(f"line {stmt.line}: expected 'host NAME [address [AF] IP:PORT]'")


def _mesh_hosts(stmt: Statement) -> list[str]:
    if stmt.block is None:
        raise DrbdConfigError(f"line {stmt.line}: 'connection-mesh' needs a {{ … }} block")
    for child in stmt.block:
        if child.keyword == "hosts":
            return list(child.args)
    raise DrbdConfigError(f"line {stmt.line}: connection-mesh without 'hosts'")
