from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backend.retention.services import RetentionIncomplete, retention_sweep


class Command(BaseCommand):
    help = (
        "Forget now what the retention schedule (CANDOUR_RETENTION) says is old, as the daily beat job "
        "does: in batches, resumable by running again. Prints how many of each kind went."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch", type=int, default=None, help="rows per statement (default: CANDOUR_RETENTION['BATCH'])"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch"] is not None and options["batch"] < 1:
            raise CommandError("--batch must be at least 1")
        try:
            counts = retention_sweep(batch=options["batch"])
        except RetentionIncomplete as exc:
            self._show(exc.counts)
            raise CommandError(f"{exc} (see the log)") from exc
        self._show(counts)

    def _show(self, counts: dict[str, int]) -> None:
        for kind, count in counts.items():
            self.stdout.write(f"{kind}: {count}")
