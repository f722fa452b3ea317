"""drbd.conf / .res files as drbdadm 9.22 reads and dumps them, and as drbdadm 8.4 does
on a node whose loaded module is DRBD 8.4 (version "8.4": the 8.4 keyword tables, with
`fencing` in disk, and `become-primary-on` kept in the dump).

The tokenizer and checks follow drbd-utils' drbdadm_scanner/drbdadm_parser (the
error texts are those drbdadm 9.22 prints); the dump writer follows
drbdadm_dump.c (printI/printA column rules: INDENT_WIDTH 4, option names
left-justified to 24 - 4*indent, values right-justified to 3).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Protocol

from lab import drbd_options

RESOURCE_KEYWORDS = (
    "protocol | on | disk | net | syncer | startup | handlers | connection | ignore-on | "
    "stacked-on-top-of | skip"
)
RESOURCE_SECTIONS = {"net", "disk", "startup", "handlers", "options", "syncer", "proxy"}
RESOURCE_OTHER = {
    "on",
    "connection",
    "connection-mesh",
    "floating",
    "volume",
    "device",
    "meta-disk",
    "ignore-on",
    "stacked-on-top-of",
    "skip",
    "template-file",
    "protocol",
    "node-id",
    "address",
}
HOST_KEYWORDS = {
    "disk",
    "device",
    "address",
    "meta-disk",
    "flexible-meta-disk",
    "node-id",
    "skip",
    "volume",
}
SECTION_ORDER = ("options", "net", "disk", "startup", "handlers")
DROPPED = {"become-primary-on"}
GLOBAL_NOT_DUMPED = {
    "udev-always-use-vnr"
}  # accepted, but drbdadm 9.22 dump omits it  # not printed by drbdadm 9 dump


class Files(Protocol):
    def read(self, path: str) -> str | None: ...
    def glob(self, pattern: str) -> list[str]: ...


class ParseError(Exception):
    def __init__(self, text: str, code: int = 10) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


@dataclass
class Stmt:
    name: str
    args: list[str]
    line: int
    block: list[Stmt] | None = None


@dataclass
class Volume:
    number: int | None  # None: implicit volume
    device: str | None = None
    minor: int | None = None
    disk: str | None = None
    meta_disk: str | None = None


@dataclass
class Host:
    name: str
    node_id: str | None = None
    address: tuple[str, str, str] | None = None  # (family, ip, port)
    volumes: list[Volume] = field(default_factory=list)


@dataclass
class Resource:
    name: str
    file: str
    line: int
    hosts: list[Host] = field(default_factory=list)
    sections: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    version: str = "9"  # the drbdadm that read it: "9" (9.22) or "8.4"


@dataclass
class Config:
    file: str
    version: str = "9"
    global_opts: list[tuple[str, str]] | None = None
    common: dict[str, list[tuple[str, str]]] | None = None
    resources: list[Resource] = field(default_factory=list)


_TOKEN = re.compile(r'\s+|#[^\n]*|"((?:[^"\\]|\\.)*)"|([{};])|([^\s{};"#]+)')


def tokenize(text: str, fname: str) -> list[tuple[str, int, bool]]:
    """(token, line, quoted) triples."""
    out = []
    line = 1
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ParseError(f"{fname}:{line}: Parse error: unexpected character\n")
        tok = m.group(0)
        if m.group(1) is not None:
            out.append((re.sub(r"\\(.)", r"\1", m.group(1)), line, True))
        elif m.group(2) or m.group(3):
            out.append((tok, line, False))
        line += tok.count("\n")
        pos = m.end()
    return out


def parse_statements(text: str, fname: str) -> list[Stmt]:
    toks = tokenize(text, fname)
    pos = 0

    def block(depth: int) -> list[Stmt]:
        nonlocal pos
        stmts: list[Stmt] = []
        while pos < len(toks):
            tok, line, quoted = toks[pos]
            if tok == "}" and not quoted:
                if depth == 0:
                    raise ParseError(f"{fname}:{line}: Parse error: unexpected '}}'\n")
                pos += 1
                return stmts
            if tok in ("{", ";") and not quoted:
                raise ParseError(f"{fname}:{line}: Parse error: unexpected '{tok}'\n")
            name = tok
            pos += 1
            args: list[str] = []
            while pos < len(toks) and (toks[pos][2] or toks[pos][0] not in "{};"):
                args.append(toks[pos][0])
                pos += 1
            if pos >= len(toks):
                raise ParseError(f"{fname}:{line}: Parse error: unexpected end of file\n")
            end = toks[pos][0]
            pos += 1
            if end == "{":
                stmts.append(Stmt(name, args, line, block(depth + 1)))
            elif end == ";":
                stmts.append(Stmt(name, args, line))
            else:
                raise ParseError(f"{fname}:{line}: Parse error: ';' expected\n")
        if depth:
            raise ParseError(
                f"{fname}:{toks[-1][1] if toks else 1}: Parse error: unexpected end of file\n"
            )
        return stmts

    return block(0)


_SIZE_SUFFIX = {"": 1, "s": 512, "k": 1024, "m": 1024**2, "g": 1024**3}
_BYTE_OPTIONS = {"sndbuf-size", "rcvbuf-size"}
_UNKNOWN = {
    "net": "an option keyword",
    "disk": " | ".join(
        [
            "resync-rate",
            "c-plan-ahead",
            "c-delay-target",
            "c-fill-target",
            "c-max-rate",
            "c-min-rate",
            "bitmap",
        ]
    ),
    "options": " | ".join(drbd_options.OPTIONS),
    "startup": "<an option keyword> | become-primary-on | stacked-timeouts",
    "handlers": " | ".join(drbd_options.HANDLERS),
}
_TABLES: dict[str, dict[str, drbd_options.Option]] = {
    "net": drbd_options.NET,
    "disk": drbd_options.DISK,
    "options": drbd_options.OPTIONS,
    "startup": drbd_options.STARTUP,
}
_TABLES_84 = _TABLES | {
    "net": drbd_options.NET_84,
    "disk": drbd_options.DISK_84,
    "options": drbd_options.OPTIONS_84,
}
# drbdadm 8.4's parser (user/v84/drbdadm_parser.c parse_options_d) names no keywords
# when it meets an unknown one in net, disk or options.
_UNKNOWN_84 = _UNKNOWN | {s: "an option keyword" for s in ("net", "disk", "options")}


def _value_error(fname: str, s: Stmt, value: str, why: str) -> ParseError:
    return ParseError(
        f"{fname}:{s.line}: Parse error: while parsing value ('{value}')\nfor {s.name}. {why}\n"
    )


def _check_option(fname: str, s: Stmt, section: str = "net", version: str = "9") -> tuple[str, str]:
    """Validate one `name value;` of SECTION as drbdadm 9.22's parser does (for "8.4":
    against 8.4's keywords; bad values are still reported in 9.22's words)."""
    value = " ".join(s.args)
    tables, unknown = (_TABLES_84, _UNKNOWN_84) if version == "8.4" else (_TABLES, _UNKNOWN)
    if section == "handlers":
        if s.name not in drbd_options.HANDLERS:
            raise ParseError(
                f"{fname}:{s.line}: Parse error: '{_UNKNOWN['handlers']}' "
                f"expected,\n\tbut got '{s.name}'\n"
            )
        return s.name, value
    table = tables.get(section)
    if table is None:
        return s.name, value
    if s.name not in table:
        raise ParseError(
            f"{fname}:{s.line}: Parse error: '{unknown[section]}' expected,\n\tbut got '{s.name}'\n"
        )
    kind, allowed, limits = table[s.name]
    if kind == "bool":
        if value == "":
            return s.name, "yes"
        if value not in ("yes", "no"):
            raise _value_error(fname, s, value, "Value is not 'yes' or 'no'.")
    elif kind == "enum" and value not in (allowed or ()):
        raise _value_error(
            fname, s, value, f"Value is not valid.\nAllowed values are: {' | '.join(allowed or ())}"
        )
    elif kind == "num" or (kind == "enum+num" and value not in (allowed or ())):
        m = re.fullmatch(r"(-?\d+)([sSkKmMgG]?)", value)
        if not m:
            raise _value_error(fname, s, value, "Value is not a number.")
        number = int(m.group(1))
        if number < 0 and section == "startup":
            raise _value_error(fname, s, value, "Value is too big.")
        if m.group(2) and s.name in _BYTE_OPTIONS:
            number *= _SIZE_SUFFIX[m.group(2).lower()]
        if limits and section in ("net", "options") and (not m.group(2) or s.name in _BYTE_OPTIONS):
            if number < limits[0]:
                raise _value_error(fname, s, value, "Value is too small.")
            if number > limits[1]:
                raise _value_error(fname, s, value, "Value is too big.")
    return s.name, value


def _options(
    fname: str, stmts: list[Stmt], section: str, version: str = "9"
) -> list[tuple[str, str]]:
    out = []
    for s in stmts:
        if s.block is not None:
            continue
        out.append(_check_option(fname, s, section, version))
    return out


def _volume(fname: str, number: int | None, stmts: list[Stmt]) -> Volume:
    v = Volume(number)
    for s in stmts:
        if s.name == "device":
            args = list(s.args)
            if args and args[0] != "minor":
                v.device = args.pop(0)
            if len(args) == 2 and args[0] == "minor":
                v.minor = int(args[1])
            if v.minor is None and v.device:
                m = re.match(r"/dev/drbd(\d+)$", v.device)
                if m:
                    v.minor = int(m.group(1))
        elif s.name == "disk" and s.block is None:
            v.disk = " ".join(s.args)
        elif s.name == "meta-disk":
            v.meta_disk = " ".join(s.args)
    return v


def _address(args: list[str]) -> tuple[str, str, str]:
    family = "ipv4"
    if len(args) == 2:
        family, addr = args
    else:
        addr = args[0]
    ip, _, port = addr.rpartition(":")
    return family, ip, port


def _host(fname: str, s: Stmt, version: str = "9") -> Host:
    h = Host(s.args[0] if s.args else "")
    implicit = _volume(fname, None, s.block or [])
    for st in s.block or []:
        if version == "8.4" and st.name == "node-id":  # DRBD 8.4 has no node ids
            raise ParseError(
                f"{fname}:{st.line}: Parse error: 'disk | device | address | meta-disk | "
                f"flexible-meta-disk' expected,\n\tbut got '{st.name}'\n"
            )
        if st.name not in HOST_KEYWORDS:
            raise ParseError(
                f"{fname}:{st.line}: Parse error: 'disk | device | address | meta-disk | "
                f"flexible-meta-disk | node-id | skip' expected,\n\tbut got '{st.name}'\n"
            )
        if st.name == "node-id":
            h.node_id = " ".join(st.args)
        elif st.name == "address":
            h.address = _address(st.args)
        elif st.name == "volume" and st.block is not None:
            h.volumes.append(_volume(fname, int(st.args[0]), st.block))
    if implicit.device or implicit.disk or implicit.meta_disk:
        h.volumes.insert(0, implicit)
    return h


def _resource(fname: str, s: Stmt, version: str = "9") -> Resource:
    if not s.args:
        raise ParseError(f"{fname}:{s.line}: Parse error: resource name expected\n")
    r = Resource(name=s.args[0], file=fname, line=s.line, version=version)
    common_vols: dict[int | None, Volume] = {}
    for st in s.block or []:
        if st.name == "on":
            r.hosts.append(_host(fname, st, version))
        elif st.name in RESOURCE_SECTIONS and st.block is not None:
            r.sections.setdefault(st.name, []).extend(_options(fname, st.block, st.name, version))
        elif st.name == "volume" and st.block is not None:
            common_vols[int(st.args[0])] = _volume(fname, int(st.args[0]), st.block)
        elif st.name in ("device", "disk", "meta-disk") and st.block is None:
            common_vols.setdefault(None, Volume(None))
            v = _volume(fname, None, [st])
            cv = common_vols[None]
            cv.device = v.device or cv.device
            cv.minor = v.minor if v.minor is not None else cv.minor
            cv.disk = v.disk or cv.disk
            cv.meta_disk = v.meta_disk or cv.meta_disk
        elif st.name == "protocol":
            r.sections.setdefault("net", []).insert(0, _check_option(fname, st, "net", version))
        elif st.name in RESOURCE_OTHER:
            continue
        else:
            raise ParseError(
                f"{fname}:{st.line}: Parse error: '{RESOURCE_KEYWORDS}' expected,\n"
                f"\tbut got '{st.name}' (TK 281)\n"
            )
    # Volumes given at resource level apply to every host (drbdadm inherits them).
    for h in r.hosts:
        for num, cv in common_vols.items():
            hv = next((v for v in h.volumes if v.number == num), None)
            if hv is None:
                h.volumes.append(Volume(num, cv.device, cv.minor, cv.disk, cv.meta_disk))
            else:
                hv.device = hv.device or cv.device
                hv.minor = hv.minor if hv.minor is not None else cv.minor
                hv.disk = hv.disk or cv.disk
                hv.meta_disk = hv.meta_disk or cv.meta_disk
        h.volumes.sort(key=lambda v: -1 if v.number is None else v.number)
    return r


def parse_config(path: str, files: Files, version: str = "9") -> Config:
    """Parse PATH, resolving `include`s through FILES (the node's filesystem), as the
    drbdadm of DRBD VERSION ("9" or "8.4", the node's loaded module) does."""
    text = files.read(path)
    if text is None:
        raise ParseError(f"Can not open '{path}'.\n.\n", code=20)
    cfg = Config(file=path, version=version)
    _parse_into(cfg, path, text, files)
    return cfg


def _parse_into(cfg: Config, fname: str, text: str, files: Files) -> None:
    for s in parse_statements(text, fname):
        if s.name == "include":
            pattern = s.args[0] if s.args else ""
            if not pattern.startswith("/"):
                pattern = os.path.join(os.path.dirname(fname), pattern)
            for inc in files.glob(pattern):
                inc_text = files.read(inc)
                if inc_text is not None:
                    _parse_into(cfg, inc, inc_text, files)
        elif s.name == "global":
            cfg.global_opts = [(st.name, " ".join(st.args)) for st in s.block or []]
        elif s.name == "common":
            cfg.common = {}
            for st in s.block or []:
                if st.block is not None:
                    cfg.common.setdefault(st.name, []).extend(
                        _options(fname, st.block, st.name, cfg.version)
                    )
        elif s.name == "resource":
            cfg.resources.append(_resource(fname, s, cfg.version))
        elif s.name == "skip":
            continue
        else:
            raise ParseError(
                f"{fname}:{s.line}: Parse error: 'global | common | resource | skip | "
                f"include' expected,\n\tbut got '{s.name}' (TK 281)\n"
            )


# --- dump --------------------------------------------------------------------


def esc(value: str) -> str:
    if value == "":
        return '""'
    if re.search(r'[\s;{}#"\\]', value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def _print_a(indent: int, name: str, value: str) -> str:
    width = 24 - 4 * indent
    return f"{' ' * (4 * indent)}{name:<{width}} {value:>3};\n"


def _dump_volume(v: Volume, indent: int) -> str:
    out = ""
    pad = " " * (4 * indent)
    if v.device is not None or v.minor is not None:
        width = 19 - 4 * indent
        dev = f"{esc(v.device)} " if v.device else ""
        out += f"{pad}device{'':<{width}}{dev}minor {v.minor};\n"
    if v.disk is not None:
        out += _print_a(indent, "disk", esc(v.disk))
    if v.meta_disk is not None:
        out += _print_a(indent, "meta-disk", v.meta_disk)
    return out


def dump_resource(r: Resource, hostname: str) -> str:
    out = f"resource {r.name} {{\n"
    for h in r.hosts:
        out += f"    on {h.name} {{\n"
        if h.node_id is not None:
            out += f"        node-id {h.node_id};\n"
        for v in h.volumes:
            if v.number is None:
                out += _dump_volume(v, 2)
            else:
                out += f"        volume {v.number} {{\n{_dump_volume(v, 3)}        }}\n"
        if h.address:
            fam, ip, port = h.address
            out += f"        {'address':<16} {fam} {ip}:{port};\n"
        out += "    }\n"
    for sect in SECTION_ORDER:
        # drbdadm 9 drops 8.4's become-primary-on; drbdadm 8.4 prints it.
        dropped = DROPPED if r.version != "8.4" else set()
        opts = [(k, value) for k, value in r.sections.get(sect, []) if k not in dropped]
        if not opts:
            continue
        out += f"    {sect} {{\n"
        for k, value in opts:
            out += _print_a(2, k, esc(value))
        out += "    }\n"
    out += "}\n\n"
    return out


def resource_header(r: Resource, hostname: str) -> str:
    ignored = "not ignored" if any(h.name == hostname for h in r.hosts) else "ignored"
    return (
        f"# resource {r.name} on {hostname}: {ignored}, not stacked\n"
        f"# defined at {r.file}:{r.line}\n"
    )


def _global_84(opts: list[tuple[str, str]]) -> str:
    """The global section as drbdadm 8.4 dumps it (user/v84 dump_global_info): only when
    one of the first four is set, and with user/shared/shared_main.c's initialiser, which
    sets cmd_timeout_medium twice (so medium starts at 600 and long at 0 and both print)."""
    values = dict(opts)
    minor = int(values.get("minor-count") or 0)
    refresh = int(values.get("dialog-refresh") or 1)
    usage = values.get("usage-count", "ask")
    no_ip = "disable-ip-verification" in values
    if not (minor or no_ip or refresh != 1 or usage != "ask"):
        return ""
    lines = ["disable-ip-verification;"] if no_ip else []
    lines += [f"minor-count {minor};"] if minor else []
    lines += [f"dialog-refresh {refresh};"] if refresh != 1 else []
    lines += [f"usage-count {usage};"] if usage != "ask" else []
    for name, start, default in (("short", 5, 5), ("medium", 600, 121), ("long", 0, 600)):
        value = int(values.get(f"cmd-timeout-{name}") or start)
        lines += [f"cmd-timeout-{name} {value};"] if value != default else []
    return "global {\n" + "".join(f"    {line}\n" for line in lines) + "}\n\n"


def dump_config(cfg: Config, hostname: str) -> str:
    out = f"# {cfg.file}\n"
    if cfg.global_opts is not None and cfg.version == "8.4":
        out += _global_84(cfg.global_opts)
    elif cfg.global_opts is not None:
        out += "global {\n"
        for k, v in cfg.global_opts:
            if k in GLOBAL_NOT_DUMPED:
                continue
            out += f"    {k} {v};\n" if v else f"    {k};\n"
        out += "}\n\n"
    if cfg.common is not None:
        out += "common {\n"
        for sect in SECTION_ORDER:
            opts = cfg.common.get(sect)
            if opts:
                out += f"    {sect} {{\n" + "".join(_print_a(2, k, esc(v)) for k, v in opts)
                out += "    }\n"
        out += "}\n\n"
    for r in cfg.resources:
        out += resource_header(r, hostname) + dump_resource(r, hostname)
    return out
