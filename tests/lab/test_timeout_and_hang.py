"""`timeout` behaves as coreutils' and the hang fault makes it time out, over real SSH."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time

import asyncssh
import pytest

from lab import api
from lab.interpreter import run_command

NODE = "c001-a"
PROD_ID = "/sys/kernel/scst_tgt/devices/r0/prod_id"
SET_PROD_ID = "scstadmin -noprompt -set_dev_attr r0 -attributes prod_id="


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def hang(served, pattern: str, seconds: float) -> None:
    api.set_fault(served.dir, NODE, hang_on=pattern, hang_seconds=seconds)
    wait_for(lambda: served.server.nodes[NODE].fault.hang_on == pattern)


def test_every_command_runs_through_timeout_with_its_own_status(served):
    r = served.run(NODE, "timeout -k 5 30 cat /sys/kernel/scst_tgt/devices/r0/write_through")
    assert (r.exit_status, r.stdout) == (0, "1\n[key]\n")
    r = served.run(NODE, "timeout -k 5 30 test -e /etc/nothing")
    assert (r.exit_status, r.stdout, r.stderr) == (1, "", "")
    r = served.run(NODE, "timeout -k 5 30 drbdsetup status --json r0")
    assert r.exit_status == 0 and '"name": "r0"' in r.stdout
    r = served.run(NODE, "timeout -k 5 30 scstadmin -noprompt -config /etc/scst.conf")
    assert r.exit_status == 0 and "\t-> Done, 0 change(s) made.\n" in r.stdout


@pytest.mark.parametrize(
    ("command", "status", "stderr"),
    [
        ("timeout", 125, "Try 'timeout --help' for more information.\n"),
        ("timeout 5", 125, "Try 'timeout --help' for more information.\n"),
        ("timeout x true", 125,
         "timeout: invalid time interval 'x'\nTry 'timeout --help' for more information.\n"),
        ("timeout -k x 1 true", 125,
         "timeout: invalid time interval 'x'\nTry 'timeout --help' for more information.\n"),
        ("timeout -z 1 true", 125,
         "timeout: invalid option -- 'z'\nTry 'timeout --help' for more information.\n"),
        ("timeout --bogus 1 true", 125,
         "timeout: unrecognized option '--bogus'\nTry 'timeout --help' for more information.\n"),
        ("timeout -k 5 5 nosuchcommand", 127,
         "timeout: failed to run command 'nosuchcommand': No such file or directory\n"),
        ("timeout 5 /etc", 126, "timeout: failed to run command '/etc': Permission denied\n"),
    ],
)  # fmt: skip
def test_timeout_usage_errors_are_coreutils(served, command, status, stderr):
    r = served.run(NODE, command)
    assert (r.exit_status, r.stdout, r.stderr) == (status, "", stderr)


@pytest.mark.skipif(not shutil.which("timeout"), reason="coreutils timeout not installed")
@pytest.mark.parametrize(
    "args",
    [[], ["5"], ["x", "ls"], ["-k", "x", "1", "ls"], ["-z", "1", "ls"], ["--bogus", "1", "ls"],
     ["-5", "ls"], ["--kill-after"], ["-k"], ["1s", "nosuchcommand"], ["5", "/etc"]],
)  # fmt: skip
def test_timeout_answers_as_the_real_one(lab, args):
    real = subprocess.run(
        ["timeout", *args], capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"}
    )
    ours = run_command(api.node(lab, NODE), " ".join(["timeout", *args]))
    assert (ours.exit_status, ours.stdout, ours.stderr) == (
        real.returncode,
        real.stdout,
        real.stderr,
    )


def test_a_hung_command_under_a_shorter_timeout_is_killed_and_never_takes_effect(served):
    hang(served, "scstadmin", 2.0)
    start = time.monotonic()
    r = served.run(NODE, f"timeout -k 5 1 {SET_PROD_ID}late")
    took = time.monotonic() - start
    assert (r.exit_status, r.stdout, r.stderr) == (124, "", "")
    assert 1.0 <= took < 2.0
    time.sleep(2.0)  # past the hang: the killed command must not run after all
    assert served.run(NODE, f"cat {PROD_ID}").stdout == "r0\n[key]\n"


def test_a_hung_command_under_a_longer_timeout_runs_after_the_hang(served):
    hang(served, r"scstadmin .*-set_dev_attr", 1.0)
    start = time.monotonic()
    r = served.run(NODE, f"timeout -k 5 10 {SET_PROD_ID}slow")
    assert r.exit_status == 0
    assert time.monotonic() - start >= 1.0
    assert served.run(NODE, f"cat {PROD_ID}").stdout == "slow\n[key]\n"
    # commands not matching the pattern answer at once
    start = time.monotonic()
    assert served.run(NODE, "timeout -k 5 1 scstadmin -list_device").exit_status == 0
    assert time.monotonic() - start < 1.0


def test_without_timeout_a_command_the_client_gave_up_on_still_runs_later(served):
    hang(served, "scstadmin", 1.0)

    async def give_up():
        async with asyncssh.connect(**served.connect_kwargs(NODE)) as conn:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(conn.run(f"{SET_PROD_ID}ghost"), 0.3)

    asyncio.run(give_up())
    assert served.run(NODE, f"cat {PROD_ID}").stdout == "r0\n[key]\n"
    wait_for(lambda: served.run(NODE, f"cat {PROD_ID}").stdout == "ghost\n[key]\n")


def test_verbose_and_preserve_status_when_killed(served):
    hang(served, "scstadmin", 2.0)
    r = served.run(NODE, f"timeout -v 1 {SET_PROD_ID}x")
    assert (r.exit_status, r.stderr) == (
        124,
        "timeout: sending signal TERM to command 'scstadmin'\n",
    )
    r = served.run(NODE, f"timeout --preserve-status 1 {SET_PROD_ID}x")
    assert r.exit_status == 128 + 15


def test_hang_is_set_and_cleared_by_the_cli(lab):
    from lab.__main__ import main

    assert main(["fault", str(lab), NODE, "--hang-on", "scstadmin", "--hang-seconds", "3"]) == 0
    fault = api.read_fault(lab, NODE)
    assert (fault.hang_on, fault.hang_seconds) == ("scstadmin", 3.0)
    assert main(["fault", str(lab), NODE, "--no-hang"]) == 0
    fault = api.read_fault(lab, NODE)
    assert (fault.hang_on, fault.hang_seconds) == (None, 0.0)
    assert main(["fault", str(lab), NODE, "--hang-on", "(", "--hang-seconds", "3"]) == 2
    with pytest.raises(ValueError, match="not a regular expression"):
        api.set_fault(lab, NODE, hang_on="(")


def test_forcecommand_applies_the_hang_too(lab, monkeypatch, capsys):
    from lab import forcecommand

    api.set_fault(lab, NODE, hang_on="scstadmin", hang_seconds=0.5)
    node_dir = str(lab / "nodes" / NODE)
    monkeypatch.setenv("SSH_ORIGINAL_COMMAND", f"timeout 0.2 {SET_PROD_ID}late")
    start = time.monotonic()
    assert forcecommand.main(["--state-dir", node_dir]) == 124
    assert 0.2 <= time.monotonic() - start < 0.5
    monkeypatch.setenv("SSH_ORIGINAL_COMMAND", f"timeout 5 {SET_PROD_ID}slow")
    assert forcecommand.main(["--state-dir", node_dir]) == 0
    assert time.monotonic() - start >= 0.7
    capsys.readouterr()
    assert run_command(api.node(lab, NODE), f"cat {PROD_ID}").stdout == "slow\n[key]\n"
