"""Editing an exported device: what the edit page offers, and the typed change an edit
makes (only what differs from what the inventory holds now)."""

from __future__ import annotations

from clusters.models import InitiatorGroup, ScstDevice
from clusters.services.change_kinds import EditLun


def exporting_groups(device: ScstDevice) -> list[InitiatorGroup]:
    """The initiator groups that export the device, one initiator list each on the page."""
    return list(
        InitiatorGroup.objects.filter(lun_mappings__device=device)
        .select_related("target__node")
        .prefetch_related("initiators")
        .order_by("target__node__name", "name")
        .distinct()
    )


def edit_initial(device: ScstDevice, groups: list[InitiatorGroup]) -> dict:
    """The device's editable values as they are: attributes, its LUN number when every
    mapping has the same one, and each group's initiators (one name a line)."""
    numbers = {m.lun for m in device.mappings.all()}
    initial = {f: getattr(device, f) for f in EditLun.EDITABLE}
    initial["lun"] = numbers.pop() if len(numbers) == 1 else None
    for group in groups:
        initial[f"initiators_{group.pk}"] = "\n".join(i.name for i in group.initiators.all())
    return initial


def edit_change(
    device: ScstDevice,
    cleaned: dict,
    initiators: dict[int, list[str]],
    initial: dict,
    groups: list[InitiatorGroup],
) -> EditLun | None:
    """The edit of what differs from `initial`; None when nothing does."""
    values = {f: cleaned[f] for f in EditLun.EDITABLE if cleaned[f] != initial[f]}
    lun = cleaned["lun"]
    lun = lun if lun is not None and lun != initial["lun"] else None
    before = {g.pk: sorted(i.name for i in g.initiators.all()) for g in groups}
    changed = {k: v for k, v in initiators.items() if v != before[k]}
    if not values and lun is None and not changed:
        return None
    return EditLun(device.name, values, lun, changed)
