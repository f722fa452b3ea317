"""Where things live on a storage node: one home for every path the portal reads or writes."""

import posixpath

SCST_CONF = "/etc/scst.conf"
SCST_SYSFS_ROOT = "/sys/kernel/scst_tgt"
DRBD_DIR = "/etc/drbd.d"
# The portal's own directory on a node: backups and staged files of each job, and the
# running config scstadmin writes for collection.
STATE_DIR = "/var/lib/scst-portal"
RUNNING_CONFIG = posixpath.join(STATE_DIR, "running.conf")
BACKUP_DIR = posixpath.join(STATE_DIR, "backup")
STAGED_DIR = posixpath.join(STATE_DIR, "staged")


def resource_file(resource: str) -> str:
    """The .res file of a DRBD resource."""
    return posixpath.join(DRBD_DIR, f"{resource}.res")


def resource_of(path: str) -> str | None:
    """The resource a /etc/drbd.d/NAME.res path belongs to, or None."""
    if path.startswith(f"{DRBD_DIR}/") and path.endswith(".res"):
        return path.removeprefix(f"{DRBD_DIR}/").removesuffix(".res")
    return None


def staged_path(owner: str, live_path: str) -> str:
    return posixpath.join(STAGED_DIR, owner, live_path.lstrip("/"))


def backup_path(owner: str, live_path: str) -> str:
    return posixpath.join(BACKUP_DIR, owner, live_path.lstrip("/"))
