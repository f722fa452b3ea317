"""Render a ResourceConfig as a drbd.conf resource file, with dual-primary-safe defaults.

Sources for the defaults (see docs/drbd-library.md): DRBD 9 User's Guide "Enabling
dual-primary mode" and "Fencing" (fencing in net, crm-fence-peer.9.sh /
crm-unfence-peer.9.sh); DRBD 8.4 User's Guide (fencing in disk, crm-fence-peer.sh as
fence-peer and crm-unfence-peer.sh as after-resync-target, because the 8.4 kernel has
no unfence-peer helper; `startup { become-primary-on both; }`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from clusters.drbd.model import Address, HostSection, ResourceConfig, VolumeConfig
from clusters.drbd.validate import validate_resource

INDENT = "    "
# Values made only of these characters need no quotes; anything else is quoted.
# Validation has already excluded '"', '\\' and newlines, so quoting cannot be escaped.
_BARE = re.compile(r"[A-Za-z0-9_./-]+")
# drbdadm's scanner reads words starting with a digit as numbers (with a unit suffix),
# IPv4 addresses or other tokens (`0.0.0`), not as names: such a word is quoted.
_NUMBER_LIKE = re.compile(r"[0-9].*")
# Words drbdadm's scanner returns as keywords, not as a name (drbd-utils
# user/v9/drbdadm_scanner.fl and user/v84/drbdadm_scanner.fl): a resource or host called
# `skip` or `protocol` must be quoted, which makes it a plain string (DQSTRING).
_KEYWORD_LIST = """
    on stacked-on-top-of floating no net yes ask via skip disk host hosts port proxy minor
    inside volume cmd-timeout-short cmd-timeout-medium cmd-timeout-long syncer device global
    common options outside address alternate-link-address startup include handlers
    connection connection-mesh minor-count disable-ip-verification dialog-refresh resource
    meta-disk flexible-meta-disk node-id usage-count _this_host _remote_host _peer_node_id
    _is_standalone template-file path sci ssocks sdp ipv4 ipv6 ignore-on size on-io-error
    fencing max-bio-bvecs disk-timeout read-balancing use-bmbv disk-barrier disk-flushes
    disk-drain md-flushes no-disk-barrier no-disk-flushes no-disk-drain no-md-flushes timeout
    protocol ko-count ping-int max-buffers sndbuf-size rcvbuf-size connect-int cram-hmac-alg
    shared-secret max-epoch-size after-sb-0pri after-sb-1pri after-sb-2pri rr-conflict
    ping-timeout unplug-watermark data-integrity-alg on-congestion socket-check-timeout
    congestion-fill congestion-extents allow-two-primaries always-asbp no-tcp-cork tcp-cork
    discard-my-data rate resync-rate after resync-after verify-alg csums-alg
    csums-after-crash-only al-extents al-updates discard-zeroes-if-aligned cpu-mask use-rle
    delay-probe-volume delay-probe-interval c-plan-ahead c-delay-target c-fill-target
    c-max-rate c-min-rate throttle-threshold hold-off-threshold on-no-data-accessible
    wfc-timeout degr-wfc-timeout outdated-wfc-timeout stacked-timeouts become-primary-on
    wait-after-sb pri-on-incon-degr pri-lost-after-sb pri-lost initial-split-brain
    split-brain outdate-peer fence-peer unfence-peer local-io-error before-resync-target
    after-resync-target before-resync-source memlimit read-loops compression bwlimit plugin
    out-of-sync
