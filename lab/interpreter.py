"""Run a shell command string against a lab node, as a real node would answer it.

Only the commands in docs/node-commands.md exist; anything else is what dash
says for an unknown command. `cmd1 && cmd2`, `;`, `||` and redirections to
/dev/null are understood.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import math
import os
import re
import shlex
import shutil
import signal
from dataclasses import dataclass, field

from lab import drbdconf, drbdrun, maintenance, scstadmin, stack, sysfs, workflow_cmds
from lab.node import Node
from lab.stack import Result  # one class for every command's outcome

DRBDADM_USAGE_OPTS = """
GENERAL OPTIONS:
  --stacked, -S
  --dry-run, -d
  --verbose, -v
  --config-file=..., -c ...
  --config-to-test=..., -t ...
  --config-to-exclude=..., -E ...
  --drbdsetup=..., -s ...
  --drbdmeta=..., -m ...
  --drbd-proxy-ctl=..., -p ...
  --sh-varname=..., -n ...
  --version, -V
  --setup-option=..., -W ...
  --help, -h
"""
DRBDADM_VERSION_TAIL = (
    "\nVersion: 9.22.0 (api:2)\n"
    "GIT-hash: 409097fe02187f83790b88ac3e0d94f3c167adab reproducible build, 2023-01-09 14:51:18\n"
)
DRBDADM_COMMANDS = {
    "adjust",
    "dump",
    "primary",
    "secondary",
    "status",
    "up",
    "down",
    "connect",
    "disconnect",
    "attach",
    "detach",
    "role",
    "cstate",
    "dstate",
    "net-options",
    "disk-options",
    "resource-options",
    "outdate",
    "create-md",
    "new-current-uuid",
}


def _split(command: str) -> list[list[str] | str]:
    lex = shlex.shlex(command, posix=True, punctuation_chars=";&|<>")
    lex.whitespace_split = True
    out: list[list[str] | str] = []
    cur: list[str] = []
    for tok in lex:
        if tok in (";", "&&", "||"):
            out.append(cur)
            out.append(tok)
            cur = []
        else:
            cur.append(tok)
    out.append(cur)
    return out


def run_command(node: Node, command: str) -> Result:
    """Run COMMAND (a shell line) on NODE."""
    try:
        parts = _split(command)
    except ValueError:
        return Result("", "sh: 1: Syntax error: Unterminated quoted string\n", 2)
    total = Result()
    op = ";"
    last = 0
    with node.session():
        for part in parts:
            if isinstance(part, str):
                op = part
                continue
            if (op == "&&" and last != 0) or (op == "||" and last == 0):
                continue
            if not part:
                continue
            r = _run_one(node, part)
            total.stdout += r.stdout
            total.stderr += r.stderr
            last = r.exit_status
    total.exit_status = last
    return total


def _redirects(argv: list[str]) -> tuple[list[str], bool, bool]:
    """Strip `>/dev/null`, `2>/dev/null`, `2>&1`-free forms; return (argv, no_out, no_err)."""
    out: list[str] = []
    no_out = no_err = False
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == ">" and i + 1 < len(argv):
            fd = out.pop() if out and out[-1] in ("1", "2") else "1"
            if argv[i + 1] == "/dev/null":
                if fd == "2":
                    no_err = True
                else:
                    no_out = True
            i += 2
            continue
        out.append(a)
        i += 1
    return out, no_out, no_err


def _run_one(node: Node, argv: list[str]) -> Result:
    argv, no_out, no_err = _redirects(argv)
    if not argv:
        return Result()
    name = argv[0]
    handler = _handler(name)
    if handler is None:
        r = Result("", f"sh: 1: {name}: not found\n", 127)
    else:
        r = handler(node, argv[1:])
    if no_out:
        r.stdout = ""
    if no_err:
        r.stderr = ""
    return r


def _handler(name: str):
    return COMMANDS.get(os.path.basename(name) if name.startswith("/") else name)


# --- timeout (coreutils 9.1 src/timeout.c) ------------------------------------------

TIMEOUT_TRY = "Try 'timeout --help' for more information.\n"
TIMEOUT_LONG = (
    "kill-after", "signal", "preserve-status", "foreground", "verbose", "help", "version"
)  # fmt: skip
EXIT_TIMEDOUT, EXIT_CANCELED, EXIT_CANNOT_INVOKE, EXIT_ENOENT = 124, 125, 126, 127


@dataclass
class Timeout:
    """A parsed `timeout [OPTION] DURATION COMMAND [ARG]...`."""

    seconds: float  # 0: no limit (as coreutils: a zero duration disables the timeout)
    argv: list[str] = field(default_factory=list)
    kill_after: float = 0.0
    signal: str = "TERM"
    preserve_status: bool = False
    verbose: bool = False

    def killed(self) -> Result:
        """What timeout reports when it had to signal the command (it dies on TERM)."""
        err = ""
        if self.verbose:
            err = f"timeout: sending signal {self.signal} to command '{self.argv[0]}'\n"
        signum = getattr(signal, f"SIG{self.signal}", signal.SIGTERM)
        return Result("", err, 128 + signum if self.preserve_status else EXIT_TIMEDOUT)


def _duration(text: str) -> float | None:
    """parse_duration: a non-negative C float with an optional s/m/h/d suffix."""
    number = r"[+-]?(?:\d+\.?\d*(?:e[+-]?\d+)?|\.\d+(?:e[+-]?\d+)?|inf(?:inity)?)"
    m = re.fullmatch(rf"\s*({number})([smhd]?)", text, re.IGNORECASE)
    if not m:
        return None
    value = float(m.group(1))
    if not value >= 0 or math.isnan(value):
        return None
    return value * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2).lower()]


def _signal_name(text: str) -> str | None:
    name = text.upper().removeprefix("SIG")
    if name.isdigit():
        try:
            return signal.Signals(int(name)).name.removeprefix("SIG")
        except ValueError:
            return None
    return name if hasattr(signal, f"SIG{name}") else None


def parse_timeout(args: list[str]) -> Timeout | Result:
    """timeout's getopt_long("+k:s:v") and operand checks; a Result is its usage error."""
    t = Timeout(seconds=0.0)
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "-":
        a = args[i]
        if a == "--":
            i += 1
            break
        if a.startswith("--"):
            name, eq, value = a[2:].partition("=")
            found = [o for o in TIMEOUT_LONG if o.startswith(name)]
            exact = [o for o in found if o == name]
            if not found or (len(found) > 1 and not exact):
                kind = "unrecognized" if not found else "ambiguous"
                return Result("", f"timeout: {kind} option '{a}'\n{TIMEOUT_TRY}", EXIT_CANCELED)
            opt = exact[0] if exact else found[0]
            if opt in ("kill-after", "signal"):
                if not eq:
                    if i + 1 >= len(args):
                        return Result(
                            "",
                            f"timeout: option '--{opt}' requires an argument\n{TIMEOUT_TRY}",
                            EXIT_CANCELED,
                        )
                    i += 1
                    value = args[i]
                opt = "k" if opt == "kill-after" else "s"
            elif eq:
                return Result(
                    "",
                    f"timeout: option '--{opt}' doesn't allow an argument\n{TIMEOUT_TRY}",
                    EXIT_CANCELED,
                )
            elif opt in ("help", "version"):
                text = "timeout (GNU coreutils) 9.1\n" if opt == "version" else "Usage: timeout\n"
                return Result(text, "", 0)
            else:
                opt = {"preserve-status": "p", "foreground": "f", "verbose": "v"}[opt]
            err = _timeout_option(t, opt, value)
            if err:
                return err
            i += 1
            continue
        j = 1
        while j < len(a):
            c = a[j]
            if c in "ks":
                value = a[j + 1 :]
                if not value:
                    if i + 1 >= len(args):
                        return Result(
                            "",
                            f"timeout: option requires an argument -- '{c}'\n{TIMEOUT_TRY}",
                            EXIT_CANCELED,
                        )
                    i += 1
                    value = args[i]
                err = _timeout_option(t, c, value)
                if err:
                    return err
                break
            if c == "v":
                t.verbose = True
                j += 1
                continue
            return Result("", f"timeout: invalid option -- '{c}'\n{TIMEOUT_TRY}", EXIT_CANCELED)
        i += 1
    rest = args[i:]
    if len(rest) < 2:
        return Result("", TIMEOUT_TRY, EXIT_CANCELED)
    seconds = _duration(rest[0])
    if seconds is None:
        return Result(
            "", f"timeout: invalid time interval '{rest[0]}'\n{TIMEOUT_TRY}", EXIT_CANCELED
        )
    t.seconds, t.argv = seconds, rest[1:]
    return t


