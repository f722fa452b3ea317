"""Strict validation of a ResourceConfig before it is rendered into drbd.conf.

Every value that ends up in the file must match a narrow pattern, so that nothing
user-supplied can leave its token: no quotes, backslashes, braces, semicolons,
comment marks, whitespace (except between handler arguments) or shell
metacharacters (drbdadm runs handlers through /bin/sh -c).
Ranges come from drbd_limits.h as `drbdsetup xml-help net-options` (9.22) prints them.
"""

from __future__ import annotations

import ipaddress
import re

from clusters.drbd.model import (
    VERSIONS,
    Address,
    DrbdConfigError,
    HostSection,
    ResourceConfig,
    VolumeConfig,
)

RESOURCE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_NAME = re.compile(rf"{HOST_LABEL}(?:\.{HOST_LABEL})*")
DRBD_DEVICE = re.compile(r"/dev/drbd([0-9]{1,7})")
PATH_PART = r"[A-Za-z0-9_+:=@-][A-Za-z0-9_.+:=@-]*"
BLOCK_DEVICE = re.compile(rf"/dev(?:/{PATH_PART})+")
IP_CHARS = re.compile(r"[0-9A-Fa-f:.]{2,45}")
OPTION_NAME = re.compile(r"[a-z][a-z0-9-]{0,63}")
OPTION_VALUE = re.compile(r"[A-Za-z0-9_.:/+@,=%-]{1,255}")
HANDLER = re.compile(r"/[A-Za-z0-9_./+-]{1,255}(?: [A-Za-z0-9_./+@:=,%-]{1,255}){0,16}")

MINOR_MAX = (1 << 20) - 1  # DRBD_MINOR_NUMBER_MAX
VOLUME_MAX = 65535  # DRBD_VOLUME_MAX
NODE_ID_MAX = 31  # DRBD 9 supports 32 nodes per resource, ids 0-31

YES_NO = ("yes", "no")
NET_CHOICES: dict[str, tuple[str, ...]] = {
    "protocol": ("A", "B", "C"),
    "allow-two-primaries": YES_NO,
    "always-asbp": YES_NO,
    "tcp-cork": YES_NO,
    "use-rle": YES_NO,
    "csums-after-crash-only": YES_NO,
    "allow-remote-read": YES_NO,
    "discard-my-data": YES_NO,
    "fencing": ("dont-care", "resource-only", "resource-and-stonith"),
    "after-sb-0pri": (
        "disconnect",
        "discard-younger-primary",
        "discard-older-primary",
        "discard-zero-changes",
        "discard-least-changes",
        "discard-local",
        "discard-remote",
    ),
    "after-sb-1pri": (
        "disconnect",
        "consensus",
        "discard-secondary",
        "call-pri-lost-after-sb",
        "violently-as0p",
    ),
    "after-sb-2pri": ("disconnect", "call-pri-lost-after-sb", "violently-as0p"),
    "rr-conflict": ("disconnect", "call-pri-lost", "violently", "retry-connect", "auto-discard"),
    "on-congestion": ("block", "pull-ahead", "disconnect"),
}
NET_RANGES: dict[str, tuple[int, int]] = {
    "timeout": (1, 600),
    "max-epoch-size": (1, 20000),
    "connect-int": (1, 120),
    "ping-int": (1, 120),
    "sndbuf-size": (0, 10485760),
    "rcvbuf-size": (0, 10485760),
    "ko-count": (0, 200),
    "ping-timeout": (1, 300),
    "congestion-fill": (0, 20971520),
    "congestion-extents": (67, 65534),
    "socket-check-timeout": (0, 300),
    "max-buffers": (32, 131072),
}
NET_STRINGS = ("cram-hmac-alg", "shared-secret", "data-integrity-alg", "csums-alg", "verify-alg")
NET_OPTIONS = frozenset(NET_CHOICES) | frozenset(NET_RANGES) | frozenset(NET_STRINGS)
HANDLERS = frozenset(
    {
        "pri-on-incon-degr",
        "pri-lost-after-sb",
        "pri-lost",
        "fence-peer",
        "unfence-peer",
        "local-io-error",
        "split-brain",
        "initial-split-brain",
        "before-resync-target",
        "after-resync-target",
        "before-resync-source",
        "out-of-sync",
        "quorum-lost",
        "disconnected",
    }
)
STARTUP_OPTIONS = frozenset(
    {
        "wfc-timeout",
        "degr-wfc-timeout",
        "outdated-wfc-timeout",
        "wait-after-sb",
        "become-primary-on",
        "stacked-timeouts",
    }
)


