"""Create or reset the demo admin; the password comes from the environment or is random."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create (or reset) the demo superuser and print its password."

    def handle(self, *args, **options) -> None:
        username = os.environ.get("PORTAL_ADMIN_USER", "admin")
        password = os.environ.get("PORTAL_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        shown = (
            "(from PORTAL_ADMIN_PASSWORD)" if os.environ.get("PORTAL_ADMIN_PASSWORD") else password
        )
        bar = "=" * 64
        self.stdout.write(
            f"{bar}\n  Portal admin: user {username!r}, password {shown}\n"
            f"  Open http://127.0.0.1:{os.environ.get('PORTAL_PORT', '8000')}/ and log in.\n{bar}"
        )
