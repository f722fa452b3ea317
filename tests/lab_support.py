"""Run a lab's SSH servers in a background thread for a test, and point the inventory at it."""

import asyncio
import threading
from pathlib import Path

from lab import api
from lab.server import LabServer


class LabRunner:
    """A lab served from its own event loop thread; stop() closes every listener."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.loop = asyncio.new_event_loop()
        self.server: LabServer | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> "LabRunner":
        self._thread.start()
        self.server = LabServer(self.dir)
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(30)
        return self

    def stop(self) -> None:
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    @property
    def manifest(self) -> dict:
        return api.load_manifest(self.dir)

    def wait_for_faults(self, timeout: float = 15) -> None:
        """Wait until the server applied every node's fault file (it polls for changes)."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._applied(name) for name in self.server.nodes):
                return
            time.sleep(0.05)
        raise AssertionError("the lab server did not apply the faults in time")

    def _applied(self, name: str) -> bool:
        node = self.server.nodes[name]
        wanted = api.read_fault(self.dir, name)
        return node.fault == wanted and (node.acceptor is None) == wanted.down
