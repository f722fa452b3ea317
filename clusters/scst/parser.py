"""Read scst.conf the way scstadmin's readConfigFile/parseStanza/parseLine do.

Lexing mirrors the Perl exactly (comment stripping, backslash unescaping, `{` and
`}` anywhere on a line, tokens that are double-quoted strings or runs of
non-blanks).  Where scstadmin silently drops data — an unclosed section, a stray
`}`, text before `}` on its line, a duplicate DEVICE/TARGET/LUN that overwrites
the first — this reader raises ScstConfigError instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from clusters.scst.model import (
    Attributes,
    Device,
    DeviceGroup,
    Handler,
    Initiator,
    InitiatorGroup,
    Lun,
    ScstConfig,
    Target,
    TargetDriver,
    TargetGroup,
    TargetGroupMember,
)

NONKEY_MARKER = "# Non-key attributes"
KEYWORDS = frozenset(
    {
        "HANDLER",
        "DEVICE",
        "TARGET_DRIVER",
        "TARGET",
        "LUN",
        "GROUP",
        "INITIATOR",
        "DEVICE_GROUP",
        "TARGET_GROUP",
        "ALUA",
        "HW_TARGET",
    }
)
# Perl's \s without /u: ASCII blanks only.
BLANKS = " \t\n\r\f\v"
_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|([^ \t\n\r\f\v]+)')
_LINE_COMMENT = re.compile(r"^#.*")
_TRAILING_COMMENT = re.compile(r"[^\\]#.*")
_ESCAPE = re.compile(r"\\(.)")
_LUN_NUMBER = re.compile(r"[0-9]+")


class ScstConfigError(Exception):
    """scst.conf text that scstadmin would reject or misread; `.line` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"scst.conf line {line}: {message}")
        self.line = line
        self.message = message


_Obj = TypeVar("_Obj")


@dataclass
class _Frame:
    kind: str
    obj: object
    attrs: Attributes | None
    line: int
    label: str
    nonkey: bool = False
    pending: tuple[str, int] | None = None
    seen: dict[tuple[str, str], int] = field(default_factory=dict)


def parse_config(text: str) -> ScstConfig:
    """Parse scst.conf text (also `scstadmin -write_config -nonkey` output)."""
    config = ScstConfig()
    stack = [_Frame("top", config, config.attributes, 0, "at top level")]
    for kind, value, number in _events(text):
        _apply_event(stack, kind, value, number)
    if len(stack) > 1:
        frame = stack[-1]
        raise ScstConfigError(
            frame.line, f"{frame.label.removeprefix('inside ')} is not closed: add a line '}}'"
        )
    return config


def _events(text: str) -> Iterator[tuple[str, str, int]]:
    """Yield ("text"|"open"|"close"|"eol"|"marker", text, line number)."""
    for number, raw in enumerate(text.split("\n"), start=1):
        if raw.strip(BLANKS) == NONKEY_MARKER:
            yield "marker", "", number
            continue
        line = _LINE_COMMENT.sub("", raw)
        line = _TRAILING_COMMENT.sub("", line, count=1)
        line = _ESCAPE.sub(r"\1", line)
        for piece in re.split(r"([{}])", line):
            if piece == "{":
                yield "open", piece, number
            elif piece == "}":
                yield "close", piece, number
            elif piece:
                yield "text", piece, number
        yield "eol", "", number


def _apply_event(stack: list[_Frame], kind: str, value: str, number: int) -> None:
    frame = stack[-1]
    pending = frame.pending
    if kind == "text":
        frame.pending = (pending[0] + value, pending[1]) if pending else (value, number)
        return
    frame.pending = None
    words, start = _words(pending)
    if kind == "marker":
        frame.nonkey = True
    elif kind == "eol":
        if words:
            _accept(frame, words, False, start)
    elif kind == "open":
        if not words:
            raise ScstConfigError(number, "'{' must follow a section line such as 'DEVICE disk1 {'")
        stack.append(_accept(frame, words, True, start))
    else:
        _close(stack, words, number)


def _words(pending: tuple[str, int] | None) -> tuple[list[str], int]:
    if not pending:
        return [], 0
    text = pending[0].strip(BLANKS)
    words = [m.group(1) if m.group(1) is not None else m.group(2) for m in _TOKEN.finditer(text)]
    return words, pending[1]


