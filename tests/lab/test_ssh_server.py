"""The asyncssh lab server answers like a node and applies its faults."""

from __future__ import annotations

import asyncio
import time

import asyncssh
import pytest

from lab import api
from lab.interpreter import run_command

NODE = "c001-a"


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def test_command_runs_through_the_interpreter(served):
    r = served.run(NODE, "cat /sys/kernel/scst_tgt/devices/r0/write_through")
    assert r.exit_status == 0
    assert r.stdout == "1\n[key]\n"


def test_unknown_command_is_127_as_dash_says(served):
    r = served.run(NODE, "uptime")
    assert r.exit_status == 127
    assert r.stderr == "sh: 1: uptime: not found\n"


def test_latency_delays_each_reply(served):
    api.set_fault(served.dir, NODE, latency=0.6)
    wait_for(lambda: served.server.nodes[NODE].fault.latency == 0.6)
    start = time.monotonic()
    r = served.run(NODE, "cat /sys/kernel/scst_tgt/version")
    assert time.monotonic() - start >= 0.6
    assert r.exit_status == 0


def test_failing_command_returns_configured_status_and_stderr(served):
    api.set_fault(served.dir, NODE, fail_on="drbdsetup status", fail_status=20,
                  fail_stderr="Failed to modprobe drbd\n")  # fmt: skip
    wait_for(lambda: served.server.nodes[NODE].fault.fail_on is not None)
    r = served.run(NODE, "drbdsetup status --json")
    assert (r.exit_status, r.stderr) == (20, "Failed to modprobe drbd\n")
    assert served.run(NODE, "drbdadm --version").exit_status == 0


def test_drop_on_command_closes_the_connection(served):
    api.set_fault(served.dir, NODE, drop_on="scstadmin")
    wait_for(lambda: served.server.nodes[NODE].fault.drop_on == "scstadmin")

    async def go():
        async with asyncssh.connect(**served.connect_kwargs(NODE)) as conn:
            first = await conn.run("scstadmin -list_device")
            with pytest.raises((asyncssh.Error, ConnectionError, OSError)):
                await conn.run("cat /sys/kernel/scst_tgt/version")
            return first

    first = asyncio.run(go())
    assert first.exit_status is None  # the channel closed without an exit status
    assert first.stdout == ""


def test_drop_after_bytes_cuts_the_output_and_the_connection(served):
    api.set_fault(served.dir, NODE, drop_after_bytes=100)
    wait_for(lambda: served.server.nodes[NODE].fault.drop_after_bytes == 100)

    async def go():
        async with asyncssh.connect(**served.connect_kwargs(NODE)) as conn:
            proc = await conn.create_process("grep -r -s -Z --exclude=mgmt '' /sys/kernel/scst_tgt")
            data = await proc.stdout.read()
            await proc.wait_closed()
            return data, conn

    data, _ = asyncio.run(go())
    full = run_command(
        api.node(served.dir, NODE), "grep -r -s -Z --exclude=mgmt '' /sys/kernel/scst_tgt"
    )
    assert len(full.stdout) > 100
    assert data == full.stdout[:100]


def test_node_down_refuses_connections_and_comes_back(served):
    api.set_fault(served.dir, NODE, down=True)
    wait_for(lambda: served.server.nodes[NODE].acceptor is None)
    with pytest.raises(OSError):
        served.run(NODE, "cat /sys/kernel/scst_tgt/version")
    api.set_fault(served.dir, NODE, down=False)
    wait_for(lambda: served.server.nodes[NODE].acceptor is not None)
    assert served.run(NODE, "cat /sys/kernel/scst_tgt/version").exit_status == 0


def test_changed_host_key_fails_pinned_verification(served):
    api.set_fault(served.dir, NODE, changed_host_key=True)
    wait_for(lambda: served.server.nodes[NODE].key_changed)
    time.sleep(0.2)
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        served.run(NODE, "cat /sys/kernel/scst_tgt/version")


def test_sftp_is_chrooted_to_the_node_root(served):
    async def go():
        async with asyncssh.connect(**served.connect_kwargs(NODE)) as conn:
            async with (
                conn.start_sftp_client() as sftp,
                sftp.open("/var/lib/scst-portal/staged.conf.tmp-1", "w") as f,
            ):
                await f.write("HANDLER vdisk_blockio {\n}\n")
            return await conn.run(
                "sync /var/lib/scst-portal/staged.conf.tmp-1 && "
                "mv -f /var/lib/scst-portal/staged.conf.tmp-1 /var/lib/scst-portal/staged.conf && "
                "cat /var/lib/scst-portal/staged.conf"
            )

    r = asyncio.run(go())
    assert r.stdout == "HANDLER vdisk_blockio {\n}\n"
    assert (served.dir / "nodes" / NODE / "root/var/lib/scst-portal/staged.conf").is_file()


def test_state_changed_by_the_api_is_seen_by_the_running_server(served):
    api.drbd_standalone(served.dir, NODE, "r0")
    r = served.run(NODE, "drbdadm status r0")
    assert "connection:StandAlone" in r.stdout
    peer = served.run("c001-b", "drbdadm status r0")
    assert "connection:Connecting" in peer.stdout
