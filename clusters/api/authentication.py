"""Token authentication whose tokens expire API_TOKEN_MAX_AGE_DAYS after they were made."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token, refused once older than API_TOKEN_MAX_AGE_DAYS (0: never expires).
    A new one comes from Admin → Tokens or `manage.py drf_create_token -r USER`."""

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        days = settings.API_TOKEN_MAX_AGE_DAYS
        if days and token.created < timezone.now() - timedelta(days=days):
            raise exceptions.AuthenticationFailed(
                f"Token expired: tokens are valid for {days} days. Ask for a new one "
                "(`manage.py drf_create_token -r USER`)."
            )
        return user, token
