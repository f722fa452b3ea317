"""Re-encrypt every stored secret with the first key of PORTAL_SECRETS_KEY."""

from django.core.management.base import BaseCommand
from django.db import transaction

from clusters import secrets
from clusters.models import Channel, SshCredential


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
        channels = Channel.objects.select_for_update().exclude(url_encrypted="")
        for channel in channels:
            channel.url_encrypted = secrets.reencrypt(channel.url_encrypted)
            channel.save(update_fields=["url_encrypted"])
        self.stdout.write(f"re-encrypted {len(channels)} alert webhook URL(s) with the newest key")
