"""API authentication: the portal's own tokens (`Authorization: Token sdp_…`, hashed at
rest) and DRF's tokens; both refused once older than API_TOKEN_MAX_AGE_DAYS."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import authentication, exceptions
from rest_framework.authentication import TokenAuthentication

from clusters.services import people


def refuse_if_expired(created) -> None:
    """Tokens are valid API_TOKEN_MAX_AGE_DAYS (0: for ever) after they were made."""
    days = settings.API_TOKEN_MAX_AGE_DAYS
    if days and created < timezone.now() - timedelta(days=days):
        raise exceptions.AuthenticationFailed(
            f"Token expired: tokens are valid for {days} days. Make a new one on the "
            "API tokens page."
        )


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """Authenticates portal tokens (hashed at rest); other keys are left to DRF's own
    TokenAuthentication, kept for tokens made with `manage.py drf_create_token`."""

    keyword = "Token"

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != self.keyword.lower().encode():
            return None
        try:
            key = parts[1].decode()
        except UnicodeError:
            return None
        if not key.startswith(people.TOKEN_PREFIX):
            return None
        token = people.token_authenticate(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        refuse_if_expired(token.created_at)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """The OpenAPI description of these tokens: the same header as DRF's own."""

    target_class = ApiTokenAuthentication
    name = "portalToken"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix=ApiTokenAuthentication.keyword
        )


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token, refused once older than API_TOKEN_MAX_AGE_DAYS (0: never expires).
    A new one comes from Admin → Tokens or `manage.py drf_create_token -r USER`."""

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        refuse_if_expired(token.created)
        return user, token
