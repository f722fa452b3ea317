"""People and access: users, roles (memberships) and API tokens, every change audited.

Global admins (superusers and admins on all clusters) manage users and global roles;
an admin of a cluster gives and takes roles on that cluster.
"""

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from clusters import access, audit
from clusters.models import ApiToken, Cluster, Membership, Role

# A recognisable prefix: secret scanners and people can tell a portal token at a glance,
# and the authentication class leaves other keys to DRF's legacy tokens.
TOKEN_PREFIX = "sdp_"  # noqa: S105 (a prefix, not a secret)
# last_used_at is written at most this often, not on every API call.
TOKEN_USE_RESOLUTION = timedelta(minutes=1)


class PeopleError(Exception):
    """A refused change, said in words the page shows."""


def _user_snapshot(user) -> dict:
    return {
        "username": user.username,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "is_active": user.is_active,
    }


def invite_path(user) -> str:
    """A one-time link with which the user sets their own password (Django's reset token)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return reverse("password_reset_confirm", args=[uid, token])


@transaction.atomic
def user_create(by, username: str, email: str, password: str = "") -> tuple[User, str]:
    """Create a local user. Without a password, the user gets an invite link (returned)."""
    access.require_people_admin(by)
    model = get_user_model()
    if model.objects.filter(username__iexact=username).exists():
        raise PeopleError(f"A user named {username} already exists.")
    user = model(username=username, email=email)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    audit.record(
        by,
        audit.Action.CREATE,
        user,
        after=_user_snapshot(user),
        reason="" if password else "invited: sets their own password",
    )
    return user, "" if password else invite_path(user)


@transaction.atomic
def user_set_active(by, user, active: bool, reason: str = "") -> None:
    """Deactivate (no login, no API token works) or reactivate a user."""
    access.require_people_admin(by)
    if user.pk == by.pk:
        raise PeopleError("You cannot deactivate yourself.")
    if not access.may_change_account(by, user):
        raise PeopleError(f"{user.username} is a superuser: only a superuser may change that.")
    before = _user_snapshot(user)
    user.is_active = active
    user.save(update_fields=["is_active"])
    action = audit.Action.CHANGE
    audit.record(by, action, user, before=before, after=_user_snapshot(user), reason=reason)


@transaction.atomic
def membership_grant(by, user, cluster: Cluster | None, role: Role) -> Membership:
    """Give the user `role` on the cluster (None: on all clusters), replacing their role there."""
    access.require_role_granter(by, cluster)
    if not user.is_active:
        raise PeopleError(f"{user.username} is deactivated: reactivate them first.")
    existing = Membership.objects.select_for_update().filter(user=user, cluster=cluster).first()
    before = audit.snapshot(existing) if existing else None
    if existing is None:
        membership = Membership.objects.create(user=user, cluster=cluster, role=role)
    else:
        membership = existing
        membership.role, membership.source = role, "local"
        membership.save(update_fields=["role", "source"])
    action = audit.Action.CHANGE if existing else audit.Action.CREATE
    audit.record(by, action, membership, before=before, after=audit.snapshot(membership))
    return membership


@transaction.atomic
def membership_revoke(by, membership: Membership) -> None:
    access.require_role_granter(by, membership.cluster)
    if membership.user_id == by.pk and membership.role == Role.ADMIN:
        raise PeopleError("You cannot take away your own admin role; ask another admin.")
    audit.record(by, audit.Action.DELETE, membership, before=audit.snapshot(membership))
    membership.delete()


def token_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def token_create(by, user, name: str) -> tuple[ApiToken, str]:
    """A new token for `user` (themselves, or anyone for a global admin); the key is
    returned once and only its digest is stored."""
    if user.pk != by.pk:
        access.require_people_admin(by)
    if not user.is_active:
        raise PeopleError(f"{user.username} is deactivated: their tokens would not work.")
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=key[:12], digest=token_digest(key), created_by=by
    )
    audit.record(by, audit.Action.CREATE, token, after=audit.snapshot(token))
    return token, key


@transaction.atomic
def token_revoke(by, token: ApiToken) -> None:
    if token.user_id != by.pk:
        access.require_people_admin(by)
    if token.revoked_at is not None:
        return
    before = audit.snapshot(token)
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit.record(by, audit.Action.CHANGE, token, before=before, after=audit.snapshot(token))


def token_authenticate(key: str) -> ApiToken | None:
    """The live token with this key, its use noted; None for an unknown or revoked key."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=token_digest(key), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > TOKEN_USE_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
