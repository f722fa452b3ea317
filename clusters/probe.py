"""The backing disks of a new DRBD resource, read by the plan job (async, no ORM).

`test -b DISK` first (coreutils: exit 0 only for a block device), so that nothing but a
block device under /dev/ is ever opened; then `blockdev --getsize64 DISK` (util-linux)
prints the size in bytes (BLKGETSIZE64); on a missing path it prints `blockdev: cannot
open DISK: No such file or directory` and exits 1. The command contract is
docs/node-commands.md.
"""

import asyncio
from dataclasses import dataclass

from clusters import ssh


@dataclass(frozen=True)
class DiskSize:
    """One node's answer for one disk: its size in bytes, or why there is none."""

    node: str
    disk: str
    size: int | None = None
    error: str = ""


MIB = 1024 * 1024


def getsize_argv(disk: str) -> list[str]:
    return ["blockdev", "--getsize64", disk]


async def disk_size(session: ssh.NodeSession, disk: str) -> DiskSize:
    """The size of DISK on the session's node; a failure is recorded, never raised."""
    name = session.endpoint.name
    if not disk.startswith("/dev/") or ".." in disk.split("/"):
        return DiskSize(name, disk, error="not a path under /dev/")
    if not (await session.run(["test", "-b", disk])).ok:
        return DiskSize(name, disk, error="no block device at this path")
    result = await session.run(getsize_argv(disk))
    text = result.stdout.strip()
    if not result.ok:
        detail = (result.stderr or result.stdout).strip().splitlines()
        why = detail[-1] if detail else f"exit status {result.exit_status}"
        return DiskSize(name, disk, error=why)
    if not text.isdigit():
        return DiskSize(name, disk, error=f"`{result.command}` printed {text[:80]!r}, not a size")
    return DiskSize(name, disk, size=int(text))


async def _one(endpoint: ssh.NodeEndpoint, disk: str, timeout: float) -> DiskSize:
    try:
        async with asyncio.timeout(timeout):
            async with ssh.connect(endpoint, connect_timeout=timeout) as session:
                return await disk_size(session, disk)
    except TimeoutError:
        return DiskSize(endpoint.name, disk, error=f"no answer within {timeout:.0f} s")
    except ssh.NodeError as exc:
        return DiskSize(endpoint.name, disk, error=str(exc))


async def disk_sizes(
    disks: list[tuple[ssh.NodeEndpoint, str]], timeout: float = 20.0
) -> list[DiskSize]:
    """Each (node, disk) pair's size, read on all nodes at once."""
    return list(await asyncio.gather(*(_one(e, d, timeout) for e, d in disks)))


def disk_size_problems(sizes: list[DiskSize]) -> list[str]:
    """Why the probed backing disks cannot make one resource (empty: they can): a disk
    missing on a node, or sizes more than 1 MiB apart (DRBD would use the smallest)."""
    problems = [
        f"{d.node}: cannot read the size of {d.disk} ({d.error}). Check that the disk "
        f"exists on {d.node} and give its path."
        for d in sizes
        if d.size is None
    ]
    known = [(d, d.size) for d in sizes if d.size is not None]
    if not problems and known and max(s for _, s in known) - min(s for _, s in known) > MIB:
        shown = ", ".join(
            f"{d.node}: {d.disk} is {size} bytes ({size / 1024**3:.2f} GiB)" for d, size in known
        )
        problems.append(
            f"The backing disks differ in size by more than 1 MiB ({shown}). DRBD would "
            "use only the smaller size; give disks of the same size."
        )
    return problems
