"""Strict patterns for every name or path that may reach a node or a config file.

Each validator's message says what is allowed. On top of its pattern, every value that
goes into scst.conf or a .res file must pass the renderer's own rule
(clusters.scst.render value_problem/name_problem, clusters.drbd.validate disk_problem):
what the inventory accepts is exactly what the portal can write and read back.
The patterns are also used in database check constraints (see models.py), so a value that
slips past a form is still refused.
Limits come from SCST (scst_const.h SCST_MAX_NAME 50, SCST_MAX_LUN 16383; scst_vdisk.c
buffer sizes) and RFC 3720 (iSCSI names).
"""

import ipaddress
import re

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

from clusters import scst
from clusters.drbd import validate as drbd_rules
from clusters.scst.parser import KEYWORDS

SCST_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$"
DRBD_RESOURCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
HOSTNAME_PATTERN = (
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
# iqn.YYYY-MM.reversed.domain[:unique] or eui.<16 hex> or naa.<16|32 hex> (RFC 3720 3.2.6.3)
IQN_PATTERN = (
    r"^(iqn\.[0-9]{4}-(0[1-9]|1[0-2])\.[a-z0-9]([a-z0-9-]*[a-z0-9])?"
    r"(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[a-z0-9][a-z0-9.:-]*)?"
    r"|eui\.[0-9A-Fa-f]{16}|naa\.([0-9A-Fa-f]{16}|[0-9A-Fa-f]{32}))$"
)
# Initiator entries may use SCST's wildcards (* and ?) in the same character set.
INITIATOR_PATTERN = r"^[a-zA-Z0-9*?][a-zA-Z0-9.:*?_-]{0,222}$"
DEVICE_PATH_PATTERN = r"^/(?!.*(^|/)\.\.?(/|$))[A-Za-z0-9._+-]+(/[A-Za-z0-9._+-]+)*$"
UNIX_USER_PATTERN = r"^[a-z_][a-z0-9_-]{0,31}$"
T10_DEV_ID_PATTERN = r"^[!-~]{1,24}$"  # printable ASCII without blanks
USN_PATTERN = r"^[!-~]{1,20}$"
PROD_ID_PATTERN = r"^[!-~]{1,16}$"
T10_VEND_ID_PATTERN = r"^[!-~]{1,8}$"
EUI64_PATTERN = r"^([0-9a-fA-F]{16}|[0-9a-fA-F]{24}|[0-9a-fA-F]{32})$"
NAA_PATTERN = r"^([0-9a-fA-F]{16}|[0-9a-fA-F]{32})$"

BLOCK_SIZES = (512, 1024, 2048, 4096)
MAX_LUN = 16383
MAX_IQN_LENGTH = 223

_scst_name_pattern = RegexValidator(
    SCST_NAME_PATTERN,
    "Use 1–50 characters: letters, digits, '_', '.', '-', starting with a letter or digit.",
)
_drbd_resource_name_pattern = RegexValidator(
    DRBD_RESOURCE_PATTERN,
    "Use 1–63 characters: letters, digits, '_', '.', '-', starting with a letter or digit.",
)
validate_hostname = RegexValidator(
    HOSTNAME_PATTERN,
    "Use a host name as `uname -n` prints it: dot-separated labels of letters, digits "
    "and '-', each 1–63 characters, not starting or ending with '-'.",
)
validate_iscsi_name = RegexValidator(
    IQN_PATTERN,
    "Use an iSCSI name as RFC 3720 defines it: iqn.YYYY-MM.reversed.domain[:identifier] "
    "in lower case, eui. followed by 16 hex digits, or naa. followed by 16 or 32 hex digits.",
)
validate_initiator_name = RegexValidator(
    INITIATOR_PATTERN,
    "Use an initiator name (iqn./eui./naa. form) or a pattern with * and ?: letters, "
    "digits, '.', ':', '-', '_' only, at most 223 characters.",
)
_device_path_pattern = RegexValidator(
    DEVICE_PATH_PATTERN,
    "Use an absolute path such as /dev/sdb1 or /dev/vg0/lun1: letters, digits, '.', '_', "
    "'+', '-' between slashes; no blanks, shell characters or '..' components.",
)
validate_unix_user = RegexValidator(
    UNIX_USER_PATTERN,
    "Use a Unix user name: lower-case letters, digits, '_' or '-', at most 32 characters.",
)
_t10_dev_id_pattern = RegexValidator(
    T10_DEV_ID_PATTERN, "t10_dev_id: 1–24 printable ASCII characters without blanks."
)
_usn_pattern = RegexValidator(USN_PATTERN, "usn: 1–20 printable ASCII characters without blanks.")
_prod_id_pattern = RegexValidator(
    PROD_ID_PATTERN, "prod_id: 1–16 printable ASCII characters without blanks."
)
_t10_vend_id_pattern = RegexValidator(
    T10_VEND_ID_PATTERN, "t10_vend_id: 1–8 printable ASCII characters without blanks."
)
validate_eui64_id = RegexValidator(
    EUI64_PATTERN, "eui64_id: 8, 12 or 16 bytes written as 16, 24 or 32 hex digits."
)
validate_naa_id = RegexValidator(
    NAA_PATTERN, "naa_id: 8 or 16 bytes written as 16 or 32 hex digits."
)


def validate_address(value: str) -> None:
    """A node address: an IPv4/IPv6 address or a DNS host name."""
    try:
        ipaddress.ip_address(value)
        return
    except ValueError:
        pass
    if not re.fullmatch(HOSTNAME_PATTERN, value):
        raise ValidationError(
            "Use an IPv4 or IPv6 address, or a DNS host name (letters, digits, '-', '.').",
            code="not_allowed",
        )


def validate_block_size(value: int) -> None:
    if value not in BLOCK_SIZES:
        allowed = ", ".join(str(size) for size in BLOCK_SIZES)
        raise ValidationError(
            f"Block size must be one of {allowed} bytes (a power of two, at least 512).",
            code="not_allowed",
        )


def validate_iscsi_name_length(value: str) -> None:
    if len(value.encode()) > MAX_IQN_LENGTH:
        raise ValidationError(f"iSCSI names are at most {MAX_IQN_LENGTH} bytes (RFC 3720).")


def _renderable(field: str, value: str, problem: str | None) -> None:
    if problem:
        raise ValidationError(
            f"{field}: {value[:60]!r} cannot be written to the node's config: {problem}.",
            code="not_writable",
        )


def validate_scst_name(value: str) -> None:
    """A name of an SCST device, group or cluster: pattern, and not an scst.conf keyword."""
    _scst_name_pattern(value)
    if value in KEYWORDS:
        raise ValidationError(
            f"{value} is a keyword of scst.conf ({', '.join(sorted(KEYWORDS))}); "
            "choose another name.",
            code="keyword",
        )


def validate_drbd_resource_name(value: str) -> None:
    _drbd_resource_name_pattern(value)
    _renderable("name", value, drbd_rules.resource_name_problem(value))


def validate_device_path(value: str) -> None:
    """A backing or meta-data disk: a block device path under /dev/ that DRBD can carry."""
    if not value.startswith("/dev/"):
        raise ValidationError(
            f"Use the absolute path of a block device under /dev/, such as /dev/sdb1 or "
            f"/dev/vg0/lun1, "
            f"not {value[:60]!r}.",
            code="not_dev",
        )
    _device_path_pattern(value)
    _renderable("disk", value, drbd_rules.disk_problem(value))


def validate_t10_dev_id(value: str) -> None:
    _t10_dev_id_pattern(value)
    _renderable("t10_dev_id", value, scst.creation_value_problem(value))


def validate_usn(value: str) -> None:
    _usn_pattern(value)
    _renderable("usn", value, scst.creation_value_problem(value))


def validate_prod_id(value: str) -> None:
    _prod_id_pattern(value)
    _renderable("prod_id", value, scst.creation_value_problem(value))


def validate_t10_vend_id(value: str) -> None:
    _t10_vend_id_pattern(value)
    _renderable("t10_vend_id", value, scst.creation_value_problem(value))


SHELL_OR_BLANK = set(" \t\n;&|$`'\"\\<>(){}[]*?!#~")


def no_blanks_or_shell_characters(value: str) -> None:
    """Name the offending characters; the model's pattern then says what is allowed."""
    bad = sorted({c for c in value if c in SHELL_OR_BLANK})
    if bad:
        shown = ", ".join("blank" if c.isspace() else repr(c) for c in bad)
        raise ValidationError(
            f"A device name goes into scst.conf and node commands: no blanks or shell "
            f"characters ({shown})."
        )
