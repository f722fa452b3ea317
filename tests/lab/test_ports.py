"""A lab node whose port is taken: a free port instead, or one line saying which port."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lab import api
from lab.server import LabServer, PortInUse

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def taken():
    """A port on 127.0.0.1 that another program listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def lab_on(tmp_path: Path, port: int) -> Path:
    """A one-cluster lab whose first node's recorded port is PORT."""
    lab = api.create_lab(tmp_path / "lab", clusters=1, base_port=port)
    return lab


async def start_and_stop(server: LabServer) -> dict[str, int]:
    await server.start()
    try:
        return {name: node.port for name, node in server.nodes.items()}
    finally:
        await server.stop()


def test_a_taken_port_moves_to_a_free_one(tmp_path, taken):
    lab = lab_on(tmp_path, taken)
    ports = asyncio.run(start_and_stop(LabServer(lab, move_taken_ports=True)))
    assert taken not in ports.values() and all(ports.values())
    recorded = [n["port"] for c in api.load_manifest(lab)["clusters"] for n in c["nodes"]]
    assert sorted(recorded) == sorted(ports.values())


def test_a_taken_fixed_port_names_the_node_and_port(tmp_path, taken):
    lab = lab_on(tmp_path, taken)
    with pytest.raises(PortInUse) as raised:
        asyncio.run(start_and_stop(LabServer(lab)))
    assert str(raised.value).startswith(f"lab node c001-a cannot listen on 127.0.0.1:{taken}:")


def test_lab_serve_with_a_taken_base_port_says_so_in_one_line(tmp_path, taken):
    lab = lab_on(tmp_path, taken)
    result = subprocess.run(
        [sys.executable, "-m", "lab", "serve", str(lab), "--base-port", str(taken)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"python -m lab serve: lab node c001-a cannot listen on 127.0.0.1:{taken}: the port is "
        "in use (stop what uses it, choose other ports, or let the lab pick free ones)"
    ]


def test_the_demo_lab_with_a_taken_lab_base_port_is_a_command_error(
    tmp_path, taken, monkeypatch, db
):
    from django.core.management import CommandError, call_command

    monkeypatch.setenv("LAB_BASE_PORT", str(taken))
    with pytest.raises(CommandError, match=f"127.0.0.1:{taken}: the port is in use") as raised:
        call_command("lab", "--clusters", "1", "--dir", str(tmp_path / "lab"))
    assert f"LAB_BASE_PORT={taken} fixes the ports" in str(raised.value)
    assert "\n" not in str(raised.value)
