"""`manage.py seed_demo`: load the demo back office (`demo`), then print the logins.

Idempotent: a second run adds no work items, only restores the demo users' logins.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from demo.seed import PORTAL_URL, demo_item_count, demo_seed, logins_table

DEFAULT_ITEMS = 3000


class Command(BaseCommand):
    help = "Load a believable demo back office (idempotent), then print the logins."

    def add_arguments(self, parser):
        parser.add_argument("--items", type=int, default=DEFAULT_ITEMS,
                            help=f"Work items to create the first time (default {DEFAULT_ITEMS}).")
        parser.add_argument("--url", default=PORTAL_URL, help="The portal's address, for the logins table.")
        parser.add_argument("--quiet", action="store_true", help="Print nothing.")

    def handle(self, *args, items: int, url: str, quiet: bool, **options):
        if items < 50:
            raise CommandError("--items must be at least 50.")
        began = time.monotonic()
        seeded = demo_seed(items=items)
        if quiet:
            return
        elapsed = time.monotonic() - began
        count = demo_item_count()
        if seeded:
            self.stdout.write(self.style.SUCCESS(f"Demo back office seeded: {count:,} work items in {elapsed:.1f}s."))
        else:
            self.stdout.write(f"Demo back office already present ({count:,} work items); nothing to add.")
        self.stdout.write(logins_table(url))
