"""Typed model of scst.conf, as scstadmin reads it.

scstadmin keeps every section in a Perl hash, so the order of sections and of
attribute lines carries no meaning and an exact duplicate line counts once.
Equality here follows that: named children live in dicts (compared without
order) and `Attributes` compares as a set of lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple


class Attribute(NamedTuple):
    """One `name value` line; `key` is False after a `# Non-key attributes` marker."""

    name: str
    value: str
    key: bool = True


class Attributes:
    """Ordered, multi-valued attribute lines (IncomingUser, allowed_portal may repeat)."""

    __slots__ = ("_items",)

    def __init__(self, items: list[Attribute] | None = None) -> None:
        self._items: list[Attribute] = []
        for item in items or []:
            self.add(*item)

    def add(self, name: str, value: str = "", key: bool = True) -> None:
        """Append a line; an exact repeat of name and value is dropped, as scstadmin does."""
        if any(i.name == name and i.value == value for i in self._items):
            return
        self._items.append(Attribute(name, value, key))

    def get(self, name: str) -> str | None:
        """The first value of `name` in file order, or None when absent."""
        return next((i.value for i in self._items if i.name == name), None)

    def get_all(self, name: str) -> list[str]:
        """Every value of `name`, in file order."""
        return [i.value for i in self._items if i.name == name]

    def names(self) -> list[str]:
        """Distinct attribute names, in file order."""
        return list(dict.fromkeys(i.name for i in self._items))

    def __iter__(self) -> Iterator[Attribute]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return any(i.name == name for i in self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Attributes):
            return NotImplemented
        return sorted(self._items) == sorted(other._items)

    # Mutable, so unhashable; typeshed declares object.__hash__ a method, not Optional.
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Attributes({self._items!r})"


@dataclass
class Device:
    """`DEVICE name` inside a HANDLER; a device without attributes has no block."""

    name: str
    attributes: Attributes = field(default_factory=Attributes)


@dataclass
class Handler:
    """`HANDLER name`: handler attributes and the devices it opens."""

    name: str
    attributes: Attributes = field(default_factory=Attributes)
    devices: dict[str, Device] = field(default_factory=dict)


@dataclass
class Lun:
    """`LUN number device` with optional attributes such as read_only."""

    number: int
    device: str
    attributes: Attributes = field(default_factory=Attributes)


@dataclass
class Initiator:
    """`INITIATOR name`; the name may hold the wildcards `*`, `?` and `!`."""

    name: str
    attributes: Attributes = field(default_factory=Attributes)


@dataclass
class InitiatorGroup:
    """`GROUP name` inside a TARGET: its LUNs and the initiators that see them."""

    name: str
    attributes: Attributes = field(default_factory=Attributes)
    luns: dict[int, Lun] = field(default_factory=dict)
    initiators: dict[str, Initiator] = field(default_factory=dict)


@dataclass
class Target:
    """`TARGET name` inside a TARGET_DRIVER; `HW_TARGET` marks a hardware target."""

    name: str
    attributes: Attributes = field(default_factory=Attributes)
    luns: dict[int, Lun] = field(default_factory=dict)
    groups: dict[str, InitiatorGroup] = field(default_factory=dict)
    hw_target: bool = False


@dataclass
class TargetDriver:
    """`TARGET_DRIVER name`: driver attributes and its targets."""

    name: str
    attributes: Attributes = field(default_factory=Attributes)
    targets: dict[str, Target] = field(default_factory=dict)


@dataclass
class TargetGroupMember:
    """`TARGET name` inside a TARGET_GROUP: a reference that may carry rel_tgt_id."""

    name: str
    attributes: Attributes = field(default_factory=Attributes)


@dataclass
class TargetGroup:
    """`TARGET_GROUP name` (ALUA port group): group_id, state and member targets."""

    name: str
    attributes: Attributes = field(default_factory=Attributes)
    targets: dict[str, TargetGroupMember] = field(default_factory=dict)


@dataclass
class DeviceGroup:
    """`DEVICE_GROUP name`: referenced devices and their ALUA target groups."""

    name: str
    attributes: Attributes = field(default_factory=Attributes)
    devices: set[str] = field(default_factory=set)
    target_groups: dict[str, TargetGroup] = field(default_factory=dict)


@dataclass
class ScstConfig:
    """A whole scst.conf: SCST attributes (setup_id, …), handlers, drivers, ALUA."""

    attributes: Attributes = field(default_factory=Attributes)
    handlers: dict[str, Handler] = field(default_factory=dict)
    drivers: dict[str, TargetDriver] = field(default_factory=dict)
    alua: Attributes = field(default_factory=Attributes)
    device_groups: dict[str, DeviceGroup] = field(default_factory=dict)

    def find_device(self, name: str) -> tuple[Handler, Device] | None:
        """The handler and device called `name`, or None."""
        for handler in self.handlers.values():
            if name in handler.devices:
                return handler, handler.devices[name]
        return None
