"""Option tables of drbd-utils 9.22, taken from `drbdsetup help new-peer|connect|attach|
peer-device-options|resource-options` (kind, enum values, numeric range)."""

# name: (kind, allowed values, (min, max)); kind is bool, enum, num, enum+num, str
Option = tuple[str, tuple[str, ...] | None, tuple[int, int] | None]

NET: dict[str, Option] = {
    "transport": ("str", None, None),
    "protocol": ("enum", ("A", "B", "C"), None),
    "timeout": ("num", None, (1, 600)),
    "max-epoch-size": ("num", None, (1, 20000)),
    "connect-int": ("num", None, (1, 120)),
    "ping-int": ("num", None, (1, 120)),
    "sndbuf-size": ("num", None, (0, 10485760)),
    "rcvbuf-size": ("num", None, (0, 10485760)),
    "ko-count": ("num", None, (0, 200)),
    "allow-two-primaries": ("bool", None, None),
    "cram-hmac-alg": ("str", None, None),
    "shared-secret": ("str", None, None),
    "after-sb-0pri": (
        "enum",
        (
            "disconnect",
            "discard-younger-primary",
            "discard-older-primary",
            "discard-zero-changes",
            "discard-least-changes",
            "discard-local",
            "discard-remote",
        ),
        None,
    ),
    "after-sb-1pri": (
        "enum",
        (
            "disconnect",
            "consensus",
            "discard-secondary",
            "call-pri-lost-after-sb",
            "violently-as0p",
        ),
        None,
    ),
    "after-sb-2pri": ("enum", ("disconnect", "call-pri-lost-after-sb", "violently-as0p"), None),
    "always-asbp": ("bool", None, None),
    "rr-conflict": (
        "enum",
        ("disconnect", "call-pri-lost", "violently", "retry-connect", "auto-discard"),
        None,
    ),
    "ping-timeout": ("num", None, (1, 300)),
    "data-integrity-alg": ("str", None, None),
    "tcp-cork": ("bool", None, None),
    "on-congestion": ("enum", ("block", "pull-ahead", "disconnect"), None),
    "congestion-fill": ("num", None, (0, 20971520)),
    "congestion-extents": ("num", None, (67, 65534)),
    "csums-alg": ("str", None, None),
    "csums-after-crash-only": ("bool", None, None),
    "verify-alg": ("str", None, None),
    "use-rle": ("bool", None, None),
    "socket-check-timeout": ("num", None, (0, 300)),
    "fencing": ("enum", ("dont-care", "resource-only", "resource-and-stonith"), None),
    "max-buffers": ("num", None, (32, 131072)),
    "allow-remote-read": ("bool", None, None),
}
DISK: dict[str, Option] = {
    "size": ("num", None, (0, 2199023255552)),
    "on-io-error": ("enum", ("pass_on", "call-local-io-error", "detach"), None),
    "disk-barrier": ("bool", None, None),
    "disk-flushes": ("bool", None, None),
    "disk-drain": ("bool", None, None),
    "md-flushes": ("bool", None, None),
    "resync-after": ("num", None, (-1, 1048575)),
    "al-extents": ("num", None, (67, 65534)),
    "al-updates": ("bool", None, None),
    "discard-zeroes-if-aligned": ("bool", None, None),
    "disable-write-same": ("bool", None, None),
    "disk-timeout": ("num", None, (0, 6000)),
    "read-balancing": (
        "enum",
        (
            "prefer-local",
            "prefer-remote",
            "round-robin",
            "least-pending",
            "when-congested-remote",
            "32K-striping",
            "64K-striping",
            "128K-striping",
            "256K-striping",
            "512K-striping",
            "1M-striping",
        ),
        None,
    ),
    "rs-discard-granularity": ("num", None, (0, 1048576)),
    "resync-rate": ("num", None, (1, 8388608)),
    "c-plan-ahead": ("num", None, (0, 300)),
    "c-delay-target": ("num", None, (1, 100)),
    "c-fill-target": ("num", None, (0, 1048576)),
    "c-max-rate": ("num", None, (0, 4194304)),
    "c-min-rate": ("num", None, (0, 4194304)),
    "bitmap": ("bool", None, None),
}
OPTIONS: dict[str, Option] = {
    "cpu-mask": ("str", None, None),
    "on-no-data-accessible": ("enum", ("io-error", "suspend-io"), None),
    "auto-promote": ("bool", None, None),
    "peer-ack-window": ("num", None, (2048, 204800)),
    "peer-ack-delay": ("num", None, (1, 10000)),
    "twopc-timeout": ("num", None, (50, 600)),
    "twopc-retry-timeout": ("num", None, (1, 50)),
    "auto-promote-timeout": ("num", None, (0, 600)),
    "max-io-depth": ("num", None, (4, 4294967295)),
    "quorum": ("enum+num", ("off", "majority", "all"), (1, 32)),
    "on-no-quorum": ("enum", ("io-error", "suspend-io"), None),
    "quorum-minimum-redundancy": ("enum+num", ("off", "majority", "all"), (1, 32)),
    "on-suspended-primary-outdated": ("enum", ("disconnect", "force-secondary"), None),
}
STARTUP: dict[str, Option] = {
    "wfc-timeout": ("num", None, None),
    "degr-wfc-timeout": ("num", None, None),
    "outdated-wfc-timeout": ("num", None, None),
    "wait-after-sb": ("bool", None, None),
    "become-primary-on": ("str", None, None),
    "stacked-timeouts": ("bool", None, None),
}
# drbdadm's parser lists these in its "expected" messages.
HANDLERS = (
    "pri-on-incon-degr",
    "pri-lost-after-sb",
    "pri-lost",
    "initial-split-brain",
    "split-brain",
    "outdate-peer",
    "fence-peer",
    "unfence-peer",
    "local-io-error",
    "before-resync-target",
    "after-resync-target",
    "before-resync-source",
    "out-of-sync",
    "quorum-lost",
    "disconnected",
)

# drbdadm 8.4 (drbd-utils user/v84, run by drbdadm 9.22 when the loaded module is 8.4):
# the keywords of CHANGEABLE_NET_OPTIONS, CHANGEABLE_DISK_OPTIONS (+ attach's size and
# max-bio-bvecs) and resource_options_ctx in user/v84/config_flags.c. `fencing` is a disk
# option there (DRBD 9 moved it to net); 8.4 has no transport, quorum or auto-promote.
# Value kinds and limits are those of the 9.22 tables for the same keyword.
_NET_9_ONLY = {"transport", "allow-remote-read", "fencing"}
NET_84 = {k: v for k, v in NET.items() if k not in _NET_9_ONLY} | {
    "unplug-watermark": ("num", None, (1, 131072)),
}
DISK_84 = {k: v for k, v in DISK.items() if k != "bitmap"} | {
    "fencing": NET["fencing"],
    "max-bio-bvecs": ("num", None, (0, 128)),
}
OPTIONS_84 = {k: OPTIONS[k] for k in ("cpu-mask", "on-no-data-accessible")}
