"""Re-encrypt every encrypted field under the first key of CANDOUR_ENCRYPTION_KEYS, so an old key can
be retired: put the new key first (keeping the old one after it), deploy, run this, then drop the old key.

Every model field that is an EncryptedTextField is found by looking at the installed models, never named
here. Each table is walked by primary key in batches; per batch one read of the raw ciphertexts (never
decrypted to text through the ORM) and at most one UPDATE. A value the first key already reads is left as
it is, so the command is resumable by running it again: it rewrites only what is still under an old key
(``--from-id`` skips the first rows of a table, with ``--model`` naming it). A row changed by the
application while the batch was in hand is left alone by the guarded UPDATE (it was written under the
first key anyway).
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models, transaction
from django.db.models import Case, F, Q, TextField, Value, When
from django.db.models.functions import Cast
from django.db.models.lookups import Exact

from backend.config.encryption import EncryptedTextField, token_rotate

BATCH_SIZE = 500


def encrypted_fields() -> list[tuple[type[models.Model], list[str]]]:
    """Every concrete model with EncryptedTextFields, and their names, in a stable order."""
    found = []
    for model in apps.get_models():
        meta = model._meta
        if meta.proxy or not meta.managed:
            continue
        names = [f.name for f in meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if names:
            found.append((model, names))
    return sorted(found, key=lambda item: item[0]._meta.label)


def _raw(name: str) -> str:
    return f"_raw_{name}"


def _rotate_batch(model: type[models.Model], names: list[str], rows: list[tuple[Any, ...]]) -> int:
    """Rewrite the values in ``rows`` (pk, then each field's raw ciphertext) that an old key wrote, in one
    UPDATE whose every CASE is guarded by the ciphertext it read. Returns how many values it rewrote (a value
    the application changed meanwhile is counted but left as the application wrote it, under the first key)."""
    cases: dict[str, list[When]] = {name: [] for name in names}
    pks = set()
    for pk, *tokens in rows:
        for name, token in zip(names, tokens, strict=True):
            rotated = token_rotate(token) if token else None
            if rotated is None:
                continue
            read = Exact(Cast(F(name), TextField()), Value(token, output_field=TextField()))
            cases[name].append(When(Q(pk=pk) & read, then=Value(rotated, output_field=TextField())))
            pks.add(pk)
    changes = {name: Case(*whens, default=F(name), output_field=TextField()) for name, whens in cases.items() if whens}
    if changes:
        model._default_manager.filter(pk__in=pks).update(**changes)
    return sum(len(whens) for whens in cases.values())


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted field with the first key of CANDOUR_ENCRYPTION_KEYS (MultiFernet "
        "rotate), in batches; run again to resume: values already under the first key are not rewritten."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="rows per read and UPDATE")
        parser.add_argument("--model", help="only this model (app_label.Model), e.g. concerns.Concern")
        parser.add_argument("--from-id", type=int, default=None, help="with --model: start after this primary key")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size: int = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        targets = encrypted_fields()
        if options["model"]:
            targets = [(m, n) for m, n in targets if m._meta.label_lower == options["model"].lower()]
            if not targets:
                raise CommandError(f"{options['model']} has no encrypted fields (or is not a model)")
        elif options["from_id"] is not None:
            raise CommandError("--from-id needs --model: primary keys belong to one table")
        rewritten_in_all = 0
        for model, names in targets:
            rewritten_in_all += self._rotate_table(model, names, batch_size=batch_size, after=options["from_id"])
        self.stdout.write(f"done: {rewritten_in_all} value(s) re-encrypted under the first key")

    def _rotate_table(self, model: type[models.Model], names: list[str], *, batch_size: int, after: Any) -> int:
        label = f"{model._meta.label} ({', '.join(names)})"
        manager = model._default_manager
        rows_in_all = manager.count() if after is None else manager.filter(pk__gt=after).count()
        read = manager.order_by("pk").annotate(**{_raw(n): Cast(n, TextField()) for n in names})
        done = rewritten = 0
        last = after
        while True:
            page = read if last is None else read.filter(pk__gt=last)
            rows = list(page.values_list("pk", *(_raw(n) for n in names))[:batch_size])
            if not rows:
                break
            try:
                with transaction.atomic():
                    rewritten += _rotate_batch(model, names, rows)
            except ValueError as exc:
                raise CommandError(f"{label}: after id {last}: {exc}") from exc
            done += len(rows)
            last = rows[-1][0]
            self._progress(label, done, rows_in_all, rewritten, last)
        self._progress(label, done, rows_in_all, rewritten, last, end=True)
        return rewritten

    def _progress(self, label: str, done: int, total: int, rewritten: int, last: Any, *, end: bool = False) -> None:
        width = 30
        filled = width if total == 0 else min(width, width * done // total)
        bar = "#" * filled + "-" * (width - filled)
        line = f"{label}: [{bar}] {done}/{total} rows, {rewritten} rewritten, last id {last}"
        if end:
            self.stdout.write(f"\r{line}")
        elif self.stdout.isatty():
            self.stdout.write(f"\r{line}", ending="")
            self.stdout.flush()