def _timeout_option(t: Timeout, opt: str, value: str) -> Result | None:
    if opt == "k":
        d = _duration(value)
        if d is None:
            return Result(
                "", f"timeout: invalid time interval '{value}'\n{TIMEOUT_TRY}", EXIT_CANCELED
            )
        t.kill_after = d
    elif opt == "s":
        name = _signal_name(value)
        if name is None:
            return Result("", f"timeout: {value}: invalid signal\n{TIMEOUT_TRY}", EXIT_CANCELED)
        t.signal = name
    elif opt == "p":
        t.preserve_status = True
    elif opt == "v":
        t.verbose = True
    return None  # --foreground changes nothing here


def cmd_timeout(node: Node, args: list[str]) -> Result:
    """`timeout [-k D] DURATION COMMAND...`: the command's own status; lab commands end at
    once, so only a hang fault (lab.server) makes it time out (124)."""
    t = parse_timeout(args)
    if isinstance(t, Result):
        return t
    name = t.argv[0]
    handler = _handler(name)
    if handler is None:
        # execvp: ENOENT -> 127, anything else (a directory, not executable) -> 126
        if "/" in name and node.host_path(name).exists():
            return Result(
                "",
                f"timeout: failed to run command '{name}': Permission denied\n",
                EXIT_CANNOT_INVOKE,
            )
        return Result(
            "", f"timeout: failed to run command '{name}': No such file or directory\n", EXIT_ENOENT
        )
    return handler(node, t.argv[1:])


