"""Typed model of one DRBD resource as drbd.conf describes it.

The model is deliberately close to the file: option sections are ordered dicts of
option name to value, exactly as drbdadm prints them, so that a rendered resource
and the `drbdadm dump` of it compare equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

VERSIONS = ("9", "8.4")


class DrbdConfigError(ValueError):
    """A DRBD configuration or node output that cannot be used; the message says why."""


@dataclass(frozen=True)
class Address:
    """An `address [family] IP:PORT` endpoint."""

    family: str
    ip: str
    port: int

    def render(self) -> str:
        """The address as drbd.conf writes it (IPv6 in brackets)."""
        ip = f"[{self.ip}]" if self.family == "ipv6" else self.ip
        return f"{self.family} {ip}:{self.port}"


@dataclass(frozen=True)
class VolumeConfig:
    """One volume of a host: `volume N { device …; disk …; meta-disk …; }`.

    `number` is None for the implicit volume (device/disk written directly in `on`).
    `device` is the /dev/drbdN path (None when only `device minor N` is given);
    `disk` is a backing device path or "none"; `meta_disk` is "internal" or a path,
    optionally followed by an index as in `/dev/sdc1 [0]`.
    """

    number: int | None
    device: str | None
    minor: int | None
    disk: str
    meta_disk: str = "internal"


@dataclass(frozen=True)
class HostSection:
    """An `on HOST { … }` section; `name` is the node's `uname -n`."""

    name: str
    node_id: int | None
    volumes: list[VolumeConfig]
    address: Address | None


@dataclass(frozen=True)
class PathConfig:
    """One `path { host A address …; host B address …; }` of a connection."""

    hosts: list[tuple[str, Address | None]]


@dataclass(frozen=True)
class ConnectionConfig:
    """A `connection [NAME] { … }` section (DRBD 9), recorded as written."""

    name: str | None
    hosts: list[tuple[str, Address | None]]
    paths: list[PathConfig] = field(default_factory=list)
    net: dict[str, str] = field(default_factory=dict)


@dataclass
class ResourceConfig:
    """A `resource NAME { … }`: hosts, protocol and the option sections.

    `protocol` is kept apart from `net` although drbdadm prints it inside `net`.
    """

    name: str
    hosts: list[HostSection]
    protocol: str = "C"
    net: dict[str, str] = field(default_factory=dict)
    disk: dict[str, str] = field(default_factory=dict)
    handlers: dict[str, str] = field(default_factory=dict)
    startup: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    connections: list[ConnectionConfig] = field(default_factory=list)
    connection_mesh: list[str] = field(default_factory=list)

    def host(self, name: str) -> HostSection:
        """The `on NAME` section; DrbdConfigError if the resource has none."""
        for host in self.hosts:
            if host.name == name:
                return host
        raise DrbdConfigError(f"resource {self.name} has no 'on {name}' section")

    @property
    def fencing(self) -> str | None:
        """The fencing policy, wherever the file puts it (net in 9, disk in 8.4)."""
        return self.net.get("fencing", self.disk.get("fencing"))
