"""Readers for SCST sysfs text as the portal collects it (docs/node-commands.md).

- one attribute file: value line(s), then `[key]` when the value is not the default;
- `grep -r -s -Z --exclude=mgmt '' /sys/kernel/scst_tgt`: one `PATH\\0LINE\\n` record
  per line of every regular file (empty files print nothing);
- `find /sys/kernel/scst_tgt -type l -printf '%p\\0%l\\n'`: `PATH\\0LINK-TARGET\\n`;
- `devices/<name>/pr_state`: the persistent-reservation state (see parse_pr_state).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from clusters.paths import SCST_SYSFS_ROOT

SCST_ROOT = SCST_SYSFS_ROOT
KEY_MARK = "[key]"
# GNU grep before 3.5 reported a binary file on stdout instead of its lines.
_BINARY_NOTICE = re.compile(r"Binary file .* matches")
_HEX = re.compile(r"[0-9a-fA-F]*")
_DECIMAL = re.compile(r"[0-9]+")


class SysfsFormatError(ValueError):
    """Node output that does not have the documented sysfs shape."""


@dataclass(frozen=True)
class SysfsAttribute:
    """One sysfs attribute: its value (lines joined by newlines) and its `[key]` mark."""

    value: str
    is_key: bool = False


@dataclass(frozen=True)
class PrReservation:
    """The reservation in force: SCSI type and scope codes (PERSISTENT RESERVE OUT)."""

    type: int
    scope: int


@dataclass(frozen=True)
class PrRegistrant:
    """One registered I_T nexus: relative target port, key, holder flag, TransportID."""

    rel_tgt_id: int
    key: int
    holder: bool
    transport_id: bytes

    @property
    def key_hex(self) -> str:
        """The reservation key as pr_state prints it (16 hex digits)."""
        return f"{self.key:016x}"


@dataclass(frozen=True)
class PrState:
    """A device's persistent-reservation state; registrants present = reservations in use."""

    version: int
    generation: int
    reservation: PrReservation | None
    registrants: tuple[PrRegistrant, ...]

    @property
    def in_use(self) -> bool:
        """True when any initiator has registered a key."""
        return bool(self.registrants)


def parse_attribute(text: str) -> SysfsAttribute:
    """Parse the text of one attribute file (trailing `[key]` line optional)."""
    lines = text.split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    is_key = bool(lines) and lines[-1] == KEY_MARK
    if is_key:
        lines.pop()
    return SysfsAttribute("\n".join(lines), is_key)


def _records(text: str, what: str) -> list[tuple[str, str]]:
    records = []
    for number, record in enumerate(text.split("\n"), start=1):
        if not record or _BINARY_NOTICE.fullmatch(record):
            continue
        path, sep, rest = record.partition("\0")
        if not sep or not path:
            raise SysfsFormatError(f"{what} record {number} is not 'PATH\\0TEXT': {record[:80]!r}")
        records.append((path, rest))
    return records


def parse_dump(text: str) -> dict[str, SysfsAttribute]:
    """Parse the recursive grep dump into path → attribute, in first-seen order."""
    lines: dict[str, list[str]] = {}
    for path, line in _records(text, "grep dump"):
        lines.setdefault(path, []).append(line)
    return {path: parse_attribute("\n".join(parts)) for path, parts in lines.items()}


def parse_links(text: str) -> dict[str, str]:
    """Parse the `find -type l` output into link path → link target (as stored, relative)."""
    return dict(_records(text, "link list"))


def parse_pr_state(text: str) -> PrState:
    """Parse `devices/<name>/pr_state` (scst_pres.c, format version 1)."""
    lines = [(n, line.split()) for n, line in enumerate(text.split("\n"), 1) if line.strip()]
    if len(lines) < 2:
        raise SysfsFormatError("pr_state: expected 'version' and 'generation' lines")
    version = _field(lines[0], "version", "pr_state")
    if version != 1:
        raise SysfsFormatError(f"pr_state: unsupported version {version}, this reader knows 1")
    generation = _field(lines[1], "generation", "pr_state")
    rest = lines[2:]
    reservation = None
    if rest and rest[0][1][:1] == ["reservation"]:
        reservation = _reservation(*rest[0])
        rest = rest[1:]
    return PrState(version, generation, reservation, tuple(_registrant(*r) for r in rest))


def _field(line: tuple[int, list[str]], name: str, what: str) -> int:
    number, words = line
    if len(words) != 2 or words[0] != name or not _DECIMAL.fullmatch(words[1]):
        raise SysfsFormatError(f"{what} line {number}: expected '{name} <decimal>', got {words}")
    return int(words[1])


def _hex(word: str, digits: int | None, number: int, what: str) -> int:
    if not _HEX.fullmatch(word) or not word or (digits and len(word) != digits):
        raise SysfsFormatError(f"pr_state line {number}: {what} must be hex, got {word!r}")
    return int(word, 16)


def _reservation(number: int, words: list[str]) -> PrReservation:
    if len(words) != 3:
        raise SysfsFormatError(f"pr_state line {number}: expected 'reservation <type> <scope>'")
    return PrReservation(
        _hex(words[1], 2, number, "reservation type"), _hex(words[2], 2, number, "scope")
    )


def _registrant(number: int, words: list[str]) -> PrRegistrant:
    usage = "'registrant <rel_tgt_id> <key> <holder> <tid length> <tid hex>'"
    if words[:1] != ["registrant"] or len(words) not in (5, 6):
        raise SysfsFormatError(f"pr_state line {number}: expected {usage}, got {words}")
    rel, key, holder, length = words[1:5]
    tid = words[5] if len(words) == 6 else ""
    if not (_DECIMAL.fullmatch(rel) and _DECIMAL.fullmatch(length) and holder in ("0", "1")):
        raise SysfsFormatError(f"pr_state line {number}: expected {usage}, got {words}")
    if len(tid) != 2 * int(length) or not _HEX.fullmatch(tid):
        raise SysfsFormatError(
            f"pr_state line {number}: transport id must be {length} bytes of hex, got {tid!r}"
        )
    return PrRegistrant(int(rel), _hex(key, 16, number, "key"), holder == "1", bytes.fromhex(tid))
