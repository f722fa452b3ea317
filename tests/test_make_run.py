"""`make run` (scripts/run-demo.sh) starts with the lab's old first port 22201 taken, and
says in one line what is wrong when the web port it was given is taken."""

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not (REPO / ".venv/bin/honcho").exists(), reason="needs .venv")


def demo_env(var_dir: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    for name in ("DATABASE_URL", "REDIS_URL", "LAB_BASE_PORT", "PORT", "SECRET_KEY"):
        env.pop(name, None)  # the demo: SQLite and the filesystem queue
    return {**env, "PORTAL_VAR_DIR": str(var_dir), "LAB_CLUSTERS": "1", **extra}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def occupied(port: int):
    """Hold 127.0.0.1:PORT (if something else holds it already, it is taken anyway)."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen()
    except OSError:
        pass
    try:
        yield
    finally:
        sock.close()


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_make_run_serves_with_port_22201_taken(tmp_path):
    port = free_port()
    with occupied(22201):
        demo = subprocess.Popen(
            ["bash", "scripts/run-demo.sh"],
            cwd=REPO,
            env=demo_env(tmp_path / "var", PORT=str(port), COLLECT_INTERVAL_SECONDS="3"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        output: list[str] = []
        reader = threading.Thread(target=lambda: output.extend(demo.stdout), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and demo.poll() is None:
                text = "".join(output)
                serving = "lab serving 2 nodes" in text
                collected = "Task clusters.collect[" in text and "succeeded" in text
                if serving and collected and answers(f"http://127.0.0.1:{port}/accounts/login/"):
                    break
                time.sleep(0.5)
            else:
                pytest.fail("the demo did not come up:\n" + "".join(output)[-4000:])
        finally:
            os.killpg(demo.pid, signal.SIGTERM)
            try:
                demo.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(demo.pid, signal.SIGKILL)
    text = "".join(output)
    assert "Traceback" not in text, text[-4000:]
    manifest = (tmp_path / "var/lab/manifest.json").read_text()
    assert '"port": 22201' not in manifest


def test_a_taken_web_port_is_one_line(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run(
            ["bash", "scripts/run-demo.sh"],
            cwd=REPO,
            env=demo_env(tmp_path / "var", PORT=str(port)),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"make run: port {port} on 127.0.0.1 is in use (PORT={port}); choose another PORT"
    ]
