"""The audit trail: who changed what, when, why, with the object before and after.

Entries are data, written once and never edited. `record()` stamps each entry with the
id of the request (or `action()` block) it belongs to, so that everything one click
changed reads as one group.
"""

import contextlib
import contextvars
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeGuard

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.forms.models import model_to_dict
from django.utils import timezone

# Fields whose values never reach the trail, whatever the model: secrets at rest.
SECRET_FIELDS = frozenset({"private_key", "private_key_encrypted", "password", "digest"})

_request_id: contextvars.ContextVar[uuid.UUID | None] = contextvars.ContextVar(
    "audit_request_id", default=None
)


class Action(models.TextChoices):
    CREATE = "create", "Created"
    CHANGE = "change", "Changed"
    DELETE = "delete", "Deleted"
    MUTE = "mute", "Muted a finding"
    APPROVE_HOST_KEY = "approve_host_key", "Approved a host key"
    PLAN = "plan", "Planned a change"
    APPLY = "apply", "Applied a change"
    APPLY_FAILED = "apply_failed", "Apply failed (nodes restored)"
    ADOPT = "adopt", "Imported a cluster's live config"
    MODE = "mode", "Switched monitored/managed"


class AuditEntry(models.Model):
    """One change to one object. The user and cluster are kept by name as well, so the
    entry still reads correctly after either is deleted."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=20, choices=Action.choices, db_index=True)
    cluster = models.ForeignKey(
        "clusters.Cluster",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_entries",
    )
    cluster_name = models.CharField(max_length=50, blank=True)
    object_type = models.CharField(max_length=100, help_text="app_label.model")
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=300)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    request_id = models.UUIDField(db_index=True, help_text="Groups what one action changed.")

    class Meta:
        app_label = "clusters"
        ordering = ["-at", "-pk"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return (
            f"{self.at:%Y-%m-%d %H:%M:%S} {self.username or '-'} {self.action} {self.object_repr}"
        )

    def changed_fields(self) -> list[tuple[str, object, object]]:
        """(field, before, after) for each field whose value differs."""
        before, after = self.before or {}, self.after or {}
        names = sorted(set(before) | set(after))
        return [(n, before.get(n), after.get(n)) for n in names if before.get(n) != after.get(n)]

    def changes(self) -> list["ObjectChange"]:
        """What changed, object by object and field by field, with names."""
        return object_changes(self.before, self.after)


# --- Readable changes -------------------------------------------------------------
# before/after hold a model snapshot (flat fields) or a whole inventory export
# (clusters/services/inventory.py): lists of objects named by "name", DRBD volumes as
# [node, volume, minor, backing disk, meta disk] and LUN mappings as [group, lun, device].
# Both are flattened into named objects with named fields, then compared, so the trail
# reads "device r1: write_through 0 → 1" instead of two whole inventories.

ROWS = {
    "volumes": (
        lambda row: f"volume {row[1]} on {row[0]}",
        ("minor", "backing_disk", "meta_disk"),
        2,
    ),
    "luns": (
        lambda row: f"LUN {row[1]} " + (f"in group {row[0]}" if row[0] else "(default set)"),
        ("device",),
        2,
    ),
}


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: object
    after: object

    def text(self) -> str:
        return f"{self.field} {shown(self.before)} → {shown(self.after)}"


@dataclass(frozen=True)
class ObjectChange:
    """One object (`device r1`, or "" for the entry's own object): added, removed or
    changed, with its fields (all of them for an added or removed object)."""

    label: str
    status: str  # "added", "removed", "changed"
    fields: tuple[FieldChange, ...]

    def lines(self) -> list[str]:
        """Plain-text lines, one per change (the CSV export and the tests read these)."""
        prefix = f"{self.label}: " if self.label else ""
        if self.status != "changed":
            side = "after" if self.status == "added" else "before"
            values = ", ".join(f"{f.field} {shown(getattr(f, side))}" for f in self.fields)
            return [f"{prefix}{self.status}" + (f" ({values})" if values else "")]
        return [prefix + f.text() for f in self.fields]


def shown(value: object) -> str:
    """A value as an operator reads it: no Python reprs, lists as comma lists."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        if any(isinstance(v, list | tuple) for v in value):  # rows: (1, —); (2, —)
            return "; ".join(f"({shown(v)})" for v in value)
        return ", ".join(shown(v) for v in value) if value else "none"
    if isinstance(value, dict):
        return ", ".join(f"{k} {shown(v)}" for k, v in value.items()) if value else "none"
    return str(value)


def _singular(key: str) -> str:
    return key[:-1] if key.endswith("s") else key


def _named_objects(value: object) -> TypeGuard[list[dict[str, object]]]:
    """A non-empty list of objects that each carry a name (devices, targets, nodes…)."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and "name" in item for item in value)
    )


def _flatten(value: object, label: str, field: str, into: dict[str, dict[str, object]]) -> None:
    """Objects (label → {field: value}) found in one before/after value."""
    fields = into.setdefault(label, {})
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, label, f"{_singular(field)} {key}" if field else str(key), into)
        return
    if (
        isinstance(value, list)
        and field in ROWS
        and all(isinstance(row, list | tuple) for row in value)
    ):
        name_of, names, skip = ROWS[field]
        for row in value:
            child = f"{label} {name_of(row)}".strip()
            into.setdefault(child, {}).update(zip(names, row[skip:], strict=False))
        return
    if _named_objects(value):
        kind = _singular(field.split(" ")[-1])
        for item in value:
            child = f"{label} {kind} {item['name']}".strip()
            rest = {k: v for k, v in item.items() if k != "name"}
            into.setdefault(child, {})
            for key, item_value in rest.items():
                _flatten(item_value, child, key, into)
        return
    fields[field] = value


def _value(value: object) -> object:
    """Missing, None and empty read the same: an empty list appearing is no change."""
    return None if value in (None, "", [], {}) else value


def object_changes(before: dict | None, after: dict | None) -> list[ObjectChange]:
    """Field-level differences between two audit snapshots, object by object."""
    old: dict[str, dict[str, object]] = {}
    new: dict[str, dict[str, object]] = {}
    _flatten(before or {}, "", "", old)
    _flatten(after or {}, "", "", new)
    result = []
    for label in sorted(set(old) | set(new), key=lambda name: (name != "", name)):
        was, now = old.get(label), new.get(label)
        if was is None or now is None:
            status = "added" if was is None else "removed"
            present = (now if was is None else was) or {}
            fields = tuple(
                FieldChange(f, None if was is None else v, v if was is None else None)
                for f, v in present.items()
            )
            if fields or label:
                result.append(ObjectChange(label, status, fields))
            continue
        changed = tuple(
            FieldChange(f, was.get(f), now.get(f))
            for f in sorted(set(was) | set(now))
            if _value(was.get(f)) != _value(now.get(f))
        )
        if changed:
            result.append(ObjectChange(label, "changed", changed))
    return result


def current_request_id() -> uuid.UUID:
    """The id of the request or action block being served; a fresh one outside both."""
    return _request_id.get() or uuid.uuid4()


@contextlib.contextmanager
def action(request_id: uuid.UUID | None = None) -> Iterator[uuid.UUID]:
    """Group every entry recorded inside the block under one id (a request, a command)."""
    current = request_id or uuid.uuid4()
    token = _request_id.set(current)
    try:
        yield current
    finally:
        _request_id.reset(token)


def snapshot(obj: models.Model) -> dict:
    """The object's editable fields as JSON-ready data; secrets are never included."""
    data = model_to_dict(obj, exclude=list(SECRET_FIELDS))
    if hasattr(obj, "public_key"):  # not editable, but its change shows a key rotation
        data["public_key"] = obj.public_key
    for name, value in data.items():
        if isinstance(value, list | tuple):  # many-to-many: instances → primary keys
            data[name] = [getattr(item, "pk", item) for item in value]
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


# How to reach the cluster from objects that have no cluster field of their own.
_CLUSTER_PATHS = ("cluster", "resource", "target", "group", "node", "device")


def cluster_of(obj: models.Model | None):
    """The cluster an inventory object belongs to, or None (global memberships, keys)."""
    from clusters.models import Cluster

    for _ in range(4):
        if obj is None or isinstance(obj, Cluster):
            return obj
        parent = next(
            (p for p in _CLUSTER_PATHS if getattr(obj, f"{p}_id", None) is not None), None
        )
        if parent is None:
            return None
        obj = getattr(obj, parent)
    return None


def record(
    user,
    action: str,
    obj: models.Model,
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
    cluster=None,
) -> AuditEntry:
    """Write one entry; the cluster defaults to the object's own."""
    cluster = cluster if cluster is not None else cluster_of(obj)
    authenticated = user is not None and user.is_authenticated
    return AuditEntry.objects.create(
        user=user if authenticated else None,
        username=user.get_username() if authenticated else "",
        action=action,
        cluster=cluster,
        cluster_name=cluster.name if cluster is not None else "",
        object_type=obj._meta.label_lower,
        object_id="" if obj.pk is None else str(obj.pk),
        object_repr=str(obj)[:300],
        before=before,
        after=after,
        reason=reason,
        request_id=current_request_id(),
    )
