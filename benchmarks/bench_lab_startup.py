"""Start a 500-node lab (250 clusters x 2) in one process; time until every port accepts.

Run from the repository root: .venv/bin/python -m benchmarks.bench_lab_startup [CLUSTERS]
Reports the time to create the lab directory (state files, host keys), the time
until all listeners accept TCP connections, and a full collection round (the
grep dump, the link list and `drbdsetup status --json` on every node over SSH).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

import asyncssh

from lab import api
from lab.server import LabServer

TARGET_SECONDS = 10.0


async def _accepts(port: int) -> None:
    while True:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.01)


async def _collect(server: LabServer, lab: Path) -> float:
    commands = [
        "grep -r -s -Z --exclude=mgmt '' /sys/kernel/scst_tgt",
        "find /sys/kernel/scst_tgt -type l -printf '%p\\0%l\\n'",
        "drbdsetup status --json",
    ]
    manifest = api.load_manifest(lab)
    keys = asyncssh.read_private_key(str(lab / "client_key"))
    sem = asyncio.Semaphore(100)

    async def one(entry: dict) -> None:
        known = asyncssh.import_known_hosts(f"[127.0.0.1]:{entry['port']} {entry['host_key']}\n")
        async with (
            sem,
            asyncssh.connect("127.0.0.1", entry["port"], username="root",
                             client_keys=[keys], known_hosts=known) as conn,
        ):  # fmt: skip
            results = await asyncio.gather(*(conn.run(c, check=True) for c in commands))
            assert all(r.stdout for r in results)

    start = time.perf_counter()
    await asyncio.gather(*(one(n) for c in manifest["clusters"] for n in c["nodes"]))
    return time.perf_counter() - start


async def main(clusters: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        lab = api.create_lab(Path(tmp) / "lab", clusters=clusters)
        t1 = time.perf_counter()
        server = LabServer(lab)
        await server.start()
        await asyncio.gather(*(_accepts(n.port) for n in server.nodes.values()))
        t2 = time.perf_counter()
        nodes = len(server.nodes)
        print(f"nodes:                          {nodes}")
        print(f"create lab dir (state, keys):   {t1 - t0:6.2f} s")
        print(f"serve until all ports accept:   {t2 - t1:6.2f} s")
        print(f"total start-up:                 {t2 - t0:6.2f} s (target < {TARGET_SECONDS} s)")
        collect = await _collect(server, lab)
        print(f"collection round over SSH:      {collect:6.2f} s (3 commands x {nodes} nodes)")
        await server.stop()
        return 0 if t2 - t0 < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 250)))
