"""Encryption of secrets at rest (SSH private keys) with a key kept outside the database.

PORTAL_SECRETS_KEY holds one or more comma-separated passphrases: the first encrypts,
all decrypt, so a key can be rotated by prepending a new one and re-encrypting
(`manage.py rotate_secrets`). Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`.
"""

import base64
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class SecretError(Exception):
    """A stored secret cannot be decrypted with the configured keys."""


def _fernet_for(passphrase: str) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"scst-drbd-portal secrets"
    ).derive(passphrase.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


@cache
def _cipher(keys: str) -> MultiFernet:
    return MultiFernet([_fernet_for(k.strip()) for k in keys.split(",") if k.strip()])


def encrypt(plaintext: str) -> str:
    return _cipher(settings.PORTAL_SECRETS_KEY).encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _cipher(settings.PORTAL_SECRETS_KEY).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretError(
            "A stored secret cannot be decrypted: PORTAL_SECRETS_KEY does not hold the key "
            "it was encrypted with."
        ) from exc


def reencrypt(token: str) -> str:
    """The same secret, encrypted with the newest key (for key rotation)."""
    return _cipher(settings.PORTAL_SECRETS_KEY).rotate(token.encode()).decode()
