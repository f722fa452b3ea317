"""No shell command is built from data: commands are argv lists joined with shlex.join.

A lint over the project's source with `ast`: it flags shells started locally
(subprocess with shell=True, os.system, os.popen, create_subprocess_shell) and remote
commands (`session.run`, `connection.run`, `conn.run`) given an f-string, a %-format,
a .format() or a + concatenation, directly or through a variable assigned one in the
same function. Each finding is reported as file:line.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ["clusters", "lab", "portal"]
# Files that may handle shell strings, with the reason.
EXEMPT = {
    "lab/interpreter.py": "emulates a node's dash: it receives shell strings, it never runs them",
}
REMOTE_RECEIVERS = {"session", "connection", "conn"}
LOCAL_SHELLS = {("os", "system"), ("os", "popen"), ("asyncio", "create_subprocess_shell")}


def is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str)
    )


def builds_a_string(node: ast.AST) -> bool:
    """An f-string, a %-format, a .format() call, or a + with a string on either side."""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return is_text(node.left)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return any(is_text(side) or builds_a_string(side) for side in (node.left, node.right))
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and is_text(node.func.value)
    )


def dotted(node: ast.AST) -> tuple[str, ...]:
    """('self', 'connection', 'run') for self.connection.run; () if not a plain chain."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return tuple(reversed(parts))
    return ()


class ShellStringFinder(ast.NodeVisitor):
    def __init__(self) -> None:
        self.problems: list[tuple[int, str]] = []
        self.built: list[set[str]] = [set()]  # names assigned a built string, per function

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.built.append(set())
        self.generic_visit(node)
        self.built.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name):
                if builds_a_string(node.value):
                    self.built[-1].add(target.id)
                else:
                    self.built[-1].discard(target.id)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = dotted(node.func)
        if name[-2:] in LOCAL_SHELLS:
            self.problems.append((node.lineno, f"{'.'.join(name)}() runs a shell"))
        if name[:1] == ("subprocess",) and any(
            k.arg == "shell" and not (isinstance(k.value, ast.Constant) and not k.value.value)
            for k in node.keywords
        ):
            self.problems.append((node.lineno, f"{'.'.join(name)}(shell=True)"))
        if len(name) >= 2 and name[-1] == "run" and name[-2] in REMOTE_RECEIVERS and node.args:
            command = node.args[0]
            built = builds_a_string(command) or (
                isinstance(command, ast.Name) and command.id in self.built[-1]
            )
            if built:
                self.problems.append(
                    (node.lineno, f"{'.'.join(name)}() given a string built from data")
                )
        self.generic_visit(node)


def problems_in(source: str) -> list[tuple[int, str]]:
    finder = ShellStringFinder()
    finder.visit(ast.parse(source))
    return finder.problems


def project_sources() -> list[Path]:
    files = [path for top in SCANNED for path in sorted((ROOT / top).rglob("*.py"))]
    return [path for path in files if path.relative_to(ROOT).as_posix() not in EXEMPT]


def test_no_shell_strings_in_project_source():
    found = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in project_sources()
        for line, what in problems_in(path.read_text())
    ]
    assert found == [], "Build commands as argv lists (shlex.join):\n" + "\n".join(found)


def test_the_scan_covers_the_ssh_layer():
    scanned = {path.relative_to(ROOT).as_posix() for path in project_sources()}
    assert {"clusters/ssh.py", "clusters/collect.py", "clusters/push.py"} <= scanned


@pytest.mark.parametrize(
    "source",
    [
        "import subprocess\nsubprocess.run(cmd, shell=True)",
        "import subprocess\nsubprocess.check_output('ls ' + path, shell=True)",
        "import os\nos.system('drbdadm up r0')",
        "import os\nos.popen(cmd)",
        "async def f(session, name):\n    await session.run(f'drbdadm up {name}')",
        "async def f(self, name):\n    await self.connection.run('drbdadm up ' + name)",
        "async def f(conn, name):\n    await conn.run('drbdadm up %s' % name)",
        "async def f(conn, name):\n    await conn.run('drbdadm up {}'.format(name))",
        "async def f(conn, name):\n    command = f'drbdadm up {name}'\n    await conn.run(command)",
    ],
)
def test_shell_strings_are_found(source):
    assert len(problems_in(source)) == 1


@pytest.mark.parametrize(
    "source",
    [
        "import subprocess\nsubprocess.run(['drbdadm', 'up', name], check=True)",
        "import subprocess\nsubprocess.run(argv, shell=False)",
        "async def f(session, name):\n    await session.run(['drbdadm', 'up', name])",
        "import shlex\nasync def f(self, argv):\n"
        "    command = shlex.join(argv)\n    await self.connection.run(command)",
        "async def f(conn, name):\n    command = f'{name}'\n    command = []\n"
        "    await conn.run(command)",
        "import asyncio\nasyncio.run(main())",
    ],
)
def test_argv_lists_pass(source):
    assert problems_in(source) == []
