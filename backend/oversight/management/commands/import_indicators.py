from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backend.oversight.indicators import COLUMNS, IndicatorImportError, indicators_import


class Command(BaseCommand):
    help = (
        f"Create or update other indicators (per organisation and month) from a CSV file with the columns "
        f"{','.join(COLUMNS)} (month as YYYY-MM). Every row is checked; if any is bad, each problem is "
        "listed with its line and nothing is imported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="the CSV file (UTF-8, header on line 1)")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        try:
            result = indicators_import(source=path)
        except IndicatorImportError as exc:
            for error in exc.errors:
                self.stderr.write(str(error))
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"created {result.created}, updated {result.updated}")
