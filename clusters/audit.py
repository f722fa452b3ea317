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

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q, QuerySet
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


def current_request_id() -> uuid.UUID:
    """The id of the request or action block being served; a fresh one outside both."""
    return _request_id.get() or uuid.uuid4()


@contextlib.contextmanager
def action(request_id: uuid.UUID | None = None) -> Iterator[uuid.UUID]:
    """Group every entry recorded inside the block under one id (a request, a command)."""
    token = _request_id.set(request_id or uuid.uuid4())
    try:
        yield _request_id.get()
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


def entries_visible_to(user) -> QuerySet[AuditEntry]:
    """Superusers see every entry; admins see their clusters' entries, and global admins
    also the entries that belong to no cluster (global roles, SSH credentials)."""
    from clusters import access
    from clusters.models import Membership, Role

    entries = AuditEntry.objects.select_related("cluster")
    if not user.is_authenticated or not user.is_active:
        return entries.none()
    if user.is_superuser:
        return entries
    clusters = access.visible_clusters(user, Role.ADMIN)
    seen = Q(cluster__in=clusters)
    if Membership.objects.filter(user=user, cluster__isnull=True, role=Role.ADMIN).exists():
        seen |= Q(cluster__isnull=True)
    return entries.filter(seen)


def may_read_audit(user) -> bool:
    """The audit page is for superusers and admins of at least one cluster."""
    from clusters import access
    from clusters.models import Membership, Role

    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return (
        access.visible_clusters(user, Role.ADMIN).exists()
        or Membership.objects.filter(user=user, cluster__isnull=True, role=Role.ADMIN).exists()
    )
