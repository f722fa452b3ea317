"""`python -m lab`: create, serve and change a lab (see docs/lab.md)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from lab import api
from lab.interpreter import run_command


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)

    c = sub.add_parser("create", help="create a lab of N clusters x 2 nodes")
    c.add_argument("dir")
    c.add_argument("--clusters", type=int, default=1)
    c.add_argument("--drbd", choices=["9", "8.4"], default="9")
    c.add_argument("--base-port", type=int, default=0, help="fixed ports from here (0: any)")

    s = sub.add_parser("serve", help="serve a lab (creates it first with --clusters)")
    s.add_argument("dir")
    s.add_argument("--clusters", type=int, default=0)
    s.add_argument("--drbd", choices=["9", "8.4"], default="9")
    s.add_argument(
        "--base-port",
        type=int,
        default=None,
        help="fixed ports from here: a taken one is an error (default: ports recorded in the "
        "manifest, or any; a taken one is replaced by a free one)",
    )

    r = sub.add_parser("run", help="run a command on a node without SSH")
    r.add_argument("dir")
    r.add_argument("node")
    r.add_argument("command")

    a = sub.add_parser("set-attr", help="set an SCST device attribute")
    for x in ("dir", "node", "device", "attr", "value"):
        a.add_argument(x)

    for name, helptext in (
        ("standalone", "NODE's connection of RESOURCE goes StandAlone"),
        ("split-brain", "both nodes of NODE's cluster StandAlone after a split brain"),
        ("outdate", "NODE's disk of RESOURCE becomes Outdated"),
        ("heal", "RESOURCE back to Connected/UpToDate on both nodes"),
    ):
        d = sub.add_parser(name, help=helptext)
        d.add_argument("dir")
        d.add_argument("node")
        d.add_argument("resource")

    no = sub.add_parser("net-option", help="change a net option in force (not in the file)")
    no.add_argument("dir")
    no.add_argument("node")
    no.add_argument("resource")
    no.add_argument("option")
    no.add_argument("value", nargs="?", help="omit to remove the option")

    ss = sub.add_parser("session", help="an initiator logs in and does I/O")
    ss.add_argument("dir")
    ss.add_argument("node")
    ss.add_argument("initiator")
    ss.add_argument("--group")
    ss.add_argument("--rate-kb", type=int, default=1024, help="KiB/s the counters rise by")

    io = sub.add_parser("io", help="an initiator's session completes read/write commands")
    io.add_argument("dir")
    io.add_argument("node")
    io.add_argument("initiator")
    io.add_argument("--reads", type=int, default=0)
    io.add_argument("--writes", type=int, default=0)

    rv = sub.add_parser("reserve", help="register (and reserve) a persistent reservation")
    rv.add_argument("dir")
    rv.add_argument("node")
    rv.add_argument("device")
    rv.add_argument("key", help="reservation key, hex")
    rv.add_argument("--register-only", action="store_true")

    f = sub.add_parser("fault", help="set a node's faults")
    f.add_argument("dir")
    f.add_argument("node")
    f.add_argument("--clear", action="store_true", help="reset all faults first")
    f.add_argument("--latency", type=float)
    f.add_argument("--drop-after-bytes", type=int)
    f.add_argument("--drop-on", help="drop the connection on a command containing this")
    f.add_argument("--fail-on", help="fail a command containing this")
    f.add_argument("--fail-status", type=int)
    f.add_argument("--fail-stderr")
    f.add_argument("--down", action="store_true", dest="down", default=None)
    f.add_argument("--up", action="store_false", dest="down")
    f.add_argument("--changed-host-key", action="store_true", dest="changed", default=None)
    f.add_argument("--original-host-key", action="store_false", dest="changed")
    f.add_argument("--hang-on", help="regex: a command line matching it hangs before it runs")
    f.add_argument("--hang-seconds", type=float, help="how long a matching command hangs")
    f.add_argument("--no-hang", action="store_true", help="stop hanging commands")

    gd = sub.add_parser("grow-disk", help="an admin grew NODE's block device (data kept)")
    for x in ("dir", "node", "path"):
        gd.add_argument(x)
    gd.add_argument("size", help="new size: bytes, or with a K/M/G/T suffix (powers of 1024)")

    sub.add_parser("nodes", help="list node names").add_argument("dir")
    st = sub.add_parser("stack", help="change a node's cluster stack (lab/stack.py StackState)")
    st.add_argument("dir")
    st.add_argument("node")
    st.add_argument(
        "changes", nargs="*", help="FIELD=JSON, e.g. quorate=false drbd_clones='{\"r0\": 1}'"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.cmd == "create":
        lab = api.create_lab(args.dir, args.clusters, args.drbd, args.base_port)
        print(lab / "manifest.json")
    elif args.cmd == "serve":
        if args.clusters and not (Path(args.dir) / "manifest.json").exists():
            api.create_lab(args.dir, args.clusters, args.drbd, args.base_port or 0)
        from lab.server import PortInUse, serve

        try:
            asyncio.run(serve(args.dir, move_taken_ports=args.base_port is None))
        except PortInUse as e:
            print(f"python -m lab serve: {e}", file=sys.stderr)
            return 2
    elif args.cmd == "run":
        r = run_command(api.node(args.dir, args.node), args.command)
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr)
        return r.exit_status
    elif args.cmd == "set-attr":
        api.set_device_attr(args.dir, args.node, args.device, args.attr, args.value)
    elif args.cmd == "standalone":
        api.drbd_standalone(args.dir, args.node, args.resource)
    elif args.cmd == "split-brain":
        api.split_brain(args.dir, args.node, args.resource)
    elif args.cmd == "outdate":
        api.outdate(args.dir, args.node, args.resource)
    elif args.cmd == "heal":
        api.heal(args.dir, args.node, args.resource)
    elif args.cmd == "net-option":
        api.set_net_option(args.dir, args.node, args.resource, args.option, args.value)
    elif args.cmd == "session":
        api.add_session(args.dir, args.node, args.initiator, args.group, args.rate_kb)
    elif args.cmd == "io":
        api.session_io(args.dir, args.node, args.initiator, args.reads, args.writes)
    elif args.cmd == "reserve":
        api.register_reservation(args.dir, args.node, args.device, int(args.key, 16),
                                 reserve=not args.register_only)  # fmt: skip
    elif args.cmd == "fault":
        changes: dict = {"clear": args.clear}
        if args.no_hang:
            changes.update(hang_on=None, hang_seconds=0.0)
        for field, value in (
            ("latency", args.latency),
            ("drop_after_bytes", args.drop_after_bytes),
            ("drop_on", args.drop_on),
            ("fail_on", args.fail_on),
            ("fail_status", args.fail_status),
            ("fail_stderr", args.fail_stderr),
            ("down", args.down),
            ("changed_host_key", args.changed),
            ("hang_on", args.hang_on),
            ("hang_seconds", args.hang_seconds),
        ):
            if value is not None:
                changes[field] = value
        try:
            fault = api.set_fault(args.dir, args.node, **changes)
        except ValueError as e:
            print(f"python -m lab fault: {e}", file=sys.stderr)
            return 2
        print(json.dumps(fault.__dict__))
    elif args.cmd == "grow-disk":
        from lab import workflow_cmds

        workflow_cmds.grow_disk(args.dir, args.node, args.path, workflow_cmds.parse_size(args.size))
    elif args.cmd == "nodes":
        print("\n".join(api.node_names(args.dir)))
    elif args.cmd == "stack":
        from lab import stack

        changes = {k: json.loads(v) for k, v in (c.split("=", 1) for c in args.changes)}
        print(json.dumps(stack.set_stack(args.dir, args.node, **changes).__dict__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
