"""Strict patterns for every name or path that may reach a node or a config file.

Each validator's message says what is allowed. The patterns are also used in database
check constraints (see models.py), so a value that slips past a form is still refused.
Limits come from SCST (scst_const.h SCST_MAX_NAME 50, SCST_MAX_LUN 16383; scst_vdisk.c
buffer sizes) and RFC 3720 (iSCSI names).
"""

import ipaddress
import re

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

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

validate_scst_name = RegexValidator(
    SCST_NAME_PATTERN,
    "Use 1–50 characters: letters, digits, '_', '.', '-', starting with a letter or digit.",
)
validate_drbd_resource_name = RegexValidator(
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
validate_device_path = RegexValidator(
    DEVICE_PATH_PATTERN,
    "Use an absolute path such as /dev/sdb1 or /dev/vg0/lun1: letters, digits, '.', '_', "
    "'+', '-' between slashes; no blanks, shell characters or '..' components.",
)
validate_unix_user = RegexValidator(
    UNIX_USER_PATTERN,
    "Use a Unix user name: lower-case letters, digits, '_' or '-', at most 32 characters.",
)
validate_t10_dev_id = RegexValidator(
    T10_DEV_ID_PATTERN, "t10_dev_id: 1–24 printable ASCII characters without blanks."
)
validate_usn = RegexValidator(USN_PATTERN, "usn: 1–20 printable ASCII characters without blanks.")
validate_prod_id = RegexValidator(
    PROD_ID_PATTERN, "prod_id: 1–16 printable ASCII characters without blanks."
)
validate_t10_vend_id = RegexValidator(
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
