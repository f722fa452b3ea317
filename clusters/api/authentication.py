"""API tokens made on the portal's token page: `Authorization: Token sdp_…`."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import authentication, exceptions

from clusters.services import people


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