def timeout_limit(command: str) -> Timeout | None:
    """The effective `timeout` of a command line that is one (possibly nested) timeout
    invocation with a positive duration, else None."""
    try:
        parts = _split(command)
    except ValueError:
        return None
    if len(parts) != 1 or not isinstance(parts[0], list):
        return None
    argv, _no_out, _no_err = _redirects(parts[0])
    best: Timeout | None = None
    while argv and os.path.basename(argv[0]) == "timeout":
        t = parse_timeout(argv[1:])
        if isinstance(t, Result):
            return best
        if t.seconds > 0 and (best is None or t.seconds < best.seconds):
            best = t
        argv = t.argv
    return best


def hang_plan(
    command: str, hang_on: str | None, hang_seconds: float
) -> tuple[float, Result | None]:
    """(seconds to sleep, result instead of running) for the hang fault.

    A command line matching the regex HANG_ON hangs HANG_SECONDS before it runs. When the
    line is wrapped in a `timeout` shorter than (or equal to) the hang, timeout kills it:
    after the timeout's duration the answer is 124 and the command never runs.
    """
    if not hang_on or hang_seconds <= 0 or not re.search(hang_on, command):
        return 0.0, None
    t = timeout_limit(command)
    if t is not None and t.seconds <= hang_seconds:
        return t.seconds, t.killed()
    return hang_seconds, None


# --- files -----------------------------------------------------------------------


def _is_sys(path: str) -> bool:
    p = os.path.normpath(path)
    return p == sysfs.ROOT or p.startswith(sysfs.ROOT + "/")


def _tree(node: Node) -> sysfs.Tree:
    return sysfs.build(node.state)


