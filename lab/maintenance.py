"""Draining a lab node for maintenance: closing iSCSI sessions and initiators logging back in.

- A session's write-only (0200) `force_close` attribute (scst/src/scst_sysfs.c
  `session_force_close_attr`, created for targets whose driver has `close_session`;
  iscsi-scst/kernel/iscsi.c `iscsi_close_sess` → session.c `iscsi_sess_force_close`,
  which marks every connection of the session closed): any write closes the session,
  which leaves sysfs. Reading it fails (no `show`: kernfs refuses the open, EACCES).
- An initiator whose session closed logs in again at once while its target is enabled;
  while the target is disabled (iscsi-scst usr/event.c: `tgt_enabled = 0` refuses new
  logins) it keeps retrying, and is back as soon as the target is enabled
  (`Target.waiting_logins`).
- `sh -c 'echo 1 > "$1"' sh PATH`: the portal writes a sysfs attribute with a constant
  script and the path as a positional parameter (no shell text built from input). Only
  `echo WORDS > FILE` under /sys/kernel/scst_tgt is emulated; errors are dash's.
"""

from __future__ import annotations

import os
import shlex
import time

from lab.node import Node
from lab.state import Session, Target
from lab.sysfs import ROOT


def _result(out: str = "", err: str = "", code: int = 0):
    from lab.interpreter import Result

    return Result(out, err, code)


def relogin(tgt: Target) -> None:
    """The target was enabled: every initiator waiting to log in has a session again."""
    for name, old in tgt.waiting_logins.items():
        tgt.sessions[name] = _fresh(old)
    tgt.waiting_logins.clear()


def _fresh(old: Session) -> Session:
    """A new session of the same initiator: counters start at zero, I/O resumes."""
    return Session(
        initiator_name=old.initiator_name,
        group=old.group,
        io_rate_kb=old.io_rate_kb,
        started=time.time() if old.io_rate_kb else 0.0,
    )


def force_close(node: Node, driver: str, target: str, session: str) -> bool:
    """Close SESSION of DRIVER/TARGET; False when no such session exists."""
    tgt = node.state.scst.drivers.get(driver, {}).get(target)
    if tgt is None or session not in tgt.sessions:
        return False
    closed = tgt.sessions.pop(session)
    if tgt.enabled:
        tgt.sessions[session] = _fresh(closed)  # the initiator logs straight back in
    else:
        tgt.waiting_logins[session] = closed
    node.dirty_node = True
    return True


def _session_attr(path: str) -> tuple[str, str, str, str] | None:
    """(driver, target, session, attribute) of ROOT/targets/D/T/sessions/S/ATTR."""
    parts = path[len(ROOT) + 1 :].split("/")
    if len(parts) == 6 and parts[0] == "targets" and parts[3] == "sessions":
        return parts[1], parts[2], parts[4], parts[5]
    return None


def _write_sysfs(node: Node, name: str, path: str) -> tuple[str, int]:
    """Write to PATH under the SCST sysfs root: (dash's error text, exit status)."""
    from lab import sysfs

    tree = sysfs.build(node.state)
    parent = os.path.dirname(path)
    if parent not in tree.dirs:
        return f"{name}: 1: cannot create {path}: Directory nonexistent\n", 2
    if path not in tree.files:
        return f"{name}: 1: cannot create {path}: Permission denied\n", 2
    found = _session_attr(path)
    if found is None or found[3] != "force_close":
        # Attributes the portal never writes this way: refuse rather than pretend.
        return f"{name}: 1: cannot create {path}: Permission denied\n", 2
    driver, target, session, _ = found
    if not force_close(node, driver, target, session):
        return f"{name}: 1: cannot create {path}: Directory nonexistent\n", 2
    return "", 0


def cmd_sh(node: Node, args: list[str]):
    """`sh -c SCRIPT [NAME [ARG...]]` for SCRIPT = `echo WORDS > FILE` ($1… expanded)."""
    if len(args) < 2 or args[0] != "-c":
        return _result("", "sh: only `sh -c SCRIPT` is available on this lab node\n", 2)
    script, positional = args[1], args[2:]
    name = positional[0] if positional else "sh"
    try:
        words = shlex.split(script)
    except ValueError:
        return _result("", f"{name}: 1: Syntax error: Unterminated quoted string\n", 2)

    def expand(word: str) -> str:
        if word.startswith("$") and word[1:].isdigit():
            i = int(word[1:])
            return positional[i] if i < len(positional) else ""
        return word

    words = [expand(w) for w in words]
    if len(words) < 3 or words[0] != "echo" or words[-2] != ">":
        return _result("", f"{name}: only `echo WORDS > FILE` is emulated here\n", 2)
    path = os.path.normpath(words[-1])
    if not path.startswith(ROOT + "/"):
        return _result("", f"{name}: only writes under {ROOT} are emulated here\n", 2)
    err, code = _write_sysfs(node, name, path)
    return _result("", err, code)


def write_while_away(lab, node_name: str, resource: str, kib: int) -> None:
    """Initiators write KIB to NODE while its peer is disconnected: DRBD marks the blocks
    out of sync in NODE's bitmap (they resync when the peer connects again)."""
    from lab import api

    n = api.node(lab, node_name)
    with n.session():
        side = n.cluster.resources[resource].sides[node_name]
        for volume in side.volumes:
            volume.out_of_sync_kib += kib
        side.written_kib += kib
        n.dirty_cluster = True
