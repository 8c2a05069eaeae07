from typing import Any

from django.core.management.base import BaseCommand, CommandError

from backend.concerns.audit import BrokenLink, audit_verify


class Command(BaseCommand):
    help = "Verify every concern's audit hash chain; report the first broken link."

    def handle(self, *args: Any, **options: Any) -> None:
        verified = 0
        for result in audit_verify():
            if isinstance(result, BrokenLink):
                raise CommandError(
                    f"audit chain broken: concern {result.concern_id}, event {result.seq}: {result.reason}"
                )
            verified += 1
        self.stdout.write(f"audit chain intact for {verified} concerns")