def _close(stack: list[_Frame], words: list[str], number: int) -> None:
    if words:
        raise ScstConfigError(number, "'}' must stand on a line of its own")
    if len(stack) == 1:
        raise ScstConfigError(number, "unexpected '}': no section is open")
    stack.pop()


def _accept(frame: _Frame, words: list[str], opens: bool, number: int) -> _Frame:
    sections = _SECTIONS[frame.kind]
    keyword = words[0]
    if keyword in sections:
        child = sections[keyword](frame, words, number)
        if child is None:
            if opens:
                raise ScstConfigError(number, f"{keyword} takes no block")
            return frame
        return child
    _attribute(frame, words, opens, number)
    return frame


def _attribute(frame: _Frame, words: list[str], opens: bool, number: int) -> None:
    name = words[0]
    allowed = ", ".join(sorted(_SECTIONS[frame.kind])) or "attributes only"
    if frame.attrs is None:
        raise ScstConfigError(number, f"{frame.label} takes no attributes, found '{name}'")
    if name in KEYWORDS:
        raise ScstConfigError(number, f"{name} is not allowed {frame.label}; expected {allowed}")
    if opens:
        raise ScstConfigError(
            number, f"unknown section keyword '{name}' {frame.label}; expected {allowed}"
        )
    if len(words) > 2:
        raise ScstConfigError(
            number,
            f"attribute '{name}' takes one value, found {len(words) - 1}; "
            "put double quotes around a value that contains blanks",
        )
    frame.attrs.add(name, words[1] if len(words) == 2 else "", key=not frame.nonkey)


def _names(words: list[str], count: int, usage: str, number: int) -> list[str]:
    if len(words) != count + 1:
        raise ScstConfigError(number, f"expected '{usage}', found '{' '.join(words)}'")
    return words[1:]


def _unique(frame: _Frame, keyword: str, name: str, number: int) -> None:
    first = frame.seen.setdefault((keyword, name), number)
    if first != number:
        raise ScstConfigError(
            number, f"duplicate {keyword} {name} {frame.label} (first at line {first})"
        )


def _of(frame: _Frame, kind: type[_Obj]) -> _Obj:
    """The frame's object, of the type its block holds (_SECTIONS admits no other)."""
    if not isinstance(frame.obj, kind):
        raise TypeError(f"{frame.label}: holds {type(frame.obj).__name__}, not {kind.__name__}")
    return frame.obj


def _child(kind: str, keyword: str, obj: object, attrs: Attributes, number: int) -> _Frame:
    name = getattr(obj, "name", getattr(obj, "number", ""))
    return _Frame(kind, obj, attrs, number, f"inside {keyword} {name}")


def _handler(frame: _Frame, words: list[str], number: int) -> _Frame:
    (name,) = _names(words, 1, "HANDLER name {", number)
    _unique(frame, "HANDLER", name, number)
    handler = _of(frame, ScstConfig).handlers.setdefault(name, Handler(name))
    return _child("handler", "HANDLER", handler, handler.attributes, number)


def _device(frame: _Frame, words: list[str], number: int) -> _Frame:
    (name,) = _names(words, 1, "DEVICE name", number)
    _unique(frame, "DEVICE", name, number)
    device = _of(frame, Handler).devices.setdefault(name, Device(name))
    return _child("device", "DEVICE", device, device.attributes, number)


def _driver(frame: _Frame, words: list[str], number: int) -> _Frame:
    (name,) = _names(words, 1, "TARGET_DRIVER name {", number)
    _unique(frame, "TARGET_DRIVER", name, number)
    driver = _of(frame, ScstConfig).drivers.setdefault(name, TargetDriver(name))
    return _child("target_driver", "TARGET_DRIVER", driver, driver.attributes, number)


def _target(frame: _Frame, words: list[str], number: int) -> _Frame:
    (name,) = _names(words, 1, "TARGET name", number)
    _unique(frame, "TARGET", name, number)
    target = _of(frame, TargetDriver).targets.setdefault(name, Target(name))
    return _child("target", "TARGET", target, target.attributes, number)