def cmd_cat(node: Node, args: list[str]) -> Result:
    r = Result()
    tree = None
    for path in [a for a in args if not a.startswith("-") or a == "-"]:
        p = os.path.normpath(path)
        if _is_sys(p):
            tree = tree or _tree(node)
            while p in tree.links:
                p = os.path.normpath(os.path.join(os.path.dirname(p), tree.links[p]))
            if p.endswith("/force_close") and p in tree.files:  # 0200, no show
                r.stderr += f"cat: {path}: Permission denied\n"
                r.exit_status = 1
            elif p in tree.files:
                text = tree.files[p]
                if p.endswith("/mgmt"):
                    text = ""
                r.stdout += text
            elif p in tree.dirs:
                r.stderr += f"cat: {path}: Is a directory\n"
                r.exit_status = 1
            else:
                r.stderr += f"cat: {path}: No such file or directory\n"
                r.exit_status = 1
        elif p == "/proc/drbd" and node.info.drbd_version == "8.4":
            r.stdout += drbdrun.proc_drbd(node)
        else:
            host = node.host_path(p)
            if host.is_dir():
                r.stderr += f"cat: {path}: Is a directory\n"
                r.exit_status = 1
            elif host.is_file():
                r.stdout += host.read_text(errors="surrogateescape")
            else:
                r.stderr += f"cat: {path}: No such file or directory\n"
                r.exit_status = 1
    return r


def cmd_grep(node: Node, args: list[str]) -> Result:
    flags: set[str] = set()
    excludes: list[str] = []
    includes: list[str] = []  # GNU grep --include=GLOB: only files whose name matches
    rest: list[str] = []
    for a in args:
        if a.startswith("--exclude="):
            excludes.append(a.split("=", 1)[1])
        elif a.startswith("--include="):
            includes.append(a.split("=", 1)[1])
        elif a.startswith("-") and len(a) > 1 and not rest:
            flags.update(a[1:])
        else:
            rest.append(a)
    if not rest:
        return Result(
            "",
            "Usage: grep [OPTION]... PATTERNS [FILE]...\nTry 'grep --help' for more information.\n",
            2,
        )
    pattern, paths = rest[0], rest[1:]
    if pattern != "" or "r" not in flags:
        return Result("", "", 1)
    out = ""
    status = 1
    for path in paths:
        if _is_sys(path):
            text = sysfs.grep_dump(_tree(node), os.path.normpath(path))
        else:
            text = _grep_real(node, path, "Z" in flags)
        if includes:
            text = "".join(
                line
                for line in text.splitlines(keepends=True)
                if any(
                    fnmatch.fnmatch(line.split("\0", 1)[0].rsplit("/", 1)[-1], glob)
                    for glob in includes
                )
            )
        if text:
            status = 0
        out += text
    if "Z" not in flags:
        out = out.replace("\0", ":")
    return Result(out, "", status)


def _grep_real(node: Node, path: str, _z: bool) -> str:
    base = node.host_path(path)
    if base.is_file():  # grep -r reads a file argument like any other file
        return "".join(f"{path}\0{line.rstrip(chr(10))}\n" for line in _lines(base))
    out = ""
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        for f in sorted(filenames):
            real = os.path.join(dirpath, f)
            virt = path.rstrip("/") + real[len(str(base)) :]
            try:
                with open(real, errors="surrogateescape") as fh:
                    for line in fh:
                        out += f"{virt}\0{line.rstrip(chr(10))}\n"
            except OSError:
                continue
    return out


def _lines(real) -> list[str]:
    try:
        with open(real, errors="surrogateescape") as fh:
            return fh.readlines()
    except OSError:
        return []


def cmd_find(node: Node, args: list[str]) -> Result:
    paths = []
    i = 0
    while i < len(args) and not args[i].startswith("-"):
        paths.append(args[i])
        i += 1
    expr = args[i:]
    if expr[:2] != ["-type", "l"] or len(expr) != 4 or expr[2] != "-printf":
        return Result("", f"find: unsupported expression: {' '.join(expr)}\n", 1)
    fmt = expr[3]
    r = Result()
    for path in paths or ["."]:
        if _is_sys(path):
            text = sysfs.find_links(_tree(node), os.path.normpath(path))
        else:
            base = node.host_path(path)
            if not base.exists():
                r.stderr += f"find: '{path}': No such file or directory\n"
                r.exit_status = 1
                continue
            text = ""
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames.sort()
                for f in sorted(filenames + dirnames):
                    real = os.path.join(dirpath, f)
                    if os.path.islink(real):
                        text += f"{path.rstrip('/')}{real[len(str(base)) :]}\0{os.readlink(real)}\n"
        if fmt != "%p\\0%l\\n":
            text = text.replace("\0", "").replace("\n", "") if fmt == "%p%l" else text
        r.stdout += text
    return r


