"""scst.conf as scstadmin itself reads it: a port of readConfigFile/parseStanza/
parseLine from scstadmin/scstadmin.sysfs/scstadmin (the lab must accept and
misread exactly what the real tool accepts, so it does not use a stricter parser).
"""

from __future__ import annotations

import re

Tree = dict[str, "Tree"]

_TOKEN = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)"|(\S+)')


def _parse_line(line: str, tree: Tree, child: Tree) -> None:
    if not line.strip():
        return
    elements = [
        m.group(1) if m.group(1) is not None else m.group(2) for m in _TOKEN.finditer(line.strip())
    ]
    if len(elements) >= 3:
        tree.setdefault(elements[0], {}).setdefault(elements[1], {})[elements[2]] = child
    elif len(elements) == 2:
        tree.setdefault(elements[0], {})[elements[1]] = child
    else:
        tree[elements[0]] = child


def parse(text: str) -> Tree:
    """The nested hash scstadmin builds from a configuration file."""
    buffer = []
    for line in text.splitlines(keepends=True):
        line = re.sub(r"^#.*", "", line, count=1)
        line = re.sub(r"[^\\]#.*", "", line, count=1)
        line = re.sub(r"\\(.)", r"\1", line)
        buffer.append(line)
    chars = "".join(buffer)
    pos = 0

    def stanza() -> Tree:
        nonlocal pos
        tree: Tree = {}
        line = ""
        while pos < len(chars):
            ch = chars[pos]
            pos += 1
            if ch == "{":
                child = stanza()
                if line:
                    _parse_line(line, tree, child)
                    line = ""
                continue
            if ch == "}":
                return tree
            if ch == "\n":
                _parse_line(line, tree, {})
                line = ""
            else:
                line += ch
        return tree  # like the Perl original, a last line without a newline is dropped

    return stanza()


def config_to_attr(config: Tree) -> dict[str, str | list[str]]:
    """configToAttr: attribute -> value, or list of values when repeated.

    Raises ValueError with scstadmin's message for a value that has a block.
    """
    out: dict[str, str | list[str]] = {}
    for attr, values in config.items():
        if not values:
            out[attr] = ""
        elif len(values) > 1:
            out[attr] = list(values)
        else:
            ((value, child),) = values.items()
            if child:
                raise ValueError(
                    f"Invalid configuration encountered. Attribute '{attr}' has an invalid value."
                )
            out[attr] = value
    return out
