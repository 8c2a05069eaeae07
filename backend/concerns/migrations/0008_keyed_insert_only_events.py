"""The audit chain becomes keyed (HMAC with CANDOUR_AUDIT_KEY, over every field) and the events
table insert-only in the database. Chains written before are linked again with the key first: the
last time an event is ever updated."""

from typing import Any

from django.db import migrations

from backend.config.db import insert_only

BATCH = 1000


def chains_rekey(apps: Any, schema_editor: Any) -> None:
    from backend.concerns.audit import GENESIS, event_hash

    concern_model, event_model = apps.get_model("concerns", "Concern"), apps.get_model("concerns", "Event")
    last = 0
    while batch := list(concern_model.objects.filter(pk__gt=last).order_by("pk")[:BATCH]):
        for concern in batch:
            prev, changed = GENESIS, []
            for event in event_model.objects.filter(concern_id=concern.pk).order_by("seq").iterator(chunk_size=BATCH):
                event.prev_hash = prev
                event.hash = prev = event_hash(event)
                changed.append(event)
            event_model.objects.bulk_update(changed, ["prev_hash", "hash"], batch_size=BATCH)
            if changed:
                concern_model.objects.filter(pk=concern.pk).update(audit_head=prev)
        last = batch[-1].pk


class Migration(migrations.Migration):
    dependencies = [("concerns", "0007_vault_spaces")]

    operations = [
        migrations.RunPython(chains_rekey, migrations.RunPython.noop),
        insert_only("concerns_event"),
    ]
