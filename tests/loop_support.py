"""Calling the services' async_to_sync from a test whose thread runs an event loop.

Playwright's sync API keeps an asyncio loop running in the test's thread while a browser
is open, and async_to_sync refuses to run in such a thread. Work that reads nodes
(collection, plans, applies, host keys) then runs on a thread of its own, with its own
database connection: browser tests use committed data (transactional_db), so it sees
what the test wrote.
"""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.db import connection

T = TypeVar("T")


def off_the_event_loop(work: Callable[[], T]) -> T:
    """`work()` here when this thread runs no event loop, else on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()

    def run() -> T:
        try:
            return work()
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()
