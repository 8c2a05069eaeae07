from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from backend.concerns.audit import BrokenLink, audit_heads_check, audit_verify


def _broken(result: BrokenLink) -> CommandError:
    return CommandError(f"audit chain broken: concern {result.concern_id}, event {result.seq}: {result.reason}")


class Command(BaseCommand):
    help = (
        "Verify every concern's keyed audit chain, then every head exported to the heads file (a chain "
        "rewritten consistently since it was exported); report the first broken link."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--heads",
            type=Path,
            default=None,
            help="the exported heads file to check against (default: CANDOUR_AUDIT_HEADS_FILE, if it exists)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verified = 0
        for result in audit_verify():
            if isinstance(result, BrokenLink):
                raise _broken(result)
            verified += 1
        self.stdout.write(f"audit chain intact for {verified} concerns")
        heads: Path = options["heads"] or Path(settings.CANDOUR_AUDIT_HEADS_FILE)
        if options["heads"] is None and not heads.exists():
            return
        for broken in audit_heads_check(path=heads):
            raise _broken(broken)
        self.stdout.write(f"every head exported to {heads} is held as it was")
