"""Shared paths and the real drbdadm for the DRBD library tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.samples import FIXTURES as SAMPLES

FIXTURES = SAMPLES / "drbd"
DRBDADM = Path("/usr/sbin/drbdadm")
# drbdadm 9.22 hands 8.4 configs to this parser when the loaded module is DRBD 8.4;
# it is the only way to check 8.4 syntax (fencing in disk) without the module.
DRBDADM_84 = Path("/usr/lib/drbd/drbdadm-84")

needs_drbdadm = pytest.mark.skipif(not DRBDADM.exists(), reason="drbd-utils is not installed")


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def drbdadm_dump(config: str, tmp_path: Path, version: str = "9") -> subprocess.CompletedProcess:
    """Run the real `drbdadm -c FILE dump` (drbdadm-84 for 8.4) on `config`."""
    conf = tmp_path / "r.res"
    conf.write_text(config)
    program = DRBDADM if version == "9" else DRBDADM_84
    return subprocess.run(
        [str(program), "-c", str(conf), "dump"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
