"""Recompute every report rollup from the events: after a restore, a change of the
reporting zone, or to check the incremental job (the two must agree)."""

from django.core.management.base import BaseCommand

from reporting import rollups


class Command(BaseCommand):
    help = "Recompute the report rollups from the events and the presence history."

    def handle(self, *args, **options):
        run = rollups.rollups_rebuild(progress=lambda line: self.stdout.write(f"  {line}"))
        first, last = (run.days[0], run.days[-1]) if run.days else ("-", "-")
        self.stdout.write(self.style.SUCCESS(f"Rollups rebuilt: {len(run.days)} days ({first} to {last})."))
