"""LDAP login settings (django-auth-ldap) read from the environment.

Only when LDAP_SERVER_URI is set; the README lists every variable. Kept apart from
settings.py so that the tests build the same settings for their own slapd.
"""

import json
from collections.abc import Mapping
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

ROLES = ("viewer", "operator", "admin")

GROUP_TYPES = {
    "groupOfNames": ("GroupOfNamesType", "(objectClass=groupOfNames)"),
    "groupOfUniqueNames": ("GroupOfUniqueNamesType", "(objectClass=groupOfUniqueNames)"),
    "posixGroup": ("PosixGroupType", "(objectClass=posixGroup)"),
    "activeDirectory": ("ActiveDirectoryGroupType", "(objectClass=group)"),
}


def parse_role_map(text: str) -> list[tuple[str, str, str | None]]:
    """LDAP_ROLE_MAP, a JSON object {group DN: grant or [grants]}, into
    (group DN lower-cased, role, cluster name or None for all clusters).

    A grant is `role` (on all clusters) or `role@cluster`, role one of viewer, operator,
    admin: {"cn=storage-admins,ou=groups,dc=example,dc=org": "admin",
    "cn=c001-ops,ou=groups,dc=example,dc=org": ["operator@c001", "viewer@c002"]}.
    """
    if not text.strip():
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"LDAP_ROLE_MAP is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ImproperlyConfigured("LDAP_ROLE_MAP must be a JSON object {group DN: grant}.")
    grants = []
    for group_dn, value in data.items():
        for grant in [value] if isinstance(value, str) else value:
            role, _, cluster = str(grant).partition("@")
            if role not in ROLES:
                raise ImproperlyConfigured(
                    f"LDAP_ROLE_MAP: {grant!r} for {group_dn} must be one of "
                    f"{', '.join(ROLES)}, optionally followed by @cluster."
                )
            grants.append((group_dn.lower(), role, cluster or None))
    return grants


def _secret(env: Mapping[str, str], name: str) -> str:
    if env.get(name):
        return env[name]
    path = env.get(f"{name}_FILE")
    return Path(path).read_text().strip() if path else ""


def ldap_settings(env: Mapping[str, str]) -> dict:
    """The AUTH_LDAP_* settings (and PORTAL_LDAP_ROLE_MAP) for this environment; {} when
    LDAP_SERVER_URI is unset."""
    uri = env.get("LDAP_SERVER_URI", "")
    if not uri:
        return {}
    import django_auth_ldap.config as config
    import ldap

    group_type = env.get("LDAP_GROUP_TYPE") or "groupOfNames"
    if group_type not in GROUP_TYPES:
        raise ImproperlyConfigured(
            f"LDAP_GROUP_TYPE {group_type!r} must be one of {', '.join(GROUP_TYPES)}."
        )
    type_class, group_filter = GROUP_TYPES[group_type]
    options: dict[int, float | str | int] = {
        ldap.OPT_NETWORK_TIMEOUT: float(env.get("LDAP_TIMEOUT_SECONDS") or "5")
    }
    options[ldap.OPT_TIMEOUT] = options[ldap.OPT_NETWORK_TIMEOUT]
    if env.get("LDAP_CA_CERT_FILE"):
        options[ldap.OPT_X_TLS_CACERTFILE] = env["LDAP_CA_CERT_FILE"]
        options[ldap.OPT_X_TLS_NEWCTX] = 0  # applies the CA file; must be the last TLS option
    values = {
        "AUTH_LDAP_SERVER_URI": uri,
        "AUTH_LDAP_BIND_DN": env.get("LDAP_BIND_DN") or "",
        "AUTH_LDAP_BIND_PASSWORD": _secret(env, "LDAP_BIND_PASSWORD"),
        "AUTH_LDAP_START_TLS": (env.get("LDAP_START_TLS") or "").lower()
        in {"1", "true", "yes", "on"},
        "AUTH_LDAP_CONNECTION_OPTIONS": options,
        "AUTH_LDAP_USER_ATTR_MAP": {"first_name": "givenName", "last_name": "sn", "email": "mail"},
        "AUTH_LDAP_ALWAYS_UPDATE_USER": True,
        "AUTH_LDAP_GROUP_TYPE": getattr(config, type_class)(),
        "AUTH_LDAP_REQUIRE_GROUP": env.get("LDAP_REQUIRE_GROUP") or None,
        "PORTAL_LDAP_ROLE_MAP": parse_role_map(env.get("LDAP_ROLE_MAP") or ""),
    }
    if env.get("LDAP_USER_DN_TEMPLATE"):
        values["AUTH_LDAP_USER_DN_TEMPLATE"] = env["LDAP_USER_DN_TEMPLATE"]
    elif env.get("LDAP_USER_SEARCH_BASE"):
        values["AUTH_LDAP_USER_SEARCH"] = config.LDAPSearch(
            env["LDAP_USER_SEARCH_BASE"],
            ldap.SCOPE_SUBTREE,
            env.get("LDAP_USER_FILTER") or "(uid=%(user)s)",
        )
    else:
        raise ImproperlyConfigured(
            "LDAP_SERVER_URI is set: set LDAP_USER_SEARCH_BASE (and LDAP_USER_FILTER) or "
            "LDAP_USER_DN_TEMPLATE too."
        )
    if env.get("LDAP_GROUP_SEARCH_BASE"):
        values["AUTH_LDAP_GROUP_SEARCH"] = config.LDAPSearch(
            env["LDAP_GROUP_SEARCH_BASE"], ldap.SCOPE_SUBTREE, group_filter
        )
    elif values["PORTAL_LDAP_ROLE_MAP"] or values["AUTH_LDAP_REQUIRE_GROUP"]:
        raise ImproperlyConfigured(
            "LDAP_ROLE_MAP and LDAP_REQUIRE_GROUP need LDAP_GROUP_SEARCH_BASE."
        )
    return values