def cmd_sync(node: Node, args: list[str]) -> Result:
    for a in args:
        if not a.startswith("-") and not node.host_path(a).exists():
            return Result("", f"sync: error opening '{a}': No such file or directory\n", 1)
    return Result()


def _operands(args: list[str]) -> tuple[set[str], list[str]]:
    """Short flags and operands; after `--` everything is an operand (getopt)."""
    flags: set[str] = set()
    ops = []
    for i, a in enumerate(args):
        if a == "--":
            ops.extend(args[i + 1 :])
            break
        if a.startswith("-") and len(a) > 1:
            flags.update(a[1:])
        else:
            ops.append(a)
    return flags, ops


def cmd_mv(node: Node, args: list[str]) -> Result:
    _flags, ops = _operands(args)
    if len(ops) != 2:
        return Result("", "mv: missing file operand\nTry 'mv --help' for more information.\n", 1)
    src, dst = node.host_path(ops[0]), node.host_path(ops[1])
    if not src.exists():
        return Result("", f"mv: cannot stat '{ops[0]}': No such file or directory\n", 1)
    if dst.is_dir():
        dst = dst / src.name
    try:
        os.replace(src, dst)
    except OSError as e:
        return Result(
            "", f"mv: cannot move '{ops[0]}' to '{ops[1]}': {os.strerror(e.errno or 0)}\n", 1
        )
    return Result()


def cmd_cp(node: Node, args: list[str]) -> Result:
    _flags, ops = _operands(args)
    if len(ops) != 2:
        return Result("", "cp: missing file operand\nTry 'cp --help' for more information.\n", 1)
    src, dst = node.host_path(ops[0]), node.host_path(ops[1])
    if src.is_dir():
        return Result("", f"cp: -r not specified; omitting directory '{ops[0]}'\n", 1)
    if not src.is_file():
        return Result("", f"cp: cannot stat '{ops[0]}': No such file or directory\n", 1)
    if dst.is_dir():
        dst = dst / src.name
    try:
        shutil.copy2(src, dst)
    except OSError as e:
        return Result(
            "", f"cp: cannot create regular file '{ops[1]}': {os.strerror(e.errno or 0)}\n", 1
        )
    return Result()


def cmd_mkdir(node: Node, args: list[str]) -> Result:
    """coreutils mkdir [-p]; with -p a non-directory on the way is named as mkdir names it
    (`cannot create directory 'FILE': Not a directory`)."""
    flags, ops = _operands(args)
    r = Result()
    for d in ops:
        err = _mkdir(node, d, "p" in flags)
        if err:
            r.stderr += f"mkdir: cannot create directory '{err[0]}': {err[1]}\n"
            r.exit_status = 1
    return r


def _mkdir(node: Node, d: str, parents: bool) -> tuple[str, str] | None:
    if not d:
        return d, "No such file or directory"
    if parents:
        parts = d.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if not prefix or prefix.endswith("/"):
                continue
            h = node.host_path(prefix)
            if h.exists() and not h.is_dir():
                return prefix, "Not a directory"
            h.mkdir(exist_ok=True)
    h = node.host_path(d)
    if h.is_dir() and parents:
        return None
    if h.exists() or h.is_symlink():
        return d, "File exists"
    if not h.parent.is_dir():
        reason = "Not a directory" if h.parent.exists() else "No such file or directory"
        return d, reason
    h.mkdir()
    return None


