"""Point the inventory at a lab (from its manifest): clusters, nodes, credential, keys.

The lab is started by the same operator on the same machine, and its manifest carries
the host keys it generated, so pinning them here is a trusted, local decision. Nodes
of a cluster that has no inventory yet are collected and adopted (services.adoption).
"""

from pathlib import Path

from django.db import transaction

from clusters.models import Cluster, Node, SshCredential
from clusters.services import adoption, collection
from clusters.services.facts import latest_snapshots, node_facts_for

CREDENTIAL_NAME = "lab"


@transaction.atomic
def _sync_rows(manifest: dict) -> list[Cluster]:
    credential, _ = SshCredential.objects.get_or_create(name=CREDENTIAL_NAME)
    credential.set_private_key(Path(manifest["client_key"]).read_text())
    credential.save()
    clusters = []
    for entry in manifest["clusters"]:
        cluster, _ = Cluster.objects.get_or_create(
            name=entry["name"],
            defaults={"description": "lab cluster", "drbd_version": entry.get("drbd_version", "9")},
        )
        for index, node_entry in enumerate(entry["nodes"]):
            Node.objects.update_or_create(
                cluster=cluster,
                name=node_entry["name"],
                defaults={
                    "address": node_entry["host"],
                    "ssh_port": node_entry["port"],
                    "ssh_user": manifest.get("user", "root"),
                    "credential": credential,
                    "drbd_node_id": index,
                    "drbd_address": node_entry["address"],
                    "host_key": node_entry["host_key"],
                    "pending_host_key": "",
                },
            )
        clusters.append(cluster)
    return clusters


def inventory_sync(manifest: dict) -> str:
    """Create or update the lab's clusters and nodes; adopt clusters without inventory."""
    clusters = _sync_rows(manifest)
    adopted = []
    for cluster in clusters:
        if cluster.devices.exists() or cluster.drbd_resources.exists():
            continue
        collection.collection_run(collection.collection_create(cluster))
        facts = [node_facts_for(s[0]) for s in latest_snapshots(cluster).values() if s]
        adoption.inventory_import(cluster, facts)
        # The inventory now renders exactly what runs, so the portal may manage it.
        cluster.mode = Cluster.Mode.MANAGED
        cluster.save(update_fields=["mode"])
        collection.collection_run(collection.collection_create(cluster))
        adopted.append(cluster.name)
    return f"inventory: {len(clusters)} lab clusters" + (
        f"; adopted the running config of {', '.join(adopted)}" if adopted else ""
    )


def collect_lab_clusters(manifest: dict) -> None:
    for entry in manifest["clusters"]:
        cluster = Cluster.objects.get(name=entry["name"])
        collection.collection_run(collection.collection_create(cluster))
