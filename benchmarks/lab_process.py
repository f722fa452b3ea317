"""Serve a lab from a child process, so that it never shares the measured event loop."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def serve_lab(lab_dir: Path) -> tuple[subprocess.Popen, dict]:
    """`python -m lab serve DIR`; returns once every listener is bound, with the manifest."""
    from lab import api

    server = subprocess.Popen(
        [sys.executable, "-m", "lab", "serve", str(lab_dir)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = server.stdout.readline()  # printed once every listener is bound
    if not line.startswith("lab serving"):
        server.kill()
        raise SystemExit(f"lab server did not start: {line!r}")
    return server, api.load_manifest(lab_dir)