def cmd_rm(node: Node, args: list[str]) -> Result:
    """coreutils rm: -f, -r/-R; `.`/`..` and `/` refused as coreutils 9.1 does (remove.c)."""
    flags, ops = _operands(args)
    recursive = bool(flags & {"r", "R"})
    r = Result()
    if not ops and "f" not in flags:
        return Result("", "rm: missing operand\nTry 'rm --help' for more information.\n", 1)
    for f in ops:
        if os.path.basename(f.rstrip("/") or "/") in (".", "..") and f.rstrip("/"):
            r.stderr += f"rm: refusing to remove '.' or '..' directory: skipping '{f}'\n"
            r.exit_status = 1
            continue
        p = node.host_path(f)
        if recursive and p.resolve() == node.root.resolve():
            r.stderr += (
                f"rm: it is dangerous to operate recursively on '{f}'"
                + ("" if f == "/" else " (same as '/')")
                + "\nrm: use --no-preserve-root to override this failsafe\n"
            )
            r.exit_status = 1
            continue
        try:
            if p.is_dir() and not p.is_symlink():
                if recursive:
                    shutil.rmtree(p)
                else:
                    r.stderr += f"rm: cannot remove '{f}': Is a directory\n"
                    r.exit_status = 1
            else:
                p.unlink()
        except FileNotFoundError:
            if "f" not in flags:
                r.stderr += f"rm: cannot remove '{f}': No such file or directory\n"
                r.exit_status = 1
        except NotADirectoryError:
            if "f" not in flags:
                r.stderr += f"rm: cannot remove '{f}': Not a directory\n"
                r.exit_status = 1
    return r


def cmd_test(node: Node, args: list[str]) -> Result:
    if len(args) != 2:
        return Result("", "", 2 if args else 1)
    op, path = args
    if _is_sys(path):
        tree = _tree(node)
        p = os.path.normpath(path)
        exists = p in tree.files or p in tree.dirs or p in tree.links
        checks = {"-e": exists, "-f": p in tree.files, "-d": p in tree.dirs, "-L": p in tree.links}
    else:
        h = node.host_path(path)
        block = os.path.normpath(path) in node.state.disks  # the lab's block devices
        checks = {
            "-b": block,
            "-e": h.exists() or block,
            "-f": h.is_file(),
            "-d": h.is_dir(),
            "-L": h.is_symlink(),
            "-s": h.is_file() and h.stat().st_size > 0,
        }
    if op not in checks:
        return Result("", f"sh: 1: test: {op}: unexpected operator\n", 2)
    return Result("", "", 0 if checks[op] else 1)


def cmd_ls(node: Node, args: list[str]) -> Result:
    """coreutils ls, output not a terminal (one name a line, as -1): file operands first,
    then each directory's entries in C-locale order without dot files (unless -a/-A),
    under a `DIR:` heading when there is more than one operand."""
    flags, ops = _operands(args)
    r = Result()
    files: list[str] = []
    dirs: list[tuple[str, list[str]]] = []
    tree = None
    for path in ops or ["/root"]:  # root's home: an SSH command's working directory
        if _is_sys(path):
            tree = tree or _tree(node)
            p = os.path.normpath(path)
            while p in tree.links and "d" not in flags:
                p = os.path.normpath(os.path.join(os.path.dirname(p), tree.links[p]))
            if p in tree.dirs and "d" not in flags:
                dirs.append((path, tree.children(p)))
            elif p in tree.files or p in tree.links or p in tree.dirs:
                files.append(path)
            else:
                r.stderr += f"ls: cannot access '{path}': No such file or directory\n"
                r.exit_status = 2
            continue
        h = node.host_path(path)
        if h.is_dir() and "d" not in flags:
            names = os.listdir(h)
            if "a" in flags:
                names += [".", ".."]
            dirs.append((path, names))
        elif h.exists() or h.is_symlink():
            files.append(path)
        else:
            r.stderr += f"ls: cannot access '{path}': No such file or directory\n"
            r.exit_status = 2
    show_all = bool(flags & {"a", "A"})
    blocks = []
    if files:
        blocks.append("".join(f"{n}\n" for n in sorted(files, key=os.fsencode)))
    for path, names in sorted(dirs, key=lambda d: os.fsencode(d[0])):
        shown = sorted((n for n in names if show_all or not n.startswith(".")), key=os.fsencode)
        head = f"{path}:\n" if len(ops) > 1 else ""
        blocks.append(head + "".join(f"{n}\n" for n in shown))
    r.stdout = "\n".join(blocks)
    return r


