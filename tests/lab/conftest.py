"""Fixtures for lab tests: a fresh lab directory and a lab served over SSH."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from lab import api
from lab.server import LabServer


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    return api.create_lab(tmp_path / "lab", clusters=1)


class Served:
    """A LabServer running on its own event loop in a background thread."""

    def __init__(self, lab_dir: Path) -> None:
        self.dir = lab_dir
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = LabServer(lab_dir)
        self._call(self.server.start())

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def stop(self) -> None:
        self._call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)

    def entry(self, node: str) -> dict:
        manifest = api.load_manifest(self.dir)
        return next(n for c in manifest["clusters"] for n in c["nodes"] if n["name"] == node)

    def connect_kwargs(self, node: str) -> dict:
        e = self.entry(node)
        return {
            "host": "127.0.0.1",
            "port": e["port"],
            "username": "root",
            "client_keys": [str(self.dir / "client_key")],
            "known_hosts": asyncssh.import_known_hosts(
                f"[127.0.0.1]:{e['port']} {e['host_key']}\n"
            ),
        }

    def run(self, node: str, command: str, timeout: float = 10) -> asyncssh.SSHCompletedProcess:
        async def go():
            async with asyncssh.connect(**self.connect_kwargs(node)) as conn:
                return await asyncio.wait_for(conn.run(command), timeout)

        return asyncio.run(go())


@pytest.fixture
def served(lab: Path) -> Iterator[Served]:
    s = Served(lab)
    try:
        yield s
    finally:
        s.stop()
