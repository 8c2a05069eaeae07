from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backend.organisations.importer import COLUMNS, OrganisationImportError, Stage, organisations_import


def _plain(text: str) -> str:
    return text


class Command(BaseCommand):
    help = (
        f"Create or update organisations from a CSV file with the columns {','.join(COLUMNS)} "
        "(closure_days: ISO dates separated by ';'). Every row is checked first; if any is bad, "
        "each problem is listed and nothing is imported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="the CSV file (UTF-8, header on line 1)")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        self._bar_shown = False
        try:
            result = organisations_import(source=path, progress=self._show_progress)
        except OrganisationImportError as exc:
            self._end_progress()
            for error in exc.errors:
                self.stderr.write(str(error))
            raise CommandError(str(exc)) from exc
        finally:
            self._end_progress()
        self.stdout.write(f"created {result.created}, updated {result.updated}")

    def _show_progress(self, stage: Stage, done: int, total: int | None) -> None:
        counted = f"{done}/{total}" if total is not None else str(done)
        # Padded so that a shorter line fully covers the longer one it overwrites; plain, because
        # stderr's default style is the error colour.
        self.stderr.write(f"\r{stage} {counted} rows".ljust(40), style_func=_plain, ending="")
        self.stderr.flush()
        self._bar_shown = True

    def _end_progress(self) -> None:
        if self._bar_shown:
            self.stderr.write("", style_func=_plain)
            self._bar_shown = False
