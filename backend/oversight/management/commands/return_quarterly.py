from pathlib import Path
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backend.oversight.returns import organisation_by_code, quarterly_return_csv, return_quarter_parse


def _plain(text: str) -> str:
    return text


class Command(BaseCommand):
    help = (
        "Write one organisation's quarterly speaking-up data return as CSV (an integrated care board's "
        "rolled up over its providers, then each provider's), from the folded counts. The true numbers, "
        "as submitted, unless --published (counts from 1 to 4 shown as 'fewer than 5')."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="the organisation's code, e.g. RNX")
        parser.add_argument("--quarter", required=True, help="e.g. 2026Q3 (July to September 2026)")
        parser.add_argument("--published", action="store_true", help="suppress small numbers, as published")
        parser.add_argument("--output", type=Path, default=None, help="a file to write (default: stdout)")

    def handle(self, *args: Any, **options: Any) -> None:
        quarter = return_quarter_parse(options["quarter"])
        if quarter is None:
            raise CommandError("give a quarter like 2026Q3 (July to September 2026)")
        organisation = organisation_by_code(code=str(options["org"]).strip().upper())
        if organisation is None:
            raise CommandError(f"no organisation with the code {options['org']}")
        self._shown = False
        rows = quarterly_return_csv(
            organisation=organisation, quarter=quarter, published=options["published"], progress=self._progress
        )
        output: Path | None = options["output"]
        try:
            if output is None:
                for row in rows:
                    self.stdout.write(row, ending="")
            else:
                with output.open("w", encoding="utf-8", newline="") as file:
                    self._write(rows, file)
        finally:
            if self._shown:
                self.stderr.write("", style_func=_plain)

    @staticmethod
    def _write(rows: Any, out: TextIO) -> None:
        for row in rows:
            out.write(row)
        out.flush()

    def _progress(self, done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        bar = "#" * filled + "-" * (width - filled)
        # Plain, because stderr's default style is the error colour; \r redraws the one line.
        self.stderr.write(f"\r[{bar}] {done}/{total} organisations", style_func=_plain, ending="")
        self.stderr.flush()
        self._shown = True