def validate_resource(res: ResourceConfig, version: str = "9") -> None:
    """Raise DrbdConfigError unless `res` is safe to render for DRBD `version`."""
    if version not in VERSIONS:
        raise DrbdConfigError(f"DRBD version {version!r} is not supported; use '9' or '8.4'")
    if not RESOURCE_NAME.fullmatch(res.name):
        raise DrbdConfigError(
            f"resource name {res.name!r} is invalid: use 1-64 letters, digits, '_', '.', '-'"
            " (not starting with '.' or '-')"
        )
    _check_choice("protocol", res.protocol, NET_CHOICES["protocol"])
    _validate_hosts(res, version)
    _validate_sections(res, version)


def _validate_hosts(res: ResourceConfig, version: str) -> None:
    if not 2 <= len(res.hosts) <= (2 if version == "8.4" else NODE_ID_MAX + 1):
        limit = "exactly 2" if version == "8.4" else "2 to 32"
        raise DrbdConfigError(f"resource {res.name} has {len(res.hosts)} hosts; needs {limit}")
    if res.connections or res.connection_mesh:
        raise DrbdConfigError(
            f"resource {res.name}: connection sections are not rendered; "
            "give each host an address instead"
        )
    _unique([h.name for h in res.hosts], "host name")
    _unique([(h.address.ip, h.address.port) for h in res.hosts if h.address], "address")
    for host in res.hosts:
        _validate_host(host, version)
    numbers = {tuple(v.number for v in h.volumes) for h in res.hosts}
    if len(numbers) != 1:
        raise DrbdConfigError(f"resource {res.name}: every host needs the same volume numbers")
    if version == "9":
        _unique([h.node_id for h in res.hosts], "node-id")


def _validate_host(host: HostSection, version: str) -> None:
    if len(host.name) > 253 or not HOST_NAME.fullmatch(host.name):
        raise DrbdConfigError(
            f"host name {host.name!r} is invalid: use the node's `uname -n`, letters, digits,"
            " '-' and '.' only"
        )
    if version == "9":
        if host.node_id is None or not 0 <= host.node_id <= NODE_ID_MAX:
            raise DrbdConfigError(f"host {host.name}: DRBD 9 needs a node-id from 0 to 31")
    elif host.node_id is not None:
        raise DrbdConfigError(f"host {host.name}: DRBD 8.4 has no node-id; leave it empty")
    if host.address is None:
        raise DrbdConfigError(f"host {host.name}: an address (IP and port) is required")
    validate_address(host.address)
    if not host.volumes:
        raise DrbdConfigError(f"host {host.name}: at least one volume is required")
    if len(host.volumes) > 1 and any(v.number is None for v in host.volumes):
        raise DrbdConfigError(f"host {host.name}: with several volumes each needs a number")
    _unique([v.number for v in host.volumes], f"volume number on {host.name}")
    _unique([v.minor for v in host.volumes], f"minor on {host.name}")
    for volume in host.volumes:
        validate_volume(volume, host.name)


def validate_address(address: Address) -> None:
    """Check family, IP literal and port (1-65535)."""
    if address.family not in ("ipv4", "ipv6"):
        raise DrbdConfigError(f"address family {address.family!r} is invalid: use ipv4 or ipv6")
    try:
        if not IP_CHARS.fullmatch(address.ip):
            raise ValueError(address.ip)  # no IPv6 zone ids ("%eth0"): they are free text
        ip = ipaddress.ip_address(address.ip)
    except ValueError:
        raise DrbdConfigError(
            f"address {address.ip!r} is not an IPv4 or IPv6 address literal"
        ) from None
    if f"ipv{ip.version}" != address.family:
        raise DrbdConfigError(f"address {address.ip} is not {address.family}")
    if isinstance(address.port, bool) or not 1 <= address.port <= 65535:
        raise DrbdConfigError(f"port {address.port!r} is invalid: use 1-65535")