def cmd_sha256sum(node: Node, args: list[str]) -> Result:
    """coreutils sha256sum FILE...: `HASH  NAME` a line; a name holding a backslash or a
    newline is escaped and its line starts with a backslash (md5sum.c)."""
    flags, ops = _operands(args)
    for f in sorted(flags):
        if f not in "bt":
            return Result(
                "",
                f"sha256sum: invalid option -- '{f}'\n"
                "Try 'sha256sum --help' for more information.\n",
                1,
            )
    r = Result()
    tree = None
    for path in ops or ["-"]:
        data: bytes | None = None
        if path == "-":
            data = b""  # a lab command's stdin is empty
        elif _is_sys(path):
            tree = tree or _tree(node)
            p = os.path.normpath(path)
            while p in tree.links:
                p = os.path.normpath(os.path.join(os.path.dirname(p), tree.links[p]))
            if p in tree.dirs:
                r.stderr += f"sha256sum: {path}: Is a directory\n"
                r.exit_status = 1
                continue
            if p in tree.files:
                data = b"" if p.endswith("/mgmt") else tree.files[p].encode()
        else:
            h = node.host_path(path)
            if h.is_dir():
                r.stderr += f"sha256sum: {path}: Is a directory\n"
                r.exit_status = 1
                continue
            if h.is_file():
                data = h.read_bytes()
        if data is None:
            r.stderr += f"sha256sum: {path}: No such file or directory\n"
            r.exit_status = 1
            continue
        digest = hashlib.sha256(data).hexdigest()
        if "\\" in path or "\n" in path:
            name = path.replace("\\", "\\\\").replace("\n", "\\n")
            r.stdout += f"\\{digest}  {name}\n"
        else:
            r.stdout += f"{digest}  {path}\n"
    return r


# --- scstadmin -------------------------------------------------------------------


def cmd_scstadmin(node: Node, args: list[str]) -> Result:
    def write(path: str, text: str) -> bool:
        return node.write(path, text)

    out, err, code, changed = scstadmin.main(node.state, args, node.read, write)
    if changed:
        node.dirty_node = True
    return Result(out, err, code)


# --- drbdadm / drbdsetup -------------------------------------------------------------


def _drbdadm_usage(cmd: str | None, msg: str) -> Result:
    head = (
        f"\nUSAGE: drbdadm {cmd} [OPTION...] {{all|RESOURCE...}}\n"
        if cmd
        else "\nUSAGE: drbdadm COMMAND [OPTION...] {all|RESOURCE...}\n"
    )
    return Result(head + DRBDADM_USAGE_OPTS + DRBDADM_VERSION_TAIL + f"\n{msg}\n", "", 1)


def cmd_drbdadm(node: Node, args: list[str]) -> Result:
    config = "/etc/drbd.conf"
    explicit_config = False
    flags: set[str] = set()
    rest: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-c", "--config-file") and i + 1 < len(args):
            config, explicit_config = args[i + 1], True
            i += 2
            continue
        if a.startswith("--config-file="):
            config, explicit_config = a.split("=", 1)[1], True
        elif a in ("--version", "-V"):
            return Result(drbdrun.version(node))
        elif a.startswith("-"):
            flags.add(a)  # --force, --clear-bitmap; other options have no effect here
        else:
            rest.append(a)
        i += 1
    if not rest:
        return _drbdadm_usage(None, "No command specified")
    cmd, res = rest[0], rest[1:]
    if cmd not in DRBDADM_COMMANDS:
        return Result(f"drbdadm: Unknown command '{cmd}'\n", "", 1)
    try:
        cfg = drbdconf.parse_config(config, node, node.info.drbd_version)
    except drbdconf.ParseError as e:
        return Result("", e.text, e.code)
    if cmd == "dump":
        if not res:
            return Result(drbdconf.dump_config(cfg, node.name))
        out = ""
        for name in res:
            if name == "all":
                out += "".join(
                    drbdconf.resource_header(r, node.name) + drbdconf.dump_resource(r, node.name)
                    for r in cfg.resources
                )
                continue
            found = [
                r
                for r in cfg.resources
                if r.name == name and any(h.name == node.name for h in r.hosts)
            ]
            if not found:
                return Result(out, f"'{name}' not defined in your config (for this host).\n", 1)
            out += "".join(
                drbdconf.resource_header(r, node.name) + drbdconf.dump_resource(r, node.name)
                for r in found
            )
        return Result(out)
    del explicit_config
    if not res and cmd == "status":
        res = ["all"]
    if not res:
        return _drbdadm_usage(cmd, "No resource names specified")
    if cmd == "status":
        out = ""
        for name in res:
            if name != "all" and not any(r.name == name for r in cfg.resources):
                return Result(out, f"'{name}' not defined in your config (for this host).\n", 1)
            out += drbdrun.status_text(node, name)
        return Result(out)
    out = err = ""
    try:
        for name in res:
            if cmd == "adjust":
                drbdrun.adjust(node, cfg, name)
            elif cmd == "create-md":
                o, e_ = drbdrun.create_md(node, cfg, name, "--force" in flags)
                out, err = out + o, err + e_
            elif cmd == "up":
                drbdrun.up(node, cfg, name)
            elif cmd == "down":
                drbdrun.down(node, cfg, name)
            elif cmd == "new-current-uuid":
                drbdrun.new_current_uuid(node, cfg, name, "--clear-bitmap" in flags)
            elif cmd == "primary":
                drbdrun.set_role(node, cfg, name, "Primary")
            elif cmd == "secondary":
                drbdrun.set_role(node, cfg, name, "Secondary")
            else:
                return Result("", f"drbdadm {cmd}: not available on this lab node\n", 20)
    except drbdrun.DrbdError as e:
        return Result(out, err + e.stderr, e.code)
    return Result(out, err)


