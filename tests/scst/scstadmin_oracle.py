"""A line-for-line Python transliteration of scstadmin's config reader, used as a test oracle.

scstadmin/scstadmin.sysfs/scstadmin: readConfigFile, parseStanza, parseLine.  The
result is the nested hash scstadmin applies, so two texts that give equal trees
are the same configuration to scstadmin (comments, order and layout ignored).
"""

import re

_TOKEN = re.compile(r'"([^"\\]*(\\.[^"\\]*)*)"|([^\s]+)', re.ASCII)


def scstadmin_tree(text: str) -> dict:
    buffer = []
    for line in text.splitlines(keepends=True):
        line = re.sub(r"^#.*", "", line)
        line = re.sub(r"[^\\]#.*", "", line, count=1)
        line = re.sub(r"\\(.)", r"\1", line)
        buffer.append(line)
    return _parse_stanza(iter("".join(buffer)))


def _parse_stanza(chars) -> dict:
    tree: dict = {}
    line = ""
    for char in chars:
        if char == "{":
            child = _parse_stanza(chars)
            if line and line != "0":  # Perl truthiness of $line
                _parse_line(line, tree, child)
                line = ""
            continue
        if char == "}":
            return tree
        if char == "\n":
            _parse_line(line, tree, {})
            line = ""
        else:
            line += char
    return tree


def _parse_line(line: str, tree: dict, child: dict) -> None:
    if re.fullmatch(r"\s*", line, re.ASCII):
        return
    line = line.strip(" \t\n\r\f\v")
    elements = [m.group(1) if m.group(1) is not None else m.group(3) for m in _TOKEN.finditer(line)]
    if len(elements) >= 3:
        tree.setdefault(elements[0], {}).setdefault(elements[1], {})[elements[2]] = child
    elif len(elements) == 2:
        tree.setdefault(elements[0], {})[elements[1]] = child
    else:
        tree[elements[0]] = child