"""
KEYWORDS = frozenset(_KEYWORD_LIST.split())

SPLIT_BRAIN_POLICY = {
    "after-sb-0pri": "discard-zero-changes",
    "after-sb-1pri": "discard-secondary",
    "after-sb-2pri": "disconnect",
}
FENCING = "resource-and-stonith"
HANDLERS_9 = {
    "fence-peer": "/usr/lib/drbd/crm-fence-peer.9.sh",
    "unfence-peer": "/usr/lib/drbd/crm-unfence-peer.9.sh",
}
HANDLERS_84 = {
    "fence-peer": "/usr/lib/drbd/crm-fence-peer.sh",
    "after-resync-target": "/usr/lib/drbd/crm-unfence-peer.sh",
}


def dual_primary_resource(
    name: str,
    port: int,
    hosts: Sequence[tuple[str, str]],
    volumes: Sequence[tuple[int, str]],
    version: str = "9",
    meta_disk: str = "internal",
) -> ResourceConfig:
    """A dual-primary resource with the safe defaults for DRBD `version` ("9" or "8.4").

    hosts: (uname -n, replication IP) pairs; volumes: (minor, backing disk) pairs, the
    same on every host. One volume is written without a `volume` block, several as
    volume 0, 1, …. Node ids follow the order of `hosts` (DRBD 9 only).
    """
    net = {"allow-two-primaries": "yes", **SPLIT_BRAIN_POLICY}
    disk: dict[str, str] = {}
    if version == "8.4":
        disk["fencing"] = FENCING
        handlers, startup = dict(HANDLERS_84), {"become-primary-on": "both"}
    else:
        net["fencing"] = FENCING
        handlers, startup = dict(HANDLERS_9), {}
    sections = [
        HostSection(
            name=host,
            node_id=index if version != "8.4" else None,
            volumes=_volumes(volumes, meta_disk),
            address=_address(ip, port),
        )
        for index, (host, ip) in enumerate(hosts)
    ]
    res = ResourceConfig(
        name, sections, "C", net=net, disk=disk, handlers=handlers, startup=startup
    )
    validate_resource(res, version)
    return res


def _volumes(volumes: Sequence[tuple[int, str]], meta_disk: str) -> list[VolumeConfig]:
    numbered = len(volumes) > 1
    return [
        VolumeConfig(index if numbered else None, f"/dev/drbd{minor}", minor, disk, meta_disk)
        for index, (minor, disk) in enumerate(volumes)
    ]


def _address(ip: str, port: int) -> Address:
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        return Address("ipv4", ip, port)  # validate_resource reports it
    return Address(f"ipv{parsed.version}", parsed.compressed, port)


def render_resource(res: ResourceConfig, version: str = "9") -> str:
    """The resource as a drbd.conf file for DRBD `version`; validates first."""
    validate_resource(res, version)
    lines = [f"resource {_name(res.name)} {{"]
    if res.options:
        lines += _section("options", res.options)
    lines += _section("net", {"protocol": res.protocol, **res.net})
    for title in ("disk", "startup", "handlers"):
        options = getattr(res, title)
        if options:
            lines += _section(title, options)
    for host in res.hosts:
        lines += _host(host)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _section(title: str, options: dict[str, str]) -> list[str]:
    body = [f"{INDENT * 2}{name} {_quote(value)};" for name, value in options.items()]
    return [f"{INDENT}{title} {{", *body, f"{INDENT}}}"]


def _host(host: HostSection) -> list[str]:
    lines = [f"{INDENT}on {_name(host.name)} {{"]
    if host.node_id is not None:
        lines.append(f"{INDENT * 2}node-id {host.node_id};")
    for volume in host.volumes:
        if volume.number is None:
            lines += _volume_body(volume, INDENT * 2)
        else:
            lines.append(f"{INDENT * 2}volume {volume.number} {{")
            lines += _volume_body(volume, INDENT * 3)
            lines.append(f"{INDENT * 2}}}")
    if host.address is not None:
        lines.append(f"{INDENT * 2}address {host.address.render()};")
    lines.append(f"{INDENT}}}")
    return lines


def _volume_body(volume: VolumeConfig, indent: str) -> list[str]:
    device = f"{volume.device} minor {volume.minor}" if volume.device else f"minor {volume.minor}"
    return [
        f"{indent}device {device};",
        f"{indent}disk {_quote(volume.disk)};",
        f"{indent}meta-disk {_quote(volume.meta_disk)};",
    ]


def _name(value: str) -> str:
    if _NUMBER_LIKE.fullmatch(value) or value in KEYWORDS:
        return f'"{value}"'
    return _quote(value)


def _quote(value: str) -> str:
    return value if _BARE.fullmatch(value) else f'"{value}"'
