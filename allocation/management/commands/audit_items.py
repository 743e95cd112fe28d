"""`manage.py audit_items`: check that every item's current state equals the replay of its
events (`allocation.audit`). Prints a summary and the mismatches; exits with status 1 when
there is any, so a scheduler or CI step notices."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from allocation.audit import CHUNK_SIZE, AuditTally, items_audit
from allocation.models import Queue

DEFAULT_LIMIT = 100


class Command(BaseCommand):
    help = "Check that every work item's state equals the replay of its events; exit 1 on any mismatch."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT,
                            help=f"Print at most this many mismatches (default {DEFAULT_LIMIT}); all are counted.")
        parser.add_argument("--since-id", type=int, default=0, help="Audit items with this id or higher only.")
        parser.add_argument("--queue", help="Audit the items of the queue with this code only.")
        parser.add_argument("--chunk-size", type=int, default=CHUNK_SIZE,
                            help=f"Items read per query (default {CHUNK_SIZE}).")

    def handle(self, *args, limit: int, since_id: int, queue: str | None, chunk_size: int, **options):
        if limit < 0 or chunk_size < 1:
            raise CommandError("--limit must be 0 or more and --chunk-size at least 1.")
        queue_id = None
        if queue is not None:
            queue_id = Queue.objects.filter(code=queue).values_list("pk", flat=True).first()
            if queue_id is None:
                raise CommandError(f"No queue has the code {queue!r}.")

        tally = AuditTally()
        mismatches = 0
        for mismatch in items_audit(since_id=since_id, queue_id=queue_id, chunk_size=chunk_size, tally=tally):
            mismatches += 1
            if mismatches <= limit:
                self.stdout.write(str(mismatch))
        if mismatches > limit:
            self.stdout.write(f"… and {mismatches - limit:,} more (raise --limit to see them).")

        summary = (
            f"Audited {tally.items_checked:,} items ({tally.events_replayed:,} events) in {tally.seconds:.1f}s: "
            f"{mismatches:,} mismatches on {tally.mismatched_items:,} items."
        )
        if mismatches:
            self.stdout.write(self.style.ERROR(summary))
            raise CommandError(f"{tally.mismatched_items:,} items disagree with their events.", returncode=1)
        self.stdout.write(self.style.SUCCESS(summary))
