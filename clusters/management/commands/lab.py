"""Start the demo lab (emulated SCST + DRBD nodes over SSH) and point the inventory at it."""

import asyncio
import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from clusters.services import labsync
from lab import api
from lab.server import LabServer, PortInUse


def demo_faults(lab_dir: Path, manifest: dict) -> str:
    """Break the second and third demo clusters the way real clusters break."""
    clusters = [c["name"] for c in manifest["clusters"]]
    lines = []
    if len(clusters) > 1:
        node = f"{clusters[1]}-b"
        api.set_device_attr(lab_dir, node, "r1", "write_through", "0")
        lines.append(f"{node}: device r1 set to write-back (write_through 0)")
    if len(clusters) > 2:
        api.drbd_standalone(lab_dir, f"{clusters[2]}-a", "r0")
        lines.append(f"{clusters[2]}-a: DRBD resource r0 dropped to StandAlone")
    return "demo faults: " + ("; ".join(lines) or "none")


class Command(BaseCommand):
    help = (
        "Serve a lab of emulated SCST + DRBD node pairs on 127.0.0.1 and write the demo "
        "inventory for it (clusters, nodes, credential, pinned host keys, adopted config)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--clusters", type=int, default=3, help="node pairs to create")
        parser.add_argument("--dir", default=str(settings.VAR_DIR / "lab"), help="lab directory")
        parser.add_argument(
            "--base-port",
            type=int,
            default=int(os.environ.get("LAB_BASE_PORT") or 0),
            help="first of fixed SSH ports, a taken one is an error (default: $LAB_BASE_PORT, "
            "else free ports: a port recorded by an earlier run that is taken now moves)",
        )
        parser.add_argument("--fresh", action="store_true", help="discard an existing lab")
        parser.add_argument(
            "--no-faults", action="store_true", help="keep every cluster healthy (no demo faults)"
        )

    def handle(self, *args, **options) -> None:
        lab_dir = Path(options["dir"])
        created = options["fresh"] or not (lab_dir / "manifest.json").exists()
        if created:
            if lab_dir.exists():
                import shutil

                shutil.rmtree(lab_dir)
            api.create_lab(lab_dir, clusters=options["clusters"], base_port=options["base_port"])
            self.stdout.write(f"created a lab of {options['clusters']} clusters in {lab_dir}")
        fixed = bool(options["base_port"])
        try:
            asyncio.run(self.serve(lab_dir, created and not options["no_faults"], fixed))
        except PortInUse as exc:
            raise CommandError(
                f"{exc}; LAB_BASE_PORT={options['base_port']} fixes the ports: choose another "
                "or unset it"
                if fixed
                else str(exc)
            ) from exc

    async def serve(self, lab_dir: Path, inject_faults: bool, fixed_ports: bool) -> None:
        server = LabServer(lab_dir, move_taken_ports=not fixed_ports)
        await server.start()
        manifest = api.load_manifest(lab_dir)
        summary = await asyncio.to_thread(labsync.inventory_sync, manifest)
        self.stdout.write(summary)
        if inject_faults:
            self.stdout.write(demo_faults(lab_dir, manifest))
            # Show the faults at once rather than at beat's next collection.
            await asyncio.to_thread(labsync.collect_lab_clusters, manifest)
        self.stdout.write(f"lab serving {len(server.nodes)} nodes; Ctrl-C stops it")
        await asyncio.Event().wait()
