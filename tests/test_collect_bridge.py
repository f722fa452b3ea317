"""nodes_collect's bridge from sync callers to the async collection (async_to_sync): each
node's outcome is recorded as soon as it arrives, while slower nodes are still read, on
the caller's thread and database connection; a collection that crashes raises."""

import asyncio
import time

import pytest

from clusters import collect
from clusters.models import Job
from clusters.services import collection
from tests.factories import make_cluster


def test_a_fast_node_is_recorded_while_a_slow_one_is_still_read(db, monkeypatch):
    cluster = make_cluster()
    fast, slow = sorted(cluster.nodes.all(), key=lambda n: n.name)
    recorded: list[str] = []
    seen_while_slow: list[list[str]] = []
    record = collection.snapshot_record

    def recording(job, node, outcome):
        snapshot = record(job, node, outcome)  # the test's transaction: same connection
        recorded.append(node.name)
        return snapshot

    async def fake_collect_node(endpoint, timeout=30.0, reader=None):
        if endpoint.name == slow.name:
            deadline = time.monotonic() + 5
            while fast.name not in recorded and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            seen_while_slow.append(list(recorded))
        return collect.NodeCollection(endpoint, reachable=False, error=f"{endpoint.name} down")

    monkeypatch.setattr(collection, "snapshot_record", recording)
    monkeypatch.setattr(collect, "collect_node", fake_collect_node)
    job = Job.objects.create(kind=Job.Kind.COLLECT, cluster=cluster)

    snapshots = collection.nodes_collect(job, [slow, fast])

    assert seen_while_slow == [[fast.name]]
    assert recorded == [fast.name, slow.name]
    assert [s.error for s in snapshots] == [f"{fast.name} down", f"{slow.name} down"]
    assert job.snapshots.count() == 2


def test_a_collection_that_crashes_raises_instead_of_waiting_forever(db, monkeypatch):
    cluster = make_cluster()

    async def crashing(endpoint, timeout=30.0, reader=None):
        raise RuntimeError(f"reader bug on {endpoint.name}")

    monkeypatch.setattr(collect, "collect_node", crashing)
    job = Job.objects.create(kind=Job.Kind.COLLECT, cluster=cluster)

    with pytest.raises(RuntimeError, match="reader bug"):
        collection.nodes_collect(job, list(cluster.nodes.all()))
