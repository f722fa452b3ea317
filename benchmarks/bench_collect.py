"""Live-state collection of 500 lab nodes: the portal vs Ansible vs a bare asyncssh floor.

Run from the repository root:

    .venv/bin/python -m benchmarks.bench_collect [--nodes 500]

In one run it
  1. creates a lab of NODES/2 clusters in a temp dir and serves it from a separate
     process (`python -m lab serve`), so the lab and the measured client never
     share an event loop; waits until every node port accepts connections;
  2. times the portal's full collection, `clusters.collect.collect_nodes`
     (one SSH connection per node, parallel channels), over every node;
  3. times the floor: bare asyncssh connect, one command
     (`cat /sys/kernel/scst_tgt/version`), close, at the same concurrency;
  4. times Ansible (`ansible all -m raw -f 50`, OpenSSH client) running the same
     commands as the portal (PARALLEL_READS then RUNNING_CONFIG_STEPS, each joined
     with shlex.join), one invocation per command, in sequence, times summed.
     ansible-core is installed on first use into ANSIBLE_VENV (outside the tree).

Only the table goes to stdout (progress goes to stderr); everything it writes to
disk is in temp dirs that it removes, plus the Ansible venv under /tmp.
Targets (issue "live state and compliance"): >= 10x faster than Ansible and
within 3x of the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import platform
import re
import resource
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from benchmarks.lab_process import serve_lab
from clusters.collect import PARALLEL_READS, RUNNING_CONFIG_STEPS, collect_nodes
from clusters.ssh import NodeEndpoint
from lab import api
from lab.interpreter import run_command

ANSIBLE_VENV = Path("/tmp/bench-ansible-venv")
REPO = Path(__file__).resolve().parent.parent
FLOOR_COMMAND = "cat /sys/kernel/scst_tgt/version"
TARGET_VS_ANSIBLE = 10.0  # portal at least this many times faster than Ansible
TARGET_VS_FLOOR = 3.0  # portal at most this many times slower than the floor


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Row:
    method: str
    nodes: int
    successes: int
    seconds: float
    note: str = ""
    client_cpu: float | None = None  # this process (portal, floor) or its children (Ansible)
    lab_cpu: float | None = None  # the lab server process


def own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(
    server: subprocess.Popen, fn, children: bool = False
) -> tuple[object, float, float, float]:
    """Run fn(); its result, wall seconds, client CPU seconds, lab server CPU seconds."""
    cpu = children_cpu if children else own_cpu
    lab0, cpu0, started = process_cpu(server.pid), cpu(), time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    return result, seconds, cpu() - cpu0, process_cpu(server.pid) - lab0


# --- the lab, in its own process -------------------------------------------------------


def start_lab(lab_dir: Path, clusters: int) -> tuple[subprocess.Popen, dict]:
    """Create the lab, serve it from a child process, wait until every port accepts."""
    api.create_lab(lab_dir, clusters=clusters)
    server, manifest = serve_lab(lab_dir)
    ports = [n["port"] for c in manifest["clusters"] for n in c["nodes"]]
    deadline = time.monotonic() + 60
    for port in ports:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    server.kill()
                    raise SystemExit(f"lab port {port} never accepted") from None
                time.sleep(0.01)
    return server, manifest


def manifest_nodes(manifest: dict) -> list[dict]:
    return [n for c in manifest["clusters"] for n in c["nodes"]]


# --- the portal ------------------------------------------------------------------------


def endpoints(manifest: dict, nodes: list[dict]) -> list[NodeEndpoint]:
    key = Path(manifest["client_key"]).read_text()
    return [
        NodeEndpoint(
            node_id=i,
            name=n["name"],
            address=n["host"],
            port=n["port"],
            user=manifest["user"],
            private_key=key,
            pinned_host_key=n["host_key"],
        )
        for i, n in enumerate(nodes)
    ]


def run_portal(
    server: subprocess.Popen,
    manifest: dict,
    nodes: list[dict],
    concurrency: int,
    timeout: float,
    expected: dict[str, tuple[int, bool]],
) -> Row:
    eps = endpoints(manifest, nodes)
    outcomes, seconds, cpu, lab_cpu = timed(
        server, lambda: asyncio.run(collect_nodes(eps, timeout=timeout, concurrency=concurrency))
    )
    wanted = {name: expected[shlex.join(argv)] for name, argv in PARALLEL_READS.items()}
    wanted["file_dump"] = expected[shlex.join(RUNNING_CONFIG_STEPS[-1])]
    wanted["scst_running_config"] = expected[shlex.join(RUNNING_CONFIG_STEPS[0])]

    def as_expected(o) -> bool:
        got = {name: (out.exit_status, bool(out.stdout)) for name, out in o.outputs.items()}
        return o.reachable and not o.error and got == wanted

    ok = sum(1 for o in outcomes if as_expected(o))
    errors = {o.error for o in outcomes if o.error}
    if errors:
        log(f"portal: {len(errors)} distinct errors, e.g. {sorted(errors)[0]}")
    name = f"portal collect_nodes ({len(portal_commands())} commands)"
    return Row(name, len(nodes), ok, seconds, client_cpu=cpu, lab_cpu=lab_cpu)


# --- the floor -------------------------------------------------------------------------


async def _floor(manifest: dict, nodes: list[dict], concurrency: int, timeout: float) -> int:
    client_key = asyncssh.import_private_key(Path(manifest["client_key"]).read_text())
    limit = asyncio.Semaphore(concurrency)

    async def one(n: dict) -> bool:
        async with limit:
            try:
                async with asyncio.timeout(timeout):
                    conn = await asyncssh.connect(
                        n["host"],
                        n["port"],
                        username=manifest["user"],
                        client_keys=[client_key],
                        known_hosts=([asyncssh.import_public_key(n["host_key"])], [], []),
                        agent_path=None,
                        password=None,
                        kbdint_auth=False,
                    )
                    async with conn:
                        result = await conn.run(FLOOR_COMMAND, check=False)
                    return result.exit_status == 0 and bool(result.stdout)
            except (OSError, asyncssh.Error, TimeoutError) as exc:
                log(f"floor: {n['name']}: {exc!r}")
                return False

    return sum(await asyncio.gather(*(one(n) for n in nodes)))


def run_floor(
    server: subprocess.Popen, manifest: dict, nodes: list[dict], concurrency: int, timeout: float
) -> Row:
    ok, seconds, cpu, lab_cpu = timed(
        server, lambda: asyncio.run(_floor(manifest, nodes, concurrency, timeout))
    )
    return Row(
        "asyncssh floor (connect, 1 command)",
        len(nodes),
        ok,
        seconds,
        client_cpu=cpu,
        lab_cpu=lab_cpu,
    )


# --- Ansible ---------------------------------------------------------------------------


def ansible_bin() -> Path:
    ansible = ANSIBLE_VENV / "bin" / "ansible"
    if not ansible.exists():
        log(f"installing ansible-core into {ANSIBLE_VENV} ...")
        subprocess.run(["python3", "-m", "venv", str(ANSIBLE_VENV)], check=True)
        subprocess.run(
            [str(ANSIBLE_VENV / "bin" / "pip"), "install", "-q", "ansible-core"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return ansible


def ansible_version(ansible: Path) -> str:
    out = subprocess.run([str(ansible), "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "?"


def expected_results(lab_dir: Path, node_name: str) -> dict[str, tuple[int, bool]]:
    """Exit status and "prints something" of each portal command, straight from the
    lab's interpreter (no SSH): what a successful run must reproduce on every node.
    (`cat /proc/drbd` exits 1 on a DRBD 9 node, as on a real one.)"""
    node = api.node(lab_dir, node_name)
    results = {}
    for command in portal_commands():
        r = run_command(node, command)
        results[command] = (r.exit_status, bool(r.stdout))
    return results


def portal_commands() -> list[str]:
    return [shlex.join(argv) for argv in PARALLEL_READS.values()] + [
        shlex.join(argv) for argv in RUNNING_CONFIG_STEPS
    ]


def run_ansible(
    server: subprocess.Popen,
    manifest: dict,
    nodes: list[dict],
    forks: int,
    work: Path,
    ssh_args: str,
    expected: dict[str, tuple[int, bool]],
) -> tuple[Row, list[tuple[str, float, int]]]:
    ansible = ansible_bin()
    known_hosts = work / "known_hosts"
    known_hosts.write_text("".join(f"[{n['host']}]:{n['port']} {n['host_key']}\n" for n in nodes))
    common = f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes"
    inventory = work / "inventory.ini"
    inventory.write_text(
        "[all]\n"
        + "".join(
            f"{n['name']} ansible_host={n['host']} ansible_port={n['port']} "
            f"ansible_user={manifest['user']} "
            f"ansible_ssh_private_key_file={manifest['client_key']} "
            f"ansible_ssh_common_args='{common}'\n"
            for n in nodes
        )
    )
    (work / "cp").mkdir()
    env = {
        **os.environ,
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_SSH_ARGS": ssh_args,
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(work / "cp"),
        "ANSIBLE_LOCAL_TEMP": str(work / "tmp"),
        "ANSIBLE_HOME": str(work / "home"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
    }
    env.pop("ANSIBLE_CONFIG", None)
    per_host: dict[str, int] = {n["name"]: 0 for n in nodes}
    line = re.compile(r"^(\S+) \| (\w+)(?:!)? \| rc=(\d+)")
    steps: list[tuple[str, float, int]] = []
    total = cpu_total = lab_total = 0.0
    for command in portal_commands():
        out = work / "out.txt"
        argv = [
            str(ansible),
            "all",
            "-i",
            str(inventory),
            "-m",
            "raw",
            "-a",
            command,
            "-f",
            str(forks),
            "-o",
        ]
        with out.open("wb") as sink:
            _, seconds, cpu, lab_cpu = timed(
                server,
                functools.partial(
                    subprocess.run,
                    argv,
                    cwd=work,
                    env=env,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    check=False,
                ),
                children=True,
            )
        total += seconds
        cpu_total += cpu
        lab_total += lab_cpu
        ok = 0
        for text in out.read_bytes().decode(errors="replace").splitlines():
            m = line.match(text)
            if m and m.group(1) in per_host and int(m.group(3)) == expected[command][0]:
                per_host[m.group(1)] += 1
                ok += 1
        steps.append((command, seconds, ok))
        log(f"ansible: {seconds:6.1f} s, {ok}/{len(nodes)} ok: {command}")
        if ok == 0:
            log("ansible output (first lines):\n" + "\n".join(out.read_text().splitlines()[:5]))
    successes = sum(1 for v in per_host.values() if v == len(steps))
    name = f"ansible -m raw -f {forks} ({len(steps)} runs)"
    return Row(name, len(nodes), successes, total, client_cpu=cpu_total, lab_cpu=lab_total), steps


# --- main ------------------------------------------------------------------------------


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--nodes", type=int, default=500, help="lab nodes (2 per cluster)")
    p.add_argument(
        "--concurrency",
        type=int,
        default=200,
        help="connections at a time, portal and floor (collect_nodes default)",
    )
    p.add_argument("--timeout", type=float, default=60.0, help="per-node timeout, seconds")
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="portal and floor rounds (alternating); the median is reported",
    )
    p.add_argument("--forks", type=int, default=50, help="ansible -f")
    p.add_argument(
        "--ansible-nodes",
        type=int,
        default=0,
        help="run Ansible on the first N nodes only (0: all) and extrapolate",
    )
    p.add_argument(
        "--ansible-ssh-args",
        default="-C -o ControlMaster=auto -o ControlPersist=60s",
        help="ANSIBLE_SSH_ARGS (default: Ansible's own default)",
    )
    p.add_argument("--skip-ansible", action="store_true")
    args = p.parse_args()

    clusters = max(1, args.nodes // 2)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-collect-") as tmp:
        work = Path(tmp)
        log(f"creating and serving a {clusters}-cluster lab ...")
        server, manifest = start_lab(work / "lab", clusters)
        try:
            nodes = manifest_nodes(manifest)
            log(f"lab ready: {len(nodes)} nodes (server pid {server.pid})")
            expected = expected_results(work / "lab", nodes[0]["name"])
            portal, floor = [], []
            for r in range(args.rounds):
                portal.append(
                    run_portal(server, manifest, nodes, args.concurrency, args.timeout, expected)
                )
                floor.append(run_floor(server, manifest, nodes, args.concurrency, args.timeout))
                log(
                    f"round {r + 1}: portal {portal[-1].seconds:.2f} s "
                    f"({portal[-1].successes} ok), floor {floor[-1].seconds:.2f} s "
                    f"({floor[-1].successes} ok)"
                )
            for runs in (portal, floor):
                runs.sort(key=lambda r: r.seconds)
                row = runs[len(runs) // 2]
                if len(runs) > 1:
                    row.note = f"rounds: {runs[0].seconds:.2f}-{runs[-1].seconds:.2f} s"
                rows.append(row)
            if not args.skip_ansible:
                subset = nodes[: args.ansible_nodes] if args.ansible_nodes else nodes
                a_work = work / "ansible"
                a_work.mkdir()
                row, _steps = run_ansible(
                    server, manifest, subset, args.forks, a_work, args.ansible_ssh_args, expected
                )
                rows.append(row)
                if len(subset) < len(nodes):
                    per_node = row.seconds / len(subset)
                    rows.append(
                        Row(
                            f"  extrapolated to {len(nodes)}",
                            len(nodes),
                            0,
                            per_node * len(nodes),
                            f"{per_node * 1000:.1f} ms/node x {len(nodes)}",
                        )
                    )
            ansible_version_line = ansible_version(ansible_bin()) if not args.skip_ansible else ""
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
            shutil.rmtree(work / "ansible" / "cp", ignore_errors=True)

    portal_s = rows[0].seconds
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"asyncssh {asyncssh.__version__}"
        + (f", {ansible_version_line}" if ansible_version_line else "")
    )
    print(
        f"portal/floor: median of {args.rounds} rounds, concurrency {args.concurrency}; "
        f"lab server in a separate process on the same machine"
    )
    print()
    print(
        f"| {'method':<38} | {'nodes':>5} | {'successes':>9} | {'seconds':>8} | "
        f"{'nodes/s':>7} | {'ratio vs portal':>15} | "
        f"{'client CPU s':>12} | {'lab CPU s':>9} | notes |"
    )
    print(
        f"|{'-' * 40}|{'-' * 6}:|{'-' * 10}:|{'-' * 9}:|{'-' * 8}:|{'-' * 16}:|"
        f"{'-' * 13}:|{'-' * 10}:|---|"
    )
    for row in rows:
        succ = "-" if row.method.startswith("  extrapolated") else str(row.successes)
        cpu = "-" if row.client_cpu is None else f"{row.client_cpu:.2f}"
        lab_cpu = "-" if row.lab_cpu is None else f"{row.lab_cpu:.2f}"
        print(
            f"| {row.method:<38} | {row.nodes:>5} | {succ:>9} | {row.seconds:>8.2f} | "
            f"{row.nodes / row.seconds:>7.1f} | {row.seconds / portal_s:>14.2f}x | "
            f"{cpu:>12} | {lab_cpu:>9} | {row.note} |"
        )
    print()
    floor_s = rows[1].seconds
    print(
        f"portal vs floor:   {portal_s / floor_s:.2f}x the floor's time "
        f"(target <= {TARGET_VS_FLOOR:.0f}x): "
        f"{'MET' if portal_s <= TARGET_VS_FLOOR * floor_s else 'MISSED'}"
    )
    print(
        f"                   {rows[0].client_cpu / rows[1].client_cpu:.2f}x the floor's "
        "client CPU (the part a real deployment's portal host pays)"
    )
    if not args.skip_ansible:
        ansible_s = rows[-1].seconds  # the extrapolated figure when a subset was run
        print(
            f"portal vs Ansible: {ansible_s / portal_s:.1f}x faster "
            f"(target >= {TARGET_VS_ANSIBLE:.0f}x): "
            f"{'MET' if ansible_s >= TARGET_VS_ANSIBLE * portal_s else 'MISSED'}"
        )
    all_ok = all(r.successes == r.nodes for r in rows if not r.method.startswith("  "))
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
