"""Re-encrypt every stored secret with the first key of PORTAL_SECRETS_KEY."""

from django.core.management.base import BaseCommand
from django.db import transaction

from clusters import secrets
from clusters.models import SshCredential


class Command(BaseCommand):
    help = (
        "Rotate the secrets key: put the new key first in PORTAL_SECRETS_KEY (new,old), run "
        "this, then drop the old key."
    )

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        credentials = SshCredential.objects.select_for_update().exclude(private_key_encrypted="")
        for credential in credentials:
            credential.private_key_encrypted = secrets.reencrypt(credential.private_key_encrypted)
            credential.save(update_fields=["private_key_encrypted"])
        self.stdout.write(f"re-encrypted {len(credentials)} SSH private key(s) with the newest key")
