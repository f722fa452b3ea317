"""drbdadm adjust/primary/secondary change the running state as DRBD would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from lab import api
from lab.interpreter import run_command

NODE, PEER = "c001-a", "c001-b"
REPO = Path(__file__).resolve().parents[2]


def sh(lab: Path, command: str, node: str = NODE):
    return run_command(api.node(lab, node), command)


def test_adjust_applies_file_options_to_the_running_state(lab):
    res = sh(lab, "cat /etc/drbd.d/r1.res").stdout
    api.node(lab, NODE).write(
        "/etc/drbd.d/r1.res", res.replace("    allow-two-primaries yes;\n", "")
    )
    assert "allow-two-primaries" in sh(lab, "drbdsetup show r1").stdout  # not adjusted yet
    r = sh(lab, "drbdadm adjust r1")
    assert (r.exit_status, r.stdout, r.stderr) == (0, "", "")
    assert "allow-two-primaries" not in sh(lab, "drbdsetup show r1").stdout


def test_adjust_needs_this_host_in_the_resource(lab):
    res = sh(lab, "cat /etc/drbd.d/r0.res").stdout.replace("c001-a", "c009-x")
    api.node(lab, NODE).write("/etc/drbd.d/r0.res", res)
    r = sh(lab, "drbdadm adjust r0")
    assert r.exit_status == 1
    assert r.stderr == "'r0' not defined in your config (for this host).\n"


def test_standalone_then_adjust_reconnects_both_sides(lab):
    api.drbd_standalone(lab, NODE, "r0")
    assert "connection:StandAlone" in sh(lab, "drbdadm status r0").stdout
    assert sh(lab, "drbdadm adjust r0").exit_status == 0
    for node in (NODE, PEER):
        st = json.loads(sh(lab, "drbdsetup status --json r0", node).stdout)[0]
        assert st["connections"][0]["connection-state"] == "Connected"


def test_outdated_disk_cannot_be_promoted(lab):
    sh(lab, "drbdadm secondary r1", PEER)
    api.outdate(lab, PEER, "r1")
    peer_view = json.loads(sh(lab, "drbdsetup status --json r1").stdout)[0]
    assert peer_view["connections"][0]["peer_devices"][0]["peer-disk-state"] == "Outdated"
    r = sh(lab, "drbdadm primary r1", PEER)
    assert r.exit_status == 17
    assert "Need access to UpToDate data" in r.stderr


def test_drbdadm_usage_errors_are_the_real_ones(lab):
    r = sh(lab, "drbdadm primary")
    assert r.exit_status == 1
    assert r.stdout.startswith("\nUSAGE: drbdadm primary [OPTION...] {all|RESOURCE...}\n")
    assert r.stdout.endswith("\nNo resource names specified\n")
    assert sh(lab, "drbdadm frob r0").stdout == "drbdadm: Unknown command 'frob'\n"


def test_cli_changes_state_and_faults(lab):
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "lab", *args], cwd=REPO,
                              capture_output=True, text=True)  # fmt: skip

    assert cli("set-attr", str(lab), NODE, "r0", "write_through", "0").returncode == 0
    out = cli("run", str(lab), NODE, "cat /sys/kernel/scst_tgt/devices/r0/write_through")
    assert out.stdout == "0\n"  # back to the default: no [key]
    assert cli("fault", str(lab), PEER, "--latency", "0.5", "--down").returncode == 0
    fault = api.read_fault(lab, PEER)
    assert (fault.latency, fault.down) == (0.5, True)
    assert cli("fault", str(lab), PEER, "--clear").returncode == 0
    assert api.read_fault(lab, PEER) == api.Fault()


def test_net_options_in_force_can_differ_from_the_file(lab):
    api.set_net_option(lab, NODE, "r0", "allow-two-primaries", None)
    api.set_net_option(lab, NODE, "r0", "protocol", "A")
    shown = sh(lab, "drbdsetup show r0").stdout
    assert "allow-two-primaries" not in shown
    assert "            protocol        \tA;\n" in shown
    assert "allow-two-primaries yes;" in sh(lab, "cat /etc/drbd.d/r0.res").stdout
    sh(lab, "drbdadm adjust r0")
    assert "allow-two-primaries\tyes;" in sh(lab, "drbdsetup show r0").stdout
