"""Check a copy of a raiser's words against their certificate of disclosure (README, Proof of disclosure)."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backend.concerns.disclosure import CertificateUnreadable, disclosure_check


def _read(path: Path, *, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"cannot read the {what} {path}: {error}") from None


class Command(BaseCommand):
    help = (
        "Check the words in --text against the certificate in --certificate: prints 'matches' (exit 0) or "
        "'does not match' and why (exit 1). Stores and logs nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--certificate", type=Path, required=True, help="the certificate's .json file")
        parser.add_argument("--text", type=Path, required=True, help="a UTF-8 text file holding the words")

    def handle(self, *args: Any, **options: Any) -> None:
        document = _read(options["certificate"], what="certificate")
        words = _read(options["text"], what="text")
        try:
            check = disclosure_check(document=document, words=words)
        except CertificateUnreadable as unreadable:
            raise CommandError(f"does not match: {unreadable}") from None
        said = check.certificate.fields
        about = (
            f"{said['reference']}, {said['organisation_name']} ({said['organisation_code']}), {said['received_hour']}"
        )
        if not check.matches:
            raise CommandError(f"does not match: {check.finding.label} [{about}; key {said['key_id']}]")
        self.stdout.write(f"matches: {check.finding.label} [{about}; key {said['key_id']}]")
