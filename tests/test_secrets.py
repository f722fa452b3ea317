"""SSH private keys are encrypted at rest with a key that is not in the database."""

import asyncssh
import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import override_settings

from clusters import secrets
from clusters.models import SshCredential


@pytest.fixture
def private_key() -> str:
    return asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()


def raw_row(credential: SshCredential) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM clusters_sshcredential WHERE id = %s", [credential.pk])
        return " ".join(str(value) for value in cursor.fetchone())


def test_raw_database_row_holds_no_key_material(db, private_key):
    credential = SshCredential(name="lab")
    credential.set_private_key(private_key)
    credential.save()
    row = raw_row(credential)
    body = private_key.splitlines()[1]
    assert "PRIVATE KEY" not in row
    assert body[:20] not in row
    assert SshCredential.objects.get(pk=credential.pk).private_key() == private_key


def test_garbage_is_refused_as_a_private_key(db):
    with pytest.raises(ValidationError) as err:
        SshCredential(name="x").set_private_key("not a key")
    assert "private key" in str(err.value)


def test_rotation_keeps_old_secrets_readable_and_reencrypts(db, private_key, settings):
    settings.PORTAL_SECRETS_KEY = "old-key"
    token = secrets.encrypt(private_key)
    with override_settings(PORTAL_SECRETS_KEY="new-key,old-key"):
        assert secrets.decrypt(token) == private_key
        rotated = secrets.reencrypt(token)
    with override_settings(PORTAL_SECRETS_KEY="new-key"):
        assert secrets.decrypt(rotated) == private_key
        with pytest.raises(secrets.SecretError):
            secrets.decrypt(token)


def test_rotate_secrets_command_moves_every_key_to_the_new_secret(db, private_key):
    from django.core.management import call_command

    with override_settings(PORTAL_SECRETS_KEY="old-key"):
        credential = SshCredential(name="lab")
        credential.set_private_key(private_key)
        credential.save()
    with override_settings(PORTAL_SECRETS_KEY="new-key,old-key"):
        call_command("rotate_secrets")
    with override_settings(PORTAL_SECRETS_KEY="new-key"):
        assert SshCredential.objects.get(pk=credential.pk).private_key() == private_key