def _lun(frame: _Frame, words: list[str], number: int) -> _Frame:
    lun_text, device = _names(words, 2, "LUN number device", number)
    if not _LUN_NUMBER.fullmatch(lun_text):
        raise ScstConfigError(number, f"LUN number must be a decimal number, found '{lun_text}'")
    _unique(frame, "LUN", str(int(lun_text)), number)
    owner = frame.obj  # a TARGET's own LUNs or a GROUP's
    if not isinstance(owner, Target | InitiatorGroup):
        raise TypeError(f"{frame.label}: LUN inside {type(owner).__name__}")
    lun = owner.luns.setdefault(int(lun_text), Lun(int(lun_text), device))
    return _child("lun", "LUN", lun, lun.attributes, number)


def _group(frame: _Frame, words: list[str], number: int) -> _Frame:
    (name,) = _names(words, 1, "GROUP name", number)
    _unique(frame, "GROUP", name, number)
    group = _of(frame, Target).groups.setdefault(name, InitiatorGroup(name))
    return _child("group", "GROUP", group, group.attributes, number)


def _initiator(frame: _Frame, words: list[str], number: int) -> _Frame:
    (name,) = _names(words, 1, "INITIATOR name", number)
    _unique(frame, "INITIATOR", name, number)
    initiator = _of(frame, InitiatorGroup).initiators.setdefault(name, Initiator(name))
    return _child("initiator", "INITIATOR", initiator, initiator.attributes, number)


def _hw_target(frame: _Frame, words: list[str], number: int) -> None:
    _names(words, 0, "HW_TARGET", number)
    _of(frame, Target).hw_target = True


def _alua(frame: _Frame, words: list[str], number: int) -> _Frame:
    _names(words, 0, "ALUA {", number)
    _unique(frame, "ALUA", "", number)
    return _Frame("alua", None, _of(frame, ScstConfig).alua, number, "inside ALUA")


def _device_group(frame: _Frame, words: list[str], number: int) -> _Frame:
    (name,) = _names(words, 1, "DEVICE_GROUP name {", number)
    _unique(frame, "DEVICE_GROUP", name, number)
    group = _of(frame, ScstConfig).device_groups.setdefault(name, DeviceGroup(name))
    return _child("device_group", "DEVICE_GROUP", group, group.attributes, number)


def _device_ref(frame: _Frame, words: list[str], number: int) -> _Frame:
    (name,) = _names(words, 1, "DEVICE name", number)
    _unique(frame, "DEVICE", name, number)
    _of(frame, DeviceGroup).devices.add(name)
    label = f"DEVICE {name} (a reference inside DEVICE_GROUP)"
    return _Frame("reference", None, None, number, label)


def _target_group(frame: _Frame, words: list[str], number: int) -> _Frame:
    (name,) = _names(words, 1, "TARGET_GROUP name {", number)
    _unique(frame, "TARGET_GROUP", name, number)
    group = _of(frame, DeviceGroup).target_groups.setdefault(name, TargetGroup(name))
    return _child("target_group", "TARGET_GROUP", group, group.attributes, number)


def _member(frame: _Frame, words: list[str], number: int) -> _Frame:
    (name,) = _names(words, 1, "TARGET name", number)
    _unique(frame, "TARGET", name, number)
    member = _of(frame, TargetGroup).targets.setdefault(name, TargetGroupMember(name))
    return _child("member", "TARGET", member, member.attributes, number)


_Section = Callable[[_Frame, list[str], int], "_Frame | None"]
_SECTIONS: dict[str, dict[str, _Section]] = {
    "top": {
        "HANDLER": _handler,
        "TARGET_DRIVER": _driver,
        "DEVICE_GROUP": _device_group,
        "ALUA": _alua,
    },
    "handler": {"DEVICE": _device},
    "device": {},
    "target_driver": {"TARGET": _target},
    "target": {"LUN": _lun, "GROUP": _group, "HW_TARGET": _hw_target},
    "lun": {},
    "group": {"LUN": _lun, "INITIATOR": _initiator},
    "initiator": {},
    "alua": {},
    "device_group": {"DEVICE": _device_ref, "TARGET_GROUP": _target_group},
    "target_group": {"TARGET": _member},
    "member": {},
    "reference": {},
}
