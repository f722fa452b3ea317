"""The file commands the portal runs answer as coreutils 9.1 does (the real tools, when
installed, run the same command lines on a copy of the node's filesystem)."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from lab import api
from lab.interpreter import run_command

NODE = "c001-a"

CASES = [
    "sha256sum -- etc/scst.conf nope etc/drbd.d/r0.res",
    "sha256sum etc",
    "ls -1 etc/drbd.d",
    "ls -1 etc etc/scst.conf nope",
    "ls -1 nope",
    "rm -rf -- etc/drbd.d/r0.res nope var/lib",
    "rm -rf -- . etc/..",
    "rm -f etc",
    "rm nope",
    "mkdir -p var/lib/scst-portal/backups/job-7",
    "mkdir -p etc/scst.conf/x",
    "mkdir -p etc",
    "mkdir nodir/x",
    "cp -p etc/scst.conf root/scst.conf.bak",
    "cp -p etc root/x",
    "cp -p nope root/x",
    "cp -p etc/scst.conf nodir/x",
    "mv -f etc/scst.conf root/moved",
    "mv -f nope root/x",
    "sync etc/scst.conf",
    "sync nope",
    "test -e etc/scst.conf",
    "test -e nope",
]


def tree(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


@pytest.mark.skipif(not shutil.which("sha256sum"), reason="coreutils not installed")
@pytest.mark.parametrize("command", CASES)
def test_file_command_answers_and_acts_as_coreutils(lab, tmp_path, command):
    node = api.node(lab, NODE)
    real_root = tmp_path / "real"
    shutil.copytree(node.root, real_root, symlinks=True)
    argv = shlex.split(command)
    if argv[0] == "test":
        argv[0] = shutil.which("test") or "/usr/bin/test"  # the program, not a builtin
    real = subprocess.run(
        argv, cwd=real_root, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"}
    )
    ours = run_command(node, command)
    assert (ours.exit_status, ours.stdout, ours.stderr) == (
        real.returncode,
        real.stdout,
        real.stderr,
    )
    assert tree(node.root) == tree(real_root)


def test_sha256sum_prints_two_spaces_and_goes_on_after_a_missing_file(served):
    r = served.run(NODE, "timeout -k 5 30 sha256sum -- /etc/scst.conf /etc/nope /etc/drbd.conf")
    node = api.node(served.dir, NODE)
    want = [
        f"{hashlib.sha256((node.root / f).read_bytes()).hexdigest()}  /{f}"
        for f in ("etc/scst.conf", "etc/drbd.conf")
    ]
    assert r.stdout.splitlines() == want
    assert r.stderr == "sha256sum: /etc/nope: No such file or directory\n"
    assert r.exit_status == 1


def test_sha256sum_escapes_a_backslash_in_a_name(lab):
    node = api.node(lab, NODE)
    (node.root / "root" / "a\\b").write_text("x")
    r = run_command(node, "sha256sum '/root/a\\b'")
    digest = hashlib.sha256(b"x").hexdigest()
    assert r.stdout == f"\\{digest}  /root/a\\\\b\n"


def test_rm_refuses_the_root_of_the_node(served):
    r = served.run(NODE, "timeout -k 5 30 rm -rf -- /")
    assert r.exit_status == 1
    assert r.stderr == (
        "rm: it is dangerous to operate recursively on '/'\n"
        "rm: use --no-preserve-root to override this failsafe\n"
    )
    assert served.run(NODE, "test -e /etc/scst.conf").exit_status == 0


def test_ls_hides_dot_files_and_sorts_in_c_order(served):
    served.run(NODE, "mkdir -p /var/lib/scst-portal/b")
    node = api.node(served.dir, NODE)
    for name in (".hidden", "Zeta", "alpha", "job-10", "job-9"):
        (node.root / "var/lib/scst-portal/b" / name).write_text("")
    r = served.run(NODE, "timeout -k 5 30 ls -1 /var/lib/scst-portal/b")
    assert (r.exit_status, r.stdout) == (0, "Zeta\nalpha\njob-10\njob-9\n")


def test_drbdsetup_status_json_of_one_resource(served):
    r = served.run(NODE, "timeout -k 5 30 drbdsetup status --json r1")
    assert r.exit_status == 0
    assert '"name": "r1"' in r.stdout and '"name": "r0"' not in r.stdout