def cmd_blockdev(node: Node, args: list[str]) -> Result:
    """`blockdev --getsize64 DEV`: the size in bytes, as util-linux prints it."""
    if len(args) != 2 or args[0] != "--getsize64":
        return Result("", "blockdev: only --getsize64 DEVICE is available on this lab node\n", 1)
    path = args[1]
    size = node.state.disks.get(os.path.normpath(path))
    if size is not None:
        return Result(f"{size}\n")
    if node.host_path(path).exists():
        return Result(
            "", "blockdev: ioctl error on BLKGETSIZE64: Inappropriate ioctl for device\n", 1
        )
    return Result("", f"blockdev: cannot open {path}: No such file or directory\n", 1)


def cmd_drbdsetup(node: Node, args: list[str]) -> Result:
    opts = [a for a in args if a.startswith("-")]
    pos = [a for a in args if not a.startswith("-")]
    if not pos:
        return Result("", "USAGE: drbdsetup command {arguments} [options]\n", 20)
    cmd, name = pos[0], (pos[1] if len(pos) > 1 else None)
    if cmd == "status":
        if "--json" in opts or "-j" in opts:
            return Result(drbdrun.status_json(node, name))
        return Result(drbdrun.status_text(node, name))
    if cmd == "show":
        if node.info.drbd_version == "8.4":  # drbdsetup-84's layout (drbd-utils user/v84)
            return Result(drbdrun.show_84(node, name))
        return Result(drbdrun.show(node, name))
    return Result("", f"drbdsetup: unknown command '{cmd}'\n", 20)


COMMANDS = {
    "cat": cmd_cat,
    "grep": cmd_grep,
    "find": cmd_find,
    "sync": cmd_sync,
    "mv": cmd_mv,
    "cp": cmd_cp,
    "mkdir": cmd_mkdir,
    "rm": cmd_rm,
    "test": cmd_test,
    "ls": cmd_ls,
    "sha256sum": cmd_sha256sum,
    "timeout": cmd_timeout,
    "scstadmin": cmd_scstadmin,
    "drbdadm": cmd_drbdadm,
    "drbdsetup": cmd_drbdsetup,
    "blockdev": cmd_blockdev,
}

COMMANDS.update(stack.COMMANDS)  # corosync-quorumtool, crm_mon, cibadmin, dlm_tool
COMMANDS["test"] = stack.make_test(COMMANDS["test"])  # adds `test -x FILE`
# Day-2 workflows: drbdadm resize/verify/connect/disconnect, scstadmin -resync_dev.
COMMANDS["drbdadm"] = workflow_cmds.make_drbdadm(COMMANDS["drbdadm"])
COMMANDS["scstadmin"] = workflow_cmds.make_scstadmin(COMMANDS["scstadmin"])
COMMANDS["sh"] = maintenance.cmd_sh  # `sh -c 'echo 1 > "$1"' sh PATH` (sysfs writes)

_ = errno  # errno names appear in messages via os.strerror