def validate_volume(volume: VolumeConfig, host: str) -> None:
    """Check volume number, device path, minor and backing/meta disks of one volume."""
    where = f"host {host} volume {volume.number if volume.number is not None else '(implicit)'}"
    if volume.number is not None and not 0 <= volume.number <= VOLUME_MAX:
        raise DrbdConfigError(f"{where}: volume number must be 0-{VOLUME_MAX}")
    if volume.minor is None or not 0 <= volume.minor <= MINOR_MAX:
        raise DrbdConfigError(f"{where}: minor must be 0-{MINOR_MAX}")
    if volume.device is not None:
        match = DRBD_DEVICE.fullmatch(volume.device)
        if match is None or int(match.group(1)) != volume.minor:
            raise DrbdConfigError(
                f"{where}: device {volume.device!r} is invalid: use /dev/drbd{volume.minor}"
                " (the minor's number)"
            )
    if volume.disk != "none":
        _check_block_device(volume.disk, f"{where}: disk")
    if volume.meta_disk != "internal":
        _check_block_device(volume.meta_disk, f"{where}: meta-disk")


def disk_problem(path: str) -> str | None:
    """Why `path` cannot be a disk or meta-disk in a .res file, or None."""
    if len(path) > 255 or not BLOCK_DEVICE.fullmatch(path):
        return (
            "use an absolute /dev/… path of letters, digits"
            " and _ . + : = @ - (no spaces, quotes or '..')"
        )
    return None


def resource_name_problem(name: str) -> str | None:
    """Why `name` cannot be a DRBD resource name, or None."""
    if not RESOURCE_NAME.fullmatch(name):
        return "use 1-64 letters, digits, '_', '.', '-' (not starting with '.' or '-')"
    return None


def _check_block_device(path: str, what: str) -> None:
    problem = disk_problem(path)
    if problem:
        raise DrbdConfigError(f"{what} {path!r} is invalid: {problem}")


def _validate_sections(res: ResourceConfig, version: str) -> None:
    if "protocol" in res.net:
        raise DrbdConfigError("put the protocol in ResourceConfig.protocol, not in net")
    for name, value in res.net.items():
        _check_net_option(name, value)
    for section in ("disk", "options"):
        for name, value in getattr(res, section).items():
            _check_plain_option(section, name, value)
    for name, value in res.startup.items():
        _check_known("startup", name, STARTUP_OPTIONS)
        _check_plain_option("startup", name, value)
    for name, command in res.handlers.items():
        _check_known("handlers", name, HANDLERS)
        if not HANDLER.fullmatch(command):
            raise DrbdConfigError(
                f"handler {name} {command!r} is invalid: use an absolute program path and"
                " simple arguments, without quotes or shell metacharacters"
            )
    _check_version_placement(res, version)


def _check_version_placement(res: ResourceConfig, version: str) -> None:
    if version == "9":
        if "fencing" in res.disk:
            raise DrbdConfigError("DRBD 9 takes fencing in the net section, not disk")
        if "become-primary-on" in res.startup:
            raise DrbdConfigError(
                "become-primary-on is DRBD 8.4 only (drbdadm 9 drops it); use auto-promote"
            )
    else:
        if "fencing" in res.net:
            raise DrbdConfigError("DRBD 8.4 takes fencing in the disk section, not net")
        if res.options:
            raise DrbdConfigError("DRBD 8.4 resources have no options section")


def _check_net_option(name: str, value: str) -> None:
    _check_known("net", name, NET_OPTIONS)
    if name in NET_CHOICES:
        _check_choice(name, value, NET_CHOICES[name])
    elif name in NET_RANGES:
        low, high = NET_RANGES[name]
        if not value.isdigit() or not low <= int(value) <= high:
            raise DrbdConfigError(f"net option {name} {value!r} is invalid: use {low}-{high}")
    else:
        _check_plain_option("net", name, value)


def _check_known(section: str, name: str, known: frozenset[str]) -> None:
    if name not in known:
        raise DrbdConfigError(
            f"{section} option {name!r} is unknown; known: {', '.join(sorted(known))}"
        )


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise DrbdConfigError(f"{name} {value!r} is invalid: use one of {', '.join(choices)}")


def _check_plain_option(section: str, name: str, value: str) -> None:
    if not OPTION_NAME.fullmatch(name):
        raise DrbdConfigError(
            f"{section} option name {name!r} is invalid: use lower-case letters, digits and '-'"
        )
    if not OPTION_VALUE.fullmatch(value):
        raise DrbdConfigError(
            f"{section} option {name} value {value!r} is invalid: use letters, digits and"
            " _ . : / + @ , = % - (no spaces or quotes)"
        )


def _unique(values: list[object], what: str) -> None:
    seen: set[object] = set()
    for value in values:
        if value in seen:
            raise DrbdConfigError(f"duplicate {what} {value!r}")
        seen.add(value)
