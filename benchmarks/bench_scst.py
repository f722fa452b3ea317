"""Time parse_config and render_config on a generated 2,000-device scst.conf.

Run from the repository root: .venv/bin/python -m benchmarks.bench_scst
"""

from __future__ import annotations

import time
from collections.abc import Callable

from clusters.scst import (
    Attributes,
    Device,
    Handler,
    Initiator,
    InitiatorGroup,
    Lun,
    ScstConfig,
    Target,
    TargetDriver,
    parse_config,
    render_config,
)

DEVICES = 2_000
TARGETS = 20
RUNS = 7


def _attributes(**values: str) -> Attributes:
    attrs = Attributes()
    for name, value in values.items():
        attrs.add(name, value)
    return attrs


def build_config() -> ScstConfig:
    """2,000 blockio devices on DRBD, 20 iSCSI targets of 100 LUNs, one group each."""
    handler = Handler("vdisk_blockio")
    for n in range(DEVICES):
        attrs = _attributes(filename=f"/dev/drbd{n}", write_through="1", t10_dev_id=f"d{n:07d}")
        handler.devices[f"disk{n}"] = Device(f"disk{n}", attrs)
    driver = TargetDriver("iscsi", _attributes(enabled="1"))
    per_target = DEVICES // TARGETS
    for t in range(TARGETS):
        name = f"iqn.2024-01.lab.store:t{t}"
        target = Target(name, _attributes(enabled="1", rel_tgt_id=str(t + 1)))
        target.attributes.add("IncomingUser", f"user{t} secret-{t}")
        group = InitiatorGroup(f"esx{t}")
        initiator = Initiator(f"iqn.1998-01.com.vmware:esx{t}-*")
        group.initiators = {initiator.name: initiator}
        for lun in range(per_target):
            device = f"disk{t * per_target + lun}"
            target.luns[lun] = Lun(lun, device)
            group.luns[lun] = Lun(lun, device, _attributes(read_only="0"))
        target.groups[group.name] = group
        driver.targets[name] = target
    return ScstConfig(_attributes(setup_id="0x1"), {"vdisk_blockio": handler}, {"iscsi": driver})


def best_of(func: Callable[[], object], runs: int = RUNS) -> float:
    """Best wall time in seconds over `runs` calls."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    config = build_config()
    text = render_config(config)
    assert parse_config(text) == config
    parse_s = best_of(lambda: parse_config(text))
    render_s = best_of(lambda: render_config(config))
    print(
        f"scst.conf: {DEVICES} devices, {TARGETS} targets, {len(text.splitlines())} lines, "
        f"{len(text) / 1024:.0f} KiB; best of {RUNS}"
    )
    print(f"{'operation':<10} {'seconds':>8} {'lines/s':>10}")
    for name, seconds in (("parse", parse_s), ("render", render_s)):
        print(f"{name:<10} {seconds:>8.3f} {len(text.splitlines()) / seconds:>10.0f}")


if __name__ == "__main__":
    main()
